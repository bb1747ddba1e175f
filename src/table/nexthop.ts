/**
 * Next hops and ECMP groups, in typed arrays indexed by id, and the route
 * values that an LPM stores.
 *
 * Route value (what Lpm4/Lpm6 hold, a non-negative 31-bit integer):
 *   bit 30 clear: a next-hop id (0 .. 2^30 - 1)
 *   bit 30 set:   an ECMP group id in bits 0..29 (Route.group(g) = 0x40000000 | g)
 * so the dataplane knows from the value alone whether to pick a member by the
 * flow hash: nh = nexthops.resolve(value, hash).
 *
 * Next hop kinds: LOCAL (deliver to a local port, rewriting the MACs), TUNNEL
 * (encapsulate: protocol, remote VTEP index from a Remotes registry,
 * VNI / GRE key / MPLS label), DROP. The dataplane keeps its own per-id
 * tunnel header template; this table only stores the fields.
 *
 * ECMP groups are resilient (as Linux nexthop groups of type resilient): a
 * group is a table of 2^k buckets, each naming a member; a flow hashes to a
 * bucket. Removing a member reassigns only that member's buckets, so every
 * other flow keeps its path; adding a member or changing weights moves only the
 * buckets needed to reach the new shares.
 *
 *   const nh = new NextHops({ remotes });
 *   const a = nh.add({ type: 'tunnel', proto: 'vxlan', remote: '198.18.0.2', id: 100 });
 *   const b = nh.add({ type: 'tunnel', proto: 'vxlan', remote: '198.18.0.3', id: 100 });
 *   const g = nh.addGroup([a, b]);               // a route value with bit 30 set
 *   vrf.add('10.1.0.0/16', g);
 *   nh.resolve(vrf.v4.lookup(dst), flowHash);    // a or b, stable per flow
 */
import { VtepError, check, describe, checkInt, invalidArg } from '../errors.js';
import { formatMac, parseMac } from '../util/addr.js';
import type { Remotes } from './remotes.js';
import { PROTO_NAMES, protoCode, type TunnelProtoName } from '../tunnel/protos.js';

/** Route value bit that marks an ECMP group. */
export const ROUTE_GROUP = 0x40000000;

/** Route values: next-hop ids and group ids in one 31-bit space. */
export const Route = {
  nexthop(id: number): number {
    return checkInt('nexthop', id, 0, ROUTE_GROUP - 1);
  },
  group(id: number): number {
    return (ROUTE_GROUP | checkInt('group', id, 0, ROUTE_GROUP - 1)) >>> 0;
  },
  isGroup(value: number): boolean {
    return value >= 0 && (value & ROUTE_GROUP) !== 0;
  },
  /** The next-hop or group id in a route value. */
  id(value: number): number {
    return value & (ROUTE_GROUP - 1);
  },
} as const;

export const NextHopKind = { FREE: 0, LOCAL: 1, TUNNEL: 2, DROP: 3 } as const;
export type NextHopKindCode = (typeof NextHopKind)[keyof typeof NextHopKind];

/** Largest tunnel id per protocol: VNI 24 bits, GRE key 32 bits, MPLS label 20 bits. */
const MAX_TUNNEL_ID: readonly number[] = [0, 0xffffff, 0xffffffff, 0xfffff, 0xfffff];

export type NextHopSpec =
  | { type: 'local'; port: number; srcMac: number | string; dstMac: number | string }
  | { type: 'tunnel'; proto: TunnelProtoName; remote: number | string; id: number }
  | { type: 'drop' };

export type NextHopInfo =
  | { id: number; type: 'local'; port: number; srcMac: string; dstMac: string }
  | { id: number; type: 'tunnel'; proto: TunnelProtoName; remote: number; tunnelId: number }
  | { id: number; type: 'drop' };

export interface GroupOptions {
  /** Weights, one per member (integers >= 1); default all 1. */
  weights?: number[];
  /** Bucket count, a power of two in 1..4096; default 128 (Linux's usual choice). */
  buckets?: number;
}

export interface NextHopsOptions {
  /** Most next hops (ids 0..capacity-1). Default 65536. */
  capacity?: number;
  /** Most ECMP groups. Default 4096. */
  groups?: number;
  /** Registry used to turn tunnel remote addresses into indexes. */
  remotes?: Remotes;
}

interface Group {
  members: number[];
  weights: number[];
}

const MIX = 0x9e3779b1;

export class NextHops {
  readonly capacity: number;
  readonly groupCapacity: number;
  readonly remotes: Remotes | undefined;

  /** Per next hop: NextHopKind. */
  readonly kind: Uint8Array;
  /** LOCAL: the port id. */
  readonly port: Uint32Array;
  /** LOCAL: MACs to write, as the top 16 and low 32 bits. */
  readonly srcMacHi: Uint16Array;
  readonly srcMacLo: Uint32Array;
  readonly dstMacHi: Uint16Array;
  readonly dstMacLo: Uint32Array;
  /** TUNNEL: TunnelProto code, remote index, VNI / key / label. */
  readonly proto: Uint8Array;
  readonly remote: Uint32Array;
  readonly tunnelId: Uint32Array;

  /** Per group: offset of its buckets in `buckets`, and bucket count - 1 (-1 when the group is free). */
  readonly groupBase: Uint32Array;
  readonly groupMask: Int32Array;
  /** Bucket tables: next-hop ids (-1 for a group without members). Replaced when it grows. */
  buckets: Int32Array;

  private readonly groups: (Group | undefined)[] = [];
  private bucketTop = 0;
  private readonly bucketFree = new Map<number, number[]>(); // size -> free offsets
  private nhCount = 0;
  private groupCount = 0;
  /** No free next-hop id / group id below these. */
  private lowFree = 0;
  private lowFreeGroup = 0;

  constructor(options: NextHopsOptions = {}) {
    this.capacity = checkInt('capacity', options.capacity ?? 65536, 1, ROUTE_GROUP);
    this.groupCapacity = checkInt('groups', options.groups ?? 4096, 0, ROUTE_GROUP);
    this.remotes = options.remotes;
    const n = this.capacity;
    this.kind = new Uint8Array(n);
    this.port = new Uint32Array(n);
    this.srcMacHi = new Uint16Array(n);
    this.srcMacLo = new Uint32Array(n);
    this.dstMacHi = new Uint16Array(n);
    this.dstMacLo = new Uint32Array(n);
    this.proto = new Uint8Array(n);
    this.remote = new Uint32Array(n);
    this.tunnelId = new Uint32Array(n);
    this.groupBase = new Uint32Array(this.groupCapacity);
    this.groupMask = new Int32Array(this.groupCapacity).fill(-1);
    this.buckets = new Int32Array(1024).fill(-1);
  }

  get size(): number {
    return this.nhCount;
  }

  get groupsInUse(): number {
    return this.groupCount;
  }

  // ---- next hops -------------------------------------------------------------

  /** Adds a next hop at the lowest free id; returns the id (also its route value). */
  add(spec: NextHopSpec): number {
    for (let id = this.lowFree; id < this.capacity; id++) {
      if (this.kind[id] === NextHopKind.FREE) {
        this.write(id, spec);
        this.lowFree = id + 1;
        return id;
      }
    }
    throw new VtepError('ERR_LIMIT', `nexthops: all ${this.capacity} ids in use`);
  }

  /** Writes a next hop at a given id (new or replacing). */
  set(id: number, spec: NextHopSpec): void {
    checkInt('nexthop', id, 0, this.capacity - 1);
    this.write(id, spec);
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.capacity && this.kind[id] !== NextHopKind.FREE;
  }

  /** Removes a next hop, and from every group that has it (resiliently). */
  delete(id: number): boolean {
    if (!this.has(id)) return false;
    for (let g = 0; g < this.groups.length; g++) {
      const grp = this.groups[g];
      if (grp !== undefined && grp.members.includes(id)) this.removeMember(g, id);
    }
    this.kind[id] = NextHopKind.FREE;
    this.nhCount--;
    if (id < this.lowFree) this.lowFree = id;
    return true;
  }

  get(id: number): NextHopInfo | undefined {
    if (!this.has(id)) return undefined;
    switch (this.kind[id]) {
      case NextHopKind.LOCAL:
        return {
          id,
          type: 'local',
          port: this.port[id]!,
          srcMac: formatMac(this.srcMacHi[id]! * 2 ** 32 + this.srcMacLo[id]!),
          dstMac: formatMac(this.dstMacHi[id]! * 2 ** 32 + this.dstMacLo[id]!),
        };
      case NextHopKind.TUNNEL:
        return { id, type: 'tunnel', proto: PROTO_NAMES[this.proto[id]!] as TunnelProtoName, remote: this.remote[id]!, tunnelId: this.tunnelId[id]! };
      default:
        return { id, type: 'drop' };
    }
  }

  private write(id: number, spec: NextHopSpec): void {
    if (spec === null || typeof spec !== 'object') throw invalidArg('nexthop', spec, 'a next-hop spec');
    const fresh = this.kind[id] === NextHopKind.FREE;
    switch (spec.type) {
      case 'local': {
        const port = checkInt('port', spec.port, 0, 0xffffffff);
        const src = typeof spec.srcMac === 'string' ? parseMac(spec.srcMac, 'srcMac') : checkInt('srcMac', spec.srcMac, 0, 2 ** 48 - 1);
        const dst = typeof spec.dstMac === 'string' ? parseMac(spec.dstMac, 'dstMac') : checkInt('dstMac', spec.dstMac, 0, 2 ** 48 - 1);
        this.kind[id] = NextHopKind.LOCAL;
        this.port[id] = port;
        this.srcMacHi[id] = Math.floor(src / 2 ** 32);
        this.srcMacLo[id] = src >>> 0;
        this.dstMacHi[id] = Math.floor(dst / 2 ** 32);
        this.dstMacLo[id] = dst >>> 0;
        break;
      }
      case 'tunnel': {
        const proto = protoCode(spec.proto as string);
        const tid = checkInt(spec.proto === 'vxlan' ? 'vni' : spec.proto === 'gre' ? 'key' : 'label', spec.id, 0, MAX_TUNNEL_ID[proto]!);
        let remote: number;
        if (typeof spec.remote === 'string') {
          if (this.remotes === undefined) throw invalidArg('remote', spec.remote, 'a remote index (no Remotes registry was given to NextHops)');
          remote = this.remotes.add(spec.remote);
        } else {
          remote = checkInt('remote', spec.remote, 0, 0xffffffff);
          if (this.remotes !== undefined && !this.remotes.has(remote)) throw invalidArg('remote', remote, 'the index of a registered remote');
        }
        this.kind[id] = NextHopKind.TUNNEL;
        this.proto[id] = proto;
        this.remote[id] = remote;
        this.tunnelId[id] = tid;
        break;
      }
      case 'drop':
        this.kind[id] = NextHopKind.DROP;
        break;
      default:
        throw invalidArg('type', (spec as { type: unknown }).type, 'local, tunnel or drop');
    }
    if (fresh) this.nhCount++;
  }

  // ---- ECMP groups -------------------------------------------------------------

  /** Creates a resilient ECMP group; returns its route value (Route.group(id)). */
  addGroup(members: number[], options: GroupOptions = {}): number {
    let g = this.lowFreeGroup;
    while (g < this.groupCapacity && this.groupMask[g] !== -1) g++;
    if (g === this.groupCapacity) throw new VtepError('ERR_LIMIT', `nexthops: all ${this.groupCapacity} groups in use`);
    const size = checkInt('buckets', options.buckets ?? 128, 1, 4096);
    check((size & (size - 1)) === 0, 'buckets', size, 'a power of two');
    const base = this.allocBuckets(size);
    this.groupBase[g] = base;
    this.groupMask[g] = size - 1;
    this.groups[g] = { members: [], weights: [] };
    this.groupCount++;
    this.lowFreeGroup = g + 1;
    try {
      this.setGroup(g, members, options.weights);
    } catch (err) {
      this.deleteGroup(g);
      throw err;
    }
    return (ROUTE_GROUP | g) >>> 0;
  }

  /**
   * Sets a group's members and weights. Buckets of members that stay keep
   * their member unless it holds more than its new share.
   */
  setGroup(group: number, members: number[], weights?: number[]): void {
    const g = this.groupId(group);
    check(Array.isArray(members), 'members', members, 'an array of next-hop ids');
    const w = weights ?? members.map(() => 1);
    check(Array.isArray(w) && w.length === members.length, 'weights', weights, `an array of ${members.length} weights`);
    const seen = new Set<number>();
    members.forEach((m, i) => {
      if (!this.has(m)) throw invalidArg(`members[${i}]`, m, 'the id of a next hop in this table');
      if (seen.has(m)) throw invalidArg(`members[${i}]`, m, 'a member listed once');
      seen.add(m);
      checkInt(`weights[${i}]`, w[i], 1, 65535);
    });
    this.rebalance(g, [...members], [...w], false);
  }

  /** Adds a member (or changes its weight). */
  addMember(group: number, member: number, weight = 1): void {
    const g = this.groupId(group);
    const grp = this.groups[g]!;
    const i = grp.members.indexOf(member);
    const members = [...grp.members];
    const weights = [...grp.weights];
    if (i >= 0) weights[i] = weight;
    else {
      members.push(member);
      weights.push(weight);
    }
    this.setGroup(g, members, weights);
  }

  /** Removes a member: only the flows on its buckets move. */
  removeMember(group: number, member: number): boolean {
    const g = this.groupId(group);
    const grp = this.groups[g]!;
    const i = grp.members.indexOf(member);
    if (i < 0) return false;
    const members = grp.members.filter((_, k) => k !== i);
    const weights = grp.weights.filter((_, k) => k !== i);
    this.rebalance(g, members, weights, true);
    return true;
  }

  deleteGroup(group: number): boolean {
    const g = group >= ROUTE_GROUP ? group & (ROUTE_GROUP - 1) : group;
    if (!Number.isInteger(g) || g < 0 || g >= this.groupCapacity || this.groupMask[g] === -1) return false;
    const size = this.groupMask[g]! + 1;
    this.buckets.fill(-1, this.groupBase[g]!, this.groupBase[g]! + size);
    const list = this.bucketFree.get(size) ?? [];
    list.push(this.groupBase[g]!);
    this.bucketFree.set(size, list);
    this.groupMask[g] = -1;
    this.groups[g] = undefined;
    this.groupCount--;
    if (g < this.lowFreeGroup) this.lowFreeGroup = g;
    return true;
  }

  members(group: number): { nexthop: number; weight: number; buckets: number }[] {
    const g = this.groupId(group);
    const grp = this.groups[g]!;
    const counts = this.bucketCounts(g, grp.members);
    return grp.members.map((m, i) => ({ nexthop: m, weight: grp.weights[i]!, buckets: counts[i]! }));
  }

  /** A group's bucket table (a view; for inspection and tests). */
  bucketsOf(group: number): Int32Array {
    const g = this.groupId(group);
    return this.buckets.subarray(this.groupBase[g]!, this.groupBase[g]! + this.groupMask[g]! + 1);
  }

  /** The member of group g (an id, not a route value) for a flow hash; -1 when it has none. */
  select(g: number, hash: number): number {
    const mask = this.groupMask[g];
    if (mask === undefined || mask < 0) return -1;
    return this.buckets[this.groupBase[g]! + ((Math.imul(hash, MIX) >>> 16) & mask)]!;
  }

  /** Next-hop id for a route value and a flow hash: the value itself, or a group member; -1 for none. */
  resolve(value: number, hash: number): number {
    if (value < 0) return -1;
    if ((value & ROUTE_GROUP) === 0) return value;
    const g = value & (ROUTE_GROUP - 1);
    const mask = this.groupMask[g];
    if (mask === undefined || mask < 0) return -1;
    return this.buckets[this.groupBase[g]! + ((Math.imul(hash, MIX) >>> 16) & mask)]!;
  }

  /** resolve() for values[0..n) and hashes[0..n) into out[0..n); no allocation. */
  resolveBatch(values: Int32Array, hashes: Uint32Array, out: Int32Array, n: number = values.length): void {
    if (n > values.length || n > hashes.length || n > out.length || !(n >= 0)) throw invalidArg('n', n, 'within values, hashes and out');
    const base = this.groupBase;
    const masks = this.groupMask;
    const buckets = this.buckets;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (v < 0 || (v & ROUTE_GROUP) === 0) {
        out[i] = v;
        continue;
      }
      const g = v & (ROUTE_GROUP - 1);
      const mask = masks[g];
      out[i] = mask === undefined || mask < 0 ? -1 : buckets[base[g]! + ((Math.imul(hashes[i]!, MIX) >>> 16) & mask)]!;
    }
  }

  private groupId(group: number): number {
    const g = typeof group === 'number' && group >= ROUTE_GROUP ? group & (ROUTE_GROUP - 1) : group;
    if (!Number.isInteger(g) || g < 0 || g >= this.groupCapacity || this.groupMask[g] === -1) {
      throw new VtepError('ERR_NOT_FOUND', `group: ${describe(group)} is not an ECMP group of this table`);
    }
    return g;
  }

  private allocBuckets(size: number): number {
    const list = this.bucketFree.get(size);
    if (list !== undefined && list.length > 0) return list.pop()!;
    if (this.bucketTop + size > this.buckets.length) {
      let cap = this.buckets.length;
      while (this.bucketTop + size > cap) cap *= 2;
      const grown = new Int32Array(cap).fill(-1);
      grown.set(this.buckets.subarray(0, this.bucketTop));
      this.buckets = grown;
    }
    const base = this.bucketTop;
    this.bucketTop += size;
    return base;
  }

  private bucketCounts(g: number, members: number[]): number[] {
    const counts = members.map(() => 0);
    const base = this.groupBase[g]!;
    const size = this.groupMask[g]! + 1;
    for (let b = 0; b < size; b++) {
      const i = members.indexOf(this.buckets[base + b]!);
      if (i >= 0) counts[i]!++;
    }
    return counts;
  }

  /**
   * Gives the group its new members. Buckets of members that left are
   * orphaned; unless `removeOnly`, members above their new share (rounded up)
   * give up their last buckets; orphans then go, in bucket order, to the member
   * furthest below its share.
   */
  private rebalance(g: number, members: number[], weights: number[], removeOnly: boolean): void {
    const base = this.groupBase[g]!;
    const size = this.groupMask[g]! + 1;
    const buckets = this.buckets;
    const total = weights.reduce((a, b) => a + b, 0);
    const share = weights.map((w) => (size * w) / total);
    const index = new Map<number, number>();
    members.forEach((m, i) => index.set(m, i));
    const counts = members.map(() => 0);
    const orphans: number[] = [];
    for (let b = 0; b < size; b++) {
      const i = index.get(buckets[base + b]!);
      if (i === undefined) orphans.push(b);
      else counts[i]!++;
    }
    if (members.length === 0) {
      buckets.fill(-1, base, base + size);
    } else {
      if (!removeOnly) {
        for (let i = 0; i < members.length; i++) {
          let excess = counts[i]! - Math.ceil(share[i]!);
          for (let b = size - 1; b >= 0 && excess > 0; b--) {
            if (buckets[base + b] === members[i]) {
              orphans.push(b);
              counts[i]!--;
              excess--;
            }
          }
        }
        orphans.sort((a, b) => a - b);
      }
      for (const b of orphans) {
        let best = 0;
        for (let i = 1; i < members.length; i++) {
          if (share[i]! - counts[i]! > share[best]! - counts[best]!) best = i;
        }
        buckets[base + b] = members[best]!;
        counts[best]!++;
      }
    }
    this.groups[g] = { members, weights };
  }
}
