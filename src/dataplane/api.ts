/**
 * The public shape of a running dataplane, as embedders, `vtep ctl` and the
 * fleet control plane (src/control/) see it: the values it reports and the
 * events it emits, all decoded (MAC strings, port and bridge names, remote
 * addresses), never table words. `DataplaneApi` is the contract those layers
 * program against; `Dataplane` implements it.
 *
 * Naming: bridges and VRFs are both addressed by name. A bridge's name
 * defaults to `<encap>-<id>` (for example `vxlan-42`); ports by name (or the
 * numeric id that add*Port returned).
 */
import type { TunnelProtoName } from '../tunnel/protos.js';

/** One next hop of a route. */
export type RouteNextHop =
  | { remote: string; encap: TunnelProtoName; vni?: number; key?: number; label?: number; mac?: number | string; weight?: number }
  | { port: number | string; via?: string; weight?: number };

export interface BridgeOptions {
  /** Default `<encap>-<id>`. */
  name?: string;
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

export interface VrfOptions {
  name: string;
  /** MPLS label that identifies this VRF on receive (MPLS-over-UDP/GRE with an IP payload). */
  label?: number;
  /** VNI that identifies this VRF on receive (routed VXLAN). */
  vni?: number;
}

export interface VrfPortOptions {
  /** IPv4 gateway with the subnet length, e.g. "10.1.0.1/24". */
  gateway?: string;
  /** IPv6 gateway with the subnet length. */
  gateway6?: string;
  /** Router MAC seen by the hosts on this port. Default 02:76:74:00:PP:PP (PP = port id). */
  routerMac?: number | string;
}

/** Where a MAC is: a local port or a remote VTEP. */
export type MacLocation = { port: string } | { remote: string };

export interface PortInfo {
  name: string;
  id: number;
  /** The Port's kind: tap, udp, raw, memory, pcap, ... */
  kind: string;
  role: 'bridge' | 'router' | 'underlay';
  /** Bridge or VRF name (bridge and router ports). */
  owner?: string;
  /** False while the link is down (frames for it are dropped as link-down). */
  linkUp: boolean;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: number;
}

export interface BridgeInfo {
  name: string;
  encap: TunnelProtoName;
  id: number;
  ports: string[];
  flood: string[];
  arpSuppress: boolean;
  learn: boolean;
  macLimit: number | undefined;
}

export interface VrfInfo {
  name: string;
  label: number | undefined;
  vni: number | undefined;
  ports: { name: string; gateway?: string; gateway6?: string; routerMac: string }[];
}

export interface FdbEntryInfo {
  bridge: string;
  mac: string;
  /** Static (configured) or learned. */
  static: boolean;
  port?: string;
  remote?: string;
}

/** An ARP/ND suppression entry of a bridge, or a neighbor of a VRF. */
export interface NeighborInfo {
  /** Bridge name (suppression) or VRF name (router neighbors). */
  owner: string;
  ip: string;
  mac: string;
  /** VRF neighbors: the port it was learned on. */
  port?: string;
}

export interface RouteInfo {
  vrf: string;
  prefix: string;
  /** As given to addRoute; empty for a blackhole; connected subnets show `{ port }`. */
  nexthops: RouteNextHop[];
}

/** One stage a traced packet passed. */
export interface TraceStep {
  stage: string;
  /** The next stage's name, or 'drop' / 'tx'. */
  next: string;
  /** Drop reason name when next is 'drop'. */
  reason?: string;
  /** What the stage looked at, e.g. "dst 02:00:0a:00:00:02 -> port vm2". */
  info: string;
}

export interface PacketTrace {
  /** 1, 2, ... in the order packets were traced. */
  seq: number;
  /** Receiving port. */
  port: string;
  /** Wall-clock milliseconds. */
  time: number;
  len: number;
  steps: TraceStep[];
}

export type CaptureDirection = 'rx' | 'tx' | 'both';

/** Called for each captured frame; the bytes are valid only during the call (copy them). */
export type CaptureFn = (dir: 'rx' | 'tx', u8: Uint8Array, start: number, len: number) => void;

/** Events, all with decoded values. */
export interface DataplaneEvents {
  /** A MAC learned in a bridge domain. */
  learned: [{ bridge: string; mac: string } & MacLocation];
  /** A learned MAC seen at another place. */
  moved: [{ bridge: string; mac: string; from: MacLocation } & MacLocation];
  /** A learned MAC aged out (or flushed). */
  aged: [{ bridge: string; mac: string } & MacLocation];
  /** An IP/MAC pair snooped from ARP/ND (bridges: suppression; VRFs: neighbors). */
  neighbor: [NeighborInfo];
  /** A device that is gone for good (not a link that is down). */
  'port-error': [{ port: string; error: Error }];
  'link-down': [{ port: string }];
  'link-up': [{ port: string }];
  /** MAC learning stopped by a limit. */
  limit: [{ bridge: string; scope: 'bridge' | 'global'; limit: number }];
}

/** What layers above the dataplane (ctl, metrics, the etcd control plane) may use. */
export interface DataplaneApi {
  addBridge(o: BridgeOptions): string;
  removeBridge(bridge: string): void;
  addVrf(o: VrfOptions): string;
  removeVrf(vrf: string): void;
  removePort(port: number | string): void;

  /** `learnable`: local learning may take the entry over when the MAC shows up elsewhere (Linux's extern_learn), as a control plane's entries want. */
  addFdb(bridge: string, mac: number | string, to: { remote: string; learnable?: boolean } | { port: number | string }): void;
  removeFdb(bridge: string, mac: number | string): boolean;
  addFlood(bridge: string, remote: string): void;
  removeFlood(bridge: string, remote: string): boolean;
  addArp(bridge: string, ip: string, mac: number | string): void;
  removeArp(bridge: string, ip: string): boolean;
  addRoute(vrf: string, prefix: string, nexthops: RouteNextHop[]): void;
  deleteRoute(vrf: string, prefix: string): boolean;

  listPorts(): PortInfo[];
  listBridges(): BridgeInfo[];
  listVrfs(): VrfInfo[];
  fdbEntries(bridge?: string): FdbEntryInfo[];
  arpEntries(bridge?: string): NeighborInfo[];
  neighbors(vrf?: string): NeighborInfo[];
  routes(vrf?: string): RouteInfo[];

  /** Records the next n packets' paths; resolves when n are done (or at `timeoutMs` with those done so far). */
  trace(n: number, options?: { timeoutMs?: number }): Promise<PacketTrace[]>;
  /** Calls fn for each frame received (rx) and/or sent (tx) on a port until the returned function is called. */
  capture(port: number | string, direction: CaptureDirection, fn: CaptureFn): () => void;

  on<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this;
  off<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this;
}
