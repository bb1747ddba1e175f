/**
 * Removing anything removes everything that refers to it, port ids are never
 * reused, and the API refuses what the config refuses, with the same message
 * (issue 9, defect 4). Memory ports, mostly driven by dp.poll(): no root;
 * the fromConfig test with a TAP runs only where namespaces can be made.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { fromConfig } from '../../src/dataplane/fromconfig.js';
import { MemoryPort } from '../../src/io/memory.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { VtepError } from '../../src/errors.js';
import { parseMac, writeMac } from '../../src/util/addr.js';
import { canUseNetns, Netns } from '../../src/util/netns.js';

const MAC_X = '02:00:0a:00:00:99';

/** A dataplane with a memory underlay whose frames are recorded. */
function dataplane(): { dp: Dataplane; underlay: Uint8Array[] } {
  const dp = new Dataplane({ pool: { slots: 512 } });
  const u = new MemoryPort({ name: 'u' });
  const underlay: Uint8Array[] = [];
  u.onTransmit((u8, s, l) => underlay.push(u8.slice(s, s + l)));
  dp.setUnderlay({ address: '198.18.0.1', port: u, mac: '02:fc:18:00:00:01' });
  return { dp, underlay };
}

/** A memory port whose received frames (what the dataplane sends it) are recorded. */
function port(name: string): { port: MemoryPort; got: Uint8Array[] } {
  const p = new MemoryPort({ name });
  const got: Uint8Array[] = [];
  p.onTransmit((u8, s, l) => got.push(u8.slice(s, s + l)));
  return { port: p, got };
}

/** An Ethernet frame (local experimental EtherType) from `src` to `dst`. */
function frame(dst: string, src: string): Uint8Array {
  const f = new Uint8Array(64);
  writeMac(f, 0, parseMac(dst));
  writeMac(f, 6, parseMac(src));
  f[12] = 0x88;
  f[13] = 0xb5;
  return f;
}

function refused(fn: () => unknown, code: string, message: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.instance(err, VtepError, 'refused with a VtepError');
  assert.is((err as VtepError).code, code);
  assert.is((err as VtepError).message, message);
}

test('removePort takes its static FDB entries; a new port gets a fresh id and none of that MAC\'s traffic', () => {
  const { dp } = dataplane();
  try {
    const red = dp.addBridge({ encap: 'vxlan', vni: 42 });
    const blue = dp.addBridge({ encap: 'gre', key: 7 });
    const p1 = port('p1');
    const p2 = port('p2');
    const id1 = dp.addBridgePort(red, p1.port);
    const id2 = dp.addBridgePort(red, p2.port);
    dp.addFdb(red, MAC_X, { port: 'p2' });
    dp.removePort('p2');
    // The next port, in another tenant.
    const p3 = port('p3');
    const id3 = dp.addBridgePort(blue, p3.port);
    assert.ok(id3 !== id2 && id3 !== id1, `a fresh id (${id1}, ${id2} -> ${id3})`);
    // Traffic for X in red: unknown now (flooded in red), never sent to p3.
    p1.port.inject(frame(MAC_X, '02:00:0a:00:00:01'));
    dp.poll();
    assert.is(p3.got.length, 0, 'the new port of another tenant received nothing of red');
    assert.is(p2.got.length, 0);
    assert.equal(dp.fdbEntries().filter((f) => f.mac === MAC_X), [], 'no entry for X is left');
    assert.equal(dp.listPorts().map((p) => [p.name, p.id]), [['u', 0], ['p1', id1], ['p3', id3]]);
    assert.equal(dp.listBridges().map((b) => [b.name, b.ports]), [['vxlan-42', ['p1']], ['gre-7', ['p3']]]);
  } finally {
    dp.close();
  }
});

test('removePort also takes the MACs learned on it; other ports keep theirs', () => {
  const { dp } = dataplane();
  try {
    const red = dp.addBridge({ encap: 'vxlan', vni: 42 });
    const p1 = port('p1');
    const p2 = port('p2');
    dp.addBridgePort(red, p1.port);
    dp.addBridgePort(red, p2.port);
    p1.port.inject(frame('ff:ff:ff:ff:ff:ff', '02:00:0a:00:00:01'));
    p2.port.inject(frame('ff:ff:ff:ff:ff:ff', '02:00:0a:00:00:02'));
    dp.poll();
    dp.addFdb(red, MAC_X, { port: 'p1' });
    assert.equal(dp.fdbEntries().map((f) => [f.mac, f.port, f.static]).sort(), [
      ['02:00:0a:00:00:01', 'p1', false], ['02:00:0a:00:00:02', 'p2', false], [MAC_X, 'p1', true],
    ]);
    dp.removePort('p1');
    assert.equal(dp.fdbEntries().map((f) => [f.mac, f.port, f.static]), [['02:00:0a:00:00:02', 'p2', false]]);
  } finally {
    dp.close();
  }
});

test('removeFdb / removeArp / removeFlood remove exactly what they name', () => {
  const { dp } = dataplane();
  try {
    const red = dp.addBridge({ encap: 'vxlan', vni: 42, flood: ['198.18.0.2', '198.18.0.3'] });
    const blue = dp.addBridge({ encap: 'mplsoudp', label: 200, flood: ['198.18.0.2'] });
    for (const b of [red, blue]) {
      dp.addFdb(b, MAC_X, { remote: '198.18.0.2' });
      dp.addFdb(b, '02:00:0a:00:00:98', { remote: '198.18.0.3' });
      dp.addArp(b, '10.0.0.9', MAC_X);
      dp.addArp(b, '10.0.0.8', '02:00:0a:00:00:98');
    }
    assert.is(dp.removeFdb(red, MAC_X), true);
    assert.is(dp.removeFdb(red, MAC_X), false, 'gone: false the second time');
    assert.equal(dp.fdbEntries().map((f) => `${f.bridge} ${f.mac} ${f.remote}`).sort(), [
      'mplsoudp-200 02:00:0a:00:00:98 198.18.0.3', `mplsoudp-200 ${MAC_X} 198.18.0.2`, 'vxlan-42 02:00:0a:00:00:98 198.18.0.3',
    ]);
    assert.is(dp.removeArp(blue, '10.0.0.9'), true);
    assert.is(dp.removeArp(blue, '10.0.0.9'), false);
    assert.equal(dp.arpEntries().map((n) => `${n.owner} ${n.ip} ${n.mac}`).sort(), [
      'mplsoudp-200 10.0.0.8 02:00:0a:00:00:98', `vxlan-42 10.0.0.8 02:00:0a:00:00:98`, `vxlan-42 10.0.0.9 ${MAC_X}`,
    ]);
    assert.is(dp.removeFlood(red, '198.18.0.2'), true);
    assert.is(dp.removeFlood(red, '198.18.0.2'), false);
    assert.equal(dp.listBridges().map((b) => [b.name, b.flood]), [['vxlan-42', ['198.18.0.3']], ['mplsoudp-200', ['198.18.0.2']]]);
  } finally {
    dp.close();
  }
});

test('removeBridge takes its ports, FDB, ARP entries and flood list, and nothing of the other bridge', () => {
  const { dp, underlay } = dataplane();
  try {
    const red = dp.addBridge({ encap: 'vxlan', vni: 42, flood: ['198.18.0.2'] });
    const blue = dp.addBridge({ encap: 'vxlan', vni: 43, flood: ['198.18.0.3'] });
    const r1 = port('r1');
    const b1 = port('b1');
    dp.addBridgePort(red, r1.port);
    dp.addBridgePort(blue, b1.port);
    for (const b of [red, blue]) {
      dp.addFdb(b, MAC_X, { remote: '198.18.0.2' });
      dp.addArp(b, '10.0.0.9', MAC_X);
    }
    dp.addFdb(red, '02:00:0a:00:00:98', { port: 'r1' });
    dp.removeBridge(red);
    assert.equal(dp.listBridges().map((b) => b.name), ['vxlan-43']);
    assert.equal(dp.listPorts().map((p) => p.name), ['u', 'b1']);
    assert.equal(dp.fdbEntries().map((f) => `${f.bridge} ${f.mac}`), [`vxlan-43 ${MAC_X}`]);
    assert.equal(dp.arpEntries().map((n) => `${n.owner} ${n.ip}`), ['vxlan-43 10.0.0.9']);
    assert.throws(() => dp.fdbEntries('vxlan-42'), (e: unknown) => (e as VtepError).code === 'ERR_NOT_FOUND');
    // The other bridge still floods to its own list only.
    b1.port.inject(frame('ff:ff:ff:ff:ff:ff', '02:00:0a:00:00:01'));
    dp.poll();
    assert.is(underlay.length, 1, 'one flood copy, to 198.18.0.3');
    assert.is(underlay[0]![33], 3, 'outer destination 198.18.0.3');
    // VNI 42 is free again.
    dp.addVrf({ name: 'red', vni: 42 });
  } finally {
    dp.close();
  }
});

test('deleteRoute / removeVrf / removePort of a VRF port remove exactly what they name and what refers to them', () => {
  const { dp } = dataplane();
  try {
    for (const name of ['red', 'blue']) {
      dp.addVrf({ name, label: name === 'red' ? 100 : 101 });
      dp.addVrfPort(name, new MemoryPort({ name: `${name}1` }), { gateway: '10.1.0.1/24' });
      dp.addVrfPort(name, new MemoryPort({ name: `${name}2` }), { gateway: '10.2.0.1/24' });
      dp.addRoute(name, '10.8.0.0/16', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }]);
      dp.addRoute(name, '10.9.0.0/16', [{ port: `${name}1`, via: '10.1.0.7' }]);
      dp.addRoute(name, '10.7.0.0/16', [{ port: `${name}2`, via: '10.2.0.7' }]);
    }
    const list = (): string[] => dp.routes().map((r) => `${r.vrf} ${r.prefix}`);
    assert.equal(list(), [
      'red 10.1.0.0/24', 'red 10.2.0.0/24', 'red 10.8.0.0/16', 'red 10.9.0.0/16', 'red 10.7.0.0/16',
      'blue 10.1.0.0/24', 'blue 10.2.0.0/24', 'blue 10.8.0.0/16', 'blue 10.9.0.0/16', 'blue 10.7.0.0/16',
    ]);
    assert.is(dp.deleteRoute('red', '10.8.0.0/16'), true);
    assert.is(dp.deleteRoute('red', '10.8.0.0/16'), false);
    assert.equal(list(), [
      'red 10.1.0.0/24', 'red 10.2.0.0/24', 'red 10.9.0.0/16', 'red 10.7.0.0/16',
      'blue 10.1.0.0/24', 'blue 10.2.0.0/24', 'blue 10.8.0.0/16', 'blue 10.9.0.0/16', 'blue 10.7.0.0/16',
    ]);
    // A port takes its connected subnet and the routes through it.
    dp.removePort('red1');
    assert.equal(list(), [
      'red 10.2.0.0/24', 'red 10.7.0.0/16',
      'blue 10.1.0.0/24', 'blue 10.2.0.0/24', 'blue 10.8.0.0/16', 'blue 10.9.0.0/16', 'blue 10.7.0.0/16',
    ]);
    assert.equal(dp.listVrfs().map((v) => [v.name, v.ports.map((p) => p.name)]), [['red', ['red2']], ['blue', ['blue1', 'blue2']]]);
    // A VRF takes its ports and routes; its label is free again.
    dp.removeVrf('red');
    assert.equal(list(), ['blue 10.1.0.0/24', 'blue 10.2.0.0/24', 'blue 10.8.0.0/16', 'blue 10.9.0.0/16', 'blue 10.7.0.0/16']);
    assert.equal(dp.listPorts().map((p) => p.name), ['u', 'blue1', 'blue2']);
    assert.equal(dp.listVrfs().map((v) => v.name), ['blue']);
    dp.addBridge({ encap: 'mplsogre', label: 100 });
  } finally {
    dp.close();
  }
});

test('removePort of a VRF port takes its neighbors and the packets held for it; every pool slot comes back', async () => {
  const now = 0;
  const dp = new Dataplane({ pool: { slots: 512 }, clock: () => now });
  dp.setUnderlay({ address: '198.18.0.1', port: new MemoryPort({ name: 'u' }) });
  dp.addVrf({ name: 'red' });
  const h = new SimHost({ name: 'vm', mac: '02:00:0a:01:00:02', ip: '10.1.0.2/24', gateway: '10.1.0.1' });
  dp.addVrfPort('red', h.port, { gateway: '10.1.0.1/24' });
  dp.addVrfPort('red', new MemoryPort({ name: 'silent' }), { gateway: '10.5.0.1/16' });
  dp.start();
  try {
    const free0 = dp.stats().pool.free;
    assert.is((await h.pingAndWait('10.1.0.1', 1)).from, '10.1.0.1');
    assert.equal(dp.neighbors('red').map((n) => `${n.ip} ${n.mac} ${n.port}`), ['10.1.0.2 02:00:0a:01:00:02 vm']);
    // Ten destinations behind the silent port: held while their ARP goes unanswered.
    for (let i = 0; i < 10; i++) h.ping(`10.5.0.${i + 2}`, 10 + i);
    await new Promise((r) => setTimeout(r, 30));
    assert.is(dp.stats().held.packets, 10);
    assert.is(dp.stats().pool.free, free0 - 10);
    dp.removePort('silent');
    assert.is(dp.stats().held.packets, 0, 'the packets held for the port went with it');
    assert.is(dp.stats().pool.free, free0, 'and their slots came back');
    dp.removePort('vm');
    assert.equal(dp.neighbors('red'), [], 'the neighbor learned on the port went with it');
    assert.equal(dp.routes('red'), []);
  } finally {
    dp.close();
    h.close();
  }
});

test('addFdb to a VRF gateway port and addRoute via an address outside the port\'s subnet are refused', () => {
  const { dp } = dataplane();
  try {
    const red = dp.addBridge({ encap: 'vxlan', vni: 42 });
    dp.addBridgePort(red, new MemoryPort({ name: 'vm1tap' }));
    dp.addVrf({ name: 'blue', label: 100 });
    dp.addVrfPort('blue', new MemoryPort({ name: 'r1' }), { gateway: '10.1.0.1/24' });
    refused(() => dp.addFdb(red, MAC_X, { port: 'r1' }), 'ERR_INVALID_ARG', 'port: "r1" is not a port of bridge vxlan-42');
    refused(() => dp.addRoute('blue', '10.9.0.0/16', [{ port: 'r1', via: '10.2.0.5' }]), 'ERR_INVALID_ARG',
      'nexthops[0].via: "10.2.0.5" is not an address in the subnet of port r1');
    assert.equal(dp.fdbEntries(), []);
    assert.equal(dp.routes('blue').map((r) => r.prefix), ['10.1.0.0/24']);
  } finally {
    dp.close();
  }
});

test('fromConfig: addFdb to a VRF port refused with the API\'s message under the config path', () => {
  let err: unknown;
  try {
    fromConfig({
      underlay: { address: '198.18.0.1' },
      bridges: [{ vni: 42, ports: [{ tap: 'vm1tap' }], fdb: [{ mac: MAC_X, port: 'r1' }] }],
      vrfs: [{ name: 'blue', ports: [{ tap: 'r1', gateway: '10.1.0.1/24' }] }],
    });
  } catch (e) {
    err = e;
  }
  assert.instance(err, VtepError);
  assert.is((err as VtepError).code, 'ERR_INVALID_CONFIG');
  assert.is((err as VtepError).message, 'bridges[0].fdb[0].port: "r1" is not a port of bridge vxlan-42');
});

if (canUseNetns()) {
  test('fromConfig: a via outside the port\'s subnet refused with the API\'s message under the config path (TAP in a namespace)', () => {
    const ns = Netns.create('rm');
    try {
      let err: unknown;
      try {
        fromConfig({
          underlay: { address: '198.18.0.1', netns: ns.name },
          vrfs: [{ name: 'blue', ports: [{ tap: 'r1', netns: ns.name, gateway: '10.1.0.1/24' }], routes: [{ prefix: '10.9.0.0/16', port: 'r1', via: '10.2.0.5' }] }],
        });
      } catch (e) {
        err = e;
      }
      assert.instance(err, VtepError);
      assert.is((err as VtepError).code, 'ERR_INVALID_CONFIG');
      assert.is((err as VtepError).message, 'vrfs[0].routes[0].nexthops[0].via: "10.2.0.5" is not an address in the subnet of port r1');
      assert.not.ok(ns.hasLink('r1'), 'the TAP was closed again');
    } finally {
      ns.delete();
    }
  });
} else {
  console.log('skip: removal fromConfig-with-TAP test needs root and /dev/net/tun');
}

test.run();
