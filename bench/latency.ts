/**
 * `npm run bench -- latency` (root): ping round trips between a guest behind
 * the local VTEP and one behind a Linux kernel VXLAN peer, in namespaces this
 * suite creates and deletes, four ways in the same run, one world each:
 *
 *   kernel   h1 ─veth─ [A: br0 + vx0 (Linux bridge and VXLAN)]  ─veth─ [P: vx0 + br0] ─veth─ h2
 *   C floor  h1 ─TAP── [A: latency_fwd, epoll, one frame per syscall] ─veth─ (the same peer)
 *   Node     h1 ─TAP── [A: bench/node-floor.ts, vtep's ports alone] ─veth─ (the same peer)
 *   vtep     h1 ─TAP── [A: `vtep run --config`]                 ─veth─ (the same peer)
 *   busy     h1 ─TAP── [A: `vtep run` with busyPollUs]          ─veth─ (the same peer)
 *
 * A measurement is `ping -c 300 -i 0.005` from h1 to h2 (per-packet times
 * parsed from its output: average and 99th percentile), idle and while a
 * paced 20k pps stream of 1,200-byte UDP payloads goes the same way (h1 ->
 * h2, e2e_traffic udp-paced, a sink in h2). Every veth keeps the kernel's
 * default offloads. The notes give the CPU of the forwarding process (the C
 * floor, vtep) as CPU seconds per wall second over the ping, from
 * /proc/PID/stat, and the stream's loss. Rounds interleave the variants,
 * rotating which goes first; a row's value is the median over rounds, its
 * ratio that of the medians; the note adds the median of the per-round
 * (paired) ratios.
 * `--rounds=N` (default 3; `--quick` 1), `--busy-poll=US` (the busy variant's
 * budget, default 10000: longer than the pings' 5 ms gap, so it never sleeps
 * while they come; a shorter one sleeps between pings and saves only the
 * reply's wake-up). VTEP_LAT_TAP_OFFLOADS=0: vtep's guest TAP without
 * offloads, as the floors' TAPs are. VTEP_LAT_NODE_FLAGS passes node flags to the vtep
 * children (their stdout is dropped; stderr shows on a failed start).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileC, type BenchRow, type BenchContext, type Suite } from './harness.js';
import type { VswitchConfigInput } from '../src/dataplane/config-types.js';
import { Netns, canUseNetns, waitExit, PACKAGE_DIR } from '../src/util/netns.js';
import { tempDir } from '../src/util/tempdir.js';
import { INTERRUPT_BUDGET } from '../src/cli/run.js';
import { CtlClient } from '../src/ops/client.js';
import type { BusyPollStats } from '../src/dataplane/busypoll.js';
import { PEER_WORLD, attachTap, configureHost, hostOnBridge, kernelPeerWorld, kernelVtep, run, sleep, until, waitLine } from '../src/util/topo.js';

const { vni: VNI, mtu: MTU, vm1: VM1, vm2: VM2, local: LOCAL, peer: PEER } = PEER_WORLD;
const PINGS = 300;
const PING_INTERVAL = '0.005';
const LOAD_PPS = 20_000;
const LOAD_PAYLOAD = 1200;
const LOAD_PORT = 9000;
/** The stream runs this long before the pings start, and past their end. */
const LOAD_LEAD_MS = 300;
const LOAD_SECONDS = 3.2;
const CLK_TCK = 100;
const WARM_PINGS = 1000;

const NAMES = ['kernel', 'cfloor', 'nfloor', 'vtep', 'busy', 'loop'] as const;
type Name = (typeof NAMES)[number];
const LABEL: Record<Name, string> = {
  kernel: 'kernel bridge+VXLAN',
  cfloor: 'C floor (epoll, 1 frame/syscall)',
  nfloor: 'Node floor (vtep ports, no pipeline)',
  vtep: 'vtep run',
  busy: 'vtep run busy-poll',
  loop: 'vtep run --poll-linger 0',
};

export interface Sample {
  /** Mean round trip, µs. */
  avg: number;
  /** 99th percentile, µs. */
  p99: number;
  lost: number;
  /** CPU seconds per wall second of the forwarding process during the pings, when there is one. */
  cpu?: number;
  /** Fraction of the stream's datagrams that reached the sink. */
  delivered?: number;
}

export interface World {
  a: Netns;
  p: Netns;
  h1: Netns;
  h2: Netns;
  /** The forwarding process (C floor, vtep run), when there is one. */
  proc?: ChildProcess;
  /** `vtep run`'s control socket. */
  sock?: string;
}

/** A world: the local side in `a` (left for the variant to build), the underlay veth, the kernel peer in `p` with h2 behind it. */
function world(prefix: string): World {
  const w = kernelPeerWorld(prefix, { local: LOCAL, peer: PEER, vni: VNI, mtu: MTU, vm2: VM2 });
  try {
    // No ARP in the measurements: both guests know each other.
    w.h2.ip('neigh', 'replace', VM1.ip, 'lladdr', VM1.mac, 'dev', 'eth0', 'nud', 'permanent');
  } catch (err) {
    deleteWorld(w);
    throw err;
  }
  return w;
}

export function deleteWorld(w: World | undefined): void {
  if (w === undefined) return;
  for (const ns of [w.h1, w.h2, w.a, w.p]) ns.delete();
}

/** h1's interface toward the local VTEP, addressed, with vm2 in its neighbour table. */
function guest1(w: World, dev: string): void {
  w.h1.ip('neigh', 'replace', VM2.ip, 'lladdr', VM2.mac, 'dev', dev, 'nud', 'permanent');
}

export function kernelWorld(): World {
  const w = world('lk');
  kernelVtep(w.a, { dev: 'u0', local: LOCAL, flood: [PEER], vni: VNI });
  w.a.exec(['bridge', 'fdb', 'add', VM2.mac, 'dev', 'vx0', 'master', 'static']);
  w.a.exec(['bridge', 'fdb', 'add', VM2.mac, 'dev', 'vx0', 'dst', PEER, 'self', 'permanent']);
  hostOnBridge(w.a, 'vm1p', 'br0', w.h1, { addr: `${VM1.ip}/24`, mac: VM1.mac, mtu: MTU });
  guest1(w, 'eth0');
  return w;
}

/**
 * A floor's world: a persistent TAP `dev` in h1 (the forwarder attaches to it there), the
 * forwarder `argv(w)` in `a`, started once it prints "start".
 */
async function floorWorld(prefix: string, dev: string, label: string, argv: (w: World) => string[]): Promise<World> {
  const w = world(prefix);
  try {
    w.h1.ip('tuntap', 'add', 'dev', dev, 'mode', 'tap');
    configureHost(w.h1, dev, { addr: `${VM1.ip}/24`, mac: VM1.mac, mtu: MTU });
    guest1(w, dev);
    w.proc = w.a.spawn(argv(w));
    const done = waitExit(w.proc, 3_700_000);
    if (!(await waitLine(w.proc, /start/, 10_000))) throw new Error(`${label} did not start: ${(await Promise.race([done, sleep(1000)]))?.stderr ?? ''}`);
    return w;
  } catch (err) {
    await stopProc(w.proc);
    deleteWorld(w);
    throw err;
  }
}

/** The C floor (bench/c/latency_fwd.c): epoll, one frame per system call. */
export function cWorld(exe: string): Promise<World> {
  return floorWorld('lc', 'vm1c', 'latency_fwd', (w) => [exe, w.h1.path, 'vm1c', LOCAL, PEER, String(VNI), '3600']);
}

/**
 * The Node floor (bench/node-floor.ts): the C floor's work with vtep's TAP and UDP ports in a
 * node process, with `vtep run`'s V8 tier-up budget.
 */
export function nodeWorld(): Promise<World> {
  const script = path.join(PACKAGE_DIR, 'dist', 'bench', 'node-floor.js');
  return floorWorld('ln', 'vm1n', 'node-floor', (w) => [process.execPath, `--interrupt-budget=${INTERRUPT_BUDGET}`, script, w.h1.path, 'vm1n', LOCAL, PEER, String(VNI)]);
}

/** `vtep run --config` with its TAP created in `a` and moved into h1. */
export async function vtepWorld(prefix: string, dir: string, busyPollUs: number, log: (l: string) => void, runArgs: string[] = []): Promise<World> {
  const w = world(prefix);
  const config: VswitchConfigInput = {
    underlay: { address: LOCAL, netns: w.a.name },
    bridges: [{
      vni: VNI, flood: [PEER],
      // VTEP_LAT_TAP_OFFLOADS=0: the guest's TAP without offloads (no virtio-net header), as the floors' TAPs.
      ports: [{ tap: 'vm1tap', netns: w.a.name, mtu: MTU, mac: VM1.mac, ...(process.env.VTEP_LAT_TAP_OFFLOADS === '0' ? { offloads: false } : {}) }],
      fdb: [{ mac: VM2.mac, remote: PEER }],
    }],
    ...(busyPollUs > 0 ? { busyPollUs } : {}),
  };
  const file = path.join(dir, `${prefix}.json`);
  writeFileSync(file, JSON.stringify(config));
  try {
    // VTEP_LAT_NODE_FLAGS: node/V8 flags for the vtep children (--trace-gc, --trace-deopt, --perf-basic-prof) when looking into a figure.
    const flags = (process.env.VTEP_LAT_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
    w.sock = path.join(dir, `${prefix}.sock`);
    const child = spawn(process.execPath, [...flags, path.join(PACKAGE_DIR, 'bin', 'vtep.js'), 'run', '--config', file, '--socket', w.sock, ...runArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    w.proc = child;
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    // VTEP_LAT_CHILD_LOG=FILE: the children's standard output (what --trace-opt and the like print) appended to FILE.
    const childLog = process.env.VTEP_LAT_CHILD_LOG;
    if (childLog !== undefined) child.stdout!.on('data', (d: Buffer) => appendFileSync(childLog, d));
    else child.stdout!.resume();
    if (!(await until(() => err.includes('running with') || child.exitCode !== null, 15_000)) || child.exitCode !== null) {
      throw new Error(`vtep run did not start: ${err}`);
    }
    attachTap(w.a, 'vm1tap', w.h1, { addr: `${VM1.ip}/24` });
    guest1(w, 'vm1tap');
    log(`vtep run${busyPollUs > 0 ? ` busy-poll ${busyPollUs} µs` : ''}${runArgs.length > 0 ? ` ${runArgs.join(' ')}` : ''}: pid ${child.pid}`);
    return w;
  } catch (err) {
    await stopProc(w.proc);
    deleteWorld(w);
    throw err;
  }
}

export async function stopProc(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, sleep(5000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Busy-poll's counters of a `vtep run` world (stats().busyPoll over its control socket), if it answers. */
async function busyPollStats(w: World): Promise<BusyPollStats | undefined> {
  if (w.sock === undefined) return undefined;
  try {
    const c = await CtlClient.connect(w.sock);
    try {
      return ((await c.request('stats')) as { busyPoll?: BusyPollStats }).busyPoll;
    } finally {
      c.close();
    }
  } catch {
    return undefined;
  }
}

/** User + system CPU ticks of a process (all its threads). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** Round trips in µs from ping's per-packet lines ("... time=0.123 ms"). */
export function parsePing(out: string): number[] {
  const rtts: number[] = [];
  for (const m of out.matchAll(/ time=([\d.]+) ms/g)) rtts.push(Number(m[1]) * 1000);
  return rtts;
}

/** The q-quantile (0..1) of xs, nearest rank. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** One run of PINGS pings h1 -> h2, with the process's CPU over it. */
export async function pings(w: World, count = PINGS, interval = PING_INTERVAL): Promise<Sample> {
  const pid = w.proc?.pid;
  const c0 = pid === undefined ? 0 : cpuTicks(pid);
  const t0 = performance.now();
  const r = await run(w.h1, ['ping', '-n', '-c', String(count), '-i', interval, '-W', '1', VM2.ip], 60_000);
  const wall = (performance.now() - t0) / 1000;
  const c1 = pid === undefined ? 0 : cpuTicks(pid);
  const rtts = parsePing(r.stdout);
  if (rtts.length === 0) throw new Error(`ping from ${w.h1.name}: no replies (exit ${r.code}): ${r.stdout.slice(-300)}${r.stderr}`);
  const s: Sample = { avg: rtts.reduce((a, b) => a + b, 0) / rtts.length, p99: quantile(rtts, 0.99), lost: count - rtts.length };
  if (pid !== undefined) s.cpu = (c1 - c0) / CLK_TCK / wall;
  return s;
}

/** pings() while the paced stream runs h1 -> h2. */
async function loaded(w: World, exe: string): Promise<Sample> {
  const sink = w.h2.spawn([exe, 'udp-sink', String(LOAD_PORT), String(LOAD_SECONDS + 1)]);
  const sinkDone = waitExit(sink, 30_000);
  let src: ChildProcess | undefined;
  try {
    if (!(await waitLine(sink, /start/, 10_000))) throw new Error(`udp sink did not start: ${(await sinkDone).stderr}`);
    src = w.h1.spawn([exe, 'udp-paced', VM2.ip, String(LOAD_PORT), String(LOAD_PPS), String(LOAD_SECONDS), String(LOAD_PAYLOAD)]);
    const srcDone = waitExit(src, 30_000);
    if (!(await waitLine(src, /start/, 10_000))) throw new Error(`udp source did not start: ${(await srcDone).stderr}`);
    await sleep(LOAD_LEAD_MS);
    const s = await pings(w);
    const [a, b] = [await srcDone, await sinkDone];
    const count = (out: string): number => Number(out.trim().split('\n').at(-1)?.split(' ')[0]);
    if (a.code !== 0) throw new Error(`udp source: exit ${a.code}: ${a.stderr}`);
    s.delivered = count(b.stdout) / count(a.stdout);
    return s;
  } finally {
    if (src !== undefined && src.exitCode === null) src.kill('SIGKILL');
    if (sink.exitCode === null) sink.kill('SIGKILL');
  }
}

function us(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(0)} µs`;
}

async function runSuite(ctx: BenchContext): Promise<BenchRow[]> {
  if (!canUseNetns()) {
    console.log('latency: skipped (needs root, /dev/net/tun and ip)');
    return [];
  }
  if (spawnSync('ping', ['-V']).error !== undefined) {
    console.log('latency: skipped (needs ping, Debian package iputils-ping)');
    return [];
  }
  const roundsArg = ctx.args.find((a) => a.startsWith('--rounds='));
  const rounds = roundsArg !== undefined ? Math.max(1, Number(roundsArg.slice(9)) | 0) : ctx.args.includes('--quick') ? 1 : 3;
  const busyArg = ctx.args.find((a) => a.startsWith('--busy-poll='));
  const busyUs = busyArg !== undefined ? Math.max(1, Number(busyArg.slice(12)) | 0) : 10_000;
  const traffic = compileC('e2e_traffic.c');
  const fwd = compileC('latency_fwd.c');
  const tmp = tempDir('bench-lat');
  const worlds: Partial<Record<Name, World>> = {};
  try {
    worlds.kernel = kernelWorld();
    worlds.cfloor = await cWorld(fwd);
    worlds.nfloor = await nodeWorld();
    worlds.vtep = await vtepWorld('lv', tmp.dir, 0, ctx.log);
    worlds.busy = await vtepWorld('lb', tmp.dir, busyUs, ctx.log);
    // Every wake-up round the event loop (no linger): what lingering changes.
    worlds.loop = await vtepWorld('ll', tmp.dir, 0, ctx.log, ['--poll-linger', '0']);
    // Warm-up: the peers learn the guests' MACs, caches settle, and V8 optimizes
    // vtep's packet path (it does so after a few thousand packets at this rate).
    for (const n of NAMES) await pings(worlds[n]!, WARM_PINGS, '0.002');
    const idle: Record<Name, Sample[]> = { kernel: [], cfloor: [], nfloor: [], vtep: [], busy: [], loop: [] };
    const load: Record<Name, Sample[]> = { kernel: [], cfloor: [], nfloor: [], vtep: [], busy: [], loop: [] };
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < NAMES.length; k++) {
        const n = NAMES[(r + k) % NAMES.length]!;
        const w = worlds[n]!;
        if (w.proc !== undefined && w.proc.exitCode !== null) throw new Error(`${LABEL[n]}: exited (${w.proc.exitCode})`);
        idle[n].push(await pings(w));
        load[n].push(await loaded(w, traffic));
      }
      const line = (xs: Record<Name, Sample[]>): string => NAMES.map((n) => `${n} ${us(xs[n].at(-1)!.avg)}/${us(xs[n].at(-1)!.p99)}`).join(', ');
      ctx.log(`round ${r + 1} avg/p99: idle ${line(idle)}; loaded ${line(load)}`);
    }
    // What busy-poll did over the whole run (its counters from `vtep run`'s control socket).
    const bp = await busyPollStats(worlds.busy!);
    const bpNote = bp === undefined ? '' : `, over the run: ${bp.packets} packets read spinning, ${bp.backoffs} back-offs (preempted), ${bp.spinSeconds.toFixed(1)} s spinning`;
    if (bp !== undefined) ctx.log(`busy-poll${bpNote.slice(1)}`);
    const rows: BenchRow[] = [];
    for (const [cond, xs] of [['idle', idle], ['loaded', load]] as const) {
      const med = (n: Name, f: 'avg' | 'p99'): number => median(xs[n].map((s) => s[f]));
      // The median of the per-round ratios: rounds run back to back, so a pair shares the
      // machine's state (on a shared machine the kernel's own round trip moves 3x between rounds).
      const paired = (n: Name, base: Name, f: 'avg' | 'p99'): number => median(xs[n].map((s, r) => s[f] / xs[base][r]![f]));
      for (const f of ['avg', 'p99'] as const) {
        for (const n of NAMES) {
          const vals = xs[n].map((s) => s[f]);
          const notes = [`${vals.length} rounds ${us(Math.min(...vals))}-${us(Math.max(...vals))}`];
          const cpus = xs[n].map((s) => s.cpu).filter((c): c is number => c !== undefined);
          if (cpus.length > 0) notes.push(`CPU ${median(cpus).toFixed(2)} s/s`);
          const lost = xs[n].reduce((a, s) => a + s.lost, 0);
          if (lost > 0) notes.push(`${lost} pings lost`);
          const del = xs[n].map((s) => s.delivered).filter((c): c is number => c !== undefined);
          if (del.length > 0) notes.push(`stream delivered ${(median(del) * 100).toFixed(1)}%`);
          if (n === 'busy') notes.push(`budget ${busyUs} µs${bpNote}`);
          const row: BenchRow = { name: `${cond} ${f}: ${LABEL[n]}`, value: med(n, f), unit: 'µs', note: notes.join(', ') };
          const base: Name | undefined = n === 'vtep' || n === 'loop' || n === 'nfloor' ? 'cfloor' : n === 'busy' && f === 'avg' ? 'kernel' : undefined;
          if (base !== undefined) {
            row.baseline = LABEL[base];
            row.ratio = med(n, f) / med(base, f);
            row.note += `, paired ${paired(n, base, f).toFixed(2)}x`;
            if (n !== 'loop' && n !== 'nfloor') row.note += `, target ≤${n === 'busy' ? 2 : f === 'avg' ? 1.2 : 1.5}x`;
          }
          rows.push(row);
          // vtep against the Node floor: what the dataplane adds to the runtime's own wake-up.
          if (n === 'vtep') rows.push({ name: `${cond} ${f}: ${LABEL.vtep}`, value: med('vtep', f), unit: 'µs', baseline: LABEL.nfloor, ratio: med('vtep', f) / med('nfloor', f), note: `paired ${paired('vtep', 'nfloor', f).toFixed(2)}x` });
        }
        if (f === 'p99') {
          // The busy-poll variant against the C floor too: what spinning buys over a wake-up.
          rows.push({ name: `${cond} p99: ${LABEL.busy}`, value: med('busy', 'p99'), unit: 'µs', baseline: LABEL.cfloor, ratio: med('busy', 'p99') / med('cfloor', 'p99') });
        }
      }
    }
    return rows;
  } finally {
    for (const n of NAMES) await stopProc(worlds[n]?.proc);
    for (const n of NAMES) deleteWorld(worlds[n]);
    tmp.done();
  }
}

export const suite: Suite = {
  description: 'ping round trips guest -> kernel VXLAN peer -> guest, idle and under 20k pps: kernel bridge+VXLAN vs a C epoll forwarder vs vtep run (default, busy-poll)',
  needsRoot: true,
  run: runSuite,
};
