/**
 * ip-rewrite: the next hop's adjacency. A neighbor we know gets an Ethernet
 * header (its MAC, the port's router MAC) and is queued; one we do not goes
 * to neigh-hold; a tunnel next hop goes to tunnel-encap in its payload form
 * (bare IP for MPLS, an inner Ethernet header for routed VXLAN). no-headroom
 * when that inner header does not fit; no-port when the next hop's port is gone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { routerNet, hex, inject, injectWithHeadroom, node, dropsOf, toHex } from '../../helpers/dp.js';
import { superFrame, injectSuper, tcpSumOk } from '../../helpers/gso.js';
import { inetChecksum } from '../../helpers/frames.js';

// Ethernet[IPv4[UDP "ping"]]: 10.1.0.2 -> 10.2.0.2 (TTL 64), from the host on vm3 to its router MAC
const ROUTED = hex(`
  027674000003 02000a010002 0800
  4500 0020 0000 4000 4011 26c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// Ethernet[IPv4[UDP]] as it leaves vm4: 02:76:74:00:00:04 -> 02:00:0a:02:00:02, TTL 63
const ROUTED_OUT = hex(`
  02000a020002 027674000004 0800
  4500 0020 0000 4000 3f11 27c7 0a010002 0a020002
  03e8 07d0 000c 0000 70696e67`);
// Ethernet[ARP who-has 10.2.0.1 tell 10.2.0.2] from the host on vm4
const ARP_H4 = hex('ffffffffffff02000a0200020806000108000604000102000a0200020a0200020000000000000a020001');
// Ethernet[IPv4[UDP]] 10.1.0.2 -> 10.3.0.2 (a tunnel route), to vm3's router MAC
const TO_10_3 = hex(`
  027674000003 02000a010002 0800
  4500 0020 0000 4000 4011 26c6 0a010002 0a030002
  03e8 07d0 000c 0000 70696e67`);

test('a known neighbor: MACs written, queued on the next hop port', () => {
  const { dp, vm4 } = routerNet();
  inject(dp, 'vm4', ARP_H4);
  vm4.frames.length = 0;
  inject(dp, 'vm3', ROUTED);
  const n = node(dp, 'ip-rewrite');
  assert.is(n.packets, 1);
  assert.equal(n.next, { tx: 1 });
  assert.equal(n.drops, {});
  assert.equal(vm4.frames.map(toHex), [toHex(ROUTED_OUT)]);
  dp.close();
});

test('an unknown neighbor: to neigh-hold', () => {
  const { dp } = routerNet();
  inject(dp, 'vm3', ROUTED);
  assert.equal(node(dp, 'ip-rewrite').next, { 'neigh-hold': 1 });
  dp.close();
});

test('a neighbor known on another port than the route\'s: to neigh-hold', () => {
  const { dp } = routerNet();
  inject(dp, 'vm3', ARP_H4); // 10.2.0.2 seen on vm3
  inject(dp, 'vm3', ROUTED);
  assert.equal(node(dp, 'ip-rewrite').next, { 'neigh-hold': 1 });
  dp.close();
});

test('an MPLS next hop: the bare IP packet to tunnel-encap, from ip-route without a rewrite', () => {
  const { dp, wire } = routerNet();
  dp.addRoute('red', '10.3.0.0/16', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }]);
  inject(dp, 'vm3', TO_10_3);
  assert.equal(node(dp, 'ip-route').next, { 'tunnel-encap': 1 });
  assert.is(node(dp, 'ip-rewrite').packets, 0);
  // Ethernet[IPv4[UDP 6635[MPLS 200[IPv4[UDP]]]]]
  const f = wire.frames[0]!;
  assert.is(f.length, 14 + 20 + 8 + 4 + 32);
  assert.is(toHex(f.subarray(0, 14)), '02fc1800000202fc180000010800');
  assert.is(toHex(f.subarray(30, 34)), 'c6120002');
  assert.is(toHex(f.subarray(36, 38)), '19eb');
  assert.is((f[42]! << 12) | (f[43]! << 4) | (f[44]! >>> 4), 200);
  assert.is(f[46]! >>> 4, 4, 'the IP packet right after the label');
  assert.is(f[46 + 8], 63, 'routed: TTL 63');
  dp.close();
});

test('offload offsets follow the first byte: a guest\'s routed TCP super-frame to an MPLS next hop is cut at the right headers', () => {
  const { dp, wire } = routerNet({ dp: { pool: { slots: 64, largeSlots: 2 } } });
  dp.addRoute('red', '10.0.0.0/16', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }]);
  // superFrame(): 10.0.0.1 -> 10.0.0.2, here sent to vm3's router MAC.
  const f = superFrame();
  f.set([0x02, 0x76, 0x74, 0, 0, 3], 0);
  injectSuper(dp, f, undefined, 'vm3');
  assert.equal(node(dp, 'ip-rewrite').next, { 'tunnel-encap': 1 });
  assert.equal(node(dp, 'gso-segment').counters, { superFrames: 1, segments: 3, whole: 0 });
  // Ethernet[IPv4[UDP 6635[MPLS 200[IPv4[TCP]]]]]: the inner IP packet at 46.
  assert.is(wire.frames.length, 3);
  for (const w of wire.frames) {
    assert.is(w[46 + 8], 63, 'routed: TTL 63');
    assert.is(inetChecksum(w, 46, 20), 0);
    assert.ok(tcpSumOk(w, 46), 'the TCP checksum of every segment verifies');
  }
  dp.close();
});

test('no-headroom: a routed VXLAN next hop whose inner Ethernet header does not fit', () => {
  const { dp, wire } = routerNet();
  dp.addRoute('red', '10.3.0.0/16', [{ remote: '198.18.0.2', encap: 'vxlan', vni: 1200, mac: '02:76:74:00:00:99' }]);
  injectWithHeadroom(dp, 'vm3', TO_10_3, 8);
  const d = dropsOf(dp, 'ip-rewrite', 'vm3');
  assert.equal(d.stage, { 'no-headroom': 1 });
  assert.equal(d.total, { 'no-headroom': 1 });
  assert.is(d.port, 1);
  assert.is(wire.frames.length, 0);
  dp.close();
});

test('no-port: the next hop\'s port is gone (the table poked directly: removePort takes its routes along)', () => {
  const { dp, vm4 } = routerNet();
  const vm4Id = dp.portId('vm4');
  let nh = -1;
  for (let id = 0; id < dp.nexthops.capacity && nh < 0; id++) {
    const info = dp.nexthops.get(id);
    if (info?.type === 'local' && info.port === vm4Id) nh = id;
  }
  assert.ok(nh >= 0);
  dp.nexthops.port[nh] = 4095;
  inject(dp, 'vm3', ROUTED);
  const d = dropsOf(dp, 'ip-rewrite', 'vm3');
  assert.equal(d.stage, { 'no-port': 1 });
  assert.equal(d.total, { 'no-port': 1 });
  assert.is(d.port, 1);
  assert.is(vm4.frames.length, 0);
  dp.close();
});

test.run();
