import { test } from 'uvu';
import { rng } from '../../src/util/rng.js';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  PcapngBlockType, LinkType, VtepError, captureFormat, readCaptureBuffer, type CapturedPacket,
} from '../../src/index.js';
import { FIXTURES, PCAP_FIXTURES, concat, toHex } from './helpers.js';
import {
  ARP, LE_OFFSETS, PCAPNG_BE, PCAPNG_LE, PCAPNG_MULTI, PCAP_BE_NSEC, PCAP_LE_USEC, PCAP_MODIFIED, V4_UDP,
} from './vectors.js';

const all = (bytes: Uint8Array, lenient = false): CapturedPacket[] =>
  Array.from(readCaptureBuffer(bytes, { lenient }), (r) => r.clone());

/** Asserts that fn throws ERR_PCAP_FORMAT whose message matches. */
function formatError(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, VtepError);
    assert.is((err as VtepError).code, 'ERR_PCAP_FORMAT');
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected ERR_PCAP_FORMAT matching ${message}`);
}

const patch = (bytes: Uint8Array, at: number, values: number[]): Uint8Array => {
  const b = Uint8Array.from(bytes);
  b.set(values, at);
  return b;
};

test('captureFormat tells pcap, pcapng and neither apart', () => {
  assert.is(captureFormat(PCAP_LE_USEC), 'pcap');
  assert.is(captureFormat(PCAP_BE_NSEC), 'pcap');
  assert.is(captureFormat(PCAP_MODIFIED), 'pcap');
  assert.is(captureFormat(PCAPNG_LE), 'pcapng');
  assert.is(captureFormat(PCAPNG_BE), 'pcapng');
  assert.is(captureFormat(Uint8Array.of(1, 2, 3, 4, 5)), undefined);
  assert.is(captureFormat(Uint8Array.of(0xd4, 0xc3)), undefined);
  assert.is(captureFormat(patch(PCAPNG_LE, 8, [0, 0, 0, 0])), undefined);
});

test('pcap little-endian microseconds: header and record', () => {
  const r = readCaptureBuffer(PCAP_LE_USEC);
  const recs = [...r].length;
  assert.is(recs, 1);
  assert.is(r.format, 'pcap');
  assert.is(r.interfaces[0]!.snaplen, 65535);
  assert.is(r.interfaces[0]!.tsresol, 6);
  assert.equal(all(PCAP_LE_USEC), [{
    data: ARP, tsSec: 1795212431, tsNsec: 481361000, origLen: 42, interfaceId: 0, linkType: LinkType.ETHERNET, flags: 0,
  }]);
});

test('pcap big-endian nanoseconds, raw IPv4 link type', () => {
  const r = readCaptureBuffer(PCAP_BE_NSEC);
  const rec = r.read()!;
  assert.is(rec.linkType, LinkType.IPV4);
  assert.is(rec.tsSec, 1795212431);
  assert.is(rec.tsNsec, 481361007);
  assert.is(rec.caplen, 30);
  assert.is(toHex(rec.data), toHex(V4_UDP));
  assert.is(rec.fileOffset, 24);
  assert.is(rec.offset, 40);
  assert.is(rec.buf, PCAP_BE_NSEC, 'a buffer reader hands out views of its input');
  assert.is(r.section.littleEndian, false);
  assert.is(r.interfaces[0]!.tsresol, 9);
  assert.is(r.read(), null);
  assert.is(r.read(), null);
});

test('modified (Kuznetzov) pcap: 24-byte record headers, caplen < origLen', () => {
  const [p] = all(PCAP_MODIFIED);
  assert.is(p!.origLen, 60);
  assert.is(toHex(p!.data), toHex(ARP));
  assert.is(p!.tsNsec, 5000);
});

test('the record object is reused: one object for every packet', () => {
  const two = concat(PCAP_LE_USEC, PCAP_LE_USEC.subarray(24));
  const seen = new Set<object>();
  let n = 0;
  for (const rec of readCaptureBuffer(two)) {
    seen.add(rec);
    assert.is(rec.index, n++);
  }
  assert.is(n, 2);
  assert.is(seen.size, 1);
});

test('pcapng little-endian: IDB options, EPB with options, ISB skipped, SPB', () => {
  const r = readCaptureBuffer(PCAPNG_LE);
  const epb = r.read()!;
  assert.is(r.format, 'pcapng');
  assert.is(epb.blockType, PcapngBlockType.EPB);
  assert.is(epb.fileOffset, LE_OFFSETS.EPB);
  assert.is(epb.tsSec, 1795212431);
  assert.is(epb.tsNsec, 123456789);
  assert.is(epb.caplen, 42);
  assert.is(epb.origLen, 60);
  assert.is(epb.flags, 1);
  assert.equal(epb.comments, ['hi']);
  assert.is(toHex(epb.data), toHex(ARP));
  assert.is(epb.iface.name, 'eth0');
  assert.is(epb.iface.tsresol, 9);
  const spb = r.read()!;
  assert.is(spb.blockType, PcapngBlockType.SPB);
  assert.is(spb.fileOffset, LE_OFFSETS.SPB);
  assert.is(spb.hasTimestamp, false);
  assert.is(spb.tsSec, 0);
  assert.is(spb.caplen, 42);
  assert.is(spb.origLen, 42);
  assert.is(spb.flags, 0);
  assert.equal(spb.comments, []);
  assert.is(toHex(spb.data), toHex(ARP));
  assert.is(r.read(), null);
});

test('pcapng big-endian: 2^-10 s resolution with if_tsoffset, snaplen, link type 101', () => {
  const [p, ...rest] = all(PCAPNG_BE);
  assert.is(rest.length, 0);
  assert.is(p!.linkType, LinkType.RAW);
  assert.is(p!.tsSec, 1001);
  assert.is(p!.tsNsec, 500000000);
  assert.is(toHex(p!.data), toHex(V4_UDP));
  const r = readCaptureBuffer(PCAPNG_BE);
  r.read();
  assert.is(r.interfaces[0]!.snaplen, 128);
  assert.is(r.interfaces[0]!.tsoffset, 1000);
  assert.is(r.interfaces[0]!.unitsPerSecond, 1024);
});

test('pcapng: sections of different byte orders in one file, each with its own interfaces', () => {
  const r = readCaptureBuffer(PCAPNG_MULTI);
  const got: [number, number, number, boolean][] = [];
  for (const rec of r) got.push([rec.section, rec.interfaceId, rec.linkType, r.section.littleEndian]);
  assert.equal(got, [[0, 0, 1, true], [0, 0, 1, true], [1, 0, 101, false]]);
  assert.is(r.interfaces.length, 1);
});

test('python-built multi-section pcapng: every field as computed with Python integers', () => {
  const bytes = readFileSync(path.join(PCAP_FIXTURES, 'multi-section.pcapng'));
  const want = JSON.parse(readFileSync(path.join(PCAP_FIXTURES, 'multi-section.json'), 'utf8')) as Record<string, unknown>[];
  const got = Array.from(readCaptureBuffer(bytes), (r) => ({
    section: r.section, interfaceId: r.interfaceId, linkType: r.linkType, tsSec: r.tsSec, tsNsec: r.tsNsec,
    caplen: r.caplen, origLen: r.origLen, flags: r.flags, comments: r.comments, blockType: r.blockType, data: toHex(r.data),
  }));
  assert.equal(got, want);
  const r = readCaptureBuffer(bytes);
  r.read();
  assert.is(r.section.hardware, 'x86_64');
  assert.is(r.section.os, 'Linux');
  assert.is(r.section.userappl, 'gen.py');
  assert.equal(r.section.comments, ['section zero, big-endian']);
  assert.equal(r.interfaces.map((i) => [i.name, i.linkType, i.tsresol]), [['eth-be', 1, 9], ['raw-pow2', 101, 0x98]]);
});

test('python-built big-endian nanosecond pcap with a record cut to the snaplen', () => {
  const bytes = readFileSync(path.join(PCAP_FIXTURES, 'be-nsec.pcap'));
  const want = JSON.parse(readFileSync(path.join(PCAP_FIXTURES, 'be-nsec.json'), 'utf8')) as Record<string, unknown>[];
  const got = Array.from(readCaptureBuffer(bytes), (r) => ({
    tsSec: r.tsSec, tsNsec: r.tsNsec, caplen: r.caplen, origLen: r.origLen, linkType: r.linkType, data: toHex(r.data),
  }));
  assert.equal(got, want);
});

test('the project fixture inner.pcap: nine Ethernet frames including the 8.9 kB jumbo', () => {
  const pk = all(readFileSync(path.join(FIXTURES, 'inner.pcap')));
  assert.is(pk.length, 9);
  assert.equal(pk.map((p) => p.data.length), [42, 98, 66, 71, 86, 86, 8942, 50, 60]);
  assert.ok(pk.every((p) => p.linkType === 1 && p.origLen === p.data.length && p.tsSec === 1795212431));
});

test('reads a capture that is a view into a larger buffer, never outside the view', () => {
  const junk = new Uint8Array(64).fill(0xee);
  const big = concat(junk, PCAPNG_LE, junk);
  const view = big.subarray(64, 64 + PCAPNG_LE.length);
  assert.equal(all(view), all(PCAPNG_LE));
  // Cut the view short: junk after it must not complete the block.
  formatError(() => all(big.subarray(64, 64 + PCAPNG_LE.length - 2)), /offset 188: truncated/);
});

// Corrupt input: ERR_PCAP_FORMAT naming the offset.

test('truncated final record: an error naming its offset, or a clean stop when lenient', () => {
  const two = concat(PCAP_LE_USEC, PCAP_LE_USEC.subarray(24));
  const cut = two.subarray(0, two.length - 1);
  formatError(() => all(cut), /offset 82: truncated record: needs 58 bytes, the file ends after 57/);
  const r = readCaptureBuffer(cut, { lenient: true });
  assert.is([...r].length, 1);
  assert.is(r.truncatedAt, 82);
  // Cut inside the record header, and inside a pcapng block.
  formatError(() => all(two.subarray(0, 90)), /offset 82: truncated record header/);
  assert.is(all(two.subarray(0, 90), true).length, 1);
  formatError(() => all(PCAPNG_LE.subarray(0, LE_OFFSETS.SPB + 20)), /offset 188: truncated block/);
  const ng = readCaptureBuffer(PCAPNG_LE.subarray(0, LE_OFFSETS.SPB + 20), { lenient: true });
  assert.is([...ng].length, 1);
  assert.is(ng.truncatedAt, LE_OFFSETS.SPB);
  formatError(() => all(PCAPNG_LE.subarray(0, LE_OFFSETS.SPB + 5)), /offset 188: truncated block header/);
});

test('a truncated file header is an error; lenient reads nothing', () => {
  formatError(() => all(PCAP_LE_USEC.subarray(0, 20)), /offset 0: truncated pcap file header: 20 of 24/);
  assert.equal(all(PCAP_LE_USEC.subarray(0, 20), true), []);
  formatError(() => all(new Uint8Array(0)), /offset 0: not a capture file: only 0 bytes/);
  assert.equal(all(new Uint8Array(0), true), []);
});

test('bad magic and bad byte-order magic', () => {
  formatError(() => all(Uint8Array.of(0x50, 0x4b, 3, 4, 0, 0, 0, 0)), /offset 0: not a pcap or pcapng file: bad magic 0x504b0304/);
  formatError(() => all(patch(PCAPNG_LE, 8, [1, 2, 3, 4])), /offset 0: section header block: bad byte-order magic 0x01020304/);
  formatError(() => all(concat(PCAPNG_LE, patch(PCAPNG_BE, 8, [9, 9, 9, 9]))), /offset 248: section header block: bad byte-order/);
});

test('block length not a multiple of 4, or below 12', () => {
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.EPB + 4, [0x61])), /offset 68: block type 0x00000006: total length 97 is not a multiple of 4/);
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.ISB + 4, [8])), /offset 164: block type 0x00000005: total length 8 is less than 12/);
});

test('trailing length different from the leading one', () => {
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.ISB - 4, [0x64])), /offset 68: block type 0x00000006: trailing length 100 differs from the leading length 96/);
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.SPB - 4, [0x1c])), /offset 164: .*trailing length 28 differs from the leading length 24/);
});

test('captured length larger than the snaplen, the block, or the limit', () => {
  // pcap: snaplen 96 -> 20
  formatError(() => all(patch(PCAP_BE_NSEC, 16, [0, 0, 0, 20])), /offset 24: record 0: captured length 30 exceeds the file's snaplen 20/);
  assert.is([...readCaptureBuffer(patch(PCAP_BE_NSEC, 16, [0, 0, 0, 20]), { ignoreSnaplen: true })].length, 1);
  formatError(() => [...readCaptureBuffer(patch(PCAPNG_LE, LE_OFFSETS.IDB + 12, [40]), { ignoreSnaplen: false })], /snaplen 40/);
  assert.is([...readCaptureBuffer(patch(PCAPNG_LE, LE_OFFSETS.IDB + 12, [40]), { ignoreSnaplen: true })].length, 2);
  // pcap: absurd caplen 0xffffff00
  formatError(() => all(patch(PCAP_LE_USEC, 24 + 8, [0, 0xff, 0xff, 0xff])), /offset 24: record 0: captured length 4294967040 exceeds the limit 262144/);
  assert.is(all(PCAP_LE_USEC, false).length, 1);
  formatError(() => [...readCaptureBuffer(PCAP_LE_USEC, { maxPacket: 40 })], /captured length 42 exceeds the limit 40 \(option maxPacket\)/);
  // pcapng: EPB caplen 42 -> 200 (more than the block holds)
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.EPB + 20, [200])), /offset 68: enhanced packet block: captured length 200 exceeds the 64 bytes of the block/);
  // pcapng: IDB snaplen 0 -> 40
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.IDB + 12, [40])), /offset 68: enhanced packet block: captured length 42 exceeds the snaplen 40 of interface 0/);
  // pcapng: huge block length
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.EPB + 4, [0, 0, 0, 0x10])), /offset 68: block type 0x00000006: total length 268435456 exceeds the limit 327680/);
});

test('undefined interface, option overflowing its block, bad if_tsresol, unsupported version', () => {
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.EPB + 8, [5])), /offset 68: enhanced packet block: interface id 5 is not defined \(section 0 has 1 interfaces\)/);
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.IDB + 18, [0x40])), /offset 28: interface description block: option 2 of length 64 overflows the block/);
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.EPB + 74, [0x40])), /offset 68: packet block: option 1 of length 64 overflows the block/);
  formatError(() => all(patch(PCAPNG_LE, LE_OFFSETS.IDB + 28, [0x7f])), /offset 28: interface description block: if_tsresol 0x7f is not supported/);
  formatError(() => all(patch(PCAPNG_LE, 12, [2])), /offset 0: section header block: unsupported pcapng version 2.0/);
  formatError(() => all(patch(PCAP_LE_USEC, 4, [1])), /offset 0: unsupported pcap version 1.4/);
  // An SPB needs interface 0: drop the IDB.
  const noIdb = concat(PCAPNG_LE.subarray(0, LE_OFFSETS.IDB), PCAPNG_LE.subarray(LE_OFFSETS.ISB));
  formatError(() => all(noIdb), /offset 52: simple packet block: section 0 has no interface 0/);
});

test('unknown blocks of any type are skipped by their length', () => {
  // Custom block (0x40000bad) with 12 bytes of body, then a made-up type 0x1234.
  const custom = Uint8Array.from(Buffer.from('ad0b0040 18000000 d97e0000 6162636465666768 18000000'.replace(/ /g, ''), 'hex'));
  const other = Uint8Array.from(Buffer.from('34120000 10000000 01020304 10000000'.replace(/ /g, ''), 'hex'));
  const bytes = concat(PCAPNG_LE.subarray(0, LE_OFFSETS.EPB), custom, other, PCAPNG_LE.subarray(LE_OFFSETS.EPB));
  assert.equal(all(bytes), all(PCAPNG_LE));
});


test('fuzz: truncations and byte flips give records or ERR_PCAP_FORMAT, nothing else', () => {
  const inputs = [PCAP_LE_USEC, PCAP_BE_NSEC, PCAP_MODIFIED, PCAPNG_MULTI,
    readFileSync(path.join(PCAP_FIXTURES, 'multi-section.pcapng'))];
  const r = rng(7);
  let errors = 0;
  let clean = 0;
  const attempt = (b: Uint8Array, lenient: boolean): void => {
    try {
      let n = 0;
      for (const rec of readCaptureBuffer(b, { lenient })) {
        // Touch the bytes: the view must lie inside the input.
        assert.ok(rec.offset >= 0 && rec.offset + rec.caplen <= b.length);
        if (++n > 10000) throw new Error('runaway reader');
      }
      clean++;
    } catch (err) {
      if (!(err instanceof VtepError) || err.code !== 'ERR_PCAP_FORMAT') throw err;
      errors++;
    }
  };
  for (const input of inputs) {
    for (let cut = 0; cut < input.length; cut++) {
      attempt(input.subarray(0, cut), false);
      attempt(input.subarray(0, cut), true);
    }
    for (let i = 0; i < 1500; i++) {
      const b = Uint8Array.from(input);
      const flips = 1 + (r() % 4);
      for (let f = 0; f < flips; f++) b[r() % b.length] = r() & 0xff;
      attempt(b, (i & 1) === 0);
    }
  }
  assert.ok(errors > 0 && clean > 0, `errors ${errors}, clean ${clean}`);
});

test('bad options are VtepError ERR_INVALID_ARG naming the field', () => {
  assert.throws(() => readCaptureBuffer(PCAP_LE_USEC, { maxPacket: 0 }), /maxPacket: 0 is not an integer/);
  assert.throws(() => readCaptureBuffer('x' as unknown as Uint8Array), /bytes: "x" is not a Uint8Array/);
});

test.run();
