import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readlinkSync } from 'node:fs';
import { TapDevice, PacketPool, Batch, VtepError, parseIPv4, type TapQueue } from '../../src/index.js';
import { withNetns, uniqueName, skipWithoutNetns, type Netns } from '../helpers/netns.js';
import { icmpPing } from '../../src/util/ping.js';
import { arpReplyFor, icmpEchoReplyFor, ethType, ETHERTYPE } from '../helpers/frames.js';

const isNative = (errno?: string) => (e: unknown) => e instanceof VtepError && e.code === 'ERR_NATIVE' && (errno === undefined || e.errno === errno);
const isInvalid = (field: string) => (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith(field);

// Option checks run before any system call: no root needed.
test('open rejects bad options with a VtepError naming the field', () => {
  assert.throws(() => TapDevice.open({ name: 'a-name-longer-than-15' }), isInvalid('name'));
  assert.throws(() => TapDevice.open({ name: 'a/b' }), isInvalid('name'));
  assert.throws(() => TapDevice.open({ name: 'ok', queues: 2 }), isInvalid('queues'));
  assert.throws(() => TapDevice.open({ name: 'ok', mtu: 20 }), isInvalid('mtu'));
  assert.throws(() => TapDevice.open({ name: 'ok', mac: '01:00:5e:00:00:01' }), isInvalid('mac'));
  assert.throws(() => TapDevice.open({ name: 'ok', mac: 'zz' }), isInvalid('mac'));
  assert.throws(() => TapDevice.open({ name: 'ok', vnetHdr: true, vnetHdrSize: 11 as 10 }), isInvalid('vnetHdrSize'));
  assert.throws(() => TapDevice.open({ name: 'ok', netns: 'no such/ns' }), isInvalid('netns'));
});

const BEHIND_IP = parseIPv4('10.0.0.2');
const BEHIND_MAC = 0x020000000002;

/**
 * Answers ARP and ICMP echo for BEHIND_IP on every queue until stopped;
 * returns counters. The replies go out on the queue the request came in on.
 */
function responder(queues: readonly TapQueue[]): { arps: number; echoes: number; stop(): void } {
  const pool = new PacketPool({ slots: 256 });
  const state = { arps: 0, echoes: 0, stop: () => queues.forEach((q) => q.onReadable(null)) };
  for (const q of queues) {
    const rx = new Batch(pool, 32);
    const tx = new Batch(pool, 32);
    q.onReadable(() => {
      while (q.readBatch(rx) > 0) {
        for (let i = 0; i < rx.count; i++) {
          const f = rx.packet(i);
          const arp = arpReplyFor(f, BEHIND_IP, BEHIND_MAC);
          const reply = arp ?? icmpEchoReplyFor(f, BEHIND_IP);
          if (reply === null) continue;
          if (arp !== null) state.arps++;
          else state.echoes++;
          tx.pushCopy(reply);
        }
        rx.release();
        if (tx.count > 0) {
          assert.is(q.writeBatch(tx), tx.count);
          tx.release();
        }
      }
    });
  }
  return state;
}

/** Echo requests from the namespace's kernel to BEHIND_IP (ICMP socket in test code, no ping tool). */
async function pingBehind(ns: Netns, count = 3): Promise<string> {
  const r = await icmpPing(ns.name, '10.0.0.2', { count });
  assert.is(r.received, count, `ping failed: ${r.output}`);
  return r.output;
}

function quiet(ns: Netns): void {
  // No IPv6 chatter (router solicitations, DAD) on the TAP: only our ping.
  ns.sysctl('net.ipv6.conf.all.disable_ipv6', 1);
  ns.sysctl('net.ipv6.conf.default.disable_ipv6', 1);
}

if (!skipWithoutNetns('io/tap')) {
  test('TAP in a namespace: a kernel ping behind it is answered by our code', async () => {
    await withNetns(['vt'], async (ns) => {
      quiet(ns);
      const name = uniqueName('tp');
      const tap = TapDevice.open({ name, netns: ns.name, mtu: 1400, mac: 0x020000000001, up: true });
      try {
        const info = tap.info();
        assert.is(info.name, name);
        assert.is(info.mtu, 1400);
        assert.is(info.mac, 0x020000000001);
        assert.ok(info.up);
        assert.ok(ns.hasLink(name), 'the device lives in the namespace');
        ns.ip('addr', 'add', '10.0.0.1/24', 'dev', name);
        const r = responder(tap.queues);
        await pingBehind(ns);
        r.stop();
        assert.ok(r.arps >= 1, 'the ARP request was read');
        assert.ok(r.echoes >= 3, 'the echo requests were read');
        const s = tap.stats;
        assert.ok(s.rxPackets >= 4);
        assert.is(s.txPackets, r.arps + r.echoes);
      } finally {
        tap.close();
      }
      assert.not.ok(ns.hasLink(name), 'a non-persistent TAP goes with its last fd');
    });
  });

  test('vnetHdr: frames start at `start`, the virtio-net header sits in the headroom', async () => {
    await withNetns(['vt'], async (ns) => {
      quiet(ns);
      const name = uniqueName('tv');
      const tap = TapDevice.open({ name, netns: ns.name, vnetHdr: true, up: true });
      try {
        assert.is(tap.vnetHdrSize, 12);
        ns.ip('addr', 'add', '10.0.0.1/24', 'dev', name);
        // Peek at the first frame: an Ethernet header at start, so its ethertype reads right.
        let firstType = -1;
        const pool = new PacketPool({ slots: 64 });
        const rx = new Batch(pool, 8);
        const peek = (q: TapQueue): void => {
          if (firstType === -1 && q.readBatch(rx) > 0) {
            firstType = ethType(rx.packet(0));
            rx.release();
          }
        };
        tap.onReadable(() => peek(tap));
        const probe = icmpPing(ns.name, '10.0.0.2', { count: 1, waitMs: 1000 });
        for (let i = 0; i < 100 && firstType === -1; i++) await new Promise((r) => setTimeout(r, 20));
        await probe;
        assert.is(firstType, ETHERTYPE.ARP);
        tap.onReadable(null);
        const r = responder(tap.queues);
        await pingBehind(ns, 2);
        r.stop();
      } finally {
        tap.close();
      }
    });
  });

  test('multi-queue: several fds on one device, replies on any queue', async () => {
    await withNetns(['vt'], async (ns) => {
      quiet(ns);
      const name = uniqueName('tq');
      const tap = TapDevice.open({ name, netns: ns.name, multiQueue: true, queues: 3, up: true });
      try {
        assert.is(tap.queues.length, 3);
        assert.is(new Set(tap.queues.map((q) => q.fd)).size, 3);
        ns.ip('addr', 'add', '10.0.0.1/24', 'dev', name);
        const r = responder(tap.queues);
        await pingBehind(ns, 3);
        r.stop();
      } finally {
        tap.close();
      }
      assert.ok(tap.queues.every((q) => q.closed));
    });
  });

  test('a TAP moved to another namespace after open keeps working', async () => {
    await withNetns(['va', 'vb'], async (a, b) => {
      quiet(b);
      const name = uniqueName('tm');
      const tap = TapDevice.open({ name, netns: a.name, up: true });
      try {
        a.ip('link', 'set', name, 'netns', b.name);
        assert.not.ok(a.hasLink(name));
        assert.ok(b.hasLink(name));
        // Configured by ioctl in the namespace where the device is now (TUNGETDEVNETNS).
        tap.setUp(true);
        tap.setMtu(1280);
        assert.is(tap.info().mtu, 1280);
        b.ip('addr', 'add', '10.0.0.1/24', 'dev', name);
        const r = responder(tap.queues);
        await pingBehind(b, 2);
        r.stop();
      } finally {
        tap.close();
      }
    });
  });

  test('deleting the TAP under a reader: an error event, the process goes on', async () => {
    await withNetns(['vt'], async (ns) => {
      const name = uniqueName('td');
      const tap = TapDevice.open({ name, netns: ns.name, up: true });
      const pool = new PacketPool({ slots: 64 });
      const rx = new Batch(pool, 16);
      try {
        const got = new Promise<VtepError>((resolve) => tap.once('error', resolve));
        tap.onReadable(() => {
          while (tap.readBatch(rx) > 0) rx.release();
        });
        ns.ip('link', 'del', name);
        const err = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        assert.ok(err instanceof VtepError, 'an error event within 5 s');
        assert.is(err!.code, 'ERR_NATIVE');
        assert.is(err!.errno, 'EBADFD');
        assert.match(err!.message, name);
        assert.ok(tap.failed === err);
        // Reads and writes on a failed port return 0; nothing throws.
        assert.is(tap.readBatch(rx), 0);
        rx.pushCopy(new Uint8Array(60));
        assert.is(tap.writeBatch(rx), 0);
        rx.release();
        assert.is(pool.available, pool.slots);
      } finally {
        tap.close();
      }
      assert.throws(() => tap.readBatch(rx), (e: unknown) => e instanceof VtepError && e.code === 'ERR_CLOSED');
    });
  });

  test('link down: writes consume nothing, one link-down event, no error; link up again: one link-up event, writes go', async () => {
    await withNetns(['vt'], async (ns) => {
      quiet(ns);
      const name = uniqueName('tl');
      const tap = TapDevice.open({ name, netns: ns.name, up: true });
      const pool = new PacketPool({ slots: 64 });
      const b = new Batch(pool, 8);
      const events: string[] = [];
      tap.on('link-down', () => events.push('down'));
      tap.on('link-up', () => events.push('up'));
      tap.on('error', (e: VtepError) => events.push(`error ${e.errno}`));
      const frame = new Uint8Array(60).fill(0xff, 0, 12);
      const write = (): number => {
        for (let i = 0; i < 4; i++) b.pushCopy(frame);
        const n = tap.writeBatch(b);
        b.release();
        return n;
      };
      try {
        tap.onReadable(() => {
          while (tap.readBatch(b) > 0) b.release();
        });
        assert.is(tap.linkUp, true);
        assert.is(write(), 4);
        ns.ip('link', 'set', name, 'down');
        assert.is(write(), 0, 'nothing consumed while down');
        assert.is(write(), 0);
        assert.is(tap.linkUp, false);
        assert.is(tap.readBatch(b), 0, 'a read while down finds nothing, and is no error');
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(events, ['down'], 'one link-down event, no error');
        assert.is(tap.failed, undefined);
        // Up again with no write pending: the port notices by itself (tun wakes the writability poll).
        ns.ip('link', 'set', name, 'up');
        for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(events, ['down', 'up']);
        assert.is(tap.linkUp, true);
        assert.is(write(), 4);
        assert.is(pool.available, pool.slots);
      } finally {
        tap.close();
      }
    });
  });

  test('a TAP whose link is down and that is then deleted: an error event', async () => {
    await withNetns(['vt'], async (ns) => {
      const name = uniqueName('tk');
      const tap = TapDevice.open({ name, netns: ns.name, up: true });
      const pool = new PacketPool({ slots: 16 });
      const b = new Batch(pool, 4);
      try {
        const got = new Promise<VtepError>((resolve) => tap.once('error', resolve));
        ns.ip('link', 'set', name, 'down');
        b.pushCopy(new Uint8Array(60));
        assert.is(tap.writeBatch(b), 0);
        b.release();
        assert.is(tap.linkUp, false);
        ns.ip('link', 'del', name);
        const err = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        assert.ok(err instanceof VtepError, 'an error event within 5 s');
        assert.is(err!.errno, 'EBADFD');
        assert.ok(tap.failed === err);
      } finally {
        tap.close();
      }
    });
  });

  test('errors without a listener become a warning, not a crash', async () => {
    await withNetns(['vt'], async (ns) => {
      const name = uniqueName('tw');
      const tap = TapDevice.open({ name, netns: ns.name, up: true });
      // Node's own printer is a 'warning' listener: hold it back during this test.
      const printers = process.listeners('warning');
      process.removeAllListeners('warning');
      const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
      try {
        tap.onReadable(() => undefined);
        ns.ip('link', 'del', name);
        const w = await Promise.race([warned, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        assert.ok(w instanceof VtepError);
      } finally {
        tap.close();
        for (const p of printers) process.on('warning', p as (w: Error) => void);
      }
    });
  });

  test('persist, attach and exclusive', async () => {
    await withNetns(['vt'], async (ns) => {
      const name = uniqueName('tp');
      const first = TapDevice.open({ name, netns: ns.name, persist: true });
      first.close();
      assert.ok(ns.hasLink(name), 'a persistent device outlives close()');
      assert.throws(() => TapDevice.open({ name, netns: ns.name, exclusive: true }), isNative('EBUSY'));
      const again = TapDevice.open({ name, netns: ns.name });
      again.setPersist(false);
      again.close();
      assert.not.ok(ns.hasLink(name), 'cleared persistence: gone with the last fd');
    });
  });

  test('a name with %d is numbered by the kernel; the port carries the real name', async () => {
    await withNetns(['vt'], async (ns) => {
      const tap = TapDevice.open({ name: 'vtq%d', netns: ns.name });
      try {
        assert.is(tap.name, 'vtq0');
        assert.ok(ns.hasLink('vtq0'));
        assert.is(tap.info().name, 'vtq0');
      } finally {
        tap.close();
      }
    });
  });

  test('a failed open restores the thread namespace and names the call', () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    assert.throws(() => TapDevice.open({ name: 'x', netns: `vtep-none-${process.pid}` }), (e: unknown) => {
      return isNative('ENOENT')(e) && /open\(netns\)/.test((e as Error).message);
    });
    assert.is(readlinkSync('/proc/thread-self/ns/net'), before);
  });

  test('frames longer than the slot are dropped and counted', async () => {
    await withNetns(['vt'], async (ns) => {
      quiet(ns);
      const name = uniqueName('tt');
      const tap = TapDevice.open({ name, netns: ns.name, up: true });
      try {
        ns.ip('addr', 'add', '10.0.0.1/24', 'dev', name);
        ns.ip('neigh', 'add', '10.0.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', name);
        // 256-byte slots leave a 128-byte room: frames up to 127 bytes fit. A
        // frame that fills the room is indistinguishable from a cut one: dropped too.
        const pool = new PacketPool({ slots: 16, slotSize: 256, headroom: 128 });
        const rx = new Batch(pool, 8);
        for (const size of [400, 86, 85, 40]) {
          await icmpPing(ns.name, '10.0.0.2', { count: 1, size, waitMs: 200 });
        }
        const n = tap.readBatch(rx);
        assert.is(n, 2);
        assert.is(rx.len[0], 14 + 20 + 8 + 85);
        assert.is(rx.len[1], 14 + 20 + 8 + 40);
        assert.is(tap.stats.rxTruncated, 2);
        rx.release();
        assert.is(pool.available, 16);
      } finally {
        tap.close();
      }
    });
  });
}

test.run();
