import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UdpSocket, PacketPool, Batch, VtepError, parseIPv4, parseIPv6, type Port } from '../../src/index.js';
import { withNetns, veth, uniqueName, skipWithoutNetns } from '../helpers/netns.js';

const isInvalid = (field: string) => (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith(field);

test('open rejects bad options with a VtepError naming the field', () => {
  assert.throws(() => UdpSocket.open({ address: '198.18.0' }), isInvalid('address'));
  assert.throws(() => UdpSocket.open({ family: 6, address: '198.18.0.1' }), isInvalid('address'));
  assert.throws(() => UdpSocket.open({ port: 70000 }), isInvalid('port'));
  assert.throws(() => UdpSocket.open({ rcvbuf: -1 }), isInvalid('rcvbuf'));
  assert.throws(() => UdpSocket.open({ reusePort: 1 as unknown as boolean }), isInvalid('reusePort'));
  assert.throws(() => UdpSocket.open({ netns: 'bad name' }), isInvalid('netns'));
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `port` is readable (or after ms). */
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

/** Fills `batch` with `count` datagrams carrying sequence numbers from `seq`, addressed to dst. */
function fill(batch: Batch, seq: number, count: number, payload: number, setDst: (i: number) => void): void {
  for (let k = 0; k < count; k++) {
    const i = batch.pushCopy(new Uint8Array(payload));
    const at = batch.start[i]!;
    batch.pool.view.setUint32(at, seq + k);
    batch.pool.u8[at + payload - 1] = (seq + k) & 0xff;
    setDst(i);
  }
}

if (!skipWithoutNetns('io/udp')) {
  test('10,000 UDP datagrams between two namespaces arrive complete and in order', async () => {
    await withNetns(['ua', 'ub'], async (a, b) => {
      veth(a, uniqueName('ua'), '198.18.0.1/24', b, uniqueName('ub'), '198.18.0.2/24');
      const tx = UdpSocket.open({ address: '198.18.0.1', port: 40000, netns: a.name });
      const rx = UdpSocket.open({ address: '198.18.0.2', port: 4789, rcvbuf: 8 << 20, netns: b.name });
      try {
        assert.is(tx.localPort, 40000);
        const pool = new PacketPool({ slots: 2048 });
        const out = new Batch(pool, 256);
        const inb = new Batch(pool, 256);
        const TOTAL = 10_000;
        const dst = parseIPv4('198.18.0.2');
        let sent = 0;
        let next = 0;
        const deadline = Date.now() + 20_000;
        const drain = (): void => {
          while (rx.recvBatch(inb) > 0) {
            for (let i = 0; i < inb.count; i++) {
              assert.is(inb.len[i], 100);
              assert.is(pool.view.getUint32(inb.start[i]!), next, 'in order');
              assert.is(inb.addr[4 * i], parseIPv4('198.18.0.1'));
              assert.is(inb.addr[4 * i + 1], 0);
              assert.is(inb.peerPort[i], 40000);
              next++;
            }
            inb.release();
          }
        };
        while (sent < TOTAL && Date.now() < deadline) {
          const n = Math.min(256, TOTAL - sent);
          fill(out, sent, n, 100, (i) => {
            out.addr[4 * i] = dst;
            out.peerPort[i] = 4789;
          });
          let done = 0;
          while (done < n) {
            done += tx.sendBatch(out, done, n);
            if (done < n) await new Promise<void>((r) => tx.onWritable(r));
          }
          out.release();
          sent += n;
          drain();
        }
        while (next < TOTAL && Date.now() < deadline) {
          await readable(rx, 200);
          drain();
        }
        assert.is(sent, TOTAL);
        assert.is(next, TOTAL, 'every datagram arrived');
        assert.is(tx.stats.txPackets, TOTAL);
        if (tx.gso) assert.ok(tx.stats.txGso > TOTAL / 2, 'same-destination runs went as GSO messages');
        assert.is(rx.stats.rxPackets, TOTAL);
        assert.is(pool.available, pool.slots);
      } finally {
        tx.close();
        rx.close();
      }
    });
  });

  test('IPv6: per-packet destinations, source address words and port on receive', async () => {
    await withNetns(['ua', 'ub'], async (a, b) => {
      const ia = uniqueName('ua');
      const ib = uniqueName('ub');
      veth(a, ia, undefined, b, ib, undefined);
      a.ip('addr', 'add', '2001:db8:18::1/64', 'dev', ia, 'nodad');
      b.ip('addr', 'add', '2001:db8:18::2/64', 'dev', ib, 'nodad');
      b.ip('addr', 'add', '2001:db8:18::3/64', 'dev', ib, 'nodad');
      const tx = UdpSocket.open({ address: '2001:db8:18::1', netns: a.name });
      const rx = UdpSocket.open({ family: 6, port: 4789, netns: b.name });
      try {
        assert.is(tx.family, 6);
        const pool = new PacketPool({ slots: 1024 });
        const out = new Batch(pool, 256);
        const inb = new Batch(pool, 256);
        const d2 = parseIPv6('2001:db8:18::2');
        const d3 = parseIPv6('2001:db8:18::3');
        fill(out, 0, 200, 64, (i) => {
          out.addr.set(i % 2 === 0 ? d2 : d3, 4 * i);
          out.peerPort[i] = 4789;
        });
        assert.is(tx.sendBatch(out), 200);
        out.release();
        let got = 0;
        const src = parseIPv6('2001:db8:18::1');
        for (let tries = 0; got < 200 && tries < 50; tries++) {
          await readable(rx, 100);
          const n = rx.recvBatch(inb);
          for (let i = 0; i < n; i++) {
            assert.is(pool.view.getUint32(inb.start[i]!), got + i);
            assert.equal([...inb.addr.subarray(4 * i, 4 * i + 4)], [...src]);
            assert.is(inb.peerPort[i], tx.localPort);
          }
          got += n;
          inb.release();
        }
        assert.is(got, 200);
      } finally {
        tx.close();
        rx.close();
      }
    });
  });

  test('a per-packet error drops that packet only and is counted', async () => {
    await withNetns(['ua', 'ub'], async (a, b) => {
      veth(a, uniqueName('ua'), '198.18.0.1/24', b, uniqueName('ub'), '198.18.0.2/24');
      const tx = UdpSocket.open({ netns: a.name });
      const rx = UdpSocket.open({ port: 4789, netns: b.name });
      try {
        const pool = new PacketPool({ slots: 64 });
        const out = new Batch(pool, 8);
        // Entry 2 goes to an address without a route: ENETUNREACH.
        fill(out, 0, 5, 32, (i) => {
          out.addr[4 * i] = i === 2 ? parseIPv4('198.19.99.1') : parseIPv4('198.18.0.2');
          out.peerPort[i] = 4789;
        });
        assert.is(tx.sendBatch(out), 5, 'all five consumed');
        out.release();
        const s = tx.stats;
        assert.is(s.txPackets, 4);
        assert.is(s.txErrors, 1);
        assert.is(s.lastError, 'ENETUNREACH');
        const inb = new Batch(pool, 8);
        await readable(rx, 1000);
        await delay(50);
        assert.is(rx.recvBatch(inb), 4);
        assert.equal([0, 1, 2, 3].map((i) => pool.view.getUint32(inb.start[i]!)), [0, 1, 3, 4]);
        inb.release();
      } finally {
        tx.close();
        rx.close();
      }
    });
  });

  test('EAGAIN: the call returns what it sent, the rest stays; onWritable resumes', async () => {
    await withNetns(['ua', 'ub'], async (a, b) => {
      const ia = uniqueName('ua');
      veth(a, ia, '198.18.0.1/24', b, uniqueName('ub'), '198.18.0.2/24');
      // A slow qdisc holds the datagrams, so they hold the small send buffer.
      a.exec(['tc', 'qdisc', 'add', 'dev', ia, 'root', 'tbf', 'rate', '8kbit', 'burst', '1600', 'limit', '10000000']);
      // Per-datagram sends: one GSO message could pass a nearly full buffer whole.
      const tx = UdpSocket.open({ netns: a.name, sndbuf: 4096, gso: false });
      try {
        const pool = new PacketPool({ slots: 256 });
        const out = new Batch(pool, 64);
        fill(out, 0, 64, 1000, (i) => {
          out.addr[4 * i] = parseIPv4('198.18.0.2');
          out.peerPort[i] = 9;
        });
        const first = tx.sendBatch(out);
        assert.ok(first > 0 && first < 64, `sent ${first} of 64 before the buffer filled`);
        assert.is(tx.stats.txEagain, 1);
        assert.is(tx.stats.txPackets, first);
        const writable = new Promise<void>((r) => tx.onWritable(r));
        // Dropping the qdisc frees the queued datagrams and with them the buffer.
        a.exec(['tc', 'qdisc', 'del', 'dev', ia, 'root']);
        await Promise.race([writable, delay(5000)]);
        const rest = tx.sendBatch(out, first);
        assert.is(first + rest, 64);
        out.release();
      } finally {
        tx.close();
      }
    });
  });

  test('GSO: mixed runs and lengths arrive as the same datagrams, in order per destination', async () => {
    await withNetns(['ua', 'ub'], async (a, b) => {
      const ib = uniqueName('ub');
      veth(a, uniqueName('ua'), '198.18.0.1/24', b, ib, '198.18.0.2/24');
      b.ip('addr', 'add', '198.18.0.3/24', 'dev', ib);
      const tx = UdpSocket.open({ netns: a.name });
      const r2 = UdpSocket.open({ address: '198.18.0.2', port: 4789, rcvbuf: 4 << 20, netns: b.name });
      const r3 = UdpSocket.open({ address: '198.18.0.3', port: 4789, rcvbuf: 4 << 20, netns: b.name });
      try {
        const pool = new PacketPool({ slots: 1024 });
        const out = new Batch(pool, 256);
        // Runs of 5 to one address then 3 to the other; every 7th datagram is shorter (ends a run).
        const lenOf = (k: number) => (k % 7 === 6 ? 40 : 200);
        const to3 = (k: number) => k % 8 >= 5;
        for (let k = 0; k < 256; k++) {
          const i = out.pushCopy(new Uint8Array(lenOf(k)));
          pool.view.setUint32(out.start[i]!, k);
          out.addr[4 * i] = parseIPv4(to3(k) ? '198.18.0.3' : '198.18.0.2');
          out.peerPort[i] = 4789;
        }
        assert.is(tx.sendBatch(out), 256);
        out.release();
        if (tx.gso) assert.ok(tx.stats.txGso > 0);
        const inb = new Batch(pool, 256);
        for (const [rx, want] of [[r2, (k: number) => !to3(k)], [r3, to3]] as const) {
          const expected = [...Array(256).keys()].filter(want);
          const seen: number[] = [];
          for (let tries = 0; seen.length < expected.length && tries < 30; tries++) {
            await readable(rx, 100);
            const n = rx.recvBatch(inb);
            for (let i = 0; i < n; i++) {
              const k = pool.view.getUint32(inb.start[i]!);
              assert.is(inb.len[i], lenOf(k));
              seen.push(k);
            }
            inb.release();
          }
          assert.equal(seen, expected);
        }
      } finally {
        tx.close();
        r2.close();
        r3.close();
      }
    });
  });

  test('GSO: a run the path MTU refuses is resent datagram by datagram', async () => {
    await withNetns(['ua', 'ub'], async (a, b) => {
      const ia = uniqueName('ua');
      veth(a, ia, '198.18.0.1/24', b, uniqueName('ub'), '198.18.0.2/24');
      a.ip('link', 'set', ia, 'mtu', '1280');
      const tx = UdpSocket.open({ netns: a.name });
      const rx = UdpSocket.open({ address: '198.18.0.2', port: 4789, rcvbuf: 4 << 20, netns: b.name });
      try {
        if (!tx.gso) return;
        const pool = new PacketPool({ slots: 256 });
        const out = new Batch(pool, 16);
        fill(out, 0, 16, 1400, (i) => {
          out.addr[4 * i] = parseIPv4('198.18.0.2');
          out.peerPort[i] = 4789;
        });
        assert.is(tx.sendBatch(out), 16);
        out.release();
        assert.is(tx.stats.txGsoFallback, 1);
        assert.is(tx.stats.txPackets, 16);
        // Sent singly, the kernel fragments each one; the receiver reassembles them.
        const inb = new Batch(pool, 32);
        let got = 0;
        for (let tries = 0; got < 16 && tries < 30; tries++) {
          await readable(rx, 100);
          const n = rx.recvBatch(inb);
          for (let i = 0; i < n; i++) assert.is(pool.view.getUint32(inb.start[i]!), got + i);
          got += n;
          inb.release();
        }
        assert.is(got, 16);
      } finally {
        tx.close();
        rx.close();
      }
    });
  });

  test('SO_REUSEPORT: two sockets share one port', async () => {
    await withNetns(['ua'], async (a) => {
      const s1 = UdpSocket.open({ port: 4789, reusePort: true, netns: a.name });
      const s2 = UdpSocket.open({ port: 4789, reusePort: true, netns: a.name });
      s1.close();
      s2.close();
      const s3 = UdpSocket.open({ port: 4790, netns: a.name });
      try {
        assert.throws(() => UdpSocket.open({ port: 4790, netns: a.name }), (e: unknown) => e instanceof VtepError && e.errno === 'EADDRINUSE');
      } finally {
        s3.close();
      }
    });
  });
}

test.run();
