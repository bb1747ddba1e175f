import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseVswitchConfig } from '../../src/dataplane/config.js';
import { VtepError } from '../../src/index.js';

/** The example of the issue, verbatim. */
const EXAMPLE = {
  underlay: { address: '198.18.0.1', vxlanPort: 4789 },
  bridges: [{ vni: 42, ports: [{ tap: 'vm1tap' }], flood: ['198.18.0.2'], fdb: [{ mac: '02:00:00:00:00:02', remote: '198.18.0.2' }] }],
  vrfs: [{ name: 'red', label: 100, ports: [{ tap: 'vm3tap', gateway: '10.1.0.1/24' }], routes: [{ prefix: '10.2.0.0/16', remote: '198.18.0.3', encap: 'mplsoudp', label: 200 }] }],
};

test('the example config parses with its defaults', () => {
  const c = parseVswitchConfig(EXAMPLE);
  assert.equal(c.underlay, { address: '198.18.0.1', vxlanPort: 4789, mplsPort: 6635, gre: false, netns: undefined, peers: undefined, udp6ZeroChecksumRx: false, ttl: 64, mtu: 1500 });
  assert.is(c.bridges[0]!.encap, 'vxlan');
  assert.is(c.bridges[0]!.id, 42);
  assert.equal(c.bridges[0]!.fdb, [{ mac: 0x020000000002, remote: '198.18.0.2' }]);
  assert.ok(c.bridges[0]!.arpSuppress && c.bridges[0]!.learn);
  const r = c.vrfs[0]!.routes[0]!;
  assert.is(r.prefixText, '10.2.0.0/16');
  assert.equal(r.nexthops, [{ remote: '198.18.0.3', encap: 'mplsoudp', id: 200, weight: 1 }]);
  assert.is(c.vrfs[0]!.ports[0]!.gateway!.length, 24);
  assert.is(c.ageSeconds, 300);
});

test('GRE anywhere turns on the raw GRE underlay; ECMP next hops and blackholes', () => {
  const c = parseVswitchConfig({
    underlay: { address: '198.18.0.1' },
    bridges: [{ encap: 'gre', key: 7 }],
    vrfs: [{ name: 'blue', ports: [{ tap: 't1', gateway: '10.9.0.1/24' }], routes: [
      { prefix: '10.3.0.0/16', nexthops: [{ remote: '198.18.0.2', label: 300 }, { remote: '198.18.0.3', label: 300, weight: 2 }] },
      { prefix: '10.4.0.0/16', drop: true },
      { prefix: '10.5.0.0/16', port: 't1', via: '10.9.0.2' },
    ] }],
  });
  assert.ok(c.underlay.gre);
  assert.is(c.vrfs[0]!.routes[0]!.nexthops.length, 2);
  assert.is(c.vrfs[0]!.routes[1]!.nexthops.length, 0);
  assert.equal(c.vrfs[0]!.routes[2]!.nexthops[0], { port: 't1', via: '10.9.0.2', weight: 1 });
});

test('every mistake names the field and the value', () => {
  const bad = (mutate: (c: any) => void, re: RegExp): void => {
    const c = structuredClone(EXAMPLE) as any;
    mutate(c);
    assert.throws(() => parseVswitchConfig(c), (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_CONFIG' && re.test(e.message), String(re));
  };
  bad((c) => delete c.underlay, /^underlay: undefined is not an object/);
  bad((c) => (c.underlay.address = '198.18.0'), /^underlay\.address: "198\.18\.0"/);
  bad((c) => (c.bridges[0].vni = 1 << 24), /^bridges\[0\]\.vni: 16777216 is not an integer in 0\.\.16777215/);
  bad((c) => (c.bridges[0].ports[0].tap = 'a/b'), /^bridges\[0\]\.ports\[0\]\.tap: "a\/b"/);
  bad((c) => (c.bridges[0].flood = ['2001:db8::2']), /^bridges\[0\]\.flood\[0\]: "2001:db8::2" is not an IPv4 address like underlay\.address/);
  bad((c) => (c.bridges[0].fdb[0].mac = '02:00'), /^bridges\[0\]\.fdb\[0\]\.mac: "02:00"/);
  bad((c) => (c.bridges[0].colour = 'red'), /^bridges\[0\]\.colour: "red" is not a known field/);
  bad((c) => (c.vrfs[0].ports[0].tap = 'vm1tap'), /^vrfs\[0\]\.ports\[0\]\.tap: "vm1tap" is already used by bridges\[0\]\.ports\[0\]$/);
  bad((c) => (c.vrfs[0].ports[0].gateway = '10.1.0.1'), /^vrfs\[0\]\.ports\[0\]\.gateway: "10\.1\.0\.1"/);
  bad((c) => (c.vrfs[0].routes[0].prefix = '10.2.0.1/16'), /^vrfs\[0\]\.routes\[0\]\.prefix: "10\.2\.0\.1\/16" is not a prefix/);
  bad((c) => (c.vrfs[0].routes[0].encap = 'ipip'), /^vrfs\[0\]\.routes\[0\]\.encap: "ipip"/);
  bad((c) => (c.vrfs[0].routes[0].vni = 5), /^vrfs\[0\]\.routes\[0\]\.vni: 5 is not used with encap mplsoudp/);
  bad((c) => (c.vrfs[0].label = 42, c.bridges[0] = { encap: 'mplsoudp', label: 42 }), /^vrfs\[0\]\.label: 42 is already used by bridges\[0\]\.label$/);
  bad((c) => (c.vrfs.push({ name: 'red' })), /^vrfs\[1\]\.name: "red" is already used by vrfs\[0\]\.name$/);
  bad((c) => (c.bridges[0].ports[0].offloads = 'yes'), /^bridges\[0\]\.ports\[0\]\.offloads: "yes"/);
  bad((c) => (c.vrfs[0].ports[0].offloads = 1), /^vrfs\[0\]\.ports\[0\]\.offloads: 1/);
  bad((c) => (c.underlay.tap = { name: 'u/0', mac: '02:00:00:00:00:01', nextHopMac: '02:00:00:00:00:02' }), /^underlay\.tap\.name: "u\/0"/);
  bad((c) => (c.underlay.tap = { name: 'u0', nextHopMac: '02:00:00:00:00:02' }), /^underlay\.tap\.mac: undefined/);
  bad((c) => (c.underlay.tap = { name: 'u0', mac: '02:00:00:00:00:01', nextHopMac: 'x' }), /^underlay\.tap\.nextHopMac: "x"/);
  bad((c) => (c.underlay.tap = { name: 'u0', mac: '02:00:00:00:00:01', nextHopMac: '02:00:00:00:00:02', colour: 1 }), /^underlay\.tap\.colour: 1 is not a known field/);
});

test('underlay.tap: the MACs parsed', () => {
  const c = structuredClone(EXAMPLE) as any;
  c.underlay.tap = { name: 'vtepu0', mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' };
  assert.equal(parseVswitchConfig(c).underlay.tap, { name: 'vtepu0', mac: 0x02fc18000001, nextHopMac: 0x02fc18000002 });
  c.underlay.tap = { name: 'vtepu0', mac: '02:fc:18:00:00:01' };
  assert.equal(parseVswitchConfig(c).underlay.tap, { name: 'vtepu0', mac: 0x02fc18000001 }, 'without nextHopMac: each remote\'s MAC from the kernel');
});

test('a TAP port may turn its offloads off (default: on, left unset)', () => {
  const c = structuredClone(EXAMPLE) as any;
  c.bridges[0].ports[0].offloads = false;
  c.vrfs[0].ports[0].offloads = false;
  const p = parseVswitchConfig(c);
  assert.is(p.bridges[0]!.ports[0]!.offloads, false);
  assert.is(p.vrfs[0]!.ports[0]!.offloads, false);
  assert.is(parseVswitchConfig(structuredClone(EXAMPLE)).bridges[0]!.ports[0]!.offloads, undefined);
});

test.run();
