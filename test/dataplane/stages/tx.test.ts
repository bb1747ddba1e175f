/**
 * tx: the per-port queues, written once per batch. What a port does not
 * take is dropped here and charged to that port (not the ingress): link-down
 * while its link is down, else tx-error. A frame for a port that does not
 * exist (an underlay with no socket for the tunnel) is no-port, charged to
 * the ingress.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { Sink, RefusingPort, DownPort, hex, inject, node, dropsOf, toHex } from '../../helpers/dp.js';
import { superFrame, tcpSumOk } from '../../helpers/gso.js';
import { Batch } from '../../../src/packet/batch.js';

// Ethernet[IPv4[UDP "ping"]]: 02:00:0a:00:00:01 -> 02:00:0a:00:00:02
const UDP_1_TO_2 = hex(`
  02000a000002 02000a000001 0800
  4500 0020 0000 4000 4011 26cb 0a000001 0a000002
  03e8 07d0 000c 0000 70696e67`);

function net(out: Sink | RefusingPort): { dp: Dataplane; vm1: Sink } {
  const dp = new Dataplane({ pool: { slots: 64 } });
  dp.setUnderlay({ address: '198.18.0.1', port: new Sink('wire') });
  dp.addBridge({ name: 'br', vni: 42 });
  const vm1 = new Sink('vm1');
  dp.addBridgePort('br', vm1);
  dp.addBridgePort('br', out);
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm2' });
  return { dp, vm1 };
}

test('queued frames are written once per batch and counted on the port', () => {
  const vm2 = new Sink('vm2');
  const { dp } = net(vm2);
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_2, UDP_1_TO_2);
  assert.is(vm2.frames.length, 3);
  assert.is(toHex(vm2.frames[2]!), toHex(UDP_1_TO_2));
  assert.is(vm2.stats.txCalls, 1, 'one write for the batch');
  const p = dp.stats().ports.vm2!;
  assert.is(p.txPackets, 3);
  assert.is(p.txBytes, 3 * 46);
  assert.is(node(dp, 'tx').packets, 3);
  assert.equal(node(dp, 'tx').drops, {});
  dp.close();
});

test('link-down: the port takes nothing while its link is down; charged to it', () => {
  const { dp } = net(new DownPort('vm2'));
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_2);
  const d = dropsOf(dp, 'tx', 'vm2');
  assert.equal(d.stage, { 'link-down': 2 });
  assert.equal(d.total, { 'link-down': 2 });
  assert.is(d.port, 2);
  assert.is(dp.stats().ports.vm1!.drops, 0, 'not charged to the ingress');
  assert.is(dp.stats().ports.vm2!.linkUp, false);
  assert.is(dp.stats().ports.vm2!.txPackets, 0);
  dp.close();
});

test('tx-error: a port that is up refuses; charged to it', () => {
  const { dp } = net(new RefusingPort('vm2'));
  inject(dp, 'vm1', UDP_1_TO_2);
  const d = dropsOf(dp, 'tx', 'vm2');
  assert.equal(d.stage, { 'tx-error': 1 });
  assert.equal(d.total, { 'tx-error': 1 });
  assert.is(d.port, 1);
  assert.is(dp.stats().ports.vm1!.drops, 0);
  dp.close();
});

test('no-port: a tunnel whose underlay socket does not exist; charged to the ingress', () => {
  const dp = new Dataplane({ pool: { slots: 64 } });
  dp.setUnderlay({ address: '198.18.0.1' }); // socket mode, and no socket added
  dp.addBridge({ name: 'br', vni: 42, flood: ['198.18.0.2'] });
  const vm1 = new Sink('vm1');
  dp.addBridgePort('br', vm1);
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  inject(dp, 'vm1', UDP_1_TO_2);
  const d = dropsOf(dp, 'tx', 'vm1');
  assert.equal(d.stage, { 'no-port': 1 });
  assert.equal(d.total, { 'no-port': 1 });
  assert.is(d.port, 1);
  dp.close();
});

test('too-big: a GSO super-frame for a port without a virtio-net header; charged to that port', () => {
  const vm2 = new Sink('vm2');
  const { dp } = net(vm2);
  const b = new Batch(dp.pool, 1);
  b.pushCopy(UDP_1_TO_2);
  b.gsoType[0] = 1; // TCPV4: what only a TAP with a virtio-net header can take whole
  dp.inject('vm1', b);
  assert.is(vm2.frames.length, 0);
  const d = dropsOf(dp, 'tx', 'vm2');
  assert.equal(d.stage, { 'too-big': 1 });
  assert.is(d.port, 1);
  dp.close();
});

test('a partial checksum (NEEDS_CSUM) is finished for a port without a virtio-net header', () => {
  const vm2 = new Sink('vm2');
  const { dp } = net(vm2);
  const b = new Batch(dp.pool, 1);
  b.pushCopy(superFrame(1000));
  b.vflags[0] = 1;
  b.csumStart[0] = 34;
  b.csumOffset[0] = 16;
  dp.inject('vm1', b);
  assert.is(vm2.frames.length, 1);
  assert.ok(tcpSumOk(vm2.frames[0]!, 14), 'complete TCP checksum');
  dp.close();
});

test.run();
