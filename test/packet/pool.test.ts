import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketPool, Batch, VtepError } from '../../src/index.js';

test('pool hands out distinct slots and takes them back', () => {
  const pool = new PacketPool({ slots: 8 });
  const got = new Set<number>();
  for (let i = 0; i < 8; i++) got.add(pool.alloc());
  assert.is(got.size, 8);
  assert.is(pool.alloc(), -1);
  for (const s of got) pool.free(s);
  assert.is(pool.available, 8);
});

test('pool reference counts: a retained slot needs two frees', () => {
  const pool = new PacketPool({ slots: 2 });
  const s = pool.alloc();
  pool.retain(s);
  pool.free(s);
  assert.is(pool.available, 1);
  pool.free(s);
  assert.is(pool.available, 2);
  assert.throws(() => pool.free(s), (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG');
});

test('pool rejects bad options with a VtepError naming the field', () => {
  assert.throws(() => new PacketPool({ headroom: 64 }), /headroom: 64/);
  assert.throws(() => new PacketPool({ slotSize: 1000 }), /slotSize/);
});

test('default headroom aligns the IP header after Ethernet to 4 bytes', () => {
  const pool = new PacketPool({ slots: 4 });
  const s = pool.alloc();
  assert.ok(pool.headroom >= 128);
  assert.is((pool.dataStart(s) + 14) % 4, 0);
});

test('batch prepareRx, compact and release keep the pool balanced', () => {
  const pool = new PacketPool({ slots: 16 });
  const b = new Batch(pool, 8);
  assert.is(b.prepareRx(), 8);
  b.count = 8;
  for (let i = 0; i < 8; i++) b.reason[i] = i % 2;
  assert.is(b.compact(), 4);
  assert.is(b.count, 4);
  assert.is(pool.available, 12);
  b.release();
  assert.is(pool.available, 16);
});

test('pushCopy puts a frame at the headroom of a fresh slot', () => {
  const pool = new PacketPool({ slots: 2 });
  const b = new Batch(pool, 2);
  const i = b.pushCopy(Uint8Array.of(1, 2, 3));
  assert.is(b.start[i], pool.dataStart(b.slot[i]!));
  assert.equal([...b.packet(i)], [1, 2, 3]);
});

test.run();
