/**
 * `npm run bench -- control`: the fleet control plane on one throw-away etcd
 * (127.0.0.1, random ports, temporary data dir). 100 simulated hosts publish
 * 100 MACs each (10,000) with one lease per host, then new MACs at 1,000
 * changes/s, those of each 10 ms tick in one transaction (as each EtcdControl
 * batches its own: single puts top out at a few hundred per second when the
 * machine is busy); one EtcdControl with an in-memory dataplane watches.
 *
 * - publication -> FDB entry on the watching dataplane, median and p99, next to
 *   the baseline publication -> event on a bare etcd watch of the same prefix
 *   (what etcd and the client cost without the control layer);
 * - full resync: a new dataplane joining the fleet of 10,000 MACs, start() to
 *   every entry programmed;
 * - heap per 10,000 remote MACs: control layer + in-memory dataplane, next to
 *   the in-memory dataplane alone holding the same entries.
 * Needs etcd (Debian package etcd-server); no root.
 */
import { Etcd3 } from 'etcd3';
import type { BenchRow, Suite } from './harness.js';
import { EtcdCluster, etcdBinary, ETCD_SKIP } from '../src/util/etcd.js';
import { EtcdControl } from '../src/control/etcd.js';
import { MemoryDataplane } from '../src/control/memdp.js';
import { Keys } from '../src/control/model.js';

const HOSTS = 100;
const MACS = 100;
const RATE = 1000;
const SECONDS = 5;
const ROOT = '/vtep/v1/';

const hex = (n: number): string => n.toString(16).padStart(2, '0');
const macAt = (kind: number, a: number, b: number): string => `02:00:${hex(kind)}:${hex(a >> 8)}:${hex(a & 0xff)}:${hex(b)}`;
const underlayOf = (h: number): string => `198.18.${1 + (h >> 8)}.${h & 0xff}`;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function newDataplane(): MemoryDataplane {
  const dp = new MemoryDataplane();
  dp.addBridge({ vni: 42 });
  return dp;
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('bench/control: timed out');
    await sleep(2);
  }
}

export const suite: Suite = {
  description: 'fleet control plane on etcd: publication -> FDB latency at 1,000 changes/s, full resync of 10,000 MACs, memory',
  async run(ctx) {
    if (etcdBinary() === undefined) {
      ctx.log(`skip: control ${ETCD_SKIP}`);
      return [];
    }
    const rows: BenchRow[] = [];
    const etcd = await EtcdCluster.start();
    const pub = new Etcd3({ hosts: etcd.endpoints() });
    const controls: EtcdControl[] = [];
    const bare = new Etcd3({ hosts: etcd.endpoints() });
    try {
      // 100 hosts, each with its lease, host record and 100 MACs.
      const leases: string[] = [];
      for (let h = 1; h <= HOSTS; h++) {
        const id = String((await pub.leaseClient.leaseGrant({ TTL: 600 })).ID);
        leases.push(id);
        const ops = [{ request_put: { key: Buffer.from(Keys.host(ROOT, `s${h}`)), value: Buffer.from(JSON.stringify({ underlay: underlayOf(h), bridges: [{ encap: 'vxlan', id: 42 }], vrfs: [] })), lease: id } }];
        for (let m = 0; m < MACS; m++) ops.push({ request_put: { key: Buffer.from(Keys.mac(ROOT, `s${h}`, 'vxlan-42', macAt(0, h, m))), value: Buffer.from(JSON.stringify({ ips: [`10.${h >> 8}.${h & 0xff}.${m + 1}`] })), lease: id } });
        for (let i = 0; i < ops.length; i += 128) await pub.kv.txn({ success: ops.slice(i, i + 128) });
      }
      ctx.log(`published ${HOSTS} hosts x ${MACS} MACs`);

      // Full resync: a new dataplane joins the fleet (three rounds; the median).
      const resyncs: number[] = [];
      for (let round = 0; round < 3; round++) {
        const dp = newDataplane();
        const c = new EtcdControl(dp, { host: `w${round}`, underlay: '198.18.0.1', etcd: { endpoints: etcd.endpoints() }, reconcileSeconds: 0, log: () => undefined });
        const t0 = performance.now();
        await c.start();
        const ms = performance.now() - t0;
        if (dp.fdbEntries('vxlan-42').length !== HOSTS * MACS) throw new Error(`resync programmed ${dp.fdbEntries('vxlan-42').length} MACs`);
        resyncs.push(ms);
        await c.stop();
      }
      resyncs.sort((a, b) => a - b);
      rows.push({ name: `full resync, ${HOSTS * MACS} MACs`, value: resyncs[1]!, unit: 'ms', note: `${resyncs.map((x) => x.toFixed(0)).join(', ')} ms` });

      // Memory: the same 10,000 entries in a MemoryDataplane alone, then with the control layer.
      const h0 = heap();
      const alone = newDataplane();
      for (let h = 1; h <= HOSTS; h++) for (let m = 0; m < MACS; m++) {
        alone.addFdb('vxlan-42', macAt(0, h, m), { remote: underlayOf(h) });
        alone.addArp('vxlan-42', `10.${h >> 8}.${h & 0xff}.${m + 1}`, macAt(0, h, m));
      }
      const hAlone = heap() - h0;
      const h1 = heap();
      const dpMem = newDataplane();
      const cMem = new EtcdControl(dpMem, { host: 'mem', underlay: '198.18.0.1', etcd: { endpoints: etcd.endpoints() }, reconcileSeconds: 0, log: () => undefined });
      await cMem.start();
      const hBoth = heap() - h1;
      await cMem.stop();
      rows.push({ name: `heap, ${HOSTS * MACS} remote MACs: control + dataplane`, value: hBoth / 1048576, unit: 'MB', baseline: 'in-memory dataplane alone', ratio: hBoth / hAlone });
      rows.push({ name: 'in-memory dataplane alone', value: hAlone / 1048576, unit: 'MB' });
      void alone;

      // Latency at 1,000 changes/s: new MACs at random hosts.
      const published = new Map<string, number>();
      const programmed: number[] = [];
      const watched: number[] = [];
      const dp = newDataplane();
      const addFdb = dp.addFdb.bind(dp);
      dp.addFdb = (bridge, mac, to) => {
        const t = published.get(String(mac));
        if (t !== undefined) programmed.push(performance.now() - t);
        addFdb(bridge, mac, to);
      };
      const c = new EtcdControl(dp, { host: 'watcher', underlay: '198.18.0.1', etcd: { endpoints: etcd.endpoints() }, reconcileSeconds: 0, log: () => undefined });
      controls.push(c);
      await c.start();
      const w = await bare.watch().prefix(`${ROOT}hosts/`).create();
      w.on('put', (kv) => {
        const key = kv.key.toString();
        const t = published.get(key.slice(key.lastIndexOf('/') + 1));
        if (t !== undefined) watched.push(performance.now() - t);
      });
      const total = RATE * SECONDS;
      const perTick = RATE / 100;
      let sent = 0;
      let seed = 12345;
      const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
      const t0 = performance.now();
      while (sent < total) {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE) + perTick);
        // The changes due in this tick go in one transaction, as each EtcdControl batches its own.
        const ops = [];
        while (sent < due) {
          const h = 1 + (rand() % HOSTS);
          const mac = macAt(1, sent >> 8, sent & 0xff);
          published.set(mac, performance.now());
          ops.push({ request_put: { key: Buffer.from(Keys.mac(ROOT, `s${h}`, 'vxlan-42', mac)), value: Buffer.from('{"ips":[]}'), lease: leases[h - 1]! } });
          sent++;
        }
        for (let i = 0; i < ops.length; i += 128) {
          pub.kv.txn({ success: ops.slice(i, i + 128) }).catch((err: Error) => ctx.log(`txn failed: ${err.message}`));
        }
        await sleep(10);
      }
      const rate = total / ((performance.now() - t0) / 1000);
      await until(() => programmed.length >= total && watched.length >= total, 30000);
      await w.cancel();
      programmed.sort((a, b) => a - b);
      watched.sort((a, b) => a - b);
      ctx.log(`${total} changes at ${rate.toFixed(0)}/s`);
      rows.push({ name: `publication -> FDB entry, median (${rate.toFixed(0)} changes/s)`, value: quantile(programmed, 0.5), unit: 'ms', baseline: 'publication -> bare watch event, median', ratio: quantile(programmed, 0.5) / quantile(watched, 0.5) });
      rows.push({ name: `publication -> FDB entry, p99`, value: quantile(programmed, 0.99), unit: 'ms', baseline: 'publication -> bare watch event, p99', ratio: quantile(programmed, 0.99) / quantile(watched, 0.99) });
      rows.push({ name: 'publication -> bare watch event, median', value: quantile(watched, 0.5), unit: 'ms' });
      rows.push({ name: 'publication -> bare watch event, p99', value: quantile(watched, 0.99), unit: 'ms' });
      rows.push({ name: 'publication -> FDB entry, max', value: programmed[programmed.length - 1]!, unit: 'ms' });
      return rows;
    } finally {
      await Promise.all(controls.map((c) => c.stop().catch(() => undefined)));
      pub.close();
      bare.close();
      etcd.stop();
    }
  },
};
