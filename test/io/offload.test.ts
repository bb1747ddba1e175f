import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TapDevice, PacketPool, Batch, VtepError } from '../../src/index.js';
import { VnetFlag, VnetGso, type TapQueue } from '../../src/io/tap.js';
import { withNetns, uniqueName, skipWithoutNetns, type Netns } from '../helpers/netns.js';
import { tcpTransfer } from '../../src/util/topo.js';

const isInvalid = (field: string) => (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith(field);

test('offloads: option checks before any system call', () => {
  assert.throws(() => TapDevice.open({ name: 'ok', offloads: 1 as unknown as boolean }), isInvalid('offloads'));
  assert.throws(() => TapDevice.open({ name: 'ok', offloads: true, vnetHdr: false }), isInvalid('vnetHdr'));
});

interface Seen {
  frames: number;
  tso4: number;
  tso6: number;
  needsCsum: number;
  largest: number;
  written: number;
  dropped: number;
}

/**
 * Moves every frame from one TAP to the other unchanged, virtio-net header
 * fields included: a wire between two kernels that both offload.
 */
function wire(from: TapQueue, to: TapQueue, pool: PacketPool): Seen {
  const seen: Seen = { frames: 0, tso4: 0, tso6: 0, needsCsum: 0, largest: 0, written: 0, dropped: 0 };
  const rx = new Batch(pool, 64);
  from.onReadable(() => {
    while (from.readBatch(rx) > 0) {
      for (let i = 0; i < rx.count; i++) {
        seen.frames++;
        const t = rx.gsoType[i]! & ~VnetGso.ECN;
        if (t === VnetGso.TCPV4) seen.tso4++;
        if (t === VnetGso.TCPV6) seen.tso6++;
        if ((rx.vflags[i]! & VnetFlag.NEEDS_CSUM) !== 0) seen.needsCsum++;
        if (rx.len[i]! > seen.largest) seen.largest = rx.len[i]!;
      }
      const n = to.writeBatch(rx);
      seen.written += n;
      seen.dropped += rx.count - n;
      rx.release();
    }
  });
  return seen;
}

function host(ns: Netns, name: string, v4: string, v6: string, mac: number): TapDevice {
  const tap = TapDevice.open({ name, netns: ns.name, offloads: true, mtu: 1500, mac, up: true });
  ns.ip('addr', 'add', v4, 'dev', name);
  ns.ip('-6', 'addr', 'add', v6, 'dev', name, 'nodad');
  return tap;
}

if (!skipWithoutNetns('io/offload')) {
  test('TAP offloads: TCP between two kernels through our wire, TSO super-frames and partial checksums both ways', async () => {
    await withNetns(['vo', 'vo'], async (a, b) => {
      const ta = host(a, uniqueName('ta'), '10.0.0.1/24', '2001:db8:a::1/64', 0x020000000001);
      const tb = host(b, uniqueName('tb'), '10.0.0.2/24', '2001:db8:a::2/64', 0x020000000002);
      try {
        assert.ok(ta.offloads.csum && ta.offloads.tso4 && ta.offloads.tso6 && ta.offloads.tsoEcn, JSON.stringify(ta.offloads));
        assert.ok(ta.superFrames);
        const pool = new PacketPool({ slots: 512, largeSlots: 160 });
        const ab = wire(ta, tb, pool);
        const ba = wire(tb, ta, pool);
        const MB = 1 << 20;
        const fwd = await tcpTransfer(a, b, '10.0.0.2', 16 * MB);
        assert.is(fwd.received, 16 * MB);
        assert.is(fwd.receivedSha, fwd.sentSha);
        const rev = await tcpTransfer(b, a, '10.0.0.1', 16 * MB);
        assert.is(rev.received, 16 * MB);
        assert.is(rev.receivedSha, rev.sentSha);
        const v6 = await tcpTransfer(a, b, '2001:db8:a::2', 8 * MB);
        assert.is(v6.receivedSha, v6.sentSha);
        // The kernels sent super-frames (larger than the MTU) with a partial checksum,
        // and took them back as such: the transfers above are the proof they were valid.
        assert.ok(ab.tso4 > 0 && ba.tso4 > 0, `tso4 ${ab.tso4} / ${ba.tso4}`);
        assert.ok(ab.tso6 > 0, `tso6 ${ab.tso6}`);
        assert.ok(ab.needsCsum > 0, `needsCsum ${ab.needsCsum}`);
        assert.ok(ab.largest > 1514 && ab.largest <= pool.largeRoom, `largest ${ab.largest}`);
        assert.ok(ta.stats.rxLarge > 0);
        assert.is(ta.stats.rxTruncated, 0);
        assert.is(ta.stats.txErrors + tb.stats.txErrors, 0);
        // Every slot came back: spares and swapped small slots alike.
        ta.onReadable(null);
        tb.onReadable(null);
        assert.is(pool.available, pool.slots);
        assert.is(pool.largeAvailable, pool.largeSlots);
      } finally {
        ta.close();
        tb.close();
      }
    });
  });

  test('TAP offloads: writes with a plain header, a partial checksum, and a header the kernel refuses', async () => {
    await withNetns(['vo'], async (a) => {
      const name = uniqueName('ta');
      const ta = TapDevice.open({ name, netns: a.name, offloads: true, up: true, mtu: 1500 });
      try {
        const pool = new PacketPool({ slots: 64 });
        const tx = new Batch(pool, 4);
        // Ethernet[IPv4[UDP]] to the kernel: plain header (all zero), then a partial checksum.
        const f = new Uint8Array(60);
        f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 9, 8, 0]);
        f.set([0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1], 14);
        tx.pushCopy(f);
        tx.pushCopy(f);
        tx.vflags[1] = VnetFlag.NEEDS_CSUM;
        tx.csumStart[1] = 34;
        tx.csumOffset[1] = 6;
        // A checksum field past the end of the frame: the kernel refuses this header (EINVAL), one packet dropped.
        tx.pushCopy(f);
        tx.vflags[2] = VnetFlag.NEEDS_CSUM;
        tx.csumStart[2] = 58;
        tx.csumOffset[2] = 6;
        assert.is(ta.writeBatch(tx), 3);
        assert.is(ta.stats.txPackets, 2);
        assert.is(ta.stats.txErrors, 1);
        assert.is(ta.stats.lastError, 'EINVAL');
        tx.release();
      } finally {
        ta.close();
      }
    });
  });
}

test.run();
