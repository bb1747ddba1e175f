/**
 * `npm run bench -- srcport` (root): the cost of a per-flow UDP source port
 * (RFC 7348 §5) on the socket path, for each way to get one, against today's
 * UdpSocket.sendBatch that sends everything from one port, in the same run.
 *
 * Workload: batches of 256 VXLAN-sized datagrams (PAYLOADS bytes of UDP
 * payload) of 64 flows from 198.18.0.1 to 198.18.0.2:4789, sent through a TAP
 * nobody reads (its queue stays full): the kernel runs the whole output path
 * and the tun driver drops each frame, as a NIC would send it. Candidates:
 * - one port (today): UdpSocket, GSO: one message per same-length run;
 * - srcPorts: UdpSocket with 64 (or 16) source-port sockets, batch.srcPort per
 *   entry; flows in runs of 16 (super-frame segments), runs of 4, or
 *   interleaved (every entry another flow: sendBatch groups them by port, so
 *   a batch costs one sendmmsg per port in use);
 * - raw IP: RawIpSocket (IP_HDRINCL) with our own IPv4 + UDP headers, any port
 *   per packet, no GSO;
 * - AF_PACKET: PacketSocket with Ethernet + IPv4 + UDP of our own (so our own
 *   neighbour resolution), no GSO, and with PACKET_VNET_HDR: one super-frame
 *   (UDP_L4 GSO, partial checksum) per flow run of 16, cut by the kernel.
 *   (With PACKET_QDISC_BYPASS the full sink queue refuses every frame with
 *   ENOBUFS, so it cannot be measured here.)
 * Figures are datagrams per CPU second of this process (process.cpuUsage), as
 * in the io suite: the machine is shared, so wall-clock rates mostly measure
 * the scheduler. Candidates alternate within each round; the value is the
 * median over rounds and the note gives the paired ratio.
 */
import { PacketSocket, RawIpSocket, TapDevice, UdpSocket, PacketPool, Batch, parseIPv4 } from '../src/index.js';
import { Netns, uniqueName } from '../src/util/netns.js';
import { fmix32 } from '../src/tunnel/flowhash.js';
import { checksum } from '../src/wire/checksum.js';
import type { BenchRow, Suite } from './harness.js';

const ROUNDS = 7;
const CALLS = 200;
const N = 256;
const FLOWS = 64;
const PAYLOADS = [64, 1400];
const SRC = parseIPv4('198.18.0.1');
const DST = parseIPv4('198.18.0.2');
const SRC_MAC = [2, 0, 0, 0, 0, 1];
const DST_MAC = [2, 0, 0, 0, 0, 2];

interface Run {
  n: number;
  cpu: number;
  wall: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Calls send CALLS times; counts what the kernel took (txPackets) per CPU and wall second. */
function timed(send: () => void, sent: () => number): Run {
  const before = sent();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < CALLS; k++) send();
  const wall = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  return { n: sent() - before, cpu: (c.user + c.system) * 1000, wall };
}

/** Flow of entry i: runs of `run` entries per flow (run 1 = interleaved). */
const flowOf = (i: number, run: number): number => Math.floor(i / run) % FLOWS;

/** A batch of UDP payloads to DST:4789, srcPort per flow from `udp` (when given). */
function udpBatch(pool: PacketPool, payload: number, run: number, udp?: UdpSocket): Batch {
  const b = new Batch(pool, N);
  for (let i = 0; i < N; i++) {
    b.pushCopy(new Uint8Array(payload).fill(0xab));
    b.addr[4 * i] = DST;
    b.peerPort[i] = 4789;
    if (udp !== undefined) b.srcPort[i] = udp.srcPortFor(fmix32(flowOf(i, run) + 1));
  }
  return b;
}

/** A batch of whole IPv4/UDP packets (with an Ethernet header when `eth`), source port per flow. */
function ipBatch(pool: PacketPool, payload: number, eth: boolean): Batch {
  const b = new Batch(pool, N);
  const l2 = eth ? 14 : 0;
  for (let i = 0; i < N; i++) {
    const p = new Uint8Array(l2 + 28 + payload).fill(0xab);
    const dv = new DataView(p.buffer);
    if (eth) {
      p.set(DST_MAC, 0);
      p.set(SRC_MAC, 6);
      dv.setUint16(12, 0x0800);
    }
    p.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0], l2);
    dv.setUint16(l2 + 2, 28 + payload);
    dv.setUint32(l2 + 12, SRC);
    dv.setUint32(l2 + 16, DST);
    dv.setUint16(l2 + 10, checksum(p, l2, 20));
    dv.setUint16(l2 + 20, 49152 + (fmix32(flowOf(i, 4) + 1) & 0x3fff));
    dv.setUint16(l2 + 22, 4789);
    dv.setUint16(l2 + 24, 8 + payload);
    dv.setUint16(l2 + 26, 0);
    b.pushCopy(p);
  }
  return b;
}

/** Segments per super-frame on the AF_PACKET GSO path (a flow's run). */
const SEGS = 16;

/**
 * Super-frames for AF_PACKET with PACKET_VNET_HDR: virtio-net header (UDP_L4
 * GSO, partial checksum) + Ethernet + IPv4 + UDP + SEGS payloads; the kernel
 * cuts each into SEGS datagrams with their own headers and checksums.
 */
function gsoBatch(pool: PacketPool, payload: number): Batch {
  const b = new Batch(pool, N / SEGS);
  for (let i = 0; i < N / SEGS; i++) {
    const udpLen = 8 + SEGS * payload;
    const p = new Uint8Array(10 + 14 + 20 + udpLen).fill(0xab);
    const dv = new DataView(p.buffer);
    // virtio_net_hdr, little-endian: NEEDS_CSUM, UDP_L4, hdr_len, gso_size, csum_start, csum_offset.
    p[0] = 1;
    p[1] = 5;
    dv.setUint16(2, 42, true);
    dv.setUint16(4, payload, true);
    dv.setUint16(6, 34, true);
    dv.setUint16(8, 6, true);
    const e = 10;
    p.set(DST_MAC, e);
    p.set(SRC_MAC, e + 6);
    dv.setUint16(e + 12, 0x0800);
    const ip = e + 14;
    p.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0], ip);
    dv.setUint16(ip + 2, 20 + udpLen);
    dv.setUint32(ip + 12, SRC);
    dv.setUint32(ip + 16, DST);
    dv.setUint16(ip + 10, checksum(p, ip, 20));
    dv.setUint16(ip + 20, 49152 + (fmix32(i + 1) & 0x3fff));
    dv.setUint16(ip + 22, 4789);
    dv.setUint16(ip + 24, udpLen);
    // Partial checksum: the pseudo-header sum, not complemented.
    let sum = (SRC >>> 16) + (SRC & 0xffff) + (DST >>> 16) + (DST & 0xffff) + 17 + udpLen;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    dv.setUint16(ip + 26, sum);
    b.pushCopy(p);
  }
  return b;
}

interface Candidate {
  name: string;
  send: () => void;
  sent: () => number;
  runs: Run[];
}

export const suite: Suite = {
  description: 'per-flow UDP source ports: several sockets vs raw IP vs AF_PACKET vs one port (today), in a namespace',
  needsRoot: true,
  async run(ctx) {
    const ns = Netns.create('vs');
    const opened: { close(): void }[] = [];
    const rows: BenchRow[] = [];
    try {
      ns.sysctl('net.ipv6.conf.all.disable_ipv6', 1);
      ns.sysctl('net.ipv6.conf.default.disable_ipv6', 1);
      const sinkName = uniqueName('vss');
      const sink = TapDevice.open({ name: sinkName, netns: ns.name, up: true, txQueueLen: 64, mac: 0x020000000001 });
      opened.push(sink);
      ns.ip('addr', 'add', '198.18.0.1/24', 'dev', sinkName);
      ns.ip('neigh', 'add', '198.18.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', sinkName, 'nud', 'permanent');
      const one = UdpSocket.open({ address: '198.18.0.1', netns: ns.name });
      const many = UdpSocket.open({ address: '198.18.0.1', netns: ns.name, srcPorts: FLOWS });
      const raw = RawIpSocket.open({ family: 4, protocol: 17, netns: ns.name });
      const pkt = PacketSocket.open({ ifname: sinkName, protocol: 0, netns: ns.name });
      const few = UdpSocket.open({ address: '198.18.0.1', netns: ns.name, srcPorts: 16 });
      const pktGso = PacketSocket.open({ ifname: sinkName, protocol: 0, vnetHdr: true, netns: ns.name });
      opened.push(one, many, few, raw, pkt, pktGso);
      for (const payload of PAYLOADS) {
        const pool = new PacketPool({ slots: 8 * N, largeSlots: N / SEGS });
        const tx = (b: Batch, s: { sendBatch(b: Batch): number }) => () => void s.sendBatch(b);
        const count = (s: { stats: { txPackets: number } }) => () => s.stats.txPackets;
        const cands: Candidate[] = [
          { name: 'one port (today: UdpSocket, GSO)', send: tx(udpBatch(pool, payload, 4), one), sent: count(one), runs: [] },
          { name: 'srcPorts 64, flows in runs of 16', send: tx(udpBatch(pool, payload, 16, many), many), sent: count(many), runs: [] },
          { name: 'srcPorts 64, flows in runs of 4', send: tx(udpBatch(pool, payload, 4, many), many), sent: count(many), runs: [] },
          { name: 'srcPorts 64, flows interleaved', send: tx(udpBatch(pool, payload, 1, many), many), sent: count(many), runs: [] },
          { name: 'srcPorts 16, flows interleaved', send: tx(udpBatch(pool, payload, 1, few), few), sent: count(few), runs: [] },
          { name: 'raw IP (IP_HDRINCL), no GSO', send: tx(ipBatch(pool, payload, false), raw), sent: count(raw), runs: [] },
          { name: 'AF_PACKET, no GSO', send: tx(ipBatch(pool, payload, true), pkt), sent: count(pkt), runs: [] },
          { name: `AF_PACKET + vnet hdr, UDP GSO of ${SEGS}`, send: tx(gsoBatch(pool, payload), pktGso), sent: () => pktGso.stats.txPackets * SEGS, runs: [] },
        ];
        for (const c of cands) timed(c.send, c.sent); // warm-up
        for (let r = 0; r < ROUNDS; r++) {
          // Rotate who goes first: caches favour whoever ran last.
          for (let k = 0; k < cands.length; k++) {
            const c = cands[(k + r) % cands.length]!;
            c.runs.push(timed(c.send, c.sent));
          }
        }
        const base = cands[0]!;
        const perCpu = (x: Run) => (x.n / x.cpu) * 1e9;
        const baseV = median(base.runs.map(perCpu));
        for (const c of cands) {
          const v = median(c.runs.map(perCpu));
          const wall = median(c.runs.map((x) => (x.n / x.wall) * 1e9));
          const row: BenchRow = { name: `${payload}B: ${c.name}`, value: v, unit: 'datagrams/cpu-s', note: `wall ${(wall / 1e3).toFixed(0)}k/s` };
          if (c !== base) {
            row.baseline = 'one port';
            row.ratio = v / baseV;
            const paired = median(c.runs.map((x, i) => perCpu(x) / perCpu(base.runs[i]!)));
            row.note = `${row.note}, paired ${paired.toFixed(2)}x`;
          }
          rows.push(row);
        }
        ctx.log(`payload ${payload} done`);
      }
      const st = many.stats;
      if (st.txErrors > 0) throw new Error(`srcPorts: ${st.txErrors} send errors (${st.lastError})`);
      return rows;
    } finally {
      for (const o of opened) o.close();
      ns.delete();
    }
  },
};
