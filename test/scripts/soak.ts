/**
 * `npm run soak -- [--minutes N] [--interval S]`: two dataplanes joined by a
 * memory underlay carry sustained traffic, bridged (VXLAN, VNI 42) and routed
 * (VRF red, MPLS-over-UDP, gateways on both sides), between four hosts on
 * memory ports; no root needed. Every 10 s it prints RSS, heap (after a full
 * GC), pool free slots of both dataplanes and the delivered packet rate, and
 * at the end it judges growth and exits 1 if any of these holds:
 *
 * - heap: the median heap after GC of the last 3 samples exceeds the median
 *   of the first 3 samples after warm-up by more than max(4 MiB, 10%);
 * - RSS: the same with max(32 MiB, 15%) (the allocator keeps pages, so a
 *   looser bound);
 * - pool: once the traffic stops and the queues drain, a dataplane's free
 *   slots are not all its slots (a slot that never came back), or the
 *   lowest free count of the last 3 samples is more than 2% of the slots
 *   below that of the first 3 samples after warm-up (slots draining away);
 * - rate: any 10 s interval after warm-up delivered less than 1% of
 *   the median rate (traffic that stalls, as a drained pool would make it).
 *
 * Warm-up is the first minute (a tenth of the run when shorter). Not on the
 * `npm test` path. Run with --expose-gc (the npm script does).
 */
import { parseArgs } from 'node:util';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { arpReply } from '../../src/dataplane/respond.js';
import { MemoryPort, PacketPool, Batch, parseIPv4, parseMac } from '../../src/index.js';
import { put16, put32, u16, u32 } from '../../src/wire/bytes.js';
import { checksum } from '../../src/wire/checksum.js';

const MAC_A = '02:fc:18:00:00:01';
const MAC_B = '02:fc:18:00:00:02';
/** Frames a host writes per turn. */
const BURST = 32;

/** A host on a memory port: answers ARP for its address, counts what it receives, sends bursts of one frame. */
class Host {
  readonly nic: MemoryPort;
  readonly port: MemoryPort;
  received = 0;
  sent = 0;
  private readonly pool = new PacketPool({ slots: 256 });
  private readonly rx = new Batch(this.pool, 64);
  private readonly tx = new Batch(this.pool, BURST);
  private frame: Uint8Array | undefined;

  constructor(
    readonly name: string,
    readonly mac: number,
    readonly ip: number,
  ) {
    [this.port, this.nic] = MemoryPort.pair({ name, frames: 4096, frameSize: 2048 }, { name: `${name}-nic`, frames: 4096, frameSize: 2048 });
    this.nic.onReadable(() => this.receive());
  }

  /** Ethernet/IPv4/UDP to (dstMac, dstIp), 64 bytes. */
  target(dstMac: number, dstIp: number): void {
    const f = new Uint8Array(64);
    put16(f, 0, Math.floor(dstMac / 2 ** 32));
    put32(f, 2, dstMac >>> 0);
    put16(f, 6, Math.floor(this.mac / 2 ** 32));
    put32(f, 8, this.mac >>> 0);
    put16(f, 12, 0x0800);
    f[14] = 0x45;
    put16(f, 16, 50);
    f[22] = 64;
    f[23] = 17;
    put32(f, 26, this.ip);
    put32(f, 30, dstIp);
    put16(f, 24, checksum(f, 14, 20));
    put16(f, 34, 40000);
    put16(f, 36, 5001);
    put16(f, 38, 30);
    this.frame = f;
  }

  send(): void {
    const f = this.frame;
    if (f === undefined) return;
    for (let i = 0; i < BURST; i++) this.tx.pushCopy(f);
    this.sent += this.nic.writeBatch(this.tx);
    this.tx.release();
  }

  private receive(): void {
    const rx = this.rx;
    const u8 = this.pool.u8;
    while (this.nic.readBatch(rx) > 0) {
      for (let i = 0; i < rx.count; i++) {
        const s = rx.start[i]!;
        const end = s + rx.len[i]!;
        if (u16(u8, s + 12) === 0x0806 && u16(u8, s + 20) === 1 && u32(u8, s + 38) === this.ip) {
          // An ARP request for us: answer it (rare; the gateway asks once).
          if (arpReply(u8, s, s + 14, end, this.mac) > 0) {
            this.tx.pushCopy(u8.subarray(s, end));
            this.nic.writeBatch(this.tx);
            this.tx.release();
          }
        } else if (u16(u8, s + 12) === 0x0800) this.received++;
      }
      rx.release();
    }
  }

  close(): void {
    this.nic.close();
    this.port.close();
  }
}

interface Sample {
  t: number;
  rss: number;
  heap: number;
  freeA: number;
  freeB: number;
  rate: number;
}

const MiB = 1 << 20;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, interval: { type: 'string' } } });
  const minutes = Number(values.minutes ?? 10);
  const interval = Number(values.interval ?? 10);
  if (!(minutes > 0) || !(interval >= 1)) {
    console.error('soak: --minutes must be > 0 and --interval >= 1 (seconds)');
    return 2;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) console.log('soak: run with node --expose-gc for heap figures after GC (npm run soak does)');

  const [wa, wb] = MemoryPort.pair({ name: 'underlay-a', frames: 8192, frameSize: 2048 }, { name: 'underlay-b', frames: 8192, frameSize: 2048 });
  const a = new Dataplane({ pool: { slots: 4096 } });
  const b = new Dataplane({ pool: { slots: 4096 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: MAC_A, nextHopMac: MAC_B });
  b.setUnderlay({ address: '198.18.0.2', port: wb, mac: MAC_B, nextHopMac: MAC_A });
  // Bridged: vm1 (A) <-> vm2 (B) over VXLAN 42.
  const vm1 = new Host('vm1', parseMac('02:00:0a:00:00:01'), parseIPv4('10.0.0.1'));
  const vm2 = new Host('vm2', parseMac('02:00:0a:00:00:02'), parseIPv4('10.0.0.2'));
  a.addBridgePort(a.addBridge({ vni: 42, flood: ['198.18.0.2'] }), vm1.port);
  b.addBridgePort(b.addBridge({ vni: 42, flood: ['198.18.0.1'] }), vm2.port);
  // Routed: vm3 10.1.0.2 (A, gateway 10.1.0.1) <-> vm4 10.2.0.2 (B, gateway 10.2.0.1), VRF red over MPLS-over-UDP.
  const vm3 = new Host('vm3', parseMac('02:00:0a:01:00:02'), parseIPv4('10.1.0.2'));
  const vm4 = new Host('vm4', parseMac('02:00:0a:02:00:02'), parseIPv4('10.2.0.2'));
  a.addVrf({ name: 'red', label: 100 });
  b.addVrf({ name: 'red', label: 200 });
  a.addVrfPort('red', vm3.port, { gateway: '10.1.0.1/24' });
  b.addVrfPort('red', vm4.port, { gateway: '10.2.0.1/24' });
  a.addRoute('red', '10.2.0.0/16', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }]);
  b.addRoute('red', '10.1.0.0/16', [{ remote: '198.18.0.1', encap: 'mplsoudp', label: 100 }]);
  vm1.target(vm2.mac, vm2.ip);
  vm2.target(vm1.mac, vm1.ip);
  vm3.target(a.routerMac('vm3'), vm4.ip);
  vm4.target(b.routerMac('vm4'), vm3.ip);
  a.start();
  b.start();
  const hosts = [vm1, vm2, vm3, vm4];

  // Traffic: each host sends a burst per turn of the event loop, the dataplanes serve in between.
  let running = true;
  const pump = (): void => {
    if (!running) return;
    for (const h of hosts) h.send();
    setImmediate(pump);
  };
  pump();

  const start = performance.now();
  const end = start + minutes * 60_000;
  const warm = Math.min(60_000, (minutes * 60_000) / 10);
  const samples: Sample[] = [];
  let lastDelivered = 0;
  let lastT = start;
  const delivered = (): number => hosts.reduce((n, h) => n + h.received, 0);
  console.log('soak: bridged vm1 <-> vm2 (VXLAN), routed vm3 <-> vm4 (VRF red, MPLS-over-UDP); two dataplanes, memory underlay');
  console.log(`soak: ${minutes} min, a sample every ${interval} s, warm-up ${(warm / 1000).toFixed(0)} s`);
  console.log('   time     rss MiB   heap MiB   free A   free B    delivered/s');
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(interval * 1000, end - performance.now())));
    const now = performance.now();
    const d = delivered();
    const rate = ((d - lastDelivered) * 1000) / (now - lastT);
    lastDelivered = d;
    lastT = now;
    const freeA = a.stats().pool.free;
    const freeB = b.stats().pool.free;
    gc?.();
    const m = process.memoryUsage();
    const s: Sample = { t: now - start, rss: m.rss, heap: m.heapUsed, freeA, freeB, rate };
    samples.push(s);
    console.log(
      `${(s.t / 1000).toFixed(0).padStart(6)} s ${(s.rss / MiB).toFixed(1).padStart(10)} ${(s.heap / MiB).toFixed(1).padStart(10)} ` +
        `${String(freeA).padStart(8)} ${String(freeB).padStart(8)} ${Math.round(rate).toLocaleString('en').padStart(14)}`,
    );
  }
  running = false;
  // Let the queues drain: every slot must come back.
  await new Promise((r) => setTimeout(r, 1000));
  const endFree = [a.stats().pool.free, b.stats().pool.free];
  const slots = a.stats().pool.slots;
  const totalSent = hosts.reduce((n, h) => n + h.sent, 0);
  const drops = { a: a.stats().drops, b: b.stats().drops };
  a.close();
  b.close();
  for (const h of hosts) h.close();

  // Judge.
  const after = samples.filter((s) => s.t >= warm);
  const failures: string[] = [];
  if (after.length < 4) {
    console.log(`soak: only ${after.length} samples after warm-up: growth not judged (run longer)`);
  } else {
    const first = after.slice(0, 3);
    const last = after.slice(-3);
    const grew = (what: string, key: 'heap' | 'rss', abs: number, rel: number): void => {
      const f = median(first.map((s) => s[key]));
      const l = median(last.map((s) => s[key]));
      const limit = Math.max(abs, f * rel);
      const line = `${what}: ${(f / MiB).toFixed(1)} -> ${(l / MiB).toFixed(1)} MiB after warm-up (limit +${(limit / MiB).toFixed(1)} MiB)`;
      console.log(`soak: ${line}`);
      if (l - f > limit) failures.push(line);
    };
    grew('heap after GC', 'heap', 4 * MiB, 0.1);
    grew('RSS', 'rss', 32 * MiB, 0.15);
    for (const k of ['freeA', 'freeB'] as const) {
      const f = Math.min(...first.map((s) => s[k]));
      const l = Math.min(...last.map((s) => s[k]));
      if (f - l > slots * 0.02) failures.push(`pool ${k === 'freeA' ? 'A' : 'B'}: lowest free slots ${f} -> ${l} after warm-up`);
    }
    const med = median(after.map((s) => s.rate));
    const low = after.filter((s) => s.rate < med / 100);
    console.log(`soak: delivered ${Math.round(med).toLocaleString('en')} packets/s (median of ${after.length} intervals), lowest ${Math.round(Math.min(...after.map((s) => s.rate))).toLocaleString('en')}`);
    if (low.length > 0) failures.push(`rate: ${low.length} interval(s) below 1% of the median (${low.map((s) => Math.round(s.rate)).join(', ')})`);
  }
  console.log(`soak: pool free slots after the traffic stopped: A ${endFree[0]}/${slots}, B ${endFree[1]}/${slots}`);
  if (endFree[0] !== slots || endFree[1] !== slots) failures.push(`pool: slots not returned (A ${endFree[0]}/${slots}, B ${endFree[1]}/${slots})`);
  console.log(`soak: hosts sent ${totalSent.toLocaleString('en')} frames, received ${delivered().toLocaleString('en')}; drops A ${JSON.stringify(drops.a)} B ${JSON.stringify(drops.b)}`);
  for (const f of failures) console.log(`soak: FAIL ${f}`);
  console.log(failures.length === 0 ? 'soak: no growth' : `soak: ${failures.length} failure(s)`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
