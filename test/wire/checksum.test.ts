import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sumBytes, sumWords, fold, finish, checksum, update16, verifies } from '../../src/wire/checksum.js';
import { fromHex } from '../../src/wire/bytes.js';

test('RFC 1071 §3 example: the sum of 0001 f203 f4f5 f6f7 is ddf2', () => {
  assert.is(fold(sumBytes(fromHex('0001f203f4f5f6f7'), 0, 8, 0)), 0xddf2);
  assert.is(finish(sumBytes(fromHex('0001f203f4f5f6f7'), 0, 8, 0)), 0x220d);
});

test('a real IPv4 header verifies, and its checksum recomputes', () => {
  // IPv4 header of the decap fixture's first packet.
  const h = fromHex('45000086000140003c11b23ec6120002c6120001');
  assert.ok(verifies(h, 0, 20));
  h[10] = 0;
  h[11] = 0;
  assert.is(checksum(h, 0, 20), 0xb23e);
});

test('odd lengths pad with a zero byte', () => {
  assert.is(fold(sumBytes(fromHex('010203'), 0, 3, 0)), 0x0102 + 0x0300);
});

test('sumWords equals sumBytes at every alignment and length (seeded random data)', () => {
  let seed = 12345;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  const buf = new ArrayBuffer(4096);
  const u8 = new Uint8Array(buf);
  const u32 = new Uint32Array(buf);
  for (let i = 0; i < u8.length; i++) u8[i] = rnd();
  for (let off = 0; off < 8; off++) {
    for (const len of [0, 1, 2, 3, 63, 64, 65, 66, 67, 100, 1400, 1401, 3000]) {
      const a = fold(sumBytes(u8, off, len, 7));
      const b = fold(sumWords(u8, u32, off, len, 7));
      assert.is(b, a, `off ${off} len ${len}`);
    }
  }
});

test('RFC 1624 incremental update equals a recomputation', () => {
  const h = fromHex('45000086000140003c11b23ec6120002c6120001');
  const old = (h[8]! << 8) | h[9]!;
  h[8] = 0x3b; // TTL 60 -> 59
  const c = update16(0xb23e, old, (h[8]! << 8) | h[9]!);
  h[10] = 0;
  h[11] = 0;
  assert.is(c, checksum(h, 0, 20));
});

test.run();
