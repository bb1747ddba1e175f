/**
 * The store's content (a mirror of every valid record under the prefix) and
 * what it means for this host's dataplane: flood lists, remote MACs, ARP/ND
 * suppression entries and VRF routes. Changes are applied incrementally: a
 * record that changes marks what it touches dirty, and flush() recomputes only
 * that and calls the dataplane for the difference. reconcile() recomputes
 * everything and compares it with what the dataplane actually holds.
 *
 * Ownership: entries that existed before the control layer started (static
 * config) are never removed or replaced by it; entries it programmed are
 * tracked, so that it removes exactly those.
 */
import type { DataplaneApi, RouteNextHop } from '../dataplane/api.js';
import { bridgeKey, isHostPrefix, type HostRecord, type MacRecord, type Parsed, type RouteRecord } from './model.js';

interface Versioned<T> {
  rec: T;
  rev: number;
}

interface RemoteMac {
  remote: string;
  ips: string[];
}

export interface ReconcileReport {
  /** Entries compared (FDB, flood, ARP, routes). */
  checked: number;
  /** Differences found, e.g. "fdb vxlan-42 02:..:01 missing"; each was then fixed. */
  diffs: string[];
}

const sep = '\u0000';

export class Programmer {
  // The mirror: valid records by host, with the mod revision they were written at.
  private readonly hosts = new Map<string, Versioned<HostRecord> & { bks: Set<string> }>();
  /** bridge key -> MAC -> host -> record. */
  private readonly macs = new Map<string, Map<string, Map<string, Versioned<MacRecord>>>>();
  /** vrf -> prefix -> host -> record. */
  private readonly routeRecs = new Map<string, Map<string, Map<string, Versioned<RouteRecord>>>>();
  /** What each host has in the mirror (to drop or redo it with its host record). */
  private readonly hostKeys = new Map<string, Set<string>>();

  // The local dataplane: bridge key -> local bridge name, VRF names, foreign (configured) entries.
  private localBridges = new Map<string, string>();
  private localVrfs = new Set<string>();
  private readonly foreignFlood = new Set<string>();
  private readonly foreignFdb = new Set<string>();
  private readonly foreignRoutes = new Set<string>();

  // What this layer programmed.
  private readonly progMacs = new Map<string, RemoteMac>(); // bk\0mac
  private readonly progFlood = new Map<string, Set<string>>(); // bk -> remotes
  private readonly progRoutes = new Map<string, string>(); // vrf\0prefix -> JSON of next hops

  private readonly dirtyMacs = new Set<string>();
  private readonly dirtyRoutes = new Set<string>();
  private readonly dirtyFlood = new Set<string>();

  /** Dataplane calls that threw (logged, not fatal: the next reconcile retries). */
  errors = 0;

  constructor(
    private readonly dp: DataplaneApi,
    private readonly self: string,
    private readonly log: (msg: string) => void = () => undefined,
    /** A MAC this host published is newer at another host: it moved away. */
    private readonly movedAway: (bk: string, mac: string) => void = () => undefined,
    /** The MAC is on a local port now (the dataplane replaced our remote entry when it learned it). */
    private readonly isLocal: (bk: string, mac: string) => boolean = () => false,
  ) {
    this.scanLocal(true);
  }

  /** Re-reads the local bridges and VRFs (and, the first time, which entries the config owns). */
  scanLocal(first = false): void {
    this.localBridges = new Map();
    for (const b of this.dp.listBridges()) {
      const bk = bridgeKey(b.encap, b.id);
      this.localBridges.set(bk, b.name);
      if (first) for (const r of b.flood) this.foreignFlood.add(bk + sep + r);
    }
    if (first) for (const e of this.dp.fdbEntries()) if (e.static) this.foreignFdb.add(e.bridge + sep + e.mac);
    this.localVrfs = new Set(this.dp.listVrfs().map((v) => v.name));
    if (first) for (const r of this.dp.routes()) this.foreignRoutes.add(r.vrf + sep + r.prefix);
  }

  get size(): { hosts: number; macs: number; routes: number } {
    let macs = 0;
    for (const m of this.macs.values()) for (const h of m.values()) macs += h.size;
    let routes = 0;
    for (const m of this.routeRecs.values()) for (const h of m.values()) routes += h.size;
    return { hosts: this.hosts.size, macs, routes };
  }

  private idOf(p: { kind: string; host: string } & Partial<{ bridge: string; mac: string; vrf: string; prefix: string }>): string {
    if (p.kind === 'host') return 'h';
    if (p.kind === 'mac') return `m${sep}${p.bridge}${sep}${p.mac}`;
    return `r${sep}${p.vrf}${sep}${p.prefix}`;
  }

  /** A record was written (or read in a resync). */
  put(p: Parsed, rev: number): void {
    let keys = this.hostKeys.get(p.host);
    if (keys === undefined) this.hostKeys.set(p.host, (keys = new Set()));
    keys.add(this.idOf(p));
    if (p.kind === 'host') {
      const old = this.hosts.get(p.host);
      this.hosts.set(p.host, { rec: p.rec, rev, bks: new Set(p.rec.bridges.map((b) => bridgeKey(b.encap, b.id))) });
      if (old === undefined || JSON.stringify(old.rec) !== JSON.stringify(p.rec)) this.hostChanged(p.host);
    } else if (p.kind === 'mac') {
      nested(this.macs, p.bridge, p.mac).set(p.host, { rec: p.rec, rev });
      this.dirtyMacs.add(p.bridge + sep + p.mac);
    } else {
      nested(this.routeRecs, p.vrf, p.prefix).set(p.host, { rec: p.rec, rev });
      this.dirtyRoutes.add(p.vrf + sep + p.prefix);
    }
  }

  /** A key was deleted (or found gone in a resync); `id` as given by ids(). */
  delete(host: string, id: string): void {
    this.hostKeys.get(host)?.delete(id);
    const [kind, a, b] = id.split(sep) as [string, string, string];
    if (kind === 'h') {
      if (this.hosts.delete(host)) this.hostChanged(host);
    } else if (kind === 'm') {
      const m = this.macs.get(a)?.get(b);
      if (m?.delete(host) === true) {
        if (m.size === 0) this.macs.get(a)!.delete(b);
        this.dirtyMacs.add(a + sep + b);
      }
    } else {
      const r = this.routeRecs.get(a)?.get(b);
      if (r?.delete(host) === true) {
        if (r.size === 0) this.routeRecs.get(a)!.delete(b);
        this.dirtyRoutes.add(a + sep + b);
      }
    }
  }

  /** The internal ids of one host's records in the mirror (for a resync's "gone" pass). */
  ids(host: string): string[] {
    return [...(this.hostKeys.get(host) ?? [])];
  }
  hostNames(): string[] {
    return [...this.hostKeys.keys()];
  }
  idFor(p: Parsed): string {
    return this.idOf(p);
  }

  private hostChanged(host: string): void {
    for (const id of this.hostKeys.get(host) ?? []) {
      const [kind, a, b] = id.split(sep) as [string, string, string];
      if (kind === 'm') this.dirtyMacs.add(a + sep + b);
      else if (kind === 'r') this.dirtyRoutes.add(a + sep + b);
    }
    for (const bk of this.localBridges.keys()) this.dirtyFlood.add(bk);
  }

  /** Host record of `host` when it serves bridge `bk`. */
  private serving(host: string, bk: string): HostRecord | undefined {
    const h = this.hosts.get(host);
    return h !== undefined && h.bks.has(bk) ? h.rec : undefined;
  }

  // Desired state, one item at a time.

  private desiredMac(bk: string, mac: string): RemoteMac | undefined {
    if (!this.localBridges.has(bk)) return undefined;
    let best: { host: string; v: Versioned<MacRecord> } | undefined;
    for (const [host, v] of this.macs.get(bk)?.get(mac) ?? []) {
      if (host !== this.self && this.serving(host, bk) === undefined) continue;
      if (best === undefined || v.rev > best.v.rev) best = { host, v };
    }
    // The latest writer has it; when that is this host, the MAC is local.
    if (best === undefined || best.host === this.self) return undefined;
    return { remote: this.hosts.get(best.host)!.rec.underlay, ips: best.v.rec.ips };
  }

  private desiredFlood(bk: string): Set<string> {
    const out = new Set<string>();
    if (!this.localBridges.has(bk)) return out;
    for (const host of this.hosts.keys()) {
      if (host === this.self) continue;
      const h = this.serving(host, bk);
      if (h !== undefined && !this.foreignFlood.has(bk + sep + h.underlay)) out.add(h.underlay);
    }
    return out;
  }

  private desiredRoute(vrf: string, prefix: string): RouteNextHop[] | undefined {
    if (!this.localVrfs.has(vrf) || this.foreignRoutes.has(vrf + sep + prefix)) return undefined;
    const cands: { host: string; v: Versioned<RouteRecord> }[] = [];
    for (const [host, v] of this.routeRecs.get(vrf)?.get(prefix) ?? []) {
      if (host === this.self || this.hosts.get(host)?.rec.vrfs.some((x) => x.name === vrf) === true) cands.push({ host, v });
    }
    if (cands.length === 0) return undefined;
    let chosen = cands;
    if (isHostPrefix(prefix)) {
      chosen = [cands.reduce((a, b) => (b.v.rev > a.v.rev ? b : a))];
    }
    // This host announces it too: it delivers locally.
    if (chosen.some((c) => c.host === this.self)) return undefined;
    return chosen
      .map(({ host, v }): RouteNextHop => {
        const nh: RouteNextHop = { remote: this.hosts.get(host)!.rec.underlay, encap: v.rec.encap };
        if (v.rec.encap === 'vxlan') Object.assign(nh, { vni: v.rec.id, mac: v.rec.mac });
        else if (v.rec.encap === 'gre') Object.assign(nh, { key: v.rec.id });
        else Object.assign(nh, { label: v.rec.id });
        return nh;
      })
      .sort((a, b) => ((a as { remote: string }).remote < (b as { remote: string }).remote ? -1 : 1));
  }

  // Applying.

  private call(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.failed(what, err);
    }
  }

  private failed(what: string, err: unknown): void {
    this.errors++;
    this.log(`control: ${what.replaceAll(sep, ' ')}: ${(err as Error).message}`);
  }

  private applyMac(id: string): void {
    const [bk, mac] = id.split(sep) as [string, string];
    const bridge = this.localBridges.get(bk);
    const want = this.desiredMac(bk, mac);
    const have = this.progMacs.get(id);
    if (bridge === undefined || this.foreignFdb.has(bridge + sep + mac)) {
      if (have !== undefined) this.progMacs.delete(id);
      return;
    }
    if (want === undefined) {
      if (have === undefined) return;
      this.progMacs.delete(id);
      // Moved here: the entry is the dataplane's own now, and its addresses still hold.
      if (this.isLocal(bk, mac)) return;
      this.dp.removeFdb(bridge, mac);
      for (const ip of have.ips) this.dp.removeArp(bridge, ip);
      return;
    }
    if (this.macs.get(bk)?.get(mac)?.has(this.self) === true) this.movedAway(bk, mac);
    if (have === undefined) {
      this.dp.addFdb(bridge, mac, { remote: want.remote, learnable: true });
      for (const ip of want.ips) this.dp.addArp(bridge, ip, mac);
      this.progMacs.set(id, want);
      return;
    }
    if (have.remote !== want.remote) this.dp.addFdb(bridge, mac, { remote: want.remote, learnable: true });
    const old = new Set(have.ips);
    for (const ip of want.ips) if (!old.has(ip)) this.dp.addArp(bridge, ip, mac);
    const keep = new Set(want.ips);
    for (const ip of old) if (!keep.has(ip)) this.dp.removeArp(bridge, ip);
    this.progMacs.set(id, want);
  }

  private applyFlood(bk: string): void {
    const bridge = this.localBridges.get(bk);
    if (bridge === undefined) return;
    const want = this.desiredFlood(bk);
    const have = this.progFlood.get(bk) ?? new Set<string>();
    for (const r of want) if (!have.has(r)) this.dp.addFlood(bridge, r);
    for (const r of have) if (!want.has(r)) this.dp.removeFlood(bridge, r);
    this.progFlood.set(bk, want);
  }

  private applyRoute(id: string): void {
    const [vrf, prefix] = id.split(sep) as [string, string];
    const want = this.desiredRoute(vrf, prefix);
    const have = this.progRoutes.get(id);
    if (want === undefined) {
      if (have === undefined) return;
      this.progRoutes.delete(id);
      if (this.localVrfs.has(vrf)) this.dp.deleteRoute(vrf, prefix);
      return;
    }
    const text = JSON.stringify(want);
    if (text === have) return;
    this.dp.addRoute(vrf, prefix, want);
    this.progRoutes.set(id, text);
  }

  /** Programs what changed since the last flush; returns how many items were looked at. */
  flush(): number {
    const n = this.dirtyMacs.size + this.dirtyFlood.size + this.dirtyRoutes.size;
    // One failed dataplane call loses that item only (the bookkeeping is updated
    // after the calls, so the next reconcile() retries it).
    for (const id of this.dirtyMacs) {
      try {
        this.applyMac(id);
      } catch (err) {
        this.failed(`mac ${id}`, err);
      }
    }
    for (const bk of this.dirtyFlood) {
      try {
        this.applyFlood(bk);
      } catch (err) {
        this.failed(`flood ${bk}`, err);
      }
    }
    for (const id of this.dirtyRoutes) {
      try {
        this.applyRoute(id);
      } catch (err) {
        this.failed(`route ${id}`, err);
      }
    }
    this.dirtyMacs.clear();
    this.dirtyFlood.clear();
    this.dirtyRoutes.clear();
    return n;
  }

  /** Removes everything this layer programmed (a start that failed half way leaves nothing behind). */
  withdrawAll(): void {
    for (const [id, have] of this.progMacs) {
      const [bk, mac] = id.split(sep) as [string, string];
      const bridge = this.localBridges.get(bk);
      if (bridge === undefined) continue;
      this.call(`remove ${bk} ${mac}`, () => this.dp.removeFdb(bridge, mac));
      for (const ip of have.ips) this.call(`remove arp ${ip}`, () => this.dp.removeArp(bridge, ip));
    }
    for (const [bk, remotes] of this.progFlood) {
      const bridge = this.localBridges.get(bk);
      if (bridge !== undefined) for (const r of remotes) this.call(`remove flood ${r}`, () => this.dp.removeFlood(bridge, r));
    }
    for (const id of this.progRoutes.keys()) {
      const [vrf, prefix] = id.split(sep) as [string, string];
      this.call(`remove route ${prefix}`, () => this.dp.deleteRoute(vrf, prefix));
    }
    this.progMacs.clear();
    this.progFlood.clear();
    this.progRoutes.clear();
  }

  /**
   * Recomputes the whole desired state from the mirror and compares it with
   * the dataplane's own tables (not with this layer's bookkeeping): every
   * difference is reported and fixed. An empty `diffs` proves the programmed
   * state equals the store's content.
   */
  reconcile(): ReconcileReport {
    this.scanLocal();
    const diffs: string[] = [];
    let checked = 0;
    const fdb = new Map<string, string>(); // bridge\0mac -> remote
    for (const e of this.dp.fdbEntries()) if (e.static && e.remote !== undefined) fdb.set(e.bridge + sep + e.mac, e.remote);
    const arp = new Map<string, string>(); // bridge\0ip -> mac
    for (const e of this.dp.arpEntries()) arp.set(e.owner + sep + e.ip, e.mac);
    const flood = new Map(this.dp.listBridges().map((b) => [b.name, new Set(b.flood)]));
    const routes = new Map<string, string>();
    for (const r of this.dp.routes()) routes.set(r.vrf + sep + r.prefix, nhText(r.nexthops));

    const wantMacs = new Set<string>();
    for (const [bk, byMac] of this.macs) {
      const bridge = this.localBridges.get(bk);
      if (bridge === undefined) continue;
      for (const mac of byMac.keys()) {
        const id = bk + sep + mac;
        if (this.foreignFdb.has(bridge + sep + mac)) continue;
        const want = this.desiredMac(bk, mac);
        if (want === undefined) continue;
        wantMacs.add(id);
        checked++;
        const bad = fdb.get(bridge + sep + mac) !== want.remote || want.ips.some((ip) => arp.get(bridge + sep + ip) !== mac);
        if (bad) {
          diffs.push(`fdb ${bk} ${mac} -> ${want.remote}: ${fdb.has(bridge + sep + mac) ? 'differs' : 'missing'}`);
          this.progMacs.delete(id);
          this.dirtyMacs.add(id);
        }
      }
    }
    for (const [id, have] of this.progMacs) {
      if (wantMacs.has(id)) continue;
      diffs.push(`fdb ${id.replace(sep, ' ')} -> ${have.remote}: not in the store`);
      this.dirtyMacs.add(id);
    }
    // Static remote entries nobody configured and the store does not hold.
    for (const [key, remote] of fdb) {
      const [bridge, mac] = key.split(sep) as [string, string];
      if (this.foreignFdb.has(key)) continue;
      const bk = [...this.localBridges].find(([, n]) => n === bridge)?.[0];
      if (bk === undefined || wantMacs.has(bk + sep + mac) || this.progMacs.has(bk + sep + mac)) continue;
      diffs.push(`fdb ${bridge} ${mac} -> ${remote}: stray`);
      this.call(`remove stray ${bridge} ${mac}`, () => this.dp.removeFdb(bridge, mac));
    }
    for (const [bk, bridge] of this.localBridges) {
      const want = this.desiredFlood(bk);
      const have = new Set([...(flood.get(bridge) ?? [])].filter((r) => !this.foreignFlood.has(bk + sep + r)));
      checked += want.size;
      const same = want.size === have.size && [...want].every((r) => have.has(r));
      if (!same) {
        diffs.push(`flood ${bk}: [${[...have].sort().join(', ')}] should be [${[...want].sort().join(', ')}]`);
        this.progFlood.set(bk, have);
        this.dirtyFlood.add(bk);
      }
    }
    const wantRoutes = new Set<string>();
    for (const [vrf, byPrefix] of this.routeRecs) {
      for (const prefix of byPrefix.keys()) {
        const want = this.desiredRoute(vrf, prefix);
        if (want === undefined) continue;
        const id = vrf + sep + prefix;
        wantRoutes.add(id);
        checked++;
        if (routes.get(id) !== nhText(want)) {
          diffs.push(`route ${vrf} ${prefix}: ${routes.has(id) ? 'differs' : 'missing'}`);
          this.progRoutes.delete(id);
          this.dirtyRoutes.add(id);
        }
      }
    }
    for (const id of this.progRoutes.keys()) {
      if (wantRoutes.has(id)) continue;
      diffs.push(`route ${id.replace(sep, ' ')}: not in the store`);
      this.dirtyRoutes.add(id);
    }
    this.flush();
    return { checked, diffs };
  }
}

/** Next hops compared by what they mean (the dataplane may spell them differently). */
function nhText(nhs: RouteNextHop[]): string {
  return nhs
    .map((n) => ('remote' in n ? `${n.remote}|${n.encap}|${n.vni ?? n.key ?? n.label}` : `port ${n.port}`))
    .sort()
    .join(',');
}

function nested<V>(m: Map<string, Map<string, Map<string, V>>>, a: string, b: string): Map<string, V> {
  let x = m.get(a);
  if (x === undefined) m.set(a, (x = new Map()));
  let y = x.get(b);
  if (y === undefined) x.set(b, (y = new Map()));
  return y;
}
