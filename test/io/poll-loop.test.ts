/**
 * Lingering (src/io/poll-loop.ts): a port's wake-ups served from the addon's
 * wait on libuv's epoll set, without leaving the rest of the process waiting.
 * A worker thread sends datagrams to a loopback socket a few ms apart while
 * the main thread has a timer, a Node socket of its own and setImmediate work.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dgram from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { UdpSocket, PacketPool, Batch, VtepError, setPollLinger, pollLoopStats } from '../../src/index.js';

/** A worker that sends `count` datagrams of 8 bytes to 127.0.0.1:port, `gapMs` apart. */
function sender(port: number, count: number, gapMs: number): Promise<void> {
  const src = `
    const dgram = require('node:dgram');
    const { workerData } = require('node:worker_threads');
    const s = dgram.createSocket('udp4');
    let k = 0;
    const next = () => {
      if (k === workerData.count) return s.close();
      const b = Buffer.alloc(8);
      b.writeUInt32BE(k++);
      s.send(b, workerData.port, '127.0.0.1', () => setTimeout(next, workerData.gapMs));
    };
    next();`;
  const w = new Worker(src, { eval: true, workerData: { port, count, gapMs } });
  return new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', () => resolve());
  });
}

/** Reads every datagram the socket has; returns their sequence numbers. */
function reader(rx: UdpSocket): { got: number[]; drain: () => void } {
  const pool = new PacketPool({ slots: 512 });
  const b = new Batch(pool, 64);
  const got: number[] = [];
  const drain = (): void => {
    while (rx.recvBatch(b) > 0) {
      for (let i = 0; i < b.count; i++) got.push(pool.view.getUint32(b.start[i]!));
      b.release();
    }
  };
  return { got, drain };
}

test('setPollLinger validates its argument', () => {
  const bad = (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith('lingerMs');
  assert.throws(() => setPollLinger(-1), bad);
  assert.throws(() => setPollLinger(1.5), bad);
  assert.throws(() => setPollLinger(20_000), bad);
});

test('wake-ups are served in lingers, while timers, sockets and immediates of the process still run', async () => {
  setPollLinger(100);
  const rx = UdpSocket.open({ address: '127.0.0.1', port: 0 });
  const node = dgram.createSocket('udp4');
  try {
    const { got, drain } = reader(rx);
    // Work of the rest of the process, queued while the port's traffic goes on.
    let immediates = 0;
    let ticks = 0;
    let echoed = 0;
    await new Promise<void>((resolve) => node.bind(0, '127.0.0.1', () => resolve()));
    node.on('message', () => echoed++);
    const poke = dgram.createSocket('udp4');
    rx.onReadable(() => {
      drain();
      // From inside a callback: an immediate must run before the next linger swallows the loop.
      if (got.length % 10 === 5) setImmediate(() => immediates++);
    });
    const timer = setInterval(() => {
      ticks++;
      poke.send(Buffer.alloc(1), (node.address()).port, '127.0.0.1');
    }, 7);
    const before = pollLoopStats();
    await sender(rx.localPort, 200, 1);
    // The last datagrams may still be on their way.
    for (let k = 0; k < 50 && got.length < 200; k++) await new Promise((r) => setTimeout(r, 10));
    clearInterval(timer);
    await new Promise((r) => setTimeout(r, 20));
    poke.close();
    const after = pollLoopStats();
    assert.equal(got, Array.from({ length: 200 }, (_, k) => k), 'every datagram, in order');
    assert.ok(ticks > 0 && echoed > 0, `timer ticks ${ticks}, Node socket messages ${echoed}`);
    assert.ok(immediates > 0, 'setImmediate work ran');
    assert.ok(after.lingers > before.lingers, 'lingers entered');
    assert.ok(after.callbacks > before.callbacks, 'callbacks served from a linger');
    assert.ok(after.exitLoop + after.exitForeign + after.exitTime >= after.lingers - 1, 'every linger but the current one ended');
  } finally {
    rx.close();
    node.close();
  }
});

test('setPollLinger(0) turns lingering off; the port works as before', async () => {
  setPollLinger(0);
  const rx = UdpSocket.open({ address: '127.0.0.1', port: 0 });
  try {
    const { got, drain } = reader(rx);
    rx.onReadable(drain);
    const before = pollLoopStats();
    await sender(rx.localPort, 50, 1);
    for (let k = 0; k < 50 && got.length < 50; k++) await new Promise((r) => setTimeout(r, 10));
    assert.is(got.length, 50);
    assert.is(pollLoopStats().lingers, before.lingers, 'no linger');
    assert.ok(pollLoopStats().iterations > before.iterations, 'loop iterations counted');
  } finally {
    rx.close();
    setPollLinger(100);
  }
});

test('a worker whose port lingers under traffic still ends at terminate()', async () => {
  // The worker reads a loopback socket that the main thread keeps busy; terminate() wakes its loop (an async handle).
  const src = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)}).then(({ UdpSocket, PacketPool, Batch }) => {
      const rx = UdpSocket.open({ address: '127.0.0.1', port: 0 });
      const b = new Batch(new PacketPool({ slots: 256 }), 32);
      let got = 0;
      rx.onReadable(() => { while (rx.recvBatch(b) > 0) { got += b.count; b.release(); } if (got >= 20) parentPort.postMessage({ got }); });
      parentPort.postMessage({ port: rx.localPort });
    });`;
  const w = new Worker(src, { eval: true });
  const tx = dgram.createSocket('udp4');
  try {
    const port = await new Promise<number>((resolve, reject) => {
      w.once('error', reject);
      w.once('message', (m: { port: number }) => resolve(m.port));
    });
    let receiving = false;
    w.on('message', () => (receiving = true));
    for (let k = 0; k < 200 && !receiving; k++) {
      tx.send(Buffer.alloc(8), port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(receiving, 'the worker received');
    const code = await w.terminate();
    assert.is(code, 1, 'terminated');
  } finally {
    tx.close();
    await w.terminate();
  }
});

test.run();
