/**
 * pcap benchmark suite (harness shape: bench/harness.ts). Lives here until the
 * lead moves it to bench/pcap.ts; run it with
 *
 *   npm run bench -- pcap
 *
 * Every figure has a baseline from the same run: a C program doing the same
 * job on the same file (bench/c/pcap.c, compiled by the benchmark), and for
 * reads a bare JavaScript loop over the record headers.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compileC, countGc, type BenchRow, type Suite } from './harness.js';
import { PacketPool } from '../src/packet/pool.js';
import { PcapWriter, PcapngWriter, readCapture, readCaptureBuffer } from '../src/pcap/index.js';

/** Runs the C reference; returns seconds and packets. */
function cRun(bin: string, args: string[]): { sec: number; packets: number; bytes: number } {
  const [sec, packets, bytes] = execFileSync(bin, args, { encoding: 'utf8' }).trim().split(' ').map(Number);
  return { sec: sec!, packets: packets!, bytes: bytes! };
}

/**
 * Seconds per call of fn: `runs` runs, each calling fn until 0.2 s have passed;
 * the median run and the spread.
 */
async function timed(runs: number, fn: () => unknown): Promise<{ median: number; min: number; max: number }> {
  const t: number[] = [];
  await fn(); // warm-up
  for (let i = 0; i < runs; i++) {
    let calls = 0;
    const t0 = performance.now();
    let el = 0;
    do {
      await fn();
      calls++;
      el = performance.now() - t0;
    } while (el < 200);
    t.push(el / 1000 / calls);
  }
  t.sort((a, b) => a - b);
  return { median: t[t.length >> 1]!, min: t[0]!, max: t[t.length - 1]! };
}

/** The C reference, run `runs` times: median seconds per job. */
function cTimed(bin: string, args: string[], runs: number): { sec: number; packets: number; bytes: number } {
  const r = Array.from({ length: runs }, () => cRun(bin, args)).sort((a, b) => a.sec - b.sec);
  return r[r.length >> 1]!;
}

const spread = (s: { min: number; max: number }, per: number, unit: string): string =>
  `runs ${(per / s.max / 1e6).toFixed(2)}-${(per / s.min / 1e6).toFixed(2)} M${unit}`;

/** A pool slot with a frame, written as the dataplane would: (pool.u8, start, len). */
function poolFrame(len: number): { pool: PacketPool; start: number } {
  const pool = new PacketPool({ slots: 4, slotSize: 2048 });
  const slot = pool.alloc();
  const start = pool.dataStart(slot);
  for (let i = 0; i < len; i++) pool.u8[start + i] = (i * 7) & 0xff;
  return { pool, start };
}

async function writeFile(file: string, ng: boolean, n: number, len: number): Promise<void> {
  const { pool, start } = poolFrame(len);
  if (ng) {
    const g = new PcapngWriter(file, { interfaces: [{ tsresol: 6 }] });
    for (let i = 0; i < n; i++) if (!g.write(0, pool.u8, start, len, 1700000000 + (i >>> 10), (i % 1000000) * 1000)) await g.drain();
    await g.close();
  } else {
    const w = new PcapWriter(file);
    for (let i = 0; i < n; i++) if (!w.write(pool.u8, start, len, 1700000000 + (i >>> 10), (i % 1000000) * 1000)) await w.drain();
    await w.close();
  }
}

/** The least a JavaScript loop can do over an in-memory pcap: record headers only. */
function bareLoop(buf: Uint8Array): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 24;
  let sum = 0;
  while (off + 16 <= buf.length) {
    const caplen = dv.getUint32(off + 8, true);
    sum += dv.getUint32(off, true) + dv.getUint32(off + 4, true) + dv.getUint32(off + 12, true) + buf[off + 16]!;
    off += 16 + caplen;
  }
  return sum;
}

let sink = 0;

export const suite: Suite = {
  description: 'pcap/pcapng read (buffer, stream) and write, against C fread/fwrite loops',
  async run(ctx) {
    const rows: BenchRow[] = [];
    const dir = mkdtempSync(path.join(tmpdir(), 'vtep-bench-pcap-'));
    try {
      const bin = compileC('pcap.c');
      for (const len of [64, 1500]) {
        const n = len === 64 ? 400000 : 40000;
        const file = path.join(dir, `r${len}.pcap`);
        const ngFile = path.join(dir, `r${len}.pcapng`);
        await writeFile(file, false, n, len);
        await writeFile(ngFile, true, n, len);
        const { readFileSync } = await import('node:fs');
        const buf = readFileSync(file);
        const ngBuf = readFileSync(ngFile);
        ctx.log(`read ${len}B: ${n} packets, pcap ${buf.length} bytes`);

        const c = cTimed(bin, ['mem', file, len === 64 ? '100' : '1000'], 5);
        if (c.packets !== n) throw new Error(`C parsed ${c.packets} packets, not ${n}`);
        const cPps = n / c.sec;
        rows.push({ name: `C parse in memory ${len}B`, value: cPps, unit: 'pkt/s', note: `${((c.bytes / c.sec) * 8 / 1e9).toFixed(1)} Gbit/s of packets` });
        const bare = await timed(5, () => (sink += bareLoop(buf)));
        rows.push({ name: `JS bare header loop ${len}B`, value: n / bare.median, unit: 'pkt/s', baseline: `C parse in memory ${len}B`, ratio: n / bare.median / cPps, note: spread(bare, n, 'pkt/s') });
        const forOf = await timed(5, () => {
          for (const r of readCaptureBuffer(buf)) sink += r.tsSec + r.tsNsec + r.origLen + r.buf[r.offset]!;
        });
        rows.push({ name: `readCaptureBuffer pcap ${len}B`, value: n / forOf.median, unit: 'pkt/s', baseline: `C parse in memory ${len}B`, ratio: n / forOf.median / cPps, note: spread(forOf, n, 'pkt/s') });
        const ng = await timed(5, () => {
          for (const r of readCaptureBuffer(ngBuf)) sink += r.tsSec + r.tsNsec + r.origLen + r.buf[r.offset]!;
        });
        rows.push({ name: `readCaptureBuffer pcapng ${len}B`, value: n / ng.median, unit: 'pkt/s', baseline: `C parse in memory ${len}B`, ratio: n / ng.median / cPps, note: spread(ng, n, 'pkt/s') });
        const gc = await countGc(() => {
          for (const r of readCaptureBuffer(buf)) sink += r.caplen;
        });
        rows[rows.length - 2]!.note += `; ${gc.gcs} GCs per pass`;

        // Streaming from the file (in the page cache after the write above).
        const cs = cTimed(bin, ['stream', file], 5);
        const csPps = n / cs.sec;
        rows.push({ name: `C fread+parse ${len}B`, value: csPps, unit: 'pkt/s', note: `${(cs.bytes / cs.sec / 1e6).toFixed(0)} MB/s of packets` });
        const raw = await timed(5, async () => {
          for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) sink += (chunk as Buffer).length;
        });
        rows.push({ name: `Node createReadStream only ${len}B`, value: n / raw.median, unit: 'pkt/s', baseline: `C fread+parse ${len}B`, ratio: n / raw.median / csPps, note: 'no parsing: the I/O floor' });
        const fa = await timed(5, async () => {
          for await (const r of readCapture(file)) sink += r.caplen + r.buf[r.offset]!;
        });
        rows.push({ name: `readCapture for-await ${len}B`, value: n / fa.median, unit: 'pkt/s', baseline: `C fread+parse ${len}B`, ratio: n / fa.median / csPps, note: spread(fa, n, 'pkt/s') });
        const rf = await timed(5, async () => {
          const r = readCapture(file);
          for (;;) {
            let rec;
            while ((rec = r.read()) !== null) sink += rec.caplen + rec.buf[rec.offset]!;
            if (!(await r.fill())) break;
          }
        });
        rows.push({ name: `readCapture read()/fill() ${len}B`, value: n / rf.median, unit: 'pkt/s', baseline: `C fread+parse ${len}B`, ratio: n / rf.median / csPps, note: spread(rf, n, 'pkt/s') });

        // Writing from pool memory to a file.
        const out = path.join(dir, `w${len}.pcap`);
        const cw = cTimed(bin, ['write', out, String(n), String(len)], 5);
        const cwPps = n / cw.sec;
        rows.push({ name: `C fwrite ${len}B`, value: cwPps, unit: 'pkt/s' });
        const pw = await timed(5, () => writeFile(out, false, n, len));
        rows.push({ name: `PcapWriter file ${len}B`, value: n / pw.median, unit: 'pkt/s', baseline: `C fwrite ${len}B`, ratio: n / pw.median / cwPps, note: spread(pw, n, 'pkt/s') });
        const gw = await timed(5, () => writeFile(out, true, n, len));
        rows.push({ name: `PcapngWriter file ${len}B`, value: n / gw.median, unit: 'pkt/s', baseline: `C fwrite ${len}B`, ratio: n / gw.median / cwPps, note: spread(gw, n, 'pkt/s') });
      }
      writeFileSync(path.join(dir, 'sink'), String(sink));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
