/**
 * l2-fwd: each frame's source MAC is learned in its bridge domain (at the
 * local port, or at the remote VTEP it came from), a group source is
 * filtered, ARP/ND go to arp-term when the domain suppresses ARP; then the
 * destination MAC's FDB entry decides: a local port (queued, bytes
 * untouched), a remote VTEP (tunnel-encap), nobody or a group address
 * (l2-flood). Back where it came from is a loop.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject, node, dropsOf, toHex, patch } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]]: vm1 (02:00:0a:00:00:01, 10.0.0.1) -> vm2 (02:00:0a:00:00:02, 10.0.0.2)
const UDP_1_TO_2 = hex('02000a00000202000a00000108004500002000004000401126cb0a0000010a00000203e807d0000c000070696e67');
// Ethernet[ARP who-has 10.0.0.2 tell 10.0.0.1] from vm1, broadcast
const ARP_REQ = hex('ffffffffffff02000a0000010806000108000604000102000a0000010a0000010000000000000a000002');
// Ethernet[IPv4[UDP[VXLAN vni 42[Ethernet[IPv4[UDP]]]]]]: 198.18.0.2 -> 198.18.0.1, inner 02:00:0a:00:00:09 -> vm2
const VXLAN_FROM_2 = hex(`
  02fc18000001 02fc18000002 0800
  4500 0052 0000 4000 4011 ae73 c6120002 c6120001
  c000 12b5 003e 0000
  08000000 00002a00
  02000a000002 02000a000009 0800 4500002000004000401126c30a0000090a00000203e807d0000c000070696e67`);

test('learning: a local source is learned at its port, before its destination is looked up', () => {
  const { dp } = bridgeNet();
  inject(dp, 'vm1', UDP_1_TO_2);
  const n = node(dp, 'l2-fwd');
  assert.is(n.packets, 1);
  assert.equal(n.next, { 'l2-flood': 1 });
  assert.equal(dp.fdbEntries('br').map((e) => [e.mac, e.port, e.static]), [['02:00:0a:00:00:01', 'vm1', false]]);
  assert.is(dp.stats().fdb.learned, 1);
  dp.close();
});

test('learning: a source from the underlay is learned at the remote VTEP', () => {
  const { dp } = bridgeNet();
  inject(dp, 'wire', VXLAN_FROM_2);
  assert.equal(dp.fdbEntries('br').map((e) => [e.mac, e.remote]), [['02:00:0a:00:00:09', '198.18.0.2']]);
  dp.close();
});

test('learning: a bridge that does not learn forwards without learning', () => {
  const { dp } = bridgeNet({ learn: false });
  inject(dp, 'vm1', UDP_1_TO_2);
  assert.equal(node(dp, 'l2-fwd').next, { 'l2-flood': 1 });
  assert.is(dp.fdbEntries('br').length, 0);
  dp.close();
});

test('learning: a move within a vector is seen by the frames after it, not before', () => {
  const { dp, vm2 } = bridgeNet();
  // 02:00:0a:00:00:02 is at vm2 until a frame from it comes in on vm1.
  dp.addFdb('br', '02:00:0a:00:00:09', { port: 'vm2' });
  inject(dp, 'vm1', UDP_1_TO_2);
  inject(dp, 'vm2', patch(UDP_1_TO_2, 0, [0x02, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x02]));
  assert.is(dp.fdbEntries('br').find((e) => e.mac === '02:00:0a:00:00:02')!.port, 'vm2');
  vm2.frames.length = 0;
  // One batch from vm1: 01 -> 02 (02 still at vm2), then 02 -> 09 (02 moves to vm1), then 01 -> 02 again.
  const from02 = patch(UDP_1_TO_2, 0, [0x02, 0x00, 0x0a, 0x00, 0x00, 0x09, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x02]);
  inject(dp, 'vm1', UDP_1_TO_2, from02, UDP_1_TO_2);
  assert.is(dp.fdbEntries('br').find((e) => e.mac === '02:00:0a:00:00:02')!.port, 'vm1');
  assert.is(vm2.frames.length, 2, 'the first frame to 02 and the frame to 09');
  assert.equal(node(dp, 'l2-fwd').drops, { loop: 1 }, 'the last frame to 02, now on its own port');
  dp.close();
});

test('filtered: a group MAC as source is never learned nor forwarded', () => {
  const { dp, vm2, wire } = bridgeNet({ flood: ['198.18.0.2'] });
  // Ethernet src 03:00:0a:00:00:01 (group bit set)
  inject(dp, 'vm1', patch(UDP_1_TO_2, 6, [0x03]));
  const d = dropsOf(dp, 'l2-fwd', 'vm1');
  assert.equal(d.stage, { filtered: 1 });
  assert.equal(d.total, { filtered: 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'l2-fwd').next, {});
  assert.is(dp.fdbEntries('br').length, 0);
  assert.is(vm2.frames.length + wire.frames.length, 0);
  dp.close();
});

test('ARP goes to arp-term when the bridge suppresses ARP (learned once, flooded when not answered), else is forwarded', () => {
  const a = bridgeNet();
  inject(a.dp, 'vm1', ARP_REQ);
  assert.equal(node(a.dp, 'l2-fwd').next, { 'arp-term': 1, 'l2-flood': 1 });
  assert.equal(node(a.dp, 'arp-term').next, { 'l2-fwd': 1 });
  assert.is(a.dp.stats().fdb.learned, 1);
  a.vm2.frames.length = 0;
  // Answered by arp-term: the asker is still learned.
  a.dp.addArp('br', '10.0.0.2', '02:00:0a:00:00:02');
  a.dp.removeFdb('br', '02:00:0a:00:00:01');
  inject(a.dp, 'vm1', ARP_REQ);
  assert.is(a.vm1.frames.length, 1, 'the answer');
  assert.is(a.vm2.frames.length, 0);
  assert.equal(a.dp.fdbEntries('br').map((e) => [e.mac, e.port]), [['02:00:0a:00:00:01', 'vm1']]);
  a.dp.close();
  const b = bridgeNet({ arpSuppress: false });
  inject(b.dp, 'vm1', ARP_REQ);
  assert.equal(node(b.dp, 'l2-fwd').next, { 'l2-flood': 1 });
  assert.is(node(b.dp, 'arp-term').packets, 0);
  b.dp.close();
});

test('a known local destination: queued on its port, byte for byte', () => {
  const { dp, vm1, vm2 } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm2' });
  inject(dp, 'vm1', UDP_1_TO_2);
  const n = node(dp, 'l2-fwd');
  assert.is(n.packets, 1);
  assert.equal(n.next, { tx: 1 });
  assert.equal(n.drops, {});
  assert.is(vm2.frames.length, 1);
  assert.is(toHex(vm2.frames[0]!), toHex(UDP_1_TO_2));
  assert.is(vm1.frames.length, 0);
  assert.is(dp.stats().ports.vm2!.txPackets, 1);
  dp.close();
});

test('a destination at a remote VTEP: to tunnel-encap', () => {
  const { dp, wire } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  inject(dp, 'vm1', UDP_1_TO_2);
  assert.equal(node(dp, 'l2-fwd').next, { 'tunnel-encap': 1 });
  assert.is(wire.frames.length, 1);
  dp.close();
});

test('an unknown destination and a group destination: to l2-flood', () => {
  const { dp, vm2 } = bridgeNet();
  inject(dp, 'vm1', UDP_1_TO_2, patch(UDP_1_TO_2, 0, [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]));
  assert.equal(node(dp, 'l2-fwd').next, { 'l2-flood': 2 });
  assert.is(vm2.frames.length, 2);
  dp.close();
});

test('loop: a destination on the port the frame came in on', () => {
  const { dp, vm1, vm2 } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm1' });
  inject(dp, 'vm1', UDP_1_TO_2);
  const d = dropsOf(dp, 'l2-fwd', 'vm1');
  assert.equal(d.stage, { loop: 1 });
  assert.equal(d.total, { loop: 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'l2-fwd').next, {});
  assert.is(vm1.frames.length + vm2.frames.length, 0);
  dp.close();
});

test('loop: from the underlay to a MAC at a remote VTEP (split horizon), charged to the underlay port', () => {
  const { dp, wire } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.3' });
  inject(dp, 'wire', VXLAN_FROM_2);
  const d = dropsOf(dp, 'l2-fwd', 'wire');
  assert.equal(d.stage, { loop: 1 });
  assert.equal(d.total, { loop: 1 });
  assert.is(d.port, 1);
  assert.is(wire.frames.length, 0);
  dp.close();
});

test('from the underlay to a local MAC: queued on its port, the inner frame only', () => {
  const { dp, vm2 } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm2' });
  inject(dp, 'wire', VXLAN_FROM_2);
  assert.equal(node(dp, 'l2-fwd').next, { tx: 1 });
  assert.is(toHex(vm2.frames[0]!), toHex(VXLAN_FROM_2.subarray(50)));
  dp.close();
});

test.run();
