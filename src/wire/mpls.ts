/**
 * MPLS label stack entry (RFC 3032), with the reserved labels of RFC 3032,
 * RFC 5586 (GAL) and RFC 6790 (entropy label indicator).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                Label                  | TC  |S|       TTL     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * S marks the bottom of the stack. An entropy label (RFC 6790) is the entry
 * right after an ELI (label 7); its value only spreads load and is never a
 * tenant id. Carried over UDP port 6635 (RFC 7510) or GRE protocol 0x8847
 * (RFC 4023).
 */
import { u32, put32 } from './bytes.js';

export const Mpls = {
  ENTRY_LEN: 4,
  LABEL_SHIFT: 12,
  TC_SHIFT: 9,
  TC_MASK: 0x7,
  S: 0x100, // bottom of stack bit in the entry word
  TTL_MASK: 0xff,
  MAX_LABEL: 0xfffff,
} as const;

export const MplsLabel = {
  IPV4_EXPLICIT_NULL: 0,
  ROUTER_ALERT: 1,
  IPV6_EXPLICIT_NULL: 2,
  IMPLICIT_NULL: 3, // signalling only; never on the wire
  ELI: 7, // entropy label indicator (RFC 6790)
  GAL: 13, // generic associated channel label (RFC 5586)
  OAM_ALERT: 14,
  EXTENSION: 15,
  /** Labels 0..15 are reserved. */
  MAX_RESERVED: 15,
} as const;

export function mplsEntry(u8: Uint8Array, off: number): number {
  return u32(u8, off);
}
export function entryLabel(entry: number): number {
  return entry >>> Mpls.LABEL_SHIFT;
}
export function entryBos(entry: number): boolean {
  return (entry & Mpls.S) !== 0;
}
export function entryTtl(entry: number): number {
  return entry & Mpls.TTL_MASK;
}
export function entryTc(entry: number): number {
  return (entry >>> Mpls.TC_SHIFT) & Mpls.TC_MASK;
}

export function makeEntry(label: number, tc: number, bos: boolean, ttl: number): number {
  return ((label << Mpls.LABEL_SHIFT) | ((tc & Mpls.TC_MASK) << Mpls.TC_SHIFT) | (bos ? Mpls.S : 0) | (ttl & Mpls.TTL_MASK)) >>> 0;
}

export interface MplsEntryRepr {
  label: number;
  tc: number;
  bos: boolean;
  ttl: number;
}

/** The whole stack down to bottom of stack; null when it runs past `end`. */
export function parseMplsStack(u8: Uint8Array, off: number, end: number): MplsEntryRepr[] | null {
  const out: MplsEntryRepr[] = [];
  for (let p = off; p + Mpls.ENTRY_LEN <= end; p += Mpls.ENTRY_LEN) {
    const e = mplsEntry(u8, p);
    out.push({ label: entryLabel(e), tc: entryTc(e), bos: entryBos(e), ttl: entryTtl(e) });
    if (entryBos(e)) return out;
  }
  return null;
}

/** Writes entries (setting S on the last one); returns the offset after them. */
export function emitMplsStack(stack: readonly Omit<MplsEntryRepr, 'bos'>[], u8: Uint8Array, off: number): number {
  stack.forEach((e, i) => put32(u8, off + i * Mpls.ENTRY_LEN, makeEntry(e.label, e.tc, i === stack.length - 1, e.ttl)));
  return off + stack.length * Mpls.ENTRY_LEN;
}
