/**
 * The vSwitch config as a user writes it (VSWITCH.json for `vtep run`, or an
 * object for fromConfig): every field as it appears in the file, optional
 * where it has a default. parseVswitchConfig (config.ts) validates it into
 * VswitchConfig, the normalised form.
 */

export type EncapNameInput = 'vxlan' | 'gre' | 'mplsoudp' | 'mplsogre';

export interface TapPortInput {
  /** The TAP device's name (1-15 characters). */
  tap: string;
  /** MAC of the TAP device itself (the kernel side). */
  mac?: string;
  mtu?: number;
  /** A network namespace (under /var/run/netns) to create the TAP in. */
  netns?: string;
  /**
   * Offloads on the TAP (TUNSETOFFLOAD: checksum, TSO4/6, TSO_ECN, USO4/6
   * where the kernel grants them), so the guest hands over 64 KB super-frames
   * with partial checksums and vtep segments them. Default true.
   */
  offloads?: boolean;
}

export interface GatewayPortInput extends TapPortInput {
  /** IPv4 gateway with the subnet length, e.g. "10.1.0.1/24". */
  gateway?: string;
  gateway6?: string;
  routerMac?: string;
}

export interface BridgeInput {
  /** Default `<encap>-<id>`, e.g. "vxlan-42". */
  name?: string;
  /** Default vxlan. */
  encap?: EncapNameInput;
  vni?: number;
  key?: number;
  label?: number;
  ports?: TapPortInput[];
  /** Remote VTEPs for broadcast, unknown unicast and multicast. */
  flood?: string[];
  fdb?: ({ mac: string; remote: string } | { mac: string; port: string })[];
  arp?: { ip: string; mac: string }[];
  /** Default true. */
  arpSuppress?: boolean;
  /** Default true. */
  learn?: boolean;
  macLimit?: number;
}

export interface NextHopInput {
  remote?: string;
  encap?: EncapNameInput;
  vni?: number;
  key?: number;
  label?: number;
  /** VXLAN next hop: the inner destination MAC (the remote router's). */
  mac?: string;
  port?: string;
  via?: string;
  weight?: number;
}

export interface RouteInput extends NextHopInput {
  prefix: string;
  /** Several next hops: ECMP. */
  nexthops?: NextHopInput[];
  /** A blackhole route. */
  drop?: boolean;
}

export interface VrfInput {
  name: string;
  label?: number;
  vni?: number;
  ports?: GatewayPortInput[];
  routes?: RouteInput[];
}

export interface UnderlayInput {
  address: string;
  /** Default 4789. */
  vxlanPort?: number;
  /** Default 6635. */
  mplsPort?: number;
  /** Open a raw IP socket for GRE; default when anything uses GRE or MPLS-over-GRE. */
  gre?: boolean;
  netns?: string;
  peers?: string[];
  udp6ZeroChecksumRx?: boolean;
  ttl?: number;
  /** The underlay's MTU: the largest outer IP packet. Default 1500. */
  mtu?: number;
  /**
   * Experimental: send as frames through a TAP of this name (created in
   * `netns`; bridge it with the uplink that holds `address` yourself), while
   * the kernel sockets still receive. A guest's TCP super-frame then leaves
   * whole, as one UDP-tunnel GSO packet (Linux 6.17; VXLAN over IPv4), where
   * a socket sends 45 datagrams that a kernel peer handles one by one.
   * `mac`: the source MAC of what we send; `nextHopMac`: a router's, for
   * every remote. Without it each remote's MAC comes from the kernel's
   * neighbor table of the underlay's namespace (/proc/net/arp, every 500 ms),
   * and a remote not in it yet is sent to through the sockets, which makes
   * the kernel resolve it.
   */
  tap?: { name: string; mac: string; nextHopMac?: string };
}

/** A whole VSWITCH.json. */
export interface VswitchConfigInput {
  underlay: UnderlayInput;
  bridges?: BridgeInput[];
  vrfs?: VrfInput[];
  /** Learned MACs over all bridge domains. Default 1,048,576. */
  macLimit?: number;
  /** FDB ageing in seconds. Default 300. */
  ageSeconds?: number;
  /**
   * Busy-poll budget in microseconds (0 to 1,000,000): after traffic, keep
   * polling the ports this long before sleeping again. Lower latency for a
   * spinning core. Default 0 (off).
   */
  busyPollUs?: number;
}
