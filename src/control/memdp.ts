/**
 * An in-memory DataplaneApi with no packets: bridges, VRFs, FDB, flood lists,
 * ARP and routes as plain maps, and methods that fire the events a real
 * dataplane fires when it learns. The control layer's tests and benchmark run
 * on it; it also counts the table calls, so that a test can prove a resync
 * programmed nothing twice.
 */
import { EventEmitter } from 'node:events';
import { VtepError } from '../errors.js';
import { formatMac, parseMac } from '../util/addr.js';
import type {
  BridgeInfo, BridgeOptions, CaptureDirection, CaptureFn, DataplaneApi, DataplaneEvents, FdbEntryInfo,
  MacLocation, NeighborInfo, PacketTrace, PortInfo, RouteInfo, RouteNextHop, VrfInfo, VrfOptions,
} from '../dataplane/api.js';

interface Bridge {
  info: BridgeInfo;
  fdb: Map<string, FdbEntryInfo>;
  arp: Map<string, string>;
}

const CANON_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const macText = (m: number | string): string => (typeof m === 'string' && CANON_MAC.test(m) ? m : formatMac(typeof m === 'number' ? m : parseMac(m)));

export class MemoryDataplane extends EventEmitter implements DataplaneApi {
  private readonly bridges = new Map<string, Bridge>();
  private readonly vrfs = new Map<string, { info: VrfInfo; routes: Map<string, RouteNextHop[]>; neigh: Map<string, NeighborInfo> }>();
  /** Table calls made (addFdb, removeFdb, addFlood, ...), by method name. */
  readonly calls: Record<string, number> = {};

  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }
  private bridge(name: string): Bridge {
    const b = this.bridges.get(name);
    if (b === undefined) throw new VtepError('ERR_NOT_FOUND', `bridge ${name} does not exist`);
    return b;
  }
  private vrf(name: string): NonNullable<ReturnType<typeof this.vrfs.get>> {
    const v = this.vrfs.get(name);
    if (v === undefined) throw new VtepError('ERR_NOT_FOUND', `vrf ${name} does not exist`);
    return v;
  }

  addBridge(o: BridgeOptions): string {
    const encap = o.encap ?? 'vxlan';
    const id = o.vni ?? o.key ?? o.label ?? 0;
    const name = o.name ?? `${encap}-${id}`;
    if (this.bridges.has(name)) throw new VtepError('ERR_EXISTS', `bridge ${name} exists`);
    this.bridges.set(name, {
      info: { name, encap, id, ports: [], flood: [...(o.flood ?? [])], arpSuppress: o.arpSuppress ?? true, learn: o.learn ?? true, macLimit: o.macLimit },
      fdb: new Map(),
      arp: new Map(),
    });
    return name;
  }
  removeBridge(bridge: string): void {
    this.bridge(bridge);
    this.bridges.delete(bridge);
  }
  addVrf(o: VrfOptions): string {
    if (this.vrfs.has(o.name)) throw new VtepError('ERR_EXISTS', `vrf ${o.name} exists`);
    this.vrfs.set(o.name, { info: { name: o.name, label: o.label, vni: o.vni, ports: [] }, routes: new Map(), neigh: new Map() });
    return o.name;
  }
  removeVrf(vrf: string): void {
    this.vrf(vrf);
    this.vrfs.delete(vrf);
  }
  /** Test set-up: a port of a bridge (name only) or of a VRF (with a gateway: its connected subnet becomes a route). */
  addPort(owner: string, name: string, o: { gateway?: string; routerMac?: string; connected?: string } = {}): void {
    const b = this.bridges.get(owner);
    if (b !== undefined) {
      b.info.ports.push(name);
      return;
    }
    const v = this.vrf(owner);
    v.info.ports.push({ name, gateway: o.gateway, routerMac: o.routerMac ?? '02:76:74:00:00:01' });
    if (o.connected !== undefined) v.routes.set(o.connected, [{ port: name }]);
  }
  removePort(port: number | string): void {
    for (const b of this.bridges.values()) b.info.ports = b.info.ports.filter((p) => p !== port);
  }

  addFdb(bridge: string, mac: number | string, to: { remote: string } | { port: number | string }): void {
    this.count('addFdb');
    const m = macText(mac);
    const e: FdbEntryInfo = { bridge, mac: m, static: true };
    if ('remote' in to) e.remote = to.remote;
    else e.port = String(to.port);
    this.bridge(bridge).fdb.set(m, e);
  }
  removeFdb(bridge: string, mac: number | string): boolean {
    this.count('removeFdb');
    return this.bridge(bridge).fdb.delete(macText(mac));
  }
  addFlood(bridge: string, remote: string): void {
    this.count('addFlood');
    const b = this.bridge(bridge);
    if (!b.info.flood.includes(remote)) b.info.flood.push(remote);
  }
  removeFlood(bridge: string, remote: string): boolean {
    this.count('removeFlood');
    const b = this.bridge(bridge);
    const n = b.info.flood.length;
    b.info.flood = b.info.flood.filter((r) => r !== remote);
    return b.info.flood.length !== n;
  }
  addArp(bridge: string, ip: string, mac: number | string): void {
    this.count('addArp');
    this.bridge(bridge).arp.set(ip, macText(mac));
  }
  removeArp(bridge: string, ip: string): boolean {
    this.count('removeArp');
    return this.bridge(bridge).arp.delete(ip);
  }
  addRoute(vrf: string, prefix: string, nexthops: RouteNextHop[]): void {
    this.count('addRoute');
    this.vrf(vrf).routes.set(prefix, nexthops.map((n) => ({ ...n })));
  }
  deleteRoute(vrf: string, prefix: string): boolean {
    this.count('deleteRoute');
    return this.vrf(vrf).routes.delete(prefix);
  }

  listPorts(): PortInfo[] {
    return [];
  }
  listBridges(): BridgeInfo[] {
    return [...this.bridges.values()].map((b) => ({ ...b.info, ports: [...b.info.ports], flood: [...b.info.flood] }));
  }
  listVrfs(): VrfInfo[] {
    return [...this.vrfs.values()].map((v) => ({ ...v.info, ports: v.info.ports.map((p) => ({ ...p })) }));
  }
  fdbEntries(bridge?: string): FdbEntryInfo[] {
    const out: FdbEntryInfo[] = [];
    for (const [name, b] of this.bridges) if (bridge === undefined || bridge === name) for (const e of b.fdb.values()) out.push({ ...e });
    return out;
  }
  arpEntries(bridge?: string): NeighborInfo[] {
    const out: NeighborInfo[] = [];
    for (const [name, b] of this.bridges) if (bridge === undefined || bridge === name) for (const [ip, mac] of b.arp) out.push({ owner: name, ip, mac });
    return out;
  }
  neighbors(vrf?: string): NeighborInfo[] {
    const out: NeighborInfo[] = [];
    for (const [name, v] of this.vrfs) if (vrf === undefined || vrf === name) for (const n of v.neigh.values()) out.push({ ...n });
    return out;
  }
  routes(vrf?: string): RouteInfo[] {
    const out: RouteInfo[] = [];
    for (const [name, v] of this.vrfs) if (vrf === undefined || vrf === name) for (const [prefix, nexthops] of v.routes) out.push({ vrf: name, prefix, nexthops: nexthops.map((n) => ({ ...n })) });
    return out;
  }
  trace(): Promise<PacketTrace[]> {
    return Promise.resolve([]);
  }
  capture(_port: number | string, _direction: CaptureDirection, _fn: CaptureFn): () => void {
    return () => undefined;
  }

  // What the packet path would do, as events.

  /** A frame from `mac` arrived on a local port (learned, or moved when it was elsewhere). */
  learn(bridge: string, mac: string, where: MacLocation): void {
    const b = this.bridge(bridge);
    const m = macText(mac);
    const old = b.fdb.get(m);
    const e: FdbEntryInfo = { bridge, mac: m, static: false, ...where };
    if (old === undefined) {
      b.fdb.set(m, e);
      this.emit('learned', { bridge, mac: m, ...where });
      return;
    }
    const from: MacLocation = old.port !== undefined ? { port: old.port } : { remote: old.remote! };
    if (JSON.stringify(from) === JSON.stringify(where)) return;
    b.fdb.set(m, e);
    this.emit('moved', { bridge, mac: m, from, ...where });
  }
  /** A learned MAC ages out. */
  age(bridge: string, mac: string): void {
    const b = this.bridge(bridge);
    const m = macText(mac);
    const e = b.fdb.get(m);
    if (e === undefined || e.static) return;
    b.fdb.delete(m);
    this.emit('aged', { bridge, mac: m, ...(e.port !== undefined ? { port: e.port } : { remote: e.remote! }) });
  }
  /** An ARP/ND packet showed `ip` at `mac` in a bridge (suppression) or a VRF (neighbor). */
  snoop(owner: string, ip: string, mac: string, port?: string): void {
    const m = macText(mac);
    const b = this.bridges.get(owner);
    if (b !== undefined) b.arp.set(ip, m);
    else this.vrf(owner).neigh.set(ip, { owner, ip, mac: m, ...(port !== undefined ? { port } : {}) });
    this.emit('neighbor', { owner, ip, mac: m, ...(port !== undefined ? { port } : {}) });
  }

  override on<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this {
    return super.on(event, listener as (...a: unknown[]) => void);
  }
  override off<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this {
    return super.off(event, listener as (...a: unknown[]) => void);
  }
}
