/**
 * VXLAN header (RFC 7348 §5), carried over UDP port 4789.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |R|R|R|R|I|R|R|R|            Reserved                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                VXLAN Network Identifier (VNI) |   Reserved    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * I must be 1 for a valid VNI. Reserved bits are zero on send and ignored on
 * receive (RFC 7348), which also lets GBP/GPE-flagged packets through as plain
 * VXLAN, as the Linux driver does without those extensions enabled.
 */
import { u32, put32 } from './bytes.js';

export const Vxlan = {
  FLAGS: 0, // first byte holds I
  VNI: 4, // 24-bit VNI in bytes 4..6, reserved byte 7
  HEADER_LEN: 8,
  FLAG_I: 0x08,
  MAX_VNI: 0xffffff,
} as const;

export function vxlanHasI(u8: Uint8Array, off: number): boolean {
  return (u8[off]! & Vxlan.FLAG_I) !== 0;
}

export function vxlanVni(u8: Uint8Array, off: number): number {
  return u32(u8, off + Vxlan.VNI) >>> 8;
}

/** Writes the 8-byte header (I set, reserved zero); returns the offset after it. */
export function emitVxlan(vni: number, u8: Uint8Array, off: number): number {
  put32(u8, off, Vxlan.FLAG_I << 24);
  put32(u8, off + Vxlan.VNI, (vni << 8) >>> 0);
  return off + Vxlan.HEADER_LEN;
}
