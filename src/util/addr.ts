/**
 * Addresses as numbers. On every lookup path addresses are numbers, never
 * strings: IPv4 as an unsigned 32-bit number in network order (198.18.0.1 is
 * 0xc6120001), IPv6 as four such words (word 0 holds the first four bytes), a MAC
 * as a 48-bit number (exact in a double). Strings are parsed here, at
 * configuration time, with ipaddr.js.
 */
import ipaddr from 'ipaddr.js';
import { invalidArg } from '../errors.js';
export { readMac, writeMac, isGroupMac } from '../wire/mac.js';

export type IpFamily = 4 | 6;

/** Parses dotted-quad IPv4; throws VtepError naming `field`. */
export function parseIPv4(text: string, field = 'address'): number {
  if (typeof text !== 'string' || !ipaddr.IPv4.isValidFourPartDecimal(text)) {
    throw invalidArg(field, text, 'an IPv4 address');
  }
  const b = ipaddr.IPv4.parse(text).octets;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function formatIPv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Parses IPv6 into out[off..off+4); throws VtepError naming `field`. */
export function parseIPv6(text: string, out: Uint32Array = new Uint32Array(4), off = 0, field = 'address'): Uint32Array {
  if (typeof text !== 'string' || !ipaddr.IPv6.isValid(text) || text.includes('%')) {
    throw invalidArg(field, text, 'an IPv6 address');
  }
  const p = ipaddr.IPv6.parse(text).parts;
  for (let i = 0; i < 4; i++) out[off + i] = ((p[2 * i]! << 16) | p[2 * i + 1]!) >>> 0;
  return out;
}

export function formatIPv6(words: ArrayLike<number>, off = 0): string {
  const parts: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = words[off + i]! >>> 0;
    parts.push(w >>> 16, w & 0xffff);
  }
  return new ipaddr.IPv6(parts).toString();
}

/** Which family a string is, or 0 when it is neither. */
export function ipFamily(text: string): IpFamily | 0 {
  if (typeof text !== 'string') return 0;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return 4;
  if (ipaddr.IPv6.isValid(text) && !text.includes('%')) return 6;
  return 0;
}

/** An address of either family as 16 bytes (IPv4 in the first 4) plus its family. */
export interface IpAddr {
  family: IpFamily;
  /** IPv4: one word; IPv6: four words. */
  words: Uint32Array;
}

export function parseIp(text: string, field = 'address'): IpAddr {
  const family = ipFamily(text);
  if (family === 4) return { family, words: Uint32Array.of(parseIPv4(text, field)) };
  if (family === 6) return { family, words: parseIPv6(text, new Uint32Array(4), 0, field) };
  throw invalidArg(field, text, 'an IPv4 or IPv6 address');
}

export function formatIp(a: IpAddr): string {
  return a.family === 4 ? formatIPv4(a.words[0]!) : formatIPv6(a.words);
}

export interface Cidr {
  family: IpFamily;
  words: Uint32Array;
  length: number;
}

/**
 * Parses "a.b.c.d/n" or "x::/n". Host bits must be zero unless `allowHost`
 * (an interface address such as a gateway "10.1.0.1/24" keeps them).
 */
export function parseCidr(text: string, field = 'prefix', allowHost = false): Cidr {
  const slash = typeof text === 'string' ? text.indexOf('/') : -1;
  if (slash < 0) throw invalidArg(field, text, 'a prefix in CIDR notation');
  const addr = parseIp(text.slice(0, slash), field);
  const lenText = text.slice(slash + 1);
  const max = addr.family === 4 ? 32 : 128;
  const length = /^\d{1,3}$/.test(lenText) ? Number(lenText) : -1;
  if (length < 0 || length > max) throw invalidArg(field, text, `a prefix with a length of 0..${max}`);
  if (!allowHost) {
    for (let i = 0; i < addr.words.length; i++) {
      const keep = Math.max(0, Math.min(32, length - 32 * i));
      const mask = keep === 0 ? 0 : (0xffffffff << (32 - keep)) >>> 0;
      if ((addr.words[i]! & ~mask) >>> 0 !== 0) throw invalidArg(field, text, 'a prefix without host bits set');
    }
  }
  return { family: addr.family, words: addr.words, length };
}

const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** Parses "02:00:00:00:00:01" (or with dashes) into a 48-bit number. */
export function parseMac(text: string, field = 'mac'): number {
  if (typeof text !== 'string' || !MAC_RE.test(text)) throw invalidArg(field, text, 'a MAC address like 02:00:00:00:00:01');
  return parseInt(text.replace(/[:-]/g, ''), 16);
}

export function formatMac(mac: number): string {
  const hex = mac.toString(16).padStart(12, '0');
  return hex.replace(/(..)(?!$)/g, '$1:');
}
