/**
 * The vSwitch configuration (`vtep run --config VSWITCH.json`, or
 * Dataplane.fromConfig): validated here, once, into a normalised form. Every
 * error is a VtepError ERR_INVALID_CONFIG whose message names the field path
 * and the value, e.g. `bridges[0].ports[1].tap: 42 is not a device name`.
 *
 *   { "underlay": { "address": "198.18.0.1", "vxlanPort": 4789 },
 *     "bridges": [ { "vni": 42, "ports": [ { "tap": "vm1tap" } ], "flood": ["198.18.0.2"],
 *                    "fdb": [ { "mac": "02:00:00:00:00:02", "remote": "198.18.0.2" } ] } ],
 *     "vrfs": [ { "name": "red", "label": 100,
 *                 "ports": [ { "tap": "vm3tap", "gateway": "10.1.0.1/24" } ],
 *                 "routes": [ { "prefix": "10.2.0.0/16", "remote": "198.18.0.3",
 *                               "encap": "mplsoudp", "label": 200 } ] } ] }
 */
import { invalidConfig, describe, shortText, VtepError } from '../errors.js';
import { ipFamily, parseCidr, parseMac, type Cidr } from '../util/addr.js';
import { parseControlConfig, type ControlConfig } from '../control/options.js';

export type EncapName = 'vxlan' | 'gre' | 'mplsoudp' | 'mplsogre';
const ENCAPS: readonly string[] = ['vxlan', 'gre', 'mplsoudp', 'mplsogre'];

export interface TapConfig {
  tap: string;
  /** MAC of the TAP device itself (the kernel side); default: the kernel's. */
  mac?: number;
  mtu?: number;
  /** Network namespace (a name under /var/run/netns) to create the TAP in. */
  netns?: string;
  /** TUNSETOFFLOAD (checksum, TSO, USO where granted): the guest may send super-frames. Default true. */
  offloads?: boolean;
}

export interface GatewayPortConfig extends TapConfig {
  /** IPv4 gateway address with the subnet length, e.g. 10.1.0.1/24. */
  gateway?: Cidr;
  /** IPv6 gateway address with the subnet length. */
  gateway6?: Cidr;
  /** The router MAC the hosts behind this port see. Default: derived from the VRF and port. */
  routerMac?: number;
}

export interface FdbConfigEntry {
  mac: number;
  remote?: string;
  port?: string;
}

export interface BridgeConfig {
  /** Default `<encap>-<id>`. */
  name: string;
  encap: EncapName;
  /** VNI, GRE key or MPLS label of this bridge domain. */
  id: number;
  ports: TapConfig[];
  flood: string[];
  fdb: FdbConfigEntry[];
  /** Static ARP/ND suppression entries. */
  arp: { ip: string; mac: number }[];
  arpSuppress: boolean;
  learn: boolean;
  /** Learned MAC limit of this bridge domain; undefined = only the global one. */
  macLimit: number | undefined;
}

export interface RouteNextHopConfig {
  /** Tunnel next hop: remote VTEP, encapsulation and id. */
  remote?: string;
  encap?: EncapName;
  id?: number;
  /** VXLAN next hop: the inner destination MAC (the remote router's). */
  mac?: number;
  /** Local next hop: a port of this VRF and the neighbor address to send to. */
  port?: string;
  via?: string;
  weight: number;
}

export interface RouteConfig {
  prefix: Cidr;
  prefixText: string;
  /** One next hop, or several for ECMP. Empty = blackhole (drop). */
  nexthops: RouteNextHopConfig[];
}

export interface VrfConfig {
  name: string;
  /** MPLS label that identifies this VRF on receive (MPLS-over-UDP/GRE with an IP payload). */
  label: number | undefined;
  /** VXLAN VNI that identifies this VRF on receive (routed VXLAN), if any. */
  vni: number | undefined;
  ports: GatewayPortConfig[];
  routes: RouteConfig[];
}

export interface UnderlayConfig {
  address: string;
  vxlanPort: number;
  mplsPort: number;
  /** Open a raw IP socket for GRE and MPLS-over-GRE. Default: when any bridge or route uses them. */
  gre: boolean;
  /** Run the underlay sockets in this network namespace. */
  netns: string | undefined;
  /** Accepted outer sources; default any. */
  peers: string[] | undefined;
  udp6ZeroChecksumRx: boolean;
  ttl: number;
  /** The underlay's MTU (outer IP packet). */
  mtu: number;
  /**
   * Send as frames through a TAP (the user bridges it with the uplink that
   * holds `address`); the sockets still receive. Whole super-frames go out as
   * UDP-tunnel GSO packets where the kernel has them (Linux 6.17). `mac` is
   * the source MAC, `nextHopMac` a router's (absent: each remote's own, from
   * the kernel's neighbor table).
   */
  tap?: { name: string; mac: number; nextHopMac?: number };
}

/** The Prometheus endpoint of `vtep run`. */
export interface MetricsConfig {
  /** Address and port to listen on, e.g. 127.0.0.1 and 9310 (IPv6 without brackets). */
  host: string;
  port: number;
}

export interface VswitchConfig {
  underlay: UnderlayConfig;
  bridges: BridgeConfig[];
  vrfs: VrfConfig[];
  /** Learned MACs over all bridge domains. */
  macLimit: number;
  /** FDB ageing time, seconds. */
  ageSeconds: number;
  /** Busy-poll budget after traffic, microseconds; 0 = off (Dataplane option busyPollUs). */
  busyPollUs: number;
  /** Serve Prometheus text at http://listen/metrics; undefined = no listener. */
  metrics: MetricsConfig | undefined;
  /** Fleet membership through etcd (src/control/, docs/control.md), when given. */
  control: ControlConfig | undefined;
}

type Obj = Record<string, unknown>;

/** A value that clashes with another part of the config. */
function clash(path: string, v: unknown, other: string): VtepError {
  return new VtepError('ERR_INVALID_CONFIG', `${path}: ${describe(v)} is already used by ${other}`);
}

function obj(path: string, v: unknown): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidConfig(path, v, 'an object');
  return v as Obj;
}
function arr(path: string, v: unknown): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalidConfig(path, v, 'a list');
  return v;
}
function int(path: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidConfig(path, v, `an integer in ${min}..${max}`);
  return v;
}
function bool(path: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalidConfig(path, v, 'true or false');
  return v;
}
function str(path: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw invalidConfig(path, v, 'a non-empty string');
  return v;
}
function ip(path: string, v: unknown): string {
  if (typeof v !== 'string' || ipFamily(v) === 0) throw invalidConfig(path, v, 'an IPv4 or IPv6 address');
  return v;
}
function mac(path: string, v: unknown): number {
  try {
    return parseMac(v as string, path);
  } catch {
    throw invalidConfig(path, v, 'a MAC address like 02:00:00:00:00:01');
  }
}
function cidr(path: string, v: unknown, allowHost: boolean): Cidr {
  try {
    return parseCidr(v as string, path, allowHost);
  } catch {
    throw invalidConfig(path, v, allowHost ? 'an address with a prefix length, like 10.1.0.1/24' : 'a prefix like 10.2.0.0/16 (no host bits)');
  }
}
function onlyKeys(path: string, o: Obj, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw invalidConfig(`${path}.${shortText(k)}`.replace(/^\./, ''), o[k], `a known field (${path || 'top level'} takes ${keys.join(', ')})`);
  }
}

/** Linux interface names: 1-15 bytes, no '/', ':' or white space. */
const IFNAME = /^[^\s/:]{1,15}$/;

/** A network device name. */
function ifname(path: string, v: unknown): string {
  if (typeof v !== 'string' || !IFNAME.test(v)) throw invalidConfig(path, v, 'a device name of 1-15 characters without "/", ":" or spaces');
  return v;
}

function tapPort(path: string, v: unknown, extra: readonly string[] = []): TapConfig & Obj {
  const o = obj(path, v);
  onlyKeys(path, o, ['tap', 'mac', 'mtu', 'netns', 'offloads', ...extra]);
  const p: TapConfig & Obj = { tap: ifname(`${path}.tap`, o.tap) };
  if (o.mac !== undefined) p.mac = mac(`${path}.mac`, o.mac);
  if (o.mtu !== undefined) p.mtu = int(`${path}.mtu`, o.mtu, 68, 65535);
  if (o.netns !== undefined) p.netns = str(`${path}.netns`, o.netns);
  if (o.offloads !== undefined) p.offloads = bool(`${path}.offloads`, o.offloads, true);
  return p;
}

function idOf(path: string, o: Obj, encap: EncapName): number {
  const field = encap === 'vxlan' ? 'vni' : encap === 'gre' ? 'key' : 'label';
  for (const f of ['vni', 'key', 'label']) {
    if (f !== field && o[f] !== undefined) throw invalidConfig(`${path}.${f}`, o[f], `used with encap ${encap} (it takes ${field})`);
  }
  if (o[field] === undefined) throw invalidConfig(`${path}.${field}`, undefined, `given (encap ${encap} needs a ${field})`);
  return encap === 'vxlan' ? int(`${path}.vni`, o.vni, 0, 0xffffff) : encap === 'gre' ? int(`${path}.key`, o.key, 0, 0xffffffff) : int(`${path}.label`, o.label, 16, 0xfffff);
}

function encapOf(path: string, v: unknown, dflt: EncapName): EncapName {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !ENCAPS.includes(v)) throw invalidConfig(path, v, 'one of vxlan, gre, mplsoudp, mplsogre');
  return v as EncapName;
}

function nexthop(path: string, v: unknown, ports: ReadonlySet<string>): RouteNextHopConfig {
  const o = obj(path, v);
  onlyKeys(path, o, ['remote', 'encap', 'vni', 'key', 'label', 'mac', 'port', 'via', 'weight']);
  const weight = o.weight === undefined ? 1 : int(`${path}.weight`, o.weight, 1, 255);
  if (o.remote !== undefined) {
    if (o.port !== undefined) throw invalidConfig(`${path}.port`, o.port, 'absent when remote is given (a next hop is a tunnel or a local port)');
    const encap = encapOf(`${path}.encap`, o.encap, 'mplsoudp');
    const nh: RouteNextHopConfig = { remote: ip(`${path}.remote`, o.remote), encap, id: idOf(path, o, encap), weight };
    if (o.mac !== undefined) nh.mac = mac(`${path}.mac`, o.mac);
    return nh;
  }
  if (o.port !== undefined) {
    if (typeof o.port !== 'string' || !ports.has(o.port)) throw invalidConfig(`${path}.port`, o.port, `a port of this VRF (${[...ports].join(', ') || 'none'})`);
    const nh: RouteNextHopConfig = { port: o.port, weight };
    if (o.via !== undefined) nh.via = ip(`${path}.via`, o.via);
    return nh;
  }
  throw invalidConfig(path, v, 'a next hop with "remote" (a tunnel) or "port" (a local port)');
}

/** Configs that came out of parseVswitchConfig (so they need no second validation). */
const validated = new WeakSet<object>();

/** True for a config returned by parseVswitchConfig. */
export function isVswitchConfig(x: unknown): x is VswitchConfig {
  return x !== null && typeof x === 'object' && validated.has(x);
}

/** Validates a parsed VSWITCH.json; throws VtepError ERR_INVALID_CONFIG naming the field. */
export function parseVswitchConfig(input: unknown): VswitchConfig {
  const top = obj('config', input);
  onlyKeys('', top, ['underlay', 'bridges', 'vrfs', 'macLimit', 'ageSeconds', 'busyPollUs', 'metrics', 'control']);
  const u = obj('underlay', top.underlay);
  onlyKeys('underlay', u, ['address', 'vxlanPort', 'mplsPort', 'gre', 'netns', 'peers', 'udp6ZeroChecksumRx', 'ttl', 'mtu', 'tap']);
  const underlay: UnderlayConfig = {
    address: ip('underlay.address', u.address),
    vxlanPort: u.vxlanPort === undefined ? 4789 : int('underlay.vxlanPort', u.vxlanPort, 1, 65535),
    mplsPort: u.mplsPort === undefined ? 6635 : int('underlay.mplsPort', u.mplsPort, 1, 65535),
    gre: bool('underlay.gre', u.gre, false),
    netns: u.netns === undefined ? undefined : str('underlay.netns', u.netns),
    peers: u.peers === undefined ? undefined : arr('underlay.peers', u.peers).map((p, i) => ip(`underlay.peers[${i}]`, p)),
    udp6ZeroChecksumRx: bool('underlay.udp6ZeroChecksumRx', u.udp6ZeroChecksumRx, false),
    ttl: u.ttl === undefined ? 64 : int('underlay.ttl', u.ttl, 1, 255),
    mtu: u.mtu === undefined ? 1500 : int('underlay.mtu', u.mtu, 1280, 65535),
  };
  if (u.tap !== undefined) {
    const t = obj('underlay.tap', u.tap);
    onlyKeys('underlay.tap', t, ['name', 'mac', 'nextHopMac']);
    if (t.mac === undefined) throw invalidConfig('underlay.tap.mac', t.mac, 'our underlay MAC (required with a TAP)');
    underlay.tap = { name: ifname('underlay.tap.name', t.name), mac: mac('underlay.tap.mac', t.mac) };
    if (t.nextHopMac !== undefined) underlay.tap.nextHopMac = mac('underlay.tap.nextHopMac', t.nextHopMac);
  }
  if (underlay.vxlanPort === underlay.mplsPort) throw invalidConfig('underlay.mplsPort', underlay.mplsPort, `a port other than underlay.vxlanPort ${underlay.vxlanPort}`);
  const family = ipFamily(underlay.address);
  const sameFamily = (path: string, a: string): void => {
    if (ipFamily(a) !== family) throw invalidConfig(path, a, `an IPv${family} address like underlay.address ${underlay.address}`);
  };
  underlay.peers?.forEach((p, i) => sameFamily(`underlay.peers[${i}]`, p));

  const taps = new Map<string, string>(); // TAP name -> path of its port
  const claimTap = (path: string, name: string): void => {
    const other = taps.get(name);
    if (other !== undefined) throw clash(path, name, other);
    taps.set(name, path.replace(/\.tap$/, ''));
  };
  const ids = new Map<string, string>(); // "encap:id" -> path, so that two tenants never share an id
  const claimId = (path: string, encap: string, id: number): void => {
    const space = encap === 'vxlan' ? 'vxlan' : encap === 'gre' ? 'gre' : 'mpls';
    const key = `${space}:${id}`;
    const other = ids.get(key);
    if (other !== undefined) throw clash(path, id, other);
    ids.set(key, path);
  };

  let usesGre = false;
  const bridgeNames = new Map<string, string>();
  const bridges = arr('bridges', top.bridges).map((b, bi): BridgeConfig => {
    const path = `bridges[${bi}]`;
    const o = obj(path, b);
    onlyKeys(path, o, ['name', 'encap', 'vni', 'key', 'label', 'ports', 'flood', 'fdb', 'arp', 'arpSuppress', 'learn', 'macLimit']);
    const encap = encapOf(`${path}.encap`, o.encap, 'vxlan');
    usesGre ||= encap === 'gre' || encap === 'mplsogre';
    const id = idOf(path, o, encap);
    const name = o.name === undefined ? `${encap}-${id}` : o.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) throw invalidConfig(`${path}.name`, o.name, 'a name of 1-64 letters, digits, "_", ".", ":" or "-"');
    const twinBridge = bridgeNames.get(name);
    if (twinBridge !== undefined) throw clash(`${path}.name`, name, twinBridge);
    bridgeNames.set(name, `${path}.name`);
    claimId(`${path}.${encap === 'vxlan' ? 'vni' : encap === 'gre' ? 'key' : 'label'}`, encap, id);
    const ports = arr(`${path}.ports`, o.ports).map((p, pi) => {
      const t = tapPort(`${path}.ports[${pi}]`, p);
      claimTap(`${path}.ports[${pi}].tap`, t.tap);
      return t;
    });
    const portNames = new Set(ports.map((p) => p.tap));
    const flood = arr(`${path}.flood`, o.flood).map((f, i) => {
      const a = ip(`${path}.flood[${i}]`, f);
      sameFamily(`${path}.flood[${i}]`, a);
      return a;
    });
    const fdb = arr(`${path}.fdb`, o.fdb).map((e, i): FdbConfigEntry => {
      const p = `${path}.fdb[${i}]`;
      const x = obj(p, e);
      onlyKeys(p, x, ['mac', 'remote', 'port']);
      const entry: FdbConfigEntry = { mac: mac(`${p}.mac`, x.mac) };
      if ((x.remote === undefined) === (x.port === undefined)) throw invalidConfig(p, e, 'an entry with either "remote" or "port"');
      if (x.remote !== undefined) {
        entry.remote = ip(`${p}.remote`, x.remote);
        sameFamily(`${p}.remote`, entry.remote);
      } else {
        if (typeof x.port !== 'string' || !portNames.has(x.port)) throw invalidConfig(`${p}.port`, x.port, `a port of bridge ${name}`);
        entry.port = x.port;
      }
      return entry;
    });
    const arp = arr(`${path}.arp`, o.arp).map((e, i) => {
      const p = `${path}.arp[${i}]`;
      const x = obj(p, e);
      onlyKeys(p, x, ['ip', 'mac']);
      return { ip: ip(`${p}.ip`, x.ip), mac: mac(`${p}.mac`, x.mac) };
    });
    return {
      name, encap, id, ports, flood, fdb, arp,
      arpSuppress: bool(`${path}.arpSuppress`, o.arpSuppress, true),
      learn: bool(`${path}.learn`, o.learn, true),
      macLimit: o.macLimit === undefined ? undefined : int(`${path}.macLimit`, o.macLimit, 0, 1 << 24),
    };
  });

  const names = new Map<string, string>();
  const vrfs = arr('vrfs', top.vrfs).map((v, vi): VrfConfig => {
    const path = `vrfs[${vi}]`;
    const o = obj(path, v);
    onlyKeys(path, o, ['name', 'label', 'vni', 'ports', 'routes']);
    if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(o.name)) throw invalidConfig(`${path}.name`, o.name, 'a name of 1-64 letters, digits, "_", "." or "-"');
    const twin = names.get(o.name);
    if (twin !== undefined) throw clash(`${path}.name`, o.name, twin);
    names.set(o.name, `${path}.name`);
    const label = o.label === undefined ? undefined : int(`${path}.label`, o.label, 16, 0xfffff);
    if (label !== undefined) claimId(`${path}.label`, 'mpls', label);
    const vni = o.vni === undefined ? undefined : int(`${path}.vni`, o.vni, 0, 0xffffff);
    if (vni !== undefined) claimId(`${path}.vni`, 'vxlan', vni);
    const ports = arr(`${path}.ports`, o.ports).map((p, pi): GatewayPortConfig => {
      const pp = `${path}.ports[${pi}]`;
      const t = tapPort(pp, p, ['gateway', 'gateway6', 'routerMac']) as GatewayPortConfig & Obj;
      claimTap(`${pp}.tap`, t.tap);
      const x = p as Obj;
      const g: GatewayPortConfig = { tap: t.tap };
      if (t.mac !== undefined) g.mac = t.mac;
      if (t.mtu !== undefined) g.mtu = t.mtu;
      if (t.netns !== undefined) g.netns = t.netns;
      if (t.offloads !== undefined) g.offloads = t.offloads;
      if (x.gateway !== undefined) {
        g.gateway = cidr(`${pp}.gateway`, x.gateway, true);
        if (g.gateway.family !== 4) throw invalidConfig(`${pp}.gateway`, x.gateway, 'an IPv4 address with a prefix length (IPv6 goes in gateway6)');
      }
      if (x.gateway6 !== undefined) {
        g.gateway6 = cidr(`${pp}.gateway6`, x.gateway6, true);
        if (g.gateway6.family !== 6) throw invalidConfig(`${pp}.gateway6`, x.gateway6, 'an IPv6 address with a prefix length');
      }
      if (g.gateway === undefined && g.gateway6 === undefined) throw invalidConfig(pp, describeKeys(x), 'a VRF port with "gateway" (and/or "gateway6")');
      if (x.routerMac !== undefined) g.routerMac = mac(`${pp}.routerMac`, x.routerMac);
      return g;
    });
    const portNames = new Set(ports.map((p) => p.tap));
    const routes = arr(`${path}.routes`, o.routes).map((r, ri): RouteConfig => {
      const rp = `${path}.routes[${ri}]`;
      const x = obj(rp, r);
      onlyKeys(rp, x, ['prefix', 'nexthops', 'drop', 'remote', 'encap', 'vni', 'key', 'label', 'mac', 'port', 'via', 'weight']);
      const prefix = cidr(`${rp}.prefix`, x.prefix, false);
      let nexthops: RouteNextHopConfig[];
      if (x.drop === true) {
        nexthops = [];
      } else if (x.nexthops !== undefined) {
        nexthops = arr(`${rp}.nexthops`, x.nexthops).map((n, ni) => nexthop(`${rp}.nexthops[${ni}]`, n, portNames));
        if (nexthops.length === 0) throw invalidConfig(`${rp}.nexthops`, x.nexthops, 'a non-empty list (use "drop": true for a blackhole)');
      } else {
        const { prefix: _p, nexthops: _n, drop: _d, ...single } = x;
        nexthops = [nexthop(rp, single, portNames)];
      }
      for (const [ni, nh] of nexthops.entries()) {
        if (nh.remote !== undefined) {
          sameFamily(`${rp}${x.nexthops !== undefined ? `.nexthops[${ni}]` : ''}.remote`, nh.remote);
          usesGre ||= nh.encap === 'gre' || nh.encap === 'mplsogre';
          if (nh.encap === 'vxlan' && nh.mac === undefined) throw invalidConfig(`${rp}.mac`, undefined, 'given for a VXLAN route (the inner destination MAC, the remote router)');
        }
      }
      return { prefix, prefixText: x.prefix as string, nexthops };
    });
    return { name: o.name, label, vni, ports, routes };
  });

  underlay.gre ||= usesGre;
  const config: VswitchConfig = {
    underlay,
    bridges,
    vrfs,
    macLimit: top.macLimit === undefined ? 1 << 20 : int('macLimit', top.macLimit, 0, 1 << 24),
    ageSeconds: top.ageSeconds === undefined ? 300 : int('ageSeconds', top.ageSeconds, 1, 1 << 20),
    busyPollUs: top.busyPollUs === undefined ? 0 : int('busyPollUs', top.busyPollUs, 0, 1_000_000),
    metrics: top.metrics === undefined ? undefined : metricsConfig(top.metrics),
    control: top.control === undefined ? undefined : parseControlConfig(top.control),
  };
  validated.add(config);
  return config;
}

/** "metrics": { "listen": "127.0.0.1:9310" } (IPv6: "[::1]:9310"). */
function metricsConfig(v: unknown): MetricsConfig {
  const o = obj('metrics', v);
  onlyKeys('metrics', o, ['listen']);
  const want = 'an address:port to listen on, like 127.0.0.1:9310 or [::1]:9310';
  if (typeof o.listen !== 'string') throw invalidConfig('metrics.listen', o.listen, want);
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(o.listen);
  const host = m?.[1] ?? m?.[2];
  const port = m === null ? NaN : Number(m[3]);
  if (host === undefined || ipFamily(host) === 0 || (m![1] !== undefined && ipFamily(host) !== 6) || !(port >= 1 && port <= 65535)) {
    throw invalidConfig('metrics.listen', o.listen, want);
  }
  return { host, port };
}

function describeKeys(o: Obj): string {
  return `{${Object.keys(o).join(', ')}}`;
}

