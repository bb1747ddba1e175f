/**
 * `npm run bench -- pipeline`: the dataplane's per-packet cost, without
 * kernel I/O, on 64-byte frames in batches of 256, each next to bare
 * encapsulation (encapBatch) and a frame copy measured in the same run:
 * - bridge, local port -> remote VTEP (FDB lookup, learning, VXLAN encap, queue, flush);
 * - underlay -> local port (VXLAN decap, learning, FDB lookup, queue, flush);
 * - routed, gateway port -> MPLS-over-UDP (checks, TTL, LPM, next hop, encap, queue, flush).
 * Ports are sinks that count what they are given; the frames are re-used batch after batch,
 * and the run fails if anything was dropped.
 * Then garbage under TCP load (`vtep run`'s path over a UDP underlay, without kernel I/O): bytes
 * allocated per batch after a warm-up, and GCs, for 64 KB super-frames from a guest and 1,400-byte
 * VXLAN datagrams towards it (garbageRows).
 *
 * With `--against=DIR` (another build's dist/), the same scenarios instead run
 * against that build in one process (see pipeline-ab.ts).
 */
import { EventEmitter } from 'node:events';
import v8 from 'node:v8';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { Batch } from '../src/packet/batch.js';
import { Tunnel } from '../src/tunnel/tunnel.js';
import { encapBatch, encapInPlace } from '../src/tunnel/encap.js';
import { checksum } from '../src/wire/checksum.js';
import { zeroStats, type Port, type PortStats } from '../src/io/port.js';
import { countGc, measure, type BenchContext, type BenchRow, type Suite } from './harness.js';

const N = 256;

/** A port that takes every packet it is given (and counts them). */
export class SinkPort extends EventEmitter implements Port {
  packets = 0;
  constructor(
    readonly name: string,
    readonly kind: 'memory' | 'udp' = 'memory',
  ) {
    super();
  }
  readBatch(): number {
    return 0;
  }
  writeBatch(batch: Batch, from = 0, to = batch.count): number {
    this.packets += to - from;
    return to - from;
  }
  onReadable(): void {}
  onWritable(cb: () => void): void {
    setImmediate(cb);
  }
  get stats(): PortStats {
    return { ...zeroStats(), txPackets: this.packets };
  }
  get closed(): boolean {
    return false;
  }
  get failed(): undefined {
    return undefined;
  }
  get linkUp(): boolean {
    return true;
  }
  close(): void {}
}

/** A frame of `size` bytes with its Ethernet header (dst, src, IPv4) written. */
function ethFrame(size: number, dst: number, src: number): { f: Uint8Array; dv: DataView } {
  const f = new Uint8Array(size);
  const dv = new DataView(f.buffer);
  dv.setUint16(0, Math.floor(dst / 2 ** 32));
  dv.setUint32(2, dst >>> 0);
  dv.setUint16(6, Math.floor(src / 2 ** 32));
  dv.setUint32(8, src >>> 0);
  dv.setUint16(12, 0x0800);
  return { f, dv };
}

/** Ethernet/IPv4/UDP, 64 bytes, flow i. */
export function frame(dst: number, src: number, i: number, ttl = 64): Uint8Array {
  const { f, dv } = ethFrame(64, dst, src);
  f.set([0x45, 0, 0, 50, 0, 0, 0x40, 0, ttl, 17, 0, 0, 10, 1, 0, 2, 10, 2, (i >>> 8) & 255, i & 255], 14);
  dv.setUint16(24, checksum(f, 14, 20));
  dv.setUint32(34, ((1024 + i) << 16) | 5001);
  dv.setUint16(38, 30);
  return f;
}

/** Frames kept in slots; refill() re-forms the batch with a reference on each slot. */
class Feed {
  readonly b: Batch;
  private readonly slot: Uint32Array;
  private readonly start: Uint32Array;
  private readonly len: Uint32Array;
  constructor(dp: Dataplane, frames: Uint8Array[], private readonly n = N) {
    this.b = new Batch(dp.pool, n);
    for (const f of frames) this.b.pushCopy(f);
    this.slot = this.b.slot.slice(0, n);
    this.start = this.b.start.slice(0, n);
    this.len = this.b.len.slice(0, n);
  }
  refill(): Batch {
    const b = this.b;
    const pool = b.pool;
    b.slot.set(this.slot);
    b.start.set(this.start);
    b.len.set(this.len);
    b.reason.fill(0);
    b.hash.fill(0);
    for (let i = 0; i < this.n; i++) pool.retain(this.slot[i]!);
    b.count = this.n;
    return b;
  }
}

export const suite: Suite = {
  description: 'dataplane pipeline per packet (bridge, decap, routed) vs bare encap and a copy, 64 B, no kernel I/O',
  async run(ctx) {
    const against = ctx.args.find((a) => a.startsWith('--against='));
    if (against !== undefined) return (await import('./pipeline-ab.js')).runAgainst(ctx, against.slice('--against='.length));
    const t = ctx.args.includes('--quick') ? 0.3 : 1;
    const rows: BenchRow[] = [];
    const macA = 0x02fc18000001;
    const vm1 = 0x02000a000001;
    const vm2 = 0x02000a000002;

    // Baselines in the same run: a copy per frame, and bare VXLAN encap of a batch.
    const base = new Dataplane({ pool: { slots: 4 * N + 64 } });
    const copyFeed = new Feed(base, Array.from({ length: N }, (_, i) => frame(vm2, vm1, i)));
    const dstFeed = new Feed(base, Array.from({ length: N }, (_, i) => frame(vm2, vm1, i)));
    const u8 = base.pool.u8;
    const copy = measure('copy', () => {
      const s = copyFeed.b.start;
      const d = dstFeed.b.start;
      for (let i = 0; i < N; i++) u8.copyWithin(d[i]!, s[i]!, s[i]! + 64);
    }, t);
    const copyPps = copy.hz * N;
    rows.push({ name: 'copy 64B (baseline)', value: copyPps, unit: 'pps', rme: copy.rme });
    const tun = new Tunnel({ proto: 'vxlan', vni: 42, src: '198.18.0.1', dst: '198.18.0.2', srcMac: macA, dstMac: 0x02fc18000002 });
    const encFeed = new Feed(base, Array.from({ length: N }, (_, i) => frame(vm2, vm1, i)));
    const enc = measure('encap', () => {
      const b = encFeed.refill();
      encapBatch(tun, b);
      b.release();
    }, t);
    const encPps = enc.hz * N;
    rows.push({ name: 'encapBatch vxlan4 64B (baseline)', value: encPps, unit: 'pps', rme: enc.rme, baseline: 'copy 64B', ratio: encPps / copyPps });
    ctx.log('baselines done');

    // Bridge: local port -> remote VTEP.
    const dp = new Dataplane({ pool: { slots: 8 * N + 64 } });
    const underlay = new SinkPort('underlay');
    dp.setUnderlay({ address: '198.18.0.1', port: underlay, mac: macA, nextHopMac: 0x02fc18000002 });
    const bd = dp.addBridge({ vni: 42, flood: ['198.18.0.2'] });
    const local = new SinkPort('vm1');
    dp.addBridgePort(bd, local);
    dp.addFdb(bd, vm2, { remote: '198.18.0.2' });
    const out = new Feed(dp, Array.from({ length: N }, (_, i) => frame(vm2, vm1, i)));
    const bridge = measure('bridge', () => dp.inject('vm1', out.refill()), t);
    const bridgePps = bridge.hz * N;
    rows.push({ name: 'bridge local -> remote (vxlan encap) 64B', value: bridgePps, unit: 'pps', rme: bridge.rme, baseline: 'encapBatch', ratio: bridgePps / encPps });
    if (underlay.packets === 0) throw new Error('bridge: nothing reached the underlay');

    // Underlay -> local port: VXLAN frames for vm1 from the remote.
    const frames = Array.from({ length: N }, (_, i) => {
      const f = frame(vm1, vm2, i);
      const r = new Tunnel({ proto: 'vxlan', vni: 42, src: '198.18.0.2', dst: '198.18.0.1', srcMac: 0x02fc18000002, dstMac: macA });
      const buf = new Uint8Array(64 + 128);
      buf.set(f, 100);
      const ns = encapInPlace(r, buf, 100, 64, 0);
      return buf.slice(ns, 164);
    });
    const inFeed = new Feed(dp, frames);
    const before = local.packets;
    const decap = measure('decap', () => dp.inject('underlay', inFeed.refill()), t);
    const decapPps = decap.hz * N;
    rows.push({ name: 'underlay -> local (vxlan decap, learn) 64B', value: decapPps, unit: 'pps', rme: decap.rme, baseline: 'encapBatch', ratio: decapPps / encPps });
    if (local.packets === before) throw new Error('decap: nothing reached the local port');
    ctx.log('bridge done');

    // Routed: gateway port -> MPLS-over-UDP.
    const gw = new SinkPort('vm3');
    dp.addVrf({ name: 'red', label: 100 });
    const gp = dp.addVrfPort('red', gw, { gateway: '10.1.0.1/24' });
    dp.addRoute('red', '10.2.0.0/16', [{ remote: '198.18.0.3', encap: 'mplsoudp', label: 200 }]);
    const rFrames = Array.from({ length: N }, (_, i) => frame(dp.routerMac(gp), 0x02000a010002, i, 255));
    const rFeed = new Feed(dp, rFrames);
    const rStart = rFeed.b.start.slice(0, N);
    const u8r = dp.pool.u8;
    // Encapsulating the IP packet writes the outer headers over the frame's own Ethernet
    // header (it is not sent): a re-used frame needs its first 26 bytes back, as received.
    const heads = new Uint8Array(N * 26);
    rFrames.forEach((f, i) => heads.set(f.subarray(0, 26), i * 26));
    const sent = underlay.packets;
    const routed = measure('routed', () => {
      const b = rFeed.refill();
      // Put back the Ethernet header and TTL/checksum (routing changed them) before each run.
      for (let i = 0; i < N; i++) {
        const at = rStart[i]!;
        for (let k = 0; k < 26; k++) u8r[at + k] = heads[i * 26 + k]!;
      }
      dp.inject('vm3', b);
    }, t);
    const routedPps = routed.hz * N;
    rows.push({ name: 'routed gateway -> mplsoudp 64B', value: routedPps, unit: 'pps', rme: routed.rme, baseline: 'encapBatch', ratio: routedPps / encPps, note: 'includes restoring 26 header bytes per frame' });
    const rs = dp.stats();
    if (Object.keys(rs.drops).length > 0) throw new Error(`pipeline: drops ${JSON.stringify(rs.drops)}`);
    if (underlay.packets === sent) throw new Error('routed: nothing reached the underlay');
    ctx.log('routed done');
    dp.close();
    base.close();
    rows.push(...(await garbageRows(ctx, t)));
    return rows;
  },
};

/** A UDP underlay socket stand-in (a UdpSocket bound to 4789): takes every datagram and counts them. */
export class UdpSink extends SinkPort {
  readonly localPort = 4789;
  readonly family = 4;
  constructor(name: string) {
    super(name, 'udp');
  }
}

/**
 * Ethernet/IPv4/TCP dst -> src with `payload` bytes (sequence `seq`); the TCP
 * checksum complete, or with `partial` only the pseudo-header sum (a guest's NEEDS_CSUM).
 */
function tcpFrame(dst: number, src: number, payload: number, seq: number, partial: boolean): Uint8Array {
  const { f, dv } = ethFrame(54 + payload, dst, src);
  f.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, src & 0xff, 10, 0, 0, dst & 0xff], 14);
  dv.setUint16(16, 40 + payload);
  dv.setUint16(24, checksum(f, 14, 20));
  dv.setUint32(34, (1000 << 16) | 5001);
  dv.setUint32(38, seq >>> 0);
  f[46] = 0x50;
  f[47] = 0x18; // ACK PSH
  dv.setUint16(48, 0xffff);
  for (let k = 0; k < payload; k++) f[54 + k] = (k * 7 + 3) & 0xff;
  // Pseudo-header (addresses, protocol, TCP length), then the segment.
  const l4 = 20 + payload;
  let s = 0x0a00 + (src & 0xff) + 0x0a00 + (dst & 0xff) + 6 + l4;
  if (!partial) {
    const seg = new Uint8Array(l4 + 1);
    seg.set(f.subarray(34));
    for (let k = 0; k < l4; k += 2) s += (seg[k]! << 8) | seg[k + 1]!;
  }
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  dv.setUint16(50, partial ? s : ~s & 0xffff);
  return f;
}

/** New-space bytes per call of fn over `windows` windows of `per` calls, the median of the windows no GC cut. */
function bytesPerCall(fn: () => void, windows: number, per: number): number {
  const used = (): number => v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')!.space_used_size;
  const got: number[] = [];
  for (let w = 0; w < windows; w++) {
    const u0 = used();
    for (let k = 0; k < per; k++) fn();
    const d = used() - u0;
    if (d >= 0) got.push(d / per);
  }
  got.sort((a, b) => a - b);
  return got.length === 0 ? NaN : got[got.length >> 1]!;
}

/**
 * Garbage under TCP load, `vtep run`'s packet path without its kernel I/O:
 * 64 KB TCP super-frames from a guest (gso-segment, VXLAN over a UDP
 * underlay), and 1,400-byte VXLAN datagrams towards it (decap, learn,
 * forward). After a warm-up: bytes allocated per batch (the median of windows
 * of 100 batches, less what the measuring itself allocates: an empty function
 * measured alike) and the GCs over the run. The event loop is not in it (see
 * docs/dataplane.md).
 */
async function garbageRows(ctx: BenchContext, t: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const vm1 = 0x02000a000001;
  const vm2 = 0x02000a000002;
  const dp = new Dataplane({ pool: { slots: 4096, largeSlots: 64 } });
  dp.setUnderlay({ address: '198.18.0.1' });
  const udp = new UdpSink('underlay');
  dp.addUnderlaySocket(udp);
  const bd = dp.addBridge({ vni: 42, flood: ['198.18.0.2'] });
  const guest = new SinkPort('vm1');
  dp.addBridgePort(bd, guest);
  dp.addFdb(bd, vm2, { remote: '198.18.0.2' });

  // From the guest: 4 super-frames of 45 segments (MSS 1400) a batch, as a TAP with offloads hands them over.
  const SF = 4;
  const out = new Feed(dp, Array.from({ length: SF }, (_, k) => tcpFrame(vm2, vm1, 45 * 1400, 0x9000_0000 + k * 63000, true)), SF);
  const send = (): void => {
    const b = out.refill();
    for (let i = 0; i < SF; i++) {
      b.gsoType[i] = 1; // TCPV4
      b.gsoSize[i] = 1400;
      b.hdrLen[i] = 54;
      b.vflags[i] = 1; // NEEDS_CSUM
      b.csumStart[i] = 34;
      b.csumOffset[i] = 16;
    }
    dp.inject('vm1', b);
  };
  // Towards the guest: 64 VXLAN datagrams (UDP payloads, as a socket receives them) a batch.
  const DG = 64;
  const vx = new Uint8Array([0x08, 0, 0, 0, 0, 0, 42, 0]);
  const inFeed = new Feed(dp, Array.from({ length: DG }, (_, k) => {
    const f = tcpFrame(vm1, vm2, 1400, 0xa000_0000 + k * 1400, false);
    const d = new Uint8Array(8 + f.length);
    d.set(vx);
    d.set(f, 8);
    return d;
  }), DG);
  const recv = (): void => {
    const b = inFeed.refill();
    for (let i = 0; i < DG; i++) {
      b.addr[4 * i] = 0xc6120002; // 198.18.0.2
      b.peerPort[i] = 4789;
      b.gsoSize[i] = 0; // single datagrams, no GRO train
      b.gsoType[i] = 0;
      b.vflags[i] = 0;
    }
    dp.inject('underlay', b);
  };
  const runs = [
    { name: 'tcp guest -> udp underlay, 4 x 64 KB super-frames a batch', fn: send, sink: (): number => udp.packets },
    { name: 'tcp udp underlay -> guest, 64 x 1400 B datagrams a batch', fn: recv, sink: (): number => guest.packets },
  ];
  const idle = bytesPerCall(() => {}, 50, 100);
  for (const r of runs) {
    const n = Math.max(2000, Math.round(20000 * t));
    for (let k = 0; k < n; k++) r.fn(); // warm-up: the JIT's first tiers allocate
    const before = r.sink();
    const { result: bytes, gcs } = await countGc(() => bytesPerCall(r.fn, Math.max(20, Math.round(n / 100)), 100));
    if (r.sink() === before) throw new Error(`${r.name}: nothing came out`);
    rows.push({ name: `garbage: ${r.name}`, value: Math.max(0, bytes - idle), unit: 'B/batch', note: `${gcs} GCs over ${n} batches after ${n} of warm-up` });
  }
  const drops = dp.stats().drops;
  if (Object.keys(drops).length > 0) throw new Error(`garbage: drops ${JSON.stringify(drops)}`);
  ctx.log('garbage done');
  dp.close();
  return rows;
}
