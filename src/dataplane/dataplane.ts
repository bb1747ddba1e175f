/**
 * The dataplane: ports, bridge domains and VRFs joined into one pipeline that
 * runs once per received batch.
 *
 *   local port rx -> classify (port -> bridge domain or VRF)
 *     bridge: learn source, ARP/ND suppression, FDB -> local port | remote VTEP | flood
 *     VRF:    ARP/ND and ping for the gateway, LPM -> neighbor on a port | tunnel
 *   underlay rx -> decap (validate, VNI/key/label -> bridge or VRF, peer)
 *     bridge: learn source -> remote, FDB -> local port | flood to local ports
 *     VRF:    LPM -> neighbor on a port | tunnel
 *   -> per-port transmit queues, flushed with one write per port per batch
 *
 * Frames stay in their pool slot from receive to transmit: classification
 * and lookups read them in place, encapsulation prepends into the headroom,
 * replies are written over the request. A transmit queue holds a reference on
 * each slot it lists, so one frame can go to several ports (flooding) without
 * a copy; head-end replication to several remote VTEPs copies the frame for
 * all but one of them, except over UDP sockets, where the tunnel header is
 * the same for every remote and one encapsulated frame is sent to each.
 */
import { EventEmitter } from 'node:events';
import { VtepError, invalidArg, checkInt } from '../errors.js';
import { PacketPool, type PoolOptions } from '../packet/pool.js';
import { Batch } from '../packet/batch.js';
import { Reason, REASON_COUNT, reasonCountsObject } from '../packet/reasons.js';
import { parseIp, parseCidr, parseMac, formatIp, readMac, writeMac, type IpAddr, type Cidr } from '../wire/addr.js';
import { u16, u32, put16, put32 } from '../wire/bytes.js';
import { Arp, ArpOp } from '../wire/arp.js';
import { EtherType, Eth } from '../wire/ethernet.js';
import { Ipv4 } from '../wire/ipv4.js';
import { Ipv6 } from '../wire/ipv6.js';
import { IpProto } from '../wire/ip.js';
import { verifies } from '../wire/checksum.js';
import { Icmp6Type, Nd, NdOpt, findNdOption, fillIcmp6Checksum, solicitedNode } from '../wire/icmpv6.js';
import { Tunnel, TunnelProto, PROTO_NAMES, type TunnelProtoName, type TunnelOptions } from '../tunnel/tunnel.js';
import { encapInPool } from '../tunnel/encap.js';
import { Decapsulator, Inner, type DecapConfig } from '../tunnel/decap.js';
import { flowHashIp } from '../tunnel/flowhash.js';
import { IdMap, Addr6Map } from '../tunnel/idmap.js';
import { Fdb, FDB_REMOTE, Learn } from '../table/fdb.js';
import { Remotes } from '../table/remotes.js';
import { NextHops, NextHopKind, Route } from '../table/nexthop.js';
import { Vrfs, type Vrf } from '../table/vrf.js';
import type { Port, PortStats } from '../io/port.js';
import { arpReply, echoReply4, echoReply6, ndAdvert, nsTarget } from './respond.js';
import { parseVswitchConfig, isVswitchConfig, type VswitchConfig, type TapConfig } from './config.js';
import { TapDevice } from '../io/tap.js';
import { UdpSocket } from '../io/udp.js';
import { RawIpSocket } from '../io/raw.js';

/** What a port does in the pipeline. */
export const PortRole = { NONE: 0, BRIDGE: 1, ROUTER: 2, UNDERLAY: 3 } as const;
const ROLE_NAMES = ['', 'bridge', 'router', 'underlay'];

/** How an underlay port carries tunnel packets. */
const UnderlayDepth = { FRAME: 0, UDP: 1, RAW4: 2, RAW6: 3 } as const;

/** Decap targets at or above this are VRFs (target - VRF_TARGET = VRF index); below, bridge domains. */
const VRF_TARGET = 0x10000;
const MAX_PORTS = 4096;
const NO_MAC = 0;

export interface DataplaneOptions {
  /** The packet pool. Default 16,384 slots of 2,048 bytes. */
  pool?: PoolOptions;
  /** Packets read per receive call. Default 256. */
  batchSize?: number;
  /** Learned MACs over all bridge domains. Default 1,048,576. */
  macLimit?: number;
  /** FDB ageing time in seconds. Default 300. */
  ageSeconds?: number;
  /** Clock in milliseconds (FDB ageing, ARP request pacing). Default performance.now. */
  clock?: () => number;
  /** Remote VTEPs at most. Default 4096. */
  maxRemotes?: number;
}

export interface UnderlayOptions {
  /** Our VTEP address (IPv4 or IPv6). */
  address: string;
  /** VXLAN UDP port. Default 4789. */
  vxlanPort?: number;
  /** MPLS-over-UDP port. Default 6635. */
  mplsPort?: number;
  /** Accepted outer sources; default any. */
  peers?: string[];
  /** Accept IPv6 UDP zero checksums (RFC 6935). Default false. */
  udp6ZeroChecksumRx?: boolean;
  /** Outer TTL / hop limit. Default 64. */
  ttl?: number;
  /**
   * Frame mode: one port carries whole underlay frames (a memory wire, a pcap,
   * AF_PACKET), with these outer MACs. Without it, the underlay is sockets:
   * add them with addUnderlaySocket().
   */
  port?: Port;
  mac?: number | string;
  /** Outer destination MAC in frame mode (the next router or the peer). Default broadcast. */
  nextHopMac?: number | string;
}

export interface BridgeOptions {
  /** Encapsulation of this bridge domain toward remote VTEPs. Default vxlan. */
  encap?: TunnelProtoName;
  /** VNI (vxlan), key (gre) or label (mpls*). */
  vni?: number;
  key?: number;
  label?: number;
  /** Remote VTEPs for broadcast, unknown unicast and multicast (head-end replication). */
  flood?: string[];
  /** Answer ARP requests and neighbor solicitations for known addresses locally. Default true. */
  arpSuppress?: boolean;
  /** Learn source MACs. Default true. */
  learn?: boolean;
  /** Learned MACs in this bridge domain at most. */
  macLimit?: number;
}

export interface VrfPortOptions {
  /** IPv4 gateway with the subnet length, e.g. "10.1.0.1/24". */
  gateway?: string;
  /** IPv6 gateway with the subnet length. */
  gateway6?: string;
  /** Router MAC seen by the hosts on this port. Default 02:76:74:00:PP:PP (PP = port id). */
  routerMac?: number | string;
}

/** One next hop of a route. */
export type RouteNextHop =
  | { remote: string; encap: TunnelProtoName; vni?: number; key?: number; label?: number; mac?: number | string; weight?: number }
  | { port: number | string; via?: string; weight?: number };

interface PortEntry {
  id: number;
  name: string;
  port: Port;
  role: number;
  /** Bridge index (BRIDGE), VRF index (ROUTER). */
  owner: number;
  /** Closed by the dataplane when removed or closed. */
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
  drops: number;
  onError: (err: VtepError) => void;
  onLinkDown: () => void;
  onLinkUp: () => void;
}

interface BridgeEntry {
  index: number;
  proto: number;
  id: number;
  /** Local ports of this domain. */
  ports: number[];
  arpSuppress: boolean;
  learn: boolean;
  /** Suppression table: IPv4 -> entry, IPv6 -> entry; entry -> MAC. */
  arp4: IdMap;
  arp6: Addr6Map;
  arpMac: number[];
  /** Tunnel index per remote index, -1 until first used. */
  tunnelOf: Int32Array;
}

/** A routed packet waiting for its next hop's MAC. */
interface Held {
  slot: number;
  /** Where the Ethernet header goes, and the frame's end. */
  start: number;
  end: number;
  port: number;
  ver: number;
  since: number;
}

/** Packets held per unresolved neighbor (Linux's unres_qlen default), and for how long. */
const HOLD_PER_NEIGHBOR = 3;
const HOLD_MS = 3000;

interface VrfEntry {
  index: number;
  vrf: Vrf;
  label: number | undefined;
  vni: number | undefined;
  ports: number[];
  /** Neighbors on the VRF's ports: IPv4/IPv6 -> entry; entry -> MAC, port. */
  neigh4: IdMap;
  neigh6: Addr6Map;
  neighMac: number[];
  neighPort: number[];
  /** Last time (clock ms) an ARP request or NS was sent for an address (key: text). */
  asked: Map<string, number>;
  /** Packets held while their next hop is resolved (key: address text), as a kernel's unres_qlen. */
  pending: Map<string, Held[]>;
  /** Connected next hop per port id of this VRF. */
  connected: Map<number, number>;
}

/** Counters of one tunnel direction, per remote and protocol. */
interface TunnelCounters {
  txPackets: Float64Array;
  txBytes: Float64Array;
  rxPackets: Float64Array;
  rxBytes: Float64Array;
}

export interface DataplaneStats {
  ports: Record<string, { kind: string; role: string; rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; drops: number; io: PortStats }>;
  tunnels: Record<string, { txPackets: number; txBytes: number; rxPackets: number; rxBytes: number }>;
  drops: Record<string, number>;
  fdb: { entries: number; learned: number; moved: number; aged: number; limit: number };
  arp: { suppressed: number; gatewayReplies: number; requestsSent: number };
  pool: { slots: number; free: number };
}

export class Dataplane extends EventEmitter {
  readonly pool: PacketPool;
  readonly fdb: Fdb;
  readonly remotes: Remotes;
  readonly nexthops: NextHops;
  readonly vrfs: Vrfs;
  readonly decap = new Decapsulator();
  readonly batchSize: number;
  private readonly clock: () => number;

  private readonly ports: (PortEntry | undefined)[] = [];
  private readonly byName = new Map<string, number>();
  private readonly bridges: BridgeEntry[] = [];
  private readonly vrfList: VrfEntry[] = [];
  private readonly tunnels: Tunnel[] = [];
  /** Tunnel index -> underlay port id, remote index, protocol, UDP destination port (grown as tunnels are made). */
  private tunnelPort = new Int32Array(64);
  private tunnelRemote = new Int32Array(64);
  private tunnelProto = new Uint8Array(64);
  private tunnelDstPort = new Uint16Array(64);
  /** Next hop id -> tunnel index (TUNNEL next hops) or -1. */
  private nhTunnel = new Int32Array(0);
  /** Next hop id -> inner destination MAC of a VXLAN route; neighbor address of a `via` route. */
  private nhMac = new Float64Array(0);
  private readonly nhVia = new Map<number, IpAddr>();

  private underlay: { address: IpAddr; ttl: number; vxlanPort: number; mplsPort: number; framePort: number; mac: number; nextHopMac: number; udp: number[]; raw: number[] } | undefined;
  private readonly rx: Batch;
  /** Ports whose transmit queue holds entries. */
  private readonly dirty: number[] = [];
  private readonly isDirty = new Uint8Array(MAX_PORTS);
  private running = false;
  private ageTimer: NodeJS.Timeout | undefined;
  private closedFlag = false;

  /** Drops per reason code; per port rx/tx. */
  readonly drops = new Float64Array(REASON_COUNT);
  private readonly portRx = new Float64Array(MAX_PORTS * 2);
  private readonly portTx = new Float64Array(MAX_PORTS * 2);
  private readonly tc: TunnelCounters;
  private arpSuppressed = 0;
  private gatewayReplies = 0;
  private requestsSent = 0;

  // Reused per packet (no allocation on the hot path).
  private readonly words = new Uint32Array(4);
  /** The last source learned from the underlay in this batch (see bridgeFromRemote). */
  private learnedHi = -1;
  private learnedLo = -1;
  private learnedAt = -1;
  private learnedBd = -1;

  constructor(options: DataplaneOptions = {}) {
    super();
    this.pool = new PacketPool({ slots: 16384, ...options.pool });
    this.batchSize = checkInt('batchSize', options.batchSize ?? 256, 1, 4096);
    this.clock = options.clock ?? (() => performance.now());
    const maxRemotes = checkInt('maxRemotes', options.maxRemotes ?? 4096, 1, 1 << 20);
    this.remotes = new Remotes({ capacity: maxRemotes });
    this.fdb = new Fdb({ maxLearned: options.macLimit ?? 1 << 20, ageMs: (options.ageSeconds ?? 300) * 1000, clock: this.clock });
    this.nexthops = new NextHops({ remotes: this.remotes });
    this.nhTunnel = new Int32Array(this.nexthops.capacity).fill(-1);
    this.nhMac = new Float64Array(this.nexthops.capacity);
    this.vrfs = new Vrfs();
    this.rx = new Batch(this.pool, this.batchSize);
    const n = maxRemotes * 5;
    this.tc = { txPackets: new Float64Array(n), txBytes: new Float64Array(n), rxPackets: new Float64Array(n), rxBytes: new Float64Array(n) };
  }

  // ---------------------------------------------------------------- control

  /**
   * A dataplane from a vSwitch config (see config.ts): creates its TAP
   * devices and underlay sockets (a UDP socket each for VXLAN and
   * MPLS-over-UDP, a raw IP socket for GRE when used), its bridge domains,
   * VRFs, routes and static entries. If anything fails, whatever was opened is
   * closed again and the error is thrown (ERR_INVALID_CONFIG for the config,
   * ERR_NATIVE for the system).
   */
  static fromConfig(input: unknown, options: DataplaneOptions = {}): Dataplane {
    const c: VswitchConfig = isVswitchConfig(input) ? input : parseVswitchConfig(input);
    const dp = new Dataplane({ ...options, macLimit: c.macLimit, ageSeconds: c.ageSeconds });
    try {
      const u = c.underlay;
      const uo: UnderlayOptions = { address: u.address, vxlanPort: u.vxlanPort, mplsPort: u.mplsPort, udp6ZeroChecksumRx: u.udp6ZeroChecksumRx, ttl: u.ttl };
      if (u.peers !== undefined) uo.peers = u.peers;
      dp.setUnderlay(uo);
      const family = dp.underlay!.address.family;
      const sock = { address: u.address, reusePort: true, sndbuf: 4 << 20, rcvbuf: 4 << 20, ...(u.netns === undefined ? {} : { netns: u.netns }) };
      dp.addUnderlaySocket(UdpSocket.open({ ...sock, port: u.vxlanPort }), true);
      dp.addUnderlaySocket(UdpSocket.open({ ...sock, port: u.mplsPort }), true);
      if (u.gre) {
        const raw = { family, protocol: IpProto.GRE, address: u.address, ...(u.netns === undefined ? {} : { netns: u.netns }) } as const;
        dp.addUnderlaySocket(RawIpSocket.open(raw), true);
      }
      for (const b of c.bridges) {
        const bo: BridgeOptions = { encap: b.encap, flood: b.flood, arpSuppress: b.arpSuppress, learn: b.learn };
        if (b.encap === 'vxlan') bo.vni = b.id;
        else if (b.encap === 'gre') bo.key = b.id;
        else bo.label = b.id;
        if (b.macLimit !== undefined) bo.macLimit = b.macLimit;
        const bi = dp.addBridge(bo);
        for (const p of b.ports) dp.addBridgePort(bi, openTap(p), true);
        for (const f of b.fdb) dp.addFdb(bi, f.mac, f.remote !== undefined ? { remote: f.remote } : { port: f.port! });
        for (const a of b.arp) dp.addArp(bi, a.ip, a.mac);
      }
      for (const v of c.vrfs) {
        const vo: { name: string; label?: number; vni?: number } = { name: v.name };
        if (v.label !== undefined) vo.label = v.label;
        if (v.vni !== undefined) vo.vni = v.vni;
        dp.addVrf(vo);
        for (const p of v.ports) {
          const po: VrfPortOptions = {};
          if (p.gateway !== undefined) po.gateway = `${formatIp(p.gateway)}/${p.gateway.length}`;
          if (p.gateway6 !== undefined) po.gateway6 = `${formatIp(p.gateway6)}/${p.gateway6.length}`;
          if (p.routerMac !== undefined) po.routerMac = p.routerMac;
          dp.addVrfPort(v.name, openTap(p), po, true);
        }
        for (const r of v.routes) {
          dp.addRoute(v.name, r.prefixText, r.nexthops.map((n): RouteNextHop => {
            if (n.remote !== undefined) {
              const t: RouteNextHop = { remote: n.remote, encap: n.encap!, weight: n.weight };
              if (n.encap === 'vxlan') t.vni = n.id;
              else if (n.encap === 'gre') t.key = n.id;
              else t.label = n.id;
              if (n.mac !== undefined) t.mac = n.mac;
              return t;
            }
            const l: RouteNextHop = { port: n.port!, weight: n.weight };
            if (n.via !== undefined) l.via = n.via;
            return l;
          }));
        }
      }
    } catch (err) {
      dp.close();
      throw err;
    }
    return dp;
  }

  /** Configures the underlay: our address, ports, peers; frame mode with `port`. */
  setUnderlay(o: UnderlayOptions): void {
    if (this.underlay !== undefined) throw new VtepError('ERR_EXISTS', 'underlay: already set');
    const address = parseIp(o.address, 'address');
    const vxlanPort = checkInt('vxlanPort', o.vxlanPort ?? 4789, 1, 65535);
    const mplsPort = checkInt('mplsPort', o.mplsPort ?? 6635, 1, 65535);
    const cfg: DecapConfig = { local: [o.address], vxlan: { port: vxlanPort, vnis: [] }, mpls: { udpPort: mplsPort, labels: {} }, udp6ZeroChecksumRx: o.udp6ZeroChecksumRx ?? false };
    if (o.peers !== undefined) cfg.peers = o.peers;
    this.decap.configure(cfg);
    this.underlay = {
      address,
      ttl: checkInt('ttl', o.ttl ?? 64, 1, 255),
      vxlanPort,
      mplsPort,
      framePort: -1,
      mac: o.mac === undefined ? 0x020000000001 : macArg('mac', o.mac),
      nextHopMac: o.nextHopMac === undefined ? 0xffffffffffff : macArg('nextHopMac', o.nextHopMac),
      udp: [],
      raw: [],
    };
    if (o.port !== undefined) {
      const id = this.attach(o.port, PortRole.UNDERLAY, 0, false);
      this.entry(id).depth = UnderlayDepth.FRAME;
      this.underlay.framePort = id;
    }
  }

  /**
   * Adds a kernel socket to the underlay: a UdpSocket bound to the VXLAN or
   * MPLS port, or a RawIpSocket for GRE. Returns its port id.
   */
  addUnderlaySocket(port: Port & { localPort?: number; family?: number }, owned = false): number {
    const u = this.requireUnderlay();
    if (u.framePort >= 0) throw new VtepError('ERR_INVALID_ARG', 'underlay: in frame mode (setUnderlay({ port })); sockets do not mix with it');
    const id = this.attach(port, PortRole.UNDERLAY, 0, owned);
    const e = this.entry(id);
    e.family = port.family ?? 4;
    if (port.kind === 'udp') {
      e.depth = UnderlayDepth.UDP;
      e.localPort = port.localPort ?? 0;
      if (e.localPort !== u.vxlanPort && e.localPort !== u.mplsPort) {
        throw invalidArg('port', e.localPort, `the VXLAN port ${u.vxlanPort} or the MPLS port ${u.mplsPort}`);
      }
      u.udp.push(id);
    } else if (port.kind === 'raw') {
      e.depth = e.family === 6 ? UnderlayDepth.RAW6 : UnderlayDepth.RAW4;
      u.raw.push(id);
    } else {
      throw invalidArg('port', port.kind, 'a UDP or raw IP socket');
    }
    return id;
  }

  /** Adds a bridge domain; returns its index. */
  addBridge(o: BridgeOptions): number {
    const encap = o.encap ?? 'vxlan';
    const proto = TunnelProto[encap.toUpperCase() as keyof typeof TunnelProto];
    if (proto === undefined) throw invalidArg('encap', o.encap, 'one of vxlan, gre, mplsoudp, mplsogre');
    const id = proto === TunnelProto.VXLAN ? checkInt('vni', o.vni, 0, 0xffffff) : proto === TunnelProto.GRE ? checkInt('key', o.key, 0, 0xffffffff) : checkInt('label', o.label, 16, 0xfffff);
    if (this.bridges.some((b) => b.proto === proto && b.id === id)) throw new VtepError('ERR_EXISTS', `bridge: ${encap} ${id} exists`);
    this.requireUnderlay();
    const index = this.bridges.length;
    const b: BridgeEntry = {
      index, proto, id, ports: [], arpSuppress: o.arpSuppress ?? true, learn: o.learn ?? true,
      arp4: new IdMap(), arp6: new Addr6Map(), arpMac: [], tunnelOf: new Int32Array(this.remotes.capacity).fill(-1),
    };
    this.bridges.push(b);
    if (proto === TunnelProto.VXLAN) this.decap.bindVni(id, index);
    else if (proto === TunnelProto.GRE) this.decap.bindKey(id, index);
    else this.decap.bindLabel(id, 'ethernet', index);
    if (o.macLimit !== undefined) this.fdb.setLimit(index, o.macLimit);
    if (o.flood !== undefined) this.fdb.setFlood(index, o.flood.map((a, i) => this.remoteIndex(a, `flood[${i}]`)));
    return index;
  }

  /** Puts `port` in bridge domain `bridge`; returns the port id. */
  addBridgePort(bridge: number, port: Port, owned = false): number {
    const b = this.bridge(bridge);
    const id = this.attach(port, PortRole.BRIDGE, bridge, owned);
    b.ports.push(id);
    return id;
  }

  /** A static FDB entry: MAC at a remote VTEP or on a port of the bridge. */
  addFdb(bridge: number, mac: number | string, to: { remote: string } | { port: number | string }): void {
    this.bridge(bridge);
    const m = macArg('mac', mac);
    if ('remote' in to) this.fdb.addStatic(bridge, m, FDB_REMOTE | this.remoteIndex(to.remote, 'remote'));
    else this.fdb.addStatic(bridge, m, this.portId(to.port));
  }

  /** Adds a remote VTEP to a bridge domain's flood list. */
  addFlood(bridge: number, remote: string): void {
    this.bridge(bridge);
    this.fdb.addFlood(bridge, this.remoteIndex(remote, 'remote'));
  }

  /** A static ARP/ND suppression entry: `ip` is at `mac` in this bridge domain. */
  addArp(bridge: number, ip: string, mac: number | string): void {
    const b = this.bridge(bridge);
    const a = parseIp(ip, 'ip');
    this.arpLearn(b, a.family, a.words, 0, macArg('mac', mac));
  }

  /** Adds a VRF; `label` / `vni` identify it on receive. */
  addVrf(o: { name: string; label?: number; vni?: number }): Vrf {
    const vrf = this.vrfs.create(o.name);
    const index = this.vrfList.length;
    const e: VrfEntry = {
      index, vrf, label: o.label, vni: o.vni, ports: [], neigh4: new IdMap(), neigh6: new Addr6Map(), neighMac: [], neighPort: [],
      asked: new Map(), pending: new Map(), connected: new Map(),
    };
    this.vrfList.push(e);
    this.requireUnderlay();
    if (o.label !== undefined) this.decap.bindLabel(checkInt('label', o.label, 16, 0xfffff), 'ip', VRF_TARGET + index);
    if (o.vni !== undefined) this.decap.bindVni(checkInt('vni', o.vni, 0, 0xffffff), VRF_TARGET + index);
    return vrf;
  }

  /** Puts `port` in a VRF as a gateway: answers ARP/ND and pings for the gateway, routes what it receives. */
  addVrfPort(vrfName: string, port: Port, o: VrfPortOptions, owned = false): number {
    const v = this.vrfEntry(vrfName);
    if (o.gateway === undefined && o.gateway6 === undefined) throw invalidArg('gateway', undefined, 'given (or gateway6) for a VRF port');
    const id = this.attach(port, PortRole.ROUTER, v.index, owned);
    const e = this.entry(id);
    e.routerMac = o.routerMac === undefined ? 0x027674000000 + id : macArg('routerMac', o.routerMac);
    v.ports.push(id);
    // A connected next hop per port: destination MAC from the neighbor table.
    const nh = this.nexthops.add({ type: 'local', port: id, srcMac: e.routerMac, dstMac: NO_MAC });
    v.connected.set(id, nh);
    if (o.gateway !== undefined) {
      const g = parseCidr(o.gateway, 'gateway', true);
      if (g.family !== 4) throw invalidArg('gateway', o.gateway, 'an IPv4 address with a prefix length');
      e.gw4 = g.words[0]!;
      e.gw4len = g.length;
      v.vrf.v4.add(subnet(g).words[0]!, g.length, Route.nexthop(nh));
    }
    if (o.gateway6 !== undefined) {
      const g = parseCidr(o.gateway6, 'gateway6', true);
      if (g.family !== 6) throw invalidArg('gateway6', o.gateway6, 'an IPv6 address with a prefix length');
      e.gw6 = g.words;
      e.gw6len = g.length;
      v.vrf.v6.add(subnet(g).words, g.length, Route.nexthop(nh));
    }
    return id;
  }

  /** Adds (or replaces) a route; several next hops make an ECMP group; none is a blackhole. */
  addRoute(vrfName: string, prefix: string, nexthops: RouteNextHop[]): void {
    const v = this.vrfEntry(vrfName);
    const p = parseCidr(prefix, 'prefix');
    let value: number;
    if (nexthops.length === 0) {
      value = Route.nexthop(this.nexthops.add({ type: 'drop' }));
    } else {
      const ids = nexthops.map((n, i) => this.addNextHop(v, n, `nexthops[${i}]`));
      value = ids.length === 1 ? Route.nexthop(ids[0]!) : this.nexthops.addGroup(ids, { weights: nexthops.map((n) => n.weight ?? 1) }); // addGroup returns the route value
    }
    if (p.family === 4) v.vrf.v4.add(p.words[0]!, p.length, value);
    else v.vrf.v6.add(p.words, p.length, value);
  }

  /** Removes a route. */
  deleteRoute(vrfName: string, prefix: string): boolean {
    const v = this.vrfEntry(vrfName);
    return v.vrf.delete(prefix);
  }

  /** Detaches a port (closing it if the dataplane opened it). */
  removePort(idOrName: number | string): void {
    const id = this.portId(idOrName);
    const e = this.entry(id);
    this.flushPort(id);
    e.port.onReadable(null);
    e.port.off('error', e.onError);
    e.port.off('link-down', e.onLinkDown);
    e.port.off('link-up', e.onLinkUp);
    if (e.role === PortRole.BRIDGE) {
      const b = this.bridges[e.owner]!;
      b.ports = b.ports.filter((p) => p !== id);
      this.fdb.flush({ bd: e.owner, value: id });
    } else if (e.role === PortRole.ROUTER) {
      const v = this.vrfList[e.owner]!;
      v.ports = v.ports.filter((p) => p !== id);
    }
    for (const v of this.vrfList) {
      for (const [key, held] of v.pending) {
        const keep = held.filter((h) => h.port !== id);
        for (const h of held) if (h.port === id) this.pool.free(h.slot);
        if (keep.length === 0) v.pending.delete(key);
        else v.pending.set(key, keep);
      }
    }
    if (e.owned) e.port.close();
    this.ports[id] = undefined;
    this.byName.delete(e.name);
  }

  /** Starts serving every port as it becomes readable, and FDB ageing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const e of this.ports) if (e !== undefined) this.watch(e);
    this.ageTimer = setInterval(() => this.fdb.age(), 1000);
    this.ageTimer.unref();
  }

  /** Stops serving ports (they stay open). */
  stop(): void {
    this.running = false;
    for (const e of this.ports) e?.port.onReadable(null);
    if (this.ageTimer !== undefined) clearInterval(this.ageTimer);
    this.ageTimer = undefined;
  }

  /**
   * Runs a batch through the pipeline as if it had been received on a port:
   * for frames that come from elsewhere (a capture, a test, another
   * process). The batch must be of this dataplane's pool; its slots are
   * taken over and the batch is left empty.
   */
  inject(idOrName: number | string, batch: Batch): void {
    if (batch.pool !== this.pool) throw invalidArg('batch', 'a batch of another pool', "a batch of this dataplane's pool (dp.pool)");
    this.process(batch, this.entry(this.portId(idOrName)));
  }

  /** Reads and processes everything ready on every port once; returns the packets read. */
  poll(): number {
    let n = 0;
    for (const e of this.ports) if (e !== undefined) n += this.service(e.id, 1 << 30);
    return n;
  }

  /** Stops, and closes the ports the dataplane opened. */
  close(): void {
    if (this.closedFlag) return;
    this.stop();
    for (const v of this.vrfList) {
      for (const held of v.pending.values()) for (const h of held) this.pool.free(h.slot);
      v.pending.clear();
    }
    for (const e of this.ports) if (e !== undefined) this.removePort(e.id);
    this.closedFlag = true;
  }

  /** Port id by name. */
  portId(idOrName: number | string): number {
    const id = typeof idOrName === 'number' ? idOrName : this.byName.get(idOrName);
    if (id === undefined || this.ports[id] === undefined) throw new VtepError('ERR_NOT_FOUND', `port: ${JSON.stringify(idOrName)} is not a port of this dataplane`);
    return id;
  }

  /** The Port object of a port id or name. */
  port(idOrName: number | string): Port {
    return this.entry(this.portId(idOrName)).port;
  }

  /** Router MAC of a VRF port. */
  routerMac(idOrName: number | string): number {
    return this.entry(this.portId(idOrName)).routerMac;
  }

  /** Counters as a plain object. */
  stats(): DataplaneStats {
    const ports: DataplaneStats['ports'] = {};
    for (const e of this.ports) {
      if (e === undefined) continue;
      ports[e.name] = {
        kind: e.port.kind, role: ROLE_NAMES[e.role]!,
        rxPackets: this.portRx[2 * e.id]!, rxBytes: this.portRx[2 * e.id + 1]!,
        txPackets: this.portTx[2 * e.id]!, txBytes: this.portTx[2 * e.id + 1]!,
        drops: e.drops, io: e.port.stats,
      };
    }
    const tunnels: DataplaneStats['tunnels'] = {};
    const t = this.tc;
    for (const r of this.remotes) {
      for (let p = 1; p <= 4; p++) {
        const k = r.index * 5 + p;
        if (t.txPackets[k] === 0 && t.rxPackets[k] === 0) continue;
        tunnels[`${PROTO_NAMES[p]} ${r.address}`] = { txPackets: t.txPackets[k]!, txBytes: t.txBytes[k]!, rxPackets: t.rxPackets[k]!, rxBytes: t.rxBytes[k]! };
      }
    }
    const c = this.fdb.counters;
    return {
      ports, tunnels, drops: reasonCountsObject(this.drops),
      fdb: { entries: this.fdb.size, learned: c.learned, moved: c.moved, aged: c.aged, limit: c.limit },
      arp: { suppressed: this.arpSuppressed, gatewayReplies: this.gatewayReplies, requestsSent: this.requestsSent },
      pool: { slots: this.pool.slots, free: this.pool.available },
    };
  }

  // ----------------------------------------------------------- control helpers

  private requireUnderlay(): NonNullable<Dataplane['underlay']> {
    if (this.underlay === undefined) throw new VtepError('ERR_INVALID_ARG', 'underlay: call setUnderlay() first');
    return this.underlay;
  }

  private entry(id: number): PortEntry {
    const e = this.ports[id];
    if (e === undefined) throw new VtepError('ERR_NOT_FOUND', `port: ${id} is not a port of this dataplane`);
    return e;
  }

  private bridge(index: number): BridgeEntry {
    const b = this.bridges[index];
    if (b === undefined) throw new VtepError('ERR_NOT_FOUND', `bridge: ${index} is not a bridge domain of this dataplane`);
    return b;
  }

  private vrfEntry(name: string): VrfEntry {
    const v = this.vrfs.get(name);
    if (v === undefined) throw new VtepError('ERR_NOT_FOUND', `vrf: ${JSON.stringify(name)} does not exist`);
    return this.vrfList.find((e) => e.vrf === v)!;
  }

  private remoteIndex(address: string, field: string): number {
    const a = parseIp(address, field);
    const u = this.requireUnderlay();
    if (a.family !== u.address.family) throw invalidArg(field, address, `an IPv${u.address.family} address like the underlay's`);
    return this.remotes.add(a);
  }

  private attach(port: Port, role: number, owner: number, owned: boolean): number {
    if (port === null || typeof port !== 'object' || typeof port.readBatch !== 'function') throw invalidArg('port', port, 'a Port');
    if (this.byName.has(port.name)) throw new VtepError('ERR_EXISTS', `port: ${JSON.stringify(port.name)} is already attached`);
    let id = this.ports.indexOf(undefined);
    if (id < 0) id = this.ports.length;
    if (id >= MAX_PORTS) throw new VtepError('ERR_LIMIT', `ports: at most ${MAX_PORTS}`);
    const e: PortEntry = {
      id, name: port.name, port, role, owner, owned, tx: new Batch(this.pool, this.batchSize * 2), depth: 0, localPort: 0, family: 4,
      routerMac: 0, gw4: 0, gw4len: 0, gw6: null, gw6len: 0, drops: 0,
      onError: (err) => this.emit('port-error', { port: port.name, error: err }),
      onLinkDown: () => this.emit('link-down', { port: port.name }),
      onLinkUp: () => this.emit('link-up', { port: port.name }),
    };
    port.on('error', e.onError);
    port.on('link-down', e.onLinkDown);
    port.on('link-up', e.onLinkUp);
    this.ports[id] = e;
    this.byName.set(port.name, id);
    this.portRx[2 * id] = this.portRx[2 * id + 1] = this.portTx[2 * id] = this.portTx[2 * id + 1] = 0;
    if (this.running) this.watch(e);
    return id;
  }

  private watch(e: PortEntry): void {
    e.port.onReadable(() => this.service(e.id, 64));
  }

  private addNextHop(v: VrfEntry, n: RouteNextHop, field: string): number {
    if ('remote' in n) {
      const encap = n.encap;
      const proto = TunnelProto[String(encap).toUpperCase() as keyof typeof TunnelProto];
      if (proto === undefined) throw invalidArg(`${field}.encap`, encap, 'one of vxlan, gre, mplsoudp, mplsogre');
      const id = proto === TunnelProto.VXLAN ? n.vni : proto === TunnelProto.GRE ? n.key : n.label;
      const remote = this.remoteIndex(n.remote, `${field}.remote`);
      const nh = this.nexthops.add({ type: 'tunnel', proto: encap, remote, id: id as number });
      const payload = proto === TunnelProto.VXLAN ? 'ethernet' : 'ip';
      if (proto === TunnelProto.VXLAN) {
        if (n.mac === undefined) throw invalidArg(`${field}.mac`, undefined, 'given for a VXLAN route (the inner destination MAC)');
        this.nhMac[nh] = macArg(`${field}.mac`, n.mac);
      }
      this.nhTunnel[nh] = this.makeTunnel(proto, remote, id as number, payload);
      return nh;
    }
    const port = this.portId(n.port);
    if (!v.ports.includes(port)) throw invalidArg(`${field}.port`, n.port, `a port of VRF ${v.vrf.name}`);
    const e = this.entry(port);
    if (n.via === undefined) return v.connected.get(port)!;
    const nh = this.nexthops.add({ type: 'local', port, srcMac: e.routerMac, dstMac: NO_MAC });
    this.nhVia.set(nh, parseIp(n.via, `${field}.via`));
    return nh;
  }

  /** A tunnel (template) toward a remote; its index. */
  private makeTunnel(proto: number, remote: number, id: number, payload: 'ethernet' | 'ip'): number {
    const u = this.requireUnderlay();
    const isUdp = proto === TunnelProto.VXLAN || proto === TunnelProto.MPLSOUDP;
    let port: number;
    let depth: 'frame' | 'ip' | 'udp';
    if (u.framePort >= 0) {
      port = u.framePort;
      depth = 'frame';
    } else if (isUdp) {
      const want = proto === TunnelProto.VXLAN ? u.vxlanPort : u.mplsPort;
      port = u.udp.find((p) => this.entry(p).localPort === want) ?? -1;
      depth = 'udp';
    } else {
      port = u.raw.find((p) => this.entry(p).family === u.address.family) ?? -1;
      depth = 'ip';
    }
    const opts: TunnelOptions = {
      proto: PROTO_NAMES[proto] as TunnelProtoName,
      src: formatIp(u.address),
      dst: this.remotes.address(remote),
      ttl: u.ttl,
      payload,
      depth,
      srcMac: u.mac,
      dstMac: u.nextHopMac,
    };
    if (proto === TunnelProto.VXLAN) opts.vni = id;
    else if (proto === TunnelProto.GRE) opts.key = id;
    else opts.label = id;
    if (proto === TunnelProto.VXLAN) opts.dstPort = u.vxlanPort;
    if (proto === TunnelProto.MPLSOUDP) opts.dstPort = u.mplsPort;
    const t = new Tunnel(opts);
    const ti = this.tunnels.length;
    if (ti === this.tunnelPort.length) {
      const grow = <T extends Int32Array | Uint8Array | Uint16Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.tunnelPort = grow(this.tunnelPort);
      this.tunnelRemote = grow(this.tunnelRemote);
      this.tunnelProto = grow(this.tunnelProto);
      this.tunnelDstPort = grow(this.tunnelDstPort);
    }
    this.tunnels.push(t);
    this.tunnelPort[ti] = port;
    this.tunnelRemote[ti] = remote;
    this.tunnelProto[ti] = proto;
    this.tunnelDstPort[ti] = t.dstPort;
    return ti;
  }

  private bridgeTunnel(b: BridgeEntry, remote: number): number {
    let t = b.tunnelOf[remote]!;
    if (t < 0) {
      t = this.makeTunnel(b.proto, remote, b.id, 'ethernet');
      b.tunnelOf[remote] = t;
    }
    return t;
  }

  // ------------------------------------------------------------- the pipeline

  /** Reads up to `budget` batches from a port and runs each through the pipeline. */
  private service(id: number, budget: number): number {
    const e = this.ports[id];
    if (e === undefined) return 0;
    const rx = this.rx;
    let total = 0;
    for (let k = 0; k < budget; k++) {
      const n = e.port.readBatch(rx);
      if (n === 0) return total;
      total += n;
      this.process(rx, e);
    }
    // Budget spent with more to read: yield to other ports, then continue.
    if (this.running) setImmediate(() => this.service(id, 64));
    return total;
  }

  /**
   * Runs one received batch through the pipeline and transmits the result.
   * Public so that a profiler can wrap it (bench/e2e.ts --profile); use inject().
   */
  process(b: Batch, e: PortEntry): void {
    const n = b.count;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += b.len[i]!;
    this.portRx[2 * e.id]! += n;
    this.portRx[2 * e.id + 1]! += bytes;
    if (e.role === PortRole.BRIDGE) this.bridgeRx(b, e);
    else if (e.role === PortRole.ROUTER) this.routerRx(b, e);
    else if (e.role === PortRole.UNDERLAY) this.underlayRx(b, e);
    this.flush();
    b.release();
  }

  private drop(e: PortEntry, reason: number): void {
    this.drops[reason]!++;
    e.drops++;
  }

  /** Frames from a local port of a bridge domain. */
  private bridgeRx(b: Batch, e: PortEntry): void {
    const u8 = this.pool.u8;
    const br = this.bridges[e.owner]!;
    const fdb = this.fdb;
    const now = this.clock();
    // Frames of a batch mostly share their source (the VM behind the port) and
    // often their destination: learn a source once per run of equal ones, and
    // reuse the previous lookup for an equal destination (until learning changes the table).
    let learnedHi = -1;
    let learnedLo = -1;
    let cachedHi = -1;
    let cachedLo = -1;
    let cached = -1;
    for (let i = 0; i < b.count; i++) {
      const s = b.start[i]!;
      const len = b.len[i]!;
      if (len < Eth.HEADER_LEN) {
        this.drop(e, Reason.truncated);
        continue;
      }
      const srcHi = (u8[s + 6]! << 8) | u8[s + 7]!;
      if ((srcHi & 0x100) !== 0) {
        this.drop(e, Reason.filtered); // a group MAC is never a source
        continue;
      }
      if (br.learn) {
        const srcLo = u32(u8, s + 8);
        if (srcHi !== learnedHi || srcLo !== learnedLo) {
          const st = fdb.learn(br.index, srcHi, srcLo, e.id, now);
          learnedHi = srcHi;
          learnedLo = srcLo;
          if (st === Learn.NEW || st === Learn.MOVED) cachedHi = -1;
        }
      }
      if (br.arpSuppress) {
        const type = (u8[s + 12]! << 8) | u8[s + 13]!;
        if ((type === EtherType.ARP || type === EtherType.IPV6) && this.suppress(br, e, b, i, s, len)) continue;
      }
      const dstHi = (u8[s]! << 8) | u8[s + 1]!;
      if ((dstHi & 0x100) !== 0) {
        this.flood(br, e.id, b.slot[i]!, s, len, true);
        continue;
      }
      const dstLo = u32(u8, s + 2);
      let v: number;
      if (dstHi === cachedHi && dstLo === cachedLo) v = cached;
      else {
        v = fdb.lookup(br.index, dstHi, dstLo);
        cachedHi = dstHi;
        cachedLo = dstLo;
        cached = v;
      }
      if (v < 0) this.flood(br, e.id, b.slot[i]!, s, len, true);
      else if ((v & FDB_REMOTE) !== 0) this.toRemote(br, v & (FDB_REMOTE - 1), b.slot[i]!, s, len);
      else if (v === e.id) this.drop(e, Reason.loop);
      else this.enqueue(v, b.slot[i]!, s, len);
    }
  }

  /**
   * ARP/ND suppression on a bridge port: snoops sender addresses into the
   * domain's table and answers requests for known addresses in place.
   * Returns true when the frame was consumed (answered).
   */
  private suppress(br: BridgeEntry, e: PortEntry, b: Batch, i: number, s: number, len: number): boolean {
    const u8 = this.pool.u8;
    const type = (u8[s + 12]! << 8) | u8[s + 13]!;
    const end = s + len;
    const l3 = s + Eth.HEADER_LEN;
    if (type === EtherType.ARP) {
      if (end - l3 < Arp.LEN || u16(u8, l3) !== 1 || u16(u8, l3 + 2) !== EtherType.IPV4) return false;
      const spa = u32(u8, l3 + Arp.SPA);
      const sha = readMac(u8, l3 + Arp.SHA);
      if (spa !== 0) this.arpLearn4(br, spa, sha);
      if (u16(u8, l3 + Arp.OPER) !== ArpOp.REQUEST) return false;
      const k = br.arp4.get(u32(u8, l3 + Arp.TPA));
      if (k < 0) return false;
      const mac = br.arpMac[k]!;
      if (mac === sha || arpReply(u8, s, l3, end, mac) === 0) return false;
      this.arpSuppressed++;
      this.enqueue(e.id, b.slot[i]!, s, len);
      return true;
    }
    if (type === EtherType.IPV6 && end - l3 >= Ipv6.HEADER_LEN + Nd.OPTIONS && u8[l3 + Ipv6.NEXT_HEADER] === IpProto.ICMPV6 && u8[l3 + Ipv6.HEADER_LEN] === Icmp6Type.NEIGHBOR_SOLICIT) {
      const w = this.words;
      if (!nsTarget(u8, l3, end, w)) return false;
      const src = l3 + Ipv6.SRC;
      const icmp = l3 + Ipv6.HEADER_LEN;
      const opt = findNdOption(u8, icmp + Nd.OPTIONS, icmp + u16(u8, l3 + Ipv6.PAYLOAD_LEN), NdOpt.SOURCE_LINK_ADDR);
      if (opt >= 0 && u32(u8, src) !== 0) this.arpLearn6At(br, u8, src, readMac(u8, opt + 2));
      const k = br.arp6.get(w[0]!, w[1]!, w[2]!, w[3]!);
      if (k < 0) return false;
      const n = ndAdvert(u8, s, l3, end, br.arpMac[k]!, false, this.pool.roomAfter(s));
      if (n === 0) return false;
      this.arpSuppressed++;
      this.enqueue(e.id, b.slot[i]!, s, n);
      return true;
    }
    return false;
  }

  /** Suppression entry k gets `mac`; k < 0 makes a new entry. Returns the entry. */
  private static arpSet(br: BridgeEntry, k: number, mac: number): number {
    if (k >= 0) {
      br.arpMac[k] = mac;
      return k;
    }
    br.arpMac.push(mac);
    return br.arpMac.length - 1;
  }

  private arpLearn4(br: BridgeEntry, ip: number, mac: number): void {
    const k = br.arp4.get(ip);
    const n = Dataplane.arpSet(br, k, mac);
    if (k < 0) br.arp4.set(ip, n);
  }

  private arpLearn6At(br: BridgeEntry, u8: Uint8Array, at: number, mac: number): void {
    const w = this.words;
    w[0] = u32(u8, at);
    w[1] = u32(u8, at + 4);
    w[2] = u32(u8, at + 8);
    w[3] = u32(u8, at + 12);
    this.arpLearn(br, 6, w, 0, mac);
  }

  private arpLearn(br: BridgeEntry, family: number, words: Uint32Array, off: number, mac: number): void {
    if (family === 4) return this.arpLearn4(br, words[off]!, mac);
    const k = br.arp6.getWords(words, off);
    const n = Dataplane.arpSet(br, k, mac);
    if (k < 0) br.arp6.set(words, off, n);
  }

  /**
   * Broadcast, unknown unicast, multicast: to every local port of the domain
   * but the ingress, and (from local ports only: split horizon) to every
   * remote VTEP of the flood list by head-end replication.
   */
  private flood(br: BridgeEntry, ingress: number, slot: number, s: number, len: number, toRemotes: boolean): void {
    const ports = br.ports;
    for (let k = 0; k < ports.length; k++) {
      const p = ports[k]!;
      if (p !== ingress) this.enqueue(p, slot, s, len);
    }
    if (!toRemotes) return;
    const list = this.fdb.flood(br.index);
    const n = list.length;
    if (n === 0) return;
    const t0 = this.bridgeTunnel(br, list[0]!);
    const first = this.tunnels[t0]!;
    if (first.depth === 2 /* UDP */) {
      // Over UDP sockets the tunnel header is the same for every remote: encapsulate once, send to each.
      const ns = encapInPool(first, this.pool, s, len, 0);
      const hl = len + (s - ns);
      for (let k = 0; k < n; k++) {
        const r = list[k]!;
        this.enqueueTunnel(this.bridgeTunnel(br, r), slot, ns, hl);
      }
      return;
    }
    // Other depths carry per-remote headers: a copy for each remote but the last.
    const pool = this.pool;
    for (let k = 0; k < n; k++) {
      const r = list[k]!;
      if (k === n - 1) {
        this.toRemote(br, r, slot, s, len);
        break;
      }
      const c = pool.alloc();
      if (c < 0) {
        this.drops[Reason['no-buffer']]!++;
        continue;
      }
      const cs = pool.dataStart(c);
      pool.u8.copyWithin(cs, s, s + len);
      this.toRemote(br, r, c, cs, len);
      pool.free(c); // the transmit queue holds its own reference
    }
  }

  /** Encapsulates a frame toward a remote VTEP of a bridge domain and queues it. */
  private toRemote(br: BridgeEntry, remote: number, slot: number, s: number, len: number): void {
    const ti = this.bridgeTunnel(br, remote);
    const t = this.tunnels[ti]!;
    if (s - slot * this.pool.slotSize < t.hdrLen) {
      this.drops[Reason['no-headroom']]!++;
      return;
    }
    const ns = encapInPool(t, this.pool, s, len, 0);
    this.enqueueTunnel(ti, slot, ns, len + (s - ns));
  }

  /** Queues an encapsulated packet on the tunnel's underlay port, with its destination. */
  private enqueueTunnel(ti: number, slot: number, start: number, len: number): void {
    const port = this.tunnelPort[ti]!;
    if (port < 0) {
      this.drops[Reason['no-port']]!++;
      return;
    }
    const r = this.tunnelRemote[ti]!;
    const q = this.queue(port);
    const i = this.push(q, port, slot, start, len);
    const rw = this.remotes.words;
    const a = 4 * i;
    q.addr[a] = rw[4 * r]!;
    q.addr[a + 1] = rw[4 * r + 1]!;
    q.addr[a + 2] = rw[4 * r + 2]!;
    q.addr[a + 3] = rw[4 * r + 3]!;
    q.peerPort[i] = this.tunnelDstPort[ti]!;
    const k = r * 5 + this.tunnelProto[ti]!;
    this.tc.txPackets[k]!++;
    this.tc.txBytes[k]! += len;
  }

  /** Packets from the underlay: decapsulate, then bridge or route. */
  private underlayRx(b: Batch, e: PortEntry): void {
    const u8 = this.pool.u8;
    const d = this.decap;
    const depth = e.depth;
    const addr = b.addr;
    const now = this.clock();
    this.learnedHi = -1; // the learning shortcut of bridgeFromRemote, per batch
    for (let i = 0; i < b.count; i++) {
      const s = b.start[i]!;
      const len = b.len[i]!;
      let r: number;
      if (depth === UnderlayDepth.FRAME) r = d.frame(u8, s, len, this.pool.u32);
      else if (depth === UnderlayDepth.UDP) r = d.udpPayload(u8, s, len, e.localPort, e.family, addr, 4 * i);
      else if (depth === UnderlayDepth.RAW4) r = d.ip(u8, s, len, this.pool.u32);
      else r = d.grePayload(u8, s, len, 6, addr, 4 * i, this.pool.u32);
      if (r !== 0) {
        this.drop(e, r);
        continue;
      }
      const remote = this.peerRemote(d.peerFamily, d.peer);
      if (remote >= 0) {
        const k = remote * 5 + d.proto;
        this.tc.rxPackets[k]!++;
        this.tc.rxBytes[k]! += d.innerLen;
      }
      const target = d.target;
      const is = d.innerStart;
      const il = d.innerLen;
      if (target < VRF_TARGET) {
        if (d.inner !== Inner.ETHERNET) {
          this.drop(e, Reason.unsupported);
          continue;
        }
        this.bridgeFromRemote(this.bridges[target]!, e, remote, b.slot[i]!, is, il, now);
      } else {
        const v = this.vrfList[target - VRF_TARGET]!;
        if (d.inner === Inner.ETHERNET) {
          // Routed VXLAN: an Ethernet frame to us; route its IP packet.
          if (il < Eth.HEADER_LEN) {
            this.drop(e, Reason.truncated);
            continue;
          }
          const type = (u8[is + 12]! << 8) | u8[is + 13]!;
          if (type !== EtherType.IPV4 && type !== EtherType.IPV6) {
            this.drop(e, Reason.unsupported);
            continue;
          }
          this.route(v, e, b.slot[i]!, is, is + Eth.HEADER_LEN, is + il);
        } else {
          this.route(v, e, b.slot[i]!, is, is, is + il);
        }
      }
    }
  }

  /** The remote index of a decapsulated packet's outer source; added on first sight. */
  private peerRemote(family: number, words: Uint32Array): number {
    let r = family === 4 ? this.remotes.find4(words[0]!) : this.remotes.find6(words, 0);
    if (r < 0 && family === this.underlay!.address.family) {
      try {
        r = this.remotes.add({ family: family as 4 | 6, words: words.slice(0, family === 4 ? 1 : 4) });
      } catch {
        r = -1; // registry full: not learned
      }
    }
    return r;
  }

  /** A frame decapsulated into a bridge domain. */
  private bridgeFromRemote(br: BridgeEntry, e: PortEntry, remote: number, slot: number, s: number, len: number, now: number): void {
    const u8 = this.pool.u8;
    const srcHi = (u8[s + 6]! << 8) | u8[s + 7]!;
    if ((srcHi & 0x100) !== 0) {
      this.drop(e, Reason.filtered);
      return;
    }
    if (br.learn && remote >= 0) {
      // Learn once per run of frames from the same source at the same remote in this batch.
      const srcLo = u32(u8, s + 8);
      if (srcHi !== this.learnedHi || srcLo !== this.learnedLo || remote !== this.learnedAt || br.index !== this.learnedBd) {
        this.fdb.learn(br.index, srcHi, srcLo, FDB_REMOTE | remote, now);
        this.learnedHi = srcHi;
        this.learnedLo = srcLo;
        this.learnedAt = remote;
        this.learnedBd = br.index;
      }
    }
    if (br.arpSuppress) {
      // Snoop remote senders too, so that local requests for them are answered here.
      const type = (u8[s + 12]! << 8) | u8[s + 13]!;
      const l3 = s + Eth.HEADER_LEN;
      if (type === EtherType.ARP && len >= Eth.HEADER_LEN + Arp.LEN && u16(u8, l3) === 1 && u16(u8, l3 + 2) === EtherType.IPV4) {
        const spa = u32(u8, l3 + Arp.SPA);
        if (spa !== 0) this.arpLearn4(br, spa, readMac(u8, l3 + Arp.SHA));
      }
    }
    const dstHi = (u8[s]! << 8) | u8[s + 1]!;
    if ((dstHi & 0x100) !== 0) {
      this.flood(br, -1, slot, s, len, false);
      return;
    }
    const v = this.fdb.lookup(br.index, dstHi, u32(u8, s + 2));
    if (v < 0) this.flood(br, -1, slot, s, len, false);
    else if ((v & FDB_REMOTE) !== 0) this.drop(e, Reason.loop); // never back into the underlay
    else this.enqueue(v, slot, s, len);
  }

  /** Frames from a VRF (gateway) port. */
  private routerRx(b: Batch, e: PortEntry): void {
    const u8 = this.pool.u8;
    const v = this.vrfList[e.owner]!;
    const rmHi = Math.floor(e.routerMac / 0x100000000);
    const rmLo = e.routerMac >>> 0;
    for (let i = 0; i < b.count; i++) {
      const s = b.start[i]!;
      const len = b.len[i]!;
      const end = s + len;
      if (len < Eth.HEADER_LEN + 20) {
        this.drop(e, Reason.truncated);
        continue;
      }
      const dstHi = (u8[s]! << 8) | u8[s + 1]!;
      const toUs = dstHi === rmHi && u32(u8, s + 2) === rmLo;
      const type = (u8[s + 12]! << 8) | u8[s + 13]!;
      const l3 = s + Eth.HEADER_LEN;
      if (type === EtherType.ARP) {
        this.routerArp(v, e, b.slot[i]!, s, l3, end);
        continue;
      }
      if (type === EtherType.IPV6 && u8[l3 + Ipv6.NEXT_HEADER] === IpProto.ICMPV6 && end - l3 >= Ipv6.HEADER_LEN + 4) {
        const t = u8[l3 + Ipv6.HEADER_LEN]!;
        if (t === Icmp6Type.NEIGHBOR_SOLICIT || t === Icmp6Type.NEIGHBOR_ADVERT) {
          this.routerNd(v, e, b.slot[i]!, s, l3, end, t);
          continue;
        }
      }
      if (!toUs) {
        this.drop(e, Reason.filtered); // not addressed to the router
        continue;
      }
      if (type === EtherType.IPV4) {
        if (u32(u8, l3 + Ipv4.DST) === e.gw4 && e.gw4len > 0) {
          const n = echoReply4(u8, s, l3, end, e.gw4);
          if (n > 0) {
            this.gatewayReplies++;
            this.enqueue(e.id, b.slot[i]!, s, n);
          } else this.drop(e, Reason.unsupported);
          continue;
        }
        this.route(v, e, b.slot[i]!, s, l3, end);
      } else if (type === EtherType.IPV6) {
        const g = e.gw6;
        if (g !== null && u32(u8, l3 + 24) === g[0] && u32(u8, l3 + 28) === g[1] && u32(u8, l3 + 32) === g[2] && u32(u8, l3 + 36) === g[3]) {
          const n = echoReply6(u8, s, l3, end, g);
          if (n > 0) {
            this.gatewayReplies++;
            this.enqueue(e.id, b.slot[i]!, s, n);
          } else this.drop(e, Reason.unsupported);
          continue;
        }
        this.route(v, e, b.slot[i]!, s, l3, end);
      } else {
        this.drop(e, Reason.unsupported);
      }
    }
  }

  /** ARP on a gateway port: learn the sender, answer requests for the gateway. */
  private routerArp(v: VrfEntry, e: PortEntry, slot: number, s: number, l3: number, end: number): void {
    const u8 = this.pool.u8;
    if (end - l3 < Arp.LEN || u16(u8, l3) !== 1 || u16(u8, l3 + 2) !== EtherType.IPV4) {
      this.drop(e, Reason.unsupported);
      return;
    }
    const spa = u32(u8, l3 + Arp.SPA);
    if (spa !== 0) this.neighLearn4(v, spa, readMac(u8, l3 + Arp.SHA), e.id);
    if (u16(u8, l3 + Arp.OPER) === ArpOp.REQUEST && e.gw4len > 0 && u32(u8, l3 + Arp.TPA) === e.gw4) {
      const n = arpReply(u8, s, l3, end, e.routerMac);
      if (n > 0) {
        this.gatewayReplies++;
        this.enqueue(e.id, slot, s, n);
      }
    }
  }

  /** Neighbor discovery on a gateway port: learn, answer solicitations for the gateway. */
  private routerNd(v: VrfEntry, e: PortEntry, slot: number, s: number, l3: number, end: number, type: number): void {
    const u8 = this.pool.u8;
    const icmp = l3 + Ipv6.HEADER_LEN;
    const plen = u16(u8, l3 + Ipv6.PAYLOAD_LEN);
    if (u8[l3 + Ipv6.HOP_LIMIT] !== Nd.HOP_LIMIT || icmp + plen > end || plen < Nd.OPTIONS) {
      this.drop(e, Reason['bad-header']);
      return;
    }
    if (type === Icmp6Type.NEIGHBOR_ADVERT) {
      const opt = findNdOption(u8, icmp + Nd.OPTIONS, icmp + plen, NdOpt.TARGET_LINK_ADDR);
      if (opt >= 0) this.neighLearn6(v, u8, icmp + Nd.TARGET, readMac(u8, opt + 2), e.id);
      return;
    }
    const w = this.words;
    if (!nsTarget(u8, l3, end, w)) {
      this.drop(e, Reason['bad-header']);
      return;
    }
    // Compare the target before learning the sender: both use the scratch words.
    const g = e.gw6;
    const forUs = g !== null && w[0] === g[0] && w[1] === g[1] && w[2] === g[2] && w[3] === g[3];
    const opt = findNdOption(u8, icmp + Nd.OPTIONS, icmp + plen, NdOpt.SOURCE_LINK_ADDR);
    if (opt >= 0 && u32(u8, l3 + Ipv6.SRC) !== 0) this.neighLearn6(v, u8, l3 + Ipv6.SRC, readMac(u8, opt + 2), e.id);
    if (forUs) {
      const n = ndAdvert(u8, s, l3, end, e.routerMac, true, this.pool.roomAfter(s));
      if (n > 0) {
        this.gatewayReplies++;
        this.enqueue(e.id, slot, s, n);
      }
    }
  }

  /** Neighbor entry k gets `mac` on `port`; k < 0 makes a new entry. Returns the entry. */
  private static neighSet(v: VrfEntry, k: number, mac: number, port: number): number {
    if (k >= 0) {
      v.neighMac[k] = mac;
      v.neighPort[k] = port;
      return k;
    }
    v.neighMac.push(mac);
    v.neighPort.push(port);
    return v.neighMac.length - 1;
  }

  private neighLearn4(v: VrfEntry, ip: number, mac: number, port: number): void {
    const k = v.neigh4.get(ip);
    const n = Dataplane.neighSet(v, k, mac, port);
    if (k < 0) v.neigh4.set(ip, n);
    if (v.pending.size > 0) this.release(v, formatIp({ family: 4, words: Uint32Array.of(ip) }), mac, port);
  }

  /** Sends the packets held for a neighbor that has just answered. */
  private release(v: VrfEntry, key: string, mac: number, port: number): void {
    const held = v.pending.get(key);
    if (held === undefined) return;
    v.pending.delete(key);
    const u8 = this.pool.u8;
    const oe = this.ports[port];
    for (const h of held) {
      if (oe !== undefined && h.port === port) {
        writeMac(u8, h.start, mac);
        writeMac(u8, h.start + 6, oe.routerMac);
        put16(u8, h.start + 12, h.ver === 4 ? EtherType.IPV4 : EtherType.IPV6);
        this.enqueue(port, h.slot, h.start, h.end - h.start);
      } else {
        this.drops[Reason['no-neighbor']]!++;
      }
      this.pool.free(h.slot);
    }
  }

  /** Holds a routed packet until its next hop answers; false when it cannot be held. */
  private hold(v: VrfEntry, key: string, slot: number, start: number, end: number, port: number, ver: number): boolean {
    const now = this.clock();
    let held = v.pending.get(key);
    if (held !== undefined && held.length > 0 && now - held[0]!.since > HOLD_MS) {
      // Nobody answered for a while: what was held is dropped.
      for (const h of held) this.pool.free(h.slot);
      this.drops[Reason['no-neighbor']]! += held.length;
      held = undefined;
      v.pending.delete(key);
    }
    if (held === undefined) {
      held = [];
      v.pending.set(key, held);
    }
    if (held.length === HOLD_PER_NEIGHBOR) return false;
    this.pool.retain(slot);
    held.push({ slot, start, end, port, ver, since: now });
    return true;
  }

  private neighLearn6(v: VrfEntry, u8: Uint8Array, at: number, mac: number, port: number): void {
    const w = this.words;
    w[0] = u32(u8, at); w[1] = u32(u8, at + 4); w[2] = u32(u8, at + 8); w[3] = u32(u8, at + 12);
    const k = v.neigh6.get(w[0]!, w[1]!, w[2]!, w[3]!);
    const n = Dataplane.neighSet(v, k, mac, port);
    if (k < 0) v.neigh6.set(w, 0, n);
    if (v.pending.size > 0) this.release(v, formatIp({ family: 6, words: w.slice() }), mac, port);
  }

  /**
   * Routes the IP packet u8[l3 .. end) (an Ethernet header before it when s <
   * l3) in VRF v: TTL, longest-prefix match, next hop.
   */
  private route(v: VrfEntry, e: PortEntry, slot: number, s: number, l3: number, end: number): void {
    const u8 = this.pool.u8;
    const ver = u8[l3]! >>> 4;
    let value: number;
    let ipEnd: number;
    if (ver === 4) {
      if (end - l3 < Ipv4.HEADER_LEN) return this.drop(e, Reason.truncated);
      const hl = (u8[l3]! & 0x0f) << 2;
      const total = u16(u8, l3 + Ipv4.TOTAL_LEN);
      if (hl < Ipv4.HEADER_LEN || total < hl || l3 + total > end) return this.drop(e, Reason['bad-length']);
      if (!verifies(u8, l3, hl)) return this.drop(e, Reason['bad-checksum']);
      const ttl = u8[l3 + Ipv4.TTL]!;
      if (ttl <= 1) return this.drop(e, Reason['ttl-expired']);
      ipEnd = l3 + total;
      value = v.vrf.v4.lookup(u32(u8, l3 + Ipv4.DST));
      if (value < 0) return this.drop(e, Reason['no-route']);
      // TTL - 1; the checksum rises by 0x0100 (RFC 1141), end-around carry.
      u8[l3 + Ipv4.TTL] = ttl - 1;
      let c = u16(u8, l3 + Ipv4.CHECKSUM) + 0x0100;
      c = (c & 0xffff) + (c >>> 16);
      put16(u8, l3 + Ipv4.CHECKSUM, c);
    } else if (ver === 6) {
      if (end - l3 < Ipv6.HEADER_LEN) return this.drop(e, Reason.truncated);
      ipEnd = l3 + Ipv6.HEADER_LEN + u16(u8, l3 + Ipv6.PAYLOAD_LEN);
      if (ipEnd > end) return this.drop(e, Reason['bad-length']);
      const hop = u8[l3 + Ipv6.HOP_LIMIT]!;
      if (hop <= 1) return this.drop(e, Reason['ttl-expired']);
      const w = this.words;
      w[0] = u32(u8, l3 + 24); w[1] = u32(u8, l3 + 28); w[2] = u32(u8, l3 + 32); w[3] = u32(u8, l3 + 36);
      value = v.vrf.v6.lookup(w, 0);
      if (value < 0) return this.drop(e, Reason['no-route']);
      u8[l3 + Ipv6.HOP_LIMIT] = hop - 1;
    } else {
      return this.drop(e, Reason['bad-header']);
    }
    const nhs = this.nexthops;
    const nh = (value & 0x40000000) === 0 ? value : nhs.resolve(value, flowHashIp(u8, l3, ipEnd - l3));
    if (nh < 0) return this.drop(e, Reason['no-route']);
    const kind = nhs.kind[nh]!;
    if (kind === NextHopKind.LOCAL) {
      const out = nhs.port[nh]!;
      const oe = this.ports[out];
      if (oe === undefined) return this.drop(e, Reason['no-port']);
      // Destination MAC: the neighbor for the packet's destination (or the `via` address).
      let k: number;
      const via = this.nhVia.size === 0 ? undefined : this.nhVia.get(nh);
      if (via !== undefined) k = via.family === 4 ? v.neigh4.get(via.words[0]!) : v.neigh6.getWords(via.words, 0);
      else if (ver === 4) k = v.neigh4.get(u32(u8, l3 + Ipv4.DST));
      else k = v.neigh6.getWords(this.words, 0);
      let fs = s;
      if (l3 - s !== Eth.HEADER_LEN) {
        // Routed from a tunnel (an IP payload): prepend an Ethernet header.
        fs = l3 - Eth.HEADER_LEN;
        if (fs - slot * this.pool.slotSize < 0) return this.drop(e, Reason['no-headroom']);
      }
      if (k < 0 || v.neighPort[k] !== out) {
        const target = this.solicit(v, oe, ver, via, l3);
        if (!this.hold(v, target, slot, fs, ipEnd, out, ver)) this.drop(e, Reason['no-neighbor']);
        return;
      }
      writeMac(u8, fs, v.neighMac[k]!);
      writeMac(u8, fs + 6, oe.routerMac);
      put16(u8, fs + 12, ver === 4 ? EtherType.IPV4 : EtherType.IPV6);
      this.enqueue(out, slot, fs, ipEnd - fs);
      return;
    }
    if (kind === NextHopKind.TUNNEL) {
      const ti = this.nhTunnel[nh]!;
      const t = this.tunnels[ti]!;
      let ps = l3;
      if (t.payload === 0 /* Ethernet: routed VXLAN */) {
        ps = l3 - Eth.HEADER_LEN;
        if (ps - slot * this.pool.slotSize < t.hdrLen) return this.drop(e, Reason['no-headroom']);
        writeMac(u8, ps, this.nhMac[nh]!);
        writeMac(u8, ps + 6, e.routerMac || 0x027674000000);
        put16(u8, ps + 12, ver === 4 ? EtherType.IPV4 : EtherType.IPV6);
      } else if (ps - slot * this.pool.slotSize < t.hdrLen) {
        return this.drop(e, Reason['no-headroom']);
      }
      const ns = encapInPool(t, this.pool, ps, ipEnd - ps, 0);
      this.enqueueTunnel(ti, slot, ns, ipEnd - ns);
      return;
    }
    this.drop(e, Reason['no-route']); // blackhole
  }

  /**
   * Asks for a missing neighbor on port `oe`: an ARP request or a neighbor
   * solicitation from the gateway, at most once a second per address.
   */
  private solicit(v: VrfEntry, oe: PortEntry, ver: number, via: IpAddr | undefined, l3: number): string {
    const u8 = this.pool.u8;
    const target: IpAddr = via ?? (ver === 4 ? { family: 4, words: Uint32Array.of(u32(u8, l3 + Ipv4.DST)) } : { family: 6, words: this.words.slice() });
    const key = formatIp(target);
    const now = this.clock();
    const last = v.asked.get(key);
    if (last !== undefined && now - last < 1000) return key;
    v.asked.set(key, now);
    const slot = this.pool.alloc();
    if (slot < 0) return key;
    const s = this.pool.dataStart(slot);
    let len: number;
    if (target.family === 4) {
      if (oe.gw4len === 0) {
        this.pool.free(slot);
        return key;
      }
      writeMac(u8, s, 0xffffffffffff);
      writeMac(u8, s + 6, oe.routerMac);
      put16(u8, s + 12, EtherType.ARP);
      const a = s + Eth.HEADER_LEN;
      put32(u8, a, 0x00010800);
      put32(u8, a + 4, 0x06040001);
      writeMac(u8, a + Arp.SHA, oe.routerMac);
      put32(u8, a + Arp.SPA, oe.gw4);
      writeMac(u8, a + Arp.THA, 0);
      put32(u8, a + Arp.TPA, target.words[0]!);
      len = Eth.HEADER_LEN + Arp.LEN;
    } else {
      if (oe.gw6 === null) {
        this.pool.free(slot);
        return key;
      }
      const sn = solicitedNode(target.words[3]!);
      writeMac(u8, s, 0x333300000000 + (sn[3] >>> 0) % 0x100000000);
      writeMac(u8, s + 6, oe.routerMac);
      put16(u8, s + 12, EtherType.IPV6);
      const ip = s + Eth.HEADER_LEN;
      put32(u8, ip, 0x60000000);
      put16(u8, ip + 4, Nd.OPTIONS + 8);
      u8[ip + 6] = IpProto.ICMPV6;
      u8[ip + 7] = Nd.HOP_LIMIT;
      for (let k = 0; k < 4; k++) {
        put32(u8, ip + 8 + 4 * k, oe.gw6[k]!);
        put32(u8, ip + 24 + 4 * k, sn[k]!);
      }
      const icmp = ip + Ipv6.HEADER_LEN;
      put32(u8, icmp, Icmp6Type.NEIGHBOR_SOLICIT << 24);
      put32(u8, icmp + 4, 0);
      for (let k = 0; k < 4; k++) put32(u8, icmp + Nd.TARGET + 4 * k, target.words[k]!);
      u8[icmp + Nd.OPTIONS] = NdOpt.SOURCE_LINK_ADDR;
      u8[icmp + Nd.OPTIONS + 1] = 1;
      writeMac(u8, icmp + Nd.OPTIONS + 2, oe.routerMac);
      fillIcmp6Checksum(u8, ip, icmp, Nd.OPTIONS + 8);
      len = Eth.HEADER_LEN + Ipv6.HEADER_LEN + Nd.OPTIONS + 8;
    }
    this.requestsSent++;
    this.enqueue(oe.id, slot, s, len);
    this.pool.free(slot); // the queue holds its reference
    return key;
  }

  // --------------------------------------------------------------- transmit

  private queue(port: number): Batch {
    const q = this.ports[port]!.tx;
    if (this.isDirty[port] === 0) {
      this.isDirty[port] = 1;
      this.dirty.push(port);
    }
    return q;
  }

  /** Appends an entry to a queue (flushing it first when full), taking a slot reference. */
  private push(q: Batch, port: number, slot: number, start: number, len: number): number {
    if (q.count === q.capacity) this.flushPort(port);
    this.pool.retain(slot);
    const i = q.count++;
    q.slot[i] = slot;
    q.start[i] = start;
    q.len[i] = len;
    return i;
  }

  private enqueue(port: number, slot: number, start: number, len: number): void {
    if (this.ports[port] === undefined) {
      this.drops[Reason['no-port']]!++;
      return;
    }
    this.push(this.queue(port), port, slot, start, len);
  }

  private flush(): void {
    const d = this.dirty;
    for (let k = 0; k < d.length; k++) {
      const p = d[k]!;
      this.isDirty[p] = 0;
      this.flushPort(p);
    }
    d.length = 0;
  }

  /** Writes a port's queue; what the port does not take is dropped (link-down or tx-error); slots are released. */
  private flushPort(port: number): void {
    const e = this.ports[port];
    if (e === undefined) return;
    const q = e.tx;
    const n = q.count;
    if (n === 0) return;
    let sent = 0;
    try {
      sent = e.port.failed === undefined && !e.port.closed ? e.port.writeBatch(q, 0, n) : 0;
    } catch (err) {
      this.emit('port-error', { port: e.name, error: err });
    }
    let bytes = 0;
    for (let i = 0; i < sent; i++) bytes += q.len[i]!;
    this.portTx[2 * port]! += sent;
    this.portTx[2 * port + 1]! += bytes;
    if (sent < n) {
      this.drops[e.port.linkUp === false ? Reason['link-down'] : Reason['tx-error']]! += n - sent;
      e.drops += n - sent;
    }
    q.release();
  }
}

function macArg(field: string, v: number | string): number {
  if (typeof v === 'string') return parseMac(v, field);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffffffff) throw invalidArg(field, v, 'a 48-bit MAC');
  return v;
}

/** Opens a TAP device of a config, up, non-persistent. */
function openTap(p: TapConfig): TapDevice {
  const o: Parameters<typeof TapDevice.open>[0] = { name: p.tap, up: true, persist: false };
  if (p.netns !== undefined) o.netns = p.netns;
  if (p.mtu !== undefined) o.mtu = p.mtu;
  if (p.mac !== undefined) o.mac = p.mac;
  return TapDevice.open(o);
}

/** The network of an interface address (host bits cleared). */
function subnet(c: Cidr): Cidr {
  const words = c.words.slice();
  for (let i = 0; i < words.length; i++) {
    const keep = Math.max(0, Math.min(32, c.length - 32 * i));
    words[i] = keep === 0 ? 0 : (words[i]! & (0xffffffff << (32 - keep))) >>> 0;
  }
  return { family: c.family, words, length: c.length };
}

