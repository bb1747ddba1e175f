/**
 * The decapsulation fuzzer: seeded random bytes and mutations of the fixture
 * packets and of our own encapsulations, through every decap entry point.
 * Used by test/tunnel/fuzz.test.ts (1 M inputs in CI) and `npm run fuzz -- N`
 * (test/scripts/fuzz.ts, any count).
 *
 * Each input is built from its own generator, seeded by (seed, input number),
 * so one failing input is replayed alone: `npm run fuzz -- --seed S --input N`.
 *
 * What an input must hold: nothing throws, a delivered payload lies inside
 * the packet, and nothing is read outside it (the input is decapsulated
 * twice with different guard bytes before and after it; a read outside would
 * change some result).
 */
import { Decapsulator, Tunnel, encapInPlace } from '../../src/index.js';
import { toHex } from '../../src/wire/bytes.js';
import { rng } from '../../src/util/rng.js';
import { fixtureJson, pcapFrames, type DecapFixture, type EncapFixture } from './fixtures.js';

/** The seed of the CI run. */
export const FUZZ_SEED = 0xdecaf;

/** Fixture frames and our encapsulations of the inner fixture frames toward the fixture config. */
export function fuzzSeeds(): Uint8Array[] {
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

/** 16-bit values that sit on boundaries or name protocols. */
export const INTERESTING16 = [0, 1, 7, 8, 13, 14, 19, 20, 40, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x0800, 0x86dd, 0x6558, 0x8847, 4789, 6635];

const ENTRY_NAMES = ['frame', 'ip', 'udpPayload', 'grePayload'] as const;

export interface FuzzFailure {
  seed: number;
  input: number;
  entry: (typeof ENTRY_NAMES)[number];
  message: string;
  /** The bytes given to the entry point. */
  hex: string;
}

/** The generator seed of input `n` (a Murmur3 finaliser over seed and n: neighbouring inputs share nothing). */
function inputSeed(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0 || 1;
}

const GUARD = 256;
const MAX = 2048;

export class DecapFuzzer {
  readonly seed: number;
  readonly d: Decapsulator;
  /** Inputs that decapsulated (a fair share must: the mutations reach deep). */
  delivered = 0;
  /** Inputs run. */
  inputs = 0;
  private readonly pool = fuzzSeeds();
  private readonly u8 = new Uint8Array(GUARD + MAX + GUARD);
  private readonly u32 = new Uint32Array(this.u8.buffer);
  private readonly work = new Uint8Array(MAX);
  private readonly peer = Uint32Array.of(0xc6120002);
  private readonly results = new Float64Array(8);

  constructor(seed = FUZZ_SEED) {
    this.seed = seed >>> 0;
    const D = fixtureJson<DecapFixture>('decap.json');
    this.d = new Decapsulator(D.config);
  }

  /** Runs input n; returns what went wrong, or undefined. */
  input(n: number): FuzzFailure | undefined {
    const r = rng(inputSeed(this.seed, n));
    const { work, u8, u32, d, results } = this;
    this.inputs++;
    // Build the input in `work`.
    let len: number;
    if (r() % 5 === 0) {
      len = r() % (r() % 8 === 0 ? MAX : 160);
      for (let i = 0; i < len; i++) work[i] = r();
    } else {
      const s = this.pool[r() % this.pool.length]!;
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
    const fail = (message: string): FuzzFailure => ({ seed: this.seed, input: n, entry: ENTRY_NAMES[entry]!, message, hex: toHex(work, off, plen) });
    for (let pass = 0; pass < 2; pass++) {
      // Guard bytes differ between the passes, and take every value over the run.
      const guard = pass === 0 ? n & 0xff : (n & 0xff) ^ 0x5a;
      u8.fill(guard, 0, start);
      u8.set(work.subarray(off, len), start);
      u8.fill(guard, start + plen, start + plen + GUARD);
      let code: number;
      try {
        if (entry === 0) code = d.frame(u8, start, plen, n & 4 ? u32 : null);
        else if (entry === 1) code = d.ip(u8, start, plen, u32);
        else if (entry === 2) code = d.udpPayload(u8, start, plen, n & 8 ? 4789 : 6635, 4, this.peer, 0);
        else code = d.grePayload(u8, start, plen, 4, this.peer, 0, u32);
      } catch (err) {
        return fail(`threw ${String(err)}`);
      }
      const k = 4 * pass;
      results[k] = code;
      results[k + 1] = code === 0 ? d.innerStart : 0;
      results[k + 2] = code === 0 ? d.innerLen : 0;
      results[k + 3] = code === 0 ? d.id : 0;
      if (code === 0 && (d.innerStart < start || d.innerStart + d.innerLen > start + plen)) {
        return fail(`payload ${d.innerStart}+${d.innerLen} outside ${start}+${plen}`);
      }
    }
    if (results[0] !== results[4] || results[1] !== results[5] || results[2] !== results[6] || results[3] !== results[7]) {
      return fail('result depends on bytes outside the packet');
    }
    if (results[0] === 0) this.delivered++;
    return undefined;
  }

  /** Calls the decapsulator counted (every call counts once under a reason or as delivered). */
  get calls(): number {
    return [...this.d.counters].reduce((a, b) => a + b, 0);
  }
}

/** One line that replays a failure. */
export function reproducer(f: FuzzFailure): string {
  return `npm run fuzz -- --seed ${f.seed} --input ${f.input}   # entry ${f.entry}: ${f.message}; bytes ${f.hex}`;
}
