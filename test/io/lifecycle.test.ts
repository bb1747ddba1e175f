import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readlinkSync } from 'node:fs';
import { TapDevice, UdpSocket, PacketSocket, RawIpSocket, PacketPool, Batch, VtepError } from '../../src/index.js';
import { withNetns, veth, uniqueName, skipWithoutNetns, openFdCount } from '../helpers/netns.js';

const ROUNDS = 1000;
// Closing an AF_PACKET socket waits for an RCU grace period in the kernel
// (synchronize_net, ~13 ms here): fewer rounds keep the file under 5 s.
const PACKET_ROUNDS = 200;

if (!skipWithoutNetns('io/lifecycle')) {
  test(`open/close ${ROUNDS} times (AF_PACKET ${PACKET_ROUNDS}), polling: no fd left behind`, async () => {
    await withNetns(['la', 'lb'], async (a, b) => {
      const ia = uniqueName('la');
      veth(a, ia, '198.18.0.1/24', b, uniqueName('lb'), '198.18.0.2/24');
      const tapName = uniqueName('lt');
      TapDevice.open({ name: tapName, netns: a.name, persist: true }).close();
      const before = openFdCount();
      const noop = (): void => undefined;
      for (let i = 0; i < ROUNDS; i++) {
        const tap = TapDevice.open({ name: tapName, netns: a.name, up: true });
        tap.onReadable(noop);
        tap.close();
        const udp = UdpSocket.open({ address: '198.18.0.1', port: 4789, netns: a.name });
        udp.onReadable(noop);
        udp.onWritable(noop);
        udp.close();
        if (i < PACKET_ROUNDS) {
          const ps = PacketSocket.open({ ifname: ia, netns: a.name });
          ps.onReadable(noop);
          ps.close();
        }
        const raw = RawIpSocket.open({ protocol: 47, netns: a.name });
        raw.onReadable(noop);
        raw.close();
      }
      // Let libuv run the close callbacks of the poll handles.
      await new Promise((r) => setImmediate(r));
      assert.is(openFdCount(), before);
      const mq = TapDevice.open({ name: uniqueName('lq'), netns: a.name, multiQueue: true, queues: 4 });
      mq.close();
      assert.is(openFdCount(), before);
    });
  });

  test(`failed opens (${ROUNDS} times) leave no fd and no namespace switch behind`, async () => {
    const home = readlinkSync('/proc/thread-self/ns/net');
    await withNetns(['la'], async (a) => {
      const busy = TapDevice.open({ name: uniqueName('lx'), netns: a.name });
      try {
        const before = openFdCount();
        for (let i = 0; i < ROUNDS; i++) {
          assert.throws(() => TapDevice.open({ name: busy.name, netns: a.name, exclusive: true }), (e: unknown) => e instanceof VtepError && e.errno === 'EBUSY');
          assert.throws(() => UdpSocket.open({ address: '198.18.9.9', netns: a.name }), (e: unknown) => e instanceof VtepError && e.errno === 'EADDRNOTAVAIL');
          assert.throws(() => PacketSocket.open({ ifname: 'nosuchif0', netns: a.name }), (e: unknown) => e instanceof VtepError && e.errno === 'ENODEV');
        }
        assert.is(openFdCount(), before);
      } finally {
        busy.close();
      }
      assert.is(readlinkSync('/proc/thread-self/ns/net'), home, 'the thread is back in its namespace');
    });
  });

  test('close() from inside the readiness callback, and twice, is safe', async () => {
    await withNetns(['la', 'lb'], async (a, b) => {
      veth(a, uniqueName('la'), '198.18.0.1/24', b, uniqueName('lb'), '198.18.0.2/24');
      const rx = UdpSocket.open({ address: '198.18.0.2', port: 4789, netns: b.name });
      const tx = UdpSocket.open({ netns: a.name });
      const pool = new PacketPool({ slots: 16 });
      const out = new Batch(pool, 4);
      out.pushCopy(new Uint8Array(10));
      out.addr[0] = 0xc6120002;
      out.peerPort[0] = 4789;
      let calls = 0;
      const closed = new Promise<void>((resolve) => rx.once('close', resolve));
      rx.onReadable(() => {
        calls++;
        rx.close();
        rx.close();
      });
      assert.is(tx.sendBatch(out), 1);
      out.release();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
      await new Promise((r) => setTimeout(r, 50));
      assert.is(calls, 1);
      assert.ok(rx.closed);
      assert.is(rx.fd, -1);
      tx.close();
    });
  });
}

test.run();
