/**
 * Exact 64-bit timestamp arithmetic on (hi, lo) pairs of unsigned 32-bit
 * numbers, without BigInt: pcapng timestamps are 64-bit counts of 10^-n or 2^-n
 * seconds, and nanosecond counts of today's dates already exceed 2^53. Every
 * step works on 16-bit limbs so that each intermediate product stays below 2^53
 * and is exact in a double. Results go to the module scratch `U64` (no
 * allocation per call).
 */

/** Scratch results: a 64-bit value (hi, lo), a remainder and an overflow flag. */
export const U64 = { hi: 0, lo: 0, rem: 0, overflow: false };

const B16 = 65536;
const B32 = 4294967296;

/**
 * (hi, lo) / d for an integer 1 <= d < 2^36: quotient to U64.hi/lo, remainder
 * to U64.rem.
 */
export function divmod64(hi: number, lo: number, d: number): void {
  // Long division, 16 bits at a time: r < d < 2^36, so r * 2^16 + limb < 2^53.
  // Each quotient digit is then < 2^16; the correction steps absorb a rounding
  // of the floating division in either direction.
  let t = hi >>> 16;
  let q3 = Math.floor(t / d);
  let r = t - q3 * d;
  if (r < 0) { q3--; r += d; } else if (r >= d) { q3++; r -= d; }
  t = r * B16 + (hi & 0xffff);
  let q2 = Math.floor(t / d);
  r = t - q2 * d;
  if (r < 0) { q2--; r += d; } else if (r >= d) { q2++; r -= d; }
  t = r * B16 + (lo >>> 16);
  let q1 = Math.floor(t / d);
  r = t - q1 * d;
  if (r < 0) { q1--; r += d; } else if (r >= d) { q1++; r -= d; }
  t = r * B16 + (lo & 0xffff);
  let q0 = Math.floor(t / d);
  r = t - q0 * d;
  if (r < 0) { q0--; r += d; } else if (r >= d) { q0++; r -= d; }
  U64.hi = q3 * B16 + q2;
  U64.lo = q1 * B16 + q0;
  U64.rem = r;
}

/**
 * (hi, lo) * m + add for integers m < 2^36, add < 2^36: result to U64.hi/lo;
 * U64.overflow is set when the result does not fit in 64 bits.
 */
export function mulAdd64(hi: number, lo: number, m: number, add: number): void {
  let c = (lo & 0xffff) * m + add;
  const r0 = c % B16;
  c = Math.floor(c / B16) + (lo >>> 16) * m;
  const r1 = c % B16;
  c = Math.floor(c / B16) + (hi & 0xffff) * m;
  const r2 = c % B16;
  c = Math.floor(c / B16) + (hi >>> 16) * m;
  const r3 = c % B16;
  c = Math.floor(c / B16);
  U64.lo = r1 * B16 + r0;
  U64.hi = r3 * B16 + r2;
  U64.overflow = c !== 0;
}

/**
 * floor((hi, lo) * m / 2^n) for integers m < 2^32 and 0 <= n < 96, returned as
 * a number (exact when the result is below 2^53).
 */
export function mulShr(hi: number, lo: number, m: number, n: number): number {
  // 96-bit product in three 32-bit words w0..w2.
  let c = (lo & 0xffff) * m;
  const r0 = c % B16;
  c = Math.floor(c / B16) + (lo >>> 16) * m;
  const r1 = c % B16;
  c = Math.floor(c / B16) + (hi & 0xffff) * m;
  const r2 = c % B16;
  c = Math.floor(c / B16) + (hi >>> 16) * m;
  const r3 = c % B16;
  c = Math.floor(c / B16);
  const w0 = r1 * B16 + r0;
  const w1 = r3 * B16 + r2;
  const w2 = c; // < 2^32
  const k = n >>> 5;
  const s = n & 31;
  const scale = 2 ** s;
  // Non-overlapping bit ranges added together: exact while the sum is < 2^53.
  if (k === 0) return Math.floor(w0 / scale) + w1 * (B32 / scale) + w2 * (B32 / scale) * B32;
  if (k === 1) return Math.floor(w1 / scale) + w2 * (B32 / scale);
  return Math.floor(w2 / scale);
}

/** The value (hi, lo) as a number (exact below 2^53). */
export function toNumber(hi: number, lo: number): number {
  return hi * B32 + lo;
}

/** Splits a non-negative integer number into U64.hi/lo. */
export function fromNumber(v: number): void {
  U64.hi = Math.floor(v / B32);
  U64.lo = v - U64.hi * B32;
}

/**
 * A timestamp resolution (pcapng if_tsresol, raw byte form) prepared for the
 * per-packet conversions. `kind` 0: 10^-n with n <= 9; 1: 10^-n with n in
 * 10..19; 2: 2^-n with n <= 63.
 */
export interface TsScale {
  readonly tsresol: number;
  readonly kind: 0 | 1 | 2;
  readonly n: number;
  /** kind 0: 10^n (units per second); kind 1: 10^(n-9) (units per nanosecond). */
  readonly div: number;
  /** kind 0: 10^(9-n) (nanoseconds per unit). */
  readonly mul: number;
}

/** Prepares a resolution, or returns undefined when it cannot be represented in 64 bits usefully. */
export function tsScale(tsresol: number): TsScale | undefined {
  if (!Number.isInteger(tsresol) || tsresol < 0 || tsresol > 255) return undefined;
  if ((tsresol & 0x80) !== 0) {
    const n = tsresol & 0x7f;
    if (n > 63) return undefined;
    return { tsresol, kind: 2, n, div: 0, mul: 0 };
  }
  const n = tsresol;
  if (n <= 9) return { tsresol, kind: 0, n, div: 10 ** n, mul: 10 ** (9 - n) };
  if (n <= 19) return { tsresol, kind: 1, n, div: 10 ** (n - 9), mul: 0 };
  return undefined;
}

/** Scratch for timeFromUnits. */
export const TS = { sec: 0, nsec: 0 };

/** 64-bit unit count (hi, lo) at `scale` -> TS.sec, TS.nsec (truncated to nanoseconds). */
export function timeFromUnits(hi: number, lo: number, kind: number, n: number, div: number, mul: number): void {
  if (kind === 0) {
    if (hi < 0x200000) {
      // Below 2^53: plain double arithmetic is exact, with a correction step.
      const v = hi * B32 + lo;
      let sec = Math.floor(v / div);
      let r = v - sec * div;
      if (r < 0) { sec--; r += div; } else if (r >= div) { sec++; r -= div; }
      TS.sec = sec;
      TS.nsec = r * mul;
      return;
    }
    divmod64(hi, lo, div);
    TS.sec = U64.hi * B32 + U64.lo;
    TS.nsec = U64.rem * mul;
  } else if (kind === 1) {
    divmod64(hi, lo, div);
    divmod64(U64.hi, U64.lo, 1e9);
    TS.sec = U64.hi * B32 + U64.lo;
    TS.nsec = U64.rem;
  } else {
    TS.sec = mulShr(hi, lo, 1, n);
    let fh: number;
    let fl: number;
    if (n <= 32) {
      fh = 0;
      fl = n === 32 ? lo : (lo & (2 ** n - 1)) >>> 0;
    } else {
      fh = (hi & (2 ** (n - 32) - 1)) >>> 0;
      fl = lo;
    }
    TS.nsec = mulShr(fh, fl, 1e9, n);
  }
}

/**
 * (sec, nsec) -> 64-bit unit count at `scale` in U64.hi/lo: truncated to units
 * of a nanosecond or longer; for finer 2^-n units rounded up to the next unit,
 * so that timeFromUnits gives back the same nanosecond. Returns false when it
 * does not fit in 64 bits (or sec is negative).
 */
export function unitsFromTime(sec: number, nsec: number, kind: number, n: number, div: number, mul: number): boolean {
  if (sec < 0) return false;
  fromNumber(sec);
  if (kind === 0) {
    mulAdd64(U64.hi, U64.lo, div, Math.floor(nsec / mul));
    return !U64.overflow;
  }
  if (kind === 1) {
    mulAdd64(U64.hi, U64.lo, 1e9, nsec);
    if (U64.overflow) return false;
    mulAdd64(U64.hi, U64.lo, div, 0);
    return !U64.overflow;
  }
  // 2^-n: (sec << n) + floor(nsec * 2^n / 1e9). The fraction is < 2^n, so it
  // fills the zero low bits of the shifted seconds without a carry.
  shl64(U64.hi, U64.lo, n);
  if (U64.overflow) return false;
  const sh = U64.hi;
  const sl = U64.lo;
  fracPow2(nsec, n);
  U64.hi = sh + U64.hi;
  U64.lo = sl + U64.lo;
  U64.overflow = false;
  return true;
}

/**
 * nsec * 2^n / 1e9 for nsec < 1e9, n < 64, into U64.hi/lo: binary long division
 * of nsec followed by n zero bits, 20 bits per step (r * 2^20 < 2^53); rounded
 * down for units of a nanosecond or more, up for finer ones.
 */
function fracPow2(nsec: number, n: number): void {
  let qh = 0;
  let ql = 0;
  let r = nsec;
  let left = n;
  while (left > 0) {
    const k = left > 20 ? 20 : left;
    const x = r * 2 ** k;
    let digit = Math.floor(x / 1e9);
    r = x - digit * 1e9;
    if (r < 0) { digit--; r += 1e9; } else if (r >= 1e9) { digit++; r -= 1e9; }
    shl64(qh, ql, k);
    qh = U64.hi;
    ql = U64.lo + digit; // digit < 2^k lands in the zero low bits
    left -= k;
  }
  // Units finer than a nanosecond (2^n > 1e9): round up, so that reading the
  // value back (which truncates) gives the same nanosecond.
  if (n >= 30 && r !== 0) {
    ql += 1;
    if (ql === B32) { ql = 0; qh += 1; }
  }
  U64.hi = qh;
  U64.lo = ql;
}

/** (hi, lo) << n for 0 <= n < 64 into U64.hi/lo; U64.overflow when bits fall off. */
export function shl64(hi: number, lo: number, n: number): void {
  if (n === 0) {
    U64.hi = hi;
    U64.lo = lo;
    U64.overflow = false;
    return;
  }
  if (n < 32) {
    U64.overflow = hi >>> (32 - n) !== 0;
    U64.hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
    U64.lo = (lo << n) >>> 0;
    return;
  }
  U64.overflow = hi !== 0 || (n > 32 && lo >>> (64 - n) !== 0) || n >= 64;
  U64.hi = n === 32 ? lo : (lo << (n - 32)) >>> 0;
  U64.lo = 0;
}
