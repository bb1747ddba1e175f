/**
 * A neighbour table: IPv4/IPv6 address -> MAC and port. One type serves both
 * users: a bridge domain's ARP/ND suppression (who answers for an address)
 * and a VRF's router (where to send a routed packet), as gVisor keeps its
 * neighbour cache a small type of its own.
 *
 * Entries live in typed arrays indexed by an entry number; the address maps
 * (IdMap for IPv4, Addr6Map for IPv6) give the number. Freed numbers are
 * reused. A static entry (configured) is not overwritten by what is snooped.
 */
import { IdMap, Addr6Map } from '../tunnel/idmap.js';
import { VtepError } from '../errors.js';

export const NEIGH_STATIC = 1;

export interface NeighborEntry {
  family: 4 | 6;
  /** IPv4 in words[0]; IPv6 in words[0..3]. */
  words: Uint32Array;
  mac: number;
  /** Port id, or -1 (suppression entries learned from a remote). */
  port: number;
  static: boolean;
}

export class NeighborTable {
  readonly limit: number;
  private readonly v4 = new IdMap();
  private readonly v6 = new Addr6Map();
  /** Per entry: MAC, port id, flags, family (0 = free), address words. */
  mac = new Float64Array(16);
  port = new Int32Array(16);
  private flags = new Uint8Array(16);
  private fam = new Uint8Array(16);
  private addr = new Uint32Array(64);
  private free: number[] = [];
  private top = 0;
  /** Whether the last set() made a new entry or changed one (so that callers report only news). */
  changed = false;

  constructor(limit = 65536) {
    this.limit = limit;
  }

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** Entry of an IPv4 address, or -1. */
  get4(ip: number): number {
    return this.v4.get(ip);
  }

  /** Entry of the IPv6 address in words[off..off+4), or -1. */
  get6(words: ArrayLike<number>, off: number): number {
    return this.v6.getWords(words, off);
  }

  /** Entry of an address of either family (words as in IpAddr), or -1. */
  get(family: number, words: ArrayLike<number>, off = 0): number {
    return family === 4 ? this.v4.get(words[off]!) : this.v6.getWords(words, off);
  }

  /**
   * Sets the address's MAC and port; `isStatic` marks a configured entry,
   * which snooping (isStatic false) does not change. Returns the entry, or -1
   * when the table is full or a static entry kept its value.
   */
  set(family: number, words: ArrayLike<number>, off: number, mac: number, port: number, isStatic = false): number {
    let k = this.get(family, words, off);
    this.changed = false;
    if (k >= 0) {
      if ((this.flags[k]! & NEIGH_STATIC) !== 0 && !isStatic) return -1;
      if (this.mac[k] === mac && this.port[k] === port) return k;
    } else {
      if (this.size >= this.limit) return -1;
      k = this.free.length > 0 ? this.free.pop()! : this.top++;
      if (k >= this.mac.length) this.grow();
      this.fam[k] = family;
      const a = this.addr;
      a[4 * k] = words[off]!;
      a[4 * k + 1] = family === 6 ? words[off + 1]! : 0;
      a[4 * k + 2] = family === 6 ? words[off + 2]! : 0;
      a[4 * k + 3] = family === 6 ? words[off + 3]! : 0;
      if (family === 4) this.v4.set(words[off]!, k);
      else this.v6.set(words, off, k);
    }
    this.mac[k] = mac;
    this.port[k] = port;
    this.flags[k] = isStatic ? NEIGH_STATIC : 0;
    this.changed = true;
    return k;
  }

  /** set() for an IPv4 address. */
  set4(ip: number, mac: number, port: number, isStatic = false): number {
    const w = SCRATCH;
    w[0] = ip;
    return this.set(4, w, 0, mac, port, isStatic);
  }

  /** Removes an address; false when absent. */
  delete(family: number, words: ArrayLike<number>, off = 0): boolean {
    const k = this.get(family, words, off);
    if (k < 0) return false;
    this.release(k);
    return true;
  }

  /** Removes every entry on `port` (a port that is gone). Returns how many. */
  deletePort(port: number): number {
    let n = 0;
    for (let k = 0; k < this.top; k++) {
      if (this.fam[k] !== 0 && this.port[k] === port) {
        this.release(k);
        n++;
      }
    }
    return n;
  }

  isStatic(k: number): boolean {
    return (this.flags[k]! & NEIGH_STATIC) !== 0;
  }

  *entries(): IterableIterator<NeighborEntry> {
    for (let k = 0; k < this.top; k++) {
      const f = this.fam[k]!;
      if (f === 0) continue;
      yield {
        family: f as 4 | 6,
        words: this.addr.slice(4 * k, 4 * k + (f === 4 ? 1 : 4)),
        mac: this.mac[k]!,
        port: this.port[k]!,
        static: (this.flags[k]! & NEIGH_STATIC) !== 0,
      };
    }
  }

  private release(k: number): void {
    const a = this.addr;
    if (this.fam[k] === 4) this.v4.delete(a[4 * k]!);
    else this.v6.delete(a, 4 * k);
    this.fam[k] = 0;
    this.flags[k] = 0;
    this.free.push(k);
  }

  private grow(): void {
    const n = this.mac.length * 2;
    if (n > 1 << 24) throw new VtepError('ERR_LIMIT', 'neighbors: table too large');
    const g = <T extends Float64Array | Int32Array | Uint8Array | Uint32Array>(a: T, size: number): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.mac = g(this.mac, n);
    this.port = g(this.port, n);
    this.flags = g(this.flags, n);
    this.fam = g(this.fam, n);
    this.addr = g(this.addr, 4 * n);
  }
}

const SCRATCH = new Uint32Array(4);
