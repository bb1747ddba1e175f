import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native, NATIVE_ABI, STAT } from '../../src/io/native.js';
import dgram from 'node:dgram';
import { TapQueue, UdpSocket, PacketPool, Batch, VtepError, FATAL_ERRNOS } from '../../src/index.js';

// No root, no network: the addon's guards and the port error policy on a dead fd.

test('the addon loads and its surface version matches', () => {
  assert.is(native().abiVersion(), NATIVE_ABI);
  assert.is(native().errnoName(77).name, 'EBADFD');
});

test('batch calls reject ranges beyond their arrays and wrong array types', () => {
  const n = native();
  const st = new Float64Array(STAT.COUNT);
  const u8 = new Uint8Array(64);
  assert.throws(() => n.fdWriteBatch(-1, u8, new Uint32Array(2), new Uint32Array(2), 0, 3, 0, st), RangeError);
  assert.throws(() => n.fdReadBatch(-1, u8, new Uint32Array(2), new Uint32Array(2), 3, 16, 0, st), RangeError);
  assert.throws(() => n.mmsgSend(-1, 4, u8, new Uint32Array(2), new Uint32Array(2), new Uint32Array(4), new Uint16Array(2), 0, 2, st), RangeError);
  assert.throws(() => n.mmsgSend(-1, 99, u8, new Uint32Array(2), new Uint32Array(2), new Uint32Array(8), new Uint16Array(2), 0, 2, st), RangeError);
  assert.throws(() => n.fdWriteBatch(-1, u8, new Uint16Array(2) as unknown as Uint32Array, new Uint32Array(2), 0, 1, 0, st), TypeError);
  assert.throws(() => n.fdWriteBatch(-1, u8, new Uint32Array(2), new Uint32Array(2), 0, 1, 0, new Float64Array(2)), RangeError);
});

test('offload batch calls reject bad header sizes, short arrays and spares that do not fit', () => {
  const n = native();
  const st = new Float64Array(STAT.COUNT);
  const u8 = new Uint8Array(4096);
  const m = (k: number) => [new Uint8Array(k), new Uint8Array(k), new Uint16Array(k), new Uint16Array(k), new Uint16Array(k), new Uint16Array(k)] as const;
  const u32 = (k: number) => new Uint32Array(k);
  // Header size 11, then offload arrays shorter than n, then a large room not above the small one.
  assert.throws(() => n.vnetReadBatch(-1, u8, u32(2), u32(2), u32(2), 2, 100, 11, ...m(2), u32(1), 0, 2048, 130, 4000, st), RangeError);
  assert.throws(() => n.vnetReadBatch(-1, u8, u32(2), u32(2), u32(2), 2, 100, 12, ...m(1), u32(1), 0, 2048, 130, 4000, st), RangeError);
  assert.throws(() => n.vnetReadBatch(-1, u8, u32(2), u32(2), u32(2), 2, 100, 12, ...m(2), u32(1), 1, 2048, 130, 100, st), RangeError);
  assert.throws(() => n.vnetReadBatch(-1, u8, u32(2), u32(2), u32(2), 2, 100, 12, ...m(2), u32(1), 2, 2048, 130, 4000, st), RangeError);
  assert.throws(() => n.vnetWriteBatch(-1, u8, u32(2), u32(2), 0, 2, 12, ...m(1), st), RangeError);
  assert.throws(() => n.mmsgRecvGro(-1, 5 as 4, u8, u32(2), u32(2), u32(2), u32(8), new Uint16Array(2), 2, 100, new Uint16Array(2), u32(1), 0, 2048, 130, 4000, st), RangeError);
  assert.throws(() => n.mmsgSendPorts(Int32Array.of(-1), new Uint16Array(100), new Uint16Array(2), 4, u8, u32(2), u32(2), u32(8), new Uint16Array(2), 0, 2, st), RangeError);
  // A spare whose large slot lies past the buffer: nothing is read, EFAULT stops the call.
  const got = n.vnetReadBatch(-1, u8, u32(2), Uint32Array.of(130, 300), u32(2), 2, 100, 12, ...m(2), Uint32Array.of(9), 1, 2048, 130, 4000, st);
  assert.is(got, 0);
  assert.is(n.errnoName(st[STAT.STOP_ERRNO]!).name, 'EFAULT');
});

test('a receive call that returns packets leaves the clock in st[RX_TIME], on monoClock\'s scale; an empty one leaves it', async () => {
  const rx = UdpSocket.open({ address: '127.0.0.1', port: 0 });
  const tx = dgram.createSocket('udp4');
  try {
    const pool = new PacketPool({ slots: 16 });
    const b = new Batch(pool, 4);
    const cell = new Float64Array(2);
    assert.is(rx.recvBatch(b), 0);
    assert.is(rx.st[STAT.RX_TIME], 0, 'nothing read, no time');
    await new Promise<void>((resolve, reject) => tx.send(Buffer.alloc(8), rx.localPort, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    for (let k = 0; k < 100 && b.count === 0; k++) {
      native().monoClock(cell);
      const before = cell[0]!;
      if (rx.recvBatch(b) > 0) {
        native().monoClock(cell);
        const t = rx.st[STAT.RX_TIME]!;
        assert.ok(t >= before && t <= cell[0]!, `${before} <= ${t} <= ${cell[0]}`);
        b.release();
        assert.is(rx.recvBatch(b), 0);
        assert.is(rx.st[STAT.RX_TIME], t, 'an empty read leaves the last time');
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.unreachable('the datagram never came');
  } finally {
    tx.close();
    rx.close();
  }
});

test('an entry outside the pool is dropped as EFAULT, never read', () => {
  const n = native();
  const st = new Float64Array(STAT.COUNT);
  const u8 = new Uint8Array(64);
  // Entry 0 ends past the buffer; entry 1 is fine but the fd is bad.
  const done = n.fdWriteBatch(-1, u8, Uint32Array.of(60, 0), Uint32Array.of(8, 8), 0, 2, 0, st);
  assert.is(done, 1, 'the bad entry is consumed, the call stops at EBADF');
  assert.is(st[STAT.TX_ERRORS], 1);
  assert.is(n.errnoName(st[STAT.LAST_ERRNO]!).name, 'EFAULT');
  assert.is(n.errnoName(st[STAT.STOP_ERRNO]!).name, 'EBADF');
});

test('a fatal errno fails the port and is emitted once, asynchronously', async () => {
  const q = new TapQueue(-1, 'dead0', 0, 0);
  const pool = new PacketPool({ slots: 8 });
  const b = new Batch(pool, 4);
  b.pushCopy(new Uint8Array(60));
  const errors: VtepError[] = [];
  q.on('error', (e: VtepError) => errors.push(e));
  assert.is(q.writeBatch(b), 0);
  assert.is(errors.length, 0, 'not emitted synchronously');
  await new Promise((r) => setImmediate(r));
  assert.is(errors.length, 1);
  assert.is(errors[0]!.code, 'ERR_NATIVE');
  assert.is(errors[0]!.errno, 'EBADF');
  assert.match(errors[0]!.message, /tap dead0: write failed: EBADF/);
  assert.ok(FATAL_ERRNOS.has('EBADF'));
  assert.is(q.failed, errors[0]);
  // A failed port returns 0 and does not emit again.
  assert.is(q.writeBatch(b), 0);
  assert.is(q.readBatch(new Batch(pool, 2)), 0);
  await new Promise((r) => setImmediate(r));
  assert.is(errors.length, 1);
  b.release();
  q.close();
  assert.ok(q.closed);
  assert.throws(() => q.writeBatch(b), (e: unknown) => e instanceof VtepError && e.code === 'ERR_CLOSED');
});

test('writeBatch checks its range against the batch', () => {
  const q = new TapQueue(-1, 'dead1', 0, 0);
  const pool = new PacketPool({ slots: 8 });
  const b = new Batch(pool, 4);
  b.pushCopy(new Uint8Array(60));
  assert.throws(() => q.writeBatch(b, 0, 2), (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && /range/.test(e.message));
  assert.throws(() => q.writeBatch(b, 1, 0), (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG');
  assert.is(q.writeBatch(b, 1, 1), 0);
  b.release();
  q.close();
});

test.run();

test('monoClock: the monotonic clock in ms less cell[1], as performance.now() runs', async () => {
  const cell = new Float64Array(2);
  native().monoClock(cell);
  const t0 = cell[0]!;
  cell[1] = t0 - performance.now(); // on performance.now()'s timeline from here
  await new Promise((r) => setTimeout(r, 20));
  native().monoClock(cell);
  const p = performance.now();
  assert.ok(Math.abs(cell[0]! - p) < 5, `${cell[0]} vs ${p}`);
  assert.throws(() => native().monoClock(new Float64Array(1)), /Float64Array of 2/);
});
