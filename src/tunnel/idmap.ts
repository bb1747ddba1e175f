/**
 * Small integer maps for demultiplexing on the hot path, on typed arrays with
 * open addressing (linear probing): VNI/key/label -> tenant, IPv4 address ->
 * index, IPv6 address -> index. No Map, no boxing, no allocation per lookup.
 */
import { fmix32 } from './flowhash.js';

const EMPTY = -1;

/** u32 key -> non-negative int32 value. */
export class IdMap {
  private keys: Uint32Array;
  private vals: Int32Array;
  private mask: number;
  private n = 0;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Uint32Array(cap);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.n;
  }

  /** The value for `key`, or -1. */
  get(key: number): number {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let i = fmix32(key) & mask;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) return -1;
      if (keys[i] === key) return v;
      i = (i + 1) & mask;
    }
  }

  set(key: number, value: number): void {
    if (value < 0) throw new RangeError(`value: ${value} is negative`);
    if ((this.n + 1) * 2 > this.keys.length) this.grow();
    let i = fmix32(key) & this.mask;
    while (this.vals[i] !== EMPTY && this.keys[i] !== key >>> 0) i = (i + 1) & this.mask;
    if (this.vals[i] === EMPTY) this.n++;
    this.keys[i] = key;
    this.vals[i] = value;
  }

  delete(key: number): boolean {
    const mask = this.mask;
    let i = fmix32(key) & mask;
    for (;;) {
      if (this.vals[i] === EMPTY) return false;
      if (this.keys[i] === key >>> 0) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion keeps probe chains intact without tombstones.
    this.vals[i] = EMPTY;
    this.n--;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.vals[j] === EMPTY) return true;
      const home = fmix32(this.keys[j]!) & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        this.keys[i] = this.keys[j]!;
        this.vals[i] = this.vals[j]!;
        this.vals[j] = EMPTY;
        i = j;
      }
    }
  }

  *entries(): IterableIterator<[number, number]> {
    for (let i = 0; i < this.vals.length; i++) if (this.vals[i] !== EMPTY) yield [this.keys[i]!, this.vals[i]!];
  }

  private grow(): void {
    const old = [...this.entries()];
    const cap = this.keys.length * 2;
    this.keys = new Uint32Array(cap);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.n = 0;
    for (const [k, v] of old) this.set(k, v);
  }
}

/** IPv6 address (four words) -> non-negative int32 value. */
export class Addr6Map {
  private keys: Uint32Array;
  private vals: Int32Array;
  private mask: number;
  private n = 0;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Uint32Array(cap * 4);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.n;
  }

  private static hash(a: number, b: number, c: number, d: number): number {
    return fmix32(a ^ fmix32(b ^ fmix32(c ^ fmix32(d))));
  }

  /** The value for the address words a.b.c.d, or -1. */
  get(a: number, b: number, c: number, d: number): number {
    const keys = this.keys;
    const mask = this.mask;
    let i = Addr6Map.hash(a, b, c, d) & mask;
    for (;;) {
      const v = this.vals[i]!;
      if (v === EMPTY) return -1;
      const k = i * 4;
      if (keys[k] === a >>> 0 && keys[k + 1] === b >>> 0 && keys[k + 2] === c >>> 0 && keys[k + 3] === d >>> 0) return v;
      i = (i + 1) & mask;
    }
  }

  /** get() with the address at words[off..off+4). */
  getWords(words: ArrayLike<number>, off: number): number {
    return this.get(words[off]!, words[off + 1]!, words[off + 2]!, words[off + 3]!);
  }

  set(words: ArrayLike<number>, off: number, value: number): void {
    if ((this.n + 1) * 2 > this.vals.length) this.grow();
    const a = words[off]! >>> 0, b = words[off + 1]! >>> 0, c = words[off + 2]! >>> 0, d = words[off + 3]! >>> 0;
    let i = Addr6Map.hash(a, b, c, d) & this.mask;
    for (;;) {
      if (this.vals[i] === EMPTY) {
        this.n++;
        break;
      }
      const k = i * 4;
      if (this.keys[k] === a && this.keys[k + 1] === b && this.keys[k + 2] === c && this.keys[k + 3] === d) break;
      i = (i + 1) & this.mask;
    }
    this.keys.set([a, b, c, d], i * 4);
    this.vals[i] = value;
  }

  /** Removes the address at words[off..off+4); false when absent. Backward-shift, as IdMap. */
  delete(words: ArrayLike<number>, off: number): boolean {
    const a = words[off]! >>> 0, b = words[off + 1]! >>> 0, c = words[off + 2]! >>> 0, d = words[off + 3]! >>> 0;
    const mask = this.mask;
    const keys = this.keys;
    let i = Addr6Map.hash(a, b, c, d) & mask;
    for (;;) {
      if (this.vals[i] === EMPTY) return false;
      const k = i * 4;
      if (keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d) break;
      i = (i + 1) & mask;
    }
    this.vals[i] = EMPTY;
    this.n--;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.vals[j] === EMPTY) return true;
      const home = Addr6Map.hash(keys[j * 4]!, keys[j * 4 + 1]!, keys[j * 4 + 2]!, keys[j * 4 + 3]!) & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        keys.copyWithin(i * 4, j * 4, j * 4 + 4);
        this.vals[i] = this.vals[j]!;
        this.vals[j] = EMPTY;
        i = j;
      }
    }
  }

  *entries(): IterableIterator<[Uint32Array, number]> {
    for (let i = 0; i < this.vals.length; i++) if (this.vals[i] !== EMPTY) yield [this.keys.slice(i * 4, i * 4 + 4), this.vals[i]!];
  }

  private grow(): void {
    const old = [...this.entries()];
    const cap = this.vals.length * 2;
    this.keys = new Uint32Array(cap * 4);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.n = 0;
    for (const [k, v] of old) this.set(k, 0, v);
  }
}
