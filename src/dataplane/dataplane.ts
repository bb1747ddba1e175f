/**
 * The dataplane facade: the control API (bridges, VRFs, ports, FDB, ARP,
 * routes, each add with its remove), stats(), trace(), capture() and decoded
 * events. The packet path is the stage graph (stage.ts, stages/*.ts, drawn in
 * docs/dataplane.md); this file only wires it:
 *
 *   bridge/router port rx -> port-input -> l2-fwd (learns) -> l2-flood     l2-fwd <-> arp-term
 *                                       \-> ip-gateway -> ip-route -> ip-rewrite -> neigh-hold
 *   underlay port rx -> underlay-input -> l2-fwd | ip-route     ip-route -> icmp-error -> ip-route
 *   l2-fwd, l2-flood, ip-rewrite -> tunnel-encap;  every stage -> tx (one write per port per batch)
 *
 * Frames stay in their pool slot from receive to transmit. Opening TAPs and
 * sockets from a config is fromconfig.ts's business, not this file's.
 */
import { VtepError, invalidArg, checkInt, describe } from '../errors.js';
import { PacketPool, type PoolOptions } from '../packet/pool.js';
import { Batch } from '../packet/batch.js';
import { reasonCountsObject } from '../packet/reasons.js';
import { Eth } from '../wire/ethernet.js';
import { parseIp, formatMac, type IpAddr } from '../util/addr.js';
import { PROTO_NAMES } from '../tunnel/protos.js';
import { Decapsulator } from '../tunnel/decap.js';
import { Fdb } from '../table/fdb.js';
import { Remotes } from '../table/remotes.js';
import { NextHops } from '../table/nexthop.js';
import { Vrfs } from '../table/vrf.js';
import { FdPort, type Port, type PortStats } from '../io/port.js';
import { native } from '../io/native.js';
import type { CaptureDirection, CaptureFn, DataplaneApi, DataplaneEvents, PacketTrace } from './api.js';
import { Runtime, PortRole, ROLE_NAMES, UnderlayDepth, MAX_PORTS, PortCtr, portCounters, type PortEntry } from './runtime.js';
import { Graph, type StageStats } from './stage.js';
import { TunnelTable } from './tunnels.js';
import { TenantMap } from './tenants.js';
import { HeldQueue, type HeldLimits } from './held.js';
import { ControlState, macArg } from './control.js';
import { underlayState, underlayPortOf, type UnderlayOptions } from './underlay.js';
import { BusyPoll, type BusyPollStats } from './busypoll.js';
import { PortInputStage } from './stages/port-input.js';
import { UnderlayInputStage } from './stages/underlay-input.js';
import { ArpTermStage } from './stages/arp-term.js';
import { L2FwdStage } from './stages/l2-fwd.js';
import { L2FloodStage } from './stages/l2-flood.js';
import { IpGatewayStage } from './stages/ip-gateway.js';
import { IpRouteStage } from './stages/ip-route.js';
import { IpRewriteStage } from './stages/ip-rewrite.js';
import { NeighHoldStage } from './stages/neigh-hold.js';
import { IcmpErrorStage, IcmpWhy, type IcmpLimits } from './stages/icmp-error.js';
import { TunnelEncapStage } from './stages/tunnel-encap.js';
import { GsoSegmentStage } from './stages/gso-segment.js';
import { TxStage } from './stages/tx.js';

export { PortRole } from './runtime.js';
export type { BridgeOptions, VrfOptions, VrfPortOptions, RouteNextHop } from './api.js';

export interface DataplaneOptions {
  /** The packet pool. Default 16,384 slots of 2,048 bytes. */
  pool?: PoolOptions;
  /** Packets read per receive call. Default 256. */
  batchSize?: number;
  /** Learned MACs over all bridge domains. Default 1,048,576. */
  macLimit?: number;
  /** FDB ageing time in seconds. Default 300. */
  ageSeconds?: number;
  /** Clock in milliseconds (FDB ageing, ARP pacing, held packets, ICMP rate). Default performance.now. */
  clock?: () => number;
  /** Remote VTEPs at most. Default 4096. */
  maxRemotes?: number;
  /** Bounds of the packets held for neighbor resolution. Default total: 1,024 or a quarter of the pool, whichever is less. */
  held?: HeldLimits;
  /** ICMP error rate limit per VRF. */
  icmp?: IcmpLimits;
  /**
   * Free pool slots a port needs before it may read (so that no port, tenant
   * or queue can take the slots the others need to receive). Default 2 batches.
   */
  rxReserve?: number;
  /**
   * Busy-poll budget in microseconds, 0 (the default) = off. After a port
   * had traffic, keep reading every port for this long after the last packet
   * before sleeping in the event loop again: no wake-up on the next packet,
   * at the price of a core spinning while traffic comes (busypoll.ts).
   */
  busyPollUs?: number;
}

/**
 * Frames the first read of a wake-up asks for. A read prepares a slot for
 * every frame it may return and gives back the unused ones: for the one or
 * two frames a wake-up usually finds below saturation, a full batch (256)
 * costs more than the read itself. Only a full small read moves on to full
 * batches.
 */
export const RX_FIRST = 8;


export interface DataplaneStats {
  ports: Record<string, {
    kind: string; role: string; linkUp: boolean; rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; drops: number; io: PortStats;
    /** What TUNSETOFFLOAD granted (TAPs opened with offloads: a guest's super-frames and partial checksums). */
    offloads?: Readonly<Record<string, boolean>>;
    /** The underlay frame port only: frames read and left alone because sockets receive (underlay.tap). */
    ignored?: number;
  }>;
  tunnels: Record<string, { txPackets: number; txBytes: number; rxPackets: number; rxBytes: number }>;
  drops: Record<string, number>;
  /** Per stage: packets, drops by reason, packets by next stage. */
  nodes: Record<string, StageStats>;
  fdb: { entries: number; learned: number; moved: number; aged: number; limit: number };
  arp: { suppressed: number; gatewayReplies: number; requestsSent: number };
  held: { packets: number; released: number; limit: number };
  pool: { slots: number; free: number };
  /** Busy-poll's counters, when it is on (busyPollUs > 0). */
  busyPoll?: BusyPollStats;
}

export interface Dataplane {
  on<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this;
  off<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this;
  once<K extends keyof DataplaneEvents>(event: K, listener: (...args: DataplaneEvents[K]) => void): this;
  emit<K extends keyof DataplaneEvents>(event: K, ...args: DataplaneEvents[K]): boolean;
}

export class Dataplane extends ControlState implements DataplaneApi {
  readonly batchSize: number;
  readonly rxReserve: number;
  private readonly graph: Graph;
  private readonly portInput: PortInputStage;
  private readonly underlayInput: UnderlayInputStage;
  private readonly arpTerm: ArpTermStage;
  private readonly ipGateway: IpGatewayStage;
  private readonly neighHold: NeighHoldStage;
  private readonly icmpError: IcmpErrorStage;
  private readonly tx: TxStage;
  private readonly rx: Batch;
  /** The first read of a wake-up (RX_FIRST frames). */
  private readonly rxFirst: Batch;
  /** Per port id: 1 when its readiness is level-triggered (an fd in libuv's poll), so a short read means drained. */
  private readonly levelPoll = new Uint8Array(MAX_PORTS);
  /** One-packet batch for held packets that expire (their "host unreachable"). */
  private readonly expired: Batch;
  private running = false;
  /** Busy-poll after traffic; undefined when off. */
  private readonly busyPoll: BusyPoll | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closedFlag = false;

  constructor(options: DataplaneOptions = {}) {
    const pool = new PacketPool({ slots: 16384, ...options.pool });
    const batchSize = checkInt('batchSize', options.batchSize ?? 256, 1, 4096);
    const clock = options.clock ?? (() => performance.now());
    const time = new Float64Array(2);
    const maxRemotes = checkInt('maxRemotes', options.maxRemotes ?? 4096, 1, 1 << 20);
    const remotes = new Remotes({ capacity: maxRemotes });
    const fdb = new Fdb({ maxLearned: options.macLimit ?? 1 << 20, ageMs: (options.ageSeconds ?? 300) * 1000, clock, time });
    const decap = new Decapsulator();
    decap.counting = false; // the underlay-input stage counts
    const rt = new Runtime({
      pool, fdb, remotes, decap, clock, time, mono: options.clock === undefined ? nativeClock() : null,
      nexthops: new NextHops({ remotes }),
      tunnels: new TunnelTable(remotes),
      // Held packets may take at most a quarter of the pool by default, whatever its size.
      held: new HeldQueue({ total: Math.min(1024, pool.slots >>> 2), ...options.held }),
      capacity: Math.max(batchSize, 256),
    });
    super(rt, new Vrfs(), new TenantMap(decap));
    this.batchSize = batchSize;
    this.rxReserve = checkInt('rxReserve', options.rxReserve ?? Math.min(2 * batchSize, pool.slots >>> 2), 0, pool.slots);
    const busyPollUs = checkInt('busyPollUs', options.busyPollUs ?? 0, 0, 1_000_000);
    this.busyPoll = busyPollUs === 0 ? undefined : new BusyPoll(busyPollUs / 1000, () => this.pollOnce(), () => this.running, nativeClock() ?? undefined);
    this.portInput = new PortInputStage(rt);
    this.underlayInput = new UnderlayInputStage(rt);
    this.arpTerm = new ArpTermStage(rt);
    this.ipGateway = new IpGatewayStage(rt);
    this.neighHold = new NeighHoldStage(rt);
    this.icmpError = new IcmpErrorStage(rt, options.icmp);
    this.tx = new TxStage(rt);
    rt.tx = this.tx;
    // Stages in the order the graph runs them (a packet sent back, as icmp-error -> ip-route, waits for the next pass).
    this.graph = new Graph(rt, [
      this.portInput, this.underlayInput, new L2FwdStage(rt), this.arpTerm, new L2FloodStage(rt),
      this.ipGateway, new IpRouteStage(rt), new IpRewriteStage(rt), this.neighHold, this.icmpError, new TunnelEncapStage(rt), new GsoSegmentStage(rt), this.tx,
    ]);
    rt.graph = this.graph;
    rt.portOf = (proto, remote) => underlayPortOf(rt, proto, remote);
    rt.onPortError = (e, err) => this.emit('port-error', { port: e.name, error: err as Error });
    this.rx = new Batch(pool, batchSize);
    this.rxFirst = new Batch(pool, Math.min(RX_FIRST, batchSize));
    this.expired = new Batch(pool, 1);
  }

  // ---------------------------------------------------------------- underlay

  /** Configures the underlay: our address, ports, peers; frame mode with `port`. */
  setUnderlay(o: UnderlayOptions, owned = false): void {
    if (this.rt.underlay !== undefined) throw new VtepError('ERR_EXISTS', 'underlay: already set');
    const { state, decap } = underlayState(o);
    this.rt.decap.configure(decap);
    this.rt.underlay = state;
    if (o.port !== undefined) {
      const id = this.attach(o.port, PortRole.UNDERLAY, 0, owned);
      this.entry(id).depth = UnderlayDepth.FRAME;
      this.rt.underlay.framePort = id;
    }
  }

  /**
   * Adds a kernel socket to the underlay: a UdpSocket bound to the VXLAN or
   * MPLS port, or a RawIpSocket for GRE. Returns its port id.
   */
  addUnderlaySocket(port: Port & { localPort?: number; family?: number }, owned = false): number {
    const u = this.requireUnderlayState();
    // Beside a frame port (setUnderlay({ port })), sockets receive (what the frame port reads is counted
    // as ignored: process()) and send to remotes whose MAC is not known yet (underlayPortOf).
    if (port === null || typeof port !== 'object' || (port.kind !== 'udp' && port.kind !== 'raw')) throw invalidArg('port', port?.kind, 'a UDP or raw IP socket');
    const localPort = port.localPort ?? 0;
    if (port.kind === 'udp' && localPort !== u.vxlanPort && localPort !== u.mplsPort) {
      throw invalidArg('port', localPort, `the VXLAN port ${u.vxlanPort} or the MPLS port ${u.mplsPort}`);
    }
    const id = this.attach(port, PortRole.UNDERLAY, 0, owned);
    const e = this.entry(id);
    e.family = port.family ?? 4;
    if (port.kind === 'udp') {
      e.depth = UnderlayDepth.UDP;
      e.localPort = localPort;
      u.udp.push(id);
    } else {
      e.depth = e.family === 6 ? UnderlayDepth.RAW6 : UnderlayDepth.RAW4;
      u.raw.push(id);
    }
    this.rt.tunnels.rebind(this.rt.portOf);
    return id;
  }

  /**
   * A remote VTEP's MAC on the underlay segment, for a frame port
   * (`underlay.tap`); null forgets it. Its tunnels are made again at once.
   */
  setUnderlayNeighbor(remote: string, mac: number | string | null): void {
    const u = this.requireUnderlayState();
    const r = this.rt.remotes.add(parseIp(remote, 'remote'));
    if (mac === null) u.neighbors.delete(r);
    else u.neighbors.set(r, macArg('mac', mac));
    this.rt.tunnels.retemplate(r, this.rt.portOf);
  }

  /** The remote MACs set with setUnderlayNeighbor (or read from the kernel by vtep run). */
  underlayNeighbors(): { remote: string; mac: string }[] {
    const u = this.requireUnderlayState();
    return [...u.neighbors].map(([r, mac]) => ({ remote: this.rt.remotes.address(r), mac: formatMac(mac) }));
  }

  // ---------------------------------------------------------------- ports

  /** Puts `port` in bridge domain `bridge`; returns the port id. */
  addBridgePort(bridge: string | number, port: Port, owned = false): number {
    const b = this.bridge(bridge);
    const id = this.attach(port, PortRole.BRIDGE, b.index, owned);
    b.ports.push(id);
    return id;
  }

  /** Detaches a port (closing it if the dataplane opened it) and everything that refers to it. */
  removePort(idOrName: number | string): void {
    const id = this.portId(idOrName);
    const e = this.entry(id);
    this.tx.flushPort(id);
    e.port.onReadable(null);
    for (const l of e.listeners) e.port.off(l.event, l.fn as (...a: unknown[]) => void);
    this.detachPort(e);
    this.rt.held.dropWhere(-1, id, (r) => {
      this.rt.dropHeld(r);
      this.rt.pool.free(this.rt.held.slot[r]!);
    });
    if (e.role === PortRole.UNDERLAY) {
      const u = this.rt.underlay!;
      u.udp = u.udp.filter((p) => p !== id);
      u.raw = u.raw.filter((p) => p !== id);
      if (u.framePort === id) u.framePort = -1;
      this.rt.tunnels.rebind(this.rt.portOf);
    }
    if (e.owned) e.port.close();
    this.rt.ports[id] = undefined;
    this.byName.delete(e.name);
  }

  protected attach(port: Port, role: number, owner: number, owned: boolean): number {
    if (port === null || typeof port !== 'object' || typeof port.readBatch !== 'function') throw invalidArg('port', port, 'a Port');
    if (this.byName.has(port.name)) throw new VtepError('ERR_EXISTS', `port: ${describe(port.name)} is already attached`);
    const ports = this.rt.ports;
    // Ids are not reused while anything could still name the old port: a new port takes a fresh id.
    const id = this.nextPortId;
    if (id >= MAX_PORTS) throw new VtepError('ERR_LIMIT', `ports: at most ${MAX_PORTS} over the dataplane's life`);
    this.nextPortId++;
    const e: PortEntry = {
      id, name: port.name, port, role, owner, owned, tx: new Batch(this.rt.pool, this.batchSize * 2), depth: 0, localPort: 0, family: 4,
      routerMac: 0, gw4: 0, gw4len: 0, gw6: null, gw6len: 0, ctr: new Float64Array(PortCtr.COUNT),
      capRx: null, capTx: null, rxClock: port instanceof FdPort ? port.st : null, listeners: [],
    };
    const listen = (event: string, fn: (...a: never[]) => void): void => {
      port.on(event, fn as (...a: unknown[]) => void);
      e.listeners.push({ event, fn });
    };
    listen('error', (err: Error) => this.emit('port-error', { port: port.name, error: err }));
    listen('link-down', () => this.emit('link-down', { port: port.name }));
    listen('link-up', () => this.emit('link-up', { port: port.name }));
    ports[id] = e;
    this.levelPoll[id] = port instanceof FdPort ? 1 : 0;
    this.byName.set(port.name, id);
    if (this.running) this.watch(e);
    return id;
  }

  private nextPortId = 0;

  // ---------------------------------------------------------------- running

  /** Starts serving every port as it becomes readable, FDB ageing and held-packet expiry. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const e of this.rt.ports) if (e !== undefined) this.watch(e);
    this.timer = setInterval(() => this.tick(), 500);
    this.timer.unref();
  }

  /** Stops serving ports (they stay open). */
  stop(): void {
    this.running = false;
    for (const e of this.rt.ports) e?.port.onReadable(null);
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Timers' work: FDB ageing, the expiry of held packets, onTick's watchers. Public for tests with an injected clock. */
  tick(): void {
    this.rt.fdb.age();
    this.expireHeld();
    for (let i = 0; i < this.tickers.length; i++) this.tickers[i]!.fn();
  }

  private readonly tickers: { fn: () => void; close: (() => void) | undefined }[] = [];

  /** Runs fn on every tick (500 ms while running) and `close` when the dataplane closes: for watchers of the host (fromConfig's kernel neighbor reader). */
  onTick(fn: () => void, close?: () => void): void {
    this.tickers.push({ fn, close });
  }

  /**
   * Runs a batch through the pipeline as if it had been received on a port:
   * for frames that come from elsewhere (a capture, a test, another
   * process). The batch must be of this dataplane's pool; its slots are
   * taken over and the batch is left empty.
   */
  inject(idOrName: number | string, batch: Batch): void {
    if (batch.pool !== this.rt.pool) throw invalidArg('batch', 'a batch of another pool', "a batch of this dataplane's pool (dp.pool)");
    if (batch.count > this.rt.capacity) this.graph.grow(batch.capacity);
    this.process(batch, this.entry(this.portId(idOrName)));
  }

  /** Reads and processes everything ready on every port once; returns the packets read. */
  poll(): number {
    let n = 0;
    for (const e of this.rt.ports) if (e !== undefined) n += this.service(e.id, 1 << 30);
    return n;
  }

  /** Stops, drops what is held, and closes the ports the dataplane opened. */
  close(): void {
    if (this.closedFlag) return;
    this.stop();
    this.rt.held.dropWhere(-1, -1, () => {});
    for (let v = 0; v < this.rt.vrfs.length; v++) this.rt.held.dropWhere(v, -1, (r) => this.rt.pool.free(this.rt.held.slot[r]!));
    for (const e of this.rt.ports) if (e !== undefined) this.removePort(e.id);
    for (const t of this.tickers) t.close?.();
    this.closedFlag = true;
  }

  private watch(e: PortEntry): void {
    e.port.onReadable(() => {
      if (this.service(e.id, 64) > 0 && this.busyPoll !== undefined) this.busyPoll.kick();
    });
  }

  /** One busy-poll pass: every port read once (until drained); the packets read. */
  private pollOnce(): number {
    const ports = this.rt.ports;
    let n = 0;
    for (let i = 0; i < ports.length; i++) {
      const e = ports[i];
      if (e !== undefined) n += this.service(e.id, 64);
    }
    return n;
  }

  /** Reads up to `budget` batches from a port and runs each through the pipeline. */
  private service(id: number, budget: number): number {
    const e = this.rt.ports[id];
    if (e === undefined) return 0;
    const pool = this.rt.pool;
    const level = this.levelPoll[id] === 1;
    // Small first, full batches once a read comes back full (RX_FIRST).
    let rx = this.rxFirst;
    let total = 0;
    for (let k = 0; k < budget; k++) {
      // Fairness: a port reads only while the pool keeps its reserve, so what
      // others hold can never leave every port unable to receive.
      if (pool.available < this.rxReserve) break;
      const n = e.port.readBatch(rx);
      if (n === 0) return total;
      total += n;
      const full = n === rx.capacity;
      this.process(rx, e, e.rxClock);
      // A short read drained an fd (its level-triggered poll calls again for
      // what comes later): no read that would find nothing. Other ports read on until empty.
      if (!full && level) return total;
      if (full) rx = this.rx;
    }
    // Budget spent (or the pool low) with more to read: yield to other ports, then continue. A
    // level-triggered fd's poll calls again by itself, without the Immediate (garbage) of a nudge.
    if (this.running && !level) setImmediate(this.nudge, id);
    return total;
  }

  /**
   * service() for a port that is not level-triggered, from setImmediate. Made
   * once: an arrow function inside service() that captured `id` would make
   * every service() call allocate a context for it, taken or not (about 50
   * bytes a wake-up; the scavenges seen under TCP load).
   */
  private readonly nudge = (id: number): void => {
    this.service(id, 64);
  };

  /**
   * Runs one received batch through the pipeline and transmits the result.
   * Public so that a profiler can wrap it (bench/e2e.ts --profile); use inject().
   */
  process(b: Batch, e: PortEntry, rxClock: Float64Array | null = null): void {
    const n = b.count;
    const rt = this.rt;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += b.len[i]!;
    e.ctr[PortCtr.RX_PACKETS]! += n;
    e.ctr[PortCtr.RX_BYTES]! += bytes;
    const cap = e.capRx;
    if (cap !== null) for (let i = 0; i < n; i++) for (const fn of cap) fn('rx', rt.u8, b.start[i]!, b.len[i]!);
    if (e.id === rt.underlay?.framePort && rt.underlay.udp.length + rt.underlay.raw.length > 0) {
      // A frame port beside sockets only sends (underlay.tap): the sockets receive what is ours, and
      // what reaches the TAP (the bridge's broadcasts, multicast and unknown unicast) is no one's here.
      e.ctr[PortCtr.IGNORED]! += n;
      b.release();
      return;
    }
    rt.batch = b;
    rt.ingress = e;
    // The receive call's clock when the batch was just read from a native port (one native call fewer).
    rt.stampFrom(rxClock);
    rt.offloads = e.role === PortRole.UNDERLAY ? 0 : 1;
    if (e.role !== PortRole.UNDERLAY) {
      // port-input's fused fast path (see PortInputStage.admit), else its graph pass.
      if (!this.graph.traceWanted && this.portInput.admit(n)) this.graph.drain();
      else this.graph.run(this.portInput);
    } else {
      this.graph.run(this.underlayInput);
      // Coalesced UDP buffers were split into datagrams: they run as a batch of their own.
      const t = this.underlayInput.takeTrains();
      if (t !== null) {
        if (t.count > rt.capacity) this.graph.grow(t.capacity);
        rt.batch = t;
        rt.offloads = 0; // datagrams pushed as plain entries
        this.graph.run(this.underlayInput);
        t.release();
      }
    }
    this.tx.flush();
    b.release();
  }

  /** Held packets whose neighbor never answered: dropped, and the first one's sender told "host unreachable". */
  private expireHeld(): void {
    const rt = this.rt;
    const h = rt.held;
    if (h.size === 0) return;
    const now = rt.clock();
    h.expire(now, (r, first) => {
      rt.dropHeld(r);
      const e = rt.ports[h.inPort[r]!];
      if (!first || e === undefined) {
        rt.pool.free(h.slot[r]!);
        return;
      }
      // The packet becomes a one-packet batch entering icmp-error (the queue's reference passes to it).
      const b = this.expired;
      const i = b.push(h.slot[r]!, h.start[r]!, h.end[r]! - h.start[r]!);
      const v = rt.ports[h.port[r]!];
      rt.batch = b;
      rt.ingress = e;
      rt.offloads = 1;
      rt.now = now;
      rt.owner[i] = v !== undefined ? v.owner : e.owner;
      rt.l3[i] = h.start[r]! + Eth.HEADER_LEN;
      rt.out[i] = IcmpWhy.HOST;
      rt.flags[i] = 0;
      rt.remote[i] = -1;
      this.graph.push(this.icmpError, i);
      this.graph.drain();
      this.tx.flush();
      b.release();
    });
  }

  // ---------------------------------------------------------------- observing

  /** Records the next n packets' paths through the stages. */
  trace(n: number, options: { timeoutMs?: number } = {}): Promise<PacketTrace[]> {
    checkInt('n', n, 1, 10000);
    return this.graph.trace(n, checkInt('timeoutMs', options.timeoutMs ?? 10_000, 1, 3_600_000));
  }

  /** Calls fn for each frame a port receives and/or sends, until the returned function is called. */
  capture(idOrName: number | string, direction: CaptureDirection, fn: CaptureFn): () => void {
    const e = this.entry(this.portId(idOrName));
    if (direction !== 'rx' && direction !== 'tx' && direction !== 'both') throw invalidArg('direction', direction, 'rx, tx or both');
    if (typeof fn !== 'function') throw invalidArg('fn', fn, 'a function');
    if (direction !== 'tx') (e.capRx ??= []).push(fn);
    if (direction !== 'rx') (e.capTx ??= []).push(fn);
    return () => {
      if (e.capRx !== null) e.capRx = e.capRx.filter((f) => f !== fn);
      if (e.capTx !== null) e.capTx = e.capTx.filter((f) => f !== fn);
      if (e.capRx?.length === 0) e.capRx = null;
      if (e.capTx?.length === 0) e.capTx = null;
    };
  }

  /** Counters as a plain object. */
  stats(): DataplaneStats {
    const rt = this.rt;
    const ports: DataplaneStats['ports'] = {};
    for (const e of rt.ports) {
      if (e === undefined) continue;
      ports[e.name] = {
        kind: e.port.kind, role: ROLE_NAMES[e.role]!, linkUp: e.port.linkUp,
        ...portCounters(e), io: e.port.stats,
      };
      if (e.id === rt.underlay?.framePort) ports[e.name]!.ignored = e.ctr[PortCtr.IGNORED]!;
      const off = (e.port as { offloads?: Readonly<Record<string, boolean>> }).offloads;
      if (off !== undefined && Object.values(off).some((v) => v)) ports[e.name]!.offloads = off;
    }
    const tunnels: DataplaneStats['tunnels'] = {};
    const t = rt.tunCounters;
    for (const r of rt.remotes) {
      for (let p = 1; p <= 4; p++) {
        const k = (r.index * 5 + p) * 4;
        if (t[k] === 0 && t[k + 2] === 0) continue;
        tunnels[`${PROTO_NAMES[p]} ${r.address}`] = { txPackets: t[k]!, txBytes: t[k + 1]!, rxPackets: t[k + 2]!, rxBytes: t[k + 3]! };
      }
    }
    const c = rt.fdb.counters;
    return {
      ports, tunnels, drops: reasonCountsObject(rt.drops), nodes: this.graph.stats(),
      fdb: { entries: rt.fdb.size, learned: c.learned, moved: c.moved, aged: c.aged, limit: c.limit },
      arp: { suppressed: this.arpTerm.answered, gatewayReplies: this.ipGateway.replies, requestsSent: this.neighHold.requests },
      held: { packets: rt.held.size, released: rt.neighHoldReleased, limit: rt.held.total },
      pool: { slots: rt.pool.slots, free: rt.pool.available },
      ...(this.busyPoll !== undefined ? { busyPoll: this.busyPoll.stats() } : {}),
    };
  }

  // ---------------------------------------------------------------- lookups

  /** Port id by name (or id). */
  portId(idOrName: number | string): number {
    const id = typeof idOrName === 'number' ? idOrName : this.byName.get(idOrName);
    if (id === undefined || this.rt.ports[id] === undefined) throw new VtepError('ERR_NOT_FOUND', `port: ${describe(idOrName)} is not a port of this dataplane`);
    return id;
  }

  /** The Port object of a port id or name. */
  port(idOrName: number | string): Port {
    return this.entry(this.portId(idOrName)).port;
  }
}

/** The addon's monotonic clock, or null without the addon (a dataplane of memory ports needs none). */
function nativeClock(): ((cell: Float64Array) => void) | null {
  try {
    return native().monoClock;
  } catch {
    return null;
  }
}

export type { IpAddr, UnderlayOptions };
