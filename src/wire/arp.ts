/**
 * ARP for IPv4 over Ethernet (RFC 826), 28 bytes.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        Hardware type (1)      |     Protocol type (0x0800)    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  HW len (6)   | Proto len (4) |          Operation            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Sender hardware address (6) ... Sender protocol address (4)  |
 *   |  Target hardware address (6) ... Target protocol address (4)  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { readMac, writeMac } from './mac.js';
import { u16, u32, put16, put32 } from './bytes.js';

export const Arp = {
  HTYPE: 0, // hardware type
  PTYPE: 2, // protocol type
  HLEN: 4, // hardware address length
  PLEN: 5, // protocol address length
  OPER: 6, // operation
  SHA: 8, // sender hardware address
  SPA: 14, // sender protocol address
  THA: 18, // target hardware address
  TPA: 24, // target protocol address
  LEN: 28,
} as const;

export const ArpOp = { REQUEST: 1, REPLY: 2 } as const;
export const ARP_HTYPE_ETHERNET = 1;

/** True when u8[off..end) holds an Ethernet/IPv4 ARP packet. */
export function isEthIpv4Arp(u8: Uint8Array, off: number, end: number): boolean {
  return (
    end - off >= Arp.LEN &&
    u8[off]! === 0 && u8[off + 1]! === ARP_HTYPE_ETHERNET &&
    u8[off + 2]! === 0x08 && u8[off + 3]! === 0x00 &&
    u8[off + Arp.HLEN]! === 6 && u8[off + Arp.PLEN]! === 4
  );
}

export function arpOp(u8: Uint8Array, off: number): number {
  return u16(u8, off + Arp.OPER);
}
export function arpSenderIp(u8: Uint8Array, off: number): number {
  return u32(u8, off + Arp.SPA);
}
export function arpTargetIp(u8: Uint8Array, off: number): number {
  return u32(u8, off + Arp.TPA);
}
export function arpSenderMac(u8: Uint8Array, off: number): number {
  return readMac(u8, off + Arp.SHA);
}

export interface ArpRepr {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export function parseArp(u8: Uint8Array, off: number, end: number): ArpRepr | null {
  if (!isEthIpv4Arp(u8, off, end)) return null;
  return {
    op: arpOp(u8, off),
    senderMac: readMac(u8, off + Arp.SHA),
    senderIp: u32(u8, off + Arp.SPA),
    targetMac: readMac(u8, off + Arp.THA),
    targetIp: u32(u8, off + Arp.TPA),
  };
}

/** Writes the 28-byte ARP packet at u8[off]; returns the offset after it. */
export function emitArp(r: ArpRepr, u8: Uint8Array, off: number): number {
  u8[off] = 0;
  u8[off + 1] = ARP_HTYPE_ETHERNET;
  u8[off + 2] = 0x08;
  u8[off + 3] = 0x00;
  u8[off + Arp.HLEN] = 6;
  u8[off + Arp.PLEN] = 4;
  put16(u8, off + Arp.OPER, r.op);
  writeMac(u8, off + Arp.SHA, r.senderMac);
  put32(u8, off + Arp.SPA, r.senderIp);
  writeMac(u8, off + Arp.THA, r.targetMac);
  put32(u8, off + Arp.TPA, r.targetIp);
  return off + Arp.LEN;
}
