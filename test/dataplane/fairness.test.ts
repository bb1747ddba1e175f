/**
 * Packets held for ARP cannot starve the shared pool, and neither can a port
 * that reads faster than the others (issue 9, defect 2). A VM sweeps a
 * connected /16 of its VRF (thousands of destinations nobody answers) while
 * another tenant pings on: every ping answered, held packets within their
 * limits, the rest dropped as no-neighbor, and after expiry (an injected
 * clock and dp.tick()) every pool slot back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort } from '../../src/io/memory.js';

const settle = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Net {
  dp: Dataplane;
  /** The injected clock, in ms. */
  clock: { now: number };
  sweepers: SimHost[];
  h1: SimHost;
  h2: SimHost;
  close(): void;
}

/**
 * VRFs sweep0..: a VM on 10.1.0.0/24 and a port on 10.5.0.0/16 where nobody
 * answers; VRF blue: h1 (10.2.0.2) and h2 (10.3.0.2) routed to each other.
 */
function net(o: { slots: number; sweepers: number; held?: { total?: number; perOwner?: number } }): Net {
  const clock = { now: 0 };
  const dp = new Dataplane({ pool: { slots: o.slots }, clock: () => clock.now, ...(o.held === undefined ? {} : { held: o.held }) });
  dp.setUnderlay({ address: '198.18.0.1', port: new MemoryPort({ name: 'u' }) });
  const sweepers: SimHost[] = [];
  for (let k = 0; k < o.sweepers; k++) {
    const vrf = `sweep${k}`;
    dp.addVrf({ name: vrf });
    const s = new SimHost({ name: `vm${k}`, mac: '02:00:0a:01:00:02', ip: '10.1.0.2/24', gateway: '10.1.0.1' });
    dp.addVrfPort(vrf, s.port, { gateway: '10.1.0.1/24' });
    dp.addVrfPort(vrf, new MemoryPort({ name: `silent${k}` }), { gateway: '10.5.0.1/16' });
    sweepers.push(s);
  }
  dp.addVrf({ name: 'blue' });
  const h1 = new SimHost({ name: 'h1', mac: '02:00:0a:02:00:02', ip: '10.2.0.2/24', gateway: '10.2.0.1' });
  const h2 = new SimHost({ name: 'h2', mac: '02:00:0a:03:00:02', ip: '10.3.0.2/24', gateway: '10.3.0.1' });
  dp.addVrfPort('blue', h1.port, { gateway: '10.2.0.1/24' });
  dp.addVrfPort('blue', h2.port, { gateway: '10.3.0.1/24' });
  dp.start();
  return { dp, clock, sweepers, h1, h2, close: () => { dp.close(); for (const h of [...sweepers, h1, h2]) h.close(); } };
}

/**
 * 200 pings h1 -> h2, each after a burst of `perPing` sweep pings from every
 * sweeper to fresh destinations of 10.5.0.0/16. Returns the replies.
 */
async function sweepWhilePinging(n: Net, perPing: number): Promise<number> {
  let replies = 0;
  let dest = 0;
  for (let seq = 1; seq <= 200; seq++) {
    for (let k = 0; k < perPing; k++, dest++) for (const s of n.sweepers) s.ping(`10.5.${dest >> 8}.${dest & 0xff}`, dest & 0xffff);
    try {
      await n.h1.pingAndWait('10.3.0.2', seq, 1000);
      replies++;
    } catch {
      // counted as lost
    }
  }
  return replies;
}

test('a /16 sweep in one VRF: the other tenant gets 200/200, held packets bounded, no-neighbor counted, the pool whole after expiry', async () => {
  const n = net({ slots: 2048, sweepers: 1, held: { total: 512, perOwner: 256 } });
  try {
    await n.h1.pingAndWait('10.3.0.2', 60000); // neighbors resolved both ways
    await settle();
    const free0 = n.dp.stats().pool.free;
    assert.is(free0, 2048, 'nothing in use at rest');
    const replies = await sweepWhilePinging(n, 20); // 4,000 destinations
    assert.is(replies, 200, 'every ping of the other tenant answered');
    await settle();
    const s = n.dp.stats();
    assert.ok(s.held.packets <= 256, `held ${s.held.packets} <= the per-VRF limit 256`);
    assert.ok(s.held.packets > 0, 'the sweep is held, up to its limit');
    assert.is(s.held.limit, 512);
    assert.is(s.drops['no-neighbor'], 4000 - s.held.packets, 'every packet not held is dropped as no-neighbor');
    assert.is(s.pool.free, free0 - s.held.packets, 'only the held packets take slots');
    // Expiry: nothing answered within the timeout.
    n.clock.now += 3001;
    n.dp.tick();
    await settle();
    const t = n.dp.stats();
    assert.is(t.held.packets, 0);
    assert.is(t.drops['no-neighbor'], 4000, 'expired packets are no-neighbor drops too');
    assert.is(t.pool.free, free0, 'every slot back');
    // And the VRF works again.
    assert.is((await n.h1.pingAndWait('10.3.0.2', 60001)).from, '10.3.0.2');
  } finally {
    n.close();
  }
});

test('many VRFs sweeping at once on a small pool with the default limits: the other tenant still gets 200/200', async () => {
  const n = net({ slots: 1024, sweepers: 6 });
  try {
    await n.h1.pingAndWait('10.3.0.2', 60000);
    await settle();
    const free0 = n.dp.stats().pool.free;
    const replies = await sweepWhilePinging(n, 5); // 6 x 1,000 destinations
    assert.is(replies, 200, 'every ping of the other tenant answered');
    await settle();
    const s = n.dp.stats();
    assert.ok(s.held.packets <= s.held.limit, `held ${s.held.packets} <= ${s.held.limit}`);
    assert.ok(s.held.limit < 1024, `the held limit ${s.held.limit} leaves room in a pool of 1024`);
    assert.ok((s.drops['no-neighbor'] ?? 0) > 0);
    n.clock.now += 3001;
    n.dp.tick();
    await settle();
    assert.is(n.dp.stats().held.packets, 0);
    assert.is(n.dp.stats().pool.free, free0, 'every slot back');
  } finally {
    n.close();
  }
});

test('rxReserve: no port reads while the pool is below the reserve; reading resumes when slots come back', () => {
  const dp = new Dataplane({ pool: { slots: 1024 }, rxReserve: 300, batchSize: 64 });
  dp.setUnderlay({ address: '198.18.0.1', port: new MemoryPort({ name: 'u' }) });
  const b = dp.addBridge({ encap: 'vxlan', vni: 42 });
  const flood = new MemoryPort({ name: 'flood', frames: 4096 });
  const quiet = new MemoryPort({ name: 'quiet' });
  dp.addBridgePort(b, flood);
  dp.addBridgePort(b, quiet);
  const taken: number[] = [];
  try {
    const f = new Uint8Array(64).fill(0xff);
    f.set([0x02, 0, 0, 0, 0, 1], 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    // Something else holds the pool down to one slot below the reserve.
    while (dp.pool.available > 299) taken.push(dp.pool.alloc());
    for (let i = 0; i < 100; i++) flood.inject(f);
    assert.is(dp.poll(), 0, 'no read below the reserve');
    assert.is(flood.pending, 100);
    assert.is(dp.pool.available, 299, 'the reserve is left alone');
    dp.pool.free(taken.pop()!);
    assert.is(dp.poll(), 100, 'reading resumes at the reserve');
    assert.is(flood.pending, 0);
    assert.is(dp.pool.available, 300, 'and what was read went out and came back');
  } finally {
    for (const s of taken) dp.pool.free(s);
    dp.close();
  }
});

test('a port flooding as fast as it can does not take the other tenant\'s slots: 200/200, pool whole afterwards', async () => {
  const n = net({ slots: 1024, sweepers: 1, held: { total: 256, perOwner: 128 } });
  const b = n.dp.addBridge({ encap: 'vxlan', vni: 42 });
  const flood = new MemoryPort({ name: 'flood', frames: 4096 });
  n.dp.addBridgePort(b, flood);
  for (let k = 0; k < 4; k++) n.dp.addBridgePort(b, new MemoryPort({ name: `bp${k}` }));
  const f = new Uint8Array(1000).fill(0xff);
  f.set([0x02, 0, 0, 0, 0, 1], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  try {
    await n.h1.pingAndWait('10.3.0.2', 60000);
    await settle();
    const free0 = n.dp.stats().pool.free;
    let replies = 0;
    let sent = 0;
    for (let seq = 1; seq <= 200; seq++) {
      // Keep the flooding port's ring full (at most 4,096 frames waiting), and the sweep going.
      while (flood.pending < 4000 && sent < 200_000) {
        flood.inject(f);
        sent++;
      }
      n.sweepers[0]!.ping(`10.5.${seq}.1`, seq);
      try {
        await n.h1.pingAndWait('10.3.0.2', seq, 1000);
        replies++;
      } catch {
        // lost
      }
    }
    assert.is(replies, 200, 'every ping of the other tenant answered');
    while (flood.pending > 0) await settle(5);
    await settle();
    const s = n.dp.stats();
    assert.ok(s.ports.flood!.rxPackets > 10_000, `the flood was read (${s.ports.flood!.rxPackets})`);
    n.clock.now += 3001;
    n.dp.tick();
    await settle();
    assert.is(n.dp.stats().pool.free, free0, 'every slot back');
  } finally {
    n.close();
  }
});

test.run();
