import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  PcapngWriter, VtepError, readCapture, readCaptureBuffer, readCapturePackets, type CapturedPacket,
} from '../../src/index.js';
import { FIXTURES, PCAP_FIXTURES, concat, tempDir } from './helpers.js';
import { PCAPNG_LE, PCAPNG_MULTI, PCAP_BE_NSEC, PCAP_LE_USEC, PCAP_MODIFIED } from './vectors.js';
import { rng } from '../../src/util/rng.js';


/** Splits bytes into chunks of 1..max bytes. */
function chunks(bytes: Uint8Array, r: () => number, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + (r() % max);
    out.push(Uint8Array.from(bytes.subarray(i, i + n)));
    i += n;
  }
  return out;
}

type Outcome = { packets: CapturedPacket[]; error?: string; truncatedAt: number };

function viaBuffer(bytes: Uint8Array, lenient: boolean): Outcome {
  const packets: CapturedPacket[] = [];
  const r = readCaptureBuffer(bytes, { lenient });
  try {
    for (const rec of r) packets.push(rec.clone());
  } catch (err) {
    return { packets, error: (err as Error).message, truncatedAt: r.truncatedAt };
  }
  return { packets, truncatedAt: r.truncatedAt };
}

async function viaStream(source: Parameters<typeof readCapture>[0], lenient: boolean): Promise<Outcome> {
  const packets: CapturedPacket[] = [];
  const r = readCapture(source, { lenient });
  try {
    for await (const rec of r) packets.push(rec.clone());
  } catch (err) {
    return { packets, error: (err as Error).message, truncatedAt: r.truncatedAt };
  }
  return { packets, truncatedAt: r.truncatedAt };
}

const INPUTS = (): Uint8Array[] => [
  PCAP_LE_USEC, PCAP_BE_NSEC, PCAP_MODIFIED, PCAPNG_LE, PCAPNG_MULTI,
  readFileSync(path.join(FIXTURES, 'inner.pcap')), readFileSync(path.join(FIXTURES, 'decap.pcap')),
  readFileSync(path.join(PCAP_FIXTURES, 'multi-section.pcapng')), readFileSync(path.join(PCAP_FIXTURES, 'be-nsec.pcap')),
];

test('a stream cut into chunks of any size reads like the whole buffer', async () => {
  const r = rng(11);
  for (const input of INPUTS()) {
    const want = viaBuffer(input, false);
    assert.is(want.error, undefined);
    for (const max of [1, 3, 7, 64, 5000]) {
      const got = await viaStream(Readable.from(chunks(input, r, max)), false);
      assert.equal(got, want, `chunks of up to ${max} bytes`);
    }
  }
});

test('corrupt and truncated streams fail (or stop, when lenient) exactly like the buffer reader', async () => {
  const r = rng(12);
  for (const input of INPUTS().slice(0, 5)) {
    for (let k = 0; k < 60; k++) {
      const b = Uint8Array.from(input.subarray(0, k % 3 === 0 ? r() % input.length : input.length));
      if (k % 3 !== 0) b[r() % b.length] = r() & 0xff;
      const lenient = (k & 1) === 1;
      const want = viaBuffer(b, lenient);
      const got = await viaStream(Readable.from(chunks(b, r, 9)), lenient);
      assert.equal(got, want);
    }
  }
});

test('reads a file path; the project fixtures as files', async () => {
  for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.pcap'))) {
    const file = path.join(FIXTURES, f);
    assert.equal(await viaStream(file, false), viaBuffer(readFileSync(file), false), f);
  }
  assert.is((await readCapturePackets(path.join(FIXTURES, 'inner.pcap'))).length, 9);
});

test('open() parses the headers without consuming the first packet', async () => {
  const r = await readCapture(Readable.from([PCAPNG_LE])).open();
  assert.is(r.format, 'pcapng');
  assert.is(r.interfaces.length, 1);
  assert.is(r.interfaces[0]!.name, 'eth0');
  let n = 0;
  for await (const rec of r) assert.is(rec.index, n++);
  assert.is(n, 2);
  const p = await readCapture(PCAP_BE_NSEC).open();
  assert.is(p.format, 'pcap');
  assert.is(p.interfaces[0]!.linkType, 228);
  assert.is((await p.open()).format, 'pcap');
});

test('read() and fill(): a loop with one await per buffer refill, not per packet', async () => {
  const r = readCapture(path.join(FIXTURES, 'inner.pcap'));
  const lens: number[] = [];
  let fills = 0;
  for (;;) {
    let rec;
    while ((rec = r.read()) !== null) lens.push(rec.caplen);
    if (!(await r.fill())) break;
    fills++;
  }
  assert.equal(lens, [42, 98, 66, 71, 86, 86, 8942, 50, 60]);
  assert.ok(fills <= 3, `fills ${fills}`);
});

test('a block longer than the buffer is skipped without buffering it; its trailer is still checked', async () => {
  // SHB + IDB, a 5 MB custom block, then the EPB/ISB/SPB of PCAPNG_LE.
  const big = 5 << 20;
  const custom = Buffer.alloc(big);
  custom.writeUInt32LE(0x00000bad, 0);
  custom.writeUInt32LE(big, 4);
  custom.writeUInt32LE(32473, 8);
  custom.writeUInt32LE(big, big - 4);
  const bytes = concat(PCAPNG_LE.subarray(0, 68), custom, PCAPNG_LE.subarray(68));
  const want = viaBuffer(PCAPNG_LE, false);
  const r = readCapture(Readable.from(chunks(bytes, rng(3), 70000)), { bufferSize: 4096 });
  const got: CapturedPacket[] = [];
  for await (const rec of r) got.push(rec.clone());
  assert.equal(got, want.packets);
  assert.is(r.buffer.length, 2 * (262144 + 65536), 'the buffer is two of the largest blocks, whatever the file holds');
  custom.writeUInt32LE(big - 8, big - 4);
  const bad = concat(PCAPNG_LE.subarray(0, 68), custom, PCAPNG_LE.subarray(68));
  const out = await viaStream(Readable.from(chunks(bad, rng(4), 70000)), false);
  assert.match(out.error ?? '', /offset 68: block type 0x00000bad: trailing length 5242872 differs from the leading length 5242880/);
  // Cut inside the skipped block.
  const cut = await viaStream(Readable.from([bytes.subarray(0, 1000000)]), true);
  assert.is(cut.truncatedAt, 68);
});

test('stream errors reach the reader; text chunks are refused', async () => {
  const failing = new Readable({
    read() {
      this.push(PCAP_LE_USEC.subarray(0, 30));
      this.destroy(new Error('disk on fire'));
    },
  });
  const fire = await viaStream(failing, false);
  assert.is(fire.error, 'disk on fire');
  try {
    for await (const _ of readCapture(Readable.from(['text']))) { /* drain */ }
    assert.unreachable('a text chunk was accepted');
  } catch (e) {
    assert.ok(e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && /chunk "text" is not a Uint8Array/.test(e.message), String(e));
  }
  assert.throws(() => readCapture(42 as unknown as string), /source: 42 is not a path/);
});

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

test('breaking out of the loop closes the file', async () => {
  const before = openFds();
  for (let i = 0; i < 5; i++) {
    for await (const rec of readCapture(path.join(FIXTURES, 'inner.pcap'))) {
      if (rec.index === 1) break;
    }
  }
  // Also a reader that is read to the end, and one closed explicitly.
  await readCapturePackets(path.join(FIXTURES, 'inner.pcap'));
  const r = readCapture(path.join(FIXTURES, 'inner.pcap'));
  await r.open();
  await r.close();
  await new Promise((res) => setTimeout(res, 10));
  assert.is(openFds(), before);
});

test('constant memory: a 64 MB capture streams through one fixed buffer', async () => {
  const { dir, done } = tempDir();
  try {
    const file = path.join(dir, 'big.pcapng');
    const w = new PcapngWriter(file);
    const eth = w.addInterface({ linkType: 1, tsresol: 9 });
    const raw = w.addInterface({ linkType: 101, tsresol: 6 });
    const frame = new Uint8Array(1514);
    for (let i = 0; i < frame.length; i++) frame[i] = (i * 7) & 0xff;
    const r = rng(21);
    let written = 0;
    let sum = 0;
    while (w.bytesWritten < 64 << 20) {
      const len = 60 + (r() % 1455);
      const off = r() % (frame.length - len + 1);
      const ifId = written % 3 === 0 ? raw : eth;
      if (!w.write(ifId, frame, off, len, 1700000000 + (written >>> 10), (written * 997) % 1e9)) await w.drain();
      sum += len + frame[off]!;
      written++;
    }
    await w.close();
    assert.ok(statSync(file).size >= 64 << 20);

    global.gc?.();
    const base = process.memoryUsage();
    let peakAb = 0;
    let peakHeap = 0;
    let n = 0;
    let got = 0;
    const reader = readCapture(file);
    for await (const rec of reader) {
      got += rec.caplen + rec.buf[rec.offset]!;
      if (rec.linkType !== (n % 3 === 0 ? 101 : 1)) throw new Error(`record ${n}: link type ${rec.linkType}`);
      if ((++n & 4095) === 0) {
        const m = process.memoryUsage();
        peakAb = Math.max(peakAb, m.arrayBuffers - base.arrayBuffers);
        peakHeap = Math.max(peakHeap, m.heapUsed - base.heapUsed);
      }
    }
    assert.is(n, written);
    assert.is(got, sum);
    assert.is(reader.buffer.length, 1 << 20);
    assert.ok(peakAb < 4 << 20, `array buffers grew by ${peakAb} bytes`);
    assert.ok(peakHeap < 32 << 20, `heap grew by ${peakHeap} bytes`);
  } finally {
    done();
  }
});

test.run();
