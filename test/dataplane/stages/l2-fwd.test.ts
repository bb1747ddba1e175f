/**
 * l2-fwd: the destination MAC's FDB entry decides: a local port (queued,
 * bytes untouched), a remote VTEP (tunnel-encap), nobody or a group address
 * (l2-flood). Back where it came from is a loop.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject, node, dropsOf, toHex, patch } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]]: vm1 (02:00:0a:00:00:01, 10.0.0.1) -> vm2 (02:00:0a:00:00:02, 10.0.0.2)
const UDP_1_TO_2 = hex('02000a00000202000a00000108004500002000004000401126cb0a0000010a00000203e807d0000c000070696e67');
// Ethernet[IPv4[UDP[VXLAN vni 42[Ethernet[IPv4[UDP]]]]]]: 198.18.0.2 -> 198.18.0.1, inner 02:00:0a:00:00:09 -> vm2
const VXLAN_FROM_2 = hex(`
  02fc18000001 02fc18000002 0800
  4500 0052 0000 4000 4011 ae73 c6120002 c6120001
  c000 12b5 003e 0000
  08000000 00002a00
  02000a000002 02000a000009 0800 4500002000004000401126c30a0000090a00000203e807d0000c000070696e67`);

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
