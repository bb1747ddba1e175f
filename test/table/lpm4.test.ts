import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lpm4, VtepError, parseIPv4 } from '../../src/index.js';
import { Lpm4 as Lpm4Direct } from '../../src/table/index.js';
import { inTableKeys4, loadTable4, randomKeys4, rng } from '../../bench/data.js';
import { BitTrie, NaiveLpm } from './ref.js';

const ip = (s: string): number => parseIPv4(s);
const mask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

function isVtepError(code: string, re?: RegExp) {
  return (e: unknown): boolean => e instanceof VtepError && e.code === code && (re === undefined || re.test(e.message));
}

test('exported from the package root', () => {
  assert.is(Lpm4, Lpm4Direct);
});

test('longest match wins, with /0, /32 and nested prefixes', () => {
  const t = new Lpm4();
  assert.is(t.lookup(ip('10.1.2.3')), -1);
  t.add('0.0.0.0/0', 1);
  t.add('10.0.0.0/8', 2);
  t.add('10.1.0.0/16', 3);
  t.add('10.1.2.0/24', 4);
  t.add('10.1.2.3/32', 5);
  t.add('10.1.2.128/25', 6);
  assert.is(t.size, 6);
  assert.is(t.lookup(ip('10.1.2.3')), 5);
  assert.is(t.lookup(ip('10.1.2.4')), 4);
  assert.is(t.lookup(ip('10.1.2.200')), 6);
  assert.is(t.lookup(ip('10.1.3.1')), 3);
  assert.is(t.lookup(ip('10.2.0.0')), 2);
  assert.is(t.lookup(ip('11.0.0.0')), 1);
  assert.is(t.lookup(ip('255.255.255.255')), 1);
  assert.ok(t.delete('10.1.2.0/24'));
  assert.is(t.lookup(ip('10.1.2.4')), 3, 'falls back to the /16');
  assert.is(t.lookup(ip('10.1.2.3')), 5);
  assert.ok(t.delete('0.0.0.0/0'));
  assert.is(t.lookup(ip('11.0.0.0')), -1);
  assert.not.ok(t.delete('0.0.0.0/0'), 'already gone');
});

test('both key forms; add replaces and returns the previous value; get is exact', () => {
  const t = new Lpm4();
  assert.is(t.add(0x0a000000, 8, 7), -1);
  assert.is(t.add('10.0.0.0/8', 9), 7);
  assert.is(t.get('10.0.0.0/8'), 9);
  assert.is(t.get(0x0a000000, 8), 9);
  assert.is(t.get('10.0.0.0/9'), -1, 'exact match only');
  assert.ok(t.has(0x0a000000, 8));
  assert.is(t.size, 1);
  t.add('255.255.255.255/32', 0x7fffffff);
  assert.is(t.lookup(0xffffffff), 0x7fffffff, 'largest value');
  t.add('0.0.0.0/32', 0);
  assert.is(t.lookup(0), 0);
  assert.is(t.lookup(1), -1);
});

test('bad input throws a VtepError naming the field and value', () => {
  const t = new Lpm4();
  assert.throws(() => t.add('10.0.0.1/8', 1), isVtepError('ERR_INVALID_ARG', /10\.0\.0\.1\/8/));
  assert.throws(() => t.add('10.0.0.0/33', 1), isVtepError('ERR_INVALID_ARG', /prefix/));
  assert.throws(() => t.add('2001:db8::/32', 1), isVtepError('ERR_INVALID_ARG', /IPv4 prefix/));
  assert.throws(() => t.add('10.0.0.0/8', -1), isVtepError('ERR_INVALID_ARG', /value: -1/));
  assert.throws(() => t.add('10.0.0.0/8', 2 ** 31), isVtepError('ERR_INVALID_ARG', /value/));
  assert.throws(() => t.add('10.0.0.0/8', 1.5), isVtepError('ERR_INVALID_ARG', /value: 1.5/));
  assert.throws(() => t.add(0x0a000001, 8, 1), isVtepError('ERR_INVALID_ARG', /10\.0\.0\.1\/8/));
  assert.throws(() => t.add(2 ** 32, 8, 1), isVtepError('ERR_INVALID_ARG', /address/));
  assert.throws(() => t.add(0, 40, 1), isVtepError('ERR_INVALID_ARG', /length: 40/));
  assert.throws(() => t.lookupBatch(new Uint32Array(4), new Int32Array(2)), isVtepError('ERR_INVALID_ARG', /count/));
  assert.is(t.size, 0);
});

/** Random prefixes clustered in a few /12s so that they nest and share nodes. */
function randomPrefix(r: () => number, bases: number[]): [number, number] {
  const lens = [0, 1, 7, 8, 12, 15, 16, 17, 19, 20, 21, 22, 23, 24, 24, 24, 25, 26, 27, 28, 29, 30, 31, 32, 32];
  const len = lens[r() % lens.length]!;
  let a = r() % 8 === 0 ? r() : (bases[r() % bases.length]! | (r() & 0x000fffff)) >>> 0;
  a = (a & mask(len)) >>> 0;
  return [a, len];
}

/** Addresses worth probing: random, inside and at the edges of the prefixes. */
function probes(r: () => number, ref: NaiveLpm, bases: number[], n: number): Uint32Array {
  const out: number[] = [];
  for (const e of ref.entries.values()) {
    const a = e.words[0]!;
    const last = (a | ~mask(e.len)) >>> 0;
    out.push(a, last, (a - 1) >>> 0, (last + 1) >>> 0);
  }
  for (let i = 0; i < n; i++) out.push(r() % 2 === 0 ? r() : (bases[r() % bases.length]! | (r() & 0x000fffff)) >>> 0);
  return Uint32Array.from(out);
}

function checkAgainst(t: Lpm4, ref: NaiveLpm, keys: Uint32Array, what: string): void {
  const out = new Int32Array(keys.length);
  t.lookupBatch(keys, out);
  for (let i = 0; i < keys.length; i++) {
    const want = ref.lookup([keys[i]!]);
    if (t.lookup(keys[i]!) !== want || out[i] !== want) {
      assert.unreachable(`${what}: ${keys[i]!.toString(16)}: lookup ${t.lookup(keys[i]!)}, batch ${out[i]}, reference ${want}`);
    }
  }
}

test('seeded random tables match a linear scan', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const r = rng(seed);
    const bases = [r() & 0xfff00000, r() & 0xfff00000, r() & 0xfff00000];
    const t = new Lpm4();
    const ref = new NaiveLpm();
    for (let i = 0; i < 400; i++) {
      const [a, len] = randomPrefix(r, bases);
      const v = r() % 5000;
      t.add(a, len, v);
      ref.set([a], len, v);
    }
    assert.is(t.size, ref.size);
    checkAgainst(t, ref, probes(r, ref, bases, 2000), `seed ${seed}`);
  }
});

test('random add/delete sequences match a linear scan after every step, and free everything', () => {
  for (let seed = 100; seed < 130; seed++) {
    const r = rng(seed);
    const bases = [r() & 0xfff00000, r() & 0xfff00000];
    const t = new Lpm4();
    const ref = new NaiveLpm();
    const live = new Map<string, [number, number]>();
    for (let step = 0; step < 250; step++) {
      if (live.size > 0 && r() % 3 === 0) {
        const keys = [...live.keys()];
        const key = keys[r() % keys.length]!;
        const [a, len] = live.get(key)!;
        live.delete(key);
        assert.ok(t.delete(a, len), 'delete finds the prefix');
        ref.delete([a], len);
      } else {
        const [a, len] = randomPrefix(r, bases);
        const v = r() % 50; // few values: neighbours often agree, which exercises node freeing
        assert.is(t.add(a, len, v), live.has(`${a}/${len}`) ? ref.entries.get(NaiveLpm.key([a, 0, 0, 0], len))!.value : -1);
        ref.set([a], len, v);
        live.set(`${a}/${len}`, [a, len]);
      }
      assert.is(t.size, ref.size);
      const keys = new Uint32Array(24);
      for (let i = 0; i < keys.length; i++) keys[i] = i < 12 ? (bases[r() % bases.length]! | (r() & 0x000fffff)) >>> 0 : r();
      let j = 0;
      for (const [a, len] of live.values()) {
        if (r() % 8 === 0) keys[j++ % keys.length] = (a | (r() & ~mask(len))) >>> 0;
      }
      checkAgainst(t, ref, keys, `seed ${seed} step ${step}`);
    }
    for (const [a, len] of live.values()) assert.ok(t.delete(a, len));
    assert.is(t.size, 0);
    assert.is(t.stats().nodes, 0, 'every node freed');
    assert.is(t.lookup(bases[0]!), -1);
  }
});

test('lookupBatch: any count, tail handled, nothing written past count', () => {
  const t = new Lpm4();
  t.add('10.0.0.0/8', 1);
  t.add('10.1.2.0/25', 2);
  t.add('10.1.2.128/26', 3);
  const keys = Uint32Array.from([ip('10.1.2.1'), ip('10.1.2.129'), ip('10.9.9.9'), ip('11.0.0.0')]);
  for (let n = 0; n <= 21; n++) {
    const k = new Uint32Array(n).map((_, i) => keys[i % 4]!);
    const out = new Int32Array(n + 1).fill(99);
    t.lookupBatch(k, out, n);
    for (let i = 0; i < n; i++) assert.is(out[i], [2, 3, 1, -1][i % 4]);
    assert.is(out[n], 99);
  }
});

test('iteration in address order, forEach and entries agree', () => {
  const t = new Lpm4();
  const list = ['10.1.0.0/16', '0.0.0.0/0', '10.0.0.0/8', '10.1.2.3/32', '192.168.0.0/24', '10.1.2.0/24', '10.1.2.0/25'];
  list.forEach((p, i) => t.add(p, i));
  const got = [...t].map((e) => `${e.prefix}=${e.value}`);
  assert.equal(got, ['0.0.0.0/0=1', '10.0.0.0/8=2', '10.1.0.0/16=0', '10.1.2.0/24=5', '10.1.2.0/25=6', '10.1.2.3/32=3', '192.168.0.0/24=4']);
  let n = 0;
  t.forEach((a, len, v) => {
    n++;
    assert.is(t.get(a, len), v);
  });
  assert.is(n, 7);
});

test('load() equals add() one by one, and compact() keeps the answers', () => {
  const r = rng(77);
  const bases = [r() & 0xfff00000, r() & 0xfff00000];
  const n = 3000;
  const addrs = new Uint32Array(n);
  const lens = new Uint8Array(n);
  const vals = new Int32Array(n);
  const ref = new NaiveLpm();
  const seen = new Set<string>();
  let k = 0;
  while (k < n) {
    const [a, len] = randomPrefix(r, bases);
    if (seen.has(`${a}/${len}`)) continue;
    seen.add(`${a}/${len}`);
    addrs[k] = a;
    lens[k] = len;
    vals[k] = k;
    ref.set([a], len, k);
    k++;
  }
  const a = new Lpm4();
  a.load(addrs, lens, vals);
  const b = new Lpm4();
  for (let i = n - 1; i >= 0; i--) b.add(addrs[i]!, lens[i]!, vals[i]!);
  const keys = probes(r, ref, bases, 3000);
  const oa = new Int32Array(keys.length);
  const ob = new Int32Array(keys.length);
  a.lookupBatch(keys, oa);
  b.lookupBatch(keys, ob);
  assert.equal(oa, ob);
  checkAgainst(a, ref, keys.subarray(0, 4000), 'load');
  const before = a.bytes;
  a.compact();
  assert.ok(a.bytes <= before);
  a.lookupBatch(keys, oa);
  assert.equal(oa, ob);
  // Still updatable after compaction.
  for (let i = 0; i < n; i += 2) a.delete(addrs[i]!, lens[i]!);
  for (let i = 0; i < n; i += 2) ref.delete([addrs[i]!], lens[i]!);
  checkAgainst(a, ref, keys.subarray(0, 4000), 'after compact and deletes');
  assert.throws(() => a.load(Uint32Array.of(0x0a000001), Uint8Array.of(8), Int32Array.of(1)), isVtepError('ERR_INVALID_ARG', /10\.0\.0\.1\/8/));
});

test('clear() empties the table', () => {
  const t = new Lpm4();
  t.add('10.0.0.0/8', 1);
  t.add('10.1.2.0/25', 2);
  t.clear();
  assert.is(t.size, 0);
  assert.is(t.lookup(ip('10.1.2.3')), -1);
  t.add('10.1.2.0/25', 3);
  assert.is(t.lookup(ip('10.1.2.3')), 3);
});

test('the real IPv4 table: 1M random and 1M in-table addresses match a binary trie', () => {
  const tbl = loadTable4();
  assert.is(tbl.count, 901899);
  const values = new Int32Array(tbl.count);
  const ref = new BitTrie();
  for (let i = 0; i < tbl.count; i++) {
    values[i] = i;
    ref.insert(tbl.addresses, i, tbl.lengths[i]!, i);
  }
  const t = new Lpm4();
  t.load(tbl.addresses, tbl.lengths, values);
  assert.is(t.size, tbl.count);
  const perPrefix = t.bytes / tbl.count;
  assert.ok(perPrefix <= 24, `${perPrefix.toFixed(1)} bytes per prefix`);
  const out = new Int32Array(1 << 20);
  for (const keys of [randomKeys4(1 << 20, 11), inTableKeys4(tbl, 1 << 20, 12)]) {
    t.lookupBatch(keys, out);
    for (let i = 0; i < keys.length; i++) {
      const want = ref.lookup(keys, i, 32);
      if (out[i] !== want) assert.unreachable(`${keys[i]!.toString(16)}: got ${out[i]}, want ${want}`);
    }
    for (let i = 0; i < keys.length; i += 97) assert.is(t.lookup(keys[i]!), out[i]);
  }
  // Iteration gives the file back (canonical, sorted by address then length).
  let i = 0;
  let ordered = true;
  t.forEach((a, len, v) => {
    if (a !== tbl.addresses[i] || len !== tbl.lengths[i] || v !== i) ordered = false;
    i++;
  });
  assert.is(i, tbl.count);
  assert.ok(ordered, 'walk order equals the sorted file');
  // Delete every other prefix: the rest must still answer like a fresh table of them.
  const ref2 = new BitTrie();
  for (let k = 0; k < tbl.count; k++) {
    if (k % 2 === 0) t.delete(tbl.addresses[k]!, tbl.lengths[k]!);
    else ref2.insert(tbl.addresses, k, tbl.lengths[k]!, k);
  }
  assert.is(t.size, tbl.count >>> 1);
  const keys = inTableKeys4(tbl, 1 << 18, 13);
  t.lookupBatch(keys, out, keys.length);
  for (let k = 0; k < keys.length; k++) {
    const want = ref2.lookup(keys, k, 32);
    if (out[k] !== want) assert.unreachable(`after deletes ${keys[k]!.toString(16)}: got ${out[k]}, want ${want}`);
  }
});

test.run();
