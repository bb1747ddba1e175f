/**
 * VRFs: named routing tables, each with an Lpm4 and an Lpm6 whose values are
 * route values (next-hop ids, or ECMP groups with bit 30 set; see nexthop.ts).
 * The registry hands out small integer ids so the dataplane can keep a VRF
 * index per packet and find the table with byId() (an array read).
 *
 *   const vrfs = new Vrfs();
 *   const red = vrfs.create('red');              // id 0
 *   red.add('10.1.0.0/16', nh);                  // family from the prefix
 *   red.add('2001:db8::/32', Route.group(g));
 *   vrfs.byId(0)?.v4.lookup(dst);
 */
import { VtepError, checkInt, describe, invalidArg } from '../errors.js';
import { ipFamily } from '../util/addr.js';
import { Lpm4 } from './lpm4.js';
import { Lpm6 } from './lpm6.js';

const NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export class Vrf {
  readonly name: string;
  readonly id: number;
  readonly v4 = new Lpm4();
  readonly v6 = new Lpm6();

  constructor(name: string, id: number) {
    this.name = name;
    this.id = id;
  }

  /** Adds a route ("10.0.0.0/8" or "2001:db8::/32"); returns the previous value or -1. */
  add(prefix: string, value: number): number {
    return this.table(prefix).add(prefix, value);
  }

  delete(prefix: string): boolean {
    return this.table(prefix).delete(prefix);
  }

  /** Exact match of a prefix: its value or -1. */
  get(prefix: string): number {
    return this.table(prefix).get(prefix);
  }

  /** Routes of both families. */
  get size(): number {
    return this.v4.size + this.v6.size;
  }

  private table(prefix: string): Lpm4 | Lpm6 {
    const slash = typeof prefix === 'string' ? prefix.indexOf('/') : -1;
    const family = slash > 0 ? ipFamily(prefix.slice(0, slash)) : 0;
    if (family === 4) return this.v4;
    if (family === 6) return this.v6;
    throw invalidArg('prefix', prefix, 'a prefix in CIDR notation');
  }
}

export interface VrfsOptions {
  /** Most VRFs (ids 0..max-1). Default 4096. */
  max?: number;
}

export class Vrfs {
  readonly max: number;
  private readonly byName = new Map<string, Vrf>();
  private readonly ids: (Vrf | undefined)[];

  constructor(options: VrfsOptions = {}) {
    this.max = checkInt('max', options.max ?? 4096, 1, 1 << 20);
    this.ids = new Array<Vrf | undefined>(this.max).fill(undefined);
  }

  /** Creates a VRF with the given id, or the lowest free one. */
  create(name: string, id?: number): Vrf {
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw invalidArg('name', name, 'a VRF name of 1..64 letters, digits or _.:-');
    if (this.byName.has(name)) throw new VtepError('ERR_EXISTS', `vrf: ${describe(name)} exists`);
    let vid: number;
    if (id === undefined) {
      vid = this.ids.indexOf(undefined);
      if (vid < 0) throw new VtepError('ERR_LIMIT', `vrf: all ${this.max} ids in use`);
    } else {
      vid = checkInt('id', id, 0, this.max - 1);
      if (this.ids[vid] !== undefined) throw new VtepError('ERR_EXISTS', `vrf: id ${vid} is taken by ${describe(this.ids[vid]!.name)}`);
    }
    const vrf = new Vrf(name, vid);
    this.byName.set(name, vrf);
    this.ids[vid] = vrf;
    return vrf;
  }

  get(name: string): Vrf | undefined {
    return this.byName.get(name);
  }

  /** The VRF or a VtepError ERR_NOT_FOUND. */
  require(name: string): Vrf {
    const v = this.byName.get(name);
    if (v === undefined) throw new VtepError('ERR_NOT_FOUND', `vrf: ${describe(name)} does not exist`);
    return v;
  }

  /** The VRF with this id (an array read, for the per-packet path). */
  byId(id: number): Vrf | undefined {
    return this.ids[id];
  }

  delete(name: string): boolean {
    const v = this.byName.get(name);
    if (v === undefined) return false;
    this.byName.delete(name);
    this.ids[v.id] = undefined;
    return true;
  }

  get size(): number {
    return this.byName.size;
  }

  [Symbol.iterator](): IterableIterator<Vrf> {
    return [...this.byName.values()].sort((a, b) => a.id - b.id)[Symbol.iterator]();
  }
}
