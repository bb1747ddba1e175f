/**
 * The FDB: (bridge domain, MAC) -> value, for every bridge domain in one table.
 * A value is a local port id, or a remote VTEP index with bit 30 set
 * (FdbValue.remote(r)); the caller decides which ports and remotes exist.
 *
 *   const fdb = new Fdb({ ageMs: 300_000 });
 *   fdb.addStatic(bd, '02:00:00:00:00:01', FdbValue.port(1));
 *   fdb.learn(bd, macHi, macLo, FdbValue.remote(r), now);   // from a decapsulated frame's source
 *   fdb.lookup(bd, macHi, macLo);                           // value or -1 (then flood(bd))
 *   fdb.on('moved', (bd, mac, from, to) => ...);
 *
 * MACs on the hot path are two numbers, the top 16 bits (first two bytes) and
 * the low 32 bits, so no 48-bit double math runs per packet; lookupAt() and
 * learnAt() read them straight from frame bytes.
 *
 * Layout: bucketized cuckoo hashing, buckets of 4 slots, each slot four Int32
 * words [bd << 16 | macHi, macLo, value, flags], so one bucket is one 64-byte
 * line and a lookup reads at most two lines. The table fills up to 95% before
 * it grows (to 75%, not by 2x: bucket counts are m * 2^k, see bucketOf): a
 * denser table stays in cache and runs 1.35-2x faster at a million entries. Last-seen times live apart, in a Float64Array, since
 * lookups never read them.
 *
 * Learning follows the Linux bridge: a new source MAC is learned, a known one
 * refreshed, one seen behind another port or remote moved; static entries never
 * move or age. Group and all-zero source MACs are never learned. At the
 * per-domain or overall limit of learned entries, learning stops (counted, and
 * one 'limit' event per episode); static entries still go in. Events fire only
 * on changes, never per lookup or refresh.
 */
import { EventEmitter } from 'node:events';
import { VtepError, checkInt, invalidArg } from '../errors.js';
import { formatMac, parseMac } from '../util/addr.js';
import { Learn, MAX_BD, type LearnStatus, type FdbOptions, type FdbEvents, type FdbEntry, type FdbCounters } from './fdb-types.js';

export * from './fdb-types.js';

const LEARNED = 1;
const STATIC = 2;
/** Static until learning sees the MAC elsewhere, which turns it into a learned entry (Linux's extern_learn). */
const EXTERN = 3;
const EMPTY_KEY = -1;
const NO_LIMIT = 0xffffffff;

/**
 * The bucket hash: two independent multiplies (short, because in a memory-bound
 * loop every instruction per lookup costs lookups in flight; measured 30% faster
 * than a three-multiply finalizer). Its top bits pick the bucket. For one bridge
 * domain and OUI it is a bijection of the low 32 bits, and the per-table seed
 * keeps colliding MAC sets from being computed in advance.
 */
function hash1(k1: number, k2: number, seed: number): number {
  return Math.imul(k2 ^ seed, 0x9e3779b1) ^ Math.imul(k1, 0x85ebca6b);
}

function hash2(h: number): number {
  h = Math.imul(h ^ (h >>> 13), 0x5bd1e995);
  return h ^ (h >>> 15);
}

/**
 * Bucket counts are m * 2^k with m in 8..15 (any size to within an eighth), and
 * a hash maps onto them by a multiply-high in 32-bit integers: the top k + 4
 * bits times m, shifted right by 4. Three integer operations, no float.
 */
function bucketOf(h: number, shift: number, m: number): number {
  return Math.imul(h >>> shift, m) >>> 4;
}

/** m and k for the smallest m * 2^k >= n (m in 8..15 once n > 15). */
function shapeFor(n: number): [m: number, k: number] {
  let k = 0;
  while (15 << k < n) k++;
  return [Math.max(2, Math.ceil(n / (1 << k))), k];
}

/** Most buckets, i.e. 8M slots (k + 8 <= 31 keeps bucketOf in 32 bits). */
const MAX_BUCKETS = 1 << 21;
/** Fill at which the table grows, and the fill it grows to. */
const MAX_LOAD = 0.95;
const GROWN_LOAD = 0.75;

export class Fdb extends EventEmitter<FdbEvents> {
  readonly ageMs: number;
  readonly maxLearned: number;
  readonly clock: () => number;
  /** The owner's clock reading (FdbOptions.time), or null. */
  private readonly time: Float64Array | null;
  /** Hash seed (see hash1). */
  readonly seed: number;
  readonly counters: FdbCounters = { learned: 0, refreshed: 0, moved: 0, limit: 0, staticConflict: 0, invalid: 0, aged: 0 };

  private t: Int32Array; // 16 words per bucket
  private seen: Float64Array; // per slot
  private nb: number; // buckets = m << (28 - shift)
  private shift: number;
  private m: number;
  private count = 0;
  private learnedTotal = 0;
  private readonly perBd = new Uint32Array(MAX_BD + 1);
  private readonly bdLimits = new Uint32Array(MAX_BD + 1);
  private readonly bdLimitHit = new Uint8Array(MAX_BD + 1);
  private totalLimitHit = false;
  private readonly defaultBdLimit: number;
  private readonly floods = new Map<number, Uint32Array>();
  private rnd = 0x2545f491;
  /** The entry a failed kick chain left without a slot (key words, value, flags) and its last-seen time. */
  private readonly homeless = new Int32Array(4);
  private homelessSeen = 0;

  constructor(options: FdbOptions = {}) {
    super();
    const capacity = checkInt('capacity', options.capacity ?? 1024, 1, 4 * MAX_BUCKETS);
    this.maxLearned = checkInt('maxLearned', options.maxLearned ?? 1 << 20, 0, 4 * MAX_BUCKETS);
    this.defaultBdLimit = options.bdLimit === undefined ? NO_LIMIT : checkInt('bdLimit', options.bdLimit, 0, 1 << 26);
    this.ageMs = checkInt('ageMs', options.ageMs ?? 300_000, 1, 2 ** 40);
    if (options.clock !== undefined && typeof options.clock !== 'function') throw invalidArg('clock', options.clock, 'a function returning milliseconds');
    this.clock = options.clock ?? (() => performance.now());
    if (options.time !== undefined && !(options.time instanceof Float64Array && options.time.length >= 1)) throw invalidArg('time', options.time, 'a Float64Array');
    this.time = options.time ?? null;
    this.seed = options.seed === undefined ? (Math.random() * 2 ** 32) | 0 : checkInt('seed', options.seed, 0, 0xffffffff) | 0;
    this.bdLimits.fill(this.defaultBdLimit);
    const [m, k] = shapeFor(Math.min(MAX_BUCKETS, Math.max(2, Math.ceil(capacity / (4 * 0.9)))));
    this.m = m;
    this.shift = 28 - k;
    this.nb = m << k;
    this.t = new Int32Array(16 * this.nb);
    this.seen = new Float64Array(4 * this.nb);
    this.clearSlots(this.t);
  }

  private clearSlots(t: Int32Array): void {
    for (let o = 0; o < t.length; o += 4) {
      t[o] = EMPTY_KEY;
      t[o | 1] = 0;
      t[o | 2] = -1;
      t[o | 3] = 0;
    }
  }

  /** Entries (learned and static). */
  get size(): number {
    return this.count;
  }

  get learnedCount(): number {
    return this.learnedTotal;
  }

  /** Learned entries in one bridge domain. */
  learnedIn(bd: number): number {
    return this.perBd[bd] ?? 0;
  }

  /** Table shape: buckets (m * 2^k) of 4 slots, entries, fill. */
  stats(): { buckets: number; m: number; k: number; slots: number; entries: number; load: number; bytes: number } {
    return { buckets: this.nb, m: this.m, k: 28 - this.shift, slots: 4 * this.nb, entries: this.count, load: this.count / (4 * this.nb), bytes: this.bytes };
  }

  get bytes(): number {
    return this.t.byteLength + this.seen.byteLength + this.perBd.byteLength + this.bdLimits.byteLength + this.bdLimitHit.byteLength;
  }

  // ---- the hot path ------------------------------------------------------------

  /** The value for (bd, MAC), or -1. MAC as its top 16 and low 32 bits. No allocation. */
  lookup(bd: number, macHi: number, macLo: number): number {
    // The low 32 bits tell MACs apart best (the top 16 are often a shared OUI): compare them first.
    const k1 = (bd << 16) | macHi;
    const k2 = macLo | 0;
    const t = this.t;
    const h = hash1(k1, k2, this.seed);
    const b1 = Math.imul(h >>> this.shift, this.m) >>> 4;
    let o = b1 << 4;
    if (t[o | 1] === k2 && t[o] === k1) return t[o | 2]!;
    if (t[o | 5] === k2 && t[o | 4] === k1) return t[o | 6]!;
    if (t[o | 9] === k2 && t[o | 8] === k1) return t[o | 10]!;
    if (t[o | 13] === k2 && t[o | 12] === k1) return t[o | 14]!;
    o = this.other(h, b1) << 4;
    if (t[o | 1] === k2 && t[o] === k1) return t[o | 2]!;
    if (t[o | 5] === k2 && t[o | 4] === k1) return t[o | 6]!;
    if (t[o | 9] === k2 && t[o | 8] === k1) return t[o | 10]!;
    if (t[o | 13] === k2 && t[o | 12] === k1) return t[o | 14]!;
    return -1;
  }

  /** lookup() with the MAC read from frame bytes u8[off..off+6) (a destination MAC at off 0). */
  lookupAt(bd: number, u8: Uint8Array, off: number): number {
    return this.lookup(bd, (u8[off]! << 8) | u8[off + 1]!, (u8[off + 2]! << 24) | (u8[off + 3]! << 16) | (u8[off + 4]! << 8) | u8[off + 5]!);
  }

  /** lookup() for n keys (bd[i], macHi[i], macLo[i]) into out[0..n). */
  lookupBatch(bd: Uint32Array, macHi: Uint32Array, macLo: Uint32Array, out: Int32Array, n: number = out.length): void {
    if (!(n >= 0) || n > bd.length || n > macHi.length || n > macLo.length || n > out.length) {
      throw invalidArg('n', n, 'within bd, macHi, macLo and out');
    }
    // lookup() with the table's fields in locals.
    const t = this.t;
    const seed = this.seed;
    const shift = this.shift;
    const m = this.m;
    for (let i = 0; i < n; i++) {
      const k1 = (bd[i]! << 16) | macHi[i]!;
      const k2 = macLo[i]! | 0;
      const h = Math.imul(k2 ^ seed, 0x9e3779b1) ^ Math.imul(k1, 0x85ebca6b);
      const b1 = Math.imul(h >>> shift, m) >>> 4;
      const o = b1 << 4;
      let r: number;
      if (t[o | 1] === k2 && t[o] === k1) r = t[o | 2]!;
      else if (t[o | 5] === k2 && t[o | 4] === k1) r = t[o | 6]!;
      else if (t[o | 9] === k2 && t[o | 8] === k1) r = t[o | 10]!;
      else if (t[o | 13] === k2 && t[o | 12] === k1) r = t[o | 14]!;
      else r = this.second(h, b1, k1, k2);
      out[i] = r;
    }
  }

  /** The second-bucket half of a lookup. */
  private second(h: number, b1: number, k1: number, k2: number): number {
    const t = this.t;
    const o = this.other(h, b1) << 4;
    if (t[o | 1] === k2 && t[o] === k1) return t[o | 2]!;
    if (t[o | 5] === k2 && t[o | 4] === k1) return t[o | 6]!;
    if (t[o | 9] === k2 && t[o | 8] === k1) return t[o | 10]!;
    if (t[o | 13] === k2 && t[o | 12] === k1) return t[o | 14]!;
    return -1;
  }

  /**
   * Learns that (bd, MAC) is reached through `value` (a frame came from there).
   * Returns a Learn status; never throws. Without `now` (ms), the time is
   * FdbOptions.time's reading, else a clock call.
   */
  learn(bd: number, macHi: number, macLo: number, value: number, now?: number): LearnStatus {
    if (!(bd >= 0 && bd <= MAX_BD) || (macHi & 0x100) !== 0 || (macHi === 0 && macLo === 0) || !(value >= 0) || macHi >>> 16 !== 0) {
      this.counters.invalid++;
      return Learn.INVALID;
    }
    const k1 = (bd << 16) | macHi;
    const k2 = macLo | 0;
    const s = this.find(k1, k2);
    if (s >= 0) {
      const t = this.t;
      const o = s << 2;
      const flags = t[o | 3]!;
      if (flags !== LEARNED) {
        if (t[o | 2] === value) return Learn.REFRESHED;
        if (flags === STATIC) {
          this.counters.staticConflict++;
          return Learn.STATIC_CONFLICT;
        }
        // An external entry seen elsewhere: learning takes it over (counted as learned, then ages).
        t[o | 3] = LEARNED;
        this.learnedTotal++;
        this.perBd[bd]!++;
      }
      // Three stores, not one of a conditional: that would merge a tagged value with a double (a heap number).
      const time = this.time;
      if (now !== undefined) this.seen[s] = now;
      else if (time !== null) this.seen[s] = time[0]!;
      else this.seen[s] = this.clock();
      const old = t[o | 2]!;
      if (old === (value | 0)) {
        this.counters.refreshed++;
        return Learn.REFRESHED;
      }
      t[o | 2] = value;
      this.counters.moved++;
      if (this.listenerCount('moved') > 0) this.emit('moved', bd, macHi * 0x100000000 + (macLo >>> 0), old, value);
      return Learn.MOVED;
    }
    if (this.learnedTotal >= this.maxLearned) return this.refuse(bd, 'total', this.maxLearned);
    if (this.perBd[bd]! >= this.bdLimits[bd]!) return this.refuse(bd, 'bd', this.bdLimits[bd]!);
    this.insert(k1, k2, value, LEARNED, now !== undefined ? now : this.time !== null ? this.time[0]! : this.clock());
    this.learnedTotal++;
    this.perBd[bd]!++;
    this.counters.learned++;
    if (this.listenerCount('learned') > 0) this.emit('learned', bd, macHi * 0x100000000 + (macLo >>> 0), value);
    return Learn.NEW;
  }

  /** learn() with the MAC read from frame bytes u8[off..off+6) (a source MAC at off 6). */
  learnAt(bd: number, u8: Uint8Array, off: number, value: number, now?: number): LearnStatus {
    return this.learn(bd, (u8[off]! << 8) | u8[off + 1]!, ((u8[off + 2]! << 24) | (u8[off + 3]! << 16) | (u8[off + 4]! << 8) | u8[off + 5]!) >>> 0, value, now);
  }

  private refuse(bd: number, scope: 'bd' | 'total', limit: number): LearnStatus {
    this.counters.limit++;
    const first = scope === 'total' ? !this.totalLimitHit : this.bdLimitHit[bd] === 0;
    if (first) {
      if (scope === 'total') this.totalLimitHit = true;
      else this.bdLimitHit[bd] = 1;
      this.emit('limit', bd, scope, limit);
    }
    return Learn.LIMIT;
  }

  // ---- control -------------------------------------------------------------------

  /**
   * Adds or replaces a static entry (never ages, never moves, not limited).
   * `extern`: an entry another source of truth installed (a control plane):
   * static until learning sees the MAC elsewhere, as Linux's extern_learn.
   */
  addStatic(bd: number, mac: number | string, value: number, extern = false): void {
    checkInt('bd', bd, 0, MAX_BD);
    const m = this.mac(mac);
    checkInt('value', value, 0, 0x7fffffff);
    const k1 = (bd << 16) | Math.floor(m / 0x100000000);
    const k2 = m | 0;
    const s = this.find(k1, k2);
    if (s >= 0) {
      const o = s << 2;
      if (this.t[o | 3] === LEARNED) this.dropLearned(bd);
      this.t[o | 2] = value;
      this.t[o | 3] = extern ? EXTERN : STATIC;
      return;
    }
    this.insert(k1, k2, value, extern ? EXTERN : STATIC, 0);
  }

  /** Removes an entry (learned or static); false when there was none. */
  delete(bd: number, mac: number | string): boolean {
    checkInt('bd', bd, 0, MAX_BD);
    const m = this.mac(mac);
    const s = this.find((bd << 16) | Math.floor(m / 0x100000000), m | 0);
    if (s < 0) return false;
    this.removeSlot(s);
    return true;
  }

  /** The value of (bd, MAC) or -1; MAC as a number or text. */
  get(bd: number, mac: number | string): number {
    checkInt('bd', bd, 0, MAX_BD);
    const m = this.mac(mac);
    return this.lookup(bd, Math.floor(m / 0x100000000), m >>> 0);
  }

  /** Is (bd, MAC) a static entry? */
  isStatic(bd: number, mac: number | string): boolean {
    checkInt('bd', bd, 0, MAX_BD);
    const m = this.mac(mac);
    const s = this.find((bd << 16) | Math.floor(m / 0x100000000), m | 0);
    return s >= 0 && this.t[(s << 2) + 3]! >= STATIC;
  }

  /**
   * Removes the learned entries not seen for ageMs; returns how many, with an
   * 'aged' event each.
   */
  age(now: number = this.clock()): number {
    const t = this.t;
    const seen = this.seen;
    const limit = now - this.ageMs;
    // Remove first, then emit (a listener may change the table); collect only when someone listens.
    const gone: number[] | undefined = this.listenerCount('aged') > 0 ? [] : undefined;
    let n = 0;
    for (let s = 0; s < seen.length; s++) {
      const o = s << 2;
      if (t[o | 3] === LEARNED && seen[s]! <= limit) {
        gone?.push(t[o]! >>> 16, (t[o]! & 0xffff) * 0x100000000 + (t[o | 1]! >>> 0), t[o | 2]!);
        this.removeSlot(s);
        n++;
      }
    }
    this.counters.aged += n;
    if (gone !== undefined) for (let i = 0; i < gone.length; i += 3) this.emit('aged', gone[i]!, gone[i + 1]!, gone[i + 2]!);
    return n;
  }

  /**
   * Removes entries matching all given fields: learned only unless `static` is
   * true. E.g. flush({ value: FdbValue.remote(r) }) when a remote goes away.
   */
  flush(filter: { bd?: number; value?: number; static?: boolean } = {}): number {
    const t = this.t;
    let n = 0;
    for (let s = 0; s < this.seen.length; s++) {
      const o = s << 2;
      const flags = t[o | 3]!;
      if (flags === 0 || (flags >= STATIC && filter.static !== true)) continue;
      if (filter.bd !== undefined && t[o]! >>> 16 !== filter.bd) continue;
      if (filter.value !== undefined && t[o | 2] !== filter.value) continue;
      this.removeSlot(s);
      n++;
    }
    return n;
  }

  /** Learned-entry limit of one domain (undefined: back to the default). */
  setLimit(bd: number, limit: number | undefined): void {
    checkInt('bd', bd, 0, MAX_BD);
    this.bdLimits[bd] = limit === undefined ? this.defaultBdLimit : checkInt('limit', limit, 0, 1 << 26);
    this.bdLimitHit[bd] = 0;
  }

  limitOf(bd: number): number {
    const l = this.bdLimits[bd] ?? NO_LIMIT;
    return l === NO_LIMIT ? Infinity : l;
  }

  // ---- flood lists -----------------------------------------------------------------

  /** Sets the remotes a domain's broadcast, unknown unicast and multicast go to. */
  setFlood(bd: number, remotes: ArrayLike<number>): void {
    checkInt('bd', bd, 0, MAX_BD);
    const list = Uint32Array.from(remotes, (r, i) => checkInt(`remotes[${i}]`, r, 0, 0xffffffff));
    if (new Set(list).size !== list.length) throw invalidArg('remotes', Array.from(remotes), 'a list without repeats');
    if (list.length === 0) this.floods.delete(bd);
    else this.floods.set(bd, list);
  }

  addFlood(bd: number, remote: number): void {
    const cur = this.flood(bd);
    if (!cur.includes(remote)) this.setFlood(bd, [...cur, remote]);
  }

  removeFlood(bd: number, remote: number): boolean {
    const cur = this.flood(bd);
    if (!cur.includes(remote)) return false;
    this.setFlood(bd, cur.filter((r) => r !== remote));
    return true;
  }

  /** The flood list of a domain (the stored array itself; do not modify). No allocation. */
  flood(bd: number): Uint32Array {
    return this.floods.get(bd) ?? EMPTY_FLOOD;
  }

  // ---- iteration ---------------------------------------------------------------------

  *entries(): IterableIterator<FdbEntry> {
    const t = this.t;
    for (let s = 0; s < this.seen.length; s++) {
      const o = s << 2;
      const flags = t[o | 3]!;
      if (flags === 0) continue;
      const mac = (t[o]! & 0xffff) * 0x100000000 + (t[o | 1]! >>> 0);
      yield { bd: t[o]! >>> 16, mac, macText: formatMac(mac), value: t[o | 2]!, static: flags >= STATIC, lastSeen: flags >= STATIC ? NaN : this.seen[s]! };
    }
  }

  [Symbol.iterator](): IterableIterator<FdbEntry> {
    return this.entries();
  }

  // ---- the table -----------------------------------------------------------------------

  private mac(mac: number | string): number {
    return typeof mac === 'string' ? parseMac(mac) : checkInt('mac', mac, 0, 2 ** 48 - 1);
  }

  /** The second bucket of a key whose hash is h and first bucket b1. */
  private other(h: number, b1: number): number {
    const b2 = bucketOf(hash2(h), this.shift, this.m);
    return b2 !== b1 ? b2 : b1 + 1 === this.nb ? 0 : b1 + 1;
  }

  /** Slot of a key, or -1. */
  private find(k1: number, k2: number): number {
    const t = this.t;
    const h = hash1(k1, k2, this.seed);
    const b1 = bucketOf(h, this.shift, this.m);
    for (let s = b1 << 2; s < (b1 << 2) + 4; s++) if (t[s << 2] === k1 && t[(s << 2) + 1] === k2) return s;
    const b2 = this.other(h, b1);
    for (let s = b2 << 2; s < (b2 << 2) + 4; s++) if (t[s << 2] === k1 && t[(s << 2) + 1] === k2) return s;
    return -1;
  }

  private removeSlot(s: number): void {
    const t = this.t;
    const o = s << 2;
    if (t[o | 3] === LEARNED) this.dropLearned(t[o]! >>> 16);
    t[o] = EMPTY_KEY;
    t[o | 1] = 0;
    t[o | 2] = -1;
    t[o | 3] = 0;
    this.seen[s] = 0;
    this.count--;
  }

  private dropLearned(bd: number): void {
    this.learnedTotal--;
    this.perBd[bd]!--;
    this.bdLimitHit[bd] = 0;
    this.totalLimitHit = false;
  }

  /** Places a new key (not present), growing the table when it is too full or a kick chain fails. */
  private insert(k1: number, k2: number, value: number, flags: number, seen: number): void {
    if (this.count + 1 > this.nb * 4 * MAX_LOAD) this.grow();
    let ok = this.placeOrKick(k1, k2, value, flags, seen);
    while (!ok) {
      const h = this.homeless;
      const [a, b, v, f, ts] = [h[0]!, h[1]!, h[2]!, h[3]!, this.homelessSeen];
      this.grow();
      ok = this.placeOrKick(a, b, v, f, ts);
    }
    this.count++;
  }

  private place(k1: number, k2: number, value: number, flags: number, seen: number): boolean {
    const h = hash1(k1, k2, this.seed);
    const b1 = bucketOf(h, this.shift, this.m);
    if (this.placeIn(b1, k1, k2, value, flags, seen)) return true;
    return this.placeIn(this.other(h, b1), k1, k2, value, flags, seen);
  }

  private placeIn(b: number, k1: number, k2: number, value: number, flags: number, seen: number): boolean {
    const t = this.t;
    for (let s = b << 2; s < (b << 2) + 4; s++) {
      const o = s << 2;
      if (t[o | 3] === 0) {
        t[o] = k1;
        t[o | 1] = k2;
        t[o | 2] = value;
        t[o | 3] = flags;
        this.seen[s] = seen;
        return true;
      }
    }
    return false;
  }

  private grow(): void {
    const oldT = this.t;
    const oldSeen = this.seen;
    let buckets = Math.max(this.nb + 1, Math.ceil((this.count + 1) / (4 * GROWN_LOAD)));
    for (;;) {
      if (buckets > MAX_BUCKETS) throw new VtepError('ERR_LIMIT', `fdb: more than ${4 * MAX_BUCKETS} entries`);
      const [m, k] = shapeFor(buckets);
      this.m = m;
      this.shift = 28 - k;
      this.nb = m << k;
      this.t = new Int32Array(16 * this.nb);
      this.seen = new Float64Array(4 * this.nb);
      this.clearSlots(this.t);
      let ok = true;
      for (let s = 0; s < oldSeen.length && ok; s++) {
        const o = s << 2;
        if (oldT[o + 3] !== 0) ok = this.placeOrKick(oldT[o]!, oldT[o + 1]!, oldT[o + 2]!, oldT[o + 3]!, oldSeen[s]!);
      }
      if (ok) return;
      buckets = Math.ceil(this.nb * 1.25); // a rehash failed; go bigger
    }
  }

  /**
   * Places an entry; when both its buckets are full, evicts a random slot and
   * moves the victim to its other bucket, up to 500 times. False when the chain
   * fails: the entry then left without a slot is in `homeless`.
   */
  private placeOrKick(k1: number, k2: number, value: number, flags: number, seen: number): boolean {
    if (this.place(k1, k2, value, flags, seen)) return true;
    const t = this.t;
    let key1 = k1;
    let key2 = k2;
    let val = value;
    let fl = flags;
    let ts = seen;
    let b = bucketOf(hash1(key1, key2, this.seed), this.shift, this.m);
    for (let kick = 0; kick < 500; kick++) {
      this.rnd ^= this.rnd << 13;
      this.rnd ^= this.rnd >>> 17;
      this.rnd ^= this.rnd << 5;
      const s = (b << 2) | (this.rnd & 3);
      const o = s << 2;
      const v1 = t[o]!;
      const v2 = t[o | 1]!;
      const vv = t[o | 2]!;
      const vf = t[o | 3]!;
      const vs = this.seen[s]!;
      t[o] = key1;
      t[o | 1] = key2;
      t[o | 2] = val;
      t[o | 3] = fl;
      this.seen[s] = ts;
      key1 = v1;
      key2 = v2;
      val = vv;
      fl = vf;
      ts = vs;
      const h = hash1(key1, key2, this.seed);
      const vb1 = bucketOf(h, this.shift, this.m);
      b = vb1 === b ? this.other(h, vb1) : vb1;
      if (this.placeIn(b, key1, key2, val, fl, ts)) return true;
    }
    this.homeless[0] = key1;
    this.homeless[1] = key2;
    this.homeless[2] = val;
    this.homeless[3] = fl;
    this.homelessSeen = ts;
    return false;
  }
}

const EMPTY_FLOOD = new Uint32Array(0);
