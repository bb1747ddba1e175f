/**
 * underlay-input: tunnel packets from the underlay port are decapsulated
 * strictly; the inner frame (for its bridge) or IP packet (for its VRF)
 * goes to l2-fwd (bridge) or ip-route (VRF), its inner checksum finished if a kernel VTEP left it partial. Every check that fails is a drop by name, charged
 * to the underlay port.
 */
import { test } from 'uvu';
import { superFrame, tcpSumOk } from '../../helpers/gso.js';
import { VnetSink } from '../../helpers/dp.js';
import { inetChecksum } from '../../helpers/frames.js';
import * as assert from 'uvu/assert';
import { bridgeNet, routerNet, hex, inject, node, dropsOf, patch, fixIpv4Sum, toHex, Sink } from '../../helpers/dp.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { Batch } from '../../../src/packet/batch.js';

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

test('VXLAN to a bridge: the inner frame goes to l2-fwd, counted on the tunnel', () => {
  const { dp, vm2 } = bridgeNet({ peers: ['198.18.0.2'] });
  inject(dp, 'wire', VXLAN_FROM_2);
  const n = node(dp, 'underlay-input');
  assert.is(n.packets, 1);
  assert.equal(n.next, { 'l2-fwd': 1 });
  assert.equal(n.drops, {});
  assert.is(toHex(vm2.frames[0]!), toHex(VXLAN_FROM_2.subarray(50)));
  assert.equal(dp.stats().tunnels['vxlan 198.18.0.2'], { txPackets: 0, txBytes: 0, rxPackets: 1, rxBytes: 46 });
  dp.close();
});

test('bad-checksum: a wrong outer UDP checksum; one the kernel vouched for (an underlay TAP\'s NEEDS_CSUM: a veth leaves it partial) is not summed', () => {
  const { dp, vm2 } = bridgeNet({ peers: ['198.18.0.2'] });
  const partial = patch(VXLAN_FROM_2, 40, [0x12, 0x34]);
  inject(dp, 'wire', partial);
  assert.equal(dropsOf(dp, 'underlay-input', 'wire').stage, { 'bad-checksum': 1 });
  const b = new Batch(dp.pool, 1);
  b.pushCopy(partial);
  b.vflags[0] = 1; // NEEDS_CSUM, csum_start at the outer UDP header
  b.csumStart[0] = 34;
  b.csumOffset[0] = 6;
  dp.inject('wire', b);
  assert.is(vm2.frames.length, 1, 'decapsulated');
  assert.equal(dropsOf(dp, 'underlay-input', 'wire').stage, { 'bad-checksum': 1 });
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

/** An underlay UDP socket stand-in (a Sink that says it is a UDP socket bound to 4789). */
function udpSink(name: string): Sink & { localPort: number; family: number } {
  const p = new Sink(name);
  Object.defineProperty(p, 'kind', { value: 'udp' });
  return Object.assign(p, { localPort: 4789, family: 4 });
}

/** A dataplane at 198.18.0.1 with a UDP underlay and bridge vni 42 with port vm2 (02:00:0a:00:00:02 static). */
function udpNet(): { dp: Dataplane; vm2: Sink } {
  const dp = new Dataplane({ pool: { slots: 2048, largeSlots: 2 } });
  dp.setUnderlay({ address: '198.18.0.1' });
  dp.addUnderlaySocket(udpSink('u'));
  dp.addBridge({ name: 'br', vni: 42 });
  const vm2 = new Sink('vm2');
  dp.addBridgePort('br', vm2);
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm2' });
  return { dp, vm2 };
}

/** One buffer of n VXLAN datagrams (UDP payloads: VXLAN vni 42[Ethernet to vm2, `size` bytes]) as UDP GRO hands them over. */
function train(dp: Dataplane, n: number, size: number): Batch {
  const d = Uint8Array.from([0x08, 0, 0, 0, 0, 0, 42, 0, 0x02, 0, 0x0a, 0, 0, 0x02, 0x02, 0, 0x0a, 0, 0, 0x09, 0x88, 0xb5, ...new Array<number>(size - 14).fill(7)]);
  const buf = new Uint8Array(d.length * n);
  for (let k = 0; k < n; k++) buf.set(d, k * d.length);
  const b = new Batch(dp.pool, 1);
  b.pushCopy(buf);
  b.gsoSize[0] = d.length;
  b.addr[0] = 0xc6120002; // from 198.18.0.2
  return b;
}

/**
 * A kernel VTEP's TSO output as our UDP socket receives it over a veth: one
 * VXLAN datagram (no gso_size: the socket gives none for a UDP-tunnel GSO
 * packet) of VXLAN 42[Ethernet[IPv4[TCP, checksum = pseudo-header sum (partial) or complete[4000 bytes]]]] to vm2.
 */
function tunnelSuper(dp: Dataplane, complete: boolean): Batch {
  const f = superFrame(4000);
  f.set([0x02, 0, 0x0a, 0, 0, 0x02], 0);
  if (complete) {
    const tcp = 34;
    f[tcp + 16] = 0;
    f[tcp + 17] = 0;
    const l4len = f.length - tcp;
    const pseudo = [...f.subarray(26, 34), 0, 6, l4len >>> 8, l4len & 0xff];
    const c = inetChecksum(Uint8Array.from([...pseudo, ...f.subarray(tcp)]));
    f[tcp + 16] = c >>> 8;
    f[tcp + 17] = c & 0xff;
  }
  const b = new Batch(dp.pool, 1);
  b.pushCopy(Uint8Array.from([0x08, 0, 0, 0, 0, 0, 42, 0, ...f]));
  b.addr[0] = 0xc6120002;
  return b;
}

test('a tunnel super-packet (a kernel VTEP\'s TSO, longer than the MTU) goes to the guest whole: GSO, NEEDS_CSUM, unsummed', () => {
  const dp = new Dataplane({ pool: { slots: 64, largeSlots: 2 } });
  dp.setUnderlay({ address: '198.18.0.1' });
  dp.addUnderlaySocket(udpSink('u'));
  dp.addBridge({ name: 'br', vni: 42 });
  const vm = new VnetSink('vm');
  dp.addBridgePort('br', vm);
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm' });
  dp.inject('u', tunnelSuper(dp, false));
  assert.is(vm.frames.length, 1);
  assert.is(vm.frames[0]!.length, 14 + 40 + 4000);
  // 1500 - 20 (IPv4) - 8 (UDP) - 8 (VXLAN) = 1464 bytes of frame per packet, less 54 of headers.
  assert.equal(vm.offl[0], { gsoType: 1, gsoSize: 1410, vflags: 1, hdrLen: 54, csumStart: 34 });
  assert.is((vm.frames[0]![34 + 16]! << 8) | vm.frames[0]![34 + 17]!, 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 4020, 'the partial checksum left for the guest\'s kernel');
  assert.equal(node(dp, 'underlay-input').counters, { completed: 0, superFrames: 1 });
  // A complete checksum (a reassembled datagram, say) is no GSO frame: it goes on as it came.
  dp.inject('u', tunnelSuper(dp, true));
  assert.is(vm.offl[1]!.gsoType, 0);
  assert.is(vm.offl[1]!.vflags, 0);
  assert.ok(tcpSumOk(vm.frames[1]!, 14));
  assert.equal(node(dp, 'underlay-input').counters, { completed: 0, superFrames: 1 });
  dp.close();
});

test('a coalesced UDP buffer (GRO) is split into its datagrams, each decapsulated on its own', () => {
  const { dp, vm2 } = udpNet();
  dp.inject('u', train(dp, 3, 60));
  assert.is(vm2.frames.length, 3);
  assert.is(vm2.frames[0]!.length, 60);
  assert.equal(node(dp, 'underlay-input').next, { split: 1, 'l2-fwd': 3 });
  assert.is(dp.stats().pool.free, 2048, 'every slot back');
  dp.close();
});

test('split datagrams routed to a local port arrive intact (headers prepended to one do not land on another)', () => {
  const dp = new Dataplane({ pool: { slots: 256, largeSlots: 2 } });
  dp.setUnderlay({ address: '198.18.0.1', mplsPort: 6635 });
  const u = udpSink('m');
  u.localPort = 6635;
  dp.addUnderlaySocket(u);
  dp.addVrf({ name: 'red', label: 100 });
  const vm3 = new Sink('vm3');
  dp.addVrfPort('red', vm3, { gateway: '10.2.0.1/24' });
  // vm3's host 10.2.0.2 is known (an ARP reply from it), so routed packets go straight out.
  vm3.inject(hex(`ffffffffffff 02000a020002 0806 0001 0800 0604 0002 02000a020002 0a020002 000000000000 0a020001`));
  dp.poll();
  vm3.frames.length = 0;
  // MPLS label 100 S TTL 64 [IPv4 10.9.0.9 -> 10.2.0.2 [UDP [16 bytes of k]]], three in one buffer.
  const dgram = (k: number): number[] => {
    const body = [0x03, 0xe8, 0x07, 0xd0, 0, 24, 0, 0, ...new Array<number>(16).fill(k)];
    const ip = [0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 9, 0, 9, 10, 2, 0, 2];
    let sum = 0;
    for (let q = 0; q < 20; q += 2) sum += (ip[q]! << 8) | ip[q + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    ip[10] = (~sum >>> 8) & 255;
    ip[11] = ~sum & 255;
    return [0x00, 0x06, 0x41, 0x40, ...ip, ...body];
  };
  const one = dgram(1);
  const b = new Batch(dp.pool, 1);
  b.pushCopy(Uint8Array.from([...dgram(0xa1), ...dgram(0xb2), ...dgram(0xc3)]));
  b.gsoSize[0] = one.length;
  b.addr[0] = 0xc6120002;
  dp.inject('m', b);
  assert.is(vm3.frames.length, 3);
  for (const [k, v] of [0xa1, 0xb2, 0xc3].entries()) {
    const f = vm3.frames[k]!;
    assert.equal([...f.subarray(14 + 28)], new Array<number>(16).fill(v), `datagram ${k} intact`);
  }
  dp.close();
});

test('no-buffer: a buffer of more datagrams than a split batch holds (1024): the rest are dropped, counted', () => {
  const { dp, vm2 } = udpNet();
  dp.inject('u', train(dp, 1100, 14));
  assert.is(vm2.frames.length, 1024);
  const d = dropsOf(dp, 'underlay-input', 'u');
  assert.equal(d.stage, { 'no-buffer': 76 });
  dp.close();
});

test('a frame port beside sockets only sends (underlay.tap): what it reads is counted as ignored, never decapsulated nor dropped', () => {
  const { dp, vm2 } = bridgeNet({ peers: ['198.18.0.2'] });
  dp.addUnderlaySocket(udpSink('u'));
  // Ethernet[ARP who-has 198.18.0.9]: a broadcast the kernel bridge floods to the TAP; and a VXLAN
  // packet, which the sockets receive too (processing both would deliver it twice).
  const arp = hex('ffffffffffff 02fc18000002 0806 0001 0800 06 04 0001 02fc18000002 c6120002 000000000000 c6120009');
  inject(dp, 'wire', arp, VXLAN_FROM_2);
  assert.is(node(dp, 'underlay-input').packets, 0);
  assert.equal(dp.stats().drops, {});
  const w = dp.stats().ports.wire!;
  assert.is(w.rxPackets, 2);
  assert.is(w.ignored, 2);
  assert.is(w.drops, 0);
  assert.is(vm2.frames.length, 0);
  assert.is(dp.stats().ports.u!.ignored, undefined, 'only the frame port has the counter');
  dp.close();
});

test.run();
