/**
 * port-input: frames from a local port go to the bridge (l2-fwd) or the
 * router (ip-gateway) by the port's role; shorter than the headers they
 * need are dropped as truncated, charged to the port.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, routerNet, hex, inject, node, dropsOf } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]]: vm1 (02:00:0a:00:00:01, 10.0.0.1) -> vm2 (02:00:0a:00:00:02, 10.0.0.2)
const UDP_1_TO_2 = hex(`
  02000a000002 02000a000001 0800
  4500 0020 0000 4000 4011 26cb 0a000001 0a000002
  03e8 07d0 000c 0000 70696e67`);

test('a bridge port: to l2-fwd', () => {
  const { dp } = bridgeNet();
  inject(dp, 'vm1', UDP_1_TO_2);
  const n = node(dp, 'port-input');
  assert.is(n.packets, 1);
  assert.equal(n.next, { 'l2-fwd': 1 });
  assert.equal(n.drops, {});
  assert.is(dp.stats().ports.vm1!.rxPackets, 1);
  assert.is(dp.stats().ports.vm1!.rxBytes, 46);
  dp.close();
});

test('a router port: to ip-gateway', () => {
  const { dp } = routerNet();
  // Ethernet[IPv4[UDP]]: 10.1.0.2 -> 10.2.0.2 to the router MAC of vm3
  inject(dp, 'vm3', hex('02767400000302000a01000208004500002000004000401126c70a0100020a02000203e807d0000c000070696e67'));
  assert.equal(node(dp, 'port-input').next, { 'ip-gateway': 1 });
  dp.close();
});

test('truncated: a bridge frame shorter than an Ethernet header', () => {
  const { dp, vm2 } = bridgeNet();
  inject(dp, 'vm1', UDP_1_TO_2.subarray(0, 13));
  const d = dropsOf(dp, 'port-input', 'vm1');
  assert.equal(d.stage, { truncated: 1 });
  assert.equal(d.total, { truncated: 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'port-input').next, {});
  assert.is(node(dp, 'l2-fwd').packets, 0);
  assert.is(vm2.frames.length, 0);
  dp.close();
});

test('truncated: a router frame with no room for an IPv4 header (33 bytes)', () => {
  const { dp } = routerNet();
  // Ethernet[IPv4 cut at 19 bytes]
  inject(dp, 'vm3', hex('02767400000302000a01000208004500002000004000401126c70a0100020a0200'));
  assert.equal(dropsOf(dp, 'port-input', 'vm3'), { stage: { truncated: 1 }, total: { truncated: 1 }, port: 1 });
  assert.is(node(dp, 'ip-gateway').packets, 0);
  dp.close();
});

test('a 14-byte frame is enough for the bridge; one batch splits by verdict', () => {
  const { dp } = bridgeNet();
  inject(dp, 'vm1', UDP_1_TO_2.subarray(0, 14), UDP_1_TO_2.subarray(0, 5), UDP_1_TO_2);
  const n = node(dp, 'port-input');
  assert.is(n.packets, 3);
  assert.equal(n.next, { 'l2-fwd': 2 });
  assert.equal(n.drops, { truncated: 1 });
  dp.close();
});

test.run();
