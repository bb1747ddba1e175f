import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NextHopKind, NextHops, Remotes, Route, ROUTE_GROUP, TunnelProto, VtepError } from '../../src/index.js';
import { rng } from '../../bench/data.js';

function isVtepError(code: string, re?: RegExp) {
  return (e: unknown): boolean => e instanceof VtepError && e.code === code && (re === undefined || re.test(e.message));
}

function tunnels(nh: NextHops, n: number): number[] {
  return Array.from({ length: n }, (_, i) => nh.add({ type: 'tunnel', proto: 'vxlan', remote: `198.18.0.${i + 2}`, id: 100 }));
}

/** Member picked for each of `flows` seeded flow hashes. */
function paths(nh: NextHops, group: number, flows: Uint32Array): Int32Array {
  const values = new Int32Array(flows.length).fill(group);
  const out = new Int32Array(flows.length);
  nh.resolveBatch(values, flows, out);
  return out;
}

function flowHashes(n: number): Uint32Array {
  const r = rng(17);
  return Uint32Array.from({ length: n }, () => r());
}

test('next hops of each kind, in typed arrays', () => {
  const remotes = new Remotes();
  const nh = new NextHops({ remotes, capacity: 16 });
  const a = nh.add({ type: 'local', port: 3, srcMac: '02:00:00:00:00:01', dstMac: 0x0a0bfedcba98 });
  const b = nh.add({ type: 'tunnel', proto: 'gre', remote: '198.18.0.2', id: 0xffffffff });
  const c = nh.add({ type: 'tunnel', proto: 'mplsoudp', remote: remotes.add('2001:db8::2'), id: 0xfffff });
  const d = nh.add({ type: 'drop' });
  assert.equal([a, b, c, d], [0, 1, 2, 3]);
  assert.is(nh.size, 4);
  assert.is(nh.kind[a], NextHopKind.LOCAL);
  assert.is(nh.port[a], 3);
  assert.is(nh.srcMacHi[a], 0x0200);
  assert.is(nh.srcMacLo[a], 1);
  assert.is(nh.dstMacHi[a], 0x0a0b);
  assert.is(nh.dstMacLo[a], 0xfedcba98);
  assert.is(nh.kind[b], NextHopKind.TUNNEL);
  assert.is(nh.proto[b], TunnelProto.GRE);
  assert.is(remotes.address(nh.remote[b]!), '198.18.0.2');
  assert.is(nh.tunnelId[b], 0xffffffff);
  assert.is(remotes.address(nh.remote[c]!), '2001:db8::2');
  assert.is(nh.kind[d], NextHopKind.DROP);
  assert.equal(nh.get(a), { id: 0, type: 'local', port: 3, srcMac: '02:00:00:00:00:01', dstMac: '0a:0b:fe:dc:ba:98' });
  assert.equal(nh.get(c), { id: 2, type: 'tunnel', proto: 'mplsoudp', remote: 1, tunnelId: 0xfffff });
  nh.set(d, { type: 'tunnel', proto: 'mplsogre', remote: 0, id: 16 });
  assert.is(nh.kind[d], NextHopKind.TUNNEL);
  assert.is(nh.size, 4);
  assert.ok(nh.delete(b));
  assert.not.ok(nh.has(b));
  assert.is(nh.add({ type: 'drop' }), b, 'the lowest free id again');
  assert.is(nh.resolve(a, 12345), a, 'a plain next hop resolves to itself');
  assert.is(nh.resolve(-1, 1), -1);
});

test('bad next hops throw a VtepError naming the field', () => {
  const nh = new NextHops({ capacity: 2 });
  assert.throws(() => nh.add({ type: 'tunnel', proto: 'vxlan', remote: 0, id: 1 << 24 }), isVtepError('ERR_INVALID_ARG', /vni: 16777216/));
  assert.throws(() => nh.add({ type: 'tunnel', proto: 'mplsogre', remote: 0, id: 1 << 20 }), isVtepError('ERR_INVALID_ARG', /label: 1048576/));
  assert.throws(() => nh.add({ type: 'tunnel', proto: 'geneve' as 'vxlan', remote: 0, id: 1 }), isVtepError('ERR_INVALID_ARG', /proto: "geneve"/));
  assert.throws(() => nh.add({ type: 'tunnel', proto: 'vxlan', remote: '198.18.0.1', id: 1 }), isVtepError('ERR_INVALID_ARG', /no Remotes registry/));
  assert.throws(() => nh.add({ type: 'local', port: 1, srcMac: 'nope', dstMac: 0 }), isVtepError('ERR_INVALID_ARG', /srcMac/));
  assert.throws(() => nh.add({ type: 'bogus' } as never), isVtepError('ERR_INVALID_ARG', /type: "bogus"/));
  nh.add({ type: 'drop' });
  nh.add({ type: 'drop' });
  assert.throws(() => nh.add({ type: 'drop' }), isVtepError('ERR_LIMIT'));
  assert.throws(() => nh.addGroup([0, 7]), isVtepError('ERR_INVALID_ARG', /members\[1\]: 7/));
  assert.throws(() => nh.addGroup([0, 0]), isVtepError('ERR_INVALID_ARG', /listed once/));
  assert.throws(() => nh.addGroup([0], { buckets: 100 }), isVtepError('ERR_INVALID_ARG', /power of two/));
  assert.throws(() => nh.addGroup([0, 1], { weights: [1] }), isVtepError('ERR_INVALID_ARG', /weights/));
  assert.is(nh.groupsInUse, 0, 'failed groups leave nothing behind');
  assert.throws(() => nh.select === undefined || nh.members(Route.group(5)), isVtepError('ERR_NOT_FOUND', /group/));
});

test('ids: the lowest free one is reused, for next hops and groups', () => {
  const nh = new NextHops({ capacity: 5000, groups: 100 });
  for (let i = 0; i < 5000; i++) assert.is(nh.add({ type: 'drop' }), i);
  nh.delete(1234);
  nh.delete(17);
  assert.is(nh.add({ type: 'drop' }), 17);
  assert.is(nh.add({ type: 'drop' }), 1234);
  const gs = Array.from({ length: 100 }, () => nh.addGroup([0]));
  assert.is(Route.id(gs[99]!), 99);
  nh.deleteGroup(gs[42]!);
  assert.is(Route.id(nh.addGroup([1])), 42);
  assert.throws(() => nh.addGroup([1]), isVtepError('ERR_LIMIT'));
});

test('route values: next hop or group, told apart by bit 30', () => {
  assert.is(Route.nexthop(5), 5);
  assert.is(Route.group(5), ROUTE_GROUP + 5);
  assert.ok(Route.isGroup(Route.group(0)));
  assert.not.ok(Route.isGroup(Route.nexthop(0x3fffffff)));
  assert.not.ok(Route.isGroup(-1));
  assert.is(Route.id(Route.group(77)), 77);
  assert.throws(() => Route.group(ROUTE_GROUP), isVtepError('ERR_INVALID_ARG', /group/));
});

test('an ECMP group spreads flows evenly over its members', () => {
  const nh = new NextHops({ remotes: new Remotes() });
  const m = tunnels(nh, 4);
  const g = nh.addGroup(m);
  assert.ok(Route.isGroup(g));
  assert.equal(nh.members(g).map((x) => x.buckets), [32, 32, 32, 32]);
  const flows = flowHashes(100_000);
  const p = paths(nh, g, flows);
  const count = new Map<number, number>();
  for (const x of p) count.set(x, (count.get(x) ?? 0) + 1);
  for (const id of m) {
    const share = (count.get(id) ?? 0) / flows.length;
    assert.ok(Math.abs(share - 0.25) < 0.02, `member ${id} gets ${share}`);
  }
  // select() with the group id and resolve() with the route value agree.
  for (let i = 0; i < 1000; i++) assert.is(nh.select(Route.id(g), flows[i]!), p[i]);
  for (let i = 0; i < 1000; i++) assert.is(nh.resolve(g, flows[i]!), p[i]);
});

test('removing a member moves only the flows that were on it', () => {
  const nh = new NextHops({ remotes: new Remotes() });
  const m = tunnels(nh, 5);
  const g = nh.addGroup(m, { buckets: 256 });
  const flows = flowHashes(50_000);
  const before = paths(nh, g, flows);
  assert.ok(nh.removeMember(g, m[2]!));
  const after = paths(nh, g, flows);
  let movedOff = 0;
  for (let i = 0; i < flows.length; i++) {
    if (before[i] === m[2]) {
      assert.is.not(after[i], m[2]);
      movedOff++;
    } else if (after[i] !== before[i]) assert.unreachable(`flow ${i} moved from ${before[i]} to ${after[i]} though its member stayed`);
  }
  assert.ok(movedOff > 0);
  // The orphaned buckets went evenly to the others: 256 / 4 = 64 each.
  assert.equal(nh.members(g).map((x) => x.buckets), [64, 64, 64, 64]);
  // Deleting a next hop takes it out of its groups the same way.
  const mid = paths(nh, g, flows);
  assert.ok(nh.delete(m[0]!));
  const last = paths(nh, g, flows);
  for (let i = 0; i < flows.length; i++) if (mid[i] !== m[0]) assert.is(last[i], mid[i]);
  assert.equal(nh.members(g).map((x) => x.nexthop), [m[1], m[3], m[4]]);
  assert.equal(nh.members(g).map((x) => x.buckets).sort(), [85, 85, 86]);
});

test('adding a member moves only as many buckets as it takes', () => {
  const nh = new NextHops({ remotes: new Remotes() });
  const m = tunnels(nh, 4);
  const g = nh.addGroup(m.slice(0, 3), { buckets: 128 });
  const before = Int32Array.from(nh.bucketsOf(g));
  nh.addMember(g, m[3]!);
  const after = nh.bucketsOf(g);
  let changed = 0;
  for (let b = 0; b < 128; b++) {
    if (after[b] !== before[b]) {
      changed++;
      assert.is(after[b], m[3], 'a bucket that changed went to the new member');
    }
  }
  assert.is(changed, 32);
  assert.equal(nh.members(g).map((x) => x.buckets), [32, 32, 32, 32]);
});

test('weights set the shares; a group with no members resolves to -1', () => {
  const nh = new NextHops({ remotes: new Remotes() });
  const m = tunnels(nh, 2);
  const g = nh.addGroup(m, { weights: [1, 3], buckets: 64 });
  assert.equal(nh.members(g), [
    { nexthop: m[0], weight: 1, buckets: 16 },
    { nexthop: m[1], weight: 3, buckets: 48 },
  ]);
  nh.setGroup(g, m, [1, 1]);
  assert.equal(nh.members(g).map((x) => x.buckets), [32, 32]);
  nh.removeMember(g, m[0]!);
  nh.removeMember(g, m[1]!);
  assert.is(nh.resolve(g, 1), -1);
  assert.is(nh.select(Route.id(g), 1), -1);
  nh.addMember(g, m[1]!);
  assert.is(nh.resolve(g, 1), m[1]);
  assert.ok(nh.deleteGroup(g));
  assert.is(nh.resolve(g, 1), -1);
  assert.is(nh.select(Route.id(g), 1), -1);
  assert.not.ok(nh.deleteGroup(g));
  // The freed buckets are reused.
  const g2 = nh.addGroup([m[0]!], { buckets: 64 });
  assert.is(Route.id(g2), Route.id(g));
  assert.is(nh.bucketsOf(g2).byteOffset, 0);
});

test('many groups: bucket storage grows; resolveBatch mixes next hops and groups', () => {
  const nh = new NextHops({ remotes: new Remotes() });
  const m = tunnels(nh, 8);
  const groups: number[] = [];
  for (let i = 0; i < 40; i++) groups.push(nh.addGroup([m[i % 8]!, m[(i + 1) % 8]!], { buckets: 64 }));
  const values = Int32Array.from([m[0]!, groups[39]!, -1, groups[5]!]);
  const hashes = Uint32Array.from([1, 2, 3, 4]);
  const out = new Int32Array(4);
  nh.resolveBatch(values, hashes, out);
  assert.is(out[0], m[0]);
  assert.ok([m[7], m[0]].includes(out[1]!));
  assert.is(out[2], -1);
  assert.ok([m[5], m[6]].includes(out[3]!));
});

test('remotes: both families, found without allocation, lowest index reused', () => {
  const r = new Remotes({ capacity: 4 });
  const a = r.add('198.18.0.2');
  const b = r.add('2001:db8::2');
  assert.equal([a, b], [0, 1]);
  assert.is(r.add('198.18.0.2'), 0, 'adding again finds it');
  assert.is(r.find4(0xc6120002), 0);
  assert.is(r.find4(0xc6120003), -1);
  const w = Uint32Array.from([0, 0, 0x20010db8, 0, 0, 2]);
  assert.is(r.find6(w, 2), 1);
  assert.is(r.indexOf('2001:db8::2'), 1);
  assert.is(r.indexOf('2001:db8::3'), -1);
  assert.is(r.family[0], 4);
  assert.is(r.family[1], 6);
  assert.is(r.words[4], 0x20010db8);
  assert.equal([...r].map((e) => e.address), ['198.18.0.2', '2001:db8::2']);
  assert.ok(r.delete('198.18.0.2'));
  assert.is(r.find4(0xc6120002), -1);
  assert.is(r.add('198.18.0.9'), 0);
  r.add('198.18.0.10');
  r.add('198.18.0.11');
  assert.throws(() => r.add('198.18.0.12'), isVtepError('ERR_LIMIT'));
  assert.throws(() => r.add('nope'), isVtepError('ERR_INVALID_ARG', /remote: "nope"/));
  assert.throws(() => r.address(9), isVtepError('ERR_INVALID_ARG', /remote: 9/));
});

test('remotes: random adds and deletes agree with a Map', () => {
  const rnd = rng(3);
  const r = new Remotes({ capacity: 2000 });
  const ref = new Map<string, number>();
  const names: string[] = [];
  for (let step = 0; step < 20_000; step++) {
    if (rnd() % 3 !== 0 && ref.size < 2000) {
      const v6 = rnd() % 2 === 0;
      const name = v6 ? `2001:db8::${(rnd() % 3000).toString(16)}` : `198.18.${rnd() % 12}.${rnd() % 256}`;
      const idx = r.add(name);
      if (ref.has(name)) assert.is(idx, ref.get(name));
      else {
        ref.set(name, idx);
        names.push(name);
      }
    } else if (names.length > 0) {
      const i = rnd() % names.length;
      const name = names[i]!;
      assert.ok(r.delete(name));
      ref.delete(name);
      names[i] = names[names.length - 1]!;
      names.pop();
    }
  }
  assert.is(r.size, ref.size);
  for (const [name, idx] of ref) assert.is(r.indexOf(name), idx);
});

test.run();
