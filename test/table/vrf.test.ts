import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NextHops, Remotes, Route, Vrfs, VtepError, parseIPv4, parseIPv6 } from '../../src/index.js';

function isVtepError(code: string, re?: RegExp) {
  return (e: unknown): boolean => e instanceof VtepError && e.code === code && (re === undefined || re.test(e.message));
}

test('named VRFs with small ids, each with its own IPv4 and IPv6 table', () => {
  const vrfs = new Vrfs({ max: 3 });
  const red = vrfs.create('red');
  const blue = vrfs.create('blue', 2);
  const green = vrfs.create('green');
  assert.equal([red.id, blue.id, green.id], [0, 2, 1]);
  assert.is(vrfs.get('blue'), blue);
  assert.is(vrfs.byId(1), green);
  assert.is(vrfs.require('red'), red);
  assert.equal([...vrfs].map((v) => v.name), ['red', 'green', 'blue']);
  red.add('10.0.0.0/8', 1);
  blue.add('10.0.0.0/8', 2);
  red.add('2001:db8::/32', 3);
  assert.is(red.v4.lookup(parseIPv4('10.1.2.3')), 1);
  assert.is(blue.v4.lookup(parseIPv4('10.1.2.3')), 2, 'tables are separate');
  assert.is(red.v6.lookup(parseIPv6('2001:db8::1')), 3);
  assert.is(red.size, 2);
  assert.is(red.get('2001:db8::/32'), 3);
  assert.ok(red.delete('2001:db8::/32'));
  assert.throws(() => vrfs.create('red'), isVtepError('ERR_EXISTS', /"red"/));
  assert.throws(() => vrfs.create('x'), isVtepError('ERR_LIMIT'));
  assert.throws(() => vrfs.create('bad name'), isVtepError('ERR_INVALID_ARG', /name: "bad name"/));
  assert.throws(() => vrfs.require('nope'), isVtepError('ERR_NOT_FOUND', /"nope"/));
  assert.throws(() => red.add('10.0.0.0', 1), isVtepError('ERR_INVALID_ARG', /prefix: "10.0.0.0"/));
  assert.ok(vrfs.delete('green'));
  assert.is(vrfs.byId(1), undefined);
  assert.is(vrfs.create('x').id, 1, 'the freed id is reused');
  assert.throws(() => vrfs.create('y', 0), isVtepError('ERR_EXISTS', /id 0 is taken by "red"/));
  assert.throws(() => vrfs.create('z', 3), isVtepError('ERR_INVALID_ARG', /id: 3/));
});

test('a route to an ECMP group resolves to a member by flow hash', () => {
  const remotes = new Remotes();
  const nh = new NextHops({ remotes });
  const a = nh.add({ type: 'tunnel', proto: 'vxlan', remote: '198.18.0.2', id: 7 });
  const b = nh.add({ type: 'tunnel', proto: 'vxlan', remote: '198.18.0.3', id: 7 });
  const vrfs = new Vrfs();
  const vrf = vrfs.create('tenant-1');
  vrf.add('10.1.0.0/16', nh.addGroup([a, b]));
  vrf.add('10.1.2.0/24', Route.nexthop(b));
  const seen = new Set<number>();
  for (let h = 0; h < 64; h++) seen.add(nh.resolve(vrf.v4.lookup(parseIPv4('10.1.9.9')), h * 0x9e3779b1));
  assert.equal([...seen].sort(), [a, b]);
  assert.is(nh.resolve(vrf.v4.lookup(parseIPv4('10.1.2.9')), 12345), b);
  assert.is(nh.resolve(vrf.v4.lookup(parseIPv4('10.2.0.1')), 12345), -1);
});

test.run();
