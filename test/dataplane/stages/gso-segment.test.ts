/**
 * gso-segment: a guest's TCP super-frame (virtio gso_type TCPV4, gso_size =
 * MSS, NEEDS_CSUM) bound for a remote is cut into MSS-sized segments, each
 * with its own IPv4 id, length and checksum, TCP sequence and flags and a
 * complete TCP checksum, each encapsulated; and what it refuses, by reason.
 * (The cutting itself is checked against scapy in test/tunnel/segment.test.ts.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, node, dropsOf, VnetSink, U1, U2 } from '../../helpers/dp.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { Sink } from '../../helpers/dp.js';
import type { DataplaneOptions } from '../../../src/dataplane/dataplane.js';
import { inetChecksum } from '../../helpers/frames.js';
import { MSS, PAYLOAD, superFrame, injectSuper, tcpSumOk } from '../../helpers/gso.js';

function net(pool: DataplaneOptions['pool'] = {}): ReturnType<typeof bridgeNet> {
  const n = bridgeNet({ dp: { pool: { slots: 64, largeSlots: 2, ...pool } } });
  n.dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  return n;
}

test('a 4000-byte TCP super-frame to a remote leaves as three encapsulated segments, each complete', () => {
  const { dp, wire } = net();
  injectSuper(dp, superFrame());
  assert.equal(node(dp, 'tunnel-encap').next, { 'gso-segment': 1 });
  const n = node(dp, 'gso-segment');
  assert.is(n.packets, 1);
  assert.equal(n.next, { tx: 3 });
  assert.equal(n.drops, {});
  assert.equal(n.counters, { superFrames: 1, segments: 3, whole: 0 });
  assert.is(wire.frames.length, 3);
  const ip = 50 + 14;
  const sports = new Set<number>();
  wire.frames.forEach((f, k) => {
    const pay = k < 2 ? MSS : PAYLOAD - 2 * MSS;
    assert.is(f.length, 50 + 14 + 20 + 20 + pay, `segment ${k} length`);
    assert.is((f[ip + 2]! << 8) | f[ip + 3]!, 40 + pay, 'inner IPv4 total length');
    assert.is((f[ip + 4]! << 8) | f[ip + 5]!, 0x1234 + k, 'inner IPv4 id: one more per segment');
    assert.is(inetChecksum(f, ip, 20), 0, 'inner IPv4 checksum verifies');
    const tcp = ip + 20;
    const seq = ((f[tcp + 4]! << 24) | (f[tcp + 5]! << 16) | (f[tcp + 6]! << 8) | f[tcp + 7]!) >>> 0;
    assert.is(seq, 0x10000000 + k * MSS, 'sequence advances by the MSS');
    const flags = f[tcp + 13]!;
    assert.is((flags & 0x80) !== 0, k === 0, 'CWR on the first segment only');
    assert.is((flags & 0x08) !== 0, k === 2, 'PSH on the last segment only');
    assert.ok((flags & 0x10) !== 0, 'ACK on every segment');
    assert.ok(tcpSumOk(f, ip), `segment ${k}: the TCP checksum is complete and verifies`);
    assert.is(f[tcp + 20], ((k * MSS) * 7 + 3) & 0xff, 'the payload continues where the previous segment ended');
    sports.add((f[34]! << 8) | f[35]!);
  });
  assert.is(sports.size, 1, 'one flow: one outer source port');
  const s = dp.stats();
  assert.is(s.pool.free, s.pool.slots, 'every slot back in the pool');
  dp.close();
});

test('flood: a super-frame to an unknown MAC is cut for each remote of the flood list', () => {
  const { dp, wire, vm2 } = bridgeNet({ flood: ['198.18.0.2', '198.18.0.3'], dp: { pool: { slots: 64, largeSlots: 2 } } });
  injectSuper(dp, superFrame());
  assert.is(wire.frames.length, 6, 'three segments to each of two remotes');
  assert.is(vm2.frames.length, 0, 'a memory port takes no super-frame (too-big at tx)');
  assert.equal(node(dp, 'l2-flood').next, { tx: 2 });
  for (const f of wire.frames) assert.ok(tcpSumOk(f, 64));
  dp.close();
});

test('no-buffer: fewer free slots than segments; nothing is queued and every slot comes back', () => {
  const { dp, wire } = net({ slots: 2 });
  injectSuper(dp, superFrame());
  const d = dropsOf(dp, 'gso-segment', 'vm1');
  assert.equal(d.stage, { 'no-buffer': 1 });
  assert.is(d.port, 1);
  assert.is(wire.frames.length, 0);
  assert.is(dp.stats().pool.free, 2);
  dp.close();
});

test('too-big: segments longer than a pool slot holds', () => {
  const { dp, wire } = net({ slotSize: 1024 });
  injectSuper(dp, superFrame());
  assert.equal(dropsOf(dp, 'gso-segment', 'vm1').stage, { 'too-big': 1 });
  assert.is(wire.frames.length, 0);
  dp.close();
});

test('unsupported, bad-header, truncated, bad-length: what segmentation refuses', () => {
  const { dp, wire } = net();
  injectSuper(dp, superFrame(), 0); // gso_size 0
  const badIhl = superFrame();
  badIhl[14] = 0x44; // IHL 4: below the minimum
  injectSuper(dp, badIhl);
  const long = superFrame();
  long[14 + 2] = 0x20; // total length 0x20xx: more than the frame holds
  injectSuper(dp, long);
  assert.is(dropsOf(dp, 'gso-segment', 'vm1').stage['bad-length'], 1, 'an IP length beyond the frame');
  const short = superFrame();
  short[14 + 2] = 0;
  short[14 + 3] = 30; // total length 30: shorter than the IPv4 + TCP headers (truncated)
  injectSuper(dp, short);
  const d = dropsOf(dp, 'gso-segment', 'vm1');
  assert.equal(d.stage, { unsupported: 1, 'bad-header': 1, truncated: 1, 'bad-length': 1 });
  assert.equal(d.total, d.stage);
  assert.is(d.port, 4);
  assert.is(wire.frames.length, 0);
  dp.close();
});

test('an underlay TAP with UDP-tunnel GSO: the super-frame goes out whole, one frame, its header moved by the outer 50 bytes', () => {
  const dp = new Dataplane({ pool: { slots: 64, largeSlots: 2 } });
  const wire = new VnetSink('wire', 24, true);
  dp.setUnderlay({ address: '198.18.0.1', port: wire, mac: U1, nextHopMac: U2 });
  dp.addBridge({ name: 'br', vni: 42 });
  dp.addBridgePort('br', new Sink('vm1'));
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  injectSuper(dp, superFrame());
  assert.equal(node(dp, 'gso-segment').counters, { superFrames: 0, segments: 0, whole: 1 });
  assert.is(wire.frames.length, 1);
  const f = wire.frames[0]!;
  assert.is(f.length, 50 + 14 + 40 + PAYLOAD);
  assert.is((f[16]! << 8) | f[17]!, f.length - 14, 'outer IPv4 total length: the whole frame');
  assert.is(inetChecksum(f, 14, 20), 0);
  // TCPV4 | UDP_TUNNEL_IPV4, the MSS, headers and checksum start 50 bytes later, NEEDS_CSUM kept.
  assert.equal(wire.offl[0], { gsoType: 0x21, gsoSize: MSS, vflags: 1, hdrLen: 50 + 54, csumStart: 50 + 34 });
  dp.close();
});

test('an underlay TAP without UDP-tunnel GSO: cut as over a socket', () => {
  const dp = new Dataplane({ pool: { slots: 64, largeSlots: 2 } });
  const wire = new VnetSink('wire', 12, false);
  dp.setUnderlay({ address: '198.18.0.1', port: wire, mac: U1, nextHopMac: U2 });
  dp.addBridge({ name: 'br', vni: 42 });
  dp.addBridgePort('br', new Sink('vm1'));
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  injectSuper(dp, superFrame());
  assert.equal(node(dp, 'gso-segment').counters, { superFrames: 1, segments: 3, whole: 0 });
  assert.is(wire.frames.length, 3);
  dp.close();
});

test.run();
