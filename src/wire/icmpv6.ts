/**
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages (RFC 4861) that the
 * dataplane answers: neighbor solicitation and advertisement.
 *
 *   ICMPv6:  | Type | Code | Checksum (with the IPv6 pseudo-header) | body...
 *
 *   NS / NA:
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |     Code      |          Checksum             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |R|S|O|                     Reserved                            |  (NA flags; NS: reserved)
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       Target Address (16 bytes)               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Options: | Type | Length (8-byte units) | value ...
 *
 * ND messages must arrive with hop limit 255 (RFC 4861 §7.1.1): anything
 * else may have been forwarded and is ignored.
 */
import { sumBytes, finish, fold } from './checksum.js';
import { Ipv6 } from './ipv6.js';
import { IpProto } from './ip.js';

export const Icmp6 = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  HEADER_LEN: 4,
} as const;

export const Icmp6Type = {
  DEST_UNREACHABLE: 1,
  TIME_EXCEEDED: 3,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
} as const;

export const Nd = {
  FLAGS: 4, // NA: R S O bits in the first byte
  TARGET: 8,
  OPTIONS: 24,
  FLAG_ROUTER: 0x80,
  FLAG_SOLICITED: 0x40,
  FLAG_OVERRIDE: 0x20,
  /** Hop limit every ND message carries. */
  HOP_LIMIT: 255,
} as const;

export const NdOpt = {
  SOURCE_LINK_ADDR: 1,
  TARGET_LINK_ADDR: 2,
} as const;

/** ICMPv6 sum over the message u8[icmp..icmp+len) with the pseudo-header of the IPv6 header at u8[ip]. */
export function icmp6Sum(u8: Uint8Array, ip: number, icmp: number, len: number): number {
  return sumBytes(u8, icmp, len, sumBytes(u8, ip + Ipv6.SRC, 32, IpProto.ICMPV6 + len));
}

export function icmp6ChecksumOk(u8: Uint8Array, ip: number, icmp: number, len: number): boolean {
  return fold(icmp6Sum(u8, ip, icmp, len)) === 0xffff;
}

export function fillIcmp6Checksum(u8: Uint8Array, ip: number, icmp: number, len: number): void {
  u8[icmp + Icmp6.CHECKSUM] = 0;
  u8[icmp + Icmp6.CHECKSUM + 1] = 0;
  const c = finish(icmp6Sum(u8, ip, icmp, len));
  u8[icmp + Icmp6.CHECKSUM] = c >>> 8;
  u8[icmp + Icmp6.CHECKSUM + 1] = c;
}

/**
 * Offset of the first ND option of `type` in u8[p..end), or -1. Returns -2
 * when an option has length 0 (RFC 4861 §4.6: discard the packet).
 */
export function findNdOption(u8: Uint8Array, p: number, end: number, type: number): number {
  while (p + 2 <= end) {
    const len = u8[p + 1]! * 8;
    if (len === 0) return -2;
    if (p + len > end) return -1;
    if (u8[p]! === type) return p;
    p += len;
  }
  return -1;
}

/** The solicited-node multicast address ff02::1:ffXX:XXXX of a target's last word. */
export function solicitedNode(lastWord: number): [number, number, number, number] {
  return [0xff020000, 0, 1, (0xff000000 | (lastWord & 0xffffff)) >>> 0];
}
