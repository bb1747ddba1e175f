import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UdpSocket, PacketPool, Batch, VtepError, type Port } from '../../src/index.js';
import { withNetns, veth, uniqueName, skipWithoutNetns, type Netns } from '../helpers/netns.js';
import { haveTool } from '../helpers/tools.js';

test('gro: option checked before any system call', () => {
  assert.throws(
    () => UdpSocket.open({ gro: 'yes' as unknown as boolean }),
    (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith('gro'),
  );
});

/**
 * A kernel sender: python sends `count` datagrams of `size` bytes (4-byte
 * sequence number first, the rest its low byte) to dst:4789, `perSend` of them
 * per sendto with UDP_SEGMENT (1 = plain datagrams).
 */
const SENDER = `
import socket, struct, sys
dst, count, size, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.0.1', 0))
if per > 1:
    s.setsockopt(17, 103, size)  # SOL_UDP, UDP_SEGMENT
seq = 0
while seq < count:
    n = min(per, count - seq)
    buf = b''.join(struct.pack('>I', seq + k) + bytes([(seq + k) & 0xff]) * (size - 4) for k in range(n))
    s.sendto(buf, (dst, 4789))
    seq += n
`;

function readable(port: Port, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      port.onReadable(null);
      resolve();
    }, ms);
    port.onReadable(() => {
      clearTimeout(timer);
      port.onReadable(null);
      resolve();
    });
  });
}

interface Got {
  datagrams: number;
  trains: number;
  inLarge: number;
  maxTrain: number;
  bad: number;
  seqs: number[];
}

/** Receives until `want` datagrams arrived (or 10 s), splitting trains by gsoSize and checking every byte. */
async function receive(rx: UdpSocket, pool: PacketPool, want: number, size: number): Promise<Got> {
  const b = new Batch(pool, 64);
  const got: Got = { datagrams: 0, trains: 0, inLarge: 0, maxTrain: 0, bad: 0, seqs: [] };
  const deadline = Date.now() + 10_000;
  while (got.datagrams < want && Date.now() < deadline) {
    if (rx.recvBatch(b) === 0) {
      await readable(rx, 200);
      continue;
    }
    for (let i = 0; i < b.count; i++) {
      const seg = b.gsoSize[i]! === 0 ? b.len[i]! : b.gsoSize[i]!;
      if (b.gsoSize[i]! !== 0) got.trains++;
      if (pool.isLarge(b.slot[i]!)) got.inLarge++;
      got.maxTrain = Math.max(got.maxTrain, b.len[i]!);
      for (let off = 0; off < b.len[i]!; off += seg) {
        const at = b.start[i]! + off;
        const len = Math.min(seg, b.len[i]! - off);
        const seq = pool.view.getUint32(at);
        if (len !== size || pool.u8[at + len - 1] !== (seq & 0xff)) got.bad++;
        got.seqs.push(seq);
        got.datagrams++;
      }
    }
    b.release();
  }
  return got;
}

async function sendFrom(ns: Netns, count: number, size: number, per: number): Promise<void> {
  ns.exec(['python3', '-c', SENDER, '198.18.0.2', String(count), String(size), String(per)], { timeout: 20_000 });
}

const python = haveTool('python3');
if (!python) console.log('skip: io/gro needs python3 (Debian package python3-minimal)');
if (python && !skipWithoutNetns('io/gro')) {
  test('UDP GRO: trains from a kernel GSO sender arrive whole, in large slots, with gsoSize; plain datagrams with 0', async () => {
    await withNetns(['ga', 'gb'], async (a, b) => {
      veth(a, uniqueName('ga'), '198.18.0.1/24', b, uniqueName('gb'), '198.18.0.2/24');
      const rx = UdpSocket.open({ address: '198.18.0.2', port: 4789, gro: true, rcvbuf: 16 << 20, netns: b.name });
      try {
        assert.ok(rx.gro);
        const pool = new PacketPool({ slots: 256, largeSlots: 64 });
        // 2,000 datagrams of 1,200 bytes, 40 per sendto: 50 trains of 48,000 bytes.
        await sendFrom(a, 2000, 1200, 40);
        const g = await receive(rx, pool, 2000, 1200);
        assert.is(g.datagrams, 2000);
        assert.is(g.bad, 0);
        assert.equal(g.seqs, Array.from({ length: 2000 }, (_, i) => i));
        assert.ok(g.trains > 0 && g.inLarge > 0, `trains ${g.trains}, in large slots ${g.inLarge}`);
        assert.ok(g.maxTrain > pool.dataRoom, `largest ${g.maxTrain}`);
        assert.is(rx.stats.rxGro, g.trains);
        assert.is(rx.stats.rxLarge, g.inLarge);
        assert.is(rx.stats.rxTruncated, 0);
        // Plain datagrams: one per entry, gsoSize 0.
        await sendFrom(a, 300, 700, 1);
        const p = await receive(rx, pool, 300, 700);
        assert.is(p.datagrams, 300);
        assert.is(p.trains, 0);
        assert.is(p.bad, 0);
        assert.is(pool.available, pool.slots);
        assert.is(pool.largeAvailable, pool.largeSlots);
      } finally {
        rx.close();
      }
    });
  });

  test('UDP GRO without large slots: a train longer than a slot is dropped as truncated, short ones pass', async () => {
    await withNetns(['ga', 'gb'], async (a, b) => {
      veth(a, uniqueName('ga'), '198.18.0.1/24', b, uniqueName('gb'), '198.18.0.2/24');
      const rx = UdpSocket.open({ address: '198.18.0.2', port: 4789, gro: true, netns: b.name });
      try {
        const pool = new PacketPool({ slots: 64 });
        await sendFrom(a, 10, 1000, 10);
        await sendFrom(a, 3, 500, 3);
        const g = await receive(rx, pool, 3, 500);
        assert.is(g.datagrams, 3);
        assert.is(g.bad, 0);
        assert.is(rx.stats.rxTruncated, 1);
        assert.is(pool.available, pool.slots);
      } finally {
        rx.close();
      }
    });
  });
}

test.run();
