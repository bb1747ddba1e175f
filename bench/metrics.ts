/**
 * `npm run bench -- metrics`: the cost of one Prometheus scrape of a switch
 * with 1,000 ports, 100 tunnels and every drop reason, as renderMetrics
 * builds it (src/ops/metrics.ts), next to prom-client doing the same in the
 * same run when it is installed (`npm install --no-save prom-client`; it is
 * not a dependency: this suite is how the choice was made). prom-client is
 * given its fastest path: gauges set from the same stats at collect time,
 * then registry.metrics().
 */
import Benchmark from 'benchmark';
import { renderMetrics } from '../src/ops/metrics.js';
import type { StatsLike } from '../src/ops/target.js';
import { REASON_NAMES } from '../src/packet/reasons.js';
import { measure, type BenchRow, type Suite } from './harness.js';

const PORTS = 1000;
const TUNNELS = 100;

/** Stats of the size of a large switch. */
export function bigStats(): StatsLike {
  const ports: StatsLike['ports'] = {};
  for (let i = 0; i < PORTS; i++) ports[`vm${i}tap`] = { kind: 'tap', role: i % 2 === 0 ? 'bridge' : 'router', rxPackets: i * 1000, rxBytes: i * 64000, txPackets: i * 999, txBytes: i * 63000, drops: i };
  const tunnels: StatsLike['tunnels'] = {};
  for (let i = 0; i < TUNNELS; i++) tunnels[`vxlan 198.18.${i >> 8}.${i & 255}`] = { txPackets: i, txBytes: i * 100, rxPackets: i, rxBytes: i * 100 };
  const drops: Record<string, number> = {};
  for (const r of REASON_NAMES) if (r !== undefined && r !== '') drops[r] = 7;
  return {
    ports, tunnels, drops,
    fdb: { entries: 5000, learned: 9000, moved: 3, aged: 4000, limit: 0 },
    arp: { suppressed: 10, gatewayReplies: 20, requestsSent: 30 },
    pool: { slots: 16384, free: 16000 },
  };
}

interface PromGauge { set(labels: Record<string, string>, v: number): void }
interface PromClient {
  Registry: new () => { metrics(): Promise<string> };
  Gauge: new (o: { name: string; help: string; labelNames: string[]; registers: unknown[]; collect?: () => void }) => PromGauge;
}

/** prom-client's registry fed from stats() at each scrape, or undefined when it is not installed. */
async function promScrape(stats: () => StatsLike): Promise<(() => Promise<string>) | undefined> {
  let prom: PromClient;
  try {
    const name = 'prom-client';
    prom = (await import(name)) as PromClient;
  } catch {
    return undefined;
  }
  const reg = new prom.Registry();
  let s = stats();
  const port = (field: 'rxPackets' | 'rxBytes' | 'txPackets' | 'txBytes' | 'drops', name: string): void => {
    const g: PromGauge = new prom.Gauge({
      name, help: name, labelNames: ['port', 'kind', 'role'], registers: [reg],
      collect() {
        for (const [n, p] of Object.entries(s.ports)) g.set({ port: n, kind: p.kind, role: p.role }, p[field]);
      },
    });
  };
  port('rxPackets', 'vtep_port_rx_packets_total');
  port('rxBytes', 'vtep_port_rx_bytes_total');
  port('txPackets', 'vtep_port_tx_packets_total');
  port('txBytes', 'vtep_port_tx_bytes_total');
  port('drops', 'vtep_port_drops_total');
  for (const field of ['rxPackets', 'rxBytes', 'txPackets', 'txBytes'] as const) {
    const g: PromGauge = new prom.Gauge({
      name: `vtep_tunnel_${field}`, help: field, labelNames: ['encap', 'remote'], registers: [reg],
      collect() {
        for (const [k, t] of Object.entries(s.tunnels)) {
          const sp = k.indexOf(' ');
          g.set({ encap: k.slice(0, sp), remote: k.slice(sp + 1) }, t[field]);
        }
      },
    });
  }
  const d: PromGauge = new prom.Gauge({
    name: 'vtep_drops_total', help: 'drops', labelNames: ['reason'], registers: [reg],
    collect() {
      for (const [r, n] of Object.entries(s.drops)) d.set({ reason: r }, n);
    },
  });
  return () => {
    s = stats();
    return reg.metrics();
  };
}

/** benchmark.js on an async body (deferred). */
function measureAsync(name: string, fn: () => Promise<unknown>): Promise<{ hz: number; rme: number }> {
  return new Promise((resolve, reject) => {
    const b = new Benchmark(name, {
      defer: true, minTime: 1, maxTime: 4,
      fn: (deferred: { resolve(): void }) => {
        fn().then(() => deferred.resolve(), reject);
      },
      onComplete: () => resolve({ hz: b.hz, rme: b.stats.rme }),
      onError: (e: unknown) => reject(e),
    });
    b.run({ async: true });
  });
}

export const suite: Suite = {
  description: 'one Prometheus scrape of 1,000 ports: renderMetrics vs prom-client (when installed)',
  async run(ctx) {
    const stats = bigStats();
    // Each scrape asks for fresh stats, as vtep run does; the copy stands in for stats() building its object.
    const fresh = (): StatsLike => ({ ...stats, ports: { ...stats.ports } });
    const text = renderMetrics(fresh());
    ctx.log(`metrics: ${text.length} bytes, ${text.split('\n').length} lines a scrape`);
    const own = measure('renderMetrics', () => {
      renderMetrics(fresh());
    });
    const rows: BenchRow[] = [];
    const prom = await promScrape(fresh);
    if (prom === undefined) {
      rows.push({ name: 'scrape, 1,000 ports (renderMetrics)', value: 1000 / own.hz, unit: 'ms', rme: own.rme, note: 'prom-client not installed: npm install --no-save prom-client to compare' });
      return rows;
    }
    const pc = await measureAsync('prom-client', prom);
    rows.push({ name: 'scrape, 1,000 ports (prom-client)', value: 1000 / pc.hz, unit: 'ms', rme: pc.rme });
    rows.push({ name: 'scrape, 1,000 ports (renderMetrics)', value: 1000 / own.hz, unit: 'ms', rme: own.rme, baseline: 'prom-client', ratio: pc.hz / own.hz === 0 ? 0 : (1000 / own.hz) / (1000 / pc.hz) });
    return rows;
  },
};
