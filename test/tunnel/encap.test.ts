import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tunnel, encapInPlace, encapBatch, encapBatchVia, flowHash, entropyPort, Decapsulator, decapBatch, RxDepth, PacketPool, Batch, REASON_NAMES } from '../../src/index.js';
import { udpChecksumOk } from '../../src/wire/udp.js';
import { toHex } from '../../src/wire/bytes.js';
import { fixtureJson, pcapFrames, type EncapFixture, type EncapSet } from '../helpers/fixtures.js';

const E = fixtureJson<EncapFixture>('encap.json');
const frames = pcapFrames('inner.pcap');

function tunnelFor(set: EncapSet, extra: Partial<ConstructorParameters<typeof Tunnel>[0]> = {}): Tunnel {
  const p = set.params;
  const v6 = p.underlay === 'ipv6';
  return new Tunnel({
    proto: p.proto, vni: p.vni, key: p.key, label: p.label,
    src: v6 ? E.local6 : E.local4, dst: v6 ? E.remote6 : E.remote4,
    srcMac: E.srcMac, dstMac: E.dstMac, ttl: E.ttl, ...extra,
  });
}

/** Compares outside the masks and checks each masked range by its rule. */
function checkAgainst(set: EncapSet, i: number, got: Uint8Array, inner: Uint8Array): void {
  const ex = set.expected[i]!;
  const want = Buffer.from(ex.hex, 'hex');
  const where = `${set.params.name}/${ex.frame}`;
  assert.is(got.length, want.length, `${where}: length`);
  const masked = new Set<number>();
  for (const m of ex.masks) for (let k = 0; k < m.length; k++) masked.add(m.offset + k);
  for (let k = 0; k < want.length; k++) {
    if (!masked.has(k) && got[k] !== want[k]) assert.unreachable(`${where}: byte ${k} is ${got[k]}, expected ${want[k]}`);
  }
  for (const m of ex.masks) {
    if (m.rule.startsWith('udp-source-port')) {
      const port = (got[m.offset]! << 8) | got[m.offset + 1]!;
      assert.ok(port >= 49152 && port <= 65535, `${where}: source port ${port} in 49152-65535`);
      assert.is(port, entropyPort(flowHash(inner, 0, inner.length)), `${where}: port follows the inner flow hash`);
    } else if (m.rule.startsWith('udp-checksum')) {
      const c = (got[m.offset]! << 8) | got[m.offset + 1]!;
      assert.ok(c !== 0, `${where}: IPv6 UDP checksum non-zero`);
      assert.ok(udpChecksumOk(got, 14, 54, got.length - 54, true), `${where}: IPv6 UDP checksum verifies`);
    } else {
      assert.unreachable(`unknown mask rule ${m.rule}`);
    }
  }
}

test('every fixture frame, every parameter set: equal to encap.json outside the masks', () => {
  let n = 0;
  for (const set of E.sets) {
    const t = tunnelFor(set);
    frames.forEach((f, i) => {
      const buf = new Uint8Array(f.length + 256);
      buf.set(f, 200);
      const ns = encapInPlace(t, buf, 200, f.length, 0);
      checkAgainst(set, i, buf.subarray(ns, 200 + f.length), f);
      n++;
    });
  }
  assert.is(n, 54);
});

test('batched encap into pool slots gives the same bytes as single encap', () => {
  const pool = new PacketPool({ slots: 16, slotSize: 16384 });
  for (const set of E.sets) {
    const t = tunnelFor(set);
    const b = new Batch(pool, 16);
    for (const f of frames) b.pushCopy(f);
    assert.is(encapBatch(t, b), frames.length);
    frames.forEach((f, i) => checkAgainst(set, i, b.packet(i), f));
    b.release();
  }
  assert.is(pool.available, 16);
});

test('same inner flow, same source port; the port does not depend on the payload', () => {
  const t = tunnelFor(E.sets[0]!);
  const f = frames[1]!; // ICMP echo
  const ports = new Set<number>();
  for (let k = 0; k < 3; k++) {
    const buf = new Uint8Array(f.length + 128);
    buf.set(f, 100);
    buf[buf.length - 29] = buf[buf.length - 29]! ^ 0xff; // change a payload byte: same flow
    const ns = encapInPlace(t, buf, 100, f.length, 0);
    ports.add((buf[ns + 34]! << 8) | buf[ns + 35]!);
  }
  assert.is(ports.size, 1);
});

test('zero copy: encap prepends in the same memory, decap moves the start back', () => {
  const pool = new PacketPool({ slots: 4 });
  const b = new Batch(pool, 4);
  const f = frames[1]!;
  const i = b.pushCopy(f);
  const start0 = b.start[i]!;
  const before = b.packet(i);
  const t = new Tunnel({ proto: 'vxlan', vni: 42, src: '198.18.0.1', dst: '198.18.0.2', srcMac: E.srcMac, dstMac: E.dstMac });
  encapBatch(t, b);
  assert.is(b.start[i], start0 - t.hdrLen, 'start moved back by the header length');
  assert.is(b.len[i], f.length + t.hdrLen);
  const after = b.packet(i);
  assert.ok(after.buffer === before.buffer, 'same ArrayBuffer');
  assert.is(after.byteOffset + t.hdrLen, before.byteOffset, 'inner frame at the same address');
  // Write through the pre-encap view: it shows in the encapsulated packet, so they share memory.
  before[0] = before[0]! ^ 0xff;
  assert.is(after[t.hdrLen], before[0]);
  before[0] = before[0]! ^ 0xff;
  const d = new Decapsulator({ local: ['198.18.0.2'], peers: ['198.18.0.1'], vxlan: { vnis: [42] } });
  assert.is(decapBatch(d, b, RxDepth.FRAME), 1);
  assert.is(b.start[i], start0, 'decap moved the start forward to the inner frame');
  assert.is(toHex(b.packet(i)), toHex(f));
  assert.ok(b.packet(i).buffer === before.buffer);
});

test('output depths: ip and udp start deeper in the same template', () => {
  const opts = { proto: 'vxlan' as const, vni: 7, src: '198.18.0.1', dst: '198.18.0.2', srcMac: E.srcMac, dstMac: E.dstMac };
  const f = frames[1]!;
  const out = (depth: 'frame' | 'ip' | 'udp'): Uint8Array => {
    const t = new Tunnel({ ...opts, depth });
    const buf = new Uint8Array(f.length + 200);
    buf.set(f, 150);
    const ns = encapInPlace(t, buf, 150, f.length, 0);
    return buf.slice(ns, 150 + f.length);
  };
  const frame = out('frame');
  assert.is(toHex(out('ip')), toHex(frame.subarray(14)));
  assert.is(toHex(out('udp')), toHex(frame.subarray(42)));
  assert.throws(() => new Tunnel({ proto: 'gre', key: 1, src: '198.18.0.1', dst: '198.18.0.2', depth: 'udp' }), /depth/);
});

test('options: TOS inherit, DF off, outer VLAN, TTL, fixed source port', () => {
  const f = frames[1]!; // IPv4 ICMP: set its TOS to 0xb8 (EF)
  const inner = f.slice();
  inner[15] = 0xb8;
  const t = new Tunnel({
    proto: 'vxlan', vni: 1, src: '198.18.0.1', dst: '198.18.0.2', srcMac: E.srcMac, dstMac: E.dstMac,
    tos: 'inherit', df: false, vlan: 100, ttl: 9, srcPort: 50000,
  });
  const buf = new Uint8Array(inner.length + 200);
  buf.set(inner, 150);
  const ns = encapInPlace(t, buf, 150, inner.length, 0);
  const o = buf.subarray(ns);
  assert.is(toHex(o, 12, 6), '8100006408' + '00'); // 802.1Q VID 100, then IPv4
  const ip = 18;
  assert.is(o[ip + 1], 0xb8, 'TOS inherited');
  assert.is(o[ip + 6]! & 0x40, 0, 'DF clear');
  assert.is(o[ip + 8], 9, 'TTL');
  assert.is((o[ip + 20]! << 8) | o[ip + 21]!, 50000, 'fixed source port');
  const d = new Decapsulator({ local: ['198.18.0.2'], vxlan: { vnis: [1] } });
  assert.is(d.frame(buf, ns, inner.length + t.hdrLen), 0, 'our decap accepts it (IPv4 checksum right)');
});

test('IPv6 underlay: flow label from the hash, zero UDP checksum when asked', () => {
  const f = frames[1]!;
  const mk = (extra: object): Uint8Array => {
    const t = new Tunnel({ proto: 'vxlan', vni: 5, src: '2001:db8:18::1', dst: '2001:db8:18::2', srcMac: E.srcMac, dstMac: E.dstMac, ...extra });
    const buf = new Uint8Array(f.length + 200);
    buf.set(f, 150);
    return buf.slice(encapInPlace(t, buf, 150, f.length, 0), 150 + f.length);
  };
  const a = mk({ flowLabel: 'hash' });
  const fl = ((a[15]! & 0x0f) << 16) | (a[16]! << 8) | a[17]!;
  assert.is(fl, flowHash(f, 0, f.length) & 0xfffff);
  assert.ok(udpChecksumOk(a, 14, 54, a.length - 54, true));
  const z = mk({ udpChecksum: false });
  assert.is((z[60]! << 8) | z[61]!, 0);
});

test('GRE checksum and sequence numbers, MPLS entropy label: our decap verifies them', () => {
  const f = frames[1]!;
  const d = new Decapsulator({ local: ['198.18.0.2'], gre: { keys: [9] }, mpls: { labels: { '300': 'ethernet' } } });
  const gre = new Tunnel({ proto: 'gre', key: 9, src: '198.18.0.1', dst: '198.18.0.2', srcMac: E.srcMac, dstMac: E.dstMac, greChecksum: true, greSeq: true });
  for (let k = 0; k < 2; k++) {
    const buf = new Uint8Array(f.length + 200);
    buf.set(f, 150);
    const ns = encapInPlace(gre, buf, 150, f.length, 0);
    assert.is(toHex(buf, ns + 34, 4), 'b0006558', 'C, K, S set, TEB');
    assert.is((buf[ns + 34 + 12]! << 24 | buf[ns + 34 + 13]! << 16 | buf[ns + 34 + 14]! << 8 | buf[ns + 34 + 15]!) >>> 0, k, 'sequence counts');
    assert.is(d.frame(buf, ns, f.length + gre.hdrLen), 0);
    assert.is(d.id, 9);
    buf[ns + 60] = buf[ns + 60]! ^ 1; // corrupt the payload: the GRE checksum catches it
    assert.is(d.frame(buf, ns, f.length + gre.hdrLen), 3 /* bad-checksum */);
  }
  const mpls = new Tunnel({ proto: 'mplsoudp', label: 300, src: '198.18.0.1', dst: '198.18.0.2', srcMac: E.srcMac, dstMac: E.dstMac, entropyLabel: true });
  const buf = new Uint8Array(f.length + 200);
  buf.set(f, 150);
  const ns = encapInPlace(mpls, buf, 150, f.length, 0);
  const el = ((buf[ns + 46]! << 12) | (buf[ns + 47]! << 4) | (buf[ns + 48]! >>> 4)) >>> 0;
  assert.is(toHex(buf, ns + 42, 4), '00007000', 'ELI');
  assert.ok(el >= 16, 'entropy label outside the reserved range');
  assert.is(d.frame(buf, ns, f.length + mpls.hdrLen), 0);
  assert.is(d.id, 300);
});

test('IP payloads over GRE and MPLS: protocol type per packet, label binding ip', () => {
  const f = frames[1]!;
  const ipPacket = f.slice(14);
  const d = new Decapsulator({ local: ['198.18.0.2'], gre: { keys: [4] }, mpls: { labels: { '100': 'ip' } } });
  for (const o of [{ proto: 'gre' as const, key: 4 }, { proto: 'mplsogre' as const, label: 100 }, { proto: 'mplsoudp' as const, label: 100 }]) {
    const t = new Tunnel({ ...o, payload: 'ip', src: '198.18.0.1', dst: '198.18.0.2', srcMac: E.srcMac, dstMac: E.dstMac });
    const buf = new Uint8Array(ipPacket.length + 200);
    buf.set(ipPacket, 150);
    const ns = encapInPlace(t, buf, 150, ipPacket.length, 0);
    assert.is(d.frame(buf, ns, ipPacket.length + t.hdrLen), 0, o.proto);
    assert.is(d.inner, 1, `${o.proto}: inner IPv4`);
    assert.is(toHex(buf, d.innerStart, d.innerLen), toHex(ipPacket));
  }
  assert.throws(() => new Tunnel({ proto: 'vxlan', vni: 1, payload: 'ip', src: '198.18.0.1', dst: '198.18.0.2' }), /payload/);
});

test('bad options throw VtepError naming the field and the value', () => {
  const base = { src: '198.18.0.1', dst: '198.18.0.2', srcMac: 1, dstMac: 2 };
  assert.throws(() => new Tunnel({ proto: 'vxlan', vni: 1 << 24, ...base }), /vni: 16777216/);
  assert.throws(() => new Tunnel({ proto: 'mplsoudp', label: 3, ...base }), /label: 3/);
  assert.throws(() => new Tunnel({ proto: 'gre', ...base }), /key: undefined/);
  assert.throws(() => new Tunnel({ proto: 'vxlan', vni: 1, ...base, dst: '2001:db8::1' }), /dst: "2001:db8::1"/);
  assert.throws(() => new Tunnel({ proto: 'vxlan', vni: 1, ...base, srcPortRange: [50000, 60000] }), /power of two/);
  assert.throws(() => new Tunnel({ proto: 'vxlan', vni: 1, src: '198.18.0.1', dst: '198.18.0.2' }), /srcMac/);
  assert.throws(() => new Tunnel({ proto: 'bogus' as never, ...base }), (e: any) => e.code === 'ERR_INVALID_ARG' && /proto: "bogus"/.test(e.message));
});

test('encapBatchVia: a tunnel per entry (aux), a missing one drops the entry as no-route', () => {
  const pool = new PacketPool({ slots: 8 });
  const b = new Batch(pool, 8);
  const f = frames[1]!;
  for (let k = 0; k < 3; k++) b.pushCopy(f);
  const to = (dst: string, vni: number): Tunnel => new Tunnel({ proto: 'vxlan', vni, src: '198.18.0.1', dst, srcMac: E.srcMac, dstMac: E.dstMac });
  b.aux[0] = 1;
  b.aux[1] = 0;
  b.aux[2] = 7;
  assert.is(encapBatchVia([to('198.18.0.2', 10), to('198.18.0.3', 20)], b), 2);
  const d = new Decapsulator({ local: ['198.18.0.2', '198.18.0.3'], vxlan: { vnis: [10, 20] } });
  assert.is(d.frame(pool.u8, b.start[0]!, b.len[0]!), 0);
  assert.is(d.id, 20, 'entry 0 through tunnel 1');
  assert.is(d.frame(pool.u8, b.start[1]!, b.len[1]!), 0);
  assert.is(d.id, 10, 'entry 1 through tunnel 0');
  assert.is(REASON_NAMES[b.reason[2]!], 'no-route');
  assert.is(b.len[2], f.length, 'untouched');
  b.release();
});

test('no headroom: the entry is dropped as no-headroom, not written', () => {
  const pool = new PacketPool({ slots: 2, slotSize: 2048, headroom: 128 });
  const b = new Batch(pool, 2);
  const s = pool.alloc();
  b.push(s, pool.base(s) + 10, 60);
  const t = new Tunnel({ proto: 'vxlan', vni: 1, src: '198.18.0.1', dst: '198.18.0.2', srcMac: 1, dstMac: 2 });
  assert.is(encapBatch(t, b), 0);
  assert.is(b.reason[0], 10 /* no-headroom */);
});

test.run();
