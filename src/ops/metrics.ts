/**
 * The Prometheus endpoint of `vtep run` (`"metrics": { "listen": "127.0.0.1:9310" }`):
 * GET /metrics answers the text exposition format 0.0.4, built from
 * `stats()` and the facade's tables at each scrape. Written by hand rather
 * than with prom-client: a scrape of 1,000 ports costs less this way (see
 * bench/metrics.ts) and the switch needs no registry of its own, only the
 * counters it already keeps.
 *
 * Names (docs/ctl.md lists them with their labels):
 *   vtep_port_{rx,tx}_{packets,bytes}_total, vtep_port_drops_total, vtep_port_up
 *   vtep_tunnel_{rx,tx}_{packets,bytes}_total{encap,remote}
 *   vtep_drops_total{reason}, vtep_stage_{packets,drops,next}_total{stage,...}
 *   vtep_fdb_*, vtep_arp_*, vtep_routes{vrf}, vtep_pool_*, vtep_loop_*, process_*
 */
import http from 'node:http';
import type { OpsTarget, StatsLike } from './target.js';
import type { PollLoopStats } from '../io/poll-loop.js';

/** A label value in the exposition format: backslash, quote and newline escaped. */
export function labelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** Builds a metric family at a time: HELP and TYPE once, then samples. */
class Text {
  readonly out: string[] = [];
  family(name: string, type: 'counter' | 'gauge', help: string): this {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }
  sample(name: string, labels: string, value: number): void {
    this.out.push(labels === '' ? `${name} ${value}` : `${name}{${labels}} ${value}`);
  }
}

const PORT_COUNTERS = [
  ['rxPackets', 'vtep_port_rx_packets_total', 'Packets received on a port.'],
  ['rxBytes', 'vtep_port_rx_bytes_total', 'Bytes received on a port.'],
  ['txPackets', 'vtep_port_tx_packets_total', 'Packets sent on a port.'],
  ['txBytes', 'vtep_port_tx_bytes_total', 'Bytes sent on a port.'],
  ['drops', 'vtep_port_drops_total', 'Packets dropped at a port.'],
] as const;

const TUNNEL_COUNTERS = [
  ['rxPackets', 'vtep_tunnel_rx_packets_total', 'Packets received from a remote VTEP.'],
  ['rxBytes', 'vtep_tunnel_rx_bytes_total', 'Bytes received from a remote VTEP.'],
  ['txPackets', 'vtep_tunnel_tx_packets_total', 'Packets sent to a remote VTEP.'],
  ['txBytes', 'vtep_tunnel_tx_bytes_total', 'Bytes sent to a remote VTEP.'],
] as const;

const START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

export interface MetricsSources {
  /** The facade's tables, for sizes and link state; absent: stats() only. */
  tables?: Pick<OpsTarget, 'listPorts' | 'arpEntries' | 'neighbors' | 'routes' | 'listVrfs'>;
  /** The event loop's wake-up counters (pollLoopStats()); absent: none. */
  loop?: PollLoopStats;
}

/** The exposition text of one scrape. */
export function renderMetrics(s: StatsLike, src: MetricsSources = {}): string {
  const t = new Text();
  const ports = Object.entries(s.ports);
  const portLabels = ports.map(([name, p]) => `port="${labelValue(name)}",kind="${labelValue(p.kind)}",role="${labelValue(p.role)}"`);
  for (const [key, name, help] of PORT_COUNTERS) {
    t.family(name, 'counter', help);
    for (let i = 0; i < ports.length; i++) t.sample(name, portLabels[i]!, ports[i]![1][key]);
  }
  const ignoring = ports.filter(([, p]) => p.ignored !== undefined);
  if (ignoring.length > 0) {
    t.family('vtep_port_ignored_total', 'counter', 'Frames an underlay frame port read and left alone (sockets receive: underlay.tap).');
    for (const [name, p] of ignoring) t.sample('vtep_port_ignored_total', `port="${labelValue(name)}"`, p.ignored!);
  }
  const t0 = src.tables;
  if (t0 !== undefined) {
    t.family('vtep_port_up', 'gauge', '1 while the port\'s link is up, 0 while it is down.');
    for (const p of t0.listPorts()) t.sample('vtep_port_up', `port="${labelValue(p.name)}"`, p.linkUp ? 1 : 0);
  }

  const tunnels = Object.entries(s.tunnels);
  const tunnelLabels = tunnels.map(([k]) => {
    const sp = k.indexOf(' ');
    return `encap="${labelValue(k.slice(0, sp))}",remote="${labelValue(k.slice(sp + 1))}"`;
  });
  for (const [key, name, help] of TUNNEL_COUNTERS) {
    t.family(name, 'counter', help);
    for (let i = 0; i < tunnels.length; i++) t.sample(name, tunnelLabels[i]!, tunnels[i]![1][key]);
  }

  t.family('vtep_drops_total', 'counter', 'Packets dropped, by reason.');
  for (const [reason, n] of Object.entries(s.drops)) t.sample('vtep_drops_total', `reason="${labelValue(reason)}"`, n);

  if (s.nodes !== undefined) stageMetrics(t, s.nodes);

  t.family('vtep_fdb_entries', 'gauge', 'MAC entries in all FDBs (static and learned).').sample('vtep_fdb_entries', '', s.fdb.entries);
  t.family('vtep_fdb_learned_total', 'counter', 'MACs learned.').sample('vtep_fdb_learned_total', '', s.fdb.learned);
  t.family('vtep_fdb_moved_total', 'counter', 'Learned MACs seen at another place.').sample('vtep_fdb_moved_total', '', s.fdb.moved);
  t.family('vtep_fdb_aged_total', 'counter', 'Learned MACs aged out.').sample('vtep_fdb_aged_total', '', s.fdb.aged);
  t.family('vtep_fdb_limit_total', 'counter', 'MACs not learned because of a limit.').sample('vtep_fdb_limit_total', '', s.fdb.limit);
  t.family('vtep_arp_suppressed_total', 'counter', 'ARP requests and neighbor solicitations answered locally.').sample('vtep_arp_suppressed_total', '', s.arp.suppressed);
  t.family('vtep_arp_gateway_replies_total', 'counter', 'ARP/ND replies for a VRF gateway.').sample('vtep_arp_gateway_replies_total', '', s.arp.gatewayReplies);
  t.family('vtep_arp_requests_sent_total', 'counter', 'ARP requests and solicitations sent to resolve next hops.').sample('vtep_arp_requests_sent_total', '', s.arp.requestsSent);
  if (t0 !== undefined) {
    t.family('vtep_arp_entries', 'gauge', 'ARP/ND suppression entries of all bridges.').sample('vtep_arp_entries', '', t0.arpEntries().length);
    t.family('vtep_neighbor_entries', 'gauge', 'Neighbors of all VRFs.').sample('vtep_neighbor_entries', '', t0.neighbors().length);
    t.family('vtep_routes', 'gauge', 'Routes of a VRF.');
    for (const v of t0.listVrfs()) t.sample('vtep_routes', `vrf="${labelValue(v.name)}"`, t0.routes(v.name).length);
  }
  t.family('vtep_pool_slots', 'gauge', 'Packet buffers in the pool.').sample('vtep_pool_slots', '', s.pool.slots);
  t.family('vtep_pool_free_slots', 'gauge', 'Packet buffers free.').sample('vtep_pool_free_slots', '', s.pool.free);
  const bp = s.busyPoll;
  if (bp !== undefined) {
    t.family('vtep_busy_poll_slices_total', 'counter', 'Busy-poll slices run (each ends in a yield to the event loop).').sample('vtep_busy_poll_slices_total', '', bp.slices);
    t.family('vtep_busy_poll_packets_total', 'counter', 'Packets read while spinning: wake-ups saved.').sample('vtep_busy_poll_packets_total', '', bp.packets);
    t.family('vtep_busy_poll_backoffs_total', 'counter', 'Spins ended because a pass was preempted (busy-poll then off for 50 ms to 1 s).').sample('vtep_busy_poll_backoffs_total', '', bp.backoffs);
    t.family('vtep_busy_poll_spin_seconds_total', 'counter', 'Time spent spinning, in seconds (the CPU busy-poll costs).').sample('vtep_busy_poll_spin_seconds_total', '', bp.spinSeconds);
  }
  const lp = src.loop;
  if (lp !== undefined) {
    t.family('vtep_loop_iterations_total', 'counter', 'Event-loop iterations of the dataplane thread.').sample('vtep_loop_iterations_total', '', lp.iterations);
    t.family('vtep_loop_linger_wakeups_total', 'counter', 'Port wake-ups served inside a linger, without an event-loop iteration.').sample('vtep_loop_linger_wakeups_total', '', lp.callbacks);
    t.family('vtep_loop_lingers_total', 'counter', 'Lingers after a port wake-up, by what ended them.');
    t.sample('vtep_loop_lingers_total', 'end="loop-work"', lp.exitLoop);
    t.sample('vtep_loop_lingers_total', 'end="other-fd"', lp.exitForeign);
    t.sample('vtep_loop_lingers_total', 'end="time"', lp.exitTime);
  }

  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  t.family('process_cpu_user_seconds_total', 'counter', 'User CPU time spent in seconds.').sample('process_cpu_user_seconds_total', '', cpu.user / 1e6);
  t.family('process_cpu_system_seconds_total', 'counter', 'System CPU time spent in seconds.').sample('process_cpu_system_seconds_total', '', cpu.system / 1e6);
  t.family('process_cpu_seconds_total', 'counter', 'User and system CPU time spent in seconds.').sample('process_cpu_seconds_total', '', (cpu.user + cpu.system) / 1e6);
  t.family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.').sample('process_resident_memory_bytes', '', mem.rss);
  t.family('process_heap_bytes', 'gauge', 'JavaScript heap in use, bytes.').sample('process_heap_bytes', '', mem.heapUsed);
  t.family('process_external_memory_bytes', 'gauge', 'Memory outside the JavaScript heap (packet pool included), bytes.').sample('process_external_memory_bytes', '', mem.external + mem.arrayBuffers);
  t.family('process_start_time_seconds', 'gauge', 'Start time of the process since the epoch in seconds.').sample('process_start_time_seconds', '', START_SECONDS);
  t.out.push('');
  return t.out.join('\n');
}

/**
 * Per-stage counters from stats().nodes: `{ packets, drops: { reason: n }, next: { stage: n } }`
 * per stage become vtep_stage_packets_total{stage}, vtep_stage_drops_total{stage,reason} and
 * vtep_stage_next_total{stage,next}; any other number a stage reports goes to
 * vtep_stage_events_total{stage,counter}.
 */
function stageMetrics(t: Text, nodes: NonNullable<StatsLike['nodes']>): void {
  const packets: [string, number][] = [];
  const drops: [string, number][] = [];
  const next: [string, number][] = [];
  const other: [string, number][] = [];
  for (const [stage, counters] of Object.entries(nodes)) {
    const st = `stage="${labelValue(stage)}"`;
    for (const [k, v] of Object.entries(counters)) {
      if (typeof v === 'number') {
        if (k === 'packets') packets.push([st, v]);
        else other.push([`${st},counter="${labelValue(k)}"`, v]);
      } else if (v !== null && typeof v === 'object') {
        const into = k === 'drops' ? drops : k === 'next' ? next : other;
        const label = k === 'drops' ? 'reason' : k === 'next' ? 'next' : 'counter';
        for (const [k2, v2] of Object.entries(v)) {
          if (typeof v2 === 'number') into.push([`${st},${label}="${labelValue(into === other ? `${k}.${k2}` : k2)}"`, v2]);
        }
      }
    }
  }
  const family = (name: string, help: string, rows: [string, number][]): void => {
    t.family(name, 'counter', help);
    for (const [labels, v] of rows) t.sample(name, labels, v);
  };
  family('vtep_stage_packets_total', 'Packets each pipeline stage processed.', packets);
  family('vtep_stage_drops_total', 'Packets a stage dropped, by reason.', drops);
  family('vtep_stage_next_total', 'Packets a stage passed to each next stage.', next);
  if (other.length > 0) family('vtep_stage_events_total', 'Other counters of a stage.', other);
}

/** The HTTP listener: GET /metrics, nothing else. */
export class MetricsServer {
  private constructor(private readonly server: http.Server, readonly address: string) {}

  static listen(host: string, port: number, scrape: () => string): Promise<MetricsServer> {
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '').split('?')[0];
      if (url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(url === '/metrics' ? 405 : 404, { 'content-type': 'text/plain' }).end(url === '/metrics' ? 'GET only\n' : 'try /metrics\n');
        return;
      }
      let body: string;
      try {
        body = scrape();
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : body);
    });
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(`metrics.listen: ${host.includes(':') ? `[${host}]` : host}:${port}: ${err.code ?? err.message}`), { code: err.code })));
      server.listen(port, host, () => {
        const a = server.address();
        const addr = typeof a === 'object' && a !== null ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : String(a);
        resolve(new MetricsServer(server, addr));
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
