/**
 * `npm run bench -- pipeline`: the dataplane's per-packet cost, without
 * kernel I/O, on 64-byte frames in batches of 256, each next to bare
 * encapsulation (encapBatch) and a frame copy measured in the same run:
 * - bridge, local port -> remote VTEP (FDB lookup, learning, VXLAN encap, queue, flush);
 * - underlay -> local port (VXLAN decap, learning, FDB lookup, queue, flush);
 * - routed, gateway port -> MPLS-over-UDP (checks, TTL, LPM, next hop, encap, queue, flush).
 * Ports are sinks that count what they are given; the frames are re-used batch after batch,
 * and the run fails if anything was dropped.
 *
 * With `--against=DIR` (another build's dist/), the same scenarios instead run
 * against that build in one process (see pipeline-ab.ts).
 */
import { EventEmitter } from 'node:events';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { Batch } from '../src/packet/batch.js';
import { Tunnel } from '../src/tunnel/tunnel.js';
import { encapBatch, encapInPlace } from '../src/tunnel/encap.js';
import { checksum } from '../src/wire/checksum.js';
import { zeroStats, type Port, type PortStats } from '../src/io/port.js';
import { measure, type BenchRow, type Suite } from './harness.js';

const N = 256;

/** A port that takes every packet it is given (and counts them). */
export class SinkPort extends EventEmitter implements Port {
  readonly kind = 'memory' as const;
  packets = 0;
  constructor(readonly name: string) {
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

/** Ethernet/IPv4/UDP, 64 bytes, flow i. */
export function frame(dst: number, src: number, i: number, ttl = 64): Uint8Array {
  const f = new Uint8Array(64);
  const dv = new DataView(f.buffer);
  dv.setUint16(0, Math.floor(dst / 2 ** 32));
  dv.setUint32(2, dst >>> 0);
  dv.setUint16(6, Math.floor(src / 2 ** 32));
  dv.setUint32(8, src >>> 0);
  dv.setUint16(12, 0x0800);
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
  constructor(dp: Dataplane, frames: Uint8Array[]) {
    this.b = new Batch(dp.pool, N);
    for (const f of frames) this.b.pushCopy(f);
    this.slot = this.b.slot.slice(0, N);
    this.start = this.b.start.slice(0, N);
    this.len = this.b.len.slice(0, N);
  }
  refill(): Batch {
    const b = this.b;
    const pool = b.pool;
    b.slot.set(this.slot);
    b.start.set(this.start);
    b.len.set(this.len);
    b.reason.fill(0);
    b.hash.fill(0);
    for (let i = 0; i < N; i++) pool.retain(this.slot[i]!);
    b.count = N;
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
    return rows;
  },
};
