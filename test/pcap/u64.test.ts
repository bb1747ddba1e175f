import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TS, U64, divmod64, mulAdd64, mulShr, timeFromUnits, tsScale, unitsFromTime } from '../../src/pcap/u64.js';
import { rng } from '../../src/util/rng.js';

// BigInt is the reference here (tests only); the code under test never uses it.


const big = (hi: number, lo: number): bigint => (BigInt(hi) << 32n) | BigInt(lo);

function unitsPerSecond(tsresol: number): bigint {
  return tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
}

test('divmod64 equals BigInt division for divisors up to 2^36', () => {
  const r = rng(1);
  const divisors = [1, 3, 10, 1000, 1e6, 1e9, 1e10, 2 ** 32 - 1, 2 ** 32, 2 ** 36 - 5];
  for (let i = 0; i < 4000; i++) {
    const hi = r();
    const lo = r();
    const d = divisors[i % divisors.length]!;
    divmod64(hi, lo, d);
    const v = big(hi, lo);
    assert.is(big(U64.hi, U64.lo), v / BigInt(d), `hi=${hi} lo=${lo} d=${d}`);
    assert.is(BigInt(U64.rem), v % BigInt(d));
  }
});

test('mulAdd64 equals BigInt and flags overflow', () => {
  const r = rng(2);
  for (let i = 0; i < 4000; i++) {
    const hi = i % 3 === 0 ? r() % 16 : r();
    const lo = r();
    const m = [1, 10, 1e6, 1e9, 1e10, 2 ** 35][i % 6]!;
    const add = r() % 1e9;
    mulAdd64(hi, lo, m, add);
    const want = big(hi, lo) * BigInt(m) + BigInt(add);
    assert.is(U64.overflow, want >= 1n << 64n);
    assert.is(big(U64.hi, U64.lo), want & ((1n << 64n) - 1n));
  }
});

test('mulShr equals BigInt for results below 2^53', () => {
  const r = rng(3);
  for (let i = 0; i < 4000; i++) {
    const n = i % 96;
    const hi = r();
    const lo = r();
    const m = i % 2 === 0 ? 1e9 : 1;
    const want = (big(hi, lo) * BigInt(m)) >> BigInt(n);
    if (want >= 1n << 53n) continue;
    assert.is(BigInt(mulShr(hi, lo, m, n)), want, `n=${n}`);
  }
});

const RESOLUTIONS = [0, 1, 3, 6, 9, 10, 12, 15, 19, 0x80, 0x80 | 1, 0x80 | 10, 0x80 | 20, 0x80 | 24, 0x80 | 30, 0x80 | 32, 0x80 | 33, 0x80 | 40, 0x80 | 63];

test('timeFromUnits truncates exactly at every resolution', () => {
  const r = rng(4);
  for (const res of RESOLUTIONS) {
    const s = tsScale(res)!;
    const per = unitsPerSecond(res);
    for (let i = 0; i < 500; i++) {
      let hi = r();
      const lo = r();
      // Keep seconds below 2^53 so that they are exact as numbers.
      if (per < 2048n) hi &= 0x1fffff;
      timeFromUnits(hi, lo, s.kind, s.n, s.div, s.mul);
      const v = big(hi, lo);
      assert.is(BigInt(TS.sec), v / per, `res=${res} v=${v}`);
      assert.is(BigInt(TS.nsec), ((v % per) * 1_000_000_000n) / per, `res=${res} v=${v}`);
    }
  }
});

test('unitsFromTime: time * units per second, truncated (rounded up below 1 ns); round trip keeps nanoseconds', () => {
  const r = rng(5);
  for (const res of RESOLUTIONS) {
    const s = tsScale(res)!;
    const per = unitsPerSecond(res);
    for (let i = 0; i < 300; i++) {
      const sec = i % 5 === 0 ? 0 : r() % 4000000000;
      const nsec = r() % 1_000_000_000;
      // Truncated, except for 2^-n units finer than 1 ns: rounded up (see unitsFromTime).
      const num = BigInt(nsec) * per;
      const up = per > 1_000_000_000n && num % 1_000_000_000n !== 0n ? 1n : 0n;
      const want = BigInt(sec) * per + num / 1_000_000_000n + up;
      const ok = unitsFromTime(sec, nsec, s.kind, s.n, s.div, s.mul);
      assert.is(ok, want < 1n << 64n, `res=${res} sec=${sec}`);
      if (!ok) continue;
      assert.is(big(U64.hi, U64.lo), want, `res=${res} sec=${sec} nsec=${nsec}`);
      if (res === 9 || (res & 0x80 && (res & 0x7f) >= 30)) {
        // Fine enough to keep every nanosecond.
        timeFromUnits(U64.hi, U64.lo, s.kind, s.n, s.div, s.mul);
        assert.is(TS.sec, sec);
        assert.is(TS.nsec, nsec);
      }
    }
  }
});

test('tsScale accepts 10^-0..10^-19 and 2^-0..2^-63 only', () => {
  assert.ok(tsScale(19));
  assert.is(tsScale(20), undefined);
  assert.ok(tsScale(0x80 | 63));
  assert.is(tsScale(0x80 | 64), undefined);
  assert.is(tsScale(256), undefined);
});

test.run();
