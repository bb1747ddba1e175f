/**
 * l2-learn: each frame's source MAC is learned in its bridge domain (at the
 * local port, or at the remote VTEP it came from); a group source is
 * filtered; ARP/ND go to arp-term when the domain suppresses ARP.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject, node, dropsOf, patch } from '../../helpers/dp.js';

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

test('a local source is learned at its port; IPv4 goes straight to l2-fwd', () => {
  const { dp } = bridgeNet();
  inject(dp, 'vm1', UDP_1_TO_2);
  const n = node(dp, 'l2-learn');
  assert.is(n.packets, 1);
  assert.equal(n.next, { 'l2-fwd': 1 });
  assert.equal(dp.fdbEntries('br').map((e) => [e.mac, e.port, e.static]), [['02:00:0a:00:00:01', 'vm1', false]]);
  assert.is(dp.stats().fdb.learned, 1);
  dp.close();
});

test('a source from the underlay is learned at the remote VTEP', () => {
  const { dp } = bridgeNet();
  inject(dp, 'wire', VXLAN_FROM_2);
  assert.equal(node(dp, 'l2-learn').next, { 'l2-fwd': 1 });
  assert.equal(dp.fdbEntries('br').map((e) => [e.mac, e.remote]), [['02:00:0a:00:00:09', '198.18.0.2']]);
  dp.close();
});

test('ARP goes to arp-term when the bridge suppresses ARP, else to l2-fwd', () => {
  const a = bridgeNet();
  inject(a.dp, 'vm1', ARP_REQ);
  assert.equal(node(a.dp, 'l2-learn').next, { 'arp-term': 1 });
  a.dp.close();
  const b = bridgeNet({ arpSuppress: false });
  inject(b.dp, 'vm1', ARP_REQ);
  assert.equal(node(b.dp, 'l2-learn').next, { 'l2-fwd': 1 });
  assert.is(node(b.dp, 'arp-term').packets, 0);
  b.dp.close();
});

test('a bridge that does not learn forwards without learning', () => {
  const { dp } = bridgeNet({ learn: false });
  inject(dp, 'vm1', UDP_1_TO_2);
  assert.equal(node(dp, 'l2-learn').next, { 'l2-fwd': 1 });
  assert.is(dp.fdbEntries('br').length, 0);
  dp.close();
});

test('filtered: a group MAC as source is never learned nor forwarded', () => {
  const { dp, vm2, wire } = bridgeNet({ flood: ['198.18.0.2'] });
  // Ethernet src 03:00:0a:00:00:01 (group bit set)
  inject(dp, 'vm1', patch(UDP_1_TO_2, 6, [0x03]));
  const d = dropsOf(dp, 'l2-learn', 'vm1');
  assert.equal(d.stage, { filtered: 1 });
  assert.equal(d.total, { filtered: 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'l2-learn').next, {});
  assert.is(dp.fdbEntries('br').length, 0);
  assert.is(vm2.frames.length + wire.frames.length, 0);
  dp.close();
});

test.run();
