/**
 * A small in-memory DataplaneApi for the ops unit tests: it keeps the tables
 * as plain maps, records every call, and lets a test feed capture and trace.
 */
import { EventEmitter } from 'node:events';
import { VtepError } from '../../src/errors.js';
import type {
  BridgeInfo, BridgeOptions, CaptureDirection, CaptureFn, DataplaneEvents, FdbEntryInfo, NeighborInfo, PacketTrace,
  PortInfo, RouteInfo, RouteNextHop, VrfInfo, VrfOptions, VrfPortOptions,
} from '../../src/dataplane/api.js';
import type { Port } from '../../src/io/port.js';
import type { OpsTarget, StatsLike } from '../../src/ops/target.js';
import { formatMac, parseMac } from '../../src/util/addr.js';

const mac = (m: number | string): string => formatMac(typeof m === 'string' ? parseMac(m) : m);
const notFound = (what: string, name: string): VtepError => new VtepError('ERR_NOT_FOUND', `${what}: ${JSON.stringify(name)} does not exist`);

export class FakeDataplane extends EventEmitter implements OpsTarget {
  readonly calls: string[] = [];
  readonly bridges = new Map<string, BridgeInfo>();
  readonly vrfs = new Map<string, VrfInfo>();
  readonly ports = new Map<string, PortInfo & { port: Port | undefined }>();
  readonly fdb = new Map<string, FdbEntryInfo>();
  readonly arp = new Map<string, NeighborInfo>();
  readonly routeTable = new Map<string, RouteInfo>();
  readonly captures = new Set<{ port: string; dir: CaptureDirection; fn: CaptureFn }>();
  traces: PacketTrace[] = [];
  nodes: StatsLike['nodes'] | undefined;
  private nextId = 1;

  private log(s: string): void {
    this.calls.push(s);
  }

  addBridge(o: BridgeOptions): string {
    const encap = o.encap ?? 'vxlan';
    const id = o.vni ?? o.key ?? o.label ?? 0;
    const name = o.name ?? `${encap}-${id}`;
    if (this.bridges.has(name)) throw new VtepError('ERR_EXISTS', `bridge: ${name} exists`);
    this.log(`addBridge ${name}`);
    this.bridges.set(name, { name, encap, id, ports: [], flood: [...(o.flood ?? [])], arpSuppress: o.arpSuppress ?? true, learn: o.learn ?? true, macLimit: o.macLimit });
    return name;
  }
  removeBridge(bridge: string): void {
    this.log(`removeBridge ${bridge}`);
    if (!this.bridges.delete(bridge)) throw notFound('bridge', bridge);
  }
  addVrf(o: VrfOptions): string {
    this.log(`addVrf ${o.name}`);
    if (this.vrfs.has(o.name)) throw new VtepError('ERR_EXISTS', `vrf: ${o.name} exists`);
    this.vrfs.set(o.name, { name: o.name, label: o.label, vni: o.vni, ports: [] });
    return o.name;
  }
  removeVrf(vrf: string): void {
    this.log(`removeVrf ${vrf}`);
    if (!this.vrfs.delete(vrf)) throw notFound('vrf', vrf);
    for (const k of [...this.routeTable.keys()]) if (k.startsWith(`${vrf} `)) this.routeTable.delete(k);
  }
  addBridgePort(bridge: string, port: Port, _owned?: boolean): number {
    const b = this.bridges.get(bridge);
    if (b === undefined) throw notFound('bridge', bridge);
    const name = port.name;
    this.log(`addBridgePort ${bridge} ${name}`);
    b.ports.push(name);
    const id = this.nextId++;
    this.ports.set(name, { name, id, kind: port.kind, role: 'bridge', owner: bridge, linkUp: true, rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: 0, port });
    return id;
  }
  addVrfPort(vrf: string, port: Port, o: VrfPortOptions, _owned?: boolean): number {
    const v = this.vrfs.get(vrf);
    if (v === undefined) throw notFound('vrf', vrf);
    const name = port.name;
    this.log(`addVrfPort ${vrf} ${name} ${o.gateway ?? ''}`);
    const id = this.nextId++;
    v.ports.push({ name, routerMac: '02:76:74:00:00:01', ...(o.gateway === undefined ? {} : { gateway: o.gateway }) });
    this.ports.set(name, { name, id, kind: port.kind, role: 'router', owner: vrf, linkUp: true, rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: 0, port });
    return id;
  }
  /** A port without a Port object (underlay sockets in tests). */
  fakePort(name: string, role: PortInfo['role'], owner?: string): void {
    this.ports.set(name, { name, id: this.nextId++, kind: role === 'underlay' ? 'udp' : 'tap', role, ...(owner === undefined ? {} : { owner }), linkUp: true, rxPackets: 10, rxBytes: 1000, txPackets: 20, txBytes: 2000, drops: 1, port: undefined });
  }
  removePort(port: number | string): void {
    this.log(`removePort ${port}`);
    const p = this.ports.get(String(port));
    if (p === undefined) throw notFound('port', String(port));
    this.ports.delete(String(port));
    p.port?.close();
    const b = p.owner === undefined ? undefined : this.bridges.get(p.owner);
    if (b !== undefined) b.ports = b.ports.filter((x) => x !== p.name);
    const v = p.owner === undefined ? undefined : this.vrfs.get(p.owner);
    if (v !== undefined) v.ports = v.ports.filter((x) => x.name !== p.name);
  }
  addFdb(bridge: string, m: number | string, to: { remote: string } | { port: number | string }): void {
    if (!this.bridges.has(bridge)) throw notFound('bridge', bridge);
    this.log(`addFdb ${bridge} ${mac(m)}`);
    this.fdb.set(`${bridge} ${mac(m)}`, { bridge, mac: mac(m), static: true, ...('remote' in to ? { remote: to.remote } : { port: String(to.port) }) });
  }
  removeFdb(bridge: string, m: number | string): boolean {
    this.log(`removeFdb ${bridge} ${mac(m)}`);
    return this.fdb.delete(`${bridge} ${mac(m)}`);
  }
  addFlood(bridge: string, remote: string): void {
    const b = this.bridges.get(bridge);
    if (b === undefined) throw notFound('bridge', bridge);
    this.log(`addFlood ${bridge} ${remote}`);
    if (!b.flood.includes(remote)) b.flood.push(remote);
  }
  removeFlood(bridge: string, remote: string): boolean {
    this.log(`removeFlood ${bridge} ${remote}`);
    const b = this.bridges.get(bridge);
    if (b === undefined || !b.flood.includes(remote)) return false;
    b.flood = b.flood.filter((r) => r !== remote);
    return true;
  }
  addArp(bridge: string, ip: string, m: number | string): void {
    if (!this.bridges.has(bridge)) throw notFound('bridge', bridge);
    this.log(`addArp ${bridge} ${ip}`);
    this.arp.set(`${bridge} ${ip}`, { owner: bridge, ip, mac: mac(m) });
  }
  removeArp(bridge: string, ip: string): boolean {
    this.log(`removeArp ${bridge} ${ip}`);
    return this.arp.delete(`${bridge} ${ip}`);
  }
  addRoute(vrf: string, prefix: string, nexthops: RouteNextHop[]): void {
    if (!this.vrfs.has(vrf)) throw notFound('vrf', vrf);
    this.log(`addRoute ${vrf} ${prefix}`);
    this.routeTable.set(`${vrf} ${prefix}`, { vrf, prefix, nexthops });
  }
  deleteRoute(vrf: string, prefix: string): boolean {
    this.log(`deleteRoute ${vrf} ${prefix}`);
    return this.routeTable.delete(`${vrf} ${prefix}`);
  }

  listPorts(): PortInfo[] {
    return [...this.ports.values()].map(({ port: _p, ...info }) => info);
  }
  listBridges(): BridgeInfo[] {
    return [...this.bridges.values()];
  }
  listVrfs(): VrfInfo[] {
    return [...this.vrfs.values()];
  }
  fdbEntries(bridge?: string): FdbEntryInfo[] {
    return [...this.fdb.values()].filter((e) => bridge === undefined || e.bridge === bridge);
  }
  arpEntries(bridge?: string): NeighborInfo[] {
    return [...this.arp.values()].filter((e) => bridge === undefined || e.owner === bridge);
  }
  neighbors(_vrf?: string): NeighborInfo[] {
    return [];
  }
  routes(vrf?: string): RouteInfo[] {
    return [...this.routeTable.values()].filter((r) => vrf === undefined || r.vrf === vrf);
  }

  trace(n: number): Promise<PacketTrace[]> {
    return Promise.resolve(this.traces.slice(0, n));
  }
  capture(port: number | string, direction: CaptureDirection, fn: CaptureFn): () => void {
    if (!this.ports.has(String(port))) throw notFound('port', String(port));
    const c = { port: String(port), dir: direction, fn };
    this.captures.add(c);
    return () => {
      this.captures.delete(c);
    };
  }
  /** Feeds a frame to the captures of a port, as the dataplane would. */
  feed(port: string, dir: 'rx' | 'tx', frame: Uint8Array): void {
    for (const c of this.captures) if (c.port === port && (c.dir === 'both' || c.dir === dir)) c.fn(dir, frame, 0, frame.length);
  }

  stats(): StatsLike {
    const ports: StatsLike['ports'] = {};
    for (const p of this.ports.values()) ports[p.name] = { kind: p.kind, role: p.role, rxPackets: p.rxPackets, rxBytes: p.rxBytes, txPackets: p.txPackets, txBytes: p.txBytes, drops: p.drops };
    const s: StatsLike = {
      ports,
      tunnels: { 'vxlan 198.18.0.2': { txPackets: 5, txBytes: 500, rxPackets: 6, rxBytes: 600 } },
      drops: { 'no-route': 3, 'bad-checksum': 0 },
      fdb: { entries: this.fdb.size, learned: 4, moved: 0, aged: 1, limit: 0 },
      arp: { suppressed: 2, gatewayReplies: 1, requestsSent: 0 },
      pool: { slots: 16384, free: 16000 },
    };
    if (this.nodes !== undefined) s.nodes = this.nodes;
    return s;
  }

  override on<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this {
    return super.on(event, listener as (...a: unknown[]) => void);
  }
  override off<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this {
    return super.off(event, listener as (...a: unknown[]) => void);
  }
}
