/**
 * IPv6 header (RFC 8200) and its extension headers.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version| Traffic Class |           Flow Label                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Source Address (16 bytes)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  Destination Address (16 bytes)               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Extension headers walked here: hop-by-hop options (first only), routing,
 * fragment, destination options and AH (skipped by its length).
 *
 *   options header:  | Next Header | Hdr Ext Len (8-byte units, minus 1) | TLV options...
 *   routing header:  | Next Header | Hdr Ext Len | Routing Type | Segments Left | data...
 *   fragment header: | Next Header | Reserved | Fragment Offset (13) |Res|M| Identification (32) |
 */
import { Status } from './status.js';
import { u16, u32, put16, put32 } from './bytes.js';
import { IpProto } from './ip.js';

export const Ipv6 = {
  VER_TC_FL: 0, // version (4), traffic class (8), flow label (20)
  PAYLOAD_LEN: 4, // bytes after this 40-byte header, extension headers included
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
  HEADER_LEN: 40,
} as const;

export const Ipv6Ext = {
  NEXT: 0, // next header, in every extension header
  LEN: 1, // length in 8-byte units not counting the first 8 (AH: 4-byte units minus 2)
  ROUTING_SEGMENTS_LEFT: 3,
  FRAG_OFFSET_M: 2, // offset (13 bits) << 3 | M (bit 0)
  FRAG_LEN: 8,
} as const;

/** Option types in hop-by-hop and destination options headers. */
export const Ipv6Opt = { PAD1: 0, PADN: 1, JUMBO: 0xc2 } as const;

/** Most extension headers walked before giving up (bounds the work per packet). */
export const MAX_EXT_HEADERS = 8;

/** Where checkIpv6 leaves its findings (reused object). */
export interface Ipv6Info {
  /** Upper-layer protocol after the extension headers. */
  proto: number;
  /** Offset of the upper-layer header. */
  l4: number;
  /** Offset just past the packet (header + payload length): trailers end here. */
  end: number;
}

export function newIpv6Info(): Ipv6Info {
  return { proto: 0, l4: 0, end: 0 };
}

export function ipv6PayloadLen(u8: Uint8Array, off: number): number {
  return u16(u8, off + Ipv6.PAYLOAD_LEN);
}
export function ipv6TrafficClass(u8: Uint8Array, off: number): number {
  return ((u8[off]! & 0x0f) << 4) | (u8[off + 1]! >>> 4);
}

/**
 * Validates the IPv6 header at u8[off] with `end - off` bytes present and walks
 * its extension headers. Returns 0 (and fills `out`) or a Status code:
 * truncated / bad-length when lengths do not fit, bad-header for a misplaced
 * hop-by-hop header, an option that says "discard if unknown", or a routing
 * header that still has segments left (we are not its final destination),
 * fragment for any non-atomic fragment, unsupported for jumbograms.
 */
export function checkIpv6(u8: Uint8Array, off: number, end: number, out: Ipv6Info): number {
  if (end - off < Ipv6.HEADER_LEN) return Status.TRUNCATED;
  if (u8[off]! >>> 4 !== 6) return Status.BAD_HEADER;
  const plen = u16(u8, off + Ipv6.PAYLOAD_LEN);
  let nh = u8[off + Ipv6.NEXT_HEADER]!;
  if (plen === 0 && nh === IpProto.HOPOPTS) return Status.UNSUPPORTED; // jumbogram (RFC 2675)
  const pend = off + Ipv6.HEADER_LEN + plen;
  if (pend > end) return Status.BAD_LENGTH;
  let p = off + Ipv6.HEADER_LEN;
  for (let n = 0; ; n++) {
    if (nh !== IpProto.HOPOPTS && nh !== IpProto.DSTOPTS && nh !== IpProto.ROUTING && nh !== IpProto.FRAGMENT && nh !== IpProto.AH) break;
    if (n === MAX_EXT_HEADERS) return Status.UNSUPPORTED;
    if (p + 8 > pend) return Status.TRUNCATED;
    let len: number;
    if (nh === IpProto.FRAGMENT) {
      // Atomic fragments (offset 0, M clear; RFC 6946) are whole packets.
      if ((u16(u8, p + Ipv6Ext.FRAG_OFFSET_M) & 0xfff9) !== 0) return Status.FRAGMENT;
      len = Ipv6Ext.FRAG_LEN;
    } else if (nh === IpProto.AH) {
      len = (u8[p + Ipv6Ext.LEN]! + 2) << 2;
    } else {
      len = (u8[p + Ipv6Ext.LEN]! + 1) << 3;
    }
    if (p + len > pend) return Status.TRUNCATED;
    if (nh === IpProto.HOPOPTS) {
      if (n !== 0) return Status.BAD_HEADER; // only right after the IPv6 header (RFC 8200 §4.1)
      const r = checkOptions(u8, p + 2, p + len);
      if (r !== 0) return r;
    } else if (nh === IpProto.DSTOPTS) {
      const r = checkOptions(u8, p + 2, p + len);
      if (r !== 0) return r;
    } else if (nh === IpProto.ROUTING) {
      if (u8[p + Ipv6Ext.ROUTING_SEGMENTS_LEFT]! !== 0) return Status.BAD_HEADER;
    }
    nh = u8[p + Ipv6Ext.NEXT]!;
    p += len;
  }
  out.proto = nh;
  out.l4 = p;
  out.end = pend;
  return 0;
}

/**
 * TLV options: Pad1, PadN and options whose two high type bits are 00 ("skip
 * if unknown") pass; any other unknown option means "discard" (RFC 8200 §4.2).
 */
function checkOptions(u8: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const type = u8[p]!;
    if (type === Ipv6Opt.PAD1) {
      p++;
      continue;
    }
    if (p + 2 > end) return Status.BAD_HEADER;
    const len = u8[p + 1]!;
    if (p + 2 + len > end) return Status.BAD_HEADER;
    if (type === Ipv6Opt.JUMBO) return Status.UNSUPPORTED;
    if (type !== Ipv6Opt.PADN && type >>> 6 !== 0) return Status.BAD_HEADER;
    p += 2 + len;
  }
  return 0;
}

/** Value form. Addresses as four words each (src/wire/addr.ts). */
export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  src: Uint32Array;
  dst: Uint32Array;
}

export function parseIpv6(u8: Uint8Array, off: number, end: number): Ipv6Repr | null {
  if (end - off < Ipv6.HEADER_LEN || u8[off]! >>> 4 !== 6) return null;
  const w0 = u32(u8, off);
  const src = new Uint32Array(4);
  const dst = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    src[i] = u32(u8, off + Ipv6.SRC + 4 * i);
    dst[i] = u32(u8, off + Ipv6.DST + 4 * i);
  }
  return {
    trafficClass: (w0 >>> 20) & 0xff,
    flowLabel: w0 & 0xfffff,
    payloadLen: ipv6PayloadLen(u8, off),
    nextHeader: u8[off + Ipv6.NEXT_HEADER]!,
    hopLimit: u8[off + Ipv6.HOP_LIMIT]!,
    src,
    dst,
  };
}

export function emitIpv6(r: Ipv6Repr, u8: Uint8Array, off: number): number {
  put32(u8, off, ((6 << 28) | ((r.trafficClass & 0xff) << 20) | (r.flowLabel & 0xfffff)) >>> 0);
  put16(u8, off + Ipv6.PAYLOAD_LEN, r.payloadLen);
  u8[off + Ipv6.NEXT_HEADER] = r.nextHeader;
  u8[off + Ipv6.HOP_LIMIT] = r.hopLimit;
  for (let i = 0; i < 4; i++) {
    put32(u8, off + Ipv6.SRC + 4 * i, r.src[i]!);
    put32(u8, off + Ipv6.DST + 4 * i, r.dst[i]!);
  }
  return off + Ipv6.HEADER_LEN;
}
