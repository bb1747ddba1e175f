/** configDiff: the ordered operations between two configs; applyOps: through the facade (a fake). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseVswitchConfig } from '../../src/dataplane/config.js';
import { configDiff, applyOps, opText, type ReloadOp } from '../../src/ops/reload.js';
import { MemoryPort } from '../../src/io/memory.js';
import { VtepError } from '../../src/errors.js';
import { FakeDataplane } from '../helpers/fakedp.js';

type Json = Record<string, unknown>;
const U = { address: '198.18.0.1' };
const base = (): Json => ({
  underlay: U,
  bridges: [
    { vni: 42, ports: [{ tap: 'vm1' }, { tap: 'vm2' }], flood: ['198.18.0.2'],
      fdb: [{ mac: '02:00:00:00:00:09', remote: '198.18.0.2' }, { mac: '02:00:00:00:00:01', port: 'vm1' }],
      arp: [{ ip: '10.0.0.9', mac: '02:00:00:00:00:09' }] },
    { vni: 43, ports: [{ tap: 'vm3' }] },
  ],
  vrfs: [
    { name: 'red', label: 100, ports: [{ tap: 'r1', gateway: '10.1.0.1/24' }],
      routes: [{ prefix: '10.2.0.0/16', remote: '198.18.0.3', encap: 'mplsoudp', label: 200 },
        { prefix: '10.3.0.0/16', nexthops: [{ remote: '198.18.0.3', label: 201 }, { remote: '198.18.0.4', label: 202 }] }] },
  ],
});
const cfg = (j: Json) => parseVswitchConfig(j);
const texts = (ops: ReloadOp[]) => ops.map(opText);
const clone = (j: Json): Json & { bridges: Json[]; vrfs: Json[] } => JSON.parse(JSON.stringify(j));

test('the same config: no operation', () => {
  assert.equal(configDiff(cfg(base()), cfg(base())), []);
});

test('a new bridge with a port, and a port removed: only those, bridge before its port', () => {
  const n = clone(base());
  n.bridges.push({ vni: 44, ports: [{ tap: 'vm4' }], flood: ['198.18.0.5'] });
  (n.bridges[1] as Json).ports = [];
  assert.equal(texts(configDiff(cfg(base()), cfg(n))), ['port del vm3', 'bridge add vxlan-44', 'port add vm4 bridge vxlan-44']);
  const add = configDiff(cfg(base()), cfg(n)).find((o) => o.op === 'addBridge');
  assert.equal(add, { op: 'addBridge', options: { name: 'vxlan-44', encap: 'vxlan', flood: ['198.18.0.5'], arpSuppress: true, learn: true, vni: 44 } });
});

test('entries of a kept bridge by difference: flood, FDB (changed = del + add), ARP', () => {
  const n = clone(base());
  const b = n.bridges[0] as Json;
  b.flood = ['198.18.0.7'];
  b.fdb = [{ mac: '02:00:00:00:00:09', remote: '198.18.0.3' }, { mac: '02:00:00:00:00:01', port: 'vm1' }, { mac: '02:00:00:00:00:0a', port: 'vm2' }];
  b.arp = [{ ip: '10.0.0.9', mac: '02:00:00:00:00:0b' }, { ip: '10.0.0.10', mac: '02:00:00:00:00:0a' }];
  assert.equal(texts(configDiff(cfg(base()), cfg(n))), [
    'arp del 10.0.0.9 bridge vxlan-42',
    'fdb del 02:00:00:00:00:09 bridge vxlan-42',
    'flood del 198.18.0.2 bridge vxlan-42',
    'flood add 198.18.0.7 bridge vxlan-42',
    'fdb add 02:00:00:00:00:09 bridge vxlan-42 remote 198.18.0.3',
    'fdb add 02:00:00:00:00:0a bridge vxlan-42 port vm2',
    'arp add 10.0.0.9 02:00:00:00:00:0b bridge vxlan-42',
    'arp add 10.0.0.10 02:00:00:00:00:0a bridge vxlan-42',
  ]);
});

test('a bridge whose options change is removed and added again with its ports and entries', () => {
  const n = clone(base());
  (n.bridges[0] as Json).learn = false;
  assert.equal(texts(configDiff(cfg(base()), cfg(n))), [
    'port del vm1', 'port del vm2', 'bridge del vxlan-42', 'bridge add vxlan-42',
    'port add vm1 bridge vxlan-42', 'port add vm2 bridge vxlan-42',
    'fdb add 02:00:00:00:00:09 bridge vxlan-42 remote 198.18.0.3'.replace('.3', '.2'),
    'fdb add 02:00:00:00:00:01 bridge vxlan-42 port vm1',
    'arp add 10.0.0.9 02:00:00:00:00:09 bridge vxlan-42',
  ]);
});

test('named bridges: the name is the identity; a renamed bridge, or a new VNI under one name, is re-created', () => {
  const a = clone(base());
  (a.bridges[1] as Json).name = 'tenant-b';
  const renamed = clone(a);
  (renamed.bridges[1] as Json).name = 'tenant-c';
  assert.equal(texts(configDiff(cfg(a), cfg(renamed))), ['port del vm3', 'bridge del tenant-b', 'bridge add tenant-c', 'port add vm3 bridge tenant-c']);
  const revni = clone(a);
  (revni.bridges[1] as Json).vni = 45;
  assert.equal(texts(configDiff(cfg(a), cfg(revni))), ['port del vm3', 'bridge del tenant-b', 'bridge add tenant-b', 'port add vm3 bridge tenant-b']);
  assert.equal(configDiff(cfg(a), cfg(clone(a))), []);
});

test('a port whose settings change is re-added, and so is a static FDB entry toward it', () => {
  const n = clone(base());
  ((n.bridges[0] as Json).ports as Json[])[0] = { tap: 'vm1', mtu: 9000 };
  assert.equal(texts(configDiff(cfg(base()), cfg(n))), [
    'fdb del 02:00:00:00:00:01 bridge vxlan-42', 'port del vm1', 'port add vm1 bridge vxlan-42',
    'fdb add 02:00:00:00:00:01 bridge vxlan-42 port vm1',
  ]);
});

test('a port moved from one bridge to another', () => {
  const n = clone(base());
  (n.bridges[1] as Json).ports = [];
  (n.bridges[0] as Json).ports = [{ tap: 'vm1' }, { tap: 'vm2' }, { tap: 'vm3' }];
  assert.equal(texts(configDiff(cfg(base()), cfg(n))), ['port del vm3', 'port add vm3 bridge vxlan-42']);
});

test('routes: a changed next hop is one add (it replaces), a gone one a delete first, ECMP kept whole', () => {
  const n = clone(base());
  const v = n.vrfs[0] as Json;
  v.routes = [
    { prefix: '10.2.0.0/16', remote: '198.18.0.3', encap: 'mplsoudp', label: 300 },
    { prefix: '10.4.0.0/24', port: 'r1', via: '10.1.0.9' },
    { prefix: '10.5.0.0/16', drop: true },
  ];
  const ops = configDiff(cfg(base()), cfg(n));
  assert.equal(texts(ops), ['route del 10.3.0.0/16 vrf red', 'route add 10.2.0.0/16 vrf red (1 next hops)', 'route add 10.4.0.0/24 vrf red (1 next hops)', 'route add 10.5.0.0/16 vrf red (0 next hops)']);
  assert.equal(ops[1], { op: 'addRoute', vrf: 'red', prefix: '10.2.0.0/16', nexthops: [{ remote: '198.18.0.3', encap: 'mplsoudp', weight: 1, label: 300 }] });
  assert.equal(ops[2], { op: 'addRoute', vrf: 'red', prefix: '10.4.0.0/24', nexthops: [{ port: 'r1', weight: 1, via: '10.1.0.9' }] });
});

test('a VRF whose label changes is re-created with its ports and all its routes; a new VRF comes before its port', () => {
  const n = clone(base());
  (n.vrfs[0] as Json).label = 101;
  n.vrfs.push({ name: 'blue', ports: [{ tap: 'b1', gateway: '10.9.0.1/24' }], routes: [{ prefix: '10.8.0.0/16', port: 'b1', via: '10.9.0.2' }] });
  assert.equal(texts(configDiff(cfg(base()), cfg(n))), [
    'port del r1', 'vrf del red', 'vrf add red', 'vrf add blue', 'port add r1 vrf red', 'port add b1 vrf blue',
    'route add 10.2.0.0/16 vrf red (1 next hops)', 'route add 10.3.0.0/16 vrf red (2 next hops)', 'route add 10.8.0.0/16 vrf blue (1 next hops)',
  ]);
  const port = configDiff(cfg(base()), cfg(n)).find((o) => o.op === 'addVrfPort' && o.vrf === 'blue');
  assert.equal(port, { op: 'addVrfPort', vrf: 'blue', tap: { tap: 'b1' }, options: { gateway: '10.9.0.1/24' } });
});

test('a route through a re-added port is added again', () => {
  const n = clone(base());
  const v = n.vrfs[0] as Json;
  const a = clone(base());
  (a.vrfs[0] as Json).routes = [{ prefix: '10.4.0.0/24', port: 'r1', via: '10.1.0.9' }];
  v.routes = [{ prefix: '10.4.0.0/24', port: 'r1', via: '10.1.0.9' }];
  v.ports = [{ tap: 'r1', gateway: '10.1.0.1/25' }];
  assert.equal(texts(configDiff(cfg(a), cfg(n))), ['port del r1', 'port add r1 vrf red', 'route add 10.4.0.0/24 vrf red (1 next hops)']);
});

test('the underlay, macLimit and ageSeconds cannot be reloaded: refused naming the field', () => {
  const cases: [Json, RegExp][] = [
    [{ ...base(), underlay: { address: '198.18.0.9' } }, /^underlay: changed/],
    [{ ...base(), macLimit: 10 }, /^macLimit: changed/],
    [{ ...base(), ageSeconds: 10 }, /^ageSeconds: changed/],
  ];
  for (const [j, re] of cases) {
    try {
      configDiff(cfg(base()), cfg(j));
      assert.unreachable();
    } catch (err) {
      assert.instance(err, VtepError);
      assert.is((err as VtepError).code, 'ERR_INVALID_CONFIG');
      assert.match((err as Error).message, re);
    }
  }
  const gre = clone(base());
  gre.bridges.push({ encap: 'gre', key: 5 });
  assert.throws(() => configDiff(cfg(base()), cfg(gre)), /^underlay: the new config needs GRE \(a raw IP socket\), a socket the running switch did not open/);
  const vxlanOnly = cfg({ underlay: U, bridges: [{ vni: 1 }] });
  assert.throws(() => configDiff(vxlanOnly, cfg(base())), /needs MPLS-over-UDP \(UDP 6635\)/, 'only the sockets the first config needed are open');
});

test('applyOps: from nothing to base through the fake, then base to a change; unchanged state untouched', () => {
  // A switch started with one bridge and one VRF (so both UDP sockets are open).
  const empty = cfg({ underlay: U, bridges: [{ vni: 9 }], vrfs: [{ name: 'zz', label: 99 }] });
  const dp = new FakeDataplane();
  dp.addBridge({ vni: 9 });
  dp.addVrf({ name: 'zz', label: 99 });
  dp.calls.length = 0;
  const open = (t: { tap: string }) => new MemoryPort({ name: t.tap });
  const n1 = applyOps(dp, configDiff(empty, cfg(base())), open);
  assert.is(n1, dp.calls.length);
  assert.equal([...dp.bridges.keys()], ['vxlan-42', 'vxlan-43']);
  assert.equal(dp.bridges.get('vxlan-42')!.ports, ['vm1', 'vm2']);
  assert.equal(dp.routes('red').map((r) => r.prefix), ['10.2.0.0/16', '10.3.0.0/16']);
  assert.is(dp.fdbEntries('vxlan-42').length, 2);
  const vm2 = dp.ports.get('vm2')!.port;
  dp.calls.length = 0;
  const n = clone(base());
  (n.bridges[1] as Json).ports = [];
  n.bridges.push({ vni: 44, ports: [{ tap: 'vm4' }] });
  applyOps(dp, configDiff(cfg(base()), cfg(n)), open);
  assert.equal(dp.calls, ['removePort vm3', 'addBridge vxlan-44', 'addBridgePort vxlan-44 vm4']);
  assert.is(dp.ports.get('vm2')!.port, vm2, 'vm2 is the same port object');
});

test('applyOps: a failure names the operation and how many went before; a port opened for it is closed', () => {
  const dp = new FakeDataplane();
  const ports: MemoryPort[] = [];
  const open = (t: { tap: string }) => {
    const p = new MemoryPort({ name: t.tap });
    ports.push(p);
    return p;
  };
  const ops: ReloadOp[] = [
    { op: 'addBridge', options: { name: 'vxlan-1', vni: 1 } },
    { op: 'addBridgePort', bridge: 'vxlan-2', tap: { tap: 'x' } },
  ];
  try {
    applyOps(dp, ops, open);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /^reload: port add x bridge vxlan-2: bridge: "vxlan-2" does not exist \(1 of 2 changes applied\)$/);
    assert.is((err as VtepError).code, 'ERR_NOT_FOUND');
  }
  assert.ok(ports[0]!.closed);
});

test.run();
