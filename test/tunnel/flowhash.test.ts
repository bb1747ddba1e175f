import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flowHash, flowHashIp, flowHashPool, entropyPort, PacketPool } from '../../src/index.js';
import { rng } from '../../src/util/rng.js';
import { flowHash32, flowHashIp32, flowHashPool32 } from '../../src/tunnel/flowhash.js';


/** Ethernet[IPv4[UDP]] frame of one flow. */
function frame(srcIp: number, dstIp: number, sport: number, dport: number, proto = 17): Uint8Array {
  const f = new Uint8Array(64);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, proto]);
  const dv = new DataView(f.buffer);
  dv.setUint32(26, srcIp);
  dv.setUint32(30, dstIp);
  dv.setUint16(34, sport);
  dv.setUint16(36, dport);
  return f;
}

/** Chi-square of `ports` over 64 equal buckets of 49152..65535. */
function chiSquare(ports: number[]): number {
  const buckets = new Array<number>(64).fill(0);
  for (const p of ports) buckets[(p - 49152) >>> 8]!++;
  const expected = ports.length / 64;
  return buckets.reduce((s, n) => s + (n - expected) ** 2 / expected, 0);
}

// 63 degrees of freedom: the 0.1% critical value is about 103.4.
const CHI_LIMIT = 103.4;

test('10,000 random flows: source ports spread evenly over 49152-65535', () => {
  const r = rng(2026);
  const ports: number[] = [];
  for (let i = 0; i < 10000; i++) {
    const f = frame(r(), r(), r() & 0xffff, r() & 0xffff, r() & 1 ? 6 : 17);
    const p = entropyPort(flowHash(f, 0, f.length));
    assert.ok(p >= 49152 && p <= 65535);
    ports.push(p);
  }
  const chi = chiSquare(ports);
  assert.ok(chi < CHI_LIMIT, `chi-square ${chi.toFixed(1)} over 64 buckets`);
  // 10,000 draws into 16,384 ports: about 7,590 distinct when uniform.
  const distinct = new Set(ports).size;
  assert.ok(distinct > 7300 && distinct < 7900, `${distinct} distinct ports`);
  // Every one of the 14 port bits is set about half the time.
  for (let bit = 0; bit < 14; bit++) {
    const ones = ports.filter((p) => ((p - 49152) >>> bit) & 1).length;
    assert.ok(ones > 4700 && ones < 5300, `bit ${bit}: ${ones} of 10000`);
  }
});

test('10,000 flows that differ only in the source port (a benchmark) spread evenly too', () => {
  const ports: number[] = [];
  for (let i = 0; i < 10000; i++) {
    const f = frame(0x0a000001, 0x0a000002, 1024 + i, 5001);
    ports.push(entropyPort(flowHash(f, 0, f.length)));
  }
  assert.ok(chiSquare(ports) < CHI_LIMIT, `chi-square ${chiSquare(ports).toFixed(1)}`);
});

test('equal flows hash equal; payload, IP id and length do not matter; fragments skip ports', () => {
  const a = frame(1, 2, 3, 4);
  const b = a.slice();
  b[60] = 99; // payload
  b[18] = 7; // IP identification
  assert.is(flowHash(a, 0, 64), flowHash(b, 0, 64));
  assert.is(flowHash(a, 0, 64), flowHash(a, 0, 60), 'length is not part of the flow');
  assert.is.not(flowHash(a, 0, 64), flowHash(frame(1, 2, 3, 5), 0, 64));
  // Fragments (MF set): ports not hashed, so a later fragment without ports hashes alike.
  const f1 = frame(1, 2, 3, 4);
  f1[20] = 0x20;
  const f2 = frame(1, 2, 9, 9);
  f2[20] = 0x20;
  assert.is(flowHash(f1, 0, 64), flowHash(f2, 0, 64));
  assert.is(flowHashIp(a, 14, 50), flowHashIp(b, 14, 50));
  assert.ok(flowHash(new Uint8Array(0), 0, 0) !== 0, 'never 0');
});

test('the pool fast path gives the value of the byte path, at every alignment, for every kind of frame', () => {
  const pool = new PacketPool({ slots: 4 });
  const r = rng(99);
  const kinds = [
    frame(r(), r(), 80, 443, 6),
    frame(r(), r(), 53, 5353, 17),
    frame(r(), r(), 1, 2, 1), // ICMP: no ports
    (() => { const f = frame(r(), r(), 7, 8); f[20] = 0x20; return f; })(), // fragment
    (() => { const f = frame(r(), r(), 7, 8); f[14] = 0x46; return f; })(), // IHL 6: ports further on
    (() => { const f = frame(1, 2, 3, 4); f[12] = 0x86; f[13] = 0xdd; return f; })(), // IPv6 EtherType
    (() => { const f = frame(1, 2, 3, 4); f[12] = 0x81; f[13] = 0x00; return f; })(), // VLAN tag
    frame(1, 2, 3, 4).subarray(0, 30), // cut short
  ];
  for (const f of kinds) {
    for (let align = 0; align < 8; align++) {
      const at = pool.dataStart(0) - 2 + align;
      pool.u8.set(f, at);
      assert.is(flowHashPool(pool.u8, pool.u16, pool.u32, at, f.length), flowHash(f, 0, f.length), `align ${align}`);
    }
  }
});

test.run();

test('the *32 variants are the same 32 bits, signed (small integers for V8)', () => {
  const pool = new PacketPool({ slots: 4 });
  const r = rng(7);
  let negative = 0;
  for (let k = 0; k < 200; k++) {
    const f = frame(r() >>> 0, r() >>> 0, r() & 0xffff, r() & 0xffff, k % 2 === 0 ? 6 : 17);
    const h = flowHash32(f, 0, f.length);
    assert.ok(h >= -(2 ** 31) && h < 2 ** 31 && h !== 0);
    assert.is(h >>> 0, flowHash(f, 0, f.length));
    assert.is(flowHashIp32(f, 14, 50) >>> 0, flowHashIp(f, 14, 50));
    const at = pool.dataStart(0);
    pool.u8.set(f, at);
    assert.is(flowHashPool32(pool.u8, pool.u16, pool.u32, at, f.length), h);
    if (h < 0) negative++;
  }
  assert.ok(negative > 50, 'about half of the hashes are negative');
});
