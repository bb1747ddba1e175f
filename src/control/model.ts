/**
 * The fleet's data model in etcd, version 1 (docs/control.md is the contract).
 * Every key of a host lives under that host's own folder, so that one etcd
 * role per host (readwrite on its folder, read on the rest) keeps a host from
 * writing anyone else's keys, and all of them hang on the host's lease:
 *
 *   <prefix>v1/hosts/<host>/host                         HostRecord
 *   <prefix>v1/hosts/<host>/macs/<encap>-<id>/<mac>      MacRecord
 *   <prefix>v1/hosts/<host>/routes/<vrf>/<addr>_<len>    RouteRecord
 *
 * Values are JSON. Records read from the store are untrusted: parseRecord
 * checks the key and every field and returns a reason instead of a record
 * when anything is off, so a bad record is skipped whole, never half used.
 */
import { ipFamily, parseCidr, parseMac, formatMac, formatIp, parseIp } from '../util/addr.js';
import { PROTO_BY_NAME, ID_MIN, ID_MAX, type TunnelProtoName } from '../tunnel/protos.js';

export const MODEL_VERSION = 'v1';

/** A bridge domain as the fleet knows it: encapsulation and tenant id. */
export interface BridgeRef {
  encap: TunnelProtoName;
  id: number;
}

export interface HostVrf {
  name: string;
  /** MPLS label this host receives the VRF's traffic on. */
  label?: number;
  /** VNI this host receives the VRF's routed VXLAN traffic on. */
  vni?: number;
  /** With vni: the inner destination MAC senders use (this host's router MAC). */
  routerMac?: string;
}

export interface HostRecord {
  /** Underlay address: where the others send this host's tunnels. */
  underlay: string;
  bridges: BridgeRef[];
  vrfs: HostVrf[];
}

export interface MacRecord {
  /** IPv4 and IPv6 addresses known for this MAC (ARP/ND suppression). */
  ips: string[];
}

/** The tunnel next hop that reaches an announced prefix at its host. */
export interface RouteRecord {
  encap: TunnelProtoName;
  /** MPLS label (mplsoudp, mplsogre), VNI (vxlan) or GRE key. */
  id: number;
  /** VXLAN: the announcing host's router MAC. */
  mac?: string;
}

export type ParsedKey =
  | { kind: 'host'; host: string }
  | { kind: 'mac'; host: string; bridge: string; mac: string }
  | { kind: 'route'; host: string; vrf: string; prefix: string };

export type Parsed =
  | { kind: 'host'; host: string; rec: HostRecord }
  | { kind: 'mac'; host: string; bridge: string; mac: string; rec: MacRecord }
  | { kind: 'route'; host: string; vrf: string; prefix: string; rec: RouteRecord };

/** Host names: what a key segment can carry unambiguously (IPv6 underlay addresses included). */
export const HOST_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
export const VRF_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_IPS = 16;

/** "vxlan-42": how bridges are matched across hosts (by encapsulation and id, never by local name). */
export function bridgeKey(encap: TunnelProtoName, id: number): string {
  return `${encap}-${id}`;
}

export function parseBridgeKey(s: string): BridgeRef | undefined {
  const m = /^(vxlan|gre|mplsoudp|mplsogre)-(\d{1,10})$/.exec(s);
  if (m === null) return undefined;
  const encap = m[1] as TunnelProtoName;
  const id = Number(m[2]);
  return idInRange(encap, id) ? { encap, id } : undefined;
}

const isEncap = (s: unknown): s is TunnelProtoName => typeof s === 'string' && PROTO_BY_NAME[s] !== undefined;

function idInRange(encap: TunnelProtoName, id: unknown): boolean {
  const p = PROTO_BY_NAME[encap]!;
  return typeof id === 'number' && Number.isInteger(id) && id >= ID_MIN[p]! && id <= ID_MAX[p]!;
}

/** Key builders; `root` is `<prefix>v1/`. */
export const Keys = {
  root: (prefix: string): string => `${prefix}${MODEL_VERSION}/`,
  hostDir: (root: string, host: string): string => `${root}hosts/${host}/`,
  host: (root: string, host: string): string => `${root}hosts/${host}/host`,
  mac: (root: string, host: string, bridge: string, mac: string): string => `${root}hosts/${host}/macs/${bridge}/${mac}`,
  route: (root: string, host: string, vrf: string, prefix: string): string => `${root}hosts/${host}/routes/${vrf}/${prefix.replace('/', '_')}`,
} as const;

/** Parses a key under `root`; undefined for a key this version does not know. */
export function parseKey(root: string, key: string): ParsedKey | undefined {
  if (!key.startsWith(root)) return undefined;
  const parts = key.slice(root.length).split('/');
  if (parts[0] !== 'hosts' || parts.length < 3) return undefined;
  const host = parts[1]!;
  if (!HOST_NAME.test(host)) return undefined;
  if (parts.length === 3 && parts[2] === 'host') return { kind: 'host', host };
  if (parts.length === 5 && parts[2] === 'macs') {
    const b = parseBridgeKey(parts[3]!);
    const mac = canonicalMac(parts[4]!);
    if (b === undefined || mac === undefined || mac !== parts[4]) return undefined;
    return { kind: 'mac', host, bridge: parts[3]!, mac };
  }
  if (parts.length === 5 && parts[2] === 'routes') {
    if (!VRF_NAME.test(parts[3]!)) return undefined;
    const prefix = canonicalPrefix(parts[4]!.replace('_', '/'));
    if (prefix === undefined || prefix !== parts[4]!.replace('_', '/')) return undefined;
    return { kind: 'route', host, vrf: parts[3]!, prefix };
  }
  return undefined;
}

const CANON_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const CANON_IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

export function canonicalMac(s: string): string | undefined {
  if (CANON_MAC.test(s)) return s; // the common case, without parsing
  try {
    return formatMac(parseMac(s));
  } catch {
    return undefined;
  }
}

export function canonicalIp(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined;
  if (CANON_IPV4.test(s)) return s;
  if (ipFamily(s) === 0) return undefined;
  return formatIp(parseIp(s));
}

/** "10.1.0.0/24" with no host bits, in canonical text; undefined otherwise. */
export function canonicalPrefix(s: string): string | undefined {
  try {
    const c = parseCidr(s, 'prefix', false);
    return `${formatIp({ family: c.family, words: c.words })}/${c.length}`;
  } catch {
    return undefined;
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/**
 * Checks a record read from the store: the key's shape, the JSON and every
 * field. Returns the record or a reason (`field: value is not ...`).
 */
export function parseRecord(root: string, key: string, value: string): Parsed | { error: string } {
  const k = parseKey(root, key);
  if (k === undefined) return { error: `key ${JSON.stringify(key.slice(0, 120))} is not a v1 key` };
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return { error: `value ${JSON.stringify(value.slice(0, 60))} is not JSON` };
  }
  if (!isObj(v)) return { error: `value ${JSON.stringify(value.slice(0, 60))} is not an object` };
  const bad = (field: string, x: unknown, what: string): { error: string } => ({ error: `${field}: ${JSON.stringify(x)?.slice(0, 60)} is not ${what}` });
  if (k.kind === 'host') {
    const underlay = canonicalIp(v.underlay);
    if (underlay === undefined) return bad('underlay', v.underlay, 'an IPv4 or IPv6 address');
    if (!Array.isArray(v.bridges) || v.bridges.length > 4096) return bad('bridges', v.bridges, 'a list');
    const bridges: BridgeRef[] = [];
    for (const [i, b] of v.bridges.entries()) {
      if (!isObj(b) || !isEncap(b.encap) || !idInRange(b.encap, b.id)) {
        return bad(`bridges[${i}]`, b, 'a bridge like {"encap":"vxlan","id":42}');
      }
      bridges.push({ encap: b.encap, id: b.id as number });
    }
    if (!Array.isArray(v.vrfs) || v.vrfs.length > 4096) return bad('vrfs', v.vrfs, 'a list');
    const vrfs: HostVrf[] = [];
    for (const [i, x] of v.vrfs.entries()) {
      if (!isObj(x) || typeof x.name !== 'string' || !VRF_NAME.test(x.name)) return bad(`vrfs[${i}].name`, isObj(x) ? x.name : x, 'a VRF name');
      const vrf: HostVrf = { name: x.name };
      if (x.label !== undefined) {
        if (!isInt(x.label, 16, 0xfffff)) return bad(`vrfs[${i}].label`, x.label, 'an MPLS label in 16..1048575');
        vrf.label = x.label;
      }
      if (x.vni !== undefined) {
        if (!isInt(x.vni, 0, 0xffffff)) return bad(`vrfs[${i}].vni`, x.vni, 'a VNI');
        const rm = typeof x.routerMac === 'string' ? canonicalMac(x.routerMac) : undefined;
        if (rm === undefined) return bad(`vrfs[${i}].routerMac`, x.routerMac, 'a MAC (needed with vni)');
        vrf.vni = x.vni;
        vrf.routerMac = rm;
      }
      vrfs.push(vrf);
    }
    return { kind: 'host', host: k.host, rec: { underlay, bridges, vrfs } };
  }
  if (k.kind === 'mac') {
    const raw = v.ips === undefined ? [] : v.ips;
    if (!Array.isArray(raw) || raw.length > MAX_IPS) return bad('ips', v.ips, `a list of at most ${MAX_IPS} addresses`);
    const ips: string[] = [];
    for (const [i, a] of raw.entries()) {
      const c = canonicalIp(a);
      if (c === undefined) return bad(`ips[${i}]`, a, 'an IPv4 or IPv6 address');
      ips.push(c);
    }
    return { kind: 'mac', host: k.host, bridge: k.bridge, mac: k.mac, rec: { ips } };
  }
  if (!isEncap(v.encap)) return bad('encap', v.encap, 'one of vxlan, gre, mplsoudp, mplsogre');
  const encap = v.encap;
  if (!idInRange(encap, v.id)) return bad('id', v.id, `an id for ${encap}`);
  const rec: RouteRecord = { encap, id: v.id as number };
  if (encap === 'vxlan') {
    const m = typeof v.mac === 'string' ? canonicalMac(v.mac) : undefined;
    if (m === undefined) return bad('mac', v.mac, 'a MAC (the router MAC a VXLAN route needs)');
    rec.mac = m;
  }
  return { kind: 'route', host: k.host, vrf: k.vrf, prefix: k.prefix, rec };
}

/** Host routes (/32, /128) name one machine: the latest announcement wins. Other prefixes spread over ECMP. */
export function isHostPrefix(prefix: string): boolean {
  return prefix.endsWith(prefix.includes(':') ? '/128' : '/32');
}
