/**
 * The dataplane's control state: bridges, VRFs and their ports, static FDB
 * and ARP entries, flood lists and routes, each `add*` with its `remove*`,
 * the listings, and FDB events decoded into names and MAC strings. This is
 * the one validation path: fromConfig (fromconfig.ts) calls these methods
 * and nothing else, so the API refuses exactly what the config refuses.
 *
 * Removing anything removes what refers to it: a port takes its FDB entries
 * (static too), neighbors, held packets and routes with it; a bridge its
 * ports, FDB and flood list; a VRF its ports, routes and held packets. Port
 * ids are never reused, so a stale reference cannot reach a new port.
 */
import { EventEmitter } from 'node:events';
import { VtepError, invalidArg, checkInt, describe } from '../errors.js';
import { parseIp, parseCidr, parseMac, formatIp, formatMac, type Cidr } from '../util/addr.js';
import { TunnelProto, PROTO_NAMES, PROTO_BY_NAME, ID_FIELD, ID_MIN, ID_MAX, type TunnelProtoName } from '../tunnel/protos.js';
import { FDB_REMOTE } from '../table/fdb.js';
import { Route } from '../table/nexthop.js';
import { NeighborTable } from '../table/neighbor.js';
import type { Vrfs } from '../table/vrf.js';
import type {
  BridgeOptions, VrfOptions, VrfPortOptions, RouteNextHop, PortInfo, BridgeInfo, VrfInfo, FdbEntryInfo, NeighborInfo, RouteInfo, MacLocation,
} from './api.js';
import { PortRole, ROLE_NAMES, VRF_TARGET, portCounters, type Runtime, type PortEntry, type BridgeEntry, type VrfEntry } from './runtime.js';
import type { TenantMap } from './tenants.js';

const NO_MAC = 0;
const NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export abstract class ControlState extends EventEmitter {
  protected readonly byName = new Map<string, number>();
  private readonly bridgeByName = new Map<string, number>();

  protected constructor(
    /** The state the stages share (tables, registries). */
    protected readonly rt: Runtime,
    protected readonly vrfRegistry: Vrfs,
    protected readonly tenants: TenantMap,
  ) {
    super();
    // FDB events are decoded only while someone listens (the FDB emits nothing otherwise).
    this.on('newListener', (event: string) => {
      if ((event === 'learned' || event === 'moved' || event === 'aged' || event === 'limit') && this.rt.fdb.listenerCount(event) === 0) this.forwardFdb(event);
      if (event === 'neighbor' && this.rt.emitNeighbor === undefined) {
        this.rt.emitNeighbor = (owner, family, w, mac, port) => {
          const info: NeighborInfo = { owner, ip: formatIp({ family: family as 4 | 6, words: w.slice(0, family === 4 ? 1 : 4) }), mac: formatMac(mac) };
          if (port >= 0 && this.rt.ports[port] !== undefined) info.port = this.rt.ports[port]!.name;
          this.emit('neighbor', info);
        };
      }
    });
  }

  /** The FDB (bridge domain numbers, MACs and values as numbers): for power users and benchmarks. */
  get fdb(): Runtime['fdb'] {
    return this.rt.fdb;
  }
  get pool(): Runtime['pool'] {
    return this.rt.pool;
  }
  get remotes(): Runtime['remotes'] {
    return this.rt.remotes;
  }
  get nexthops(): Runtime['nexthops'] {
    return this.rt.nexthops;
  }

  protected abstract attach(port: import('../io/port.js').Port, role: number, owner: number, owned: boolean): number;
  abstract removePort(idOrName: number | string): void;

  // ---------------------------------------------------------------- bridges

  /** Adds a bridge domain; returns its name (default `<encap>-<id>`). */
  addBridge(o: BridgeOptions): string {
    if (o === null || typeof o !== 'object') throw invalidArg('bridge', o, 'an object of bridge options');
    const encap = o.encap ?? 'vxlan';
    const proto = PROTO_BY_NAME[encap as string];
    if (proto === undefined) throw invalidArg('encap', o.encap, 'one of vxlan, gre, mplsoudp, mplsogre');
    const field = ID_FIELD[proto]!;
    for (const f of ['vni', 'key', 'label'] as const) if (f !== field && o[f] !== undefined) throw invalidArg(f, o[f], `used with encap ${encap} (it takes ${field})`);
    const id = checkInt(field, o[field as 'vni'], ID_MIN[proto]!, ID_MAX[proto]!);
    const name = o.name ?? `${encap}-${id}`;
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw invalidArg('name', name, 'a bridge name of 1-64 letters, digits or _.:-');
    if (this.bridgeByName.has(name)) throw new VtepError('ERR_EXISTS', `bridge: ${describe(name)} exists`);
    this.requireUnderlayState();
    const flood = (o.flood ?? []).map((a, i) => this.remoteIndex(a, `flood[${i}]`));
    if (o.macLimit !== undefined) checkInt('macLimit', o.macLimit, 0, 1 << 26);
    const index = this.rt.bridges.length;
    this.tenants.bind(proto, id, index, 'ethernet', `bridge ${name}`);
    const b: BridgeEntry = {
      index, name, proto, id, ports: [], arpSuppress: o.arpSuppress ?? true, learn: o.learn ?? true, macLimit: o.macLimit,
      neigh: new NeighborTable(), tunnelOf: new Int32Array(this.rt.remotes.capacity).fill(-1), icmpTokens: Infinity, icmpAt: this.rt.clock(),
    };
    this.rt.bridges.push(b);
    this.bridgeByName.set(name, index);
    if (o.macLimit !== undefined) this.rt.fdb.setLimit(index, o.macLimit);
    if (flood.length > 0) this.rt.fdb.setFlood(index, flood);
    return name;
  }

  /** Removes a bridge domain with its ports (closed if the dataplane opened them), FDB and flood list. */
  removeBridge(bridge: string | number): void {
    const b = this.bridge(bridge);
    for (const p of [...b.ports]) this.removePort(p);
    this.rt.fdb.flush({ bd: b.index, static: true });
    this.rt.fdb.flush({ bd: b.index });
    this.rt.fdb.setFlood(b.index, []);
    this.rt.fdb.setLimit(b.index, undefined);
    this.tenants.unbind(b.proto, b.id);
    this.rt.bridges[b.index] = undefined;
    this.bridgeByName.delete(b.name);
  }

  /**
   * A static FDB entry: MAC at a remote VTEP or on a port of the bridge. A
   * `learnable` remote entry is static until learning sees the MAC elsewhere
   * (Linux's extern_learn): what a control plane installs, so that a MAC that
   * moves here is learned here at once.
   */
  addFdb(bridge: string | number, mac: number | string, to: { remote: string; learnable?: boolean } | { port: number | string }): void {
    const b = this.bridge(bridge);
    const m = macArg('mac', mac);
    if (isGroup(m)) throw invalidArg('mac', mac, 'a unicast MAC');
    if (to === null || typeof to !== 'object') throw invalidArg('to', to, '{ remote } or { port }');
    if ('remote' in to) this.rt.fdb.addStatic(b.index, m, FDB_REMOTE | this.remoteIndex(to.remote, 'remote'), to.learnable === true);
    else {
      const p = this.portId(to.port);
      if (!b.ports.includes(p)) throw invalidArg('port', to.port, `a port of bridge ${b.name}`);
      this.rt.fdb.addStatic(b.index, m, p);
    }
  }

  /** Removes an FDB entry (static or learned); false when absent. */
  removeFdb(bridge: string | number, mac: number | string): boolean {
    return this.rt.fdb.delete(this.bridge(bridge).index, macArg('mac', mac));
  }

  /** Adds a remote VTEP to a bridge domain's flood list. */
  addFlood(bridge: string | number, remote: string): void {
    const b = this.bridge(bridge);
    const r = this.remoteIndex(remote, 'remote');
    if (!this.rt.fdb.flood(b.index).includes(r)) this.rt.fdb.addFlood(b.index, r);
  }

  removeFlood(bridge: string | number, remote: string): boolean {
    const b = this.bridge(bridge);
    const a = parseIp(remote, 'remote');
    const r = this.rt.remotes.indexOf(a);
    return r >= 0 && this.rt.fdb.removeFlood(b.index, r);
  }

  /** A static ARP/ND suppression entry: `ip` is at `mac` in this bridge domain. */
  addArp(bridge: string | number, ip: string, mac: number | string): void {
    const b = this.bridge(bridge);
    const a = parseIp(ip, 'ip');
    const m = macArg('mac', mac);
    if (isGroup(m)) throw invalidArg('mac', mac, 'a unicast MAC');
    if (b.neigh.set(a.family, a.words, 0, m, -1, true) < 0) throw new VtepError('ERR_LIMIT', `arp: the table of bridge ${b.name} is full`);
  }

  removeArp(bridge: string | number, ip: string): boolean {
    const a = parseIp(ip, 'ip');
    return this.bridge(bridge).neigh.delete(a.family, a.words);
  }

  // ---------------------------------------------------------------- VRFs

  /** Adds a VRF; `label` / `vni` identify it on receive. Returns its name. */
  addVrf(o: VrfOptions): string {
    if (o === null || typeof o !== 'object') throw invalidArg('vrf', o, 'an object of VRF options');
    if (o.label !== undefined) checkInt('label', o.label, ID_MIN[TunnelProto.MPLSOUDP]!, ID_MAX[TunnelProto.MPLSOUDP]!);
    if (o.vni !== undefined) checkInt('vni', o.vni, 0, ID_MAX[TunnelProto.VXLAN]!);
    this.requireUnderlayState();
    const index = this.rt.vrfs.length;
    const owner = `VRF ${o.name}`;
    // Refuse a taken id before anything is made, so that a failure leaves nothing behind.
    if (o.label !== undefined) this.tenants.check(TunnelProto.MPLSOUDP, o.label, owner);
    if (o.vni !== undefined) this.tenants.check(TunnelProto.VXLAN, o.vni, owner);
    const vrf = this.vrfRegistry.create(o.name);
    if (o.label !== undefined) this.tenants.bind(TunnelProto.MPLSOUDP, o.label, VRF_TARGET + index, 'ip', owner);
    if (o.vni !== undefined) this.tenants.bind(TunnelProto.VXLAN, o.vni, VRF_TARGET + index, 'ethernet', owner);
    this.rt.vrfs.push({
      index, name: o.name, vrf, label: o.label, vni: o.vni, ports: [], neigh: new NeighborTable(), connected: new Map(), routes: new Map(),
      icmpTokens: Infinity, icmpAt: this.rt.clock(),
    });
    return o.name;
  }

  /** Removes a VRF with its ports, routes and held packets. */
  removeVrf(name: string): void {
    const v = this.vrfEntry(name);
    for (const p of [...v.ports]) this.removePort(p);
    for (const prefix of [...v.routes.keys()]) this.deleteRoute(name, prefix);
    this.rt.held.dropWhere(v.index, -1, (r) => {
      this.rt.dropHeld(r);
      this.rt.pool.free(this.rt.held.slot[r]!);
    });
    if (v.label !== undefined) this.tenants.unbind(TunnelProto.MPLSOUDP, v.label);
    if (v.vni !== undefined) this.tenants.unbind(TunnelProto.VXLAN, v.vni);
    this.vrfRegistry.delete(name);
    this.rt.vrfs[v.index] = undefined;
  }

  /** Puts `port` in a VRF as a gateway: answers ARP/ND and pings for the gateway, routes what it receives. */
  addVrfPort(vrfName: string, port: import('../io/port.js').Port, o: VrfPortOptions, owned = false): number {
    const v = this.vrfEntry(vrfName);
    if (o === null || typeof o !== 'object' || (o.gateway === undefined && o.gateway6 === undefined)) throw invalidArg('gateway', undefined, 'given (or gateway6) for a VRF port');
    const g4 = o.gateway === undefined ? undefined : parseCidr(o.gateway, 'gateway', true);
    if (g4 !== undefined && g4.family !== 4) throw invalidArg('gateway', o.gateway, 'an IPv4 address with a prefix length');
    const g6 = o.gateway6 === undefined ? undefined : parseCidr(o.gateway6, 'gateway6', true);
    if (g6 !== undefined && g6.family !== 6) throw invalidArg('gateway6', o.gateway6, 'an IPv6 address with a prefix length');
    const routerMac = o.routerMac === undefined ? undefined : macArg('routerMac', o.routerMac);
    const id = this.attach(port, PortRole.ROUTER, v.index, owned);
    const e = this.entry(id);
    e.routerMac = routerMac ?? 0x027674000000 + id;
    v.ports.push(id);
    // A connected next hop per port: its destination MAC comes from the neighbor table.
    const nh = this.rt.nexthops.add({ type: 'local', port: id, srcMac: e.routerMac, dstMac: NO_MAC });
    v.connected.set(id, nh);
    if (g4 !== undefined) {
      e.gw4 = g4.words[0]!;
      e.gw4len = g4.length;
      v.vrf.v4.add(subnet(g4).words[0]!, g4.length, Route.nexthop(nh));
    }
    if (g6 !== undefined) {
      e.gw6 = g6.words;
      e.gw6len = g6.length;
      v.vrf.v6.add(subnet(g6).words, g6.length, Route.nexthop(nh));
    }
    return id;
  }

  /** Adds (or replaces) a route; several next hops make an ECMP group; none is a blackhole. */
  addRoute(vrfName: string, prefix: string, nexthops: RouteNextHop[]): void {
    const v = this.vrfEntry(vrfName);
    const p = parseCidr(prefix, 'prefix');
    if (!Array.isArray(nexthops)) throw invalidArg('nexthops', nexthops, 'a list of next hops');
    const key = `${formatIp(p)}/${p.length}`;
    // Validate every next hop before changing anything.
    nexthops.forEach((n, i) => this.checkNextHop(v, n, `nexthops[${i}]`));
    const made: number[] = [];
    const ids = nexthops.map((n, i) => this.addNextHop(v, n, `nexthops[${i}]`, made));
    let value: number;
    let group = -1;
    if (ids.length === 0) {
      const d = this.rt.nexthops.add({ type: 'drop' });
      made.push(d);
      value = Route.nexthop(d);
    } else if (ids.length === 1) value = Route.nexthop(ids[0]!);
    else {
      value = this.rt.nexthops.addGroup(ids, { weights: nexthops.map((n) => n.weight ?? 1) });
      group = Route.id(value);
    }
    if (v.routes.has(key)) this.deleteRoute(vrfName, key);
    if (p.family === 4) v.vrf.v4.add(p.words[0]!, p.length, value);
    else v.vrf.v6.add(p.words, p.length, value);
    v.routes.set(key, { nexthops: nexthops.map((n) => ({ ...n })), ids: made, group });
  }

  /** Removes a route added with addRoute (connected subnets go with their port); false when absent. */
  deleteRoute(vrfName: string, prefix: string): boolean {
    const v = this.vrfEntry(vrfName);
    const p = parseCidr(prefix, 'prefix');
    const key = `${formatIp(p)}/${p.length}`;
    const r = v.routes.get(key);
    if (r === undefined) return false;
    v.routes.delete(key);
    v.vrf.delete(key);
    if (r.group >= 0) this.rt.nexthops.deleteGroup(r.group);
    for (const id of r.ids) {
      this.rt.nexthops.delete(id);
      this.rt.nhVia.delete(id);
      this.rt.nhTunnel[id] = -1;
      this.rt.nhIpTunnel[id] = -1;
    }
    return true;
  }

  /** Router MAC of a VRF port. */
  routerMac(idOrName: number | string): number {
    return this.entry(this.portId(idOrName)).routerMac;
  }

  // ---------------------------------------------------------------- listings

  listPorts(): PortInfo[] {
    const out: PortInfo[] = [];
    for (const e of this.rt.ports) {
      if (e === undefined) continue;
      const info: PortInfo = {
        name: e.name, id: e.id, kind: e.port.kind, role: ROLE_NAMES[e.role] as PortInfo['role'], linkUp: e.port.linkUp,
        ...portCounters(e),
      };
      if (e.role === PortRole.BRIDGE) info.owner = this.rt.bridges[e.owner]?.name;
      else if (e.role === PortRole.ROUTER) info.owner = this.rt.vrfs[e.owner]?.name;
      out.push(info);
    }
    return out;
  }

  listBridges(): BridgeInfo[] {
    return this.rt.bridges.filter((b): b is BridgeEntry => b !== undefined).map((b) => ({
      name: b.name, encap: PROTO_NAMES[b.proto] as TunnelProtoName, id: b.id, arpSuppress: b.arpSuppress, learn: b.learn, macLimit: b.macLimit,
      ports: b.ports.map((p) => this.rt.ports[p]!.name),
      flood: [...this.rt.fdb.flood(b.index)].map((r) => this.rt.remotes.address(r)),
    }));
  }

  listVrfs(): VrfInfo[] {
    return this.rt.vrfs.filter((v): v is VrfEntry => v !== undefined).map((v) => ({
      name: v.name, label: v.label, vni: v.vni,
      ports: v.ports.map((p) => {
        const e = this.rt.ports[p]!;
        const info: VrfInfo['ports'][number] = { name: e.name, routerMac: formatMac(e.routerMac) };
        if (e.gw4len > 0) info.gateway = `${formatIp({ family: 4, words: Uint32Array.of(e.gw4) })}/${e.gw4len}`;
        if (e.gw6 !== null) info.gateway6 = `${formatIp({ family: 6, words: e.gw6 })}/${e.gw6len}`;
        return info;
      }),
    }));
  }

  fdbEntries(bridge?: string): FdbEntryInfo[] {
    const only = bridge === undefined ? -1 : this.bridge(bridge).index;
    const out: FdbEntryInfo[] = [];
    for (const f of this.rt.fdb.entries()) {
      if (only >= 0 && f.bd !== only) continue;
      const b = this.rt.bridges[f.bd];
      if (b === undefined) continue;
      out.push({ bridge: b.name, mac: f.macText, static: f.static, ...this.location(f.value) });
    }
    return out;
  }

  arpEntries(bridge?: string): NeighborInfo[] {
    const list = bridge === undefined ? this.rt.bridges : [this.bridge(bridge)];
    const out: NeighborInfo[] = [];
    for (const b of list) {
      if (b === undefined) continue;
      for (const n of b.neigh.entries()) {
        const info: NeighborInfo = { owner: b.name, ip: formatIp(n), mac: formatMac(n.mac) };
        if (n.port >= 0 && this.rt.ports[n.port] !== undefined) info.port = this.rt.ports[n.port]!.name;
        out.push(info);
      }
    }
    return out;
  }

  neighbors(vrf?: string): NeighborInfo[] {
    const list = vrf === undefined ? this.rt.vrfs : [this.vrfEntry(vrf)];
    const out: NeighborInfo[] = [];
    for (const v of list) {
      if (v === undefined) continue;
      for (const n of v.neigh.entries()) out.push({ owner: v.name, ip: formatIp(n), mac: formatMac(n.mac), port: this.rt.ports[n.port]?.name ?? String(n.port) });
    }
    return out;
  }

  routes(vrf?: string): RouteInfo[] {
    const list = vrf === undefined ? this.rt.vrfs : [this.vrfEntry(vrf)];
    const out: RouteInfo[] = [];
    for (const v of list) {
      if (v === undefined) continue;
      for (const p of v.ports) {
        const e = this.rt.ports[p]!;
        if (e.gw4len > 0) out.push({ vrf: v.name, prefix: `${formatIp(subnet({ family: 4, words: Uint32Array.of(e.gw4), length: e.gw4len }))}/${e.gw4len}`, nexthops: [{ port: e.name }] });
        if (e.gw6 !== null) out.push({ vrf: v.name, prefix: `${formatIp(subnet({ family: 6, words: e.gw6, length: e.gw6len }))}/${e.gw6len}`, nexthops: [{ port: e.name }] });
      }
      for (const [prefix, r] of v.routes) out.push({ vrf: v.name, prefix, nexthops: r.nexthops });
    }
    return out;
  }

  // ---------------------------------------------------------------- helpers

  /** Port id by name (or id). */
  abstract portId(idOrName: number | string): number;

  protected entry(id: number): PortEntry {
    const e = this.rt.ports[id];
    if (e === undefined) throw new VtepError('ERR_NOT_FOUND', `port: ${id} is not a port of this dataplane`);
    return e;
  }

  protected bridge(ref: string | number): BridgeEntry {
    const index = typeof ref === 'number' ? ref : this.bridgeByName.get(ref);
    const b = index === undefined ? undefined : this.rt.bridges[index];
    if (b === undefined) throw new VtepError('ERR_NOT_FOUND', `bridge: ${describe(ref)} is not a bridge domain of this dataplane`);
    return b;
  }

  protected vrfEntry(name: string): VrfEntry {
    const v = typeof name === 'string' ? this.vrfRegistry.get(name) : undefined;
    if (v === undefined) throw new VtepError('ERR_NOT_FOUND', `vrf: ${describe(name)} does not exist`);
    return this.rt.vrfs.find((e) => e?.vrf === v)!;
  }

  /** Owner-side cleanup of a port being removed (removePort does the port side). */
  protected detachPort(e: PortEntry): void {
    const rt = this.rt;
    if (e.role === PortRole.BRIDGE) {
      const b = rt.bridges[e.owner]!;
      b.ports = b.ports.filter((p) => p !== e.id);
      rt.fdb.flush({ bd: e.owner, value: e.id, static: true });
      rt.fdb.flush({ bd: e.owner, value: e.id });
      b.neigh.deletePort(e.id);
    } else if (e.role === PortRole.ROUTER) {
      const v = rt.vrfs[e.owner]!;
      v.ports = v.ports.filter((p) => p !== e.id);
      v.neigh.deletePort(e.id);
      // Routes through this port go with it; then its connected subnets.
      const via = (n: RouteNextHop): boolean => 'port' in n && (typeof n.port === 'number' ? n.port : this.byName.get(n.port)) === e.id;
      for (const [prefix, r] of [...v.routes]) if (r.nexthops.some(via)) this.deleteRoute(v.name, prefix);
      if (e.gw4len > 0) v.vrf.v4.delete(subnet({ family: 4, words: Uint32Array.of(e.gw4), length: e.gw4len }).words[0]!, e.gw4len);
      if (e.gw6 !== null) v.vrf.v6.delete(subnet({ family: 6, words: e.gw6, length: e.gw6len }).words, e.gw6len);
      const nh = v.connected.get(e.id);
      if (nh !== undefined) rt.nexthops.delete(nh);
      v.connected.delete(e.id);
    }
  }

  private checkNextHop(v: VrfEntry, n: RouteNextHop, field: string): void {
    if (n === null || typeof n !== 'object') throw invalidArg(field, n, 'a next hop ({ remote, encap, ... } or { port, via })');
    if (n.weight !== undefined) checkInt(`${field}.weight`, n.weight, 1, 1 << 16);
    if ('remote' in n) {
      const proto = PROTO_BY_NAME[n.encap as string];
      if (proto === undefined) throw invalidArg(`${field}.encap`, n.encap, 'one of vxlan, gre, mplsoudp, mplsogre');
      const idf = ID_FIELD[proto]!;
      for (const f of ['vni', 'key', 'label'] as const) if (f !== idf && n[f] !== undefined) throw invalidArg(`${field}.${f}`, n[f], `used with encap ${n.encap}`);
      checkInt(`${field}.${idf}`, n[idf as 'vni'], ID_MIN[proto]!, ID_MAX[proto]!);
      this.checkRemote(n.remote, `${field}.remote`);
      if (proto === TunnelProto.VXLAN && n.mac === undefined) throw invalidArg(`${field}.mac`, undefined, 'given for a VXLAN route (the inner destination MAC)');
      if (n.mac !== undefined) macArg(`${field}.mac`, n.mac);
      return;
    }
    const port = this.portId(n.port);
    if (!v.ports.includes(port)) throw invalidArg(`${field}.port`, n.port, `a port of VRF ${v.name}`);
    if (n.via !== undefined) {
      const via = parseIp(n.via, `${field}.via`);
      const e = this.entry(port);
      const inSubnet = via.family === 4 ? e.gw4len > 0 && sameNet(via.words, Uint32Array.of(e.gw4), e.gw4len) : e.gw6 !== null && sameNet(via.words, e.gw6, e.gw6len);
      if (!inSubnet) throw invalidArg(`${field}.via`, n.via, `an address in the subnet of port ${e.name}`);
    }
  }

  private addNextHop(v: VrfEntry, n: RouteNextHop, field: string, made: number[]): number {
    const rt = this.rt;
    if ('remote' in n) {
      const proto = PROTO_BY_NAME[n.encap as string]!;
      const id = n[ID_FIELD[proto] as 'vni']!;
      const remote = this.remoteIndex(n.remote, `${field}.remote`);
      const nh = rt.nexthops.add({ type: 'tunnel', proto: n.encap, remote, id });
      made.push(nh);
      if (proto === TunnelProto.VXLAN) rt.nhMac[nh] = macArg(`${field}.mac`, n.mac!);
      rt.nhTunnel[nh] = rt.tunnels.get(rt.underlay!, proto, remote, id, proto === TunnelProto.VXLAN ? 'ethernet' : 'ip', rt.portOf);
      rt.nhIpTunnel[nh] = proto === TunnelProto.VXLAN ? -1 : rt.nhTunnel[nh]!;
      return nh;
    }
    const port = this.portId(n.port);
    if (n.via === undefined) return v.connected.get(port)!;
    const nh = rt.nexthops.add({ type: 'local', port, srcMac: this.entry(port).routerMac, dstMac: NO_MAC });
    made.push(nh);
    rt.nhVia.set(nh, parseIp(n.via, `${field}.via`));
    return nh;
  }

  private checkRemote(address: string, field: string): void {
    const a = parseIp(address, field);
    const u = this.requireUnderlayState();
    if (a.family !== u.address.family) throw invalidArg(field, address, `an IPv${u.address.family} address like the underlay's`);
  }

  protected remoteIndex(address: string, field: string): number {
    this.checkRemote(address, field);
    return this.rt.remotes.add(parseIp(address, field));
  }

  protected requireUnderlayState(): NonNullable<Runtime['underlay']> {
    if (this.rt.underlay === undefined) throw new VtepError('ERR_INVALID_ARG', 'underlay: call setUnderlay() first');
    return this.rt.underlay;
  }

  /** Where an FDB value points, decoded. */
  private location(value: number): MacLocation {
    if ((value & FDB_REMOTE) !== 0) return { remote: this.rt.remotes.address(value & (FDB_REMOTE - 1)) };
    return { port: this.rt.ports[value]?.name ?? String(value) };
  }

  private forwardFdb(event: 'learned' | 'moved' | 'aged' | 'limit'): void {
    const fdb = this.rt.fdb;
    const name = (bd: number): string => this.rt.bridges[bd]?.name ?? String(bd);
    if (event === 'learned') fdb.on('learned', (bd, mac, value) => this.emit('learned', { bridge: name(bd), mac: formatMac(mac), ...this.location(value) }));
    else if (event === 'moved') fdb.on('moved', (bd, mac, from, to) => this.emit('moved', { bridge: name(bd), mac: formatMac(mac), from: this.location(from), ...this.location(to) }));
    else if (event === 'aged') fdb.on('aged', (bd, mac, value) => this.emit('aged', { bridge: name(bd), mac: formatMac(mac), ...this.location(value) }));
    else fdb.on('limit', (bd, scope, limit) => this.emit('limit', { bridge: name(bd), scope: scope === 'bd' ? 'bridge' : 'global', limit }));
  }
}

/** A MAC given as text or number, checked (field names it in the error). */
export function macArg(field: string, v: number | string): number {
  if (typeof v === 'string') return parseMac(v, field);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffffffff) throw invalidArg(field, v, 'a 48-bit MAC');
  return v;
}

function isGroup(mac: number): boolean {
  return Math.floor(mac / 0x10000000000) % 2 === 1;
}

/** The network of an interface address (host bits cleared). */
export function subnet(c: Cidr): Cidr {
  const words = c.words.slice();
  for (let i = 0; i < words.length; i++) {
    const keep = Math.max(0, Math.min(32, c.length - 32 * i));
    words[i] = keep === 0 ? 0 : (words[i]! & (0xffffffff << (32 - keep))) >>> 0;
  }
  return { family: c.family, words, length: c.length };
}

function sameNet(a: ArrayLike<number>, b: ArrayLike<number>, length: number): boolean {
  for (let i = 0; i * 32 < length; i++) {
    const keep = Math.min(32, length - 32 * i);
    const mask = keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    if (((a[i]! & mask) >>> 0) !== ((b[i]! & mask) >>> 0)) return false;
  }
  return true;
}

