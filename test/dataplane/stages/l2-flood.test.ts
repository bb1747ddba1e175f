/**
 * l2-flood: broadcast and unknown unicast go to every local port of the
 * bridge but the ingress and, from local ports only, to every remote VTEP of
 * the flood list (head-end replication). A copy that cannot be made is
 * no-buffer; a frame with too little headroom for the outer headers is
 * no-headroom.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject, injectWithHeadroom, node, dropsOf, toHex } from '../../helpers/dp.js';

// Ethernet[ARP who-has 10.0.0.2 tell 10.0.0.1] from vm1, broadcast
const ARP_REQ = hex(`
  ffffffffffff 02000a000001 0806
  0001 0800 06 04 0001 02000a000001 0a000001 000000000000 0a000002`);
// Ethernet[IPv4[UDP[VXLAN vni 42[Ethernet[IPv4[UDP]]]]]]: 198.18.0.2 -> 198.18.0.1, inner 02:00:0a:00:00:09 -> 02:00:0a:00:00:02
const VXLAN_FROM_2 = hex(`
  02fc18000001 02fc18000002 0800
  4500 0052 0000 4000 4011 ae73 c6120002 c6120001
  c000 12b5 003e 0000
  08000000 00002a00
  02000a000002 02000a000009 0800 4500002000004000401126c30a0000090a00000203e807d0000c000070696e67`);

/** The remote an underlay frame is sent to (outer IPv4 destination). */
function outerDst(f: Uint8Array): string {
  return [...f.subarray(30, 34)].join('.');
}

test('broadcast: every local port but the ingress, and each remote of the flood list', () => {
  const { dp, vm1, vm2, wire } = bridgeNet({ arpSuppress: false, flood: ['198.18.0.2', '198.18.0.3'] });
  inject(dp, 'vm1', ARP_REQ);
  const n = node(dp, 'l2-flood');
  assert.is(n.packets, 1);
  assert.equal(n.next, { tx: 3 }, 'one local copy and two remote ones');
  assert.equal(n.drops, {});
  assert.is(vm1.frames.length, 0);
  assert.is(toHex(vm2.frames[0]!), toHex(ARP_REQ));
  assert.equal(wire.frames.map(outerDst), ['198.18.0.2', '198.18.0.3']);
  for (const f of wire.frames) assert.is(toHex(f.subarray(50)), toHex(ARP_REQ), 'the whole frame inside VXLAN');
  assert.equal(Object.keys(dp.stats().tunnels).sort(), ['vxlan 198.18.0.2', 'vxlan 198.18.0.3']);
  dp.close();
});

test('from a remote VTEP: local ports only (split horizon)', () => {
  const { dp, vm1, vm2, wire } = bridgeNet({ flood: ['198.18.0.2', '198.18.0.3'] });
  inject(dp, 'wire', VXLAN_FROM_2);
  assert.equal(node(dp, 'l2-flood').next, { tx: 2 });
  assert.is(vm1.frames.length, 1);
  assert.is(vm2.frames.length, 1);
  assert.is(wire.frames.length, 0);
  dp.close();
});

test('no-buffer: no slot for the copy to the first remote; the last remote still gets the frame', () => {
  const { dp, vm2, wire } = bridgeNet({ arpSuppress: false, flood: ['198.18.0.2', '198.18.0.3'] });
  const pool = dp.pool;
  const frame = ARP_REQ;
  // Take every free slot but the one the frame itself will occupy.
  const taken: number[] = [];
  const batchSlot = pool.alloc();
  for (let s = pool.alloc(); s >= 0; s = pool.alloc()) taken.push(s);
  pool.free(batchSlot);
  inject(dp, 'vm1', frame);
  const d = dropsOf(dp, 'l2-flood', 'vm1');
  assert.equal(d.stage, { 'no-buffer': 1 });
  assert.equal(d.total, { 'no-buffer': 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'l2-flood').next, { tx: 2 });
  assert.is(vm2.frames.length, 1);
  assert.equal(wire.frames.map(outerDst), ['198.18.0.3']);
  for (const s of taken) pool.free(s);
  dp.close();
});

test('no-headroom: a frame too close to its slot start for the outer headers (local copies still go)', () => {
  const { dp, vm2, wire } = bridgeNet({ arpSuppress: false, flood: ['198.18.0.2'] });
  injectWithHeadroom(dp, 'vm1', ARP_REQ, 10);
  const d = dropsOf(dp, 'l2-flood', 'vm1');
  assert.equal(d.stage, { 'no-headroom': 1 });
  assert.equal(d.total, { 'no-headroom': 1 });
  assert.is(d.port, 1);
  assert.is(vm2.frames.length, 1);
  assert.is(wire.frames.length, 0);
  dp.close();
});

test.run();
