/** MACs as 48-bit numbers, read from and written to bytes (no text: see src/util/addr.ts). */

/** Reads a MAC at u8[off..off+6) as a 48-bit number. */
export function readMac(u8: Uint8Array, off: number): number {
  return ((u8[off]! << 8) | u8[off + 1]!) * 0x100000000 + (((u8[off + 2]! << 24) | (u8[off + 3]! << 16) | (u8[off + 4]! << 8) | u8[off + 5]!) >>> 0);
}

/** Writes a 48-bit MAC number at u8[off..off+6). */
export function writeMac(u8: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / 0x100000000);
  const lo = mac >>> 0;
  u8[off] = hi >>> 8;
  u8[off + 1] = hi;
  u8[off + 2] = lo >>> 24;
  u8[off + 3] = lo >>> 16;
  u8[off + 4] = lo >>> 8;
  u8[off + 5] = lo;
}

/** True for group (multicast and broadcast) MACs: the I/G bit of the first byte. */
export function isGroupMac(mac: number): boolean {
  return Math.floor(mac / 0x10000000000) % 2 === 1;
}
