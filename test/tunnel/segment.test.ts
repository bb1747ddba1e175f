/**
 * Software TSO/USO against scapy-built expectations (test/fixtures/offload.json):
 * every segment byte for byte, in the copy mode, the zero-copy (headers +
 * payload slice) mode, the partial-checksum mode and in place in a large pool slot.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { segment, Segments, SegFlag, segmentCount } from '../../src/tunnel/segment.js';
import { PacketPool } from '../../src/packet/pool.js';
import { Reason } from '../../src/packet/reasons.js';
import { fromHex, toHex, put16 } from '../../src/wire/bytes.js';
import { fixtureJson, type OffloadFixture } from '../helpers/fixtures.js';

const F = fixtureJson<OffloadFixture>('offload.json');
const STRIDE = 2048;

function dstStarts(n: number, base: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let k = 0; k < n; k++) a[k] = base + k * STRIDE;
  return a;
}

for (const c of F.segment) {
  const frame = fromHex(c.frame);
  const n = c.segments.length;

  test(`${c.name}: copy mode, ${n} segments equal scapy's`, () => {
    const src = new Uint8Array(frame.length + 8);
    src.set(frame, 2);
    const dst = new Uint8Array(64 * STRIDE);
    const out = new Segments(64);
    const got = segment(src, 2, frame.length, c.gsoSize, dst, dstStarts(64, 130), out, SegFlag.COPY_PAYLOAD);
    assert.is(got, n, `segments (reason ${out.reason})`);
    assert.is(segmentCount(out.payLen.reduce((a, b, k) => (k < n ? a + b : a), 0), c.gsoSize), n);
    for (let k = 0; k < n; k++) {
      assert.is(toHex(dst, out.start[k]!, out.len[k]!), c.segments[k], `segment ${k}`);
    }
  });

  test(`${c.name}: zero-copy mode (headers in dst, payload slices in the source)`, () => {
    const src = new Uint8Array(frame.length + 8);
    src.set(frame, 4);
    const dst = new Uint8Array(64 * 256);
    const starts = new Uint32Array(64);
    for (let k = 0; k < 64; k++) starts[k] = 128 + k * 256;
    const out = new Segments(64);
    assert.is(segment(src, 4, frame.length, c.gsoSize, dst, starts, out, 0), n);
    for (let k = 0; k < n; k++) {
      const whole = toHex(dst, out.start[k]!, out.hdrLen) + toHex(src, out.payStart[k]!, out.payLen[k]!);
      assert.is(whole, c.segments[k], `segment ${k}`);
      assert.is(out.len[k], out.hdrLen + out.payLen[k]!);
    }
    // The source is left as it was: its payload is still the iovecs' data.
    assert.is(toHex(src, 4, frame.length), c.frame);
  });

  test(`${c.name}: partial mode leaves the pseudo-header sum`, () => {
    const dst = new Uint8Array(64 * STRIDE);
    const out = new Segments(64);
    assert.is(segment(frame.slice(), 0, frame.length, c.gsoSize, dst, dstStarts(64, 0), out, SegFlag.COPY_PAYLOAD | SegFlag.PARTIAL_CSUM), n);
    for (let k = 0; k < n; k++) {
      const want = fromHex(c.segments[k]!);
      put16(want, out.csumStart + out.csumOffset, c.partialCsum[k]!);
      assert.is(toHex(dst, out.start[k]!, out.len[k]!), toHex(want), `segment ${k}`);
    }
  });

  test(`${c.name}: in place in a large pool slot (segment 0 is the super-frame), word sums`, () => {
    const pool = new PacketPool({ slots: 2, slotSize: 1 << 17 });
    const s = pool.dataStart(0);
    pool.u8.set(frame, s);
    // Segments 1.. go to the second slot, 2048 apart.
    const starts = dstStarts(64, pool.base(1));
    starts[0] = s;
    const out = new Segments(64);
    assert.is(segment(pool.u8, s, frame.length, c.gsoSize, pool.u8, starts, out, SegFlag.COPY_PAYLOAD, pool.u32), n);
    for (let k = 0; k < n; k++) assert.is(toHex(pool.u8, out.start[k]!, out.len[k]!), c.segments[k], `segment ${k}`);
  });
}

test('refusals: not IP, zero gso size, too many segments, truncated', () => {
  const c = F.segment[1]!; // 64 KB into 46 segments
  const frame = fromHex(c.frame);
  const dst = new Uint8Array(64 * STRIDE);
  const out = new Segments(64);
  const arp = fromHex('ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002');
  assert.is(segment(arp, 0, arp.length, 1448, dst, dstStarts(64, 0), out), 0);
  assert.is(out.reason, Reason.unsupported);
  assert.is(segment(frame, 0, frame.length, 0, dst, dstStarts(64, 0), out), 0);
  assert.is(out.reason, Reason.unsupported);
  assert.is(segment(frame, 0, frame.length, 1448, dst, dstStarts(10, 0), out), 0);
  assert.is(out.reason, Reason['no-buffer']);
  assert.is(segment(frame, 0, frame.length, 1448, dst, dstStarts(64, 0), new Segments(8)), 0);
  assert.is(segment(frame, 0, 40, 1448, dst, dstStarts(64, 0), out), 0);
  assert.is(out.reason, Reason['bad-length']);
  assert.is(out.count, 0);
});

test.run();
