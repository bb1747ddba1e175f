/**
 * arp-term: in a bridge that suppresses ARP, a local host's request for a
 * known address is answered in place (out of the port it came in on, never
 * flooded); every ARP sender is snooped. It drops nothing: what it does not
 * answer goes on to l2-fwd.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject, node, toHex } from '../../helpers/dp.js';
import { arpReplyFor } from '../../helpers/frames.js';

// Ethernet[ARP who-has 10.0.0.2 tell 10.0.0.1] from vm1 (02:00:0a:00:00:01), broadcast
const ARP_REQ = hex(`
  ffffffffffff 02000a000001 0806
  0001 0800 06 04 0001 02000a000001 0a000001 000000000000 0a000002`);
// Ethernet[802.1Q vid 100[ARP who-has 10.0.0.2 tell 10.0.0.1]]
const ARP_REQ_TAGGED = hex(`
  ffffffffffff 02000a000001 8100 0064 0806
  0001 0800 06 04 0001 02000a000001 0a000001 000000000000 0a000002`);
// Ethernet[ARP is-at]: 10.0.0.2 is at 02:00:0a:00:00:02, to vm1
const ARP_REPLY = hex(`
  02000a000001 02000a000002 0806
  0001 0800 06 04 0002 02000a000002 0a000002 02000a000001 0a000001`);

test('a request for a known address is answered from the table, out of the ingress port', () => {
  const { dp, vm1, vm2, wire } = bridgeNet({ flood: ['198.18.0.2'] });
  dp.addArp('br', '10.0.0.2', '02:00:0a:00:00:02');
  inject(dp, 'vm1', ARP_REQ);
  const n = node(dp, 'arp-term');
  assert.is(n.packets, 1);
  assert.equal(n.next, { tx: 1 });
  assert.equal(n.drops, {});
  assert.is(vm1.frames.length, 1);
  assert.is(toHex(vm1.frames[0]!), toHex(ARP_REPLY));
  assert.is(toHex(ARP_REPLY), toHex(arpReplyFor(ARP_REQ, 0x0a000002, 0x02000a000002)!), 'as an independent builder writes it');
  assert.is(vm2.frames.length + wire.frames.length, 0, 'never flooded');
  assert.is(dp.stats().arp.suppressed, 1);
  assert.equal(node(dp, 'l2-fwd').next, { 'arp-term': 1 }, 'learned there, never forwarded');
  dp.close();
});

test('a tagged request is answered tagged', () => {
  const { dp, vm1 } = bridgeNet();
  dp.addArp('br', '10.0.0.2', '02:00:0a:00:00:02');
  inject(dp, 'vm1', ARP_REQ_TAGGED);
  assert.equal(node(dp, 'arp-term').next, { tx: 1 });
  const r = vm1.frames[0]!;
  assert.is(toHex(r.subarray(12, 16)), '81000064', 'the same tag');
  assert.is(toHex(r.subarray(0, 12)), toHex(ARP_REPLY.subarray(0, 12)));
  assert.is(toHex(r.subarray(16)), toHex(ARP_REPLY.subarray(12)));
  dp.close();
});

test('an unknown address: on to l2-fwd (flooded); the sender is snooped', () => {
  const { dp, vm2, wire } = bridgeNet({ flood: ['198.18.0.2'] });
  inject(dp, 'vm1', ARP_REQ);
  assert.equal(node(dp, 'arp-term').next, { 'l2-fwd': 1 });
  assert.is(vm2.frames.length, 1);
  assert.is(wire.frames.length, 1);
  assert.equal(dp.arpEntries('br').map((e) => [e.ip, e.mac]), [['10.0.0.1', '02:00:0a:00:00:01']]);
  assert.is(dp.stats().arp.suppressed, 0);
  dp.close();
});

test('a probe (the owner asking for its own address) is let through', () => {
  const { dp, vm2 } = bridgeNet();
  dp.addArp('br', '10.0.0.1', '02:00:0a:00:00:01');
  // Ethernet[ARP who-has 10.0.0.1 tell 10.0.0.1] from 02:00:0a:00:00:01
  inject(dp, 'vm1', hex('ffffffffffff02000a0000010806000108000604000102000a0000010a0000010000000000000a000001'));
  assert.equal(node(dp, 'arp-term').next, { 'l2-fwd': 1 });
  assert.is(vm2.frames.length, 1);
  dp.close();
});

test('a request from a remote VTEP is snooped, not answered', () => {
  const { dp, vm1, wire } = bridgeNet();
  dp.addArp('br', '10.0.0.2', '02:00:0a:00:00:02');
  // Ethernet[IPv4[UDP[VXLAN vni 42[Ethernet[ARP who-has 10.0.0.2 tell 10.0.0.9]]]]] from 198.18.0.2
  inject(dp, 'wire', hex(`
    02fc18000001 02fc18000002 0800
    4500 004e 0000 4000 4011 ae77 c6120002 c6120001
    c000 12b5 003a 0000
    08000000 00002a00
    ffffffffffff 02000a000009 0806 0001 0800 06 04 0001 02000a000009 0a000009 000000000000 0a000002`));
  assert.equal(node(dp, 'arp-term').next, { 'l2-fwd': 1 });
  assert.is(wire.frames.length, 0);
  assert.is(vm1.frames.length, 1, 'flooded to the local ports');
  assert.ok(dp.arpEntries('br').some((e) => e.ip === '10.0.0.9' && e.mac === '02:00:0a:00:00:09'));
  dp.close();
});

test('a neighbor solicitation for a known IPv6 address is answered with an advertisement', () => {
  const { dp, vm1, vm2 } = bridgeNet();
  dp.addArp('br', '2001:db8::2', '02:00:0a:00:00:02');
  // Ethernet[IPv6[ICMPv6 NS who-has 2001:db8::2, source link-address 02:00:0a:00:00:01]] to ff02::1:ff00:2
  inject(dp, 'vm1', hex(`
    3333ff000002 02000a000001 86dd
    6000 0000 0020 3a ff 20010db8000000000000000000000001 ff0200000000000000000001ff000002
    87 00 1227 00000000 20010db8000000000000000000000002 0101 02000a000001`));
  assert.equal(node(dp, 'arp-term').next, { tx: 1 });
  assert.is(vm2.frames.length, 0);
  const a = vm1.frames[0]!;
  assert.is(toHex(a.subarray(0, 14)), '02000a00000102000a00000286dd', 'to the asker, from the target');
  assert.is(a[14 + 40], 136, 'a neighbor advertisement');
  assert.is(toHex(a.subarray(14 + 48, 14 + 64)), '20010db8000000000000000000000002', 'for the target');
  assert.ok(dp.arpEntries('br').some((e) => e.ip === '2001:db8::1' && e.mac === '02:00:0a:00:00:01'), 'the asker is snooped');
  dp.close();
});

test.run();
