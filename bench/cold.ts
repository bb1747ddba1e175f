/**
 * `npm run bench -- cold`: what a wake-up costs the dataplane when its code
 * and data are cold, which is where most of vtep's latency above the C floor
 * goes (docs/dataplane.md, "Latency and busy-poll"). At ping rates every
 * packet finds the caches full of whatever the CPU ran meanwhile.
 *
 * One 64-byte frame a batch through the bridge (learn, FDB, VXLAN encap,
 * queue, flush) into counting sink ports, hot (back to back) and after the
 * event loop slept IDLE_MS; next to it a trivial loop (1,000 additions over
 * a Float64Array) timed the same two ways: the machine's own cold factor.
 * Also one native call that does next to nothing (monoClock), both ways.
 * Values are medians of SAMPLES timings with process.hrtime (its own cost is
 * in each: about 0.1 µs hot).
 */
import { Dataplane } from '../src/dataplane/dataplane.js';
import { Batch } from '../src/packet/batch.js';
import { native } from '../src/io/native.js';
import { SinkPort, frame } from './pipeline.js';
import type { BenchRow, Suite } from './harness.js';

const IDLE_MS = 5;
const SAMPLES = 101;
const WARM = 200_000;

function median(a: number[]): number {
  const s = a.slice().sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nanoseconds of fn, SAMPLES times: back to back, and each after IDLE_MS of sleep. */
async function hotCold(fn: () => void): Promise<{ hot: number; cold: number }> {
  const hot: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    hot.push(Number(process.hrtime.bigint() - t0));
  }
  for (let i = 0; i < SAMPLES; i++) {
    await sleep(IDLE_MS);
    const t0 = process.hrtime.bigint();
    fn();
    cold.push(Number(process.hrtime.bigint() - t0));
  }
  return { hot: median(hot), cold: median(cold) };
}

export const suite: Suite = {
  description: 'one frame a batch through the bridge, hot and after 5 ms asleep (cold caches), next to a trivial loop',
  async run(ctx) {
    const vm1 = 0x02000a000001;
    const vm2 = 0x02000a000002;
    const dp = new Dataplane({ pool: { slots: 256 } });
    dp.setUnderlay({ address: '198.18.0.1', port: new SinkPort('underlay'), mac: 0x02fc18000001, nextHopMac: 0x02fc18000002 });
    const bd = dp.addBridge({ vni: 42, flood: ['198.18.0.2'] });
    dp.addBridgePort(bd, new SinkPort('vm1'));
    dp.addFdb(bd, vm2, { remote: '198.18.0.2' });
    const f = frame(vm2, vm1, 1);
    const b = new Batch(dp.pool, 1);
    const one = (): void => {
      b.pushCopy(f);
      dp.inject('vm1', b);
    };
    const arr = new Float64Array(1000).fill(1);
    let sink = 0;
    const trivial = (): void => {
      let s = 0;
      for (let i = 0; i < 1000; i++) s += arr[i]!;
      sink += s;
    };
    for (let i = 0; i < WARM; i++) {
      one();
      trivial();
    }
    // One call into the addon that does next to nothing (the clock into a Float64Array): what
    // each native call of a wake-up costs when its code is cold (N-API's entry and exit).
    const clock = native().monoClock;
    const cell = new Float64Array(2);
    const call = (): void => clock(cell);
    for (let i = 0; i < WARM; i++) call();
    const d = await hotCold(one);
    const t = await hotCold(trivial);
    const c = await hotCold(call);
    ctx.log(`done (${sink > 0 ? 'ok' : '?'})`);
    if (Object.keys(dp.stats().drops).length > 0) throw new Error(`cold: drops ${JSON.stringify(dp.stats().drops)}`);
    dp.close();
    const rows: BenchRow[] = [
      { name: 'trivial loop, hot (baseline)', value: t.hot / 1000, unit: 'us' },
      { name: `trivial loop, after ${IDLE_MS} ms asleep`, value: t.cold / 1000, unit: 'us', baseline: 'trivial loop, hot', ratio: t.cold / t.hot },
      { name: 'one native call (monoClock), hot (baseline)', value: c.hot / 1000, unit: 'us' },
      { name: `one native call (monoClock), after ${IDLE_MS} ms asleep`, value: c.cold / 1000, unit: 'us', baseline: 'one native call (monoClock), hot', ratio: c.cold / c.hot },
      { name: '1 frame a batch through the bridge, hot (baseline)', value: d.hot / 1000, unit: 'us' },
      { name: `1 frame a batch through the bridge, after ${IDLE_MS} ms asleep`, value: d.cold / 1000, unit: 'us', baseline: '1 frame a batch through the bridge, hot', ratio: d.cold / d.hot },
    ];
    return rows;
  },
};
