/**
 * The longest-prefix-match structure shared by Lpm4 and Lpm6: a multibit trie
 * with a direct-indexed first level (`dirBits` bits, 20 for IPv4, 16 for IPv6)
 * and 4-bit strides below it, leaf-pushed, in two Int32Arrays.
 *
 *   dir[top dirBits of the key]  -> entry
 *   nodes[16 * n + next 4 bits]  -> entry          (node n: one 64-byte line)
 *   entry >= -1: the answer (a value, or -1 for no route)
 *   entry <= -2: a node, n = ~entry (node 0 is reserved, so ~0 = -1 stays "no route")
 *
 * A lookup reads one dir entry and then one node per 4 bits until it meets a
 * leaf: an IPv4 /24 costs two dependent loads (a DIR-24-8 costs one, but its
 * 2^24 table is 64 MiB; this one is 4 MiB plus 64 bytes per /20 that holds a
 * longer prefix).
 *
 * Updates without a shadow table: every node carries a 30-bit map of the
 * prefixes that end inside it (lengths c+1..c+4 for a node at depth c, one bit
 * per position of the binary tree of depth 4) and their values in a packed
 * array (ordered by bit, found by popcount). Prefixes no longer than dirBits
 * live in a bitmap over the binary tree of depth dirBits and a small hash map.
 * Adding or deleting a prefix repaints only the slots under it that no longer
 * prefix covers (the bits tell which, without any search), and a node that no
 * longer holds a prefix or a child is freed. The same bits give exact-match
 * get(), the parent on delete and iteration.
 *
 * Keys are passed in `kw` (four 32-bit words, word 0 first; IPv4 uses word 0).
 */
import { VtepError } from '../errors.js';

/** Sizes of value blocks (a node holds at most 30 prefixes). */
const CLASS_SIZE = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32] as const;
/** Size class for a count of 0..32 values. */
const CLASS_OF = new Uint8Array(33);
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

/** Most nodes a trie may hold: ~n << 4 must stay a 32-bit index. */
const MAX_NODES = 1 << 26;

/**
 * Blocks of values in one Int32Array, in size classes, with a free list per
 * class threaded through the first word of each free block.
 */
class ValuePool {
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
class PosMap {
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

export interface TrieStats {
  /** Nodes in use (64 bytes of entries each). */
  nodes: number;
  /** Node slots allocated (in use, free and spare). */
  nodeCapacity: number;
  /** Bytes of the lookup structure: dir and node entries. */
  lookupBytes: number;
  /** Bytes of the control part: prefix bitmaps, value blocks, the direct-level map. */
  controlBytes: number;
}

export class PrefixTrie {
  /** Key width: 32 or 128. */
  readonly width: number;
  /** Bits of the direct-indexed level. */
  readonly dirBits: number;
  /** Direct level: 2^dirBits entries. */
  dir: Int32Array;
  /** Nodes: 16 entries each. */
  nodes: Int32Array;
  /** Per node: prefixes ending in it (bit (1 << d) - 2 + offset for relative length d = 1..4). */
  bits: Uint32Array;
  /** Per node: offset of its value block in vals.data. */
  voff: Uint32Array;
  /** Prefixes of length <= dirBits: bit (1 << len) | (top len bits). */
  dirMap: Uint32Array;
  private readonly dirVals: PosMap;
  private readonly vals: ValuePool;
  private readonly dirLenCount: Uint32Array;
  private nodeTop = 1; // node 0 is reserved
  private freeHead = 0;
  private live = 0;
  size = 0;

  /** The key of the current operation: four words, word 0 first. */
  readonly kw = new Uint32Array(4);
  private readonly pathNode: Int32Array;

  constructor(width: number, dirBits: number, nodeCapacity = 64) {
    this.width = width;
    this.dirBits = dirBits;
    this.dir = new Int32Array(1 << dirBits).fill(-1);
    const cap = Math.max(64, nodeCapacity);
    this.nodes = new Int32Array(16 * cap).fill(-1);
    this.bits = new Uint32Array(cap);
    this.voff = new Uint32Array(cap);
    this.dirMap = new Uint32Array(Math.max(1, (2 << dirBits) >>> 5));
    this.dirVals = new PosMap();
    this.vals = new ValuePool(cap * 2);
    this.dirLenCount = new Uint32Array(dirBits + 1);
    this.pathNode = new Int32Array(2 + ((width - dirBits) >>> 2));
  }

  clear(): void {
    this.dir.fill(-1);
    this.nodes = new Int32Array(16 * 64).fill(-1);
    this.bits = new Uint32Array(64);
    this.voff = new Uint32Array(64);
    this.dirMap.fill(0);
    this.dirVals.rehash(64);
    this.vals.reset(128);
    this.dirLenCount.fill(0);
    this.nodeTop = 1;
    this.freeHead = 0;
    this.live = 0;
    this.size = 0;
  }

  // ---- node allocation -------------------------------------------------------

  private allocNode(fill: number): number {
    let n = this.freeHead;
    if (n !== 0) {
      this.freeHead = this.nodes[n << 4]!;
    } else {
      if (this.nodeTop === this.bits.length) this.growNodes(this.nodeTop + Math.max(64, this.nodeTop >>> 3));
      n = this.nodeTop++;
    }
    this.nodes.fill(fill, n << 4, (n << 4) + 16);
    this.bits[n] = 0;
    this.live++;
    return n;
  }

  private freeNode(n: number): void {
    const cls = CLASS_OF[popcount32(this.bits[n]!)]!;
    if (cls !== 0) this.vals.free(this.voff[n]!, cls);
    this.bits[n] = 0;
    this.nodes[n << 4] = this.freeHead;
    this.freeHead = n;
    this.live--;
  }

  private growNodes(cap: number): void {
    if (cap > MAX_NODES) {
      if (this.nodeTop >= MAX_NODES) throw new VtepError('ERR_LIMIT', `lpm: more than ${MAX_NODES} trie nodes`);
      cap = MAX_NODES;
    }
    const nodes = new Int32Array(16 * cap);
    nodes.set(this.nodes.subarray(0, 16 * this.nodeTop));
    const bits = new Uint32Array(cap);
    bits.set(this.bits.subarray(0, this.nodeTop));
    const voff = new Uint32Array(cap);
    voff.set(this.voff.subarray(0, this.nodeTop));
    this.nodes = nodes;
    this.bits = bits;
    this.voff = voff;
  }

  /** Makes room for about `nodes` nodes in all (a hint before a bulk load). */
  reserveNodes(nodes: number): void {
    if (nodes > this.bits.length) this.growNodes(Math.min(MAX_NODES, nodes));
  }

  // ---- values of the prefixes inside a node ------------------------------------

  private nodeValue(n: number, b: number): number {
    const rank = popcount32(this.bits[n]! & ((1 << b) - 1));
    return this.vals.data[this.voff[n]! + rank]!;
  }

  /** Sets bit b of node n with value v (the bit may be set already). Returns the old value or -1. */
  private nodeSet(n: number, b: number, v: number): number {
    const bits = this.bits[n]!;
    const rank = popcount32(bits & ((1 << b) - 1));
    if ((bits >>> b) & 1) {
      const i = this.voff[n]! + rank;
      const old = this.vals.data[i]!;
      this.vals.data[i] = v;
      return old;
    }
    const count = popcount32(bits);
    const oldCls = CLASS_OF[count]!;
    const newCls = CLASS_OF[count + 1]!;
    const from = this.voff[n]!;
    if (newCls !== oldCls) {
      const to = this.vals.alloc(newCls); // may replace vals.data
      const d = this.vals.data;
      for (let k = 0; k < rank; k++) d[to + k] = d[from + k]!;
      for (let k = count; k > rank; k--) d[to + k] = d[from + k - 1]!;
      d[to + rank] = v;
      if (oldCls !== 0) this.vals.free(from, oldCls);
      this.voff[n] = to;
    } else {
      const d = this.vals.data;
      for (let k = count; k > rank; k--) d[from + k] = d[from + k - 1]!;
      d[from + rank] = v;
    }
    this.bits[n] = (bits | (1 << b)) >>> 0;
    return -1;
  }

  /** Clears bit b of node n (set). Returns its value. */
  private nodeClear(n: number, b: number): number {
    const bits = this.bits[n]!;
    const rank = popcount32(bits & ((1 << b) - 1));
    const count = popcount32(bits);
    const oldCls = CLASS_OF[count]!;
    const newCls = CLASS_OF[count - 1]!;
    const from = this.voff[n]!;
    const d = this.vals.data;
    const old = d[from + rank]!;
    if (newCls !== oldCls) {
      if (newCls !== 0) {
        const to = this.vals.alloc(newCls);
        const e = this.vals.data;
        for (let k = 0; k < rank; k++) e[to + k] = e[from + k]!;
        for (let k = rank + 1; k < count; k++) e[to + k - 1] = e[from + k]!;
        this.voff[n] = to;
      }
      this.vals.free(from, oldCls);
    } else {
      for (let k = rank + 1; k < count; k++) d[from + k - 1] = d[from + k]!;
    }
    this.bits[n] = (bits & ~(1 << b)) >>> 0;
    return old;
  }

  // ---- the direct level --------------------------------------------------------

  private dirTest(h: number): boolean {
    return ((this.dirMap[h >>> 5]! >>> (h & 31)) & 1) === 1;
  }

  /** Top `len` bits of word 0 (len <= dirBits <= 31). */
  private top(len: number): number {
    return len === 0 ? 0 : this.kw[0]! >>> (32 - len);
  }

  private nibble(c: number): number {
    return (this.kw[c >>> 5]! >>> (28 - (c & 31))) & 15;
  }

  // ---- painting ----------------------------------------------------------------

  /**
   * Writes v into every dir slot under position (r, l) that no prefix longer
   * than `lo` (and at most dirBits) covers, and on into the nodes below them.
   */
  private fillDir(r: number, l: number, lo: number, v: number): void {
    if (l > lo && this.dirTest((1 << l) | r)) return;
    const D = this.dirBits;
    if (l === D) {
      const e = this.dir[r]!;
      if (e >= -1) this.dir[r] = v;
      else this.fillNode(~e, 0, 0, 0, v);
      return;
    }
    // No prefix between l+1 and D: the whole range takes v.
    let any = false;
    for (let k = l + 1; k <= D; k++) {
      if (this.dirLenCount[k] !== 0) {
        any = true;
        break;
      }
    }
    if (!any) {
      const start = r << (D - l);
      const end = (r + 1) << (D - l);
      const dir = this.dir;
      for (let s = start; s < end; s++) {
        const e = dir[s]!;
        if (e >= -1) dir[s] = v;
        else this.fillNode(~e, 0, 0, 0, v);
      }
      return;
    }
    this.fillDir(r << 1, l + 1, lo, v);
    this.fillDir((r << 1) | 1, l + 1, lo, v);
  }

  /**
   * Writes v into the slots of node n under relative position (off, d) that no
   * prefix of the node longer than `lo` covers, and into child nodes.
   */
  private fillNode(n: number, off: number, d: number, lo: number, v: number): void {
    const bits = this.bits[n]!;
    if (d > lo && ((bits >>> ((1 << d) - 2 + off)) & 1) === 1) return;
    if (d === 4 || bits === 0) {
      const base = n << 4;
      const start = base + (off << (4 - d));
      const end = start + (1 << (4 - d));
      for (let i = start; i < end; i++) {
        const e = this.nodes[i]!;
        if (e >= -1) this.nodes[i] = v;
        else this.fillNode(~e, 0, 0, 0, v);
      }
      return;
    }
    this.fillNode(n, off << 1, d + 1, lo, v);
    this.fillNode(n, (off << 1) | 1, d + 1, lo, v);
  }

  // ---- operations on the key in kw -----------------------------------------------

  /** Exact match: the value of prefix (kw, len) or -1. */
  get(len: number): number {
    const D = this.dirBits;
    if (len <= D) {
      const h = (1 << len) | this.top(len);
      return this.dirTest(h) ? this.dirVals.get(h) : -1;
    }
    let e = this.dir[this.kw[0]! >>> (32 - D)]!;
    let c = D;
    for (;;) {
      if (e >= -1) return -1;
      const n = ~e;
      const nib = this.nibble(c);
      if (len <= c + 4) {
        const d = len - c;
        const b = (1 << d) - 2 + (nib >>> (4 - d));
        return ((this.bits[n]! >>> b) & 1) === 1 ? this.nodeValue(n, b) : -1;
      }
      e = this.nodes[(n << 4) | nib]!;
      c += 4;
    }
  }

  /** Adds or replaces prefix (kw, len) with value v; returns the old value or -1. */
  set(len: number, v: number): number {
    const D = this.dirBits;
    if (len <= D) {
      const r = this.top(len);
      const h = (1 << len) | r;
      let prev = -1;
      if (this.dirTest(h)) {
        prev = this.dirVals.get(h);
      } else {
        this.dirMap[h >>> 5] = (this.dirMap[h >>> 5]! | (1 << (h & 31))) >>> 0;
        this.dirLenCount[len]!++;
        this.size++;
      }
      this.dirVals.set(h, v);
      if (prev !== v) this.fillDir(r, len, len, v);
      return prev;
    }
    const s = this.kw[0]! >>> (32 - D);
    let e = this.dir[s]!;
    let n: number;
    if (e >= -1) {
      n = this.allocNode(e);
      this.dir[s] = ~n;
    } else n = ~e;
    let c = D;
    while (len > c + 4) {
      const i = (n << 4) | this.nibble(c);
      e = this.nodes[i]!;
      if (e >= -1) {
        const m = this.allocNode(e);
        this.nodes[i] = ~m;
        n = m;
      } else n = ~e;
      c += 4;
    }
    const d = len - c;
    const off = this.nibble(c) >>> (4 - d);
    const b = (1 << d) - 2 + off;
    const prev = this.nodeSet(n, b, v);
    if (prev === -1) this.size++;
    if (prev !== v) this.fillNode(n, off, d, d, v);
    return prev;
  }

  /** Deletes prefix (kw, len); returns its value or -1 when it was absent. */
  delete(len: number): number {
    const D = this.dirBits;
    if (len <= D) {
      const r = this.top(len);
      const h = (1 << len) | r;
      if (!this.dirTest(h)) return -1;
      const prev = this.dirVals.get(h);
      this.dirVals.delete(h);
      this.dirMap[h >>> 5] = (this.dirMap[h >>> 5]! & ~(1 << (h & 31))) >>> 0;
      this.dirLenCount[len]!--;
      this.size--;
      const pv = this.dirParent(r, len, len - 1);
      if (pv !== prev) this.fillDir(r, len, len, pv);
      return prev;
    }
    // Walk down, remembering the nodes.
    const path = this.pathNode;
    const s = this.kw[0]! >>> (32 - D);
    let e = this.dir[s]!;
    let c = D;
    let depth = 0;
    for (;;) {
      if (e >= -1) return -1;
      path[depth] = ~e;
      if (len <= c + 4) break;
      e = this.nodes[(~e << 4) | this.nibble(c)]!;
      c += 4;
      depth++;
    }
    const n = path[depth]!;
    const d = len - c;
    const off = this.nibble(c) >>> (4 - d);
    const b = (1 << d) - 2 + off;
    if (((this.bits[n]! >>> b) & 1) === 0) return -1;
    const prev = this.nodeClear(n, b);
    this.size--;
    const pv = this.parentValue(n, off, d, depth, c);
    if (pv !== prev) this.fillNode(n, off, d, d, pv);
    // Free the nodes that hold neither a prefix nor a child, bottom up.
    for (let k = depth; k >= 0; k--) {
      const m = path[k]!;
      if (this.bits[m] !== 0) break;
      const base = m << 4;
      let child = false;
      for (let i = base; i < base + 16; i++) {
        if (this.nodes[i]! < -1) {
          child = true;
          break;
        }
      }
      if (child) break;
      const leaf = this.nodes[base]!;
      const cut = D + 4 * k; // depth of node m
      this.freeNode(m);
      if (k === 0) this.dir[s] = leaf;
      else this.nodes[(path[k - 1]! << 4) | this.nibble(cut - 4)] = leaf;
    }
    return prev;
  }

  /** Value of the longest prefix of length <= maxLen over r (the top rBits bits of the key), or -1. */
  private dirParent(r: number, rBits: number, maxLen: number): number {
    for (let l = maxLen; l >= 0; l--) {
      const h = (1 << l) | (r >>> (rBits - l));
      if (this.dirTest(h)) return this.dirVals.get(h);
    }
    return -1;
  }

  /** Value of the longest prefix shorter than (n, off, d) at node depth c; path[0..depth] are the nodes. */
  private parentValue(n: number, off: number, d: number, depth: number, c: number): number {
    const bits = this.bits[n]!;
    for (let k = d - 1; k >= 1; k--) {
      const b = (1 << k) - 2 + (off >>> (d - k));
      if ((bits >>> b) & 1) return this.nodeValue(n, b);
    }
    for (let j = depth - 1; j >= 0; j--) {
      const m = this.pathNode[j]!;
      const mb = this.bits[m]!;
      if (mb === 0) continue;
      const nib = this.nibble(c - 4 * (depth - j));
      for (let k = 4; k >= 1; k--) {
        const b = (1 << k) - 2 + (nib >>> (4 - k));
        if ((mb >>> b) & 1) return this.nodeValue(m, b);
      }
    }
    const D = this.dirBits;
    return this.dirParent(this.kw[0]! >>> (32 - D), D, D);
  }

  // ---- walking -------------------------------------------------------------------

  /**
   * Calls fn(len, value) for every prefix in address order (shorter first at
   * equal addresses), with the prefix's address in kw.
   */
  walk(fn: (len: number, value: number) => void): void {
    this.kw.fill(0);
    this.walkDir(0, 0, fn);
    this.kw.fill(0);
  }

  private walkDir(r: number, l: number, fn: (len: number, value: number) => void): void {
    const D = this.dirBits;
    const h = (1 << l) | r;
    if (this.dirTest(h)) {
      this.kw[0] = l === 0 ? 0 : (r << (32 - l)) >>> 0;
      fn(l, this.dirVals.get(h));
    }
    if (l === D) {
      const e = this.dir[r]!;
      if (e < -1) {
        this.kw[0] = (r << (32 - D)) >>> 0;
        this.walkNode(~e, D, fn);
      }
      return;
    }
    this.walkDir(r << 1, l + 1, fn);
    this.walkDir((r << 1) | 1, l + 1, fn);
  }

  /** Node n at depth c; kw holds its prefix (bits beyond c are zero). */
  private walkNode(n: number, c: number, fn: (len: number, value: number) => void): void {
    this.walkRel(n, c, 0, 0, fn);
  }

  private walkRel(n: number, c: number, off: number, d: number, fn: (len: number, value: number) => void): void {
    const w = c >>> 5;
    const shift = 28 - (c & 31);
    if (d > 0) {
      const b = (1 << d) - 2 + off;
      if ((this.bits[n]! >>> b) & 1) {
        this.setNibble(w, shift, off << (4 - d));
        fn(c + d, this.nodeValue(n, b));
      }
    }
    if (d === 4) {
      const e = this.nodes[(n << 4) | off]!;
      if (e < -1) {
        this.setNibble(w, shift, off);
        this.walkNode(~e, c + 4, fn);
        // Child walks write below c + 4 only; clear them again.
        for (let k = (c + 4) >>> 5; k < 4; k++) {
          if (k === (c + 4) >>> 5) {
            const keep = (c + 4) & 31;
            this.kw[k] = keep === 0 ? 0 : (this.kw[k]! & (0xffffffff << (32 - keep))) >>> 0;
          } else this.kw[k] = 0;
        }
      }
      return;
    }
    this.walkRel(n, c, off << 1, d + 1, fn);
    this.walkRel(n, c, (off << 1) | 1, d + 1, fn);
  }

  private setNibble(w: number, shift: number, nib: number): void {
    this.kw[w] = ((this.kw[w]! & ~(15 << shift)) | (nib << shift)) >>> 0;
  }

  // ---- memory --------------------------------------------------------------------

  get nodeCount(): number {
    return this.live;
  }

  get bytes(): number {
    const s = this.stats();
    return s.lookupBytes + s.controlBytes;
  }

  stats(): TrieStats {
    return {
      nodes: this.live,
      nodeCapacity: this.bits.length,
      lookupBytes: this.dir.byteLength + this.nodes.byteLength,
      controlBytes:
        this.bits.byteLength + this.voff.byteLength + this.dirMap.byteLength + this.dirVals.bytes +
        this.vals.data.byteLength + this.dirLenCount.byteLength,
    };
  }

  /**
   * Rebuilds the nodes in depth-first order into arrays of exactly the size in
   * use (no free list, no spare capacity) and packs the value blocks. Lookups
   * see the same answers; the arrays are replaced.
   */
  compact(): void {
    const live = this.live;
    const nodes = new Int32Array(16 * (live + 1)).fill(-1);
    const bits = new Uint32Array(live + 1);
    const voff = new Uint32Array(live + 1);
    let total = 0;
    for (let n = 1; n < this.nodeTop; n++) {
      // Free nodes have bits 0; count the value words of the live ones.
      total += CLASS_SIZE[CLASS_OF[popcount32(this.bits[n]!)]!]!;
    }
    const pool = new ValuePool(total);
    let next = 1;
    const copy = (old: number): number => {
      const n = next++;
      const b = this.bits[old]!;
      bits[n] = b;
      const cls = CLASS_OF[popcount32(b)]!;
      if (cls !== 0) {
        const to = pool.alloc(cls);
        const from = this.voff[old]!;
        const cnt = popcount32(b);
        for (let k = 0; k < cnt; k++) pool.data[to + k] = this.vals.data[from + k]!;
        voff[n] = to;
      }
      for (let i = 0; i < 16; i++) {
        const e = this.nodes[(old << 4) | i]!;
        nodes[(n << 4) | i] = e >= -1 ? e : ~copy(~e);
      }
      return n;
    };
    const dir = this.dir;
    for (let s = 0; s < dir.length; s++) {
      const e = dir[s]!;
      if (e < -1) dir[s] = ~copy(~e);
    }
    this.nodes = nodes;
    this.bits = bits;
    this.voff = voff;
    this.vals.adopt(pool);
    this.nodeTop = next;
    this.freeHead = 0;
    this.dirVals.compact();
  }
}
