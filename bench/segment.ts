/**
 * `npm run bench -- segment`: software TSO and GRO next to a plain copy of
 * the same bytes, in the same run.
 *
 * Segmentation: a 64 KB IPv4 TCP super-frame (timestamps) cut into 46
 * segments of 1448 bytes, zero-copy (headers written, payload left in place:
 * what goes out as iovecs) and copying each payload behind its headers, with
 * complete checksums and with partial ones (NEEDS_CSUM output); baseline: one
 * copyWithin of the 64 KB frame in the same pool.
 * Coalescing: 44 in-order segments of 1448 bytes in a batch merged into one
 * super-frame, verified and gathered into one buffer, or linked only (iovecs,
 * checksums trusted); baseline: copying the 44 frames into that buffer.
 * Then a 2-second segmentation loop with the garbage collections counted.
 */
import { PacketPool } from '../src/packet/pool.js';
import { Batch } from '../src/packet/batch.js';
import { segment, Segments, SegFlag, copyBytes } from '../src/tunnel/segment.js';
import { Coalescer } from '../src/tunnel/coalesce.js';
import { put16, put32 } from '../src/wire/bytes.js';
import { checksum, sumBytes, sumWords, finish } from '../src/wire/checksum.js';
import { measure, countGc, type BenchRow, type Suite } from './harness.js';

const MSS = 1448;
const HDR = 14 + 20 + 32; // Ethernet + IPv4 + TCP with timestamps

/** Ethernet/IPv4/TCP(timestamps) with `pay` payload bytes, sequence `seq`, identification `id`; TCP checksum complete. */
function tcpFrame(u8: Uint8Array, at: number, pay: number, seq: number, id: number, flags: number): number {
  const len = HDR + pay;
  u8.fill(0, at, at + HDR);
  u8.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], at);
  const ip = at + 14;
  u8.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], ip);
  put16(u8, ip + 2, len - 14);
  put16(u8, ip + 4, id);
  put16(u8, ip + 10, checksum(u8, ip, 20));
  const tcp = ip + 20;
  u8.set([0x9c, 0x40, 0x14, 0x51], tcp);
  put32(u8, tcp + 4, seq);
  put32(u8, tcp + 8, 5000);
  u8[tcp + 12] = 0x80;
  u8[tcp + 13] = flags;
  put16(u8, tcp + 14, 501);
  u8.set([1, 1, 8, 10, 0, 0x0f, 0x42, 0x41, 0, 0x1e, 0x84, 0x82], tcp + 20);
  for (let i = 0; i < pay; i++) u8[tcp + 32 + i] = (i * 7 + seq) & 0xff;
  const l4len = len - 34;
  put16(u8, tcp + 16, finish(sumBytes(u8, tcp, l4len, sumBytes(u8, ip + 12, 8, 6 + l4len))));
  return len;
}

export const suite: Suite = {
  description: 'TCP segmentation of a 64 KB super-frame and coalescing of 44 segments, vs a copy of the same bytes',
  async run(ctx) {
    const rows: BenchRow[] = [];
    const t = ctx.args.includes('--quick') ? 0.3 : 1;

    // --- segmentation ---
    const pool = new PacketPool({ slots: 3, slotSize: 1 << 17 });
    const u8 = pool.u8;
    const src = pool.dataStart(0);
    const flen = tcpFrame(u8, src, 65535 - 20 - 32, 1000, 1, 0x18);
    const starts = new Uint32Array(64);
    for (let k = 0; k < 64; k++) starts[k] = pool.base(1) + 130 + k * 2048;
    const out = new Segments(64);
    const copyTo = pool.dataStart(2);
    const copy = measure('copy 64 KB', () => {
      u8.copyWithin(copyTo, src, src + flen);
    }, t);
    rows.push({ name: 'copy 64 KB frame (baseline)', value: copy.hz, unit: 'frames/s', rme: copy.rme });
    // The floor of a full-checksum segmentation: summing the payload once.
    let sink = 0;
    const sum = measure('checksum 64 KB', () => {
      sink += sumWords(u8, pool.u32, src + HDR, flen - HDR, 0);
    }, t);
    if (sink === 0) throw new Error('checksum: no sum');
    rows.push({ name: 'checksum of the 64 KB payload (sumWords)', value: sum.hz, unit: 'frames/s', rme: sum.rme, baseline: 'copy 64 KB frame', ratio: sum.hz / copy.hz });
    const cases: [string, number][] = [
      ['segment 64 KB zero-copy, checksums', 0],
      ['segment 64 KB copy, checksums', SegFlag.COPY_PAYLOAD],
      ['segment 64 KB zero-copy, partial', SegFlag.PARTIAL_CSUM],
      ['segment 64 KB copy, partial', SegFlag.COPY_PAYLOAD | SegFlag.PARTIAL_CSUM],
    ];
    for (const [name, flags] of cases) {
      let n = 0;
      const m = measure(name, () => {
        n = segment(u8, src, flen, MSS, u8, starts, out, flags, pool.u32);
      }, t);
      if (n !== 46) throw new Error(`${name}: ${n} segments (reason ${out.reason})`);
      rows.push({ name: `${name} (46 segments)`, value: m.hz, unit: 'frames/s', rme: m.rme, baseline: 'copy 64 KB frame', ratio: m.hz / copy.hz });
      ctx.log(`${name} done`);
    }

    // --- coalescing ---
    const SEGS = 44;
    const rx = new PacketPool({ slots: 64 });
    const b = new Batch(rx, 64);
    for (let k = 0; k < SEGS; k++) {
      const slot = rx.alloc();
      const at = rx.dataStart(slot);
      const len = tcpFrame(rx.u8, at, MSS, 1000 + k * MSS, 100 + k, k === SEGS - 1 ? 0x18 : 0x10);
      b.push(slot, at, len);
    }
    const saved = new Uint8Array(HDR);
    saved.set(rx.u8.subarray(b.start[0]!, b.start[0]! + HDR));
    const big = new Uint8Array(1 << 17);
    const restoreHead = (): void => {
      rx.u8.set(saved, b.start[0]!); // coalesce() patched the first segment's headers
    };
    const base = measure('copy 44 frames', () => {
      let p = 0;
      for (let k = 0; k < SEGS; k++) {
        copyBytes(rx.u8, b.start[k]!, b.start[k]! + b.len[k]!, big, p);
        p += b.len[k]!;
      }
    }, t);
    rows.push({ name: 'copy 44 frames (baseline)', value: base.hz, unit: 'batches/s', rme: base.rme });
    const g = new Coalescer({ capacity: 64 });
    const gt = new Coalescer({ capacity: 64, verify: false });
    const offs = new Uint32Array(64);
    const lens = new Uint32Array(64);
    let merged = 0;
    const m1 = measure('coalesce+gather', () => {
      restoreHead();
      g.coalesce(b);
      merged = g.segs[0]!;
      g.gather(b, 0, big, 0);
    }, t);
    if (merged !== SEGS) throw new Error(`coalesce merged ${merged} of ${SEGS}`);
    rows.push({ name: 'coalesce 44 segments, verify + gather', value: m1.hz, unit: 'batches/s', rme: m1.rme, baseline: 'copy 44 frames', ratio: m1.hz / base.hz });
    const m2 = measure('coalesce iovecs', () => {
      restoreHead();
      gt.coalesce(b);
      merged = gt.iovecs(b, 0, offs, lens, 0);
    }, t);
    if (merged !== SEGS) throw new Error(`iovecs ${merged} of ${SEGS}`);
    rows.push({ name: 'coalesce 44 segments, trusted, iovecs', value: m2.hz, unit: 'batches/s', rme: m2.rme, baseline: 'copy 44 frames', ratio: m2.hz / base.hz });
    ctx.log('coalesce done');

    // --- garbage collections ---
    const seconds = ctx.args.includes('--quick') ? 1 : 2;
    let frames = 0;
    const { gcs } = await countGc(() => {
      const until = Date.now() + seconds * 1000;
      while (Date.now() < until) {
        for (let k = 0; k < 50; k++) {
          frames += segment(u8, src, flen, MSS, u8, starts, out, SegFlag.COPY_PAYLOAD, pool.u32);
          restoreHead();
          g.coalesce(b);
          g.gather(b, 0, big, 0);
        }
      }
    });
    rows.push({ name: `segment + coalesce, ${seconds} s loop`, value: gcs, unit: 'GCs', note: `${(frames / seconds / 1e3).toFixed(0)} k segments/s over the loop` });
    b.release();
    return rows;
  },
};
