/**
 * IPv4 longest-prefix match: prefix -> value (a non-negative 31-bit integer,
 * usually a route value from src/table/nexthop.ts); lookup returns -1 on a miss.
 * Addresses are u32 numbers in network order (198.18.0.1 is 0xc6120001).
 *
 *   const t = new Lpm4();
 *   t.add('10.0.0.0/8', 1);
 *   t.add(0x0a010000, 16, 2);          // 10.1.0.0/16
 *   t.lookup(0x0a010203);              // 2
 *   t.lookupBatch(addrs, out);         // Uint32Array -> Int32Array
 *
 * Structure: DIR-20-4-4-4 multibit trie (see trie.ts): one 4 MiB direct level
 * on the top 20 bits, then 64-byte nodes of 4 bits. A /24 resolves in two
 * loads, longer prefixes in three or four.
 */
import { check, checkInt, invalidArg } from '../errors.js';
import { formatIPv4, parseCidr } from '../util/addr.js';
import { PrefixTrie, type TrieStats } from './trie.js';

/** Bits of the direct level (2^20 entries, 4 MiB). */
const DIR_BITS = 20;
const MAX_VALUE = 0x7fffffff;

export interface Lpm4Entry {
  address: number;
  length: number;
  value: number;
  /** "10.0.0.0/8" */
  prefix: string;
}

export interface LpmOptions {
  /** Trie nodes to allocate up front (they grow as needed). */
  nodes?: number;
}

export class Lpm4 {
  private readonly t: PrefixTrie;

  constructor(options: LpmOptions = {}) {
    const nodes = checkInt('nodes', options.nodes ?? 64, 0, 1 << 26);
    this.t = new PrefixTrie(32, DIR_BITS, nodes);
  }

  /** Prefixes in the table. */
  get size(): number {
    return this.t.size;
  }

  /** Bytes of memory held: lookup arrays plus the control part (see stats()). */
  get bytes(): number {
    return this.t.bytes;
  }

  stats(): TrieStats {
    return this.t.stats();
  }

  /** Adds a prefix or replaces its value; returns the previous value or -1. */
  add(prefix: string, value: number): number;
  add(address: number, length: number, value: number): number;
  add(a: string | number, b: number, c?: number): number {
    const len = this.key(a, typeof a === 'string' ? undefined : b);
    const value = typeof a === 'string' ? b : c;
    checkInt('value', value, 0, MAX_VALUE);
    return this.t.set(len, value as number);
  }

  /** Deletes a prefix; returns false when it was not in the table. */
  delete(prefix: string): boolean;
  delete(address: number, length: number): boolean;
  delete(a: string | number, b?: number): boolean {
    return this.t.delete(this.key(a, b)) !== -1;
  }

  /** Exact match: the value of this very prefix, or -1. */
  get(prefix: string): number;
  get(address: number, length: number): number;
  get(a: string | number, b?: number): number {
    return this.t.get(this.key(a, b));
  }

  has(prefix: string): boolean;
  has(address: number, length: number): boolean;
  has(a: string | number, b?: number): boolean {
    return this.t.get(this.key(a, b)) !== -1;
  }

  /** Longest-prefix match of one address: the value, or -1. */
  lookup(address: number): number {
    const t = this.t.t;
    let e = t[address >>> 12]!;
    if (e < -1) {
      e = t[~e | ((address >>> 8) & 15)]!;
      if (e < -1) {
        e = t[~e | ((address >>> 4) & 15)]!;
        if (e < -1) e = t[~e | (address & 15)]!;
      }
    }
    return e;
  }

  /**
   * Looks up addresses[0..count) into out[0..count). Eight lookups are
   * interleaved so that their memory loads overlap; no allocation.
   */
  lookupBatch(addresses: Uint32Array, out: Int32Array, count: number = addresses.length): void {
    if (count > addresses.length || count > out.length || !(count >= 0)) {
      throw invalidArg('count', count, `at most ${Math.min(addresses.length, out.length)} (the lengths of addresses and out)`);
    }
    const t = this.t.t;
    let i = 0;
    // i is a multiple of 8, so i | k is i + k without an overflow check.
    for (; i + 8 <= count; i += 8) {
      const a0 = addresses[i]!;
      const a1 = addresses[i | 1]!;
      const a2 = addresses[i | 2]!;
      const a3 = addresses[i | 3]!;
      const a4 = addresses[i | 4]!;
      const a5 = addresses[i | 5]!;
      const a6 = addresses[i | 6]!;
      const a7 = addresses[i | 7]!;
      let e0 = t[a0 >>> 12]!;
      let e1 = t[a1 >>> 12]!;
      let e2 = t[a2 >>> 12]!;
      let e3 = t[a3 >>> 12]!;
      let e4 = t[a4 >>> 12]!;
      let e5 = t[a5 >>> 12]!;
      let e6 = t[a6 >>> 12]!;
      let e7 = t[a7 >>> 12]!;
      if (e0 < -1) e0 = t[~e0 | ((a0 >>> 8) & 15)]!;
      if (e1 < -1) e1 = t[~e1 | ((a1 >>> 8) & 15)]!;
      if (e2 < -1) e2 = t[~e2 | ((a2 >>> 8) & 15)]!;
      if (e3 < -1) e3 = t[~e3 | ((a3 >>> 8) & 15)]!;
      if (e4 < -1) e4 = t[~e4 | ((a4 >>> 8) & 15)]!;
      if (e5 < -1) e5 = t[~e5 | ((a5 >>> 8) & 15)]!;
      if (e6 < -1) e6 = t[~e6 | ((a6 >>> 8) & 15)]!;
      if (e7 < -1) e7 = t[~e7 | ((a7 >>> 8) & 15)]!;
      out[i] = e0;
      out[i | 1] = e1;
      out[i | 2] = e2;
      out[i | 3] = e3;
      out[i | 4] = e4;
      out[i | 5] = e5;
      out[i | 6] = e6;
      out[i | 7] = e7;
      // e + 1 < 0 only for nodes (prefixes longer than /24 below); rare.
      if (((e0 + 1) | (e1 + 1) | (e2 + 1) | (e3 + 1) | (e4 + 1) | (e5 + 1) | (e6 + 1) | (e7 + 1)) < 0) {
        for (let k = i; k < i + 8; k++) {
          let e = out[k]!;
          if (e < -1) {
            const a = addresses[k]!;
            e = t[~e | ((a >>> 4) & 15)]!;
            if (e < -1) e = t[~e | (a & 15)]!;
            out[k] = e;
          }
        }
      }
    }
    for (; i < count; i++) out[i] = this.lookup(addresses[i]!);
  }

  /**
   * Adds many prefixes (address, length, value at the same index); faster than
   * add() one by one because it adds them shortest first. Host bits must be 0.
   */
  load(addresses: Uint32Array, lengths: Uint8Array, values: Int32Array, count: number = addresses.length): void {
    check(count <= addresses.length && count <= lengths.length && count <= values.length, 'count', count, 'within the three arrays');
    const byLen = new Uint32Array(34);
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      const a = addresses[i]!;
      if (len > 32) throw invalidArg(`lengths[${i}]`, len, 'a prefix length of 0..32');
      if (len < 32 && (a & (0xffffffff >>> len)) !== 0) throw invalidArg(`addresses[${i}]`, `${formatIPv4(a)}/${len}`, 'a prefix without host bits set');
      const v = values[i]!;
      if (v < 0) throw invalidArg(`values[${i}]`, v, `an integer in 0..${MAX_VALUE}`);
      byLen[len + 1]!++;
    }
    for (let l = 1; l < 34; l++) byLen[l]! += byLen[l - 1]!;
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[byLen[lengths[i]!]!++] = i;
    const t = this.t;
    // About one node per 6.4 prefixes in Internet tables: avoids most regrowth.
    t.reserveNodes(t.nodeCount + Math.ceil(count / 6));
    for (let k = 0; k < count; k++) {
      const i = order[k]!;
      t.kw[0] = addresses[i]!;
      t.set(lengths[i]!, values[i]!);
    }
  }

  /** Removes every prefix. */
  clear(): void {
    this.t.clear();
  }

  /** Repacks the arrays to the size in use (after a bulk load or many deletes). */
  compact(): void {
    this.t.compact();
  }

  /** Calls fn for every prefix, in address order (shorter first); no allocation per prefix. */
  forEach(fn: (address: number, length: number, value: number) => void): void {
    const kw = this.t.kw;
    this.t.walk((len, value) => fn(kw[0]!, len, value));
  }

  /** Every prefix, in address order. */
  entries(): IterableIterator<Lpm4Entry> {
    const list: Lpm4Entry[] = [];
    this.forEach((address, length, value) => list.push({ address, length, value, prefix: `${formatIPv4(address)}/${length}` }));
    return list[Symbol.iterator]();
  }

  [Symbol.iterator](): IterableIterator<Lpm4Entry> {
    return this.entries();
  }

  /** Puts the key in the trie's key words; returns the length. */
  private key(a: string | number, b: number | undefined): number {
    let address: number;
    let len: number;
    if (typeof a === 'string') {
      const c = parseCidr(a);
      if (c.family !== 4) throw invalidArg('prefix', a, 'an IPv4 prefix');
      address = c.words[0]!;
      len = c.length;
    } else {
      address = checkInt('address', a, 0, 0xffffffff);
      len = checkInt('length', b, 0, 32);
      if (len < 32 && (address & (0xffffffff >>> len)) !== 0) {
        throw invalidArg('prefix', `${formatIPv4(address)}/${len}`, 'a prefix without host bits set');
      }
    }
    this.t.kw[0] = address;
    return len;
  }
}
