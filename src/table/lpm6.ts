/**
 * IPv6 longest-prefix match: prefix -> value (non-negative 31-bit), -1 on a
 * miss. An address is four u32 words (word 0 holds the first four bytes, as in
 * src/wire/addr.ts); batches hold four consecutive words per address.
 *
 *   const t = new Lpm6();
 *   t.add('2001:db8::/32', 1);
 *   t.lookup(parseIPv6('2001:db8::1'));          // 1
 *   t.lookupBatch(words, out);                    // 4 words in, 1 value out per address
 *
 * Structure: DIR-16 then 4-bit nodes (see trie.ts): a /48 resolves in nine loads,
 * a /32 in five; Internet tables use the 2000::/3 part of the direct level only.
 */
import { check, checkInt, invalidArg } from '../errors.js';
import { formatIPv6, parseCidr } from '../util/addr.js';
import { PrefixTrie, type TrieStats } from './trie.js';
import type { LpmOptions } from './lpm4.js';

const DIR_BITS = 16;
const MAX_VALUE = 0x7fffffff;

export interface Lpm6Entry {
  /** The prefix's address as four words. */
  words: Uint32Array;
  length: number;
  value: number;
  /** "2001:db8::/32" */
  prefix: string;
}

export class Lpm6 {
  private readonly t: PrefixTrie;

  constructor(options: LpmOptions = {}) {
    const nodes = checkInt('nodes', options.nodes ?? 64, 0, 1 << 26);
    this.t = new PrefixTrie(128, DIR_BITS, nodes);
  }

  get size(): number {
    return this.t.size;
  }

  get bytes(): number {
    return this.t.bytes;
  }

  stats(): TrieStats {
    return this.t.stats();
  }

  /** Adds a prefix or replaces its value; returns the previous value or -1. */
  add(prefix: string, value: number): number;
  add(words: ArrayLike<number>, length: number, value: number): number;
  add(a: string | ArrayLike<number>, b: number, c?: number): number {
    const len = this.key(a, typeof a === 'string' ? undefined : b);
    const value = typeof a === 'string' ? b : c;
    checkInt('value', value, 0, MAX_VALUE);
    return this.t.set(len, value as number);
  }

  delete(prefix: string): boolean;
  delete(words: ArrayLike<number>, length: number): boolean;
  delete(a: string | ArrayLike<number>, b?: number): boolean {
    return this.t.delete(this.key(a, b)) !== -1;
  }

  get(prefix: string): number;
  get(words: ArrayLike<number>, length: number): number;
  get(a: string | ArrayLike<number>, b?: number): number {
    return this.t.get(this.key(a, b));
  }

  has(prefix: string): boolean;
  has(words: ArrayLike<number>, length: number): boolean;
  has(a: string | ArrayLike<number>, b?: number): boolean {
    return this.t.get(this.key(a, b)) !== -1;
  }

  /** Longest-prefix match of the address in words[off..off+4): the value, or -1. */
  lookup(words: Uint32Array, off = 0): number {
    const t = this.t.t;
    let w = words[off]!;
    let e = t[w >>> 16]!;
    if (e >= -1) return e;
    e = t[~e | ((w >>> 12) & 15)]!;
    if (e >= -1) return e;
    e = t[~e | ((w >>> 8) & 15)]!;
    if (e >= -1) return e;
    e = t[~e | ((w >>> 4) & 15)]!;
    if (e >= -1) return e;
    e = t[~e | (w & 15)]!;
    // Words 1..3: eight nibbles each; the last level holds leaves only.
    for (let k = 1; e < -1; k++) {
      w = words[off + k]!;
      for (let sh = 28; sh >= 0 && e < -1; sh -= 4) e = t[~e | ((w >>> sh) & 15)]!;
    }
    return e;
  }

  /** Looks up count addresses (4 words each) from words[0..4 * count) into out[0..count). */
  lookupBatch(words: Uint32Array, out: Int32Array, count: number = words.length >>> 2): void {
    if (4 * count > words.length || count > out.length || !(count >= 0)) {
      throw invalidArg('count', count, `at most ${Math.min(words.length >>> 2, out.length)} (addresses in words, length of out)`);
    }
    const t = this.t.t;
    for (let i = 0; i < count; i++) {
      const o = i << 2;
      let w = words[o]!;
      let e = t[w >>> 16]!;
      if (e < -1) {
        e = t[~e | ((w >>> 12) & 15)]!;
        if (e < -1) {
          e = t[~e | ((w >>> 8) & 15)]!;
          if (e < -1) {
            e = t[~e | ((w >>> 4) & 15)]!;
            if (e < -1) {
              e = t[~e | (w & 15)]!;
              for (let k = 1; e < -1; k++) {
                w = words[o + k]!;
                for (let sh = 28; sh >= 0 && e < -1; sh -= 4) e = t[~e | ((w >>> sh) & 15)]!;
              }
            }
          }
        }
      }
      out[i] = e;
    }
  }

  /** Adds many prefixes, shortest first: words holds 4 words per prefix. */
  load(words: Uint32Array, lengths: Uint8Array, values: Int32Array, count: number = lengths.length): void {
    check(4 * count <= words.length && count <= lengths.length && count <= values.length, 'count', count, 'within the three arrays');
    const byLen = new Uint32Array(130);
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      if (len > 128) throw invalidArg(`lengths[${i}]`, len, 'a prefix length of 0..128');
      if (hostBits(words, 4 * i, len)) throw invalidArg(`words[${4 * i}..]`, `${formatIPv6(words, 4 * i)}/${len}`, 'a prefix without host bits set');
      const v = values[i]!;
      if (v < 0) throw invalidArg(`values[${i}]`, v, `an integer in 0..${MAX_VALUE}`);
      byLen[len + 1]!++;
    }
    for (let l = 1; l < 130; l++) byLen[l]! += byLen[l - 1]!;
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[byLen[lengths[i]!]!++] = i;
    const t = this.t;
    // About 0.62 nodes per prefix in Internet IPv6 tables.
    t.reserveNodes(t.nodeCount + Math.ceil(count * 0.65));
    const kw = t.kw;
    for (let k = 0; k < count; k++) {
      const i = order[k]!;
      kw[0] = words[4 * i]!;
      kw[1] = words[4 * i + 1]!;
      kw[2] = words[4 * i + 2]!;
      kw[3] = words[4 * i + 3]!;
      t.set(lengths[i]!, values[i]!);
    }
  }

  clear(): void {
    this.t.clear();
  }

  compact(): void {
    this.t.compact();
  }

  /** Calls fn for every prefix in address order; `words` is reused between calls. */
  forEach(fn: (words: Uint32Array, length: number, value: number) => void): void {
    const kw = this.t.kw;
    this.t.walk((len, value) => fn(kw, len, value));
  }

  entries(): IterableIterator<Lpm6Entry> {
    const list: Lpm6Entry[] = [];
    this.forEach((w, length, value) => {
      list.push({ words: Uint32Array.from(w), length, value, prefix: `${formatIPv6(w)}/${length}` });
    });
    return list[Symbol.iterator]();
  }

  [Symbol.iterator](): IterableIterator<Lpm6Entry> {
    return this.entries();
  }

  private key(a: string | ArrayLike<number>, b: number | undefined): number {
    const kw = this.t.kw;
    let len: number;
    if (typeof a === 'string') {
      const c = parseCidr(a);
      if (c.family !== 6) throw invalidArg('prefix', a, 'an IPv6 prefix');
      kw.set(c.words);
      len = c.length;
    } else {
      if (a === null || typeof a !== 'object' || a.length !== 4) throw invalidArg('words', a, 'four 32-bit words');
      for (let i = 0; i < 4; i++) kw[i] = checkInt(`words[${i}]`, a[i], 0, 0xffffffff);
      len = checkInt('length', b, 0, 128);
      if (hostBits(kw, 0, len)) throw invalidArg('prefix', `${formatIPv6(kw)}/${len}`, 'a prefix without host bits set');
    }
    return len;
  }
}

/** True when the address at w[off..off+4) has bits set beyond `len`. */
function hostBits(w: ArrayLike<number>, off: number, len: number): boolean {
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(32, len - 32 * i));
    const host = keep === 32 ? 0 : 0xffffffff >>> keep;
    if ((w[off + i]! & host) !== 0) return true;
  }
  return false;
}
