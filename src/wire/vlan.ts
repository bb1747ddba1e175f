/**
 * IEEE 802.1Q / 802.1ad VLAN tag: 4 bytes after the source MAC.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     TPID (0x8100 / 0x88a8)    | PCP |D|         VID           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Offsets here are from the TPID; the EtherType of the payload follows the tag.
 */
export const Vlan = {
  TPID: 0, // tag protocol identifier (the EtherType slot of the frame)
  TCI: 2, // tag control: PCP (3 bits), DEI (1 bit), VID (12 bits)
  TAG_LEN: 4,
  PCP_SHIFT: 13,
  DEI: 0x1000,
  VID_MASK: 0x0fff,
} as const;

export const Tpid = {
  CTAG: 0x8100, // 802.1Q customer tag
  STAG: 0x88a8, // 802.1ad service tag
  STAG_OLD: 0x9100, // pre-standard QinQ
} as const;

export function isVlanTpid(type: number): boolean {
  return type === Tpid.CTAG || type === Tpid.STAG || type === Tpid.STAG_OLD;
}

export interface VlanRepr {
  tpid: number;
  pcp: number;
  dei: boolean;
  vid: number;
}

/** Reads the tag whose TPID is at u8[off]; null when fewer than 4 bytes remain. */
export function parseVlan(u8: Uint8Array, off: number, end: number): VlanRepr | null {
  if (end - off < Vlan.TAG_LEN) return null;
  const tci = (u8[off + Vlan.TCI]! << 8) | u8[off + Vlan.TCI + 1]!;
  return { tpid: (u8[off]! << 8) | u8[off + 1]!, pcp: tci >>> Vlan.PCP_SHIFT, dei: (tci & Vlan.DEI) !== 0, vid: tci & Vlan.VID_MASK };
}

export function emitVlan(r: VlanRepr, u8: Uint8Array, off: number): number {
  const tci = ((r.pcp & 7) << Vlan.PCP_SHIFT) | (r.dei ? Vlan.DEI : 0) | (r.vid & Vlan.VID_MASK);
  u8[off] = r.tpid >>> 8;
  u8[off + 1] = r.tpid;
  u8[off + 2] = tci >>> 8;
  u8[off + 3] = tci;
  return off + Vlan.TAG_LEN;
}
