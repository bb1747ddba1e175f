/**
 * Ethernet II (IEEE 802.3 with an EtherType).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Destination MAC (6 bytes)                  |
 *   +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                               |                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  Source MAC (6 bytes)         +
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           EtherType           |  payload ...
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * VLAN tags (src/wire/vlan.ts) sit between the source MAC and the EtherType.
 */
import { readMac, writeMac } from './mac.js';
import { Vlan, isVlanTpid } from './vlan.js';

export const Eth = {
  DST: 0, // destination MAC
  SRC: 6, // source MAC
  TYPE: 12, // EtherType, or a VLAN TPID
  HEADER_LEN: 14,
  /** Shortest frame on the wire without the FCS (802.3 pads to it). */
  MIN_FRAME: 60,
} as const;

/** EtherType values we act on; any other value passes through as a number. */
export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100, // 802.1Q C-tag
  QINQ: 0x88a8, // 802.1ad S-tag
  QINQ_OLD: 0x9100, // pre-standard S-tag, still seen
  IPV6: 0x86dd,
  MPLS: 0x8847, // MPLS unicast (RFC 3032)
  MPLS_MC: 0x8848, // MPLS multicast (RFC 5332)
  TEB: 0x6558, // Transparent Ethernet Bridging: Ethernet in GRE
} as const;

export const BROADCAST_MAC = 0xffffffffffff;

export function etherType(u8: Uint8Array, off: number): number {
  return (u8[off + Eth.TYPE]! << 8) | u8[off + Eth.TYPE + 1]!;
}

/** Where walkL2 leaves its findings (a reused object: no allocation per frame). */
export interface L2Info {
  /** EtherType after the VLAN tags. */
  type: number;
  /** Offset of the header that follows (L3). */
  l3: number;
  /** Number of VLAN tags walked. */
  tags: number;
  /** VLAN id of the outermost tag, or -1 when untagged. */
  vid: number;
}

export function newL2Info(): L2Info {
  return { type: 0, l3: 0, tags: 0, vid: -1 };
}

/** Deepest tag stack walked (802.1ad + 802.1Q is 2; some networks stack more). */
export const MAX_VLAN_TAGS = 4;

/**
 * Walks the Ethernet header and up to MAX_VLAN_TAGS tags of the frame in
 * u8[off .. end). Returns false when the frame is too short for what it
 * announces (or has more tags than we walk); `out` is filled on success.
 */
export function walkL2(u8: Uint8Array, off: number, end: number, out: L2Info): boolean {
  if (end - off < Eth.HEADER_LEN) return false;
  let p = off + Eth.TYPE;
  let type = (u8[p]! << 8) | u8[p + 1]!;
  let tags = 0;
  let vid = -1;
  while (isVlanTpid(type)) {
    if (tags === MAX_VLAN_TAGS || p + Vlan.TAG_LEN + 2 > end) return false;
    if (tags === 0) vid = ((u8[p + 2]! << 8) | u8[p + 3]!) & Vlan.VID_MASK;
    p += Vlan.TAG_LEN;
    type = (u8[p]! << 8) | u8[p + 1]!;
    tags++;
  }
  out.type = type;
  out.l3 = p + 2;
  out.tags = tags;
  out.vid = vid;
  return true;
}

/** Value form, for building frames and for tests. */
export interface EthernetRepr {
  dst: number;
  src: number;
  type: number;
}

export function parseEthernet(u8: Uint8Array, off: number, end: number): EthernetRepr | null {
  if (end - off < Eth.HEADER_LEN) return null;
  return { dst: readMac(u8, off + Eth.DST), src: readMac(u8, off + Eth.SRC), type: etherType(u8, off) };
}

/** Writes the 14-byte header at u8[off]; returns the offset after it. */
export function emitEthernet(r: EthernetRepr, u8: Uint8Array, off: number): number {
  writeMac(u8, off + Eth.DST, r.dst);
  writeMac(u8, off + Eth.SRC, r.src);
  u8[off + Eth.TYPE] = r.type >>> 8;
  u8[off + Eth.TYPE + 1] = r.type;
  return off + Eth.HEADER_LEN;
}
