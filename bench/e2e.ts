/**
 * `npm run bench -- e2e` (root): the whole path, VM -> TAP -> VXLAN -> UDP
 * -> a kernel VXLAN peer -> VM, in namespaces this suite creates and deletes,
 * four ways in the same run:
 *
 *   kernel  [bkv: vm1tap + br0 + vx0 (Linux bridge and VXLAN)] ─veth─ [bkp: vx0 + br0] ─veth─ bk2 (vm2)
 *   vtep    bv1 (vm1) ─TAP─ [bvv: `vtep run` child] ──────────veth─ [bvp: vx0 + br0] ─veth─ bv2 (vm2)
 *   C loop  bv1 (vm1) ─TAP─ [bvv: e2e_traffic fwd]  ──────────veth─ (the same peer), plain and with UDP GSO
 *
 * Packets per second: a traffic source plays vm1 and sends one UDP flow of
 * 60-byte frames (64 with the FCS: "64B") or 1400-byte frames for a few
 * seconds (bench/c/e2e_traffic.c). For vtep and the C loops it is the VM's
 * kernel: AF_PACKET sendmmsg on the TAP in vm1's namespace, the dataplane
 * reads the TAP's other end; when the TAP's queue is full the source sleeps
 * 50 µs (VTEP_E2E_BACKOFF) as a guest waits for its ring, instead of spinning
 * on drops and taking the CPU from the reader. For the kernel it writes the
 * frames into the TAP's fd as qemu would, which runs TAP -> bridge -> VXLAN
 * -> UDP (and, over the veth, the peer's receive path) in the writer's own
 * context on one core. What arrives is counted at the receiver: rx_packets
 * of vm2's eth0 over a 2 s window after a warm-up. The C loops (read() the
 * TAP until EAGAIN, prepend VXLAN in place, one sendmmsg per batch, with or
 * without UDP_SEGMENT) show what a plain userspace program reaches with the
 * same system calls as the addon.
 *
 * TCP: one connection each way, vm1 -> vm2 and vm2 -> vm1 (C programs, 256
 * KiB writes), goodput at the receiver. vtep's vm1 sits behind its TAP, with
 * the offloads `vtep run` grants (TSO, checksum: the guest hands over 64 KB
 * super-frames); the kernel's vm1 behind a veth in its bridge; every veth with
 * the kernel's default offloads. Per direction: CPU-seconds per GB of the
 * whole machine (busy and softirq: both TCP ends are in it, alike for both)
 * and of the vtep process, and the vtep child's garbage collections during
 * the streams (node --trace-gc): those its allocation caused, with the
 * steady state's apart (rounds after the first: the first may allocate while
 * the JIT warms up), and the memory reducer's (V8 shrinking the heap a few
 * seconds after start-up's garbage: at most three, whatever the traffic).
 * VTEP_E2E_LOOP=1 adds the child's event-loop iterations and the wake-ups
 * served in lingers per second (a stats dump before and after each stream:
 * garbage in the child, so its GC counts are then not the dataplane's alone).
 * `--tcp`: the TCP rows only. VTEP_E2E_TAP_OFFLOADS=0:
 * the guest's TAP without offloads, for comparison. `--tunnel-gso` adds
 * two variants that write the underlay as frames through a TAP bridged to the
 * underlay veth, with Linux 6.17's UDP-tunnel GSO header (see tunnelGsoWorld):
 * `vtep run` with `underlay.tap`, and bench/c/tunnel_gso.c, a C prototype.
 * `--sock-proto` adds bench/c/sock_fwd.c, a C prototype of vtep's own path
 * (guest TAP with offloads, UDP socket with GRO and GSO, no payload copy
 * beyond the kernel's), in one loop and with a thread per direction: what
 * any userspace VTEP on sockets reaches here.
 *
 * vtep runs as a `vtep run --config` child (the product as shipped); the
 * notes give the CPU share of the process doing the path during the window
 * (vtep, the C loop, or for the kernel the writer; as the kernel accounts
 * it, softirq work done in the process's context may not be in it), the
 * busy cores of the whole machine (/proc/stat: ours and everyone else's),
 * the TAP's drops and the source's rate. Rounds interleave the variants, rotating which goes
 * first; a row's value is the median over rounds, the note adds the spread
 * and the median of the per-round (paired) ratios. `--quick`: one round,
 * `--rounds=N`. The machine is shared and has two cores, so absolute numbers
 * move from run to run; the ratio is the result.
 *
 * `--profile`: the dataplane in this process instead, its TAP readBatch,
 * pipeline and UDP writeBatch timed per call: where a frame's time goes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileC, type BenchRow, type BenchContext, type Suite } from './harness.js';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { fromConfig } from '../src/dataplane/fromconfig.js';
import type { VswitchConfigInput } from '../src/dataplane/config-types.js';
import type { Batch } from '../src/packet/batch.js';
import { Netns, veth, waitExit, PACKAGE_DIR } from '../src/util/netns.js';
import { tempDir } from '../src/util/tempdir.js';
import { PEER_WORLD, attachTap, configureHost, kernelPeerWorld, kernelVtep, run, runOk, sleep, until, waitLine } from '../src/util/topo.js';

const { vni: VNI, mtu: MTU, vm1: VM1, vm2: VM2, local: LOCAL, peer: PEER } = PEER_WORLD;
/** Frame sizes (no FCS): 60 is the 64-byte minimum on the wire. */
const SIZES = [
  { len: 60, label: '64B' },
  { len: 1400, label: '1400B' },
] as const;
const WARM_MS = 400;
const WINDOW_MS = 2000;
// VTEP_E2E_TCP_SECONDS: longer streams (for profiling the child, e.g. with perf record -p).
const TCP_SECONDS = Number(process.env.VTEP_E2E_TCP_SECONDS ?? 2.5);
const CLK_TCK = 100;
const BACKOFF_US = Number(process.env.VTEP_E2E_BACKOFF ?? 50);

interface Sample {
  /** Packets (or bits) per second at the receiver. */
  rate: number;
  /** Busy CPUs of the whole machine during the window (2 = both cores). */
  busy?: number;
  /** Frames the TAP dropped because its reader (the dataplane) fell behind, per second. */
  tapDrops?: number;
  /** CPU share (1 = one core) of the dataplane process during the window, when known. */
  cpu?: number;
  /** Frames per second the source got into the TAP (written, or taken by the device). */
  offered?: number;
  /** TCP: bytes received, the stream's wall seconds, machine softirq cores, GCs of the vtep child (and its memory reducer's). */
  bytes?: number;
  seconds?: number;
  softirq?: number;
  gcs?: number;
  reducerGcs?: number;
  /** `vtep run` only: event-loop iterations and the wake-ups served in lingers (src/io/poll-loop.ts) during the stream. */
  iterations?: number;
  lingerCallbacks?: number;
}

interface World {
  nsA: Netns;
  nsP: Netns;
  h1: Netns;
  h2: Netns;
}

/** Two namespaces joined by the underlay veth, a kernel VXLAN peer in nsP with vm2 behind it. */
function world(prefix: string, localAddress = true): World {
  const w = kernelPeerWorld(prefix, { local: LOCAL, peer: PEER, vni: VNI, mtu: MTU, vm2: VM2, localAddress });
  return { nsA: w.a, nsP: w.p, h1: w.h1, h2: w.h2 };
}

/**
 * `--tunnel-gso`: the world of bench/c/tunnel_gso.c, a C prototype of the path that writes the
 * underlay as frames: in nsA the underlay veth and a TAP (utap) are bridged, with no address;
 * the peer has a static neighbour entry for LOCAL; vm1 sits behind the TAP vm1t, whose
 * gso_max_size keeps a super-frame and its 50 bytes of outer headers in one IPv4 packet.
 */
function tunnelGsoWorld(prefix: string, forVtep = false): World & { peerMac: string } {
  const w = world(prefix, false);
  try {
    const { nsA, nsP, h1 } = w;
    // A MAC of its own, so that bridging the TAP in does not change it (docs/offload.md).
    nsA.ip('link', 'add', 'ub0', 'address', '02:fc:18:00:00:fe', 'type', 'bridge');
    nsA.ip('link', 'set', 'u0', 'master', 'ub0');
    nsA.ip('link', 'set', 'ub0', 'up');
    // vtep run: the bridge holds LOCAL (the kernel answers ARP, vtep's sockets receive, the TAP sends).
    // The prototype: nothing holds LOCAL; the peer has a neighbour entry for it.
    if (forVtep) nsA.ip('addr', 'add', `${LOCAL}/24`, 'dev', 'ub0');
    else nsP.ip('neigh', 'replace', LOCAL, 'lladdr', PROTO_MAC, 'dev', 'u0');
    if (!forVtep) {
      // vtep run makes its own TAPs (vtepu0 is bridged once it exists; vm1tap is moved to h1).
      nsA.ip('tuntap', 'add', 'dev', 'utap', 'mode', 'tap', 'vnet_hdr');
      nsA.ip('link', 'set', 'utap', 'master', 'ub0');
      nsA.ip('link', 'set', 'utap', 'up');
      h1.ip('tuntap', 'add', 'dev', 'vm1t', 'mode', 'tap', 'vnet_hdr');
      h1.ip('link', 'set', 'vm1t', 'gso_max_size', '65000');
      configureHost(h1, 'vm1t', { addr: `${VM1.ip}/24`, mac: VM1.mac, mtu: MTU });
    }
    return { ...w, peerMac: nsP.exec(['cat', '/sys/class/net/u0/address']).trim() };
  } catch (err) {
    deleteWorld(w);
    throw err;
  }
}

/** The prototype's underlay MAC (the peer's static neighbour entry for LOCAL). */
const PROTO_MAC = '02:fc:18:00:00:01';

function deleteWorld(w: World | undefined): void {
  if (w === undefined) return;
  for (const ns of [w.h1, w.h2, w.nsA, w.nsP]) ns.delete();
}

/** The kernel as the local VTEP: br0 + vx0 in nsA, a persistent TAP for the source, a veth to vm1 for TCP. */
function kernelSide(w: World): void {
  const { nsA, h1 } = w;
  kernelVtep(nsA, { dev: 'u0', local: LOCAL, flood: [PEER], vni: VNI });
  nsA.exec(['bridge', 'fdb', 'add', VM2.mac, 'dev', 'vx0', 'master', 'static']);
  nsA.exec(['bridge', 'fdb', 'add', VM2.mac, 'dev', 'vx0', 'dst', PEER, 'self', 'permanent']);
  nsA.ip('tuntap', 'add', 'dev', 'vm1tap', 'mode', 'tap');
  nsA.ip('link', 'set', 'vm1tap', 'mtu', String(MTU));
  nsA.ip('link', 'set', 'vm1tap', 'master', 'br0');
  nsA.ip('link', 'set', 'vm1tap', 'up');
  veth(nsA, 'vm1p', undefined, h1, 'eth0', undefined);
  nsA.ip('link', 'set', 'vm1p', 'master', 'br0');
  configureHost(h1, 'eth0', { addr: `${VM1.ip}/24`, mac: VM1.mac, mtu: MTU });
}

/** rx_packets and rx_bytes of a device, read without blocking the event loop. */
async function rx(ns: Netns, dev: string): Promise<{ packets: number; t: number }> {
  const t0 = process.hrtime.bigint();
  const out = await runOk(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', dev], 5000);
  const t1 = process.hrtime.bigint();
  const j = JSON.parse(out) as { stats64: { rx: { packets: number } } }[];
  // The read happened somewhere in between: take the middle.
  return { packets: j[0]!.stats64.rx.packets, t: Number((t0 + t1) / 2n) };
}

/** User + system CPU ticks of a process. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** Busy jiffies (all CPUs: everything but idle and iowait) and the CPU count, from /proc/stat. */
function systemBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return total - f[3]! - f[4]!;
}

/** Parses a traffic program's last line: count wall_ns cpu_ns. */
function programResult(stdout: string): { count: number; wall: number; cpu: number } {
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const [count, wall, cpu] = last.split(' ').map(Number);
  if (!Number.isFinite(count) || !Number.isFinite(wall)) throw new Error(`traffic program: unexpected output ${JSON.stringify(stdout)}`);
  return { count: count!, wall: wall!, cpu: cpu! };
}

/**
 * Runs a traffic source (already spawned) and measures what reaches vm2's
 * eth0 during a window after the warm-up; `cpuPid` is the dataplane process
 * whose CPU share is reported.
 */
async function window(src: ChildProcess, h2: Netns, cpuPid?: number, tap?: { ns: Netns; dev: string }): Promise<Sample> {
  const done = waitExit(src, 30_000);
  if (!(await waitLine(src, /start/, 10_000))) throw new Error(`traffic source did not start: ${(await done).stderr}`);
  await sleep(WARM_MS);
  const d0 = tap === undefined ? undefined : await txDropped(tap.ns, tap.dev);
  const c0 = cpuPid === undefined ? 0 : cpuTicks(cpuPid);
  const s0 = systemBusy();
  const a = await rx(h2, 'eth0');
  await sleep(WINDOW_MS);
  const b = await rx(h2, 'eth0');
  const s1 = systemBusy();
  const c1 = cpuPid === undefined ? 0 : cpuTicks(cpuPid);
  const d1 = tap === undefined ? undefined : await txDropped(tap.ns, tap.dev);
  const r = await done;
  if (r.code !== 0) throw new Error(`traffic source: exit ${r.code}: ${r.stderr}`);
  const p = programResult(r.stdout);
  const seconds = (b.t - a.t) / 1e9;
  const s: Sample = { rate: (b.packets - a.packets) / seconds, offered: p.count / (p.wall / 1e9), busy: (s1 - s0) / CLK_TCK / seconds };
  // Without a dataplane process (the kernel path), the source's own CPU share is the path's.
  s.cpu = cpuPid !== undefined ? (c1 - c0) / CLK_TCK / seconds : p.cpu / p.wall;
  if (d0 !== undefined && d1 !== undefined) s.tapDrops = (d1 - d0) / seconds;
  return s;
}

/** tx_dropped of a TAP: frames its queue had no room for (the reader fell behind). */
async function txDropped(ns: Netns, dev: string): Promise<number> {
  const out = await runOk(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', dev], 5000);
  return (JSON.parse(out) as { stats64: { tx: { dropped: number } } }[])[0]!.stats64.tx.dropped;
}

const SOURCE_SECONDS = (WARM_MS + WINDOW_MS + 600) / 1000;

/** Softirq jiffies of the whole machine (all CPUs), from /proc/stat: where the kernel's packet path runs. */
function systemSoftirq(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f[6]!;
}

/**
 * Garbage collections the `vtep run` child has logged (--trace-gc), counted
 * by startVtep: `count` those allocation caused, `reducer` the memory
 * reducer's ("Mark-Compact (reduce)").
 */
const gcLog = { count: 0, reducer: 0 };

/** The `loop` counters of the last stats line a `vtep run` child printed (on SIGUSR1), and how many it printed. */
const loopLog = { last: undefined as { iterations: number; callbacks: number } | undefined, lines: 0 };

/** Asks a `vtep run` child for its counters (SIGUSR1) and returns their `loop` part. */
async function loopStats(pid: number): Promise<{ iterations: number; callbacks: number } | undefined> {
  const seen = loopLog.lines;
  process.kill(pid, 'SIGUSR1');
  await until(() => loopLog.lines > seen, 2000);
  return loopLog.lines > seen ? loopLog.last : undefined;
}

/**
 * One TCP stream from `from` to `to` (address toIp) for TCP_SECONDS; goodput
 * at the receiver in bit/s. CPU while it runs: the dataplane process's share
 * (cpuPid), the machine's busy and softirq cores, and GCs of the vtep child.
 */
async function tcpStream(exe: string, from: Netns, to: Netns, toIp: string, cpuPid?: number, vtep = false): Promise<Sample> {
  const sink = to.spawn([exe, 'tcp-sink', '5001', String(TCP_SECONDS + 5)]);
  const sinkDone = waitExit(sink, 30_000);
  try {
    if (!(await waitLine(sink, /ready/, 10_000))) throw new Error(`tcp sink did not start: ${(await sinkDone).stderr}`);
    // VTEP_E2E_LOOP=1: the child's loop counters around the stream (a stats dump each: garbage in the child, so off by default).
    const l0 = vtep && cpuPid !== undefined && process.env.VTEP_E2E_LOOP === '1' ? await loopStats(cpuPid) : undefined;
    const c0 = cpuPid === undefined ? 0 : cpuTicks(cpuPid);
    const s0 = systemBusy();
    const q0 = systemSoftirq();
    const g0 = gcLog.count;
    const r0 = gcLog.reducer;
    const t0 = Date.now();
    const src = await run(from, [exe, 'tcp-source', toIp, '5001', String(TCP_SECONDS)], 30_000);
    const seconds = (Date.now() - t0) / 1000;
    const c1 = cpuPid === undefined ? 0 : cpuTicks(cpuPid);
    const s1 = systemBusy();
    const q1 = systemSoftirq();
    const r = await sinkDone;
    if (src.code !== 0 || r.code !== 0) throw new Error(`tcp stream: source exit ${src.code} ${src.stderr}; sink exit ${r.code} ${r.stderr}`);
    const got = programResult(r.stdout);
    const s: Sample = { rate: (got.count * 8) / (got.wall / 1e9), bytes: got.count, busy: (s1 - s0) / CLK_TCK / seconds, softirq: (q1 - q0) / CLK_TCK / seconds, seconds };
    if (cpuPid !== undefined) {
      s.cpu = (c1 - c0) / CLK_TCK / seconds;
      s.gcs = gcLog.count - g0;
      s.reducerGcs = gcLog.reducer - r0;
      const l1 = l0 !== undefined ? await loopStats(cpuPid) : undefined;
      if (l0 !== undefined && l1 !== undefined) {
        s.iterations = l1.iterations - l0.iterations;
        s.lingerCallbacks = l1.callbacks - l0.callbacks;
      }
    }
    return s;
  } finally {
    if (sink.exitCode === null) sink.kill('SIGKILL');
  }
}

/** GCs over a variant's streams: all, those of the rounds after the first (steady state), the memory reducer's. */
function gcNote(xs: Sample[]): string {
  const sum = (ys: Sample[], f: (x: Sample) => number | undefined): number => ys.reduce((a, x) => a + (f(x) ?? 0), 0);
  return `${sum(xs, (x) => x.gcs)} (${sum(xs.slice(1), (x) => x.gcs)} after the first round; memory reducer ${sum(xs, (x) => x.reducerGcs)})`;
}

/** Event-loop iterations and wake-ups served in lingers per second, medians over a variant's streams. */
function loopNote(xs: Sample[]): string {
  const ys = xs.filter((x) => x.iterations !== undefined && x.seconds !== undefined);
  if (ys.length === 0) return '';
  const per = (f: (x: Sample) => number): string => median(ys.map((x) => f(x) / x.seconds!)).toFixed(0);
  return `, event-loop iterations ${per((x) => x.iterations!)}/s, wake-ups served in lingers ${per((x) => x.lingerCallbacks!)}/s`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(v: number): string {
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(0)}k`;
  return v.toFixed(2);
}

function row(name: string, unit: string, xs: Sample[], base?: { name: string; xs: Sample[] }): BenchRow {
  const rates = xs.map((x) => x.rate);
  const r: BenchRow = { name, value: median(rates), unit };
  const notes = [`${xs.length} runs ${fmt(Math.min(...rates))}-${fmt(Math.max(...rates))}`];
  const cpus = xs.map((x) => x.cpu).filter((c): c is number => c !== undefined);
  if (cpus.length > 0) notes.push(`path CPU ${(median(cpus) * 100).toFixed(0)}%`);
  const busy = xs.map((x) => x.busy).filter((c): c is number => c !== undefined);
  if (busy.length > 0) notes.push(`machine ${median(busy).toFixed(2)} cores busy`);
  const drops = xs.map((x) => x.tapDrops).filter((c): c is number => c !== undefined);
  if (drops.length > 0) notes.push(`TAP drops ${fmt(median(drops))}/s`);
  const offered = xs.map((x) => x.offered).filter((c): c is number => c !== undefined);
  if (offered.length > 0) notes.push(`source ${fmt(median(offered))}/s`);
  if (base !== undefined) {
    r.baseline = base.name;
    r.ratio = median(rates) / median(base.xs.map((x) => x.rate));
    notes.push(`paired ${median(xs.map((x, i) => x.rate / base.xs[i]!.rate)).toFixed(2)}x`);
  }
  r.note = notes.join(', ');
  return r;
}

/** The vtep world's vSwitch config. */
function vtepConfig(w: World, tap?: { peerMac: string }): VswitchConfigInput {
  return {
    underlay: { address: LOCAL, netns: w.nsA.name, ...(tap === undefined ? {} : { tap: { name: 'vtepu0', mac: PROTO_MAC, nextHopMac: tap.peerMac } }) },
    bridges: [{
      vni: VNI, flood: [PEER],
      // VTEP_E2E_TAP_OFFLOADS=0: the guest's TAP without offloads (its kernel segments what it sends), for comparison.
      ports: [{ tap: 'vm1tap', netns: w.nsA.name, mtu: MTU, mac: VM1.mac, ...(process.env.VTEP_E2E_TAP_OFFLOADS === '0' ? { offloads: false } : {}) }],
      fdb: [{ mac: VM2.mac, remote: PEER }],
    }],
  };
}

/** `vtep run` in the vtep world: its TAP created in nsA, moved into vm1's namespace. */
async function startVtep(w: World, dir: string, log: (l: string) => void, tap?: { peerMac: string }): Promise<ChildProcess> {
  const file = path.join(dir, tap === undefined ? 'vswitch.json' : 'vswitch-tap.json');
  writeFileSync(file, JSON.stringify(vtepConfig(w, tap)));
  // --trace-gc: one stdout line per collection, counted for the TCP rows (zero in steady state is the goal).
  // VTEP_E2E_NODE_ARGS: more node flags for the child (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
  // VTEP_E2E_VTEP_ARGS: more `vtep run` options (e.g. --poll-linger 0).
  const extra = (process.env.VTEP_E2E_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const runArgs = (process.env.VTEP_E2E_VTEP_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const child = spawn(process.execPath, ['--trace-gc', ...extra, path.join(PACKAGE_DIR, 'bin', 'vtep.js'), 'run', '--config', file, '--socket', `${file}.sock`, ...runArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  // VTEP_E2E_CHILD_LOG=FILE: the child's standard output and error appended to FILE (with --trace-deopt and the like).
  const childLog = process.env.VTEP_E2E_CHILD_LOG;
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (childLog !== undefined) appendFileSync(childLog, d);
  });
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    if (childLog !== undefined) appendFileSync(childLog, d);
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      if (l.startsWith('{') && l.includes('"loop"')) {
        loopLog.last = (JSON.parse(l) as { loop: { iterations: number; callbacks: number } }).loop;
        loopLog.lines++;
      } else if (l.includes('Mark-Compact (reduce)')) gcLog.reducer++;
      else if (l.includes('Scavenge') || l.includes('Mark-Compact')) gcLog.count++;
    }
  });
  if (!(await until(() => err.includes('running with') || child.exitCode !== null, 15_000)) || child.exitCode !== null) {
    child.kill('SIGKILL');
    throw new Error(`vtep run did not start: ${err}`);
  }
  if (tap !== undefined) w.nsA.ip('link', 'set', 'vtepu0', 'master', 'ub0');
  attachTap(w.nsA, 'vm1tap', w.h1, { addr: `${VM1.ip}/24` });
  log(`vtep run${tap === undefined ? '' : ' (underlay through a TAP)'}: pid ${child.pid}`);
  return child;
}

async function stopVtep(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function runSuite(ctx: BenchContext): Promise<BenchRow[]> {
  const roundsArg = ctx.args.find((a) => a.startsWith('--rounds='));
  const rounds = roundsArg !== undefined ? Math.max(1, Number(roundsArg.slice(9)) | 0) : ctx.args.includes('--quick') ? 1 : 4;
  const exe = compileC('e2e_traffic.c');
  const tmp = tempDir('bench-e2e');
  let kw: World | undefined;
  let vw: World | undefined;
  let vtep: ChildProcess | undefined;
  let tw: World | undefined;
  let tw2: World | undefined;
  let protoChild: ChildProcess | undefined;
  const sw: World[] = [];
  const sockChild: ChildProcess[] = [];
  let vtepTap: ChildProcess | undefined;
  try {
    kw = world('bk');
    kernelSide(kw);
    vw = world('bv');
    // The C loop's TAP: persistent, in vm1's namespace from the start (the program attaches to it there).
    vw.h1.ip('tuntap', 'add', 'dev', 'vm1c', 'mode', 'tap');
    vw.h1.ip('link', 'set', 'vm1c', 'mtu', String(MTU));
    vw.h1.ip('link', 'set', 'vm1c', 'up');
    vtep = await startVtep(vw, tmp.dir, ctx.log);
    const vpid = vtep.pid!;
    const K = kw;
    const V = vw;
    let proto: { w: World; pid: number; child: ChildProcess } | undefined;
    let vt: { w: World; pid: number } | undefined;
    if (ctx.args.includes('--tunnel-gso')) {
      const w = tunnelGsoWorld('bt');
      tw = w;
      const child = w.nsA.spawn([compileC('tunnel_gso.c'), w.h1.path, 'vm1t', 'utap', LOCAL, PEER, PROTO_MAC, w.peerMac, String(VNI), '3600']);
      protoChild = child;
      if (!(await waitLine(child, /start/, 10_000))) throw new Error('tunnel_gso did not start');
      proto = { w, pid: child.pid!, child };
      const w2 = tunnelGsoWorld('bu', true);
      tw2 = w2;
      vtepTap = await startVtep(w2, tmp.dir, ctx.log, { peerMac: w2.peerMac });
      vt = { w: w2, pid: vtepTap.pid! };
    }

    let sp: { w: World; pid: number } | undefined;
    let sp2: { w: World; pid: number } | undefined;
    if (ctx.args.includes('--sock-proto')) {
      // The prototype in one loop, and with a thread per direction (the other way to use two cores).
      const start = async (prefix: string, threads: boolean): Promise<{ w: World; pid: number }> => {
        const w = world(prefix);
        sw.push(w);
        w.h1.ip('tuntap', 'add', 'dev', 'vm1s', 'mode', 'tap', 'vnet_hdr');
        configureHost(w.h1, 'vm1s', { addr: `${VM1.ip}/24`, mac: VM1.mac, mtu: MTU });
        const child = w.nsA.spawn([compileC('sock_fwd.c', ['-pthread']), w.h1.path, 'vm1s', LOCAL, PEER, String(VNI), String(MTU), '3600', ...(threads ? ['threads'] : [])]);
        sockChild.push(child);
        if (!(await waitLine(child, /start/, 10_000))) throw new Error('sock_fwd did not start');
        return { w, pid: child.pid! };
      };
      sp = await start('bs', false);
      sp2 = await start('bs2', true);
    }

    /** The C reference dataplane on its own TAP (vm1c), with or without GSO. */
    const cLoop = async (len: number, gso: boolean): Promise<Sample> => {
      const fwd = V.nsA.spawn([exe, 'fwd', V.h1.path, 'vm1c', LOCAL, PEER, String(VNI), String(SOURCE_SECONDS + 1), gso ? 'gso' : 'plain']);
      const fwdDone = waitExit(fwd, 30_000);
      try {
        if (!(await waitLine(fwd, /start/, 10_000))) throw new Error(`C loop did not start: ${(await fwdDone).stderr}`);
        return await window(V.h1.spawn([exe, 'packet', 'vm1c', String(SOURCE_SECONDS), String(len), String(BACKOFF_US)]), V.h2, fwd.pid, { ns: V.h1, dev: 'vm1c' });
      } finally {
        fwd.kill('SIGTERM');
        await fwdDone;
      }
    };
    const variants = {
      kernel: (len: number) => window(K.nsA.spawn([exe, 'tap', 'vm1tap', String(SOURCE_SECONDS), String(len)]), K.h2),
      vtep: (len: number) => window(V.h1.spawn([exe, 'packet', 'vm1tap', String(SOURCE_SECONDS), String(len), String(BACKOFF_US)]), V.h2, vpid, { ns: V.h1, dev: 'vm1tap' }),
      cloop: (len: number) => cLoop(len, false),
      cgso: (len: number) => cLoop(len, true),
    };
    const names = ['kernel', 'vtep', 'cloop', 'cgso'] as const;
    const rows: BenchRow[] = [];
    for (const size of ctx.args.includes('--tcp') ? [] : SIZES) {
      const got: Record<(typeof names)[number], Sample[]> = { kernel: [], vtep: [], cloop: [], cgso: [] };
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < names.length; k++) {
          const n = names[(r + k) % names.length]!;
          got[n].push(await variants[n](size.len));
        }
        ctx.log(`pps ${size.label} round ${r + 1}: kernel ${fmt(got.kernel.at(-1)!.rate)}, vtep ${fmt(got.vtep.at(-1)!.rate)}, C loop ${fmt(got.cloop.at(-1)!.rate)}, C loop+GSO ${fmt(got.cgso.at(-1)!.rate)} packets/s at vm2`);
      }
      const base = { name: `pps ${size.label}: kernel TAP->bridge->VXLAN`, xs: got.kernel };
      const cg = { name: `pps ${size.label}: C loop TAP read+sendmmsg+GSO`, xs: got.cgso };
      rows.push(row(base.name, 'pps', got.kernel));
      rows.push(row(`pps ${size.label}: vtep run TAP->VXLAN->UDP`, 'pps', got.vtep, base));
      rows.push(row(`pps ${size.label}: C loop TAP read+sendmmsg`, 'pps', got.cloop, base));
      rows.push(row(cg.name, 'pps', got.cgso, base));
      rows.push(row(`pps ${size.label}: vtep run TAP->VXLAN->UDP`, 'pps', got.vtep, cg));
    }

    // TCP both ways, every veth and the TAP with default offloads: the kernel's vm1 behind a veth
    // in its bridge, vtep's behind its TAP (TSO and checksum offload granted to the guest).
    const dirs = [
      { label: 'vm1->vm2', k: () => tcpStream(exe, K.h1, K.h2, VM2.ip), v: () => tcpStream(exe, V.h1, V.h2, VM2.ip, vpid, true) },
      { label: 'vm2->vm1', k: () => tcpStream(exe, K.h2, K.h1, VM1.ip), v: () => tcpStream(exe, V.h2, V.h1, VM1.ip, vpid, true) },
    ];
    for (const d of dirs) {
      const tcp = { kernel: [] as Sample[], vtep: [] as Sample[], proto: [] as Sample[], vtap: [] as Sample[], sproto: [] as Sample[], sproto2: [] as Sample[] };
      const protoStream = (S: { w: World; pid: number } | undefined): (() => Promise<Sample>) | undefined =>
        S === undefined ? undefined : d.label === 'vm1->vm2' ? () => tcpStream(exe, S.w.h1, S.w.h2, VM2.ip, S.pid) : () => tcpStream(exe, S.w.h2, S.w.h1, VM1.ip, S.pid);
      const sStream = protoStream(sp);
      const sStream2 = protoStream(sp2);
      const P = proto;
      const T = vt;
      const pStream = P === undefined ? undefined : d.label === 'vm1->vm2' ? () => tcpStream(exe, P.w.h1, P.w.h2, VM2.ip, P.pid) : () => tcpStream(exe, P.w.h2, P.w.h1, VM1.ip, P.pid);
      const tStream = T === undefined ? undefined : d.label === 'vm1->vm2' ? () => tcpStream(exe, T.w.h1, T.w.h2, VM2.ip, T.pid, true) : () => tcpStream(exe, T.w.h2, T.w.h1, VM1.ip, T.pid, true);
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? (['kernel', 'vtep', 'sproto', 'sproto2', 'vtap', 'proto'] as const) : (['proto', 'vtap', 'sproto2', 'sproto', 'vtep', 'kernel'] as const);
        for (const n of order) {
          if (n === 'sproto') {
            if (sStream !== undefined) tcp.sproto.push(await sStream());
          } else if (n === 'sproto2') {
            if (sStream2 !== undefined) tcp.sproto2.push(await sStream2());
          } else if (n === 'proto') {
            if (pStream !== undefined) tcp.proto.push(await pStream());
          } else if (n === 'vtap') {
            if (tStream !== undefined) tcp.vtap.push(await tStream());
          } else tcp[n].push(await (n === 'vtep' ? d.v() : d.k()));
        }
        ctx.log(`tcp ${d.label} round ${r + 1}: kernel ${fmt(tcp.kernel.at(-1)!.rate)}, vtep ${fmt(tcp.vtep.at(-1)!.rate)} bit/s; vtep GCs ${tcp.vtep.at(-1)!.gcs}${tcp.vtep.at(-1)!.reducerGcs! > 0 ? ` (and ${tcp.vtep.at(-1)!.reducerGcs} of the memory reducer)` : ''}${sStream !== undefined ? `; C sockets prototype ${fmt(tcp.sproto.at(-1)!.rate)}, with two threads ${fmt(tcp.sproto2.at(-1)!.rate)}` : ''}${pStream !== undefined ? `; vtep with underlay.tap ${fmt(tcp.vtap.at(-1)!.rate)}; C tunnel-GSO prototype ${fmt(tcp.proto.at(-1)!.rate)}` : ''}`);
      }
      const toGbit = (xs: Sample[]): Sample[] => xs.map((x) => ({ ...x, rate: x.rate / 1e9 }));
      const k = { name: `tcp ${d.label}: kernel veth->bridge->VXLAN`, xs: toGbit(tcp.kernel) };
      rows.push(row(k.name, 'Gbit/s', k.xs));
      const v = row(`tcp ${d.label}: vtep run TAP->VXLAN->UDP`, 'Gbit/s', toGbit(tcp.vtep), k);
      rows.push(v);
      // CPU per GB: the machine's busy and softirq CPU-seconds per GB moved (both TCP ends included,
      // the same for both), and vtep's own process; GCs of vtep over all its streams.
      const perGb = (xs: Sample[], f: (x: Sample) => number): number => median(xs.map((x) => (f(x) * x.seconds!) / (x.bytes! / 1e9)));
      const cpuNote = (xs: Sample[]): string => `machine ${perGb(xs, (x) => x.busy!).toFixed(2)} CPU-s/GB (softirq ${perGb(xs, (x) => x.softirq!).toFixed(2)})`;
      rows[rows.length - 2]!.note += `, ${cpuNote(tcp.kernel)}`;
      v.note += `, ${cpuNote(tcp.vtep)}, vtep process ${perGb(tcp.vtep, (x) => x.cpu!).toFixed(2)} CPU-s/GB, GCs during the streams ${gcNote(tcp.vtep)}${loopNote(tcp.vtep)}`;
      if (tcp.sproto.length > 0) {
        const sr = row(`tcp ${d.label}: C prototype of vtep's socket path`, 'Gbit/s', toGbit(tcp.sproto), k);
        sr.note += `, ${cpuNote(tcp.sproto)}, prototype process ${perGb(tcp.sproto, (x) => x.cpu!).toFixed(2)} CPU-s/GB`;
        rows.push(sr);
        const vs = row(`tcp ${d.label}: vtep run TAP->VXLAN->UDP`, 'Gbit/s', toGbit(tcp.vtep), { name: `tcp ${d.label}: C prototype of vtep's socket path`, xs: toGbit(tcp.sproto) });
        rows.push(vs);
        const s2 = row(`tcp ${d.label}: that C prototype, a thread per direction`, 'Gbit/s', toGbit(tcp.sproto2), k);
        s2.note += `, ${cpuNote(tcp.sproto2)}, prototype process ${perGb(tcp.sproto2, (x) => x.cpu!).toFixed(2)} CPU-s/GB`;
        rows.push(s2);
      }
      if (tcp.vtap.length > 0) {
        const tr = row(`tcp ${d.label}: vtep run, underlay.tap (UDP-tunnel GSO)`, 'Gbit/s', toGbit(tcp.vtap), k);
        tr.note += `, ${cpuNote(tcp.vtap)}, vtep process ${perGb(tcp.vtap, (x) => x.cpu!).toFixed(2)} CPU-s/GB, GCs during the streams ${gcNote(tcp.vtap)}${loopNote(tcp.vtap)}`;
        rows.push(tr);
      }
      if (tcp.proto.length > 0) {
        const pr = row(`tcp ${d.label}: C prototype, underlay TAP with UDP-tunnel GSO`, 'Gbit/s', toGbit(tcp.proto), k);
        pr.note += `, ${cpuNote(tcp.proto)}, prototype process ${perGb(tcp.proto, (x) => x.cpu!).toFixed(2)} CPU-s/GB`;
        rows.push(pr);
      }
    }
    return rows;
  } finally {
    await stopVtep(vtep);
    await stopVtep(vtepTap);
    protoChild?.kill('SIGKILL');
    for (const c of sockChild) c.kill('SIGKILL');
    deleteWorld(kw);
    deleteWorld(vw);
    deleteWorld(tw);
    deleteWorld(tw2);
    for (const w of sw) deleteWorld(w);
    tmp.done();
  }
}

/** Time spent per part of the dataplane's work (ns), from wrappers around its calls. */
interface Profile {
  reads: number;
  emptyReads: number;
  frames: number;
  readNs: number;
  processNs: number;
  writeNs: number;
  writes: number;
  written: number;
}

/**
 * `--profile`: the dataplane in this process (not `vtep run`), its TAP
 * readBatch, pipeline (Dataplane.process without the writes) and the UDP
 * socket's writeBatch timed per call with hrtime, under the same load as the
 * pps rows. The bench's own awaits share the event loop: a little slower
 * than the child.
 */
async function profileRun(ctx: BenchContext): Promise<BenchRow[]> {
  const exe = compileC('e2e_traffic.c');
  let vw: World | undefined;
  let dp: Dataplane | undefined;
  const rows: BenchRow[] = [];
  try {
    vw = world('bf');
    const V = vw;
    dp = fromConfig(vtepConfig(V));
    const prof: Profile = { reads: 0, emptyReads: 0, frames: 0, readNs: 0, processNs: 0, writeNs: 0, writes: 0, written: 0 };
    const now = process.hrtime.bigint;
    const tap = dp.port('vm1tap');
    const read = tap.readBatch.bind(tap);
    tap.readBatch = (b: Batch): number => {
      const t = now();
      const n = read(b);
      prof.readNs += Number(now() - t);
      prof.reads++;
      if (n === 0) prof.emptyReads++;
      prof.frames += n;
      return n;
    };
    const udp = dp.port(`${LOCAL}:4789`);
    const write = udp.writeBatch.bind(udp);
    udp.writeBatch = (b: Batch, from?: number, to?: number): number => {
      const t = now();
      const n = write(b, from, to);
      prof.writeNs += Number(now() - t);
      prof.writes++;
      prof.written += n;
      return n;
    };
    const proc = dp.process.bind(dp);
    dp.process = ((b: Batch, e: never, rxClock?: Float64Array | null): void => {
      const t = now();
      proc(b, e, rxClock);
      prof.processNs += Number(now() - t);
    }) as Dataplane['process'];
    dp.start();
    attachTap(V.nsA, 'vm1tap', V.h1, { addr: `${VM1.ip}/24` });
    for (const size of SIZES) {
      for (let r = 0; r < 2; r++) {
        Object.assign(prof, { reads: 0, emptyReads: 0, frames: 0, readNs: 0, processNs: 0, writeNs: 0, writes: 0, written: 0 });
        const elu0 = performance.eventLoopUtilization();
        const cpu0 = process.cpuUsage();
        const t0 = now();
        const x = await window(V.h1.spawn([exe, 'packet', 'vm1tap', String(SOURCE_SECONDS), String(size.len), String(BACKOFF_US)]), V.h2, process.pid, { ns: V.h1, dev: 'vm1tap' });
        const wall = Number(now() - t0);
        const cpu = process.cpuUsage(cpu0);
        const elu = performance.eventLoopUtilization(elu0);
        const f = prof.frames;
        const pipeline = prof.processNs - prof.writeNs;
        const per = (ns: number): string => `${(ns / f).toFixed(0)} ns`;
        const line = `profile ${size.label}: ${fmt(x.rate)} pps at vm2, ${f} frames in ${prof.reads} reads (${(f / Math.max(1, prof.reads - prof.emptyReads)).toFixed(1)} per non-empty read), ${prof.writes} writes; per frame: readBatch ${per(prof.readNs)}, pipeline ${per(pipeline)}, writeBatch ${per(prof.writeNs)}, other ${per(wall * elu.utilization - prof.readNs - prof.processNs)}; event loop busy ${(elu.utilization * 100).toFixed(0)}%, process CPU ${(((cpu.user + cpu.system) / 1000 / (wall / 1e6)) * 100).toFixed(0)}% (user ${((cpu.user / 1000 / (wall / 1e6)) * 100).toFixed(0)}%)`;
        ctx.log(line);
        rows.push({ name: `profile ${size.label} round ${r + 1}: readBatch+pipeline+writeBatch`, value: (prof.readNs + prof.processNs) / f, unit: 'ns/frame', note: line.slice(line.indexOf(':') + 2) });
      }
    }
    return rows;
  } finally {
    dp?.close();
    deleteWorld(vw);
  }
}

export const suite: Suite = {
  description: 'VM -> TAP -> VXLAN -> kernel VXLAN peer in namespaces: vtep run vs the Linux bridge + VXLAN vs C loops (plain, GSO), pps (64B, 1400B) and TCP both ways',
  needsRoot: true,
  run: (ctx) => (ctx.args.includes('--profile') ? profileRun(ctx) : runSuite(ctx)),
};
