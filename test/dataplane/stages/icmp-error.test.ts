/**
 * icmp-error: the router tells the sender of a packet it could not forward
 * (time exceeded, net or host unreachable), from the gateway address of the
 * port the packet came in on, quoting the packet, routed back through
 * ip-route. Never about an ICMP error or a non-initial fragment
 * (`not-sent`); at most `rate` a second per VRF (`rate-limited`). It drops
 * nothing itself: the original packet's drop was counted where it was decided.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { routerNet, hex, inject, node, toHex, patch, fixIpv4Sum } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]]: 10.1.0.2 -> 10.2.0.2 with TTL 1, from the host on vm3 to its router MAC
const TTL1 = hex(`
  027674000003 02000a010002 0800
  4500 0020 0000 4000 0111 65c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// Ethernet[IPv4[ICMP time exceeded[IPv4[UDP]]]]: 10.1.0.1 (vm3's gateway) -> 10.1.0.2, TOS 0xc0, quoting TTL1's IP packet
const TIME_EXCEEDED = hex(`
  02000a010002 027674000003 0800
  45c0 003c 0000 0000 4001 65fd 0a010001 0a010002
  0b00 0a6b 00000000
  4500002000004000011165c70a0100020a02000203e807d0000c000070696e67`);
// Ethernet[IPv4[ICMP net unreachable[IPv4[UDP]]]]: about 10.1.0.2 -> 10.9.0.2
const NET_UNREACHABLE = hex(`
  02000a010002 027674000003 0800
  45c0 003c 0000 0000 4001 65fd 0a010001 0a010002
  0300 126b 00000000
  4500002000004000401126c00a0100020a09000203e807d0000c000070696e67`);
// Ethernet[ARP who-has 10.1.0.1 tell 10.1.0.2] from the host on vm3: makes it a neighbor
const ARP_H3 = hex('ffffffffffff02000a0100020806000108000604000102000a0100020a0100020000000000000a010001');

function net(o: { rate?: number; burst?: number } = {}): ReturnType<typeof routerNet> {
  const n = routerNet({ dp: { clock: () => 1000, icmp: o } });
  inject(n.dp, 'vm3', ARP_H3);
  n.vm3.frames.length = 0; // the gateway's ARP reply
  return n;
}

test('time exceeded: from the gateway, quoting the packet, routed back to the sender', () => {
  const { dp, vm3 } = net();
  inject(dp, 'vm3', TTL1);
  const n = node(dp, 'icmp-error');
  assert.is(n.packets, 1);
  assert.equal(n.next, { 'ip-route': 1 });
  assert.equal(n.drops, {});
  assert.is(vm3.frames.length, 1);
  assert.is(toHex(vm3.frames[0]!), toHex(TIME_EXCEEDED));
  // The original is counted dropped once, at ip-route; the error is routed with its TTL left alone.
  assert.equal(dp.stats().drops, { 'ttl-expired': 1 });
  assert.equal(node(dp, 'ip-route').next, { 'icmp-error': 1, 'ip-rewrite': 1 });
  dp.close();
});

test('net unreachable: no route for the destination', () => {
  const { dp, vm3 } = net();
  inject(dp, 'vm3', fixIpv4Sum(patch(TTL1, 22, [64, 0x11, 0, 0, 10, 1, 0, 2, 10, 9, 0, 2])));
  assert.equal(node(dp, 'icmp-error').next, { 'ip-route': 1 });
  assert.is(toHex(vm3.frames[0]!), toHex(NET_UNREACHABLE));
  dp.close();
});

test('rate-limited: one token a second, burst 1: the second error of the second is not sent', () => {
  const { dp, vm3 } = net({ rate: 1, burst: 1 });
  inject(dp, 'vm3', TTL1, TTL1);
  assert.equal(node(dp, 'icmp-error').next, { 'ip-route': 1, 'rate-limited': 1 });
  assert.is(vm3.frames.length, 1);
  assert.equal(dp.stats().drops, { 'ttl-expired': 2 });
  dp.close();
});

test('not-sent: never about an ICMP error, nor a fragment other than the first', () => {
  const { dp, vm3 } = net();
  // Ethernet[IPv4[ICMP dest unreachable]] with TTL 1
  const icmpError = fixIpv4Sum(patch(TTL1, 23, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3]));
  // Ethernet[IPv4 fragment, offset 8 bytes[UDP]] with TTL 1
  const fragment = fixIpv4Sum(patch(TTL1, 20, [0x00, 0x01]));
  inject(dp, 'vm3', icmpError, fragment);
  assert.equal(node(dp, 'icmp-error').next, { 'not-sent': 2 });
  assert.is(vm3.frames.length, 0);
  assert.equal(dp.stats().drops, { 'ttl-expired': 2 });
  dp.close();
});

test.run();
