/**
 * ip-gateway: frames on a VRF port. ARP and echo requests for the gateway
 * address are answered here (out of the same port); the sender of any ARP is
 * learned as a neighbor; IP to the router MAC goes to ip-route. Anything not
 * addressed to the router MAC is filtered; a protocol the router does not
 * speak is unsupported; neighbor discovery with a bad header is bad-header.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { routerNet, hex, inject, node, dropsOf, toHex, patch } from '../../helpers/dp.js';
import { arpReplyFor, icmpEchoReplyFor } from '../../helpers/frames.js';

// Ethernet[ARP who-has 10.1.0.1 tell 10.1.0.2] from the host on vm3 (02:00:0a:01:00:02), broadcast
const ARP_GW = hex(`
  ffffffffffff 02000a010002 0806
  0001 0800 06 04 0001 02000a010002 0a010002 000000000000 0a010001`);
// Ethernet[IPv4[ICMP echo request id 7 seq 1 "abcd"]]: 10.1.0.2 -> 10.1.0.1 (the gateway), to router MAC 02:76:74:00:00:03
const ECHO_GW = hex(`
  027674000003 02000a010002 0800
  4500 0020 0000 4000 4001 26d9 0a010002 0a010001
  0800 3331 0007 0001 61626364`);
// Ethernet[IPv4[UDP "ping"]]: 10.1.0.2 -> 10.2.0.2, to the router MAC
const ROUTED = hex(`
  027674000003 02000a010002 0800
  4500 0020 0000 4000 4011 26c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// Ethernet[IPv6[ICMPv6 neighbor solicitation for 2001:db8:1::1]] with hop limit 64 (RFC 4861 wants 255)
const NS_BAD_HOP = hex(`
  333300000001 02000a010002 86dd
  6000 0000 0018 3a 40 20010db8000100000000000000000002 ff0200000000000000000001ff000001
  87 00 0000 00000000 20010db8000100000000000000000001`);

test('ARP for the gateway: answered with the router MAC; the sender becomes a neighbor', () => {
  const { dp, vm3, vm4 } = routerNet();
  inject(dp, 'vm3', ARP_GW);
  const n = node(dp, 'ip-gateway');
  assert.is(n.packets, 1);
  assert.equal(n.next, { tx: 1 });
  assert.equal(n.drops, {});
  assert.is(vm3.frames.length, 1);
  assert.is(toHex(vm3.frames[0]!), toHex(arpReplyFor(ARP_GW, 0x0a010001, 0x027674000003)!));
  assert.is(vm4.frames.length, 0);
  assert.is(dp.stats().arp.gatewayReplies, 1);
  assert.equal(dp.neighbors('red').map((e) => [e.ip, e.mac, e.port]), [['10.1.0.2', '02:00:0a:01:00:02', 'vm3']]);
  dp.close();
});

test('ARP for another address: learned from, nothing sent', () => {
  const { dp, vm3 } = routerNet();
  inject(dp, 'vm3', patch(ARP_GW, 41, [0x63])); // who-has 10.1.0.99
  const n = node(dp, 'ip-gateway');
  assert.is(n.packets, 1);
  assert.equal(n.drops, {});
  assert.is(vm3.frames.length, 0);
  assert.is(dp.neighbors('red').length, 1);
  dp.close();
});

test('an echo request to the gateway: answered out of the same port', () => {
  const { dp, vm3 } = routerNet();
  inject(dp, 'vm3', ECHO_GW);
  assert.equal(node(dp, 'ip-gateway').next, { tx: 1 });
  assert.is(toHex(vm3.frames[0]!), toHex(icmpEchoReplyFor(ECHO_GW, 0x0a010001)!));
  assert.is(node(dp, 'ip-route').packets, 0);
  dp.close();
});

test('IP to the router MAC for elsewhere: to ip-route', () => {
  const { dp } = routerNet();
  inject(dp, 'vm3', ROUTED);
  assert.equal(node(dp, 'ip-gateway').next, { 'ip-route': 1 });
  assert.is(node(dp, 'ip-route').packets, 1);
  dp.close();
});

test('filtered: IP to a MAC that is not the router MAC', () => {
  const { dp, vm3, vm4 } = routerNet();
  inject(dp, 'vm3', patch(ROUTED, 0, [0x02, 0x00, 0x0a, 0x01, 0x00, 0x09]));
  const d = dropsOf(dp, 'ip-gateway', 'vm3');
  assert.equal(d.stage, { filtered: 1 });
  assert.equal(d.total, { filtered: 1 });
  assert.is(d.port, 1);
  assert.is(vm3.frames.length + vm4.frames.length, 0);
  dp.close();
});

test('unsupported: an EtherType the router does not route, and ARP that is not Ethernet/IPv4', () => {
  const { dp } = routerNet();
  inject(dp, 'vm3', patch(ROUTED, 12, [0x88, 0xb5]), patch(ARP_GW, 18, [8])); // local experimental EtherType; ARP hlen 8
  const d = dropsOf(dp, 'ip-gateway', 'vm3');
  assert.equal(d.stage, { unsupported: 2 });
  assert.equal(d.total, { unsupported: 2 });
  assert.is(d.port, 2);
  dp.close();
});

test('bad-header: a neighbor solicitation whose hop limit is not 255', () => {
  const { dp, vm3 } = routerNet();
  inject(dp, 'vm3', NS_BAD_HOP);
  const d = dropsOf(dp, 'ip-gateway', 'vm3');
  assert.equal(d.stage, { 'bad-header': 1 });
  assert.equal(d.total, { 'bad-header': 1 });
  assert.is(d.port, 1);
  assert.is(vm3.frames.length, 0);
  dp.close();
});

test.run();
