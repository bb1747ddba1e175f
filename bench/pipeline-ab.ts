/**
 * `npm run bench -- pipeline --against=DIR`: this build's pipeline against
 * another build's (DIR: its compiled dist/, e.g. a checkout of an older
 * commit after `npx tsc -p .`), in one process. The three scenarios of
 * pipeline.ts run on a dataplane of each build, interleaved in short rounds
 * (the order alternating each round) so that both see the same machine; each
 * round measures CPU time per packet, and a row is the median over rounds of
 * this build's time divided by the other's (below 1: this build is faster).
 *
 * The first 5 rounds are warm-up. The spread from one process to the next
 * (JIT decisions) is larger than within one: run it a few times, or under
 * `node --single-threaded` for a steadier compiler.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Tunnel } from '../src/tunnel/tunnel.js';
import { encapInPlace } from '../src/tunnel/encap.js';
import type { Batch } from '../src/packet/batch.js';
import type { PacketPool } from '../src/packet/pool.js';
import type { Port } from '../src/io/port.js';
import type { BenchContext, BenchRow } from './harness.js';
import { SinkPort, frame } from './pipeline.js';

const N = 256;
/** Batches per scenario per round. */
const IT = 200;
const WARMUP = 5;

/** What the A/B uses of a build: the API every build since the single-loop pipeline has. */
interface Build {
  Dataplane: new (o: { pool: { slots: number } }) => DataplaneLike;
  Batch: new (pool: PacketPool, capacity: number) => Batch;
}

interface DataplaneLike {
  readonly pool: PacketPool;
  setUnderlay(o: { address: string; port: Port; mac: number; nextHopMac: number }): void;
  addBridge(o: { vni: number; flood: string[] }): number;
  addBridgePort(bridge: number, port: Port): number;
  addFdb(bridge: number, mac: number, o: { remote: string }): void;
  addVrf(o: { name: string; label: number }): unknown;
  addVrfPort(vrf: string, port: Port, o: { gateway: string }): number;
  addRoute(vrf: string, prefix: string, nexthops: { remote: string; encap: string; label: number }[]): unknown;
  routerMac(port: number): number;
  inject(port: string, batch: Batch): void;
  stats(): { drops: Record<string, number> };
  close(): void;
}

async function load(dist: string): Promise<Build> {
  const url = (f: string): string => pathToFileURL(path.join(dist, 'src', f)).href;
  const dp = (await import(url('dataplane/dataplane.js'))) as { Dataplane: Build['Dataplane'] };
  const batch = (await import(url('packet/batch.js'))) as { Batch: Build['Batch'] };
  return { Dataplane: dp.Dataplane, Batch: batch.Batch };
}

/** Frames kept in slots; refill() re-forms the batch (and, with `heads`, puts back the first 26 bytes routing changed). */
function feed(build: Build, dp: DataplaneLike, frames: Uint8Array[], heads: boolean): () => Batch {
  const b = new build.Batch(dp.pool, N);
  for (const f of frames) b.pushCopy(f);
  const slot = b.slot.slice(0, N);
  const start = b.start.slice(0, N);
  const len = b.len.slice(0, N);
  const head = new Uint8Array(N * 26);
  frames.forEach((f, i) => head.set(f.subarray(0, 26), i * 26));
  const u8 = dp.pool.u8;
  return () => {
    b.slot.set(slot);
    b.start.set(start);
    b.len.set(len);
    b.reason.fill(0);
    b.hash.fill(0);
    for (let i = 0; i < N; i++) dp.pool.retain(slot[i]!);
    b.count = N;
    if (heads) for (let i = 0; i < N; i++) u8.set(head.subarray(i * 26, i * 26 + 26), start[i]!);
    return b;
  };
}

type Scenario = 'bridge' | 'decap' | 'routed';
const SCENARIOS: Scenario[] = ['bridge', 'decap', 'routed'];
const LABEL: Record<Scenario, string> = {
  bridge: 'bridge local -> remote',
  decap: 'underlay -> local',
  routed: 'routed gateway -> mplsoudp',
};

/** A dataplane of `build` with pipeline.ts's set-up; one function per scenario. */
function setup(build: Build): { dp: DataplaneLike; run: Record<Scenario, () => void> } {
  const macA = 0x02fc18000001;
  const vm1 = 0x02000a000001;
  const vm2 = 0x02000a000002;
  const dp = new build.Dataplane({ pool: { slots: 8 * N + 64 } });
  dp.setUnderlay({ address: '198.18.0.1', port: new SinkPort('underlay'), mac: macA, nextHopMac: 0x02fc18000002 });
  const bd = dp.addBridge({ vni: 42, flood: ['198.18.0.2'] });
  dp.addBridgePort(bd, new SinkPort('vm1'));
  dp.addFdb(bd, vm2, { remote: '198.18.0.2' });
  const out = feed(build, dp, Array.from({ length: N }, (_, i) => frame(vm2, vm1, i)), false);
  const remote = new Tunnel({ proto: 'vxlan', vni: 42, src: '198.18.0.2', dst: '198.18.0.1', srcMac: 0x02fc18000002, dstMac: macA });
  const inner = Array.from({ length: N }, (_, i) => {
    const buf = new Uint8Array(192);
    buf.set(frame(vm1, vm2, i), 100);
    const ns = encapInPlace(remote, buf, 100, 64, 0);
    return buf.slice(ns, 164);
  });
  const inn = feed(build, dp, inner, false);
  dp.addVrf({ name: 'red', label: 100 });
  const gp = dp.addVrfPort('red', new SinkPort('vm3'), { gateway: '10.1.0.1/24' });
  dp.addRoute('red', '10.2.0.0/16', [{ remote: '198.18.0.3', encap: 'mplsoudp', label: 200 }]);
  const routed = feed(build, dp, Array.from({ length: N }, (_, i) => frame(dp.routerMac(gp), 0x02000a010002, i, 255)), true);
  return {
    dp,
    run: {
      bridge: () => dp.inject('vm1', out()),
      decap: () => dp.inject('underlay', inn()),
      routed: () => dp.inject('vm3', routed()),
    },
  };
}

function median(a: number[]): number {
  const s = a.slice().sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

/** CPU time per packet (ns) of IT batches of a scenario. */
function time(fn: () => void): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < IT; i++) fn();
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / (IT * N);
}

export async function runAgainst(ctx: BenchContext, against: string): Promise<BenchRow[]> {
  const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const other = path.resolve(against);
  const sides = { new: setup(await load(here)), old: setup(await load(other)) };
  const roundsArg = ctx.args.find((a) => a.startsWith('--rounds='));
  const rounds = WARMUP + (roundsArg !== undefined ? Math.max(1, Number(roundsArg.slice(9)) | 0) : ctx.args.includes('--quick') ? 15 : 51);
  const rows: BenchRow[] = [];
  for (const sc of SCENARIOS) {
    const ratios: number[] = [];
    const ns = { old: [] as number[], new: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['new', 'old'] as const) : (['old', 'new'] as const);
      const t = { old: 0, new: 0 };
      for (const k of order) t[k] = time(sides[k].run[sc]);
      if (r < WARMUP) continue;
      ratios.push(t.new / t.old);
      ns.old.push(t.old);
      ns.new.push(t.new);
    }
    const note = `this build ${median(ns.new).toFixed(1)} ns/pkt, ${against} ${median(ns.old).toFixed(1)} ns/pkt, ${rounds - WARMUP} rounds`;
    rows.push({ name: `${LABEL[sc]}: time, this build / other`, value: median(ratios), unit: 'x', note });
    ctx.log(`${sc} done`);
  }
  for (const k of ['new', 'old'] as const) {
    const d = sides[k].dp.stats().drops;
    if (Object.keys(d).length > 0) throw new Error(`pipeline --against: ${k === 'new' ? 'this build' : against} dropped ${JSON.stringify(d)}`);
    sides[k].dp.close();
  }
  return rows;
}
