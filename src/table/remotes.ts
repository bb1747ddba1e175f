/**
 * Remote VTEPs: underlay addresses of either family <-> small indexes, shared
 * by the FDB (a learned MAC points at a remote index), the next hops (a tunnel
 * names its remote by index) and the dataplane (which finds the index of a
 * decapsulated packet's source without allocating).
 *
 *   const remotes = new Remotes();
 *   const r = remotes.add('198.18.0.2');        // 0; adding it again returns 0
 *   remotes.find4(0xc6120002);                   // 0 (hot path, numbers only)
 *   remotes.family[r]; remotes.words[4 * r];     // 4, 0xc6120002
 */
import { VtepError, check, checkInt, invalidArg } from '../errors.js';
import { formatIPv4, formatIPv6, parseIp, type IpAddr } from '../util/addr.js';

export interface RemotesOptions {
  /** Most remotes at once (indexes are 0..capacity-1). Default 65536. */
  capacity?: number;
}

export interface RemoteEntry {
  index: number;
  family: 4 | 6;
  address: string;
}

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function hash4(a: number): number {
  return mix(a ^ 0x4);
}

function hash6(w0: number, w1: number, w2: number, w3: number): number {
  return mix(mix(mix(mix(w0 ^ 0x6) ^ w1) ^ w2) ^ w3);
}

export class Remotes {
  readonly capacity: number;
  /** Per index: 0 = free, 4 or 6. */
  readonly family: Uint8Array;
  /** Per index: the address, four words at 4 * index (IPv4 in word 0, the rest 0). */
  readonly words: Uint32Array;
  private readonly slots: Int32Array; // open addressing: index, or -1
  private readonly mask: number;
  private readonly free: Uint32Array; // stack of free indexes, lowest on top
  private top: number;
  private count = 0;

  constructor(options: RemotesOptions = {}) {
    this.capacity = checkInt('capacity', options.capacity ?? 65536, 1, 1 << 24);
    this.family = new Uint8Array(this.capacity);
    this.words = new Uint32Array(4 * this.capacity);
    let size = 4;
    while (size < 2 * this.capacity) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    this.free = new Uint32Array(this.capacity);
    for (let i = 0; i < this.capacity; i++) this.free[i] = this.capacity - 1 - i;
    this.top = this.capacity;
  }

  get size(): number {
    return this.count;
  }

  /** Index of an IPv4 remote (u32 address), or -1. No allocation. */
  find4(address: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = hash4(address) & mask; ; i = (i + 1) & mask) {
      const r = slots[i]!;
      if (r < 0) return -1;
      if (this.family[r] === 4 && this.words[4 * r] === address >>> 0) return r;
    }
  }

  /** Index of the IPv6 remote at words[off..off+4), or -1. No allocation. */
  find6(words: Uint32Array, off = 0): number {
    const w0 = words[off]!;
    const w1 = words[off + 1]!;
    const w2 = words[off + 2]!;
    const w3 = words[off + 3]!;
    const slots = this.slots;
    const mask = this.mask;
    const ws = this.words;
    for (let i = hash6(w0, w1, w2, w3) & mask; ; i = (i + 1) & mask) {
      const r = slots[i]!;
      if (r < 0) return -1;
      const o = 4 * r;
      if (this.family[r] === 6 && ws[o] === w0 && ws[o + 1] === w1 && ws[o + 2] === w2 && ws[o + 3] === w3) return r;
    }
  }

  /** Index of a remote given as text or parsed address, or -1. */
  indexOf(address: string | IpAddr): number {
    const a = typeof address === 'string' ? parseIp(address, 'remote') : address;
    return a.family === 4 ? this.find4(a.words[0]!) : this.find6(a.words, 0);
  }

  /** Adds a remote (or finds it) and returns its index. */
  add(address: string | IpAddr): number {
    const a = typeof address === 'string' ? parseIp(address, 'remote') : address;
    check(a !== null && typeof a === 'object' && (a.family === 4 || a.family === 6), 'remote', address, 'an IPv4 or IPv6 address');
    const found = this.indexOf(a);
    if (found >= 0) return found;
    if (this.top === 0) throw new VtepError('ERR_LIMIT', `remotes: all ${this.capacity} indexes in use`);
    const r = this.free[--this.top]!;
    this.family[r] = a.family;
    const o = 4 * r;
    if (a.family === 4) {
      this.words[o] = a.words[0]!;
      this.words[o + 1] = this.words[o + 2] = this.words[o + 3] = 0;
    } else this.words.set(a.words.subarray(0, 4), o);
    const h = a.family === 4 ? hash4(this.words[o]!) : hash6(this.words[o]!, this.words[o + 1]!, this.words[o + 2]!, this.words[o + 3]!);
    let i = h & this.mask;
    while (this.slots[i]! >= 0) i = (i + 1) & this.mask;
    this.slots[i] = r;
    this.count++;
    return r;
  }

  /** Removes a remote by index or address; false when there was none. */
  delete(remote: number | string): boolean {
    const r = typeof remote === 'number' ? remote : this.indexOf(remote);
    if (!Number.isInteger(r) || r < 0 || r >= this.capacity || this.family[r] === 0) return false;
    const o = 4 * r;
    const w = this.words;
    const h = this.family[r] === 4 ? hash4(w[o]!) : hash6(w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!);
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    while (slots[i] !== r) i = (i + 1) & mask;
    // Backward-shift deletion keeps probe chains whole without tombstones.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const x = slots[j]!;
      if (x < 0) break;
      const xo = 4 * x;
      const home = (this.family[x] === 4 ? hash4(w[xo]!) : hash6(w[xo]!, w[xo + 1]!, w[xo + 2]!, w[xo + 3]!)) & mask;
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        slots[i] = x;
        i = j;
      }
    }
    slots[i] = -1;
    this.family[r] = 0;
    w.fill(0, o, o + 4);
    // Keep the lowest free index on top so indexes stay dense.
    let k = this.top++;
    while (k > 0 && this.free[k - 1]! < r) {
      this.free[k] = this.free[k - 1]!;
      k--;
    }
    this.free[k] = r;
    this.count--;
    return true;
  }

  /** True when the index holds a remote. */
  has(index: number): boolean {
    return Number.isInteger(index) && index >= 0 && index < this.capacity && this.family[index] !== 0;
  }

  /** The remote's address as text. */
  address(index: number): string {
    if (!this.has(index)) throw invalidArg('remote', index, 'the index of a remote');
    return this.family[index] === 4 ? formatIPv4(this.words[4 * index]!) : formatIPv6(this.words, 4 * index);
  }

  *[Symbol.iterator](): IterableIterator<RemoteEntry> {
    for (let r = 0; r < this.capacity; r++) {
      if (this.family[r] !== 0) yield { index: r, family: this.family[r] as 4 | 6, address: this.address(r) };
    }
  }
}
