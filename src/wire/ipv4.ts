/**
 * IPv4 header (RFC 791).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version|  IHL  |Type of Service|          Total Length         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Identification        |Flags|      Fragment Offset    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       Source Address                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Destination Address                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Options (IHL > 5)                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { Status } from './status.js';
import { u16, u32, put16, put32 } from './bytes.js';
import { checksum, verifies } from './checksum.js';

export const Ipv4 = {
  VER_IHL: 0, // version (4 bits) and header length in 32-bit words (4 bits)
  TOS: 1, // DSCP (6 bits) and ECN (2 bits)
  TOTAL_LEN: 2, // header + payload, bytes
  IDENT: 4, // identification, for reassembly
  FLAGS_FRAG: 6, // flags (3 bits) and fragment offset in 8-byte units (13 bits)
  TTL: 8,
  PROTO: 9,
  CHECKSUM: 10, // header checksum
  SRC: 12,
  DST: 16,
  HEADER_LEN: 20,
  MAX_HEADER_LEN: 60,
} as const;

export const Ipv4Flag = {
  RESERVED: 0x8000, // must be zero (RFC 791); ignored on receive, as Linux does
  DF: 0x4000, // don't fragment
  MF: 0x2000, // more fragments
  OFFSET_MASK: 0x1fff,
} as const;

/** Option kinds that have no length byte. */
export const Ipv4Option = { EOL: 0, NOP: 1 } as const;

export function ipv4HeaderLen(u8: Uint8Array, off: number): number {
  return (u8[off]! & 0x0f) << 2;
}
export function ipv4TotalLen(u8: Uint8Array, off: number): number {
  return u16(u8, off + Ipv4.TOTAL_LEN);
}
export function ipv4Proto(u8: Uint8Array, off: number): number {
  return u8[off + Ipv4.PROTO]!;
}
export function ipv4Src(u8: Uint8Array, off: number): number {
  return u32(u8, off + Ipv4.SRC);
}
export function ipv4Dst(u8: Uint8Array, off: number): number {
  return u32(u8, off + Ipv4.DST);
}
/** True for any fragment: MF set or a non-zero offset (the first fragment has MF). */
export function ipv4IsFragment(u8: Uint8Array, off: number): boolean {
  return (u16(u8, off + Ipv4.FLAGS_FRAG) & (Ipv4Flag.MF | Ipv4Flag.OFFSET_MASK)) !== 0;
}

/**
 * Validates the IPv4 header at u8[off] with `end - off` bytes present: version,
 * IHL, total length within the bytes present, options well formed and (unless
 * told not to) the header checksum. Returns 0 or a Status code. Fragments are
 * not judged here: see ipv4IsFragment.
 */
export function checkIpv4(u8: Uint8Array, off: number, end: number, verifyChecksum = true, words: Uint32Array | null = null): number {
  const avail = end - off;
  if (avail < Ipv4.HEADER_LEN) return Status.TRUNCATED;
  const vi = u8[off]!;
  if (vi >>> 4 !== 4) return Status.BAD_HEADER;
  const hl = (vi & 0x0f) << 2;
  if (hl < Ipv4.HEADER_LEN) return Status.BAD_HEADER;
  if (hl > avail) return Status.TRUNCATED;
  const total = u16(u8, off + Ipv4.TOTAL_LEN);
  if (total < hl || total > avail) return Status.BAD_LENGTH;
  if (verifyChecksum && !(words !== null && (off & 3) === 0 ? headerSumOk(words, off >>> 2, hl >>> 2) : verifies(u8, off, hl))) return Status.BAD_CHECKSUM;
  if (hl > Ipv4.HEADER_LEN && !ipv4OptionsWellFormed(u8, off + Ipv4.HEADER_LEN, off + hl)) return Status.BAD_HEADER;
  return 0;
}

/**
 * The header checksum check over 32-bit words (native order): a valid header
 * sums to all ones, which reads the same in either byte order.
 */
function headerSumOk(words: Uint32Array, w: number, n: number): boolean {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const x = words[w + i]!;
    s += (x & 0xffff) + (x >>> 16);
  }
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/** Walks options in u8[p..end): every TLV's length is >= 2 and fits. */
export function ipv4OptionsWellFormed(u8: Uint8Array, p: number, end: number): boolean {
  while (p < end) {
    const kind = u8[p]!;
    if (kind === Ipv4Option.EOL) return true;
    if (kind === Ipv4Option.NOP) {
      p++;
      continue;
    }
    if (p + 1 >= end) return false;
    const len = u8[p + 1]!;
    if (len < 2 || p + len > end) return false;
    p += len;
  }
  return true;
}

/** Value form. */
export interface Ipv4Repr {
  tos: number;
  totalLen: number;
  ident: number;
  df: boolean;
  mf: boolean;
  fragOffset: number; // in 8-byte units
  ttl: number;
  proto: number;
  src: number;
  dst: number;
  /** Option bytes (a multiple of 4 long), if any. */
  options?: Uint8Array;
}

export function parseIpv4(u8: Uint8Array, off: number, end: number): Ipv4Repr | null {
  if (checkIpv4(u8, off, end, false) !== 0) return null;
  const hl = ipv4HeaderLen(u8, off);
  const ff = u16(u8, off + Ipv4.FLAGS_FRAG);
  const r: Ipv4Repr = {
    tos: u8[off + Ipv4.TOS]!,
    totalLen: ipv4TotalLen(u8, off),
    ident: u16(u8, off + Ipv4.IDENT),
    df: (ff & Ipv4Flag.DF) !== 0,
    mf: (ff & Ipv4Flag.MF) !== 0,
    fragOffset: ff & Ipv4Flag.OFFSET_MASK,
    ttl: u8[off + Ipv4.TTL]!,
    proto: ipv4Proto(u8, off),
    src: ipv4Src(u8, off),
    dst: ipv4Dst(u8, off),
  };
  if (hl > Ipv4.HEADER_LEN) r.options = u8.slice(off + Ipv4.HEADER_LEN, off + hl);
  return r;
}

/** Writes the header (checksum computed) at u8[off]; returns the offset after it. */
export function emitIpv4(r: Ipv4Repr, u8: Uint8Array, off: number): number {
  const optLen = r.options?.length ?? 0;
  if (optLen % 4 !== 0 || optLen > 40) throw new RangeError(`options: ${optLen} bytes is not a multiple of 4 up to 40`);
  const hl = Ipv4.HEADER_LEN + optLen;
  u8[off] = 0x40 | (hl >>> 2);
  u8[off + Ipv4.TOS] = r.tos;
  put16(u8, off + Ipv4.TOTAL_LEN, r.totalLen);
  put16(u8, off + Ipv4.IDENT, r.ident);
  put16(u8, off + Ipv4.FLAGS_FRAG, (r.df ? Ipv4Flag.DF : 0) | (r.mf ? Ipv4Flag.MF : 0) | (r.fragOffset & Ipv4Flag.OFFSET_MASK));
  u8[off + Ipv4.TTL] = r.ttl;
  u8[off + Ipv4.PROTO] = r.proto;
  put16(u8, off + Ipv4.CHECKSUM, 0);
  put32(u8, off + Ipv4.SRC, r.src);
  put32(u8, off + Ipv4.DST, r.dst);
  if (r.options !== undefined) u8.set(r.options, off + Ipv4.HEADER_LEN);
  put16(u8, off + Ipv4.CHECKSUM, checksum(u8, off, hl));
  return off + hl;
}
