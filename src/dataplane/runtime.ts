/**
 * What the stages share: the pool, the tables, the port/bridge/VRF registries
 * and the per-packet metadata of the batch in flight (struct-of-arrays, sized
 * for the largest batch). The facade (dataplane.ts) fills the registries; the
 * stages (stages/*.ts) read them on the hot path.
 */
import type { PacketPool } from '../packet/pool.js';
import type { Batch } from '../packet/batch.js';
import { REASON_COUNT } from '../packet/reasons.js';
import type { Fdb } from '../table/fdb.js';
import type { Remotes } from '../table/remotes.js';
import type { NextHops } from '../table/nexthop.js';
import type { Vrf } from '../table/vrf.js';
import type { NeighborTable } from '../table/neighbor.js';
import type { IpAddr } from '../util/addr.js';
import type { Port } from '../io/port.js';
import { STAT } from '../io/native.js';
import type { Decapsulator } from '../tunnel/decap.js';
import type { RouteNextHop, CaptureFn } from './api.js';
import type { HeldQueue } from './held.js';
import type { TunnelTable } from './tunnels.js';
import type { Graph } from './stage.js';
import type { TxStage } from './stages/tx.js';

/** What a port does in the pipeline. */
export const PortRole = { NONE: 0, BRIDGE: 1, ROUTER: 2, UNDERLAY: 3 } as const;
export const ROLE_NAMES = ['', 'bridge', 'router', 'underlay'] as const;

/** How an underlay port carries tunnel packets. */
export const UnderlayDepth = { FRAME: 0, UDP: 1, RAW4: 2, RAW6: 3 } as const;

/** Per-packet flags (Runtime.flags). */
export const PktFlag = {
  /** Made by us (an ICMP error): routing does not decrement its TTL. */
  LOCAL: 1,
  /** Bridged (L2): an ICMP error about it is answered at L2, from its destination (see icmp-error). */
  BRIDGED: 2,
  /** Decapsulated into a VRF (inner-csum: an IP packet at rt.l3). */
  ROUTED: 4,
  /** Sent to arp-term by l2-fwd: when arp-term passes it back, l2-fwd forwards it. */
  ARP_TERM: 8,
} as const;

export const MAX_PORTS = 4096;

/** PortEntry.ctr's layout. IGNORED: frames read and not processed (an underlay frame port's input while sockets receive, see Dataplane.process). */
export const PortCtr = { RX_PACKETS: 0, RX_BYTES: 1, TX_PACKETS: 2, TX_BYTES: 3, DROPS: 4, IGNORED: 5, COUNT: 6 } as const;

export interface PortEntry {
  id: number;
  name: string;
  port: Port;
  role: number;
  /** Bridge index (BRIDGE), VRF index (ROUTER). */
  owner: number;
  /** Closed by the dataplane when removed. */
  owned: boolean;
  tx: Batch;
  depth: number;
  /** UDP underlay: the local port, for decap. */
  localPort: number;
  family: number;
  routerMac: number;
  gw4: number;
  gw4len: number;
  gw6: Uint32Array | null;
  gw6len: number;
  /**
   * The port's counters (PortCtr). A Float64Array, not number fields: a field
   * that passes 2^31 (bytes, within seconds) turns from a small integer into a
   * double, which changes the entry's map, deoptimizes the packet path, and
   * then boxes every store (garbage).
   */
  ctr: Float64Array;
  /** Capture callbacks (rx, tx); null when nobody captures (the hot path checks only this). */
  capRx: CaptureFn[] | null;
  capTx: CaptureFn[] | null;
  /**
   * A native port's counters (FdPort.st): its receive calls leave the clock
   * there (STAT.RX_TIME), so a batch read from it needs no clock call of its
   * own (a native call: on a wake-up after a sleep, microseconds of cold
   * code). null for ports without one (memory, pcap).
   */
  rxClock: Float64Array | null;
  listeners: { event: string; fn: (...a: never[]) => void }[];
}

/** A port's counters as stats() and ports() report them. */
export function portCounters(e: PortEntry): { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; drops: number } {
  const c = e.ctr;
  return { rxPackets: c[PortCtr.RX_PACKETS]!, rxBytes: c[PortCtr.RX_BYTES]!, txPackets: c[PortCtr.TX_PACKETS]!, txBytes: c[PortCtr.TX_BYTES]!, drops: c[PortCtr.DROPS]! };
}

export interface BridgeEntry {
  index: number;
  name: string;
  proto: number;
  id: number;
  /** Local ports of this domain. */
  ports: number[];
  arpSuppress: boolean;
  learn: boolean;
  macLimit: number | undefined;
  /** ARP/ND suppression: IP -> MAC (port -1 for remote hosts). */
  neigh: NeighborTable;
  /** Tunnel index per remote index, -1 until first used. */
  tunnelOf: Int32Array;
  /** ICMP "too big" rate limiter (see icmp-error). */
  icmpTokens: number;
  icmpAt: number;
}

export interface VrfEntry {
  index: number;
  name: string;
  vrf: Vrf;
  label: number | undefined;
  vni: number | undefined;
  ports: number[];
  /** Neighbors on the VRF's ports. */
  neigh: NeighborTable;
  /** Connected next hop per port id of this VRF. */
  connected: Map<number, number>;
  /** Routes as given (prefix text -> next hops and the ids they made), for listing and removal. */
  routes: Map<string, { nexthops: RouteNextHop[]; ids: number[]; group: number }>;
  /** Tokens of the ICMP error rate limiter, and when it was last filled. */
  icmpTokens: number;
  icmpAt: number;
}

/** Which underlay port carries a protocol to a remote, at which depth, and (frame depth) to which MAC. */
export type PortOf = (proto: number, remote: number) => { port: number; depth: 'frame' | 'ip' | 'udp'; dstMac: number };

export interface UnderlayState {
  address: IpAddr;
  ttl: number;
  /** Largest outer IP packet. */
  mtu: number;
  vxlanPort: number;
  mplsPort: number;
  framePort: number;
  mac: number;
  /** The frame port's next hop for every remote (a router); without one, a remote's own MAC (neighbors) or, unknown, a socket. */
  nextHopMac: number;
  nextHopGiven: boolean;
  /** Remote index -> its MAC on the underlay segment (setUnderlayNeighbor, or read from the kernel). */
  neighbors: Map<number, number>;
  udp: number[];
  raw: number[];
}

/** Decap targets at or above this are VRFs (target - VRF_TARGET = VRF index); below, bridge domains. */
export const VRF_TARGET = 0x10000;

export class Runtime {
  readonly pool: PacketPool;
  readonly u8: Uint8Array;
  readonly fdb: Fdb;
  readonly remotes: Remotes;
  readonly nexthops: NextHops;
  readonly decap: Decapsulator;
  readonly tunnels: TunnelTable;
  readonly held: HeldQueue;
  readonly clock: () => number;

  readonly ports: (PortEntry | undefined)[] = [];
  readonly bridges: (BridgeEntry | undefined)[] = [];
  readonly vrfs: (VrfEntry | undefined)[] = [];
  underlay: UnderlayState | undefined;
  /** Next hop id -> inner destination MAC of a VXLAN route. */
  nhMac = new Float64Array(0);
  /** Next hop id -> tunnel index (TUNNEL next hops) or -1. */
  nhTunnel = new Int32Array(0);
  /** Next hop id -> tunnel index when its payload is the IP packet itself (GRE, MPLS: no rewrite; see ip-route), else -1. */
  nhIpTunnel = new Int32Array(0);
  /** Next hop id -> neighbor address of a `via` route. */
  readonly nhVia = new Map<number, IpAddr>();

  /** The graph (set once by the facade; stages reach the tracer through it). */
  graph!: Graph;
  /** The underlay port and depth that carry a protocol (set by the facade). */
  portOf!: PortOf;
  /** Tunnel counters per (remote, protocol): k = (remote * 5 + proto) * 4, then tx packets, tx bytes, rx packets, rx bytes. */
  readonly tunCounters: Float64Array;

  /** Drops per reason over the whole dataplane. */
  readonly drops = new Float64Array(REASON_COUNT);

  // The batch in flight.
  batch!: Batch;
  ingress!: PortEntry;
  /**
   * The clock at the start of the batch (one read per batch, stamp()): time[0];
   * time[1] is the native clock's offset to the dataplane clock's timeline.
   * The FDB reads time[0] when it learns.
   */
  readonly time: Float64Array;
  /** The native monotonic clock (no allocation per read), when the dataplane keeps its default clock; else null. */
  private readonly mono: ((cell: Float64Array) => void) | null;
  /** Per packet: bridge or VRF index; remote index it came from (-1 local); stage-specific output; IP header offset; flags. */
  owner!: Int32Array;
  remote!: Int32Array;
  out!: Int32Array;
  l3!: Uint32Array;
  flags!: Uint8Array;
  /** Per packet: the usable MTU an ICMP "too big" reports. */
  icmpMtu!: Uint16Array;
  /** Per packet: trace record number (0 = not traced); `tracing` is true while a traced batch is in flight. */
  traceId!: Int32Array;
  tracing = false;
  /**
   * 0 when no entry of the batch in flight carries virtio-net offload fields
   * (vflags, gsoType): from an underlay port (underlay-input clears an underlay
   * TAP's and sets this when it marks a super-frame). tx's run enqueues then
   * skip the per-entry test. 1 (maybe) for everything else.
   */
  offloads = 1;
  /** Per stage: its input vector (indexes into the batch) and how many it holds (see stage.ts). */
  vecs: Uint16Array[] = [];
  vn = new Int32Array(0);
  /** Scratch words for IPv6 addresses (no allocation per packet). */
  readonly words = new Uint32Array(4);

  constructor(o: {
    pool: PacketPool; fdb: Fdb; remotes: Remotes; nexthops: NextHops; decap: Decapsulator; tunnels: TunnelTable; held: HeldQueue;
    clock: () => number; time: Float64Array; mono: ((cell: Float64Array) => void) | null; capacity: number;
  }) {
    this.pool = o.pool;
    this.u8 = o.pool.u8;
    this.fdb = o.fdb;
    this.remotes = o.remotes;
    this.nexthops = o.nexthops;
    this.decap = o.decap;
    this.tunnels = o.tunnels;
    this.held = o.held;
    this.clock = o.clock;
    this.time = o.time;
    this.mono = o.mono;
    if (this.mono !== null) {
      // Calibrate: the native clock less time[1] reads as the dataplane clock does.
      this.time[1] = 0;
      this.mono(this.time);
      this.time[1] = this.time[0]! - this.clock();
    }
    this.stamp();
    this.tunCounters = new Float64Array(o.remotes.capacity * 5 * 4);
    this.nhMac = new Float64Array(o.nexthops.capacity);
    this.nhTunnel = new Int32Array(o.nexthops.capacity).fill(-1);
    this.nhIpTunnel = new Int32Array(o.nexthops.capacity).fill(-1);
    this.grow(o.capacity);
  }

  /** The clock at the start of the batch (time[0]). */
  get now(): number {
    return this.time[0]!;
  }

  set now(v: number) {
    this.time[0] = v;
  }

  /** Reads the clock into time[0]: once per batch, without garbage when the clock is the native one. */
  stamp(): void {
    if (this.mono !== null) this.mono(this.time);
    else this.time[0] = this.clock();
  }

  /**
   * time[0] for a batch just read from a port: the clock its receive call
   * left in `st` (the native clock's scale) when the dataplane runs on the
   * native clock, else stamp().
   */
  stampFrom(st: Float64Array | null): void {
    if (st !== null && this.mono !== null) this.time[0] = st[STAT.RX_TIME]! - this.time[1]!;
    else this.stamp();
  }

  /** Per-packet arrays for batches of up to n packets. */
  get capacity(): number {
    return this.owner.length;
  }

  /** (Re)allocates the per-packet arrays for batches of up to n packets. */
  grow(n: number): void {
    this.owner = new Int32Array(n);
    this.remote = new Int32Array(n);
    this.out = new Int32Array(n);
    this.l3 = new Uint32Array(n);
    this.flags = new Uint8Array(n);
    this.icmpMtu = new Uint16Array(n);
    this.traceId = new Int32Array(n);
  }

  /** The transmit queues (stages queue on them directly). */
  tx!: TxStage;
  /** Held packets released to their neighbor. */
  neighHoldReleased = 0;
  /** Counts a held packet dropped (set by neigh-hold, which owns that reason). */
  dropHeld: (r: number) => void = () => {};
  /** A new or changed neighbor (a VRF's, or a bridge's snooped one; port -1: remote): set by the facade only while someone listens. */
  emitNeighbor: ((owner: string, family: number, w: Uint32Array, mac: number, port: number) => void) | undefined;

  /** A port's send failed with an exception (the facade emits port-error). */
  onPortError: (e: PortEntry, err: unknown) => void = () => {};

  /** The tunnel of bridge domain `br` toward a remote, made on first use. */
  bridgeTunnel(br: BridgeEntry, remote: number): number {
    let t = br.tunnelOf[remote]!;
    if (t < 0) {
      t = this.tunnels.get(this.underlay!, br.proto, remote, br.id, 'ethernet', this.portOf);
      br.tunnelOf[remote] = t;
    }
    return t;
  }

  /** The remote index of a decapsulated packet's outer source; registered on first sight (-1 when full). */
  /** Whether tunnel ti's underlay port takes whole super-frames: a TAP with the 24-byte header and UDP-tunnel GSO granted. */
  tunnelGso(ti: number): boolean {
    const e = this.ports[this.tunnels.port[ti]!];
    if (e === undefined) return false;
    const p = e.port as { vnetHdrSize?: number; offloads?: { udpTunnel?: boolean } };
    return p.vnetHdrSize === 24 && p.offloads?.udpTunnel === true;
  }

  peerRemote(family: number, words: Uint32Array): number {
    let r = family === 4 ? this.remotes.find4(words[0]! | 0) : this.remotes.find6(words, 0); // signed: no heap number in the call
    if (r < 0 && family === this.underlay!.address.family) {
      try {
        r = this.remotes.add({ family: family as 4 | 6, words: words.slice(0, family === 4 ? 1 : 4) });
      } catch {
        r = -1; // registry full: not learned
      }
    }
    return r;
  }

  /** A drop of packet i, counted on the dataplane and charged to the ingress port (the stage counts its own). */
  drop(i: number, reason: number): void {
    this.drops[reason]!++;
    this.ingress.ctr[PortCtr.DROPS]!++;
    this.batch.reason[i] = reason;
  }

  /** A drop of a packet that is not in the batch (held, replicated), charged to `port` when it exists. */
  dropOther(port: number, reason: number, n = 1): void {
    this.drops[reason]! += n;
    const e = port >= 0 ? this.ports[port] : undefined;
    if (e !== undefined) e.ctr[PortCtr.DROPS]! += n;
  }
}
