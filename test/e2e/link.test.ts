/**
 * A TAP follows its link: a guest that sets its interface down (or is moved
 * to another namespace, which takes the device down on the way) gets its
 * frames dropped and counted as link-down meanwhile, and gets traffic again
 * once the link is up. Only a device that is gone is a port-error.
 *
 *   sim (SimHost, memory port) ── [Dataplane: bridge, or VRF with two gateways] ── TAP ── guest namespace
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort, TapDevice } from '../../src/index.js';
import { Netns, skipWithoutNetns, uniqueName } from '../helpers/netns.js';
import { noIpv6, sleep, until } from './topo.js';

/** A dataplane with an underlay that leads nowhere (the traffic here stays local). */
function dataplane(slots: number): Dataplane {
  const dp = new Dataplane({ pool: { slots } });
  const [wire] = MemoryPort.pair({ name: 'underlay' });
  dp.setUnderlay({ address: '198.18.0.1', port: wire, mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' });
  return dp;
}

interface Watch {
  events: string[];
  errors: unknown[];
}

function watch(dp: Dataplane): Watch {
  const w: Watch = { events: [], errors: [] };
  dp.on('link-down', (e: { port: string }) => w.events.push(`down ${e.port}`));
  dp.on('link-up', (e: { port: string }) => w.events.push(`up ${e.port}`));
  dp.on('port-error', (e: { port: string; error: unknown }) => w.errors.push(e));
  return w;
}

/** Pings until one is answered (the guest may have to resolve us again after its link came up). */
async function reaches(sim: SimHost, dst: string, firstSeq: number, tries = 10): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try {
      await sim.pingAndWait(dst, firstSeq + i, 1000);
      return true;
    } catch {
      // Not yet.
    }
  }
  return false;
}

const linkDownDrops = (dp: Dataplane): number => dp.stats().drops['link-down'] ?? 0;

/**
 * The guest sets its interface down, frames arrive for it (counted link-down,
 * the port stays), it sets it up again, traffic flows again.
 */
async function downUp(dp: Dataplane, tap: TapDevice, guest: Netns, sim: SimHost, guestIp: string, w: Watch, gateway?: string): Promise<void> {
  assert.ok(await reaches(sim, guestIp, 1), 'the guest answers before the flap');
  assert.is.not(tap.linkUp, false);

  guest.ip('link', 'set', tap.name, 'down');
  for (let i = 0; i < 5; i++) sim.ping(guestIp, 100 + i);
  assert.ok(await until(() => w.events.length > 0, 5000), 'a link-down event');
  assert.equal(w.events, [`down ${tap.name}`]);
  assert.is(tap.linkUp, false);
  assert.ok(await until(() => linkDownDrops(dp) >= 5, 5000), `frames for the down link counted as link-down: ${JSON.stringify(dp.stats().drops)}`);
  assert.is(dp.stats().drops['tx-error'] ?? 0, 0, 'nothing counted as tx-error');
  assert.is(tap.failed, undefined, 'the port is not failed');
  assert.equal(w.errors, [], 'no port-error');

  guest.ip('link', 'set', tap.name, 'up');
  // Linux drops the routes through a link that goes down: the guest's network set-up adds them back.
  if (gateway !== undefined) guest.ip('route', 'replace', 'default', 'via', gateway);
  assert.ok(await until(() => w.events.length > 1, 5000), 'a link-up event');
  assert.equal(w.events, [`down ${tap.name}`, `up ${tap.name}`]);
  assert.ok(tap.linkUp);
  assert.ok(await reaches(sim, guestIp, 200), 'the guest answers after the flap');
  assert.equal(w.errors, []);
}

if (!skipWithoutNetns('e2e link')) {
  test('bridge: the guest sets its TAP down and up; frames meanwhile count as link-down; traffic resumes', async () => {
    const guest = Netns.create('lg');
    const dp = dataplane(1024);
    const sim = new SimHost({ name: 'sim', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
    try {
      noIpv6(guest);
      const name = uniqueName('lb');
      const tap = TapDevice.open({ name, netns: guest.name, mac: '02:00:0a:00:00:02', up: true });
      guest.ip('addr', 'add', '10.0.0.2/24', 'dev', name);
      const bd = dp.addBridge({ vni: 42 });
      dp.addBridgePort(bd, sim.port);
      dp.addBridgePort(bd, tap, true);
      const w = watch(dp);
      dp.start();
      await downUp(dp, tap, guest, sim, '10.0.0.2', w);
    } finally {
      dp.close();
      sim.close();
      guest.delete();
    }
  });

  test('VRF: a gateway port whose guest sets the link down and up; routed frames meanwhile count as link-down', async () => {
    const guest = Netns.create('lg');
    const dp = dataplane(1024);
    const sim = new SimHost({ name: 'sim', mac: '02:00:0a:02:00:02', ip: '10.2.0.2/24', gateway: '10.2.0.1' });
    try {
      noIpv6(guest);
      const name = uniqueName('lv');
      const tap = TapDevice.open({ name, netns: guest.name, mac: '02:00:0a:01:00:02', up: true });
      guest.ip('addr', 'add', '10.1.0.2/24', 'dev', name);
      guest.ip('route', 'add', 'default', 'via', '10.1.0.1');
      dp.addVrf({ name: 'red', label: 100 });
      dp.addVrfPort('red', sim.port, { gateway: '10.2.0.1/24' });
      dp.addVrfPort('red', tap, { gateway: '10.1.0.1/24' }, true);
      const w = watch(dp);
      dp.start();
      await downUp(dp, tap, guest, sim, '10.1.0.2', w, '10.1.0.1');
    } finally {
      dp.close();
      sim.close();
      guest.delete();
    }
  });

  test('a TAP moved to another namespace while the far side keeps sending: it works after the move', async () => {
    const host = Netns.create('lh');
    const guest = Netns.create('lg');
    const dp = dataplane(1024);
    const sim = new SimHost({ name: 'sim', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
    let sender: ReturnType<typeof setInterval> | undefined;
    try {
      noIpv6(host);
      noIpv6(guest);
      const name = uniqueName('lm');
      // Made in the host's namespace, then handed to the guest: how a VM or container is attached.
      const tap = TapDevice.open({ name, netns: host.name, mac: '02:00:0a:00:00:02', up: true });
      host.ip('addr', 'add', '10.0.0.2/24', 'dev', name);
      const bd = dp.addBridge({ vni: 42 });
      dp.addBridgePort(bd, sim.port);
      dp.addBridgePort(bd, tap, true);
      const w = watch(dp);
      dp.start();
      assert.ok(await reaches(sim, '10.0.0.2', 1), 'reachable in the first namespace');

      // The far side keeps sending (bounded: 2000 frames at most, 5 every 2 ms).
      let seq = 1000;
      sender = setInterval(() => {
        for (let i = 0; i < 5 && seq < 3000; i++) sim.ping('10.0.0.2', seq++);
      }, 2);
      await sleep(50);
      host.ip('link', 'set', name, 'netns', guest.name);
      await sleep(50);
      guest.ip('addr', 'add', '10.0.0.2/24', 'dev', name);
      guest.ip('link', 'set', name, 'up');
      await sleep(50);
      clearInterval(sender);
      sender = undefined;

      assert.ok(guest.hasLink(name) && !host.hasLink(name), 'the TAP lives in the guest now');
      assert.ok(await reaches(sim, '10.0.0.2', 5000), 'reachable in the new namespace');
      assert.equal(w.errors, [], 'no port-error');
      assert.is(tap.failed, undefined);
      assert.ok(tap.linkUp);
      // The move took the link down: if a frame met it down, the port said so and came back.
      assert.ok(await until(() => w.events.length % 2 === 0, 5000));
      for (let i = 0; i < w.events.length; i++) assert.is(w.events[i], `${i % 2 === 0 ? 'down' : 'up'} ${name}`);
      const s = dp.stats();
      assert.is(s.drops['tx-error'] ?? 0, 0);
      assert.is(s.pool.free, s.pool.slots, 'every slot back in the pool');
    } finally {
      if (sender !== undefined) clearInterval(sender);
      dp.close();
      sim.close();
      host.delete();
      guest.delete();
    }
  });

  test('deleting a TAP whose link is down is still a port-error', async () => {
    const guest = Netns.create('lg');
    const dp = dataplane(256);
    const sim = new SimHost({ name: 'sim', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
    try {
      noIpv6(guest);
      const name = uniqueName('ld');
      const tap = TapDevice.open({ name, netns: guest.name, up: true });
      const bd = dp.addBridge({ vni: 42 });
      dp.addBridgePort(bd, sim.port);
      dp.addBridgePort(bd, tap, true);
      const w = watch(dp);
      dp.start();
      guest.ip('link', 'set', name, 'down');
      sim.arpRequest(0x0a000002);
      assert.ok(await until(() => w.events.length > 0, 5000), 'link-down first');
      guest.ip('link', 'del', name);
      assert.ok(await until(() => w.errors.length > 0, 5000), 'then a port-error once the device is gone');
      assert.ok(tap.failed !== undefined);
      assert.is(tap.failed!.errno, 'EBADFD');
    } finally {
      dp.close();
      sim.close();
      guest.delete();
    }
  });
}

test.run();
