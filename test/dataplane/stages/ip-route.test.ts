/**
 * ip-route: validates the IP header, decrements the TTL and looks the
 * destination up in the VRF. Bad headers are dropped by name; an expired TTL
 * or a missing route is dropped here and handed to icmp-error; a blackhole
 * route drops without an answer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { routerNet, hex, inject, node, dropsOf, toHex, patch, fixIpv4Sum } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]]: 10.1.0.2 -> 10.2.0.2 (TTL 64), from the host on vm3 to its router MAC
const ROUTED = hex(`
  027674000003 02000a010002 0800
  4500 0020 0000 4000 4011 26c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// The same, as it leaves vm4: router MAC 02:76:74:00:00:04 -> the host 02:00:0a:02:00:02, TTL 63
const ROUTED_OUT = hex(`
  02000a020002 027674000004 0800
  4500 0020 0000 4000 3f11 27c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// Ethernet[ARP who-has 10.2.0.1 tell 10.2.0.2] from the host on vm4: makes it a neighbor
const ARP_H4 = hex('ffffffffffff02000a0200020806000108000604000102000a0200020a0200020000000000000a020001');

function expectDrop(port: string, frame: Uint8Array, reason: string, next: Record<string, number> = {}): void {
  const { dp, vm4 } = routerNet();
  inject(dp, port, frame);
  const d = dropsOf(dp, 'ip-route', port);
  assert.equal(d.stage, { [reason]: 1 });
  assert.equal(d.total, { [reason]: 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'ip-route').next, next);
  assert.is(vm4.frames.length, 0);
  dp.close();
}

test('a route to a connected subnet: TTL down by one, checksum updated, to ip-rewrite', () => {
  const { dp, vm4 } = routerNet();
  inject(dp, 'vm4', ARP_H4);
  inject(dp, 'vm3', ROUTED);
  const n = node(dp, 'ip-route');
  assert.is(n.packets, 1);
  assert.equal(n.next, { 'ip-rewrite': 1 });
  assert.equal(n.drops, {});
  assert.is(toHex(vm4.frames[1]!), toHex(ROUTED_OUT)); // [0] is the ARP reply from the gateway
  dp.close();
});

test('a GRE or MPLS next hop: straight to tunnel-encap (no rewrite), traced with its next hop', async () => {
  const { dp, wire } = routerNet();
  dp.addRoute('red', '10.2.0.2/32', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }]);
  const traced = dp.trace(1);
  inject(dp, 'vm3', ROUTED);
  const [t] = await traced;
  assert.equal(node(dp, 'ip-route').next, { 'tunnel-encap': 1 });
  assert.is(node(dp, 'ip-rewrite').packets, 0);
  assert.equal(t!.steps.slice(2).map((x) => [x.stage, x.next]), [['ip-route', 'tunnel-encap'], ['tunnel-encap', 'tx']]);
  assert.match(t!.steps[2]!.info, /^vrf red dst 10\.2\.0\.2 -> next hop \d+$/);
  assert.is(t!.steps[3]!.info, 'mplsoudp id 200 to 198.18.0.2');
  // Ethernet[IPv4[UDP 6635[MPLS 200[IPv4 TTL 63]]]]
  assert.is(wire.frames.length, 1);
  assert.is(wire.frames[0]![46 + 8], 63);
  dp.close();
});

test('Ethernet padding is not routed: the IP total length bounds the packet', () => {
  const { dp, vm4 } = routerNet();
  inject(dp, 'vm4', ARP_H4);
  inject(dp, 'vm3', Uint8Array.from([...ROUTED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  assert.is(toHex(vm4.frames[1]!), toHex(ROUTED_OUT));
  dp.close();
});

test('truncated: an IPv6 frame too short for an IPv6 header', () => {
  // Ethernet[IPv6 cut at 26 bytes] to the router MAC
  expectDrop('vm3', hex('02767400000302000a01000286dd6000000000081140200100000000000000000000000000000002'), 'truncated');
});

test('bad-length: an IPv4 total length past the frame', () => {
  expectDrop('vm3', fixIpv4Sum(patch(ROUTED, 16, [0x00, 0x40])), 'bad-length');
});

test('bad-checksum: an IPv4 header checksum that does not verify', () => {
  expectDrop('vm3', patch(ROUTED, 24, [0x26, 0xc8]), 'bad-checksum');
});

test('bad-header: IP version 5', () => {
  expectDrop('vm3', patch(ROUTED, 14, [0x55]), 'bad-header');
});

test('ttl-expired: TTL 1, dropped here and handed to icmp-error', () => {
  expectDrop('vm3', fixIpv4Sum(patch(ROUTED, 22, [1])), 'ttl-expired', { 'icmp-error': 1, 'ip-rewrite': 1 }); // the error itself comes back through ip-route
});

test('no-route: no route for the destination, handed to icmp-error', () => {
  expectDrop('vm3', fixIpv4Sum(patch(ROUTED, 31, [9])), 'no-route', { 'icmp-error': 1, 'ip-rewrite': 1 }); // 10.9.0.2; the error comes back through ip-route
});

test('no-route: a blackhole route drops without an ICMP answer', () => {
  const { dp, vm3 } = routerNet();
  dp.addRoute('red', '10.9.0.0/16', []);
  inject(dp, 'vm3', fixIpv4Sum(patch(ROUTED, 31, [9])));
  assert.equal(dropsOf(dp, 'ip-route', 'vm3'), { stage: { 'no-route': 1 }, total: { 'no-route': 1 }, port: 1 });
  assert.equal(node(dp, 'ip-route').next, {});
  assert.is(node(dp, 'icmp-error').packets, 0);
  assert.is(vm3.frames.length, 0);
  dp.close();
});

// Ethernet[IPv6[UDP "ping"]]: 2001:db8:1::2 -> 2001:db8:2::2, hop limit 64, to vm3's router MAC
const ROUTED6 = hex(`
  027674000003 02000a010002 86dd
  6000 0000 000c 11 40 20010db8000100000000000000000002 20010db8000200000000000000000002
  03e8 07d0 000c 0000 70696e67`);

test('IPv6 no-route: no route for the destination, handed to icmp-error', () => {
  expectDrop('vm3', ROUTED6, 'no-route', { 'icmp-error': 1, 'ip-rewrite': 1 });
});

test('IPv6 ttl-expired: hop limit 1', () => {
  expectDrop('vm3', patch(ROUTED6, 21, [1]), 'ttl-expired', { 'icmp-error': 1, 'ip-rewrite': 1 });
});

test('IPv6 bad-length: a payload length past the frame', () => {
  expectDrop('vm3', patch(ROUTED6, 18, [0x00, 0x40]), 'bad-length');
});

test.run();
