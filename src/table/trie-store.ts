/**
 * The storage under PrefixTrie (trie.ts): value blocks in size classes
 * (ValuePool) and the map of the direct level's prefixes (PosMap), both over
 * typed arrays, and the popcount that ranks a node's prefixes.
 */

/** Sizes of value blocks (a node holds at most 30 prefixes). */
export const CLASS_SIZE = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32] as const;
/** Size class for a count of 0..32 values. */
export const CLASS_OF = new Uint8Array(33);
for (let c = 0, k = 0; c <= 32; c++) {
  while (CLASS_SIZE[k]! < c) k++;
  CLASS_OF[c] = k;
}

/** Set bits of a 32-bit word. */
export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * Blocks of values in one Int32Array, in size classes, with a free list per
 * class threaded through the first word of each free block.
 */
export class ValuePool {
  data: Int32Array;
  top = 0;
  private readonly heads = new Int32Array(CLASS_SIZE.length).fill(-1);

  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(64, capacity));
  }

  alloc(cls: number): number {
    const head = this.heads[cls]!;
    if (head >= 0) {
      this.heads[cls] = this.data[head]!;
      return head;
    }
    const size = CLASS_SIZE[cls]!;
    if (this.top + size > this.data.length) {
      const grown = new Int32Array(this.data.length + Math.max(this.data.length >>> 3, 1024));
      grown.set(this.data.subarray(0, this.top));
      this.data = grown;
    }
    const off = this.top;
    this.top += size;
    return off;
  }

  free(off: number, cls: number): void {
    this.data[off] = this.heads[cls]!;
    this.heads[cls] = off;
  }

  /** Takes over another pool's blocks (after a compaction). */
  adopt(other: ValuePool): void {
    this.data = other.data;
    this.top = other.top;
    this.heads.fill(-1);
  }

  reset(capacity: number): void {
    this.data = new Int32Array(Math.max(64, capacity));
    this.top = 0;
    this.heads.fill(-1);
  }
}

/**
 * Linear-probing map from a positive 32-bit key to a value, for the prefixes
 * of the direct level (keyed by their position in the binary tree). It is only
 * asked for keys known to be present (the bitmap says so), so a high load is
 * fine.
 */
export class PosMap {
  keys: Uint32Array;
  vals: Int32Array;
  size = 0;
  private mask: number;

  constructor(capacity = 64) {
    let cap = 64;
    while (cap * 0.875 < capacity) cap *= 2;
    this.keys = new Uint32Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private static hash(k: number): number {
    let h = Math.imul(k, 0x9e3779b1);
    h ^= h >>> 15;
    return h;
  }

  get(k: number): number {
    const keys = this.keys;
    const mask = this.mask;
    for (let i = PosMap.hash(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]!;
      if (x === k) return this.vals[i]!;
      if (x === 0) return -1;
    }
  }

  set(k: number, v: number): void {
    if ((this.size + 1) > this.keys.length * 0.875) this.rehash(this.keys.length * 2);
    const keys = this.keys;
    const mask = this.mask;
    for (let i = PosMap.hash(k) & mask; ; i = (i + 1) & mask) {
      const x = keys[i]!;
      if (x === k) {
        this.vals[i] = v;
        return;
      }
      if (x === 0) {
        keys[i] = k;
        this.vals[i] = v;
        this.size++;
        return;
      }
    }
  }

  delete(k: number): void {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let i = PosMap.hash(k) & mask;
    for (; ; i = (i + 1) & mask) {
      const x = keys[i]!;
      if (x === k) break;
      if (x === 0) return;
    }
    // Backward-shift deletion: no tombstones.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const x = keys[j]!;
      if (x === 0) break;
      const home = PosMap.hash(x) & mask;
      // Move x into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = x;
        vals[i] = vals[j]!;
        i = j;
      }
    }
    keys[i] = 0;
    this.size--;
  }

  rehash(cap: number): void {
    const oldK = this.keys;
    const oldV = this.vals;
    this.keys = new Uint32Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < oldK.length; i++) if (oldK[i] !== 0) this.set(oldK[i]!, oldV[i]!);
  }

  /** Shrinks to the smallest power of two that keeps the load at most 7/8. */
  compact(): void {
    let cap = 64;
    while (cap * 0.875 < this.size) cap *= 2;
    if (cap !== this.keys.length) this.rehash(cap);
  }

  get bytes(): number {
    return this.keys.byteLength + this.vals.byteLength;
  }
}
