/**
 * The busy-poll budget (busyPollUs): validated as a config field and as a
 * Dataplane option, and a dataplane that spins after traffic still forwards,
 * lets timers run between its slices, and stops spinning when closed. (On a
 * loaded machine the spin may back off, preempted: the tests accept either.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { parseVswitchConfig } from '../../src/dataplane/config.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { BusyPoll } from '../../src/dataplane/busypoll.js';
import { MemoryPort } from '../../src/index.js';
import { throwsCode } from '../helpers/errors.js';

const MAC_A = '02:fc:18:00:00:01';
const MAC_B = '02:fc:18:00:00:02';
const BASE = { underlay: { address: '198.18.0.1' }, bridges: [{ vni: 42, ports: [{ tap: 'vm1tap' }] }] };


test('config: busyPollUs defaults to 0 (off), takes 0..1,000,000 µs, refuses anything else naming the field', () => {
  assert.is(parseVswitchConfig(BASE).busyPollUs, 0);
  assert.is(parseVswitchConfig({ ...BASE, busyPollUs: 50 }).busyPollUs, 50);
  assert.is(parseVswitchConfig({ ...BASE, busyPollUs: 1_000_000 }).busyPollUs, 1_000_000);
  for (const bad of [-1, 1.5, '100', 1_000_001, null, true]) {
    throwsCode(() => parseVswitchConfig({ ...BASE, busyPollUs: bad }), 'ERR_INVALID_CONFIG', /^busyPollUs: /);
  }
});

test('Dataplane option: busyPollUs out of range is refused naming it', () => {
  for (const bad of [-5, 0.5, 2_000_000]) throwsCode(() => new Dataplane({ busyPollUs: bad }), 'ERR_INVALID_ARG', /busyPollUs/);
  new Dataplane({ busyPollUs: 0 }).close();
});

function pair(busyPollUs: number): { a: Dataplane; b: Dataplane; ha: SimHost; hb: SimHost; close(): void } {
  const [wa, wb] = MemoryPort.pair({ name: 'underlay-a' }, { name: 'underlay-b' });
  const a = new Dataplane({ pool: { slots: 1024 }, busyPollUs });
  const b = new Dataplane({ pool: { slots: 1024 }, busyPollUs });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: MAC_A, nextHopMac: MAC_B });
  b.setUnderlay({ address: '198.18.0.2', port: wb, mac: MAC_B, nextHopMac: MAC_A });
  const ba = a.addBridge({ vni: 42, flood: ['198.18.0.2'] });
  const bb = b.addBridge({ vni: 42, flood: ['198.18.0.1'] });
  const ha = new SimHost({ name: 'vm1', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
  const hb = new SimHost({ name: 'vm2', mac: '02:00:0a:00:00:02', ip: '10.0.0.2/24' });
  a.addBridgePort(ba, ha.port);
  b.addBridgePort(bb, hb.port);
  a.start();
  b.start();
  return { a, b, ha, hb, close: () => { a.close(); b.close(); ha.close(); hb.close(); wa.close(); wb.close(); } };
}

/** The dataplane's busy-poller (internal), undefined when off. */
const poller = (dp: Dataplane): BusyPoll | undefined => (dp as unknown as { busyPoll: BusyPoll | undefined }).busyPoll;
const spinning = (dp: Dataplane): boolean => poller(dp)?.spinning === true;
/** Spinning, or backed off because a pass was preempted (a loaded machine): either way not asleep by choice. */
const busyOrBackedOff = (dp: Dataplane): boolean => spinning(dp) || (poller(dp)?.backoffUntil ?? 0) > 0;

test('a busy-polling dataplane forwards over memory ports both ways, every slot back', async () => {
  const p = pair(200);
  try {
    for (let seq = 1; seq <= 5; seq++) {
      assert.is((await p.ha.pingAndWait('10.0.0.2', seq)).from, '10.0.0.2');
      assert.is((await p.hb.pingAndWait('10.0.0.1', seq)).from, '10.0.0.1');
    }
    const s = p.a.stats();
    assert.ok(s.tunnels['vxlan 198.18.0.2']!.txPackets >= 10);
    assert.is(s.pool.free, s.pool.slots);
    // Its counters: slices ran (or a preempted pass backed off, on a loaded machine), all of them timed.
    const bp = s.busyPoll!;
    assert.is(bp.budgetUs, 200);
    assert.ok(bp.slices > 0 || bp.backoffs > 0, JSON.stringify(bp));
    assert.ok(bp.passes >= bp.slices && bp.spinSeconds >= 0 && bp.packets >= 0, JSON.stringify(bp));
  } finally {
    p.close();
  }
});

test('busy-poll yields to the event loop: a timer runs inside the spin window; close() ends the spin', async () => {
  // A one-second window: the timer below must run long before it ends if the spin yields.
  const p = pair(1_000_000);
  try {
    await p.ha.pingAndWait('10.0.0.2', 1);
    assert.ok(busyOrBackedOff(p.a), 'spinning after traffic');
    await new Promise((r) => setTimeout(r, 1));
    assert.ok(busyOrBackedOff(p.a), 'the timer ran while the dataplane was still in its busy-poll window');
    // Still forwarding while spinning.
    assert.is((await p.ha.pingAndWait('10.0.0.2', 2)).from, '10.0.0.2');
  } finally {
    p.close();
  }
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.not.ok(spinning(p.a), 'closed: no more slices');
});

test('without busy-poll nothing spins', async () => {
  const p = pair(0);
  try {
    await p.ha.pingAndWait('10.0.0.2', 1);
    assert.not.ok(busyOrBackedOff(p.a));
    assert.is(p.a.stats().busyPoll, undefined, 'no busy-poll counters when it is off');
  } finally {
    p.close();
  }
});

test('BusyPoll counts its slices, passes and packets, and a preempted pass as a back-off', async () => {
  // A clock that moves 0.1 ms a read, and a pass that finds 2 packets twice, then nothing.
  let t = 0;
  let found = [2, 2];
  const clock = (cell: Float64Array): void => {
    t += 0.1;
    cell[0] = t;
  };
  const bp = new BusyPoll(0.5, () => found.shift() ?? 0, () => true, clock);
  bp.kick();
  await new Promise((r) => setImmediate(r));
  for (let k = 0; k < 20 && bp.spinning; k++) await new Promise((r) => setImmediate(r));
  let s = bp.stats();
  assert.not.ok(bp.spinning, 'the window closed');
  assert.is(s.packets, 4);
  assert.ok(s.slices >= 1 && s.passes >= 3, JSON.stringify(s));
  assert.is(s.backoffs, 0);
  assert.ok(s.spinSeconds > 0);
  // A pass that read nothing yet took 1 ms: preempted, so busy-poll stops and stays off 50 ms;
  // preempted again soon after that back-off: 100 ms; again after a quiet second: 50 ms.
  const slow = (cell: Float64Array): void => {
    t += 1;
    cell[0] = t;
  };
  const bp2 = new BusyPoll(5, () => 0, () => true, slow);
  found = [];
  const preempted = async (): Promise<number> => {
    bp2.kick();
    assert.ok(bp2.spinning, 'the back-off was over: spinning again');
    await new Promise((r) => setImmediate(r));
    assert.not.ok(bp2.spinning);
    return bp2.stats().backoffMsLeft;
  };
  let left = await preempted();
  assert.ok(left > 45 && left <= 50, String(left));
  bp2.kick();
  assert.not.ok(bp2.spinning, 'no spin while backing off');
  t += left;
  left = await preempted();
  assert.ok(left > 95 && left <= 100, String(left));
  t += left + 2000;
  left = await preempted();
  assert.ok(left > 45 && left <= 50, String(left));
  assert.is(bp2.stats().backoffs, 3);
});

test.run();
