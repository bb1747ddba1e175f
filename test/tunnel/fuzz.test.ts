/**
 * Random input through decapsulation: 1,000,000 seeded inputs (random bytes
 * and mutations of the fixture packets and of our own encapsulations) through
 * every entry point. Nothing may throw, a delivered payload must lie inside
 * the packet, and nothing may be read outside the packet:
 * - every input is decapsulated twice with different guard bytes around it
 *   (before and after): any read outside would change some result;
 * - a sample runs over a Proxy that throws on any index outside the packet.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decapsulator, Tunnel, encapInPlace } from '../../src/index.js';
import { toHex } from '../../src/wire/bytes.js';
import { fixtureJson, pcapFrames, type DecapFixture, type EncapFixture } from '../helpers/fixtures.js';
import { rng } from '../../src/util/rng.js';

const INPUTS = 1_000_000;
const PROXY_SAMPLE = 20_000;


function seeds(): Uint8Array[] {
  const out = pcapFrames('decap.pcap');
  const E = fixtureJson<EncapFixture>('encap.json');
  const inner = pcapFrames('inner.pcap').filter((f) => f.length < 1500);
  for (const set of E.sets) {
    const p = set.params;
    const v6 = p.underlay === 'ipv6';
    // Encapsulate toward the fixture config's local addresses so that seeds get deep.
    const t = new Tunnel({ proto: p.proto, vni: p.vni === 4096 ? 4096 : 42, key: 5, label: 200, src: v6 ? '2001:db8:18::2' : '198.18.0.2', dst: v6 ? '2001:db8:18::1' : '198.18.0.1', srcMac: E.srcMac, dstMac: E.dstMac, greChecksum: p.proto === 'gre' ? true : undefined, entropyLabel: p.proto.startsWith('mpls') ? true : undefined });
    for (const f of inner) {
      const buf = new Uint8Array(f.length + 200);
      buf.set(f, 150);
      const ns = encapInPlace(t, buf, 150, f.length, 0);
      out.push(buf.slice(ns, 150 + f.length));
    }
  }
  return out;
}

const INTERESTING16 = [0, 1, 7, 8, 13, 14, 19, 20, 40, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x0800, 0x86dd, 0x6558, 0x8847, 4789, 6635];

test(`${INPUTS.toLocaleString('en')} random and mutated inputs: no throw, no over-read, payload inside the packet`, () => {
  const D = fixtureJson<DecapFixture>('decap.json');
  const d = new Decapsulator(D.config);
  const pool = seeds();
  const r = rng(0xdecaf);
  const GUARD = 256;
  const MAX = 2048;
  const ab = new ArrayBuffer(GUARD + MAX + GUARD);
  const u8 = new Uint8Array(ab);
  const u32 = new Uint32Array(ab);
  const work = new Uint8Array(MAX);
  const src = new Uint32Array(4);
  let delivered = 0;
  for (let n = 0; n < INPUTS; n++) {
    // Build the input in `work`.
    let len: number;
    if (r() % 5 === 0) {
      len = r() % (r() % 8 === 0 ? MAX : 160);
      for (let i = 0; i < len; i++) work[i] = r();
    } else {
      const s = pool[r() % pool.length]!;
      len = Math.min(s.length, MAX);
      work.set(s.subarray(0, len));
      const edits = 1 + (r() % 4);
      for (let e = 0; e < edits; e++) {
        const kind = r() % 7;
        const at = len > 0 ? r() % len : 0;
        if (kind === 0 && len > 0) work[at] = work[at]! ^ (1 << (r() & 7));
        else if (kind === 1 && len > 0) work[at] = r();
        else if (kind === 2 && len > 1) {
          const v = INTERESTING16[r() % INTERESTING16.length]!;
          const o = Math.min(at & ~1, len - 2);
          work[o] = v >>> 8;
          work[o + 1] = v;
        } else if (kind === 3) len = r() % (len + 1); // truncate
        else if (kind === 4 && len < MAX - 64) {
          const add = r() % 64;
          for (let i = 0; i < add; i++) work[len + i] = r();
          len += add;
        } else if (kind === 5 && len > 0) work.copyWithin(at, at + 1, len--); // delete a byte
        else if (kind === 6 && len > 0) work[at] = r() & 1 ? 0 : 0xff;
      }
    }
    // Entry point and offset into the packet for this input.
    const entry = n & 3;
    const skip = entry === 0 ? 0 : entry === 1 ? 14 : entry === 2 ? 42 : 34;
    const off = Math.min(skip, len);
    const plen = len - off;
    const start = GUARD + ((n >>> 2) & 3) * 2; // vary alignment
    const results: number[] = [];
    for (let pass = 0; pass < 2; pass++) {
      // Guard bytes differ between the passes, and take every value over the run.
      const guard = pass === 0 ? n & 0xff : (n & 0xff) ^ 0x5a;
      u8.fill(guard, 0, start);
      u8.set(work.subarray(off, len), start);
      u8.fill(guard, start + plen, start + plen + GUARD);
      src[0] = r() & 1 ? 0xc6120002 : r();
      let code: number;
      try {
        if (entry === 0) code = d.frame(u8, start, plen, n & 4 ? u32 : null);
        else if (entry === 1) code = d.ip(u8, start, plen, u32);
        else if (entry === 2) code = d.udpPayload(u8, start, plen, n & 8 ? 4789 : 6635, 4, Uint32Array.of(0xc6120002), 0);
        else code = d.grePayload(u8, start, plen, 4, Uint32Array.of(0xc6120002), 0, u32);
      } catch (err) {
        assert.unreachable(`input ${n} (entry ${entry}) threw ${String(err)}: ${toHex(work, off, plen)}`);
        return;
      }
      results.push(code, code === 0 ? d.innerStart : 0, code === 0 ? d.innerLen : 0, code === 0 ? d.id : 0);
      if (code === 0 && (d.innerStart < start || d.innerStart + d.innerLen > start + plen)) {
        assert.unreachable(`input ${n}: payload ${d.innerStart}+${d.innerLen} outside ${start}+${plen}`);
      }
    }
    if (results[0] !== results[4] || results[1] !== results[5] || results[2] !== results[6] || results[3] !== results[7]) {
      assert.unreachable(`input ${n} (entry ${entry}): result depends on bytes outside the packet: ${toHex(work, off, plen)}`);
    }
    if (results[0] === 0) delivered++;
  }
  // The mutations must reach deep: a fair share still decapsulates.
  assert.ok(delivered > INPUTS / 20, `${delivered} delivered`);
  const dropped = [...d.counters].slice(1).reduce((a, b) => a + b, 0);
  assert.is(dropped + d.counters[0]!, INPUTS * 2, 'every call counted once');
});

/** A Uint8Array stand-in that throws on any index outside [lo, hi). */
function fence(u8: Uint8Array, lo: number, hi: number): Uint8Array {
  return new Proxy(u8, {
    get(target, prop) {
      if (typeof prop === 'string') {
        const c = prop.charCodeAt(0);
        if (c >= 48 && c <= 57) {
          const i = Number(prop);
          if (i < lo || i >= hi) throw new RangeError(`read at ${i} outside ${lo}..${hi}`);
          return target[i];
        }
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

test(`${PROXY_SAMPLE.toLocaleString('en')} mutated inputs on a fence that throws on any read outside the packet`, () => {
  const D = fixtureJson<DecapFixture>('decap.json');
  const d = new Decapsulator(D.config);
  const pool = seeds();
  const r = rng(7);
  for (let n = 0; n < PROXY_SAMPLE; n++) {
    const s = pool[r() % pool.length]!;
    const buf = new Uint8Array(s.length + 64);
    buf.set(s, 32);
    let len = s.length;
    const at = 32 + (r() % s.length);
    if (r() & 1) buf[at] = r();
    else len = r() % (len + 1);
    if (r() % 3 === 0) {
      const v = INTERESTING16[r() % INTERESTING16.length]!;
      const o = 32 + ((r() % Math.max(1, len - 1)) & ~1);
      buf[o] = v >>> 8;
      buf[o + 1] = v;
    }
    const f = fence(buf, 32, 32 + len);
    try {
      d.frame(f, 32, len);
      d.ip(f, 32 + 14, Math.max(0, len - 14));
    } catch (err) {
      assert.unreachable(`input ${n}: ${String(err)}: ${toHex(buf, 32, len)}`);
    }
  }
});

test.run();
