/** Big-endian (network order) integer access over a Uint8Array. Callers check bounds. */

export function u16(u8: Uint8Array, o: number): number {
  return (u8[o]! << 8) | u8[o + 1]!;
}

export function u32(u8: Uint8Array, o: number): number {
  return ((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0;
}

/**
 * u32 as a signed integer (the same bits): V8 keeps it a small integer in a
 * call or return, where an unsigned value from 2^31 up is a heap number.
 */
export function i32(u8: Uint8Array, o: number): number {
  return (u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!;
}

export function put16(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 8;
  u8[o + 1] = v;
}

export function put32(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 24;
  u8[o + 1] = v >>> 16;
  u8[o + 2] = v >>> 8;
  u8[o + 3] = v;
}

/** Hex of u8[off..off+len) (for tests, errors and the CLI; allocates). */
export function toHex(u8: Uint8Array, off = 0, len = u8.length - off): string {
  return Buffer.from(u8.buffer, u8.byteOffset + off, len).toString('hex');
}

/** Bytes from hex, ignoring white space (for tests and configuration). */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(clean, 'hex'));
}
