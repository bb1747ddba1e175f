/** The v1 data model, the control config section and the programmer, without etcd. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys, parseRecord, parseKey, type Parsed } from '../../src/control/model.js';
import { parseControlConfig } from '../../src/control/options.js';
import { Programmer } from '../../src/control/program.js';
import { LocalState, networkOf } from '../../src/control/local.js';
import { MemoryDataplane } from '../../src/control/memdp.js';
import { parseVswitchConfig } from '../../src/dataplane/config.js';
import { VtepError } from '../../src/errors.js';

const ROOT = '/vtep/v1/';

function ok(key: string, value: unknown): Parsed {
  const p = parseRecord(ROOT, key, JSON.stringify(value));
  if ('error' in p) throw new Error(p.error);
  return p;
}
function bad(key: string, value: string): string {
  const p = parseRecord(ROOT, key, value);
  assert.ok('error' in p, `accepted ${key} = ${value}`);
  return (p as { error: string }).error;
}

test('keys: one folder per host; MACs by bridge key, routes by VRF and prefix', () => {
  assert.is(Keys.host(ROOT, 'h1'), '/vtep/v1/hosts/h1/host');
  assert.is(Keys.mac(ROOT, 'h1', 'vxlan-42', '02:00:00:00:00:01'), '/vtep/v1/hosts/h1/macs/vxlan-42/02:00:00:00:00:01');
  assert.is(Keys.route(ROOT, 'h1', 'red', '10.1.0.0/24'), '/vtep/v1/hosts/h1/routes/red/10.1.0.0_24');
  assert.equal(parseKey(ROOT, '/vtep/v1/hosts/h1/routes/red/2001:db8::_64'), { kind: 'route', host: 'h1', vrf: 'red', prefix: '2001:db8::/64' });
  assert.is(parseKey(ROOT, '/vtep/v2/hosts/h1/host'), undefined);
  assert.is(parseKey(ROOT, '/vtep/v1/hosts/h1/macs/vxlan-42/02:00:00:00:00:0A'), undefined, 'MACs are lower case in keys');
  assert.is(parseKey(ROOT, '/vtep/v1/hosts/h1/macs/vxlan-16777216/02:00:00:00:00:01'), undefined, 'VNI out of range');
  assert.is(parseKey(ROOT, '/vtep/v1/hosts/h1/macs/mplsoudp-15/02:00:00:00:00:01'), undefined, 'reserved label');
});

test('records: valid ones parse to canonical values', () => {
  const h = ok(Keys.host(ROOT, 'h1'), { underlay: '198.18.0.1', bridges: [{ encap: 'vxlan', id: 42 }, { encap: 'gre', id: 7 }], vrfs: [{ name: 'red', label: 100 }, { name: 'blue', vni: 5000, routerMac: '02:76:74:00:00:01' }] });
  assert.equal(h, { kind: 'host', host: 'h1', rec: { underlay: '198.18.0.1', bridges: [{ encap: 'vxlan', id: 42 }, { encap: 'gre', id: 7 }], vrfs: [{ name: 'red', label: 100 }, { name: 'blue', vni: 5000, routerMac: '02:76:74:00:00:01' }] } });
  const m = ok(Keys.mac(ROOT, 'h1', 'vxlan-42', '02:00:00:00:00:01'), { ips: ['10.0.0.1', '2001:DB8::1'] });
  assert.equal(m, { kind: 'mac', host: 'h1', bridge: 'vxlan-42', mac: '02:00:00:00:00:01', rec: { ips: ['10.0.0.1', '2001:db8::1'] } });
  const r = ok(Keys.route(ROOT, 'h1', 'blue', '10.2.0.0/16'), { encap: 'vxlan', id: 5000, mac: '02:76:74:00:00:01' });
  assert.equal(r, { kind: 'route', host: 'h1', vrf: 'blue', prefix: '10.2.0.0/16', rec: { encap: 'vxlan', id: 5000, mac: '02:76:74:00:00:01' } });
});

test('records: bad ones give a reason naming the field and are never half used', () => {
  assert.match(bad(Keys.host(ROOT, 'h1'), '{"underlay":"198.18.0.1"'), 'is not JSON');
  assert.match(bad(Keys.host(ROOT, 'h1'), '[]'), 'is not an object');
  assert.match(bad(Keys.host(ROOT, 'h1'), JSON.stringify({ underlay: 'h1', bridges: [], vrfs: [] })), /^underlay: "h1" is not an IPv4 or IPv6 address/);
  assert.match(bad(Keys.host(ROOT, 'h1'), JSON.stringify({ underlay: '198.18.0.1', bridges: [{ encap: 'vxlan', id: 42 }, { encap: 'ppp', id: 1 }], vrfs: [] })), /^bridges\[1\]/);
  assert.match(bad(Keys.host(ROOT, 'h1'), JSON.stringify({ underlay: '198.18.0.1', bridges: [], vrfs: [{ name: 'red', vni: 7 }] })), /^vrfs\[0\]\.routerMac/);
  assert.match(bad(Keys.mac(ROOT, 'h1', 'vxlan-42', '02:00:00:00:00:01'), JSON.stringify({ ips: ['10.0.0.1', '10.0.0.256'] })), /^ips\[1\]: "10\.0\.0\.256"/);
  assert.match(bad(Keys.mac(ROOT, 'h1', 'vxlan-42', '02:00:00:00:00:01'), JSON.stringify({ ips: Array(17).fill('10.0.0.1') })), /^ips:/);
  assert.match(bad(Keys.route(ROOT, 'h1', 'red', '10.2.0.0/16'), JSON.stringify({ encap: 'vxlan', id: 5 })), /^mac:/);
  assert.match(bad(Keys.route(ROOT, 'h1', 'red', '10.2.0.0/16'), JSON.stringify({ encap: 'mplsoudp', id: 1 << 20 })), /^id:/);
  assert.match(bad('/vtep/v1/hosts/h1/routes/red/10.2.0.1_16', '{}'), 'is not a v1 key');
  assert.match(bad('/vtep/v1/hosts/h 1/host', '{}'), 'is not a v1 key');
});

test('the control section of a vSwitch config: defaults and errors that name the field', () => {
  const c = parseControlConfig({ etcd: { endpoints: ['http://198.18.0.254:2379'] } });
  assert.equal(c, { host: undefined, reconcileSeconds: 60, etcd: { endpoints: ['http://198.18.0.254:2379'], prefix: '/vtep/', leaseTtl: 10, maxWritesPerSecond: 1000 } });
  const full = parseVswitchConfig({
    underlay: { address: '198.18.0.1' },
    control: { host: 'h1', etcd: { endpoints: ['https://198.18.0.254:2379'], prefix: '/fleet/', leaseTtl: 5, ca: 'ca.pem', cert: 'h1.pem', key: 'h1.key', username: 'h1', password: 'pw' } },
  });
  assert.is(full.control?.host, 'h1');
  assert.is(full.control?.etcd.cert, 'h1.pem');
  assert.is(parseVswitchConfig({ underlay: { address: '198.18.0.1' } }).control, undefined);
  const err = (control: unknown): string => {
    try {
      parseVswitchConfig({ underlay: { address: '198.18.0.1' }, control });
    } catch (e) {
      assert.instance(e, VtepError);
      assert.is((e as VtepError).code, 'ERR_INVALID_CONFIG');
      return (e as Error).message;
    }
    throw new Error('accepted');
  };
  assert.is(err({ etcd: { endpoints: [] } }), 'control.etcd.endpoints: [] is not a non-empty list of URLs');
  assert.is(err({ etcd: { endpoints: ['198.18.0.254:2379'] } }), 'control.etcd.endpoints[0]: "198.18.0.254:2379" is not a URL like http://198.18.0.254:2379');
  assert.is(err({ etcd: { endpoints: ['http://198.18.0.254:2379'], leaseTtl: 1 } }), 'control.etcd.leaseTtl: 1 is not an integer in 2..3600');
  assert.is(err({ etcd: { endpoints: ['http://198.18.0.254:2379'], prefix: '/vtep' } }), 'control.etcd.prefix: "/vtep" is not a key prefix ending in "/"');
  assert.is(err({ etcd: { endpoints: ['http://198.18.0.254:2379'], cert: 'a.pem' } }), 'control.etcd.key: undefined is not given (cert and key go together)');
  assert.is(err({ etcd: { endpoints: ['http://198.18.0.254:2379'], ca: 'ca.pem' } }), 'control.etcd.endpoints: ["http://198.18.0.254:2379"] is not https URLs (TLS files are given)');
  assert.is(err({ host: 'a/b', etcd: { endpoints: ['http://198.18.0.254:2379'] } }), 'control.host: "a/b" is not a host name of 1-64 letters, digits, "_", ".", ":" or "-"');
  assert.match(err({ etcd: { endpoints: ['http://198.18.0.254:2379'], ttl: 3 } }), /^control\.etcd\.ttl: 3 is not a known field/);
});

test('programmer: host routes go to the latest announcement, other prefixes spread over ECMP; configured entries are left alone', () => {
  const dp = new MemoryDataplane();
  dp.addBridge({ vni: 42, flood: ['198.18.0.9'] });
  dp.addVrf({ name: 'red', label: 100 });
  dp.addRoute('red', '10.5.0.0/16', [{ port: 'x' }]); // from the config
  dp.addFdb('vxlan-42', '02:00:00:00:00:05', { remote: '198.18.0.9' }); // from the config
  const p = new Programmer(dp, 'h1');
  const host = (h: string, i: number): Parsed => ok(Keys.host(ROOT, h), { underlay: `198.18.0.${i}`, bridges: [{ encap: 'vxlan', id: 42 }], vrfs: [{ name: 'red', label: 100 }] });
  p.put(host('h2', 2), 10);
  p.put(host('h3', 3), 11);
  p.put(host('h9', 9), 12);
  p.put(ok(Keys.route(ROOT, 'h2', 'red', '10.8.0.0/16'), { encap: 'mplsoudp', id: 100 }), 20);
  p.put(ok(Keys.route(ROOT, 'h3', 'red', '10.8.0.0/16'), { encap: 'mplsoudp', id: 200 }), 21);
  p.put(ok(Keys.route(ROOT, 'h2', 'red', '10.8.0.7/32'), { encap: 'mplsoudp', id: 100 }), 22);
  p.put(ok(Keys.route(ROOT, 'h3', 'red', '10.8.0.7/32'), { encap: 'mplsoudp', id: 200 }), 23);
  p.put(ok(Keys.route(ROOT, 'h3', 'red', '10.5.0.0/16'), { encap: 'mplsoudp', id: 200 }), 24);
  p.put(ok(Keys.mac(ROOT, 'h2', 'vxlan-42', '02:00:00:00:00:05'), { ips: [] }), 25);
  p.flush();
  const routes = Object.fromEntries(dp.routes('red').map((r) => [r.prefix, r.nexthops]));
  assert.equal(routes['10.8.0.0/16'], [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 100 }, { remote: '198.18.0.3', encap: 'mplsoudp', label: 200 }]);
  assert.equal(routes['10.8.0.7/32'], [{ remote: '198.18.0.3', encap: 'mplsoudp', label: 200 }]);
  assert.equal(routes['10.5.0.0/16'], [{ port: 'x' }], 'the configured route stays');
  assert.is(dp.fdbEntries('vxlan-42')[0]?.remote, '198.18.0.9', 'the configured MAC stays');
  assert.equal(dp.listBridges()[0]?.flood, ['198.18.0.9', '198.18.0.2', '198.18.0.3'], 'configured flood entry kept once');
  // h9 leaves: its configured flood entry is not the control plane's to remove.
  p.delete('h9', 'h');
  p.delete('h3', p.idFor(ok(Keys.route(ROOT, 'h3', 'red', '10.8.0.7/32'), { encap: 'mplsoudp', id: 200 })));
  p.flush();
  assert.equal(dp.listBridges()[0]?.flood, ['198.18.0.9', '198.18.0.2', '198.18.0.3']);
  assert.equal(dp.routes('red').find((r) => r.prefix === '10.8.0.7/32')?.nexthops, [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 100 }]);
  assert.equal(p.reconcile().diffs, []);
  // Withdrawn (a failed start): the dataplane is as the config made it.
  p.withdrawAll();
  assert.equal(dp.routes('red'), [{ vrf: 'red', prefix: '10.5.0.0/16', nexthops: [{ port: 'x' }] }]);
  assert.equal(dp.listBridges()[0]?.flood, ['198.18.0.9']);
  assert.equal(dp.fdbEntries(), [{ bridge: 'vxlan-42', mac: '02:00:00:00:00:05', static: true, remote: '198.18.0.9' }]);
});

test('local state: learned, moved and aged MACs, snooped addresses and VRF prefixes become keys', () => {
  const dp = new MemoryDataplane();
  dp.addBridge({ vni: 42 });
  dp.addVrf({ name: 'red', label: 100 });
  dp.addPort('red', 'r1', { gateway: '10.1.1.1/24' });
  const log: [string, string | null][] = [];
  const s = new LocalState(dp, ROOT, 'h1', '198.18.0.1', (k, v) => log.push([k.slice(ROOT.length), v]));
  s.start();
  dp.learn('vxlan-42', '02:00:00:00:00:01', { port: 'p1' });
  dp.snoop('vxlan-42', '10.0.0.1', '02:00:00:00:00:01');
  dp.snoop('red', '10.1.1.10', '02:00:00:00:00:0a', 'r1');
  dp.learn('vxlan-42', '02:00:00:00:00:02', { remote: '198.18.0.2' }); // learned from a tunnel: not ours
  dp.learn('vxlan-42', '02:00:00:00:00:01', { remote: '198.18.0.2' }); // moved away
  assert.equal(log, [
    ['hosts/h1/routes/red/10.1.1.0_24', '{"encap":"mplsoudp","id":100}'],
    ['hosts/h1/host', '{"underlay":"198.18.0.1","bridges":[{"encap":"vxlan","id":42}],"vrfs":[{"name":"red","label":100}]}'],
    ['hosts/h1/macs/vxlan-42/02:00:00:00:00:01', '{"ips":[]}'],
    ['hosts/h1/macs/vxlan-42/02:00:00:00:00:01', '{"ips":["10.0.0.1"]}'],
    ['hosts/h1/routes/red/10.1.1.10_32', '{"encap":"mplsoudp","id":100}'],
    ['hosts/h1/macs/vxlan-42/02:00:00:00:00:01', null],
  ]);
  assert.is(networkOf('2001:db8:1::1/64'), '2001:db8:1::/64');
  s.stop();
});

test.run();
