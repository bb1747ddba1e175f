/**
 * The Internet checksum (RFC 1071): the one's complement of the one's
 * complement sum of 16-bit words. Sums are carried unfolded in a JS number
 * (exact far past 2^32) and folded once at the end. Incremental updates follow
 * RFC 1624 (HC' = ~(~HC + ~m + m')).
 */

/** Adds the bytes u8[off .. off+len) as big-endian 16-bit words to `sum`. */
export function sumBytes(u8: Uint8Array, off: number, len: number, sum: number): number {
  let i = off;
  const end = off + len;
  const end8 = end - 7;
  // Unrolled by 8 bytes; the partial sums stay far below 2^53.
  while (i < end8) {
    sum += ((u8[i]! << 8) | u8[i + 1]!) + ((u8[i + 2]! << 8) | u8[i + 3]!) + ((u8[i + 4]! << 8) | u8[i + 5]!) + ((u8[i + 6]! << 8) | u8[i + 7]!);
    i += 8;
  }
  while (i + 1 < end) {
    sum += (u8[i]! << 8) | u8[i + 1]!;
    i += 2;
  }
  if (i < end) sum += u8[i]! << 8; // odd length: pad with a zero byte
  return sum;
}

/** Folds a running sum to 16 bits (end-around carry). */
export function fold(sum: number): number {
  // Two steps suffice up to 2^32; loop for the larger sums a long packet builds.
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for a running sum. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** Checksum of u8[off .. off+len). */
export function checksum(u8: Uint8Array, off: number, len: number): number {
  return finish(sumBytes(u8, off, len, 0));
}

/** True when a region that contains its own checksum field sums to all ones. */
export function verifies(u8: Uint8Array, off: number, len: number, initial = 0): boolean {
  return fold(sumBytes(u8, off, len, initial)) === 0xffff;
}

/** RFC 1624 eqn. 3: a checksum after one 16-bit word changed from `from` to `to`. */
export function update16(csum: number, from: number, to: number): number {
  return ~fold((~csum & 0xffff) + (~from & 0xffff) + to) & 0xffff;
}

/** Pseudo-header sum for IPv4 (RFC 768): addresses, protocol, upper-layer length. */
export function pseudo4(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + length;
}

/** Pseudo-header sum of the address part of an IPv6 header at u8[ip] (RFC 8200 §8.1). */
export function pseudo6Addrs(u8: Uint8Array, ip: number): number {
  return sumBytes(u8, ip + 8, 32, 0);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * sumBytes over long regions, reading 32-bit words through `u32`, a view of
 * the same memory as u8 starting at the same byte (the pool's views). The
 * one's complement sum is byte-order independent up to a final byte swap
 * (RFC 1071 §2(B)), so native little-endian words are summed as they are and
 * swapped once at the end. Falls back to sumBytes when off is odd.
 */
export function sumWords(u8: Uint8Array, u32: Uint32Array | null, off: number, len: number, sum: number): number {
  if (u32 === null || (off & 1) !== 0 || len < 64) return sumBytes(u8, off, len, sum);
  let p = off;
  let end = off + len;
  if ((p & 2) !== 0) {
    sum += (u8[p]! << 8) | u8[p + 1]!;
    p += 2;
  }
  const tail = end & 3;
  end -= tail;
  let t = 0;
  let w = p >>> 2;
  const we = end >>> 2;
  const we4 = we - 3;
  while (w < we4) {
    const a = u32[w]!, b = u32[w + 1]!, c = u32[w + 2]!, d = u32[w + 3]!;
    t += (a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16) + (c & 0xffff) + (c >>> 16) + (d & 0xffff) + (d >>> 16);
    w += 4;
  }
  while (w < we) {
    const a = u32[w]!;
    t += (a & 0xffff) + (a >>> 16);
    w++;
  }
  if (LITTLE_ENDIAN) {
    t = fold(t);
    t = ((t & 0xff) << 8) | (t >>> 8);
  }
  sum += t;
  return tail === 0 ? sum : sumBytes(u8, end, tail, sum);
}
