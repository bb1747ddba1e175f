/**
 * The latency floor of a Node.js dataplane (`npm run bench -- latency`): the
 * C floor (bench/c/latency_fwd.c) written with vtep's own ports and nothing
 * else: a TAP and a UDP socket, a readable callback each, the VXLAN header
 * put on and taken off in place, no stage graph, no tables. What it adds to
 * the C floor is the runtime's (libuv's wake-up, the call into JavaScript,
 * the addon's calls); what `vtep run` adds to it is the dataplane's.
 *
 *   node --interrupt-budget=16384 dist/bench/node-floor.js TAPNETNS TAPNAME LOCAL PEER VNI
 *
 * Attaches to the persistent TAP TAPNAME in namespace TAPNETNS (a path); the
 * socket is bound to LOCAL:4789 in this process's namespace. Prints "start";
 * runs until SIGTERM.
 */
import { Batch } from '../src/packet/batch.js';
import { PacketPool } from '../src/packet/pool.js';
import { TapDevice } from '../src/io/tap.js';
import { UdpSocket } from '../src/io/udp.js';
import { parseIp } from '../src/util/addr.js';

const [tapNs, tapName, local, peer, vniArg] = process.argv.slice(2);
if (vniArg === undefined) {
  console.error('usage: node-floor TAPNETNS TAPNAME LOCAL PEER VNI');
  process.exit(2);
}
const vni = Number(vniArg);
const pool = new PacketPool({ slots: 512 });
const u8 = pool.u8;
const tap = TapDevice.open({ name: tapName!, netns: tapNs! });
const udp = UdpSocket.open({ address: local!, port: 4789 });
const peerAddr = parseIp(peer!).words[0]!;
const fromTap = new Batch(pool, 64);
const fromUdp = new Batch(pool, 64);

tap.onReadable(() => {
  const b = fromTap;
  while (tap.readBatch(b) > 0) {
    for (let i = 0; i < b.count; i++) {
      const s = b.start[i]! - 8;
      b.start[i] = s;
      b.len[i] = b.len[i]! + 8;
      u8[s] = 0x08;
      u8[s + 1] = u8[s + 2] = u8[s + 3] = 0;
      u8[s + 4] = vni >>> 16;
      u8[s + 5] = (vni >>> 8) & 0xff;
      u8[s + 6] = vni & 0xff;
      u8[s + 7] = 0;
      b.addr[4 * i] = peerAddr;
      b.peerPort[i] = 4789;
    }
    udp.sendBatch(b);
    const n = b.count;
    b.release();
    if (n < b.capacity) break;
  }
});

udp.onReadable(() => {
  const b = fromUdp;
  while (udp.recvBatch(b) > 0) {
    // Runs of valid datagrams are written; one of another VNI (or not VXLAN) is skipped.
    let from = 0;
    for (let i = 0; i < b.count; i++) {
      const s = b.start[i]!;
      if (b.len[i]! < 8 + 14 || (u8[s]! & 0x08) === 0 || ((u8[s + 4]! << 16) | (u8[s + 5]! << 8) | u8[s + 6]!) !== vni) {
        if (i > from) tap.writeBatch(b, from, i);
        from = i + 1;
        continue;
      }
      b.start[i] = s + 8;
      b.len[i] = b.len[i]! - 8;
    }
    if (b.count > from) tap.writeBatch(b, from, b.count);
    const n = b.count;
    b.release();
    if (n < b.capacity) break;
  }
});

process.on('SIGTERM', () => {
  tap.close();
  udp.close();
  process.exit(0);
});
console.log('start');
