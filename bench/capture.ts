/**
 * `npm run bench -- capture`: what a live capture (`vtep ctl capture`) adds
 * per packet on the dataplane's side: the copy into the capture client's
 * bounded queue (src/ops/capture.ts), with a reader that keeps up and with
 * one that stopped (every frame dropped and counted), next to a plain 64-byte
 * copy; and, when the dataplane has capture() (the facade), the bridge
 * pipeline with no capture and with one capture on, in the same run.
 */
import { CaptureQueue } from '../src/ops/capture.js';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { Batch } from '../src/packet/batch.js';
import type { CaptureFn } from '../src/dataplane/api.js';
import { measure, type BenchRow, type Suite } from './harness.js';
import { SinkPort, frame } from './pipeline.js';

const N = 256;

export const suite: Suite = {
  description: 'live capture cost per packet: the bounded queue (keeping up, stalled) vs a copy; the pipeline with one capture on vs off',
  async run(ctx) {
    const t = ctx.args.includes('--quick') ? 0.3 : 1;
    const rows: BenchRow[] = [];
    const src = new Uint8Array(2 * N * 64);
    for (let i = 0; i < src.length; i++) src[i] = i & 255;
    const copy = measure('copy', () => {
      for (let i = 0; i < N; i++) src.copyWithin(N * 64 + i * 64, i * 64, i * 64 + 64);
    }, t);
    const copyPps = copy.hz * N;
    rows.push({ name: 'copy 64B (baseline)', value: copyPps, unit: 'pps', rme: copy.rme });

    const q = new CaptureQueue();
    const rec = { start: 0, len: 0, origLen: 0, tx: false, timeMs: 0 };
    const keep = measure('queue', () => {
      const now = performance.timeOrigin + performance.now();
      for (let i = 0; i < N; i++) q.push(false, src, i * 64, 64, now);
      while (q.peek(rec)) q.shift();
    }, t);
    rows.push({ name: 'capture queue push+take 64B (reader keeps up)', value: keep.hz * N, unit: 'pps', rme: keep.rme, baseline: 'copy 64B', ratio: (keep.hz * N) / copyPps });
    const full = new CaptureQueue({ frames: 1 });
    full.push(false, src, 0, 64, 0);
    const stalled = measure('stalled', () => {
      for (let i = 0; i < N; i++) full.push(false, src, i * 64, 64, 0);
    }, t);
    rows.push({ name: 'capture queue push 64B (reader stalled: dropped)', value: stalled.hz * N, unit: 'pps', rme: stalled.rme, baseline: 'copy 64B', ratio: (stalled.hz * N) / copyPps });

    const dp = new Dataplane({ pool: { slots: 8 * N + 64 } }) as Dataplane & { capture?: (port: string, dir: string, fn: CaptureFn) => () => void };
    if (typeof dp.capture !== 'function') {
      ctx.log('capture: the dataplane has no capture() yet (the facade): pipeline rows skipped');
      dp.close();
      return rows;
    }
    const underlay = new SinkPort('underlay');
    dp.setUnderlay({ address: '198.18.0.1', port: underlay, mac: 0x02fc18000001, nextHopMac: 0x02fc18000002 });
    const bd = dp.addBridge({ vni: 42, flood: ['198.18.0.2'] });
    dp.addBridgePort(bd as never, new SinkPort('vm1'));
    dp.addFdb(bd as never, 0x02000a000002, { remote: '198.18.0.2' });
    const b = new Batch(dp.pool, N);
    const frames = Array.from({ length: N }, (_, i) => frame(0x02000a000002, 0x02000a000001, i));
    const run = (): void => {
      for (const f of frames) b.pushCopy(f);
      dp.inject('vm1', b);
    };
    const off = measure('pipeline', run, t);
    const cq = new CaptureQueue();
    const stop = dp.capture('vm1', 'both', (dir, u8, start, len) => {
      cq.push(dir === 'tx', u8, start, len, 0);
    });
    const on = measure('pipeline+capture', () => {
      run();
      while (cq.peek(rec)) cq.shift();
    }, t);
    stop();
    rows.push({ name: 'bridge local -> remote 64B, no capture', value: off.hz * N, unit: 'pps', rme: off.rme });
    rows.push({ name: 'bridge local -> remote 64B, one capture on', value: on.hz * N, unit: 'pps', rme: on.rme, baseline: 'no capture', ratio: on.hz / off.hz });
    dp.close();
    return rows;
  },
};
