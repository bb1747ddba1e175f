/**
 * `npm run bench -- encap`: per-packet cost of encapsulation and
 * decapsulation, batched (256 packets per call), for each protocol and
 * underlay at 64 and 1400 bytes, next to the cost of copying each frame once
 * (u8.copyWithin into another slot) in the same run. Encap of a 1400-byte frame
 * cheaper than one copy of it is the evidence that nothing is copied.
 * Then a 10-second VXLAN encap loop with the garbage collections counted.
 */
import { PacketPool } from '../src/packet/pool.js';
import { Batch } from '../src/packet/batch.js';
import { Tunnel, type TunnelOptions } from '../src/tunnel/tunnel.js';
import { encapBatch } from '../src/tunnel/encap.js';
import { Decapsulator, decapBatch, RxDepth, type DecapConfig } from '../src/tunnel/decap.js';
import { measure, countGc, type BenchRow, type Suite } from './harness.js';

const BATCH = 256;
const MACS = { srcMac: '02:fc:18:00:00:01', dstMac: '02:fc:18:00:00:02' };
const CASES: { name: string; opts: TunnelOptions }[] = [
  { name: 'vxlan4', opts: { proto: 'vxlan', vni: 42, src: '198.18.0.1', dst: '198.18.0.2', ...MACS } },
  { name: 'vxlan6', opts: { proto: 'vxlan', vni: 42, src: '2001:db8:18::1', dst: '2001:db8:18::2', ...MACS } },
  { name: 'gre4', opts: { proto: 'gre', key: 5, src: '198.18.0.1', dst: '198.18.0.2', ...MACS } },
  { name: 'gre6', opts: { proto: 'gre', key: 5, src: '2001:db8:18::1', dst: '2001:db8:18::2', ...MACS } },
  { name: 'mplsoudp4', opts: { proto: 'mplsoudp', label: 200, src: '198.18.0.1', dst: '198.18.0.2', ...MACS } },
  { name: 'mplsogre4', opts: { proto: 'mplsogre', label: 200, src: '198.18.0.1', dst: '198.18.0.2', ...MACS } },
];
const DECAP: DecapConfig = {
  local: ['198.18.0.2', '2001:db8:18::2'],
  peers: ['198.18.0.1', '2001:db8:18::1'],
  vxlan: { vnis: [42] },
  gre: { keys: [5] },
  udp6ZeroChecksumRx: true,
  mpls: { labels: { '200': 'ethernet' } },
};

/** An Ethernet/IPv4/UDP frame of `size` bytes with flow number `flow`. */
function frame(size: number, flow: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
  const ip = 14;
  f.set([0x45, 0, (size - 14) >>> 8, (size - 14) & 255, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, (flow >>> 8) & 255, flow & 255], ip);
  f.set([(1024 + flow) >>> 8, (1024 + flow) & 255, 0x13, 0x88, (size - 34) >>> 8, (size - 34) & 255, 0, 0], ip + 20);
  return f;
}

interface Bed {
  b: Batch;
  start: Uint32Array;
  len: Uint32Array;
}

function bed(pool: PacketPool, size: number): Bed {
  const b = new Batch(pool, BATCH);
  for (let i = 0; i < BATCH; i++) b.pushCopy(frame(size, i));
  return { b, start: b.start.slice(), len: b.len.slice() };
}

function reset(x: Bed): void {
  x.b.start.set(x.start);
  x.b.len.set(x.len);
  x.b.hash.fill(0);
  x.b.reason.fill(0);
}

export const suite: Suite = {
  description: 'encap/decap per packet for each protocol at 64 and 1400 bytes, vs one frame copy; GC count',
  async run(ctx) {
    const rows: BenchRow[] = [];
    const pool = new PacketPool({ slots: BATCH * 4 + 16 });
    const quick = ctx.args.includes('--quick');
    const t = quick ? 0.3 : 1;
    for (const size of [64, 1400]) {
      const src = bed(pool, size);
      const dst = bed(pool, size);
      const u8 = pool.u8;
      const copy = measure(`copy ${size}`, () => {
        const s = src.b.start;
        const d = dst.b.start;
        const l = src.b.len;
        for (let i = 0; i < BATCH; i++) u8.copyWithin(d[i]!, s[i]!, s[i]! + l[i]!);
      }, t);
      const copyPps = copy.hz * BATCH;
      rows.push({ name: `copy ${size}B (baseline)`, value: copyPps, unit: 'pps', rme: copy.rme });
      ctx.log(`copy ${size}B done`);
      for (const c of CASES) {
        const tunnel = new Tunnel(c.opts);
        const x = bed(pool, size);
        const enc = measure(`${c.name} encap ${size}`, () => {
          reset(x);
          encapBatch(tunnel, x.b);
        }, t);
        const encPps = enc.hz * BATCH;
        rows.push({ name: `${c.name} encap ${size}B`, value: encPps, unit: 'pps', rme: enc.rme, baseline: `copy ${size}B`, ratio: encPps / copyPps });
        // Decap: the encapsulated batch, restored before every call.
        reset(x);
        encapBatch(tunnel, x.b);
        const y: Bed = { b: x.b, start: x.b.start.slice(), len: x.b.len.slice() };
        const d = new Decapsulator(DECAP);
        let delivered = 0;
        const dec = measure(`${c.name} decap ${size}`, () => {
          reset(y);
          delivered = decapBatch(d, y.b, RxDepth.FRAME);
        }, t);
        if (delivered !== BATCH) throw new Error(`${c.name}: decap delivered ${delivered} of ${BATCH}`);
        const decPps = dec.hz * BATCH;
        rows.push({ name: `${c.name} decap ${size}B`, value: decPps, unit: 'pps', rme: dec.rme, baseline: `copy ${size}B`, ratio: decPps / copyPps });
        x.b.release();
        ctx.log(`${c.name} ${size}B done`);
      }
      src.b.release();
      dst.b.release();
    }
    // Garbage collections during a 10-second VXLAN 64-byte encap loop.
    const seconds = quick ? 2 : 10;
    const tunnel = new Tunnel(CASES[0]!.opts);
    const x = bed(pool, 64);
    let packets = 0;
    const { gcs } = await countGc(() => {
      const until = Date.now() + seconds * 1000;
      while (Date.now() < until) {
        for (let k = 0; k < 100; k++) {
          reset(x);
          packets += encapBatch(tunnel, x.b);
        }
      }
    });
    rows.push({ name: `vxlan4 encap 64B, ${seconds} s loop`, value: gcs, unit: 'GCs', note: `${(packets / seconds / 1e6).toFixed(1)} Mpps over the loop` });
    x.b.release();
    return rows;
  },
};
