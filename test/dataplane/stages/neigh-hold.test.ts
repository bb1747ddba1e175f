/**
 * neigh-hold: a routed packet whose neighbor is unknown waits while an ARP
 * request goes out; the neighbor's answer releases it. A packet that cannot
 * be held (the destination's queue is full) is no-neighbor, as is a held
 * packet whose neighbor never answers (then its sender hears "host
 * unreachable"), charged to the port it came in on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { routerNet, hex, inject, node, dropsOf, toHex } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]]: 10.1.0.2 -> 10.2.0.2 (TTL 64), from the host on vm3 to its router MAC
const ROUTED = hex(`
  027674000003 02000a010002 0800
  4500 0020 0000 4000 4011 26c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// Ethernet[IPv4[UDP]] as it leaves vm4: TTL 63
const ROUTED_OUT = hex(`
  02000a020002 027674000004 0800
  4500 0020 0000 4000 3f11 27c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// Ethernet[ARP who-has 10.2.0.2 tell 10.2.0.1]: the gateway of vm4 asks, broadcast
const ARP_ASK = hex(`
  ffffffffffff 027674000004 0806
  0001 0800 06 04 0001 027674000004 0a020001 000000000000 0a020002`);
// Ethernet[ARP 10.2.0.2 is-at 02:00:0a:02:00:02] to the gateway
const ARP_ANSWER = hex(`
  027674000004 02000a020002 0806
  0001 0800 06 04 0002 02000a020002 0a020002 027674000004 0a020001`);
// Ethernet[ARP who-has 10.1.0.1 tell 10.1.0.2] from the host on vm3
const ARP_H3 = hex('ffffffffffff02000a0100020806000108000604000102000a0100020a0100020000000000000a010001');
// Ethernet[IPv4[ICMP host unreachable[IPv4[UDP]]]]: 10.1.0.1 -> 10.1.0.2, quoting the held packet (TTL 63)
const HOST_UNREACHABLE = hex(`
  02000a010002 027674000003 0800
  45c0 003c 0000 0000 4001 65fd 0a010001 0a010002
  0301 126a 00000000
  45000020000040003f1127c70a0100020a02000203e807d0000c000070696e67`);

test('held while ARP asks; released by the answer', () => {
  const { dp, vm4 } = routerNet();
  inject(dp, 'vm3', ROUTED);
  const n = node(dp, 'neigh-hold');
  assert.is(n.packets, 1);
  assert.equal(n.next, { hold: 1 });
  assert.equal(n.drops, {});
  assert.equal(vm4.frames.map(toHex), [toHex(ARP_ASK)]);
  assert.is(dp.stats().arp.requestsSent, 1);
  assert.is(dp.stats().held.packets, 1);
  inject(dp, 'vm4', ARP_ANSWER);
  assert.equal(vm4.frames.map(toHex), [toHex(ARP_ASK), toHex(ROUTED_OUT)]);
  assert.is(dp.stats().held.packets, 0);
  assert.is(dp.stats().held.released, 1);
  assert.equal(dp.stats().drops, {});
  dp.close();
});

test('one ARP request per destination and second, however many packets wait', () => {
  const { dp, vm4 } = routerNet({ dp: { clock: () => 5000 } });
  inject(dp, 'vm3', ROUTED, ROUTED);
  assert.equal(node(dp, 'neigh-hold').next, { hold: 2 });
  assert.is(vm4.frames.length, 1);
  dp.close();
});

test('no-neighbor: the destination\'s queue is full', () => {
  const { dp } = routerNet({ dp: { held: { perDest: 1 } } });
  inject(dp, 'vm3', ROUTED, ROUTED);
  const d = dropsOf(dp, 'neigh-hold', 'vm3');
  assert.equal(d.stage, { 'no-neighbor': 1 });
  assert.equal(d.total, { 'no-neighbor': 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'neigh-hold').next, { hold: 1 });
  dp.close();
});

test('no-neighbor on expiry: charged to the ingress port; the sender hears host unreachable', () => {
  let now = 1000;
  const { dp, vm3 } = routerNet({ dp: { clock: () => now, held: { timeoutMs: 3000 } } });
  inject(dp, 'vm3', ARP_H3);
  vm3.frames.length = 0;
  inject(dp, 'vm3', ROUTED);
  now += 4000;
  dp.tick();
  const d = dropsOf(dp, 'neigh-hold', 'vm3');
  assert.equal(d.stage, { 'no-neighbor': 1 });
  assert.equal(d.total, { 'no-neighbor': 1 });
  assert.is(d.port, 1);
  assert.is(dp.stats().held.packets, 0);
  assert.equal(vm3.frames.map(toHex), [toHex(HOST_UNREACHABLE)]);
  assert.equal(node(dp, 'icmp-error').next, { 'ip-route': 1 });
  dp.close();
});

test.run();
