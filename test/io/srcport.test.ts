import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UdpSocket, PacketSocket, PacketPool, Batch, VtepError, parseIPv4, type Port } from '../../src/index.js';
import { checksum } from '../../src/wire/checksum.js';
import { withNetns, veth, uniqueName, skipWithoutNetns, openFdCount } from '../helpers/netns.js';
import { fmix32 } from '../../src/tunnel/flowhash.js';

const isInvalid = (field: string) => (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith(field);

test('srcPorts: options checked before any system call', () => {
  assert.throws(() => UdpSocket.open({ srcPorts: -1 }), isInvalid('srcPorts'));
  assert.throws(() => UdpSocket.open({ srcPorts: 5000 }), isInvalid('srcPorts'));
  assert.throws(() => UdpSocket.open({ srcPorts: 8, srcPortRange: [60000, 60003] }), isInvalid('srcPorts'));
  assert.throws(() => UdpSocket.open({ srcPorts: 8, srcPortRange: [60000, 1] }), isInvalid('srcPortRange'));
});

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

if (!skipWithoutNetns('io/srcport')) {
  test('per-flow source ports: 64 interleaved flows spread over the ports, stable and in order per flow, GSO kept', async () => {
    await withNetns(['sa', 'sb'], async (a, b) => {
      veth(a, uniqueName('sa'), '198.18.0.1/24', b, uniqueName('sb'), '198.18.0.2/24');
      const fds = openFdCount();
      const tx = UdpSocket.open({ address: '198.18.0.1', port: 4789, srcPorts: 16, netns: a.name });
      const rx = UdpSocket.open({ address: '198.18.0.2', port: 4789, rcvbuf: 8 << 20, netns: b.name });
      try {
        assert.is(tx.srcPorts.length, 16);
        for (const p of tx.srcPorts) assert.ok(p >= 49152 && p <= 65535, `port ${p}`);
        assert.is(new Set(tx.srcPorts).size, 16);
        const pool = new PacketPool({ slots: 1024 });
        const out = new Batch(pool, 512);
        const dst = parseIPv4('198.18.0.2');
        const FLOWS = 64;
        const RUN = 4;
        const want = new Map<number, number>();
        // 64 flows, 4 equal datagrams each in a row (a super-frame's segments), then entries
        // with srcPort 0 (the socket's own port) and a port outside the set.
        // Interleaved (flow by flow, k-th datagram of each): sendBatch groups them by port.
        for (let f = 0; f < FLOWS; f++) want.set(f, tx.srcPortFor(fmix32(f + 1)));
        for (let k = 0; k < RUN; k++) {
          for (let f = 0; f < FLOWS; f++) {
            const port = want.get(f)!;
            const i = out.pushCopy(new Uint8Array(400));
            pool.u8[out.start[i]!] = f;
            pool.u8[out.start[i]! + 1] = k;
            out.addr[4 * i] = dst;
            out.peerPort[i] = 4789;
            out.srcPort[i] = port;
          }
        }
        const own = out.pushCopy(Uint8Array.of(200));
        out.addr[4 * own] = dst;
        out.peerPort[own] = 4789;
        const other = out.pushCopy(Uint8Array.of(201));
        out.addr[4 * other] = dst;
        out.peerPort[other] = 4789;
        out.srcPort[other] = 1000;
        assert.is(tx.sendBatch(out), out.count);
        assert.ok(tx.stats.txGso >= FLOWS * RUN, `txGso ${tx.stats.txGso}`);
        out.release();

        const inb = new Batch(pool, 256);
        const seen = new Map<number, Set<number>>();
        const order = new Map<number, number[]>();
        let got = 0;
        const deadline = Date.now() + 10_000;
        while (got < FLOWS * RUN + 2 && Date.now() < deadline) {
          if (rx.recvBatch(inb) === 0) {
            await readable(rx, 200);
            continue;
          }
          for (let i = 0; i < inb.count; i++) {
            const f = pool.u8[inb.start[i]!]!;
            if (!seen.has(f)) seen.set(f, new Set());
            seen.get(f)!.add(inb.peerPort[i]!);
            if (!order.has(f)) order.set(f, []);
            order.get(f)!.push(pool.u8[inb.start[i]! + 1]!);
            got++;
          }
          inb.release();
        }
        assert.is(got, FLOWS * RUN + 2);
        for (let f = 0; f < FLOWS; f++) {
          assert.equal([...seen.get(f)!], [want.get(f)], `flow ${f}`);
          assert.equal(order.get(f), [0, 1, 2, 3], `flow ${f} order`);
        }
        assert.equal([...seen.get(200)!], [4789]);
        assert.equal([...seen.get(201)!], [tx.srcPorts[1000 % 16]]);
        // The flows use most of the ports.
        assert.ok(new Set(want.values()).size >= 12, `ports used ${new Set(want.values()).size}`);
      } finally {
        tx.close();
        rx.close();
      }
      assert.is(openFdCount(), fds);
    });
  });

  test('AF_PACKET with vnetHdr: a UDP GSO super-frame with our own source port leaves as 16 datagrams', async () => {
    await withNetns(['sa', 'sb'], async (a, b) => {
      const ia = uniqueName('sa');
      const ib = uniqueName('sb');
      veth(a, ia, '198.18.0.1/24', b, ib, '198.18.0.2/24');
      const mac = (ns: typeof a, dev: string) => ns.exec(['cat', `/sys/class/net/${dev}/address`]).trim().split(':').map((h) => parseInt(h, 16));
      const rx = UdpSocket.open({ address: '198.18.0.2', port: 4789, rcvbuf: 4 << 20, netns: b.name });
      const ps = PacketSocket.open({ ifname: ia, protocol: 0, vnetHdr: true, netns: a.name });
      try {
        const pool = new PacketPool({ slots: 64, largeSlots: 1 });
        const SRC = parseIPv4('198.18.0.1');
        const DST = parseIPv4('198.18.0.2');
        const SEGS = 16;
        const payload = 1400;
        const udpLen = 8 + SEGS * payload;
        // virtio_net_hdr[Ethernet[IPv4[UDP[16 x 1400 bytes]]]], segment k filled with k.
        const p = new Uint8Array(10 + 14 + 20 + udpLen);
        for (let i = 0; i < SEGS * payload; i++) p[52 + i] = (i / payload) | 0;
        const dv = new DataView(p.buffer);
        p[0] = 1; // NEEDS_CSUM
        p[1] = 5; // UDP_L4
        dv.setUint16(2, 42, true);
        dv.setUint16(4, payload, true);
        dv.setUint16(6, 34, true);
        dv.setUint16(8, 6, true);
        p.set(mac(b, ib), 10);
        p.set(mac(a, ia), 16);
        dv.setUint16(22, 0x0800);
        p.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0], 24);
        dv.setUint16(26, 20 + udpLen);
        dv.setUint32(36, SRC);
        dv.setUint32(40, DST);
        dv.setUint16(34, checksum(p, 24, 20));
        dv.setUint16(44, 50001);
        dv.setUint16(46, 4789);
        dv.setUint16(48, udpLen);
        let sum = (SRC >>> 16) + (SRC & 0xffff) + (DST >>> 16) + (DST & 0xffff) + 17 + udpLen;
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        dv.setUint16(50, sum);
        const tx = new Batch(pool, 1);
        tx.pushCopy(p);
        assert.is(ps.sendBatch(tx), 1);
        tx.release();
        const inb = new Batch(pool, 32);
        let got = 0;
        const deadline = Date.now() + 5000;
        while (got < SEGS && Date.now() < deadline) {
          if (rx.recvBatch(inb) === 0) {
            await readable(rx, 200);
            continue;
          }
          for (let i = 0; i < inb.count; i++) {
            assert.is(inb.len[i], payload);
            assert.is(inb.peerPort[i], 50001);
            assert.is(pool.u8[inb.start[i]!], got);
            got++;
          }
          inb.release();
        }
        assert.is(got, SEGS);
      } finally {
        rx.close();
        ps.close();
      }
    });
  });

  test('per-flow source ports: a port in use is skipped for the next one', async () => {
    await withNetns(['sa'], async (a) => {
      a.ip('addr', 'add', '198.18.0.1/32', 'dev', 'lo');
      const busy = UdpSocket.open({ address: '198.18.0.1', port: 60000, netns: a.name });
      const tx = UdpSocket.open({ address: '198.18.0.1', srcPorts: 2, srcPortRange: [60000, 60009], netns: a.name });
      try {
        assert.equal([...tx.srcPorts], [60001, 60005]);
      } finally {
        tx.close();
        busy.close();
      }
    });
  });
}

test.run();
