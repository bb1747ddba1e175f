/**
 * What this host publishes: its host record, the MACs behind its local ports
 * (static config, learning) with the addresses known for them (static ARP
 * entries, ARP/ND snooping), and its VRFs' prefixes (the gateway subnets and
 * the hosts snooped behind them). Kept from the dataplane's events; every
 * change is handed to `sink` as a key and a value (null = delete), and
 * records() gives the whole set again when the lease was lost.
 */
import type { DataplaneApi, DataplaneEvents } from '../dataplane/api.js';
import { parseCidr, formatIp } from '../util/addr.js';
import { bridgeKey, canonicalIp, canonicalPrefix, Keys, type HostRecord, type RouteRecord } from './model.js';

export type Sink = (key: string, value: string | null) => void;

/** The network of an interface address ("10.1.0.1/24" -> "10.1.0.0/24"). */
export function networkOf(cidr: string): string | undefined {
  try {
    const c = parseCidr(cidr, 'gateway', true);
    const words = Uint32Array.from(c.words);
    for (let i = 0; i < words.length; i++) {
      const keep = Math.max(0, Math.min(32, c.length - 32 * i));
      words[i] = keep === 0 ? 0 : (words[i]! & ((0xffffffff << (32 - keep)) >>> 0)) >>> 0;
    }
    return canonicalPrefix(`${formatIp({ family: c.family, words })}/${c.length}`);
  } catch {
    return undefined;
  }
}

export class LocalState {
  /** bridge name -> bridge key, for the bridges this host serves. */
  private bridges = new Map<string, string>();
  /** VRF name -> the route record others use to reach this host in it. */
  private vrfRoutes = new Map<string, RouteRecord>();
  private vrfNames = new Set<string>();
  /** bridge key -> local MAC -> its addresses. */
  private readonly macs = new Map<string, Map<string, Set<string>>>();
  /** bridge key -> IP -> MAC, from snooping and static entries (also for MACs not yet local). */
  private readonly ipToMac = new Map<string, Map<string, string>>();
  private readonly records = new Map<string, string>();
  private readonly listeners: [keyof DataplaneEvents, (...a: never[]) => void][] = [];

  constructor(
    private readonly dp: DataplaneApi,
    private readonly root: string,
    private readonly host: string,
    private readonly underlay: string,
    private readonly sink: Sink,
  ) {}

  /** Reads the dataplane's current state and starts following its events. */
  start(): void {
    this.scan();
    for (const e of this.dp.fdbEntries()) if (e.port !== undefined) this.macUp(e.bridge, e.mac);
    for (const n of this.dp.arpEntries()) this.neighbor(n.owner, n.ip, n.mac);
    for (const n of this.dp.neighbors()) this.neighbor(n.owner, n.ip, n.mac);
    this.listen('learned', (e) => {
      if ('port' in e) this.macUp(e.bridge, e.mac);
    });
    this.listen('moved', (e) => {
      if ('port' in e) this.macUp(e.bridge, e.mac);
      else this.macDown(e.bridge, e.mac);
    });
    this.listen('aged', (e) => {
      if ('port' in e) this.macDown(e.bridge, e.mac);
    });
    this.listen('neighbor', (n) => this.neighbor(n.owner, n.ip, n.mac));
  }

  stop(): void {
    for (const [ev, fn] of this.listeners) this.dp.off(ev, fn as never);
    this.listeners.length = 0;
  }

  private listen<K extends keyof DataplaneEvents>(ev: K, fn: (...a: DataplaneEvents[K]) => void): void {
    this.dp.on(ev, fn);
    this.listeners.push([ev, fn as unknown as (...a: never[]) => void]);
  }

  /** Every key this host should have in the store, with its value. */
  all(): Map<string, string> {
    return new Map(this.records);
  }

  /** The host record and VRF prefixes, from the dataplane's bridges and VRFs. */
  scan(): void {
    this.bridges = new Map();
    const rec: HostRecord = { underlay: this.underlay, bridges: [], vrfs: [] };
    for (const b of this.dp.listBridges()) {
      this.bridges.set(b.name, bridgeKey(b.encap, b.id));
      rec.bridges.push({ encap: b.encap, id: b.id });
    }
    const oldRoutes = this.vrfRoutes;
    this.vrfRoutes = new Map();
    this.vrfNames = new Set();
    for (const v of this.dp.listVrfs()) {
      this.vrfNames.add(v.name);
      const routerMac = v.ports[0]?.routerMac;
      const hv: HostRecord['vrfs'][number] = { name: v.name };
      if (v.label !== undefined) hv.label = v.label;
      if (v.vni !== undefined && routerMac !== undefined) Object.assign(hv, { vni: v.vni, routerMac });
      rec.vrfs.push(hv);
      // How the others reach this host in the VRF: its MPLS label, else its VNI.
      const r: RouteRecord | undefined = hv.label !== undefined ? { encap: 'mplsoudp', id: hv.label } : hv.vni !== undefined ? { encap: 'vxlan', id: hv.vni, mac: hv.routerMac! } : undefined;
      if (r === undefined) continue;
      this.vrfRoutes.set(v.name, r);
      for (const p of v.ports) {
        for (const g of [p.gateway, p.gateway6]) {
          const net = g === undefined ? undefined : networkOf(g);
          if (net !== undefined) this.set(Keys.route(this.root, this.host, v.name, net), JSON.stringify(r));
        }
      }
    }
    for (const name of oldRoutes.keys()) if (!this.vrfRoutes.has(name)) this.dropVrf(name);
    this.set(Keys.host(this.root, this.host), JSON.stringify(rec));
  }

  private dropVrf(name: string): void {
    const dir = `${this.root}hosts/${this.host}/routes/${name}/`;
    for (const k of [...this.records.keys()]) if (k.startsWith(dir)) this.set(k, null);
  }

  private set(key: string, value: string | null): void {
    if (value === null) {
      if (!this.records.delete(key)) return;
    } else {
      if (this.records.get(key) === value) return;
      this.records.set(key, value);
    }
    this.sink(key, value);
  }

  private bk(bridge: string): string | undefined {
    let bk = this.bridges.get(bridge);
    if (bk === undefined) {
      this.scan();
      bk = this.bridges.get(bridge);
    }
    return bk;
  }

  private macValue(ips: Set<string>): string {
    return JSON.stringify({ ips: [...ips].sort() });
  }

  private macUp(bridge: string, mac: string): void {
    const bk = this.bk(bridge);
    if (bk === undefined) return;
    let m = this.macs.get(bk);
    if (m === undefined) this.macs.set(bk, (m = new Map()));
    if (m.has(mac)) return;
    const ips = new Set<string>();
    for (const [ip, owner] of this.ipToMac.get(bk) ?? []) if (owner === mac) ips.add(ip);
    m.set(mac, ips);
    this.set(Keys.mac(this.root, this.host, bk, mac), this.macValue(ips));
  }

  private macDown(bridge: string, mac: string): void {
    const bk = this.bk(bridge);
    if (bk === undefined || this.macs.get(bk)?.delete(mac) !== true) return;
    this.set(Keys.mac(this.root, this.host, bk, mac), null);
  }

  hasMac(bk: string, mac: string): boolean {
    return this.macs.get(bk)?.has(mac) === true;
  }

  /** The dataplane gave up a MAC because another host has it now. */
  withdrawMac(bk: string, mac: string): void {
    if (this.macs.get(bk)?.delete(mac) === true) this.set(Keys.mac(this.root, this.host, bk, mac), null);
  }

  private neighbor(owner: string, ipText: string, mac: string): void {
    const ip = canonicalIp(ipText);
    if (ip === undefined) return;
    const route = this.vrfRoutes.get(owner);
    if (route !== undefined) {
      // A host behind one of this VRF's ports: announce its host route.
      this.set(Keys.route(this.root, this.host, owner, `${ip}/${ip.includes(':') ? 128 : 32}`), JSON.stringify(route));
      return;
    }
    if (this.vrfNames.has(owner)) return; // a VRF others cannot reach (no label, no VNI)
    const bk = this.bridges.get(owner) ?? this.bk(owner);
    if (bk === undefined) return;
    let map = this.ipToMac.get(bk);
    if (map === undefined) this.ipToMac.set(bk, (map = new Map()));
    const old = map.get(ip);
    if (old === mac) return;
    map.set(ip, mac);
    const macs = this.macs.get(bk);
    if (old !== undefined) {
      const prev = macs?.get(old);
      if (prev?.delete(ip) === true) this.set(Keys.mac(this.root, this.host, bk, old), this.macValue(prev));
    }
    const cur = macs?.get(mac);
    if (cur !== undefined && !cur.has(ip)) {
      cur.add(ip);
      this.set(Keys.mac(this.root, this.host, bk, mac), this.macValue(cur));
    }
  }
}
