import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { needTool } from '../helpers/tools.js';
import { RawIpSocket, PacketSocket, PacketPool, Batch, VtepError, parseIPv4, parseIPv6, type Port } from '../../src/index.js';
import { withNetns, veth, uniqueName, skipWithoutNetns, waitExit, PACKAGE_DIR, type Netns } from '../helpers/netns.js';
import { ipv4GrePacket, ipv6GrePacket, ethHeader, greHeader, ETHERTYPE } from '../helpers/frames.js';

const isInvalid = (field: string) => (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith(field);

test('open rejects bad options with a VtepError naming the field', () => {
  assert.throws(() => RawIpSocket.open({ family: 5 as 4 }), isInvalid('family'));
  assert.throws(() => RawIpSocket.open({ protocol: 300 }), isInvalid('protocol'));
  assert.throws(() => RawIpSocket.open({ family: 6, address: '198.18.0.1' }), isInvalid('address'));
  assert.throws(() => PacketSocket.open({ ifname: '' }), isInvalid('ifname'));
  assert.throws(() => PacketSocket.open({ ifname: 'eth0', protocol: -1 }), isInvalid('protocol'));
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readable(port: Port, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      port.onReadable(null);
      resolve(false);
    }, ms);
    port.onReadable(() => {
      clearTimeout(timer);
      port.onReadable(null);
      resolve(true);
    });
  });
}

const A = parseIPv4('198.18.0.1');
const B = parseIPv4('198.18.0.2');
const INNER = [...ethHeader(0x020000000022, 0x020000000011, 0x88b5), ...new Array<number>(46).fill(0xab)];

function pair(a: Netns, b: Netns): { ia: string; ib: string } {
  const ia = uniqueName('ra');
  const ib = uniqueName('rb');
  for (const ns of [a, b]) {
    ns.sysctl('net.ipv6.conf.all.disable_ipv6', 1);
    ns.sysctl('net.ipv6.conf.default.disable_ipv6', 1);
  }
  veth(a, ia, '198.18.0.1/24', b, ib, '198.18.0.2/24');
  return { ia, ib };
}

if (!skipWithoutNetns('io/raw')) {
  if (needTool('tshark', 'io/raw GRE header check')) test('GRE on the raw path: tshark in the peer namespace sees the right key', async () => {
    await withNetns(['ra', 'rb'], async (a, b) => {
      const { ib } = pair(a, b);
      const raw = RawIpSocket.open({ family: 4, protocol: 47, netns: a.name });
      const shark = b.spawn(['tshark', '-n', '-l', '-i', ib, '-c', '1', '-a', 'duration:20', '-f', 'ip proto 47',
        '-T', 'fields', '-E', 'separator=;', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'gre.key', '-e', 'eth.type']);
      const done = waitExit(shark, 30_000);
      let started = false;
      shark.stderr!.on('data', (d: Buffer) => {
        if (d.toString().includes('Capturing on')) started = true;
      });
      try {
        const pool = new PacketPool({ slots: 16 });
        const out = new Batch(pool, 1);
        out.pushCopy(ipv4GrePacket({ src: A, dst: B, key: 0x00abcdef, inner: INNER }));
        for (let i = 0; i < 100 && !started; i++) await delay(50);
        // Resend until the capture has one (bounded): dumpcap may open a moment after its message.
        let exited = false;
        void done.then(() => (exited = true));
        for (let i = 0; i < 25 && !exited; i++) {
          assert.is(raw.sendBatch(out), 1);
          await delay(200);
        }
        out.release();
        const r = await done;
        const line = r.stdout.trim().split('\n')[0] ?? '';
        const [src, dst, key, types] = line.split(';');
        assert.is(src, '198.18.0.1', r.stdout + r.stderr);
        assert.is(dst, '198.18.0.2');
        assert.is(Number(key), 0x00abcdef);
        assert.match(types ?? '', /0x88b5/, 'the inner Ethernet frame was decoded');
      } finally {
        shark.kill();
        raw.close();
      }
    });
  });

  test('raw receive: a GRE packet from the raw-socket package arrives with its source and header', async () => {
    await withNetns(['ra', 'rb'], async (a, b) => {
      pair(a, b);
      const rx = RawIpSocket.open({ family: 4, protocol: 47, netns: b.name });
      try {
        // raw-socket, an independent implementation, sends GRE; the kernel adds the IPv4 header.
        const gre = [...greHeader({ protocol: ETHERTYPE.TEB, key: 4242 }), ...INNER];
        const script = `
          const raw = require('raw-socket');
          const s = raw.createSocket({ protocol: 47 });
          const buf = Buffer.from(${JSON.stringify(gre)});
          s.send(buf, 0, buf.length, '198.18.0.2', (err) => { if (err) { console.error(err); process.exit(1); } s.close(); });
        `;
        const r = await waitExit(a.spawn([process.execPath, '-e', script], { cwd: PACKAGE_DIR }), 15_000);
        assert.is(r.code, 0, r.stderr);
        assert.ok(await readable(rx, 3000), 'readable');
        const pool = new PacketPool({ slots: 16 });
        const inb = new Batch(pool, 4);
        assert.is(rx.recvBatch(inb), 1);
        const p = inb.packet(0);
        // IPv4 raw sockets deliver the IP header: IPv4[GRE[Ethernet]]
        assert.is(p[0]! >> 4, 4);
        assert.is(p[9], 47);
        assert.is(inb.addr[0], A);
        assert.is(pool.view.getUint32(inb.start[0]! + 20 + 4), 4242, 'GRE key');
        assert.equal([...p.subarray(28)], INNER);
        inb.release();
      } finally {
        rx.close();
      }
    });
  });

  test('raw IPv6: our header goes out as built; the receiver gets the GRE payload and the source', async () => {
    await withNetns(['ra', 'rb'], async (a, b) => {
      const ia = uniqueName('ra');
      const ib = uniqueName('rb');
      veth(a, ia, undefined, b, ib, undefined);
      a.ip('addr', 'add', '2001:db8:18::1/64', 'dev', ia, 'nodad');
      b.ip('addr', 'add', '2001:db8:18::2/64', 'dev', ib, 'nodad');
      const src = parseIPv6('2001:db8:18::1');
      const dst = parseIPv6('2001:db8:18::2');
      const tx = RawIpSocket.open({ family: 6, protocol: 47, netns: a.name });
      const rx = RawIpSocket.open({ family: 6, protocol: 47, netns: b.name });
      try {
        const pool = new PacketPool({ slots: 16 });
        const out = new Batch(pool, 4);
        for (let k = 0; k < 3; k++) out.pushCopy(ipv6GrePacket({ src, dst, key: 0x100 + k, inner: INNER }));
        assert.is(tx.sendBatch(out), 3);
        out.release();
        assert.is(tx.stats.txErrors, 0, tx.stats.lastError);
        const inb = new Batch(pool, 8);
        let got = 0;
        for (let tries = 0; got < 3 && tries < 30; tries++) {
          await readable(rx, 100);
          const n = rx.recvBatch(inb);
          for (let i = 0; i < n; i++) {
            // IPv6 raw sockets deliver the payload only: GRE[Ethernet]
            assert.is(pool.view.getUint16(inb.start[i]! + 2), ETHERTYPE.TEB);
            assert.is(pool.view.getUint32(inb.start[i]! + 4), 0x100 + got + i);
            assert.equal([...inb.addr.subarray(4 * i, 4 * i + 4)], [...src]);
            assert.equal([...inb.packet(i).subarray(8)], INNER);
          }
          got += n;
          inb.release();
        }
        assert.is(got, 3);
      } finally {
        tx.close();
        rx.close();
      }
    });
  });

  test('AF_PACKET: whole frames across a veth, in order, filtered by ethertype', async () => {
    await withNetns(['ra', 'rb'], async (a, b) => {
      const { ia, ib } = pair(a, b);
      const tx = PacketSocket.open({ ifname: ia, netns: a.name });
      const rx = PacketSocket.open({ ifname: ib, protocol: 0x88b5, promiscuous: true, rcvbuf: 1 << 20, netns: b.name });
      try {
        const pool = new PacketPool({ slots: 512 });
        const out = new Batch(pool, 200);
        for (let k = 0; k < 200; k++) {
          const f = Uint8Array.from(INNER);
          f[14] = k;
          out.pushCopy(f);
        }
        assert.is(tx.sendBatch(out), 200);
        out.release();
        const inb = new Batch(pool, 256);
        let got = 0;
        for (let tries = 0; got < 200 && tries < 30; tries++) {
          await readable(rx, 100);
          const n = rx.recvBatch(inb);
          for (let i = 0; i < n; i++) {
            assert.is(inb.len[i], INNER.length);
            assert.is(inb.packet(i)[14], got + i);
          }
          got += n;
          inb.release();
        }
        assert.is(got, 200);
        assert.is(rx.stats.rxPackets, 200);
      } finally {
        tx.close();
        rx.close();
      }
    });
  });

  test('AF_PACKET: ENOBUFS from a full qdisc stops the call, counted; the rest stays', async () => {
    await withNetns(['ra', 'rb'], async (a, b) => {
      const { ia } = pair(a, b);
      a.exec(['tc', 'qdisc', 'add', 'dev', ia, 'root', 'tbf', 'rate', '8kbit', 'burst', '1600', 'limit', '3000']);
      const tx = PacketSocket.open({ ifname: ia, netns: a.name });
      try {
        const pool = new PacketPool({ slots: 64 });
        const out = new Batch(pool, 32);
        for (let k = 0; k < 32; k++) out.pushCopy(new Uint8Array(1000).fill(k));
        const n = tx.sendBatch(out);
        assert.ok(n < 32, `stopped after ${n}`);
        assert.is(tx.stats.txEnobufs, 1);
        assert.is(tx.failed, undefined, 'ENOBUFS is not an error event');
        out.release();
      } finally {
        tx.close();
      }
    });
  });

  test('AF_PACKET: deleting the interface raises an error event and fails the port', async () => {
    await withNetns(['ra', 'rb'], async (a, b) => {
      const { ib } = pair(a, b);
      const rx = PacketSocket.open({ ifname: ib, netns: b.name });
      try {
        const got = new Promise<VtepError>((resolve) => rx.once('error', resolve));
        rx.onReadable(() => undefined);
        b.ip('link', 'del', ib);
        const err = await Promise.race([got, delay(5000).then(() => null)]);
        assert.ok(err instanceof VtepError, 'an error event');
        assert.is(err!.code, 'ERR_NATIVE');
        assert.is(err!.errno, 'ENETDOWN');
        assert.ok(rx.failed === err, 'the port failed: its interface is gone');
      } finally {
        rx.close();
      }
    });
  });
}

test.run();
