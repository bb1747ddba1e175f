import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  Batch, LinkType, PacketPool, PcapWriter, PcapngWriter, pcapToBuffer, pcapngToBuffer, readCaptureBuffer,
  readCapturePackets, type CapturedPacket,
} from '../../src/index.js';
import { FIXTURES, concat, tempDir, toHex } from './helpers.js';
import { ARP, LE_OFFSETS, PCAPNG_LE, PCAP_BE_NSEC, PCAP_LE_USEC, V4_UDP } from './vectors.js';
import { throwsCode } from '../helpers/errors.js';

const all = (bytes: Uint8Array): CapturedPacket[] => Array.from(readCaptureBuffer(bytes), (r) => r.clone());


test('pcap writer: byte for byte the hand-built little-endian microsecond file', () => {
  const w = new PcapWriter(undefined, { snaplen: 65535 });
  assert.ok(w.write(ARP, 0, ARP.length, 1795212431, 481361999));
  assert.is(toHex(w.toBuffer()), toHex(PCAP_LE_USEC));
  assert.is(w.bytesWritten, PCAP_LE_USEC.length);
  assert.is(w.packets, 1);
});

test('pcap writer: byte for byte the hand-built big-endian nanosecond raw-IPv4 file', () => {
  const b = pcapToBuffer([{ data: V4_UDP, tsSec: 1795212431, tsNsec: 481361007 }],
    { bigEndian: true, nanos: true, linkType: LinkType.IPV4, snaplen: 96 });
  assert.is(toHex(b), toHex(PCAP_BE_NSEC));
});

test('pcapng writer: IDB and EPB byte for byte as the hand-built ones', () => {
  const g = new PcapngWriter();
  const id = g.addInterface({ linkType: 1, snaplen: 0, name: 'eth0', tsresol: 9 });
  g.write(id, concat(Uint8Array.of(9, 9), ARP), 2, 42, 1795212431, 123456789, 60);
  const out = g.toBuffer();
  // Our SHB carries shb_userappl; the blocks after it must equal the vector's.
  const shbLen = new DataView(out.buffer, out.byteOffset).getUint32(4, true);
  const idbEpb = PCAPNG_LE.subarray(LE_OFFSETS.IDB, LE_OFFSETS.ISB);
  // The vector's EPB has a comment and flags: write them through writePacket.
  const g2 = new PcapngWriter(undefined, { interfaces: [{ snaplen: 0, name: 'eth0', tsresol: 9 }] });
  g2.writePacket({ data: ARP, tsSec: 1795212431, tsNsec: 123456789, origLen: 60, comments: ['hi'], flags: 1 });
  const out2 = g2.toBuffer();
  assert.is(toHex(out2.subarray(shbLen)), toHex(idbEpb));
  assert.equal(all(out), [{ data: ARP, tsSec: 1795212431, tsNsec: 123456789, origLen: 60, interfaceId: 0, linkType: 1, flags: 0 }]);
  const r = readCaptureBuffer(out2);
  r.read();
  assert.is(r.section.userappl, 'vtep');
});

test('pcapng writer: several interfaces, link types, resolutions, offsets, comments, sections, big-endian', () => {
  const g = new PcapngWriter(undefined, { bigEndian: true, hardware: 'hw', os: 'os', comment: 'sec0' });
  const eth = g.addInterface({ linkType: 1, name: 'underlay', tsresol: 9, description: 'd', os: 'Linux', hardware: 'nic', fcslen: 0, comment: 'c' });
  const raw = g.addInterface({ linkType: LinkType.RAW, name: 'raw', tsresol: 0x80 | 20, snaplen: 20 });
  const us = g.addInterface({ linkType: LinkType.LINUX_SLL, tsresol: 6, tsoffset: 1000000000 });
  g.write(eth, ARP, 0, undefined, 1795212431, 5, undefined, 2);
  g.write(raw, V4_UDP, 0, undefined, 1795212431, 999999999);
  g.writePacket({ data: ARP, interfaceId: us, tsSec: 1795212431, tsNsec: 123456789, comments: ['a', 'ü', ''] });
  g.newSection({ userappl: 'second', bigEndian: false });
  const v6 = g.addInterface({ linkType: LinkType.IPV6 });
  g.write(v6, V4_UDP, 0, 4, 7, 8);
  const got = all(g.toBuffer());
  assert.equal(got, [
    { data: ARP, tsSec: 1795212431, tsNsec: 5, origLen: 42, interfaceId: 0, linkType: 1, flags: 2 },
    // 2^-20 s units (954 ns) truncate 999999999 ns to 999999046 ns.
    { data: V4_UDP.subarray(0, 20), tsSec: 1795212431, tsNsec: 999999046, origLen: 30, interfaceId: 1, linkType: 101, flags: 0 },
    { data: ARP, tsSec: 1795212431, tsNsec: 123456000, origLen: 42, interfaceId: 2, linkType: 113, flags: 0, comments: ['a', 'ü', ''] },
    { data: V4_UDP.subarray(0, 4), tsSec: 7, tsNsec: 8, origLen: 4, interfaceId: 0, linkType: 229, flags: 0 },
  ]);
  const r = readCaptureBuffer(g.toBuffer());
  r.read();
  assert.equal(r.interfaces.map((i) => [i.name, i.description, i.os, i.hardware, i.fcslen, i.comments, i.snaplen, i.tsresol, i.tsoffset]), [
    ['underlay', 'd', 'Linux', 'nic', 0, ['c'], 262144, 9, 0],
    ['raw', undefined, undefined, undefined, -1, [], 20, 0x94, 0],
    [undefined, undefined, undefined, undefined, -1, [], 262144, 6, 1000000000],
  ]);
  assert.equal([r.section.littleEndian, r.section.hardware, r.section.os, r.section.comments], [false, 'hw', 'os', ['sec0']]);
  for (const _ of r) { /* to the end */ }
  assert.is(r.section.userappl, 'second');
  assert.is(r.section.index, 1);
  assert.is(r.section.littleEndian, true);
});

test('snaplen cuts long packets; origLen keeps the wire length', () => {
  const pk = all(pcapToBuffer([{ data: ARP, tsSec: 1 }], { snaplen: 14 }));
  assert.is(pk[0]!.data.length, 14);
  assert.is(pk[0]!.origLen, 42);
  const w = new PcapWriter(undefined, {});
  w.write(ARP, 0, 42, 1, 0, 1500);
  assert.is(all(w.toBuffer())[0]!.origLen, 1500);
  throwsCode(() => w.write(ARP, 0, 42, 1, 0, 41), 'ERR_INVALID_ARG', /origLen: 41 is not an integer in 42\.\.4294967295/);
});

test('microsecond pcap truncates nanoseconds; missing time means now', () => {
  const [p] = all(pcapToBuffer([{ data: ARP, tsSec: 5, tsNsec: 999999999 }]));
  assert.is(p!.tsNsec, 999999000);
  const before = Math.floor(Date.now() / 1000);
  const [q] = all(pcapngToBuffer([{ data: ARP }]));
  const after = Math.ceil(Date.now() / 1000);
  assert.ok(q!.tsSec >= before && q!.tsSec <= after, `${q!.tsSec} in ${before}..${after}`);
});

test('writes straight from pool memory: (pool.u8, start, length) per packet', () => {
  const pool = new PacketPool({ slots: 8 });
  const batch = new Batch(pool, 8);
  const frames = [ARP, V4_UDP, ARP.subarray(0, 14)];
  for (const f of frames) batch.pushCopy(f);
  const w = new PcapngWriter(undefined, { interfaces: [{}] });
  for (let i = 0; i < batch.count; i++) w.write(0, pool.u8, batch.start[i]!, batch.len[i]!, 100, i);
  const got = all(w.toBuffer());
  assert.equal(got.map((p) => toHex(p.data)), frames.map((b) => toHex(b)));
  assert.equal(got.map((p) => p.tsNsec), [0, 1, 2]);
  batch.release();
});

test('a packet larger than the chunk, and many chunks', () => {
  const jumbo = new Uint8Array(9000).map((_, i) => i & 0xff);
  const w = new PcapngWriter(undefined, { chunkSize: 4096, interfaces: [{}] });
  for (let i = 0; i < 50; i++) w.write(0, jumbo, 0, 100 + i * 170, i, 0);
  const got = all(w.toBuffer());
  assert.is(got.length, 50);
  got.forEach((p, i) => {
    assert.is(p.data.length, 100 + i * 170);
    assert.is(toHex(p.data), toHex(jumbo.subarray(0, 100 + i * 170)));
  });
});

test('bad arguments: ERR_INVALID_ARG naming the field and value', () => {
  const w = new PcapWriter();
  throwsCode(() => w.write('x' as unknown as Uint8Array), 'ERR_INVALID_ARG', /bytes: "x" is not a Uint8Array/);
  throwsCode(() => w.write(ARP, 43), 'ERR_INVALID_ARG', /offset: 43 is not an integer in 0\.\.42/);
  throwsCode(() => w.write(ARP, 2, 41), 'ERR_INVALID_ARG', /length: 41 is not an integer in 0\.\.40/);
  throwsCode(() => w.write(ARP, 0, 42, -1), 'ERR_INVALID_ARG', /tsSec: -1/);
  throwsCode(() => w.write(ARP, 0, 42, 2 ** 32), 'ERR_INVALID_ARG', /tsSec: 4294967296/);
  throwsCode(() => w.write(ARP, 0, 42, 1, 1e9), 'ERR_INVALID_ARG', /tsNsec: 1000000000 is not an integer in 0\.\.999999999/);
  throwsCode(() => new PcapWriter(undefined, { linkType: -1 }), 'ERR_INVALID_ARG', /linkType: -1/);
  throwsCode(() => new PcapWriter(undefined, { snaplen: 0 }), 'ERR_INVALID_ARG', /snaplen: 0/);
  throwsCode(() => new PcapWriter(42 as unknown as string), 'ERR_INVALID_ARG', /target: 42 is not a path or a Writable/);
  throwsCode(() => new PcapWriter(undefined, { chunkSize: 10 }), 'ERR_INVALID_ARG', /chunkSize: 10/);
  const g = new PcapngWriter();
  throwsCode(() => g.write(0, ARP), 'ERR_INVALID_ARG', /interface: 0 is not an interface of this section \(0 added\)/);
  throwsCode(() => g.addInterface({ tsresol: 20 }), 'ERR_INVALID_ARG', /tsresol: 20 is not a resolution/);
  throwsCode(() => g.addInterface({ linkType: 65536 }), 'ERR_INVALID_ARG', /linkType: 65536/);
  throwsCode(() => g.addInterface({ name: 5 as unknown as string }), 'ERR_INVALID_ARG', /name: 5 is not a string/);
  const i = g.addInterface({ tsresol: 9, tsoffset: 100 });
  throwsCode(() => g.write(i, ARP, 0, 42, 99), 'ERR_INVALID_ARG', /tsSec: 99 is not a time that fits 64 bits at if_tsresol 9 after if_tsoffset 100/);
  throwsCode(() => g.write(i, ARP, 0, 42, 2 ** 40), 'ERR_INVALID_ARG', /tsSec: 1099511627776/);
  throwsCode(() => g.write(i, ARP, 0, 42, 200, 0, undefined, -1), 'ERR_INVALID_ARG', /flags: -1/);
  throwsCode(() => g.writePacket({ data: ARP, comments: [7 as unknown as string] }), 'ERR_INVALID_ARG', /comments\[0\]: 7 is not a string/);
});

test('write after close is ERR_CLOSED; close twice is fine', async () => {
  const w = new PcapWriter();
  await w.close();
  await w.close();
  throwsCode(() => w.write(ARP), 'ERR_CLOSED', /write after close/);
  assert.is(w.toBuffer().length, 24);
});

/** A Writable that takes each chunk after a delay, keeping copies. */
function slowSink(delayMs: number): { stream: Writable; received: Buffer[] } {
  const received: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      received.push(Buffer.from(chunk));
      setTimeout(cb, delayMs);
    },
  });
  return { stream, received };
}

test('backpressure: write() returns false, drain() waits, every byte arrives in order', async () => {
  const { stream, received } = slowSink(2);
  const w = new PcapngWriter(stream, { chunkSize: 4096, interfaces: [{ tsresol: 6 }] });
  const mem = new PcapngWriter(undefined, { interfaces: [{ tsresol: 6 }] });
  let waits = 0;
  for (let i = 0; i < 2000; i++) {
    const len = 20 + (i % 23);
    mem.write(0, ARP, 0, len, 1000 + i, 0);
    if (!w.write(0, ARP, 0, len, 1000 + i, 0)) {
      waits++;
      await w.drain();
    }
  }
  await w.close();
  assert.ok(waits > 10, `waited ${waits} times`);
  assert.ok(stream.writableFinished);
  // The SHBs are equal too (same options): compare the whole files.
  assert.is(toHex(Buffer.concat(received)), toHex(mem.toBuffer()));
});

test('a stream error reaches write() and close()', async () => {
  const bad = new Writable({
    write(_c, _e, cb) {
      cb(new Error('no space left'));
    },
  });
  const w = new PcapWriter(bad, { chunkSize: 4096 });
  let thrown: unknown;
  try {
    for (let i = 0; i < 1000; i++) {
      if (!w.write(ARP, 0, 42, 1)) await w.drain();
      await new Promise((r) => setImmediate(r));
    }
  } catch (err) {
    thrown = err;
  }
  assert.match(String(thrown), /no space left/);
  try {
    await w.close();
    assert.unreachable('close() resolved after a stream error');
  } catch (err) {
    assert.match(String(err), /no space left/);
  }
});

test('end: false leaves the stream open', async () => {
  const { stream } = slowSink(0);
  const w = new PcapWriter(stream, { end: false });
  w.write(ARP, 0, 42, 1);
  await w.close();
  assert.is(stream.writableEnded, false);
  stream.end();
});

test('file targets: pcap and pcapng round trip through files', async () => {
  const { dir, done } = tempDir();
  try {
    const inner = await readCapturePackets(path.join(FIXTURES, 'inner.pcap'));
    const a = path.join(dir, 'a.pcap');
    const w = new PcapWriter(a, { nanos: true });
    for (const p of inner) w.writePacket(p);
    await w.close();
    assert.equal(await readCapturePackets(a), inner);
    const b = path.join(dir, 'b.pcapng');
    const g = new PcapngWriter(b, { interfaces: [{ tsresol: 6 }] });
    for (const p of inner) g.writePacket(p);
    await g.close();
    assert.equal(await readCapturePackets(b), inner);
    assert.equal(all(readFileSync(b)), inner);
  } finally {
    done();
  }
});

test('to-buffer forms round trip what a reader returns', () => {
  const inner = all(readFileSync(path.join(FIXTURES, 'inner.pcap')));
  assert.equal(all(pcapToBuffer(inner)), inner);
  assert.equal(all(pcapngToBuffer(inner)), inner);
  assert.equal(all(pcapngToBuffer(inner, { bigEndian: true, interfaces: [{ tsresol: 0x80 | 30 }] })), inner);
});

test.run();
