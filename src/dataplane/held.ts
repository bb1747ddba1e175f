/**
 * Packets held while their next hop's MAC is resolved (a kernel's unres_qlen,
 * gVisor's pending_packets.go), with explicit bounds so that no VRF can take
 * the shared pool: at most `perDest` packets per destination, `perOwner` per
 * VRF and `total` overall, each released after `timeoutMs`. Keys are numeric:
 * per VRF an IdMap (IPv4) and an Addr6Map (IPv6) give a destination record;
 * its packets hang on it as a chain of packet records. No strings, no objects
 * per packet.
 */
import { IdMap, Addr6Map } from '../tunnel/idmap.js';

export interface HeldLimits {
  /** Packets held over all VRFs. Default 1024. */
  total?: number;
  /** Packets held per VRF. Default 256. */
  perOwner?: number;
  /** Packets held per destination (Linux's unres_qlen is 3 packets' worth). Default 3. */
  perDest?: number;
  /** How long a destination may take to answer. Default 3000 ms. */
  timeoutMs?: number;
}

/** hold() results. */
export const Hold = { HELD: 0, DEST_FULL: 1, OWNER_FULL: 2, TOTAL_FULL: 3 } as const;

export class HeldQueue {
  readonly total: number;
  readonly perOwner: number;
  readonly perDest: number;
  readonly timeoutMs: number;

  // Packet records (capacity `total`): where the frame is, where it goes, what chains it.
  readonly slot: Uint32Array;
  readonly start: Uint32Array;
  readonly end: Uint32Array;
  /** Output port id. */
  readonly port: Int32Array;
  /** Port the packet came in on (drops are charged to it). */
  readonly inPort: Int32Array;
  readonly ver: Uint8Array;
  private readonly nextRec: Int32Array;
  private freeRec: number;

  // Destination records (capacity `total`: a destination holds at least one packet).
  private readonly dOwner: Int32Array;
  private readonly dFamily: Uint8Array;
  private readonly dAddr: Uint32Array;
  private readonly dHead: Int32Array;
  private readonly dCount: Uint8Array;
  private readonly dSince: Float64Array;
  private readonly dAsked: Float64Array;
  private readonly nextDest: Int32Array;
  private freeDest: number;

  private readonly by4: IdMap[] = [];
  private readonly by6: Addr6Map[] = [];
  private ownerCount = new Int32Array(16);
  private count = 0;
  /** Destination records in use (for expiry scans). */
  private dests = 0;

  constructor(limits: HeldLimits = {}) {
    this.total = limits.total ?? 1024;
    this.perOwner = Math.min(limits.perOwner ?? 256, this.total);
    this.perDest = Math.min(limits.perDest ?? 3, 255);
    this.timeoutMs = limits.timeoutMs ?? 3000;
    const n = this.total;
    this.slot = new Uint32Array(n);
    this.start = new Uint32Array(n);
    this.end = new Uint32Array(n);
    this.port = new Int32Array(n);
    this.inPort = new Int32Array(n);
    this.ver = new Uint8Array(n);
    this.nextRec = new Int32Array(n);
    this.dOwner = new Int32Array(n).fill(-1);
    this.dFamily = new Uint8Array(n);
    this.dAddr = new Uint32Array(4 * n);
    this.dHead = new Int32Array(n);
    this.dCount = new Uint8Array(n);
    this.dSince = new Float64Array(n);
    this.dAsked = new Float64Array(n);
    this.nextDest = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.nextRec[i] = i + 1 < n ? i + 1 : -1;
      this.nextDest[i] = i + 1 < n ? i + 1 : -1;
    }
    this.freeRec = n > 0 ? 0 : -1;
    this.freeDest = n > 0 ? 0 : -1;
  }

  /** Packets held now. */
  get size(): number {
    return this.count;
  }

  heldBy(owner: number): number {
    return owner < this.ownerCount.length ? this.ownerCount[owner]! : 0;
  }

  /** The destination record of an address in a VRF, or -1. */
  find(owner: number, family: number, words: ArrayLike<number>, off: number): number {
    if (family === 4) {
      const m = this.by4[owner];
      return m === undefined ? -1 : m.get(words[off]!);
    }
    const m = this.by6[owner];
    return m === undefined ? -1 : m.getWords(words, off);
  }

  /**
   * Holds a packet (the caller's slot reference passes to the queue on HELD).
   * Returns a Hold code; on HELD, `lastDest` is its destination record.
   */
  hold(owner: number, family: number, words: ArrayLike<number>, off: number, slot: number, start: number, end: number, port: number, inPort: number, ver: number, now: number): number {
    if (this.count >= this.total) return Hold.TOTAL_FULL;
    if (this.heldBy(owner) >= this.perOwner) return Hold.OWNER_FULL;
    let d = this.find(owner, family, words, off);
    if (d >= 0 && this.dCount[d]! >= this.perDest) return Hold.DEST_FULL;
    if (d < 0) {
      d = this.freeDest;
      this.freeDest = this.nextDest[d]!;
      this.dests++;
      this.dOwner[d] = owner;
      this.dFamily[d] = family;
      for (let k = 0; k < 4; k++) this.dAddr[4 * d + k] = family === 4 && k > 0 ? 0 : words[off + k]!;
      this.dHead[d] = -1;
      this.dCount[d] = 0;
      this.dSince[d] = now;
      this.dAsked[d] = -Infinity;
      if (family === 4) (this.by4[owner] ??= new IdMap()).set(words[off]!, d);
      else (this.by6[owner] ??= new Addr6Map()).set(words, off, d);
    }
    const r = this.freeRec;
    this.freeRec = this.nextRec[r]!;
    this.slot[r] = slot;
    this.start[r] = start;
    this.end[r] = end;
    this.port[r] = port;
    this.inPort[r] = inPort;
    this.ver[r] = ver;
    // Append, so that packets leave in the order they came.
    this.nextRec[r] = -1;
    let h = this.dHead[d]!;
    if (h < 0) this.dHead[d] = r;
    else {
      while (this.nextRec[h]! >= 0) h = this.nextRec[h]!;
      this.nextRec[h] = r;
    }
    this.dCount[d]!++;
    this.count++;
    if (owner >= this.ownerCount.length) {
      const g = new Int32Array(Math.max(owner + 1, this.ownerCount.length * 2));
      g.set(this.ownerCount);
      this.ownerCount = g;
    }
    this.ownerCount[owner]!++;
    this.lastDest = d;
    return Hold.HELD;
  }

  /** Destination record of the last successful hold(). */
  lastDest = -1;

  /** True (and remembers `now`) when the destination was last asked for at least `intervalMs` ago. */
  shouldAsk(d: number, now: number, intervalMs = 1000): boolean {
    if (now - this.dAsked[d]! < intervalMs) return false;
    this.dAsked[d] = now;
    return true;
  }

  /**
   * Takes a destination's packets out of the queue: calls fn(record) for each,
   * in order, then frees the records (fn must use or free the slot). Returns
   * how many.
   */
  take(owner: number, family: number, words: ArrayLike<number>, off: number, fn: (r: number) => void): number {
    const d = this.find(owner, family, words, off);
    return d < 0 ? 0 : this.takeDest(d, fn);
  }

  /** Calls fn(record) for the packets of every destination held longer than the timeout, and frees them. */
  expire(now: number, fn: (r: number, first: boolean) => void): number {
    if (this.dests === 0) return 0;
    let n = 0;
    for (let d = 0; d < this.total; d++) {
      if (this.dOwner[d]! >= 0 && now - this.dSince[d]! >= this.timeoutMs) {
        let first = true;
        n += this.takeDest(d, (r) => {
          fn(r, first);
          first = false;
        });
      }
    }
    return n;
  }

  /** Drops what an owner (a VRF being removed) or a port holds: fn(record) frees each slot. */
  dropWhere(owner: number, port: number, fn: (r: number) => void): number {
    let n = 0;
    for (let d = 0; d < this.total; d++) {
      if (this.dOwner[d]! < 0) continue;
      if (this.dOwner[d] === owner) {
        n += this.takeDest(d, fn);
        continue;
      }
      if (port < 0) continue;
      // Per packet: keep those for other ports.
      let prev = -1;
      let r = this.dHead[d]!;
      while (r >= 0) {
        const next = this.nextRec[r]!;
        if (this.port[r] === port || this.inPort[r] === port) {
          fn(r);
          if (prev < 0) this.dHead[d] = next;
          else this.nextRec[prev] = next;
          this.freeRecord(r, this.dOwner[d]!);
          this.dCount[d]!--;
          n++;
        } else prev = r;
        r = next;
      }
      if (this.dCount[d] === 0) this.freeDestination(d);
    }
    return n;
  }

  private takeDest(d: number, fn: (r: number) => void): number {
    const owner = this.dOwner[d]!;
    let r = this.dHead[d]!;
    let n = 0;
    while (r >= 0) {
      const next = this.nextRec[r]!;
      fn(r);
      this.freeRecord(r, owner);
      n++;
      r = next;
    }
    this.freeDestination(d);
    return n;
  }

  private freeRecord(r: number, owner: number): void {
    this.nextRec[r] = this.freeRec;
    this.freeRec = r;
    this.count--;
    this.ownerCount[owner]!--;
  }

  private freeDestination(d: number): void {
    const owner = this.dOwner[d]!;
    if (this.dFamily[d] === 4) this.by4[owner]!.delete(this.dAddr[4 * d]!);
    else this.by6[owner]!.delete(this.dAddr, 4 * d);
    this.dOwner[d] = -1;
    this.nextDest[d] = this.freeDest;
    this.freeDest = d;
    this.dests--;
  }
}
