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

test('large slots: a separate free stack in the same buffer, slot * slotSize is their base', () => {
  const pool = new PacketPool({ slots: 4, largeSlots: 2 });
  assert.is(pool.largeSlotSize, 67584);
  assert.ok(pool.largeRoom >= 65536 + 18);
  assert.is(pool.buffer.byteLength, 4 * 2048 + 2 * 67584);
  assert.is(pool.largeAvailable, 2);
  const a = pool.allocLarge();
  const b = pool.allocLarge();
  assert.is(pool.allocLarge(), -1);
  assert.is(a, 4);
  assert.is(b, 4 + 33);
  assert.ok(pool.isLarge(a) && !pool.isLarge(3));
  assert.is(pool.base(b), 4 * 2048 + 67584);
  assert.is(pool.dataStart(b), pool.base(b) + pool.headroom);
  assert.is(pool.slotOf(pool.dataStart(b) + 60000), b);
  assert.is(pool.slotOf(pool.dataStart(3)), 3);
  assert.is(pool.roomAfter(pool.dataStart(a)), pool.largeRoom);
  assert.is(pool.roomBefore(pool.dataStart(b) + 10), pool.headroom + 10);
  assert.is(pool.roomOf(a), pool.largeRoom);
  assert.is(pool.roomOf(0), pool.dataRoom);
  // Small allocations never take large slots, and frees go back to the right stack.
  for (let i = 0; i < 4; i++) pool.alloc();
  assert.is(pool.alloc(), -1);
  pool.retain(a);
  pool.free(a);
  pool.free(a);
  pool.free(b);
  assert.is(pool.largeAvailable, 2);
  assert.is(pool.available, 0);
  // An interior unit of a large slot is not a slot.
  assert.throws(() => pool.free(a + 1), /is not in use/);
  const out = new Uint32Array(4);
  assert.is(pool.allocLargeMany(out, 4), 2);
  assert.equal([...out.subarray(0, 2)].sort((x, y) => x - y), [4, 37]);
});

test('large slots: options are checked, pushCopy picks a large slot for a big frame', () => {
  assert.throws(() => new PacketPool({ largeSlots: 1, largeSlotSize: 5000 }), /largeSlotSize: 5000/);
  assert.throws(() => new PacketPool({ largeSlots: -1 }), /largeSlots/);
  const none = new PacketPool({ slots: 2 });
  assert.throws(() => new Batch(none, 1).pushCopy(new Uint8Array(3000)), /3000 bytes/);
  const pool = new PacketPool({ slots: 2, largeSlots: 1 });
  const batch = new Batch(pool, 4);
  const big = new Uint8Array(65000).map((_, i) => i & 0xff);
  const i = batch.pushCopy(big);
  assert.ok(pool.isLarge(batch.slot[i]!));
  assert.equal(batch.packet(i)[64999], 64999 & 0xff);
  assert.throws(() => batch.pushCopy(big), (e: unknown) => e instanceof VtepError && e.code === 'ERR_POOL_EXHAUSTED');
  batch.pushCopy(new Uint8Array(100));
  batch.release();
  assert.is(pool.largeAvailable, 1);
  assert.is(pool.available, 2);
});

test('batch offload fields are zeroed by push and prepareRx and moved by moveEntry', () => {
  const pool = new PacketPool({ slots: 8 });
  const b = new Batch(pool, 4);
  b.prepareRx(2);
  b.count = 2;
  b.gsoType[1] = 1;
  b.gsoSize[1] = 1448;
  b.vflags[1] = 1;
  b.csumStart[1] = 34;
  b.csumOffset[1] = 16;
  b.hdrLen[1] = 66;
  b.srcPort[1] = 50000;
  const moved = b.slot[0]!;
  b.moveEntry(1, 0);
  pool.free(moved);
  b.count = 1;
  assert.equal([b.gsoType[0], b.gsoSize[0], b.vflags[0], b.csumStart[0], b.csumOffset[0], b.hdrLen[0], b.srcPort[0]], [1, 1448, 1, 34, 16, 66, 50000]);
  b.release();
  b.prepareRx(2);
  assert.equal([b.gsoType[0], b.gsoSize[0], b.vflags[0]], [0, 0, 0]);
  b.count = 2;
  b.release();
  b.gsoType[0] = 4;
  b.srcPort[0] = 1;
  b.pushCopy(new Uint8Array(10));
  assert.equal([b.gsoType[0], b.srcPort[0]], [0, 0]);
  b.release();
});

test('batch reorder permutes every per-entry array together', () => {
  const pool = new PacketPool({ slots: 8 });
  const b = new Batch(pool, 8);
  for (let i = 0; i < 5; i++) {
    const k = b.pushCopy(Uint8Array.of(i));
    b.srcPort[k] = 100 + i;
    b.gsoSize[k] = 10 + i;
    b.addr[4 * k + 3] = i;
    b.hash[k] = i;
  }
  const slots = [...b.slot.subarray(0, 5)];
  // Entries 1..4 become old 4, 2, 1, 3.
  b.reorder(1, Uint32Array.of(3, 1, 0, 2), 4);
  assert.equal([...b.hash.subarray(0, 5)], [0, 4, 2, 1, 3]);
  assert.equal([...b.srcPort.subarray(0, 5)], [100, 104, 102, 101, 103]);
  assert.equal([...b.gsoSize.subarray(0, 5)], [10, 14, 12, 11, 13]);
  assert.equal([0, 1, 2, 3, 4].map((i) => b.addr[4 * i + 3]), [0, 4, 2, 1, 3]);
  assert.equal([0, 1, 2, 3, 4].map((i) => b.packet(i)[0]), [0, 4, 2, 1, 3]);
  assert.equal([...b.slot.subarray(0, 5)].sort(), slots.sort());
  b.release();
  assert.is(pool.available, 8);
});

test.run();
