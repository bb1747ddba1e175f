/**
 * underlay-input: tunnel packets from the underlay port are decapsulated
 * strictly; the inner frame goes to its bridge (l2-learn) or its IP packet
 * to its VRF (ip-route). Every check that fails is a drop by name, charged
 * to the underlay port.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, routerNet, hex, inject, node, dropsOf, patch, fixIpv4Sum, toHex } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP 4789[VXLAN vni 42[Ethernet[IPv4[UDP "ping"]]]]]]
//   outer 198.18.0.2 -> 198.18.0.1 (ours), inner 02:00:0a:00:00:09 10.0.0.9 -> 02:00:0a:00:00:02 10.0.0.2
const VXLAN_FROM_2 = hex(`
  02fc18000001 02fc18000002 0800
  4500 0052 0000 4000 4011 ae73 c6120002 c6120001
  c000 12b5 003e 0000
  08000000 00002a00
  02000a000002 02000a000009 0800 4500002000004000401126c30a0000090a00000203e807d0000c000070696e67`);
// Ethernet[IPv4[UDP 6635[MPLS label 100 S TTL 64[IPv4[UDP "ping"]]]]]: to VRF red, 10.9.0.9 -> 10.2.0.2
const MPLS_TO_RED = hex(`
  02fc18000001 02fc18000002 0800
  4500 0040 0000 4000 4011 ae85 c6120002 c6120001
  c000 19eb 002c 0000
  00064140
  4500002000004000401126b80a0900090a02000203e807d0000c000070696e67`);

test('VXLAN to a bridge: the inner frame goes to l2-learn, counted on the tunnel', () => {
  const { dp, vm2 } = bridgeNet({ peers: ['198.18.0.2'] });
  inject(dp, 'wire', VXLAN_FROM_2);
  const n = node(dp, 'underlay-input');
  assert.is(n.packets, 1);
  assert.equal(n.next, { 'l2-learn': 1 });
  assert.equal(n.drops, {});
  assert.is(toHex(vm2.frames[0]!), toHex(VXLAN_FROM_2.subarray(50)));
  assert.equal(dp.stats().tunnels['vxlan 198.18.0.2'], { txPackets: 0, txBytes: 0, rxPackets: 1, rxBytes: 46 });
  dp.close();
});

test('MPLS to a VRF: the IP packet goes to ip-route', () => {
  const { dp } = routerNet();
  inject(dp, 'wire', MPLS_TO_RED);
  assert.equal(node(dp, 'underlay-input').next, { 'ip-route': 1 });
  assert.equal(node(dp, 'ip-route').next, { 'ip-rewrite': 1 });
  dp.close();
});

const cases: [string, string, Uint8Array][] = [
  ['truncated', 'a frame that ends inside the outer IPv4 header', VXLAN_FROM_2.subarray(0, 30)],
  ['bad-length', 'an outer IPv4 total length past the frame', fixIpv4Sum(patch(VXLAN_FROM_2, 16, [0x00, 0x60]))],
  ['bad-checksum', 'an outer IPv4 checksum that does not verify', patch(VXLAN_FROM_2, 24, [0xae, 0x74])],
  ['fragment', 'an outer IPv4 fragment (more fragments set)', fixIpv4Sum(patch(VXLAN_FROM_2, 20, [0x20, 0x00]))],
  ['bad-header', 'a VXLAN header without its I flag', patch(VXLAN_FROM_2, 42, [0x00])],
  ['unsupported', 'a UDP port that is neither VXLAN nor MPLS', patch(VXLAN_FROM_2, 36, [0x04, 0xd2])],
  ['unknown-id', 'a VNI no bridge or VRF has (99)', patch(VXLAN_FROM_2, 48, [0x63])],
  ['unknown-peer', 'an outer source that is not an accepted peer (198.18.0.9)', fixIpv4Sum(patch(VXLAN_FROM_2, 29, [9]))],
  ['not-local', 'an outer destination that is not ours (198.18.0.7)', fixIpv4Sum(patch(VXLAN_FROM_2, 33, [7]))],
];

for (const [reason, what, frame] of cases) {
  test(`${reason}: ${what}`, () => {
    const { dp, vm1, vm2 } = bridgeNet({ peers: ['198.18.0.2'] });
    inject(dp, 'wire', frame);
    const d = dropsOf(dp, 'underlay-input', 'wire');
    assert.equal(d.stage, { [reason]: 1 });
    assert.equal(d.total, { [reason]: 1 });
    assert.is(d.port, 1);
    assert.equal(node(dp, 'underlay-input').next, {});
    assert.is(vm1.frames.length + vm2.frames.length, 0);
    assert.is(dp.fdbEntries('br').length, 0);
    dp.close();
  });
}

test('unsupported: routed VXLAN to a VRF whose inner frame is not IP', () => {
  const { dp } = routerNet();
  dp.addVrf({ name: 'blue', vni: 1100 });
  // Ethernet[IPv4[UDP 4789[VXLAN vni 1100[Ethernet type 0x88b5]]]]
  const f = patch(VXLAN_FROM_2, 46, [0x00, 0x04, 0x4c]);
  f.set([0x88, 0xb5], 62);
  inject(dp, 'wire', f);
  assert.equal(dropsOf(dp, 'underlay-input', 'wire'), { stage: { unsupported: 1 }, total: { unsupported: 1 }, port: 1 });
  dp.close();
});

test.run();
