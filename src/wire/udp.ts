/**
 * UDP header (RFC 768).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          Source Port          |       Destination Port        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            Length             |           Checksum            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checksum covers a pseudo-header (IPv4: RFC 768; IPv6: RFC 8200 §8.1),
 * this header and the payload. Over IPv4 zero means "no checksum"; over IPv6 it
 * is mandatory except for tunnels that opt in (RFC 6935/6936). A computed zero
 * is sent as 0xffff.
 */
import { u16, put16 } from './bytes.js';
import { sumBytes, fold, finish } from './checksum.js';
import { Ipv4 } from './ipv4.js';
import { Ipv6 } from './ipv6.js';
import { IpProto } from './ip.js';

export const Udp = {
  SRC_PORT: 0,
  DST_PORT: 2,
  LENGTH: 4, // header + payload, bytes
  CHECKSUM: 6,
  HEADER_LEN: 8,
} as const;

export const UdpPort = {
  VXLAN: 4789, // RFC 7348
  MPLS: 6635, // MPLS-in-UDP, RFC 7510
  VXLAN_GPE: 4790,
  GENEVE: 6081,
} as const;

/** Ephemeral range that RFC 7348 §5 and RFC 7510 §3 recommend for entropy source ports. */
export const ENTROPY_PORT_MIN = 49152;
export const ENTROPY_PORT_BITS = 14; // 49152..65535 is 2^14 ports

export function udpSrcPort(u8: Uint8Array, off: number): number {
  return u16(u8, off + Udp.SRC_PORT);
}
export function udpDstPort(u8: Uint8Array, off: number): number {
  return u16(u8, off + Udp.DST_PORT);
}
export function udpLength(u8: Uint8Array, off: number): number {
  return u16(u8, off + Udp.LENGTH);
}
export function udpChecksumField(u8: Uint8Array, off: number): number {
  return u16(u8, off + Udp.CHECKSUM);
}

/** Sum of the UDP segment at u8[udp..udp+len) plus the IPv4 pseudo-header of the header at u8[ip]. */
export function udpSum4(u8: Uint8Array, ip: number, udp: number, len: number): number {
  let s = sumBytes(u8, ip + Ipv4.SRC, 8, IpProto.UDP + len);
  s = sumBytes(u8, udp, len, s);
  return s;
}

/** Same over IPv6 (the pseudo-header takes the addresses of the IPv6 header at u8[ip]). */
export function udpSum6(u8: Uint8Array, ip: number, udp: number, len: number): number {
  let s = sumBytes(u8, ip + Ipv6.SRC, 32, IpProto.UDP + len);
  s = sumBytes(u8, udp, len, s);
  return s;
}

/** Computes and writes the checksum of a UDP segment over IPv4 or IPv6 (`v6`). */
export function fillUdpChecksum(u8: Uint8Array, ip: number, udp: number, len: number, v6: boolean): void {
  put16(u8, udp + Udp.CHECKSUM, 0);
  const c = finish(v6 ? udpSum6(u8, ip, udp, len) : udpSum4(u8, ip, udp, len));
  put16(u8, udp + Udp.CHECKSUM, c === 0 ? 0xffff : c);
}

/** True when a segment with a non-zero checksum verifies. */
export function udpChecksumOk(u8: Uint8Array, ip: number, udp: number, len: number, v6: boolean): boolean {
  return fold(v6 ? udpSum6(u8, ip, udp, len) : udpSum4(u8, ip, udp, len)) === 0xffff;
}


export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  length: number;
  checksum: number;
}

export function parseUdp(u8: Uint8Array, off: number, end: number): UdpRepr | null {
  if (end - off < Udp.HEADER_LEN) return null;
  return { srcPort: udpSrcPort(u8, off), dstPort: udpDstPort(u8, off), length: udpLength(u8, off), checksum: udpChecksumField(u8, off) };
}

export function emitUdp(r: UdpRepr, u8: Uint8Array, off: number): number {
  put16(u8, off + Udp.SRC_PORT, r.srcPort);
  put16(u8, off + Udp.DST_PORT, r.dstPort);
  put16(u8, off + Udp.LENGTH, r.length);
  put16(u8, off + Udp.CHECKSUM, r.checksum);
  return off + Udp.HEADER_LEN;
}
