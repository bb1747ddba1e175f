/**
 * The longest-prefix-match structure shared by Lpm4 and Lpm6: a multibit trie
 * with a direct-indexed first level (`dirBits` bits, 20 for IPv4, 16 for IPv6)
 * and 4-bit strides below it, leaf-pushed, all in one Int32Array `t`:
 *
 *   t[top dirBits of the key]    -> entry          (the direct level: t[0 .. 2^dirBits))
 *   t[~entry | next 4 bits]      -> entry          (a node: 16 entries, one 64-byte line)
 *   entry >= -1: the answer (a value, or -1 for no route)
 *   entry <= -2: a node; ~entry is the offset of its first entry in t (a multiple of 16
 *                beyond the direct level, so OR-ing the next 4 bits indexes it)
 *
 * One array and pre-shifted offsets keep a level at three operations and one
 * bounds check in JavaScript (measured: a fifth faster than separate arrays).
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
import { CLASS_SIZE, CLASS_OF, popcount32, ValuePool, PosMap } from './trie-store.js';

/** Most nodes a trie may hold: ~n << 4 must stay a 32-bit index. */
const MAX_NODES = 1 << 26;

export interface TrieStats {
  /** Nodes in use (64 bytes of entries each). */
  nodes: number;
  /** Node slots allocated (in use, free and spare). */
  nodeCapacity: number;
  /** Bytes of the lookup structure: the direct level and the node entries. */
  lookupBytes: number;
  /** Bytes of the control part: prefix bitmaps, value blocks, the direct-level map. */
  controlBytes: number;
}

export class PrefixTrie {
  /** Key width: 32 or 128. */
  readonly width: number;
  /** Bits of the direct-indexed level. */
  readonly dirBits: number;
  /** Direct level, then the nodes (see the top of this file). Replaced when it grows. */
  t: Int32Array;
  /** Per node k: prefixes ending in it (bit (1 << d) - 2 + offset for relative length d = 1..4). */
  bits: Uint32Array;
  /** Per node k: offset of its value block in vals.data. */
  voff: Uint32Array;
  /** Prefixes of length <= dirBits: bit (1 << len) | (top len bits). */
  dirMap: Uint32Array;
  private readonly dirVals: PosMap;
  private readonly vals: ValuePool;
  private readonly dirLenCount: Uint32Array;
  /** Node k's entries start at t[(first + k) << 4]: the direct level fills the first 2^dirBits words. */
  private readonly first: number;
  private nodeTop = 0;
  private freeHead = -1;
  private live = 0;
  size = 0;

  /** The key of the current operation: four words, word 0 first. */
  readonly kw = new Uint32Array(4);
  /** Offsets of the nodes on the path of a delete. */
  private readonly path: Int32Array;

  constructor(width: number, dirBits: number, nodeCapacity = 64) {
    this.width = width;
    this.dirBits = dirBits;
    this.first = 1 << (dirBits - 4);
    const cap = Math.max(64, nodeCapacity);
    this.t = new Int32Array((1 << dirBits) + 16 * cap).fill(-1);
    this.bits = new Uint32Array(cap);
    this.voff = new Uint32Array(cap);
    this.dirMap = new Uint32Array(Math.max(1, (2 << dirBits) >>> 5));
    this.dirVals = new PosMap();
    this.vals = new ValuePool(cap * 2);
    this.dirLenCount = new Uint32Array(dirBits + 1);
    this.path = new Int32Array(2 + ((width - dirBits) >>> 2));
  }

  clear(): void {
    this.t = new Int32Array((1 << this.dirBits) + 16 * 64).fill(-1);
    this.bits = new Uint32Array(64);
    this.voff = new Uint32Array(64);
    this.dirMap.fill(0);
    this.dirVals.rehash(64);
    this.vals.reset(128);
    this.dirLenCount.fill(0);
    this.nodeTop = 0;
    this.freeHead = -1;
    this.live = 0;
    this.size = 0;
  }

  // ---- node allocation -------------------------------------------------------
  // A node is named by the offset of its first entry in t ("base"); its bits and
  // value block by its index k = base / 16 - first.

  private index(base: number): number {
    return (base >>> 4) - this.first;
  }

  /** A new node with all 16 entries `fill`; returns its base. May replace t. */
  private allocNode(fill: number): number {
    let k = this.freeHead;
    if (k >= 0) {
      this.freeHead = this.t[(this.first + k) << 4]!;
    } else {
      // Grow by an eighth (at least 4096 nodes: every growth copies the direct level too).
      if (this.nodeTop === this.bits.length) this.growNodes(this.nodeTop + Math.max(4096, this.nodeTop >>> 3));
      k = this.nodeTop++;
    }
    const base = (this.first + k) << 4;
    this.t.fill(fill, base, base + 16);
    this.bits[k] = 0;
    this.live++;
    return base;
  }

  private freeNode(base: number): void {
    const k = this.index(base);
    const cls = CLASS_OF[popcount32(this.bits[k]!)]!;
    if (cls !== 0) this.vals.free(this.voff[k]!, cls);
    this.bits[k] = 0;
    this.t[base] = this.freeHead;
    this.freeHead = k;
    this.live--;
  }

  private growNodes(cap: number): void {
    if (cap > MAX_NODES) {
      if (this.nodeTop >= MAX_NODES) throw new VtepError('ERR_LIMIT', `lpm: more than ${MAX_NODES} trie nodes`);
      cap = MAX_NODES;
    }
    const top = (this.first + this.nodeTop) << 4;
    const t = new Int32Array((this.first + cap) << 4);
    t.set(this.t.subarray(0, top));
    const bits = new Uint32Array(cap);
    bits.set(this.bits.subarray(0, this.nodeTop));
    const voff = new Uint32Array(cap);
    voff.set(this.voff.subarray(0, this.nodeTop));
    this.t = t;
    this.bits = bits;
    this.voff = voff;
  }

  /** Makes room for about `nodes` nodes in all (a hint before a bulk load). */
  reserveNodes(nodes: number): void {
    if (nodes > this.bits.length) this.growNodes(Math.min(MAX_NODES, nodes));
  }

  // ---- values of the prefixes inside a node (by node index k) -------------------

  private nodeValue(k: number, b: number): number {
    const rank = popcount32(this.bits[k]! & ((1 << b) - 1));
    return this.vals.data[this.voff[k]! + rank]!;
  }

  /** Sets bit b of node k with value v (the bit may be set already). Returns the old value or -1. */
  private nodeSet(k: number, b: number, v: number): number {
    const bits = this.bits[k]!;
    const rank = popcount32(bits & ((1 << b) - 1));
    if ((bits >>> b) & 1) {
      const i = this.voff[k]! + rank;
      const old = this.vals.data[i]!;
      this.vals.data[i] = v;
      return old;
    }
    const count = popcount32(bits);
    const oldCls = CLASS_OF[count]!;
    const newCls = CLASS_OF[count + 1]!;
    const from = this.voff[k]!;
    if (newCls !== oldCls) {
      const to = this.vals.alloc(newCls); // may replace vals.data
      const d = this.vals.data;
      for (let j = 0; j < rank; j++) d[to + j] = d[from + j]!;
      for (let j = count; j > rank; j--) d[to + j] = d[from + j - 1]!;
      d[to + rank] = v;
      if (oldCls !== 0) this.vals.free(from, oldCls);
      this.voff[k] = to;
    } else {
      const d = this.vals.data;
      for (let j = count; j > rank; j--) d[from + j] = d[from + j - 1]!;
      d[from + rank] = v;
    }
    this.bits[k] = (bits | (1 << b)) >>> 0;
    return -1;
  }

  /** Clears bit b of node k (set). Returns its value. */
  private nodeClear(k: number, b: number): number {
    const bits = this.bits[k]!;
    const rank = popcount32(bits & ((1 << b) - 1));
    const count = popcount32(bits);
    const oldCls = CLASS_OF[count]!;
    const newCls = CLASS_OF[count - 1]!;
    const from = this.voff[k]!;
    const d = this.vals.data;
    const old = d[from + rank]!;
    if (newCls !== oldCls) {
      if (newCls !== 0) {
        const to = this.vals.alloc(newCls);
        const e = this.vals.data;
        for (let j = 0; j < rank; j++) e[to + j] = e[from + j]!;
        for (let j = rank + 1; j < count; j++) e[to + j - 1] = e[from + j]!;
        this.voff[k] = to;
      }
      this.vals.free(from, oldCls);
    } else {
      for (let j = rank + 1; j < count; j++) d[from + j - 1] = d[from + j]!;
    }
    this.bits[k] = (bits & ~(1 << b)) >>> 0;
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
      const e = this.t[r]!;
      if (e >= -1) this.t[r] = v;
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
      const t = this.t;
      for (let s = start; s < end; s++) {
        const e = t[s]!;
        if (e >= -1) t[s] = v;
        else this.fillNode(~e, 0, 0, 0, v);
      }
      return;
    }
    this.fillDir(r << 1, l + 1, lo, v);
    this.fillDir((r << 1) | 1, l + 1, lo, v);
  }

  /**
   * Writes v into the entries of the node at `base` under relative position
   * (off, d) that no prefix of the node longer than `lo` covers, and into child
   * nodes.
   */
  private fillNode(base: number, off: number, d: number, lo: number, v: number): void {
    const bits = this.bits[this.index(base)]!;
    if (d > lo && ((bits >>> ((1 << d) - 2 + off)) & 1) === 1) return;
    if (d === 4 || bits === 0) {
      const start = base + (off << (4 - d));
      const end = start + (1 << (4 - d));
      const t = this.t;
      for (let i = start; i < end; i++) {
        const e = t[i]!;
        if (e >= -1) t[i] = v;
        else this.fillNode(~e, 0, 0, 0, v);
      }
      return;
    }
    this.fillNode(base, off << 1, d + 1, lo, v);
    this.fillNode(base, (off << 1) | 1, d + 1, lo, v);
  }

  // ---- operations on the key in kw -----------------------------------------------

  /** Exact match: the value of prefix (kw, len) or -1. */
  get(len: number): number {
    const D = this.dirBits;
    if (len <= D) {
      const h = (1 << len) | this.top(len);
      return this.dirTest(h) ? this.dirVals.get(h) : -1;
    }
    let e = this.t[this.kw[0]! >>> (32 - D)]!;
    let c = D;
    for (;;) {
      if (e >= -1) return -1;
      const nib = this.nibble(c);
      if (len <= c + 4) {
        const d = len - c;
        const b = (1 << d) - 2 + (nib >>> (4 - d));
        const k = this.index(~e);
        return ((this.bits[k]! >>> b) & 1) === 1 ? this.nodeValue(k, b) : -1;
      }
      e = this.t[~e | nib]!;
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
    // Walk down, making nodes where the path ends in a leaf (allocNode may replace t).
    let i = this.kw[0]! >>> (32 - D);
    let c = D;
    let base: number;
    for (;;) {
      const e = this.t[i]!;
      if (e >= -1) {
        base = this.allocNode(e);
        this.t[i] = ~base;
      } else base = ~e;
      if (len <= c + 4) break;
      i = base | this.nibble(c);
      c += 4;
    }
    const d = len - c;
    const off = this.nibble(c) >>> (4 - d);
    const b = (1 << d) - 2 + off;
    const prev = this.nodeSet(this.index(base), b, v);
    if (prev === -1) this.size++;
    if (prev !== v) this.fillNode(base, off, d, d, v);
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
    const path = this.path;
    const s = this.kw[0]! >>> (32 - D);
    let e = this.t[s]!;
    let c = D;
    let depth = 0;
    for (;;) {
      if (e >= -1) return -1;
      path[depth] = ~e;
      if (len <= c + 4) break;
      e = this.t[~e | this.nibble(c)]!;
      c += 4;
      depth++;
    }
    const base = path[depth]!;
    const k = this.index(base);
    const d = len - c;
    const off = this.nibble(c) >>> (4 - d);
    const b = (1 << d) - 2 + off;
    if (((this.bits[k]! >>> b) & 1) === 0) return -1;
    const prev = this.nodeClear(k, b);
    this.size--;
    const pv = this.parentValue(k, off, d, depth, c);
    if (pv !== prev) this.fillNode(base, off, d, d, pv);
    // Free the nodes that hold neither a prefix nor a child, bottom up.
    const t = this.t;
    for (let j = depth; j >= 0; j--) {
      const m = path[j]!;
      if (this.bits[this.index(m)] !== 0) break;
      let child = false;
      for (let i = m; i < m + 16; i++) {
        if (t[i]! < -1) {
          child = true;
          break;
        }
      }
      if (child) break;
      const leaf = t[m]!;
      const cut = D + 4 * j; // depth of node m
      this.freeNode(m);
      if (j === 0) t[s] = leaf;
      else t[path[j - 1]! | this.nibble(cut - 4)] = leaf;
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

  /** Value of the longest prefix shorter than (off, d) in node k at depth c; path[0..depth] are the nodes. */
  private parentValue(k: number, off: number, d: number, depth: number, c: number): number {
    const bits = this.bits[k]!;
    for (let j = d - 1; j >= 1; j--) {
      const b = (1 << j) - 2 + (off >>> (d - j));
      if ((bits >>> b) & 1) return this.nodeValue(k, b);
    }
    for (let p = depth - 1; p >= 0; p--) {
      const m = this.index(this.path[p]!);
      const mb = this.bits[m]!;
      if (mb === 0) continue;
      const nib = this.nibble(c - 4 * (depth - p));
      for (let j = 4; j >= 1; j--) {
        const b = (1 << j) - 2 + (nib >>> (4 - j));
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
      const e = this.t[r]!;
      if (e < -1) {
        this.kw[0] = (r << (32 - D)) >>> 0;
        this.walkRel(~e, D, 0, 0, fn);
      }
      return;
    }
    this.walkDir(r << 1, l + 1, fn);
    this.walkDir((r << 1) | 1, l + 1, fn);
  }

  /** Node at `base`, depth c, relative position (off, d); kw holds the node's prefix (bits beyond c are zero). */
  private walkRel(base: number, c: number, off: number, d: number, fn: (len: number, value: number) => void): void {
    const w = c >>> 5;
    const shift = 28 - (c & 31);
    if (d > 0) {
      const b = (1 << d) - 2 + off;
      const k = this.index(base);
      if ((this.bits[k]! >>> b) & 1) {
        this.setNibble(w, shift, off << (4 - d));
        fn(c + d, this.nodeValue(k, b));
      }
    }
    if (d === 4) {
      const e = this.t[base | off]!;
      if (e < -1) {
        this.setNibble(w, shift, off);
        this.walkRel(~e, c + 4, 0, 0, fn);
        // Child walks write below c + 4 only; clear them again.
        for (let j = (c + 4) >>> 5; j < 4; j++) {
          if (j === (c + 4) >>> 5) {
            const keep = (c + 4) & 31;
            this.kw[j] = keep === 0 ? 0 : (this.kw[j]! & (0xffffffff << (32 - keep))) >>> 0;
          } else this.kw[j] = 0;
        }
      }
      return;
    }
    this.walkRel(base, c, off << 1, d + 1, fn);
    this.walkRel(base, c, (off << 1) | 1, d + 1, fn);
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
      lookupBytes: this.t.byteLength,
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
    const cap = Math.max(1, this.live);
    const D = 1 << this.dirBits;
    const t = new Int32Array((this.first + cap) << 4).fill(-1);
    t.set(this.t.subarray(0, D));
    const bits = new Uint32Array(cap);
    const voff = new Uint32Array(cap);
    let total = 0;
    for (let k = 0; k < this.nodeTop; k++) {
      // Free nodes have bits 0; count the value words of the live ones.
      total += CLASS_SIZE[CLASS_OF[popcount32(this.bits[k]!)]!]!;
    }
    const pool = new ValuePool(total);
    let next = 0;
    const copy = (oldBase: number): number => {
      const k = next++;
      const base = (this.first + k) << 4;
      const ok = this.index(oldBase);
      const b = this.bits[ok]!;
      bits[k] = b;
      const cnt = popcount32(b);
      const cls = CLASS_OF[cnt]!;
      if (cls !== 0) {
        const to = pool.alloc(cls);
        const from = this.voff[ok]!;
        for (let j = 0; j < cnt; j++) pool.data[to + j] = this.vals.data[from + j]!;
        voff[k] = to;
      }
      for (let i = 0; i < 16; i++) {
        const e = this.t[oldBase + i]!;
        t[base + i] = e >= -1 ? e : ~copy(~e);
      }
      return base;
    };
    for (let s = 0; s < D; s++) {
      const e = t[s]!;
      if (e < -1) t[s] = ~copy(~e);
    }
    this.t = t;
    this.bits = bits;
    this.voff = voff;
    this.vals.adopt(pool);
    this.nodeTop = next;
    this.freeHead = -1;
    this.dirVals.compact();
  }
}
