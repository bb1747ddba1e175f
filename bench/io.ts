/**
 * `npm run bench -- io`: native I/O through the addon next to C reference
 * loops (bench/c/io_*.c, compiled here) and to Node's dgram.send, all inside
 * a network namespace this suite creates and deletes.
 *
 * TAP read: per round the device queue is filled with FRAMES frames of 60
 * bytes through an AF_PACKET socket (not timed), then drained and timed:
 * TapDevice.readBatch (256 per call, into pool slots) against a C read() loop
 * on its own TAP. UDP send: 18-byte payloads (60-byte frames) from
 * 198.18.0.1 to 198.18.0.2:9, a destination per datagram, through a TAP
 * whose queue is full: the kernel runs the whole output path (route, IP,
 * qdisc, driver) and the tun driver drops each frame, as a NIC would send
 * it. Measured: UdpSocket.sendBatch without and with GSO against C sendmmsg
 * loops doing the same, and dgram.send (unconnected, and connected) on a
 * socket of the same namespace.
 *
 * The machine is shared (2 cores, other developers' jobs), so wall-clock
 * rates mostly measure the scheduler. Every figure is therefore items per
 * CPU second of the process doing the work (CLOCK_PROCESS_CPUTIME_ID in C,
 * process.cpuUsage() in Node; the send and read work runs in the calling
 * process's context): what the work costs. C, addon and Node runs alternate
 * round by round; the value is the median over the rounds, and the note
 * gives the wall-clock rate, the spread, the median of the per-round
 * (paired) ratios and the wall-clock ratio. The ratio is the result.
 */
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { compileC, countGc, measure, type BenchRow, type Suite } from './harness.js';
import { TapDevice, PacketSocket, UdpSocket, PacketPool, Batch, parseIPv4 } from '../src/index.js';
import { native } from '../src/io/native.js';
import { Netns, uniqueName } from '../src/util/netns.js';

const TAP_ROUNDS = 16;
const TAP_FRAMES = 16384;
const FRAME_LEN = 60;
const UDP_SETS = 10;
const UDP_PAYLOAD = 18;
const C_BATCHES = 300;
const DGRAM_SENDS = 76_800;

/** One run: items moved, wall and process CPU nanoseconds. */
interface Run {
  n: number;
  wall: number;
  cpu: number;
}

const perCpuSecond = (r: Run) => (r.n / r.cpu) * 1e9;
const perSecond = (r: Run) => (r.n / r.wall) * 1e9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function k(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1e3).toFixed(0)}k`;
}

/** Times fn (which returns the items it moved) in wall and process CPU time. */
async function timed(fn: () => number | Promise<number>): Promise<Run> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const n = await fn();
  const wall = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  return { n, wall, cpu: (c.user + c.system) * 1000 };
}

/** Runs a C reference inside the namespace: one Run per "count wall_ns cpu_ns" line. */
function runC(ns: Netns, exe: string, args: (string | number)[]): Run[] {
  const out = execFileSync('ip', ['netns', 'exec', ns.name, exe, ...args.map(String)], { encoding: 'utf8', timeout: 120_000 });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const [n, wall, cpu] = line.split(' ').map(Number);
      return { n: n!, wall: wall!, cpu: cpu! };
    });
}

/**
 * Rows for a measurement against its baseline: the value is items per CPU
 * second (what the work costs, whatever else the shared machine runs); the
 * note gives the wall-clock rate, the spread and the median of the paired
 * per-round ratios.
 */
function row(name: string, unit: string, runs: Run[], base?: { name: string; runs: Run[] }): BenchRow {
  const cpu = runs.map(perCpuSecond);
  const wall = runs.map(perSecond);
  const row: BenchRow = {
    name,
    value: median(cpu),
    unit,
    note: `wall ${k(median(wall))}/s, ${runs.length} runs ${k(Math.min(...cpu))}-${k(Math.max(...cpu))}`,
  };
  if (base !== undefined) {
    const bcpu = base.runs.map(perCpuSecond);
    row.baseline = base.name;
    row.ratio = median(cpu) / median(bcpu);
    const pairedCpu = median(cpu.map((v, i) => v / bcpu[i]!));
    const wallRatio = median(wall) / median(base.runs.map(perSecond));
    row.note = `${row.note}, paired ${pairedCpu.toFixed(2)}x, wall ${wallRatio.toFixed(2)}x`;
  }
  return row;
}

async function tapRead(ns: Netns, log: (l: string) => void): Promise<BenchRow[]> {
  const exe = compileC('io_tap_read.c');
  const name = uniqueName('vbt');
  const nameO = uniqueName('vbo');
  const tap = TapDevice.open({ name, netns: ns.name, up: true, txQueueLen: TAP_FRAMES + 1024 });
  // The same with offloads: virtio-net header, TSO granted, so reads take spare large slots (readv).
  const tapO = TapDevice.open({ name: nameO, netns: ns.name, up: true, offloads: true, txQueueLen: TAP_FRAMES + 1024 });
  // Protocol 0: a send-only socket, no receive hook on the device.
  const filler = PacketSocket.open({ ifname: name, protocol: 0, qdiscBypass: true, netns: ns.name });
  const fillerO = PacketSocket.open({ ifname: nameO, protocol: 0, qdiscBypass: true, netns: ns.name });
  const c: Run[] = [];
  const js: Run[] = [];
  const jsO: Run[] = [];
  let gcs = 0;
  try {
    const pool = new PacketPool({ slots: 2048, largeSlots: 64 });
    const fill = new Batch(pool, 256);
    const frame = new Uint8Array(FRAME_LEN).fill(0xab);
    frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    for (let i = 0; i < 256; i++) fill.pushCopy(frame);
    const rx = new Batch(pool, 256);
    const drain = (t: TapDevice) => (): number => {
      let got = 0;
      for (;;) {
        const n = t.readBatch(rx);
        if (n === 0) return got;
        got += n;
        rx.release();
      }
    };
    const refill = (f: PacketSocket): void => {
      for (let sent = 0; sent < TAP_FRAMES; ) sent += f.sendBatch(fill, 0, Math.min(256, TAP_FRAMES - sent));
    };
    // Warm-up (not measured): the JIT settles on readBatch and drain.
    for (let w = 0; w < 3; w++) {
      refill(filler);
      drain(tap)();
      refill(fillerO);
      drain(tapO)();
    }
    for (let round = 0; round < TAP_ROUNDS; round++) {
      // Which side runs first alternates: caches favour whoever ran last.
      if (round % 2 === 0) c.push(...runC(ns, exe, [uniqueName('vbc'), TAP_FRAMES, 1, FRAME_LEN]));
      refill(filler);
      const { result, gcs: g } = await countGc(() => timed(drain(tap)));
      js.push(result);
      gcs += g;
      refill(fillerO);
      jsO.push(await timed(drain(tapO)));
      if (round % 2 === 1) c.push(...runC(ns, exe, [uniqueName('vbc'), TAP_FRAMES, 1, FRAME_LEN]));
      if (round % 8 === 7) log(`tap read round ${round + 1}: C ${k(perCpuSecond(c.at(-1)!))}, addon ${k(perCpuSecond(result))}, offloads ${k(perCpuSecond(jsO.at(-1)!))} frames per CPU second`);
    }
    fill.release();
  } finally {
    filler.close();
    fillerO.close();
    tap.close();
    tapO.close();
  }
  const unit = 'frames/cpu-s';
  const C = `tap read ${FRAME_LEN}B: C read() loop`;
  const A = `tap read ${FRAME_LEN}B: addon readBatch`;
  const addon = row(A, unit, js, { name: C, runs: c });
  addon.note = `${addon.note ?? ''}, ${gcs} GCs while draining`;
  const off = row(`tap read ${FRAME_LEN}B: addon readBatch, offloads (vnet header, spares, readv)`, unit, jsO, { name: A, runs: js });
  return [row(C, unit, c), addon, off];
}

/** dgram.send of `total` datagrams in chunks of 256 (a callback on the last of each). */
async function dgramSend(sock: dgram.Socket, buf: Buffer, total: number, dst?: string): Promise<number> {
  for (let sent = 0; sent < total; sent += 256) {
    await new Promise<void>((resolve, reject) => {
      const done = (err: Error | null): void => (err ? reject(err) : resolve());
      if (dst === undefined) {
        for (let i = 0; i < 255; i++) sock.send(buf);
        sock.send(buf, done);
      } else {
        for (let i = 0; i < 255; i++) sock.send(buf, 9, dst);
        sock.send(buf, 9, dst, done);
      }
    });
  }
  return total;
}

async function udpSend(ns: Netns, log: (l: string) => void): Promise<BenchRow[]> {
  const exe = compileC('io_udp_send.c');
  const sinkName = uniqueName('vbs');
  // The sink: a TAP nobody reads, with a short queue that stays full.
  const sink = TapDevice.open({ name: sinkName, netns: ns.name, up: true, txQueueLen: 64 });
  ns.ip('addr', 'add', '198.18.0.1/24', 'dev', sinkName);
  ns.ip('neigh', 'add', '198.18.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', sinkName, 'nud', 'permanent');
  const plain = UdpSocket.open({ address: '198.18.0.1', gso: false, netns: ns.name });
  const gso = UdpSocket.open({ address: '198.18.0.1', netns: ns.name });
  const forDgram = UdpSocket.open({ address: '198.18.0.1', netns: ns.name });
  const sock = dgram.createSocket('udp4');
  const r = { cPlain: [] as Run[], cGso: [] as Run[], plain: [] as Run[], gso: [] as Run[], dgram: [] as Run[], dgramConn: [] as Run[] };
  const rme = { plain: 0, gso: 0 };
  try {
    await new Promise<void>((resolve) => sock.bind({ fd: native().dupFd(forDgram.fd) }, resolve));
    const pool = new PacketPool({ slots: 512 });
    const batch = new Batch(pool, 256);
    const dst = parseIPv4('198.18.0.2');
    for (let i = 0; i < 256; i++) {
      batch.pushCopy(new Uint8Array(UDP_PAYLOAD).fill(0xab));
      batch.addr[4 * i] = dst;
      batch.peerPort[i] = 9;
    }
    const buf = Buffer.alloc(UDP_PAYLOAD, 0xab);
    // benchmark.js drives the addon loop; the stats count what the kernel took.
    const viaBenchmark = async (s: UdpSocket, key: 'plain' | 'gso'): Promise<Run> =>
      timed(() => {
        const before = s.stats.txPackets;
        const m = measure(`udp sendBatch gso=${s.gso}`, () => s.sendBatch(batch), 0.1);
        rme[key] = Math.max(rme[key], m.rme);
        return s.stats.txPackets - before;
      });
    const cArgs = ['198.18.0.1', '198.18.0.2', 9, UDP_PAYLOAD, C_BATCHES, 1];
    // Warm-up (not measured).
    await viaBenchmark(plain, 'plain');
    await viaBenchmark(gso, 'gso');
    await dgramSend(sock, buf, DGRAM_SENDS, '198.18.0.2');
    rme.plain = rme.gso = 0;
    for (let set = 0; set < UDP_SETS; set++) {
      // Which side runs first alternates: caches favour whoever ran last.
      const cFirst = set % 2 === 0;
      if (cFirst) r.cPlain.push(...runC(ns, exe, [...cArgs, 0]));
      r.plain.push(await viaBenchmark(plain, 'plain'));
      if (!cFirst) r.cPlain.push(...runC(ns, exe, [...cArgs, 0]));
      if (cFirst) r.cGso.push(...runC(ns, exe, [...cArgs, 64]));
      r.gso.push(await viaBenchmark(gso, 'gso'));
      if (!cFirst) r.cGso.push(...runC(ns, exe, [...cArgs, 64]));
      r.dgram.push(await timed(() => dgramSend(sock, buf, DGRAM_SENDS, '198.18.0.2')));
      if (set % 5 === 4) {
        const last = (x: Run[]) => k(perCpuSecond(x.at(-1)!));
        log(`udp send set ${set + 1}: C ${last(r.cPlain)}, addon ${last(r.plain)}, C+GSO ${last(r.cGso)}, addon+GSO ${last(r.gso)}, dgram ${last(r.dgram)} datagrams per CPU second`);
      }
    }
    sock.connect(9, '198.18.0.2');
    await new Promise((resolve) => sock.once('connect', resolve));
    for (let set = 0; set < UDP_SETS; set++) r.dgramConn.push(await timed(() => dgramSend(sock, buf, DGRAM_SENDS)));
    batch.release();
  } finally {
    sock.close();
    plain.close();
    gso.close();
    forDgram.close();
    sink.close();
  }
  const unit = 'datagrams/cpu-s';
  const P = `udp send ${UDP_PAYLOAD}B`;
  const D = { name: `${P}: dgram.send`, runs: r.dgram };
  const DC = { name: `${P}: dgram.send connected`, runs: r.dgramConn };
  const CP = { name: `${P}: C sendmmsg`, runs: r.cPlain };
  const CG = { name: `${P}: C sendmmsg+GSO`, runs: r.cGso };
  const withRme = (row: BenchRow, v: number): BenchRow => ({ ...row, note: `${row.note ?? ''}, benchmark.js ±${v.toFixed(1)}%` });
  return [
    row(D.name, unit, D.runs),
    row(DC.name, unit, DC.runs, D),
    row(CP.name, unit, CP.runs),
    withRme(row(`${P}: addon sendBatch`, unit, r.plain, CP), rme.plain),
    row(`${P}: addon sendBatch`, unit, r.plain, D),
    row(CG.name, unit, CG.runs),
    withRme(row(`${P}: addon sendBatch+GSO`, unit, r.gso, CG), rme.gso),
    row(`${P}: addon sendBatch+GSO`, unit, r.gso, D),
    row(`${P}: addon sendBatch+GSO`, unit, r.gso, DC),
  ];
}

export const suite: Suite = {
  description: 'TAP batch read and UDP sendmmsg (plain, GSO) through the addon vs C loops and dgram.send, in a namespace',
  needsRoot: true,
  async run(ctx) {
    const ns = Netns.create('vb');
    try {
      // No IPv6 chatter on the devices: only the benchmark's frames.
      ns.sysctl('net.ipv6.conf.all.disable_ipv6', 1);
      ns.sysctl('net.ipv6.conf.default.disable_ipv6', 1);
      const rows = await tapRead(ns, ctx.log);
      rows.push(...(await udpSend(ns, ctx.log)));
      return rows;
    } finally {
      ns.delete();
    }
  },
};
