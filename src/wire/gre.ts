/**
 * GRE (RFC 2784) with the key and sequence number extensions (RFC 2890).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |C|R|K|S|s|Recur|  Flags  | Ver |         Protocol Type         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |      Checksum (optional)      |       Reserved1 (optional)    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         Key (optional)                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Sequence Number (optional)                    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * R (routing, RFC 1701), s (strict source route) and the top Recur bit are
 * bits 1-5 that RFC 2784 §2.3 says to discard on unless RFC 1701 is
 * implemented (K and S are RFC 2890's); bits 6-12 are ignored on receive.
 * Version 1 is PPTP's enhanced GRE (RFC 2637), not ours. The checksum covers
 * the GRE header and its payload.
 */
import { Status } from './status.js';
import { u16, u32, put16, put32 } from './bytes.js';
import { checksum, fold, sumWords } from './checksum.js';

export const Gre = {
  FLAGS: 0, // C R K S s Recur Flags Ver
  PROTOCOL: 2, // EtherType of the payload
  HEADER_LEN: 4, // without optional fields
  OPTION_LEN: 4, // each of checksum+reserved1, key, sequence
} as const;

export const GreFlag = {
  C: 0x8000, // checksum present
  R: 0x4000, // routing present (RFC 1701)
  K: 0x2000, // key present (RFC 2890)
  S: 0x1000, // sequence number present (RFC 2890)
  SSR: 0x0800, // strict source route (RFC 1701)
  RECUR: 0x0700, // recursion control (RFC 1701)
  VERSION: 0x0007,
  /** Bits 1-5 of RFC 2784 that are not K or S: discard when set. */
  DISCARD: 0x4000 | 0x0800 | 0x0400,
} as const;

/** Header length implied by the flags word. */
export function greHeaderLen(flags: number): number {
  return (
    Gre.HEADER_LEN +
    ((flags & GreFlag.C) !== 0 ? Gre.OPTION_LEN : 0) +
    ((flags & GreFlag.K) !== 0 ? Gre.OPTION_LEN : 0) +
    ((flags & GreFlag.S) !== 0 ? Gre.OPTION_LEN : 0)
  );
}

/** Where checkGre leaves its findings (reused object). */
export interface GreInfo {
  flags: number;
  protocol: number;
  /** Key, or -1 when K is clear. */
  key: number;
  /** Sequence number, or -1 when S is clear. */
  seq: number;
  /** Offset of the payload. */
  payload: number;
}

export function newGreInfo(): GreInfo {
  return { flags: 0, protocol: 0, key: -1, seq: -1, payload: 0 };
}

/**
 * Validates the GRE header at u8[off] whose packet (header + payload) ends at
 * `end`; verifies the checksum when C is set (reading words through `words`, a
 * view of the same memory, when given). Returns 0 (filling `out`) or a Status code.
 */
export function checkGre(u8: Uint8Array, off: number, end: number, out: GreInfo, words: Uint32Array | null = null): number {
  if (end - off < Gre.HEADER_LEN) return Status.TRUNCATED;
  const flags = u16(u8, off + Gre.FLAGS);
  if ((flags & GreFlag.VERSION) !== 0 || (flags & GreFlag.DISCARD) !== 0) return Status.BAD_HEADER;
  const hl = greHeaderLen(flags);
  if (end - off < hl) return Status.TRUNCATED;
  let p = off + Gre.HEADER_LEN;
  if ((flags & GreFlag.C) !== 0) {
    if (fold(sumWords(u8, words, off, end - off, 0)) !== 0xffff) return Status.BAD_CHECKSUM;
    p += Gre.OPTION_LEN;
  }
  out.key = -1;
  out.seq = -1;
  if ((flags & GreFlag.K) !== 0) {
    out.key = u32(u8, p);
    p += Gre.OPTION_LEN;
  }
  if ((flags & GreFlag.S) !== 0) {
    out.seq = u32(u8, p);
    p += Gre.OPTION_LEN;
  }
  out.flags = flags;
  out.protocol = u16(u8, off + Gre.PROTOCOL);
  out.payload = p;
  return 0;
}

/** Value form. */
export interface GreRepr {
  protocol: number;
  checksum: boolean;
  /** Present when defined. */
  key?: number;
  seq?: number;
}

export function parseGre(u8: Uint8Array, off: number, end: number): GreRepr | null {
  const info = newGreInfo();
  if (checkGre(u8, off, end, info) !== 0) return null;
  const r: GreRepr = { protocol: info.protocol, checksum: (info.flags & GreFlag.C) !== 0 };
  if (info.key >= 0) r.key = info.key;
  if (info.seq >= 0) r.seq = info.seq;
  return r;
}

/**
 * Writes the header at u8[off]. With `checksum`, the payload must already
 * follow the header and `end` mark its end, so the checksum can cover it.
 */
export function emitGre(r: GreRepr, u8: Uint8Array, off: number, end = off): number {
  const flags = (r.checksum ? GreFlag.C : 0) | (r.key !== undefined ? GreFlag.K : 0) | (r.seq !== undefined ? GreFlag.S : 0);
  put16(u8, off + Gre.FLAGS, flags);
  put16(u8, off + Gre.PROTOCOL, r.protocol);
  let p = off + Gre.HEADER_LEN;
  const csumAt = p;
  if (r.checksum) {
    put32(u8, p, 0);
    p += Gre.OPTION_LEN;
  }
  if (r.key !== undefined) {
    put32(u8, p, r.key);
    p += Gre.OPTION_LEN;
  }
  if (r.seq !== undefined) {
    put32(u8, p, r.seq);
    p += Gre.OPTION_LEN;
  }
  if (r.checksum) put16(u8, csumAt, checksum(u8, off, Math.max(end, p) - off));
  return p;
}
