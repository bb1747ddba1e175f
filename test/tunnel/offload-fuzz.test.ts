/**
 * Seeded mutations of the offload fixtures through completeChecksum, segment
 * and the coalescer: bad input never throws, and nothing is written outside
 * the frame (checksum completion), the destination headers (segmentation) or
 * the batch's frames (coalescing): guard bytes around them stay untouched.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { completeChecksum } from '../../src/tunnel/csum.js';
import { segment, Segments } from '../../src/tunnel/segment.js';
import { Coalescer } from '../../src/tunnel/coalesce.js';
import { PacketPool } from '../../src/packet/pool.js';
import { Batch } from '../../src/packet/batch.js';
import { fromHex } from '../../src/wire/bytes.js';
import { rng as rngU32 } from '../../src/util/rng.js';
import { fixtureJson, type OffloadFixture } from '../helpers/fixtures.js';

const F = fixtureJson<OffloadFixture>('offload.json');
const GUARD = 0xa5;
/** The seeded generator scaled to [0, 1). */
function rng(seed: number): () => number {
  const r = rngU32(seed);
  return () => r() / 2 ** 32;
}
const small = [...F.csum.map((c) => fromHex(c.frame)), ...F.coalesce.slice(0, 6).flatMap((c) => c.frames.map(fromHex))];

function mutate(r: () => number, f: Uint8Array): Uint8Array {
  const len = r() < 0.2 ? Math.floor(r() * f.length) : f.length;
  const out = f.slice(0, len);
  const n = 1 + Math.floor(r() * 4);
  // Mostly the headers: that is where lengths and offsets live.
  for (let i = 0; i < n && len > 0; i++) out[Math.floor(r() * Math.min(len, 80))] = Math.floor(r() * 256);
  return out;
}

function guarded(f: Uint8Array, before: number, after: number): Uint8Array {
  const b = new Uint8Array(before + f.length + after).fill(GUARD);
  b.set(f, before);
  return b;
}

function guardsOk(b: Uint8Array, before: number, len: number): boolean {
  for (let i = 0; i < before; i++) if (b[i] !== GUARD) return false;
  for (let i = before + len; i < b.length; i++) if (b[i] !== GUARD) return false;
  return true;
}

test('completeChecksum: 20,000 mutated frames, no throw, no write outside the frame', () => {
  const r = rng(1010);
  for (let i = 0; i < 20000; i++) {
    const f = mutate(r, small[i % small.length]!);
    const b = guarded(f, 6, 64);
    const s = completeChecksum(b, 6, f.length);
    assert.ok(s >= 0 && s <= 3);
    assert.ok(guardsOk(b, 6, f.length), `iteration ${i}`);
  }
});

test('segment: 3,000 mutated super-frames, no throw, writes only in the destination headers', () => {
  const r = rng(2020);
  const out = new Segments(64);
  const starts = new Uint32Array(64).map((_, k) => 64 + k * 2048);
  const dst = new Uint8Array(64 * 2048 + 64);
  const frames = F.segment.map((c) => fromHex(c.frame));
  for (let i = 0; i < 3000; i++) {
    const c = F.segment[i % frames.length]!;
    const f = mutate(r, frames[i % frames.length]!);
    const src = guarded(f, 8, 64);
    dst.fill(GUARD);
    const n = segment(src, 8, f.length, c.gsoSize, dst, starts, out, 0);
    assert.ok(n === 0 ? out.reason > 0 : n === out.count);
    assert.ok(guardsOk(src, 8, f.length), `source guard, iteration ${i}`);
    for (let k = 0; k < n; k++) {
      assert.ok(out.payStart[k]! + out.payLen[k]! <= 8 + f.length, `payload inside the frame, iteration ${i}`);
      assert.ok(out.hdrLen < 2048 - 64);
    }
    for (let k = n; k < 64; k++) assert.is(dst[starts[k]!], GUARD, `no write past segment ${n - 1}`);
  }
});

test('coalescer: 2,000 batches of mutated segments, no throw, outputs cover every frame once', () => {
  const r = rng(3030);
  const pool = new PacketPool({ slots: 128 });
  const g = new Coalescer({ capacity: 64 });
  const big = new Uint8Array(1 << 17);
  for (let i = 0; i < 2000; i++) {
    const c = F.coalesce[i % F.coalesce.length]!;
    const b = new Batch(pool, 64);
    for (const h of c.frames.slice(0, 30)) {
      const f = fromHex(h);
      b.pushCopy(r() < 0.3 ? mutate(r, f) : f);
    }
    const n = g.coalesce(b);
    let total = 0;
    for (let k = 0; k < n; k++) {
      total += g.segs[k]!;
      assert.ok(g.gather(b, k, big, 0) === g.len[k]);
    }
    assert.is(total, b.count, `iteration ${i}`);
    b.release();
  }
});

test.run();
