/**
 * Reload: the difference between the running config and a new one, as an
 * ordered list of facade operations, and the step that applies it.
 *
 * `configDiff(old, new)` is pure. Identity: a bridge is `<encap>-<id>`, a VRF
 * its name, a port its TAP name, an FDB entry its MAC, an ARP entry its IP, a
 * route its prefix. What is equal in both is not touched (so its traffic and
 * the MACs learned on it stay); what changed is removed and added again,
 * except routes, which addRoute replaces in place. The order keeps every
 * operation valid when it runs:
 *
 *   remove routes -> remove ARP, FDB, flood entries -> remove ports
 *   -> remove bridges, VRFs -> add VRFs, bridges -> add ports
 *   -> add flood, FDB, ARP entries -> add routes
 *
 * `applyOps` runs them synchronously, in one turn of the event loop: the
 * dataplane never processes a packet in between, so it sees the old state and
 * then the new one.
 */
import { VtepError } from '../errors.js';
import { formatIp, formatMac } from '../util/addr.js';
import type { BridgeOptions, RouteNextHop, VrfOptions, VrfPortOptions } from '../dataplane/api.js';
import type { BridgeConfig, GatewayPortConfig, RouteConfig, TapConfig, VrfConfig, VswitchConfig } from '../dataplane/config.js';
import type { Port } from '../io/port.js';
import { socketsNeeded } from '../dataplane/fromconfig.js';
import type { OpsTarget } from './target.js';

export type ReloadOp =
  | { op: 'deleteRoute'; vrf: string; prefix: string }
  | { op: 'removeArp'; bridge: string; ip: string }
  | { op: 'removeFdb'; bridge: string; mac: string }
  | { op: 'removeFlood'; bridge: string; remote: string }
  | { op: 'removePort'; port: string }
  | { op: 'removeBridge'; bridge: string }
  | { op: 'removeVrf'; vrf: string }
  | { op: 'addVrf'; options: VrfOptions }
  | { op: 'addBridge'; options: BridgeOptions & { name: string } }
  | { op: 'addBridgePort'; bridge: string; tap: TapConfig }
  | { op: 'addVrfPort'; vrf: string; tap: TapConfig; options: VrfPortOptions }
  | { op: 'addFlood'; bridge: string; remote: string }
  | { op: 'addFdb'; bridge: string; mac: string; to: { remote: string } | { port: string } }
  | { op: 'addArp'; bridge: string; ip: string; mac: string }
  | { op: 'addRoute'; vrf: string; prefix: string; nexthops: RouteNextHop[] };

/** The name a config bridge has in the dataplane (the config defaults it to `<encap>-<id>`). */
export function bridgeName(b: Pick<BridgeConfig, 'name'>): string {
  return b.name;
}

/** A route's prefix in one spelling (so "10.2.0.0/16" and "10.2.0.00/16" are one route). */
function prefixKey(r: RouteConfig): string {
  return `${formatIp(r.prefix)}/${r.prefix.length}`;
}

/** The facade's next hops of a config route. */
export function routeNextHops(r: RouteConfig): RouteNextHop[] {
  return r.nexthops.map((n): RouteNextHop => {
    if (n.remote !== undefined) {
      const t: RouteNextHop = { remote: n.remote, encap: n.encap!, weight: n.weight };
      if (n.encap === 'vxlan') t.vni = n.id;
      else if (n.encap === 'gre') t.key = n.id;
      else t.label = n.id;
      if (n.mac !== undefined) t.mac = formatMac(n.mac);
      return t;
    }
    const l: RouteNextHop = { port: n.port!, weight: n.weight };
    if (n.via !== undefined) l.via = n.via;
    return l;
  });
}

function bridgeOptions(b: BridgeConfig): BridgeOptions & { name: string } {
  const o: BridgeOptions & { name: string } = { name: bridgeName(b), encap: b.encap, flood: [...b.flood], arpSuppress: b.arpSuppress, learn: b.learn };
  if (b.encap === 'vxlan') o.vni = b.id;
  else if (b.encap === 'gre') o.key = b.id;
  else o.label = b.id;
  if (b.macLimit !== undefined) o.macLimit = b.macLimit;
  return o;
}

function vrfOptions(v: VrfConfig): VrfOptions {
  const o: VrfOptions = { name: v.name };
  if (v.label !== undefined) o.label = v.label;
  if (v.vni !== undefined) o.vni = v.vni;
  return o;
}

function tapOf(p: TapConfig): TapConfig {
  const t: TapConfig = { tap: p.tap };
  if (p.mac !== undefined) t.mac = p.mac;
  if (p.mtu !== undefined) t.mtu = p.mtu;
  if (p.netns !== undefined) t.netns = p.netns;
  return t;
}

function vrfPortOptions(p: GatewayPortConfig): VrfPortOptions {
  const o: VrfPortOptions = {};
  if (p.gateway !== undefined) o.gateway = `${formatIp(p.gateway)}/${p.gateway.length}`;
  if (p.gateway6 !== undefined) o.gateway6 = `${formatIp(p.gateway6)}/${p.gateway6.length}`;
  if (p.routerMac !== undefined) o.routerMac = formatMac(p.routerMac);
  return o;
}

/** One port of a config: where it is and all that defines it (equal text = unchanged). */
interface PortSpec {
  owner: string;
  text: string;
  op: ReloadOp;
}

function ports(c: VswitchConfig): Map<string, PortSpec> {
  const m = new Map<string, PortSpec>();
  for (const b of c.bridges) {
    const bridge = bridgeName(b);
    for (const p of b.ports) {
      const tap = tapOf(p);
      m.set(p.tap, { owner: `bridge ${bridge}`, text: JSON.stringify(tap), op: { op: 'addBridgePort', bridge, tap } });
    }
  }
  for (const v of c.vrfs) {
    for (const p of v.ports) {
      const tap = tapOf(p);
      const options = vrfPortOptions(p);
      m.set(p.tap, { owner: `vrf ${v.name}`, text: JSON.stringify([tap, options]), op: { op: 'addVrfPort', vrf: v.name, tap, options } });
    }
  }
  return m;
}

/** Top-level settings a reload cannot change (they shape the running process). */
function checkFixed(a: VswitchConfig, b: VswitchConfig): void {
  const fixed: [string, unknown, unknown][] = [
    ['underlay', a.underlay, b.underlay],
    ['macLimit', a.macLimit, b.macLimit],
    ['ageSeconds', a.ageSeconds, b.ageSeconds],
    ['busyPollUs', a.busyPollUs, b.busyPollUs],
  ];
  for (const [field, x, y] of fixed) {
    // underlay.gre is derived from the bridges and routes; only an explicit change matters.
    const norm = (v: unknown): string => JSON.stringify(field === 'underlay' ? { ...(v as object), gre: undefined } : v);
    if (norm(x) !== norm(y)) throw new VtepError('ERR_INVALID_CONFIG', `${field}: changed; a reload cannot change ${field} (restart vtep run)`);
  }
  // The switch opened only the underlay sockets the first config needed.
  const had = socketsNeeded(a);
  const needs = socketsNeeded(b);
  const lacking = [
    needs.vxlan && !had.vxlan ? `VXLAN (UDP ${b.underlay.vxlanPort})` : '',
    needs.mpls && !had.mpls ? `MPLS-over-UDP (UDP ${b.underlay.mplsPort})` : '',
    needs.gre && !had.gre ? 'GRE (a raw IP socket)' : '',
  ].filter((x) => x !== '');
  if (lacking.length > 0) {
    throw new VtepError('ERR_INVALID_CONFIG', `underlay: the new config needs ${lacking.join(' and ')}, a socket the running switch did not open (restart vtep run)`);
  }
}

/**
 * The operations that turn the running config `a` into `b`, in an order in
 * which each is valid. Throws ERR_INVALID_CONFIG for a change a reload cannot
 * make (the underlay, the global MAC limit, the ageing time).
 */
export function configDiff(a: VswitchConfig, b: VswitchConfig): ReloadOp[] {
  checkFixed(a, b);
  const removes: ReloadOp[] = [];
  const owners: ReloadOp[] = [];
  const portOps: ReloadOp[] = [];
  const entries: ReloadOp[] = [];
  const routeOps: ReloadOp[] = [];

  // Bridges and VRFs: kept (same identity and options), gone, new or changed (= gone + new).
  const oldB = new Map(a.bridges.map((x) => [bridgeName(x), x]));
  const newB = new Map(b.bridges.map((x) => [bridgeName(x), x]));
  const bridgeText = (x: BridgeConfig): string => JSON.stringify([x.encap, x.id, x.arpSuppress, x.learn, x.macLimit ?? null]);
  const keptB = new Set([...oldB.keys()].filter((k) => newB.has(k) && bridgeText(oldB.get(k)!) === bridgeText(newB.get(k)!)));
  const oldV = new Map(a.vrfs.map((x) => [x.name, x]));
  const newV = new Map(b.vrfs.map((x) => [x.name, x]));
  const vrfText = (x: VrfConfig): string => JSON.stringify([x.label ?? null, x.vni ?? null]);
  const keptV = new Set([...oldV.keys()].filter((k) => newV.has(k) && vrfText(oldV.get(k)!) === vrfText(newV.get(k)!)));
  const ownerKept = (owner: string): boolean => {
    const [kind, name] = owner.split(' ') as [string, string];
    return kind === 'bridge' ? keptB.has(name) : keptV.has(name);
  };

  // Ports: kept when in the same kept owner with the same settings.
  const oldP = ports(a);
  const newP = ports(b);
  const keptP = new Set<string>();
  for (const [tap, o] of oldP) {
    const n = newP.get(tap);
    if (n !== undefined && n.owner === o.owner && n.text === o.text && ownerKept(o.owner)) keptP.add(tap);
  }
  const portRemoves: ReloadOp[] = [];
  for (const tap of oldP.keys()) if (!keptP.has(tap)) portRemoves.push({ op: 'removePort', port: tap });
  for (const [tap, n] of newP) if (!keptP.has(tap)) portOps.push(n.op);

  for (const name of oldB.keys()) if (!keptB.has(name)) owners.push({ op: 'removeBridge', bridge: name });
  for (const name of oldV.keys()) if (!keptV.has(name)) owners.push({ op: 'removeVrf', vrf: name });
  const adds: ReloadOp[] = [];
  for (const [name, x] of newV) if (!keptV.has(name)) adds.push({ op: 'addVrf', options: vrfOptions(x) });
  for (const [name, x] of newB) if (!keptB.has(name)) adds.push({ op: 'addBridge', options: bridgeOptions(x) });

  // Entries of bridges: those of kept bridges by difference, those of new ones all.
  for (const [name, nb] of newB) {
    const ob = keptB.has(name) ? oldB.get(name)! : undefined;
    const oldFlood = new Set(ob?.flood ?? []);
    const newFlood = new Set(nb.flood);
    if (ob !== undefined) {
      for (const r of oldFlood) if (!newFlood.has(r)) removes.push({ op: 'removeFlood', bridge: name, remote: r });
      for (const r of newFlood) if (!oldFlood.has(r)) entries.push({ op: 'addFlood', bridge: name, remote: r });
    }
    // A static entry toward a port that is added again must be added again too.
    const fdbText = (f: BridgeConfig['fdb'][number]): string => (f.remote !== undefined ? `remote ${f.remote}` : `port ${f.port!}`);
    const oldFdb = new Map((ob?.fdb ?? []).map((f) => [f.mac, f]));
    for (const f of nb.fdb) {
      const o = oldFdb.get(f.mac);
      if (o !== undefined && fdbText(o) === fdbText(f) && (f.port === undefined || keptP.has(f.port))) continue;
      if (o !== undefined) removes.push({ op: 'removeFdb', bridge: name, mac: formatMac(f.mac) });
      entries.push({ op: 'addFdb', bridge: name, mac: formatMac(f.mac), to: f.remote !== undefined ? { remote: f.remote } : { port: f.port! } });
    }
    const newMacs = new Set(nb.fdb.map((f) => f.mac));
    for (const f of ob?.fdb ?? []) if (!newMacs.has(f.mac)) removes.push({ op: 'removeFdb', bridge: name, mac: formatMac(f.mac) });
    const oldArp = new Map((ob?.arp ?? []).map((e) => [e.ip, e.mac]));
    const newArp = new Map(nb.arp.map((e) => [e.ip, e.mac]));
    for (const [ip, mac] of oldArp) if (newArp.get(ip) !== mac) removes.push({ op: 'removeArp', bridge: name, ip });
    for (const [ip, mac] of newArp) if (oldArp.get(ip) !== mac) entries.push({ op: 'addArp', bridge: name, ip, mac: formatMac(mac) });
  }

  // Routes of kept VRFs by difference (addRoute replaces), of new VRFs all.
  for (const [name, nv] of newV) {
    const ov = keptV.has(name) ? oldV.get(name)! : undefined;
    const oldR = new Map((ov?.routes ?? []).map((r) => [prefixKey(r), JSON.stringify(routeNextHops(r))]));
    const newKeys = new Set<string>();
    for (const r of nv.routes) {
      const key = prefixKey(r);
      newKeys.add(key);
      const nexthops = routeNextHops(r);
      const viaNewPort = nexthops.some((n) => 'port' in n && !keptP.has(String(n.port)));
      if (oldR.get(key) === JSON.stringify(nexthops) && !viaNewPort) continue;
      routeOps.push({ op: 'addRoute', vrf: name, prefix: key, nexthops });
    }
    for (const key of oldR.keys()) if (!newKeys.has(key)) removes.unshift({ op: 'deleteRoute', vrf: name, prefix: key });
  }

  // removes holds route deletions first (unshift), then ARP, FDB and flood removals.
  return [...sortRemoves(removes), ...portRemoves, ...owners, ...adds, ...portOps, ...sortEntries(entries), ...routeOps];
}

const REMOVE_ORDER = ['deleteRoute', 'removeArp', 'removeFdb', 'removeFlood'];
const ENTRY_ORDER = ['addFlood', 'addFdb', 'addArp'];
function sortRemoves(ops: ReloadOp[]): ReloadOp[] {
  return REMOVE_ORDER.flatMap((k) => ops.filter((o) => o.op === k));
}
function sortEntries(ops: ReloadOp[]): ReloadOp[] {
  return ENTRY_ORDER.flatMap((k) => ops.filter((o) => o.op === k));
}

/** One line per operation, for logs and `vtep ctl reload`. */
export function opText(o: ReloadOp): string {
  switch (o.op) {
    case 'deleteRoute': return `route del ${o.prefix} vrf ${o.vrf}`;
    case 'removeArp': return `arp del ${o.ip} bridge ${o.bridge}`;
    case 'removeFdb': return `fdb del ${o.mac} bridge ${o.bridge}`;
    case 'removeFlood': return `flood del ${o.remote} bridge ${o.bridge}`;
    case 'removePort': return `port del ${o.port}`;
    case 'removeBridge': return `bridge del ${o.bridge}`;
    case 'removeVrf': return `vrf del ${o.vrf}`;
    case 'addVrf': return `vrf add ${o.options.name}`;
    case 'addBridge': return `bridge add ${o.options.name}`;
    case 'addBridgePort': return `port add ${o.tap.tap} bridge ${o.bridge}`;
    case 'addVrfPort': return `port add ${o.tap.tap} vrf ${o.vrf}`;
    case 'addFlood': return `flood add ${o.remote} bridge ${o.bridge}`;
    case 'addFdb': return `fdb add ${o.mac} bridge ${o.bridge} ${'remote' in o.to ? `remote ${o.to.remote}` : `port ${o.to.port}`}`;
    case 'addArp': return `arp add ${o.ip} ${o.mac} bridge ${o.bridge}`;
    case 'addRoute': return `route add ${o.prefix} vrf ${o.vrf} (${o.nexthops.length} next hops)`;
  }
}

/**
 * Applies operations in order through the facade; `openPort` opens the TAP
 * of a port operation. Stops at the first failure with an error naming the
 * operation and how many were applied before it.
 */
export function applyOps(dp: OpsTarget, ops: readonly ReloadOp[], openPort: (tap: TapConfig) => Port): number {
  let i = 0;
  try {
    for (; i < ops.length; i++) applyOp(dp, ops[i]!, openPort);
  } catch (err) {
    const e = err as Error;
    throw new VtepError((err as VtepError).code ?? 'ERR_NATIVE', `reload: ${opText(ops[i]!)}: ${e.message} (${i} of ${ops.length} changes applied)`, { cause: err });
  }
  return i;
}

function applyOp(dp: OpsTarget, o: ReloadOp, openPort: (tap: TapConfig) => Port): void {
  switch (o.op) {
    case 'deleteRoute': dp.deleteRoute(o.vrf, o.prefix); return;
    case 'removeArp': dp.removeArp(o.bridge, o.ip); return;
    case 'removeFdb': dp.removeFdb(o.bridge, o.mac); return;
    case 'removeFlood': dp.removeFlood(o.bridge, o.remote); return;
    case 'removePort': dp.removePort(o.port); return;
    case 'removeBridge': dp.removeBridge(o.bridge); return;
    case 'removeVrf': dp.removeVrf(o.vrf); return;
    case 'addVrf': dp.addVrf(o.options); return;
    case 'addBridge': dp.addBridge(o.options); return;
    case 'addBridgePort': {
      const port = openPort(o.tap);
      try {
        dp.addBridgePort(o.bridge, port, true);
      } catch (err) {
        port.close();
        throw err;
      }
      return;
    }
    case 'addVrfPort': {
      const port = openPort(o.tap);
      try {
        dp.addVrfPort(o.vrf, port, o.options, true);
      } catch (err) {
        port.close();
        throw err;
      }
      return;
    }
    case 'addFlood': dp.addFlood(o.bridge, o.remote); return;
    case 'addFdb': dp.addFdb(o.bridge, o.mac, o.to); return;
    case 'addArp': dp.addArp(o.bridge, o.ip, o.mac); return;
    case 'addRoute': dp.addRoute(o.vrf, o.prefix, o.nexthops); return;
  }
}
