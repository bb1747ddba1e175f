import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lpm6, VtepError, parseIPv6 } from '../../src/index.js';
import { inTableKeys6, loadTable6, randomKeys6, rng } from '../../bench/data.js';
import { BitTrie, NaiveLpm } from './ref.js';

const ip = (s: string): Uint32Array => parseIPv6(s);

function isVtepError(code: string, re?: RegExp) {
  return (e: unknown): boolean => e instanceof VtepError && e.code === code && (re === undefined || re.test(e.message));
}

/** Clears the bits of w[off..off+4) beyond len. */
function maskTo(w: Uint32Array, off: number, len: number): void {
  for (let i = 0; i < 4; i++) {
    const keep = Math.max(0, Math.min(32, len - 32 * i));
    w[off + i] = keep === 0 ? 0 : (w[off + i]! & (0xffffffff << (32 - keep))) >>> 0;
  }
}

test('longest match wins, with ::/0, /128 and nested prefixes', () => {
  const t = new Lpm6();
  assert.is(t.lookup(ip('2001:db8::1')), -1);
  t.add('::/0', 1);
  t.add('2001:db8::/32', 2);
  t.add('2001:db8:1::/48', 3);
  t.add('2001:db8:1:2::/64', 4);
  t.add('2001:db8:1:2::1/128', 5);
  t.add('2001:db8:1:2:8000::/65', 6);
  t.add('2001:db8:1:2::/127', 7);
  assert.is(t.size, 7);
  assert.is(t.lookup(ip('2001:db8:1:2::1')), 5);
  assert.is(t.lookup(ip('2001:db8:1:2::0')), 7);
  assert.is(t.lookup(ip('2001:db8:1:2::2')), 4);
  assert.is(t.lookup(ip('2001:db8:1:2:8000::9')), 6);
  assert.is(t.lookup(ip('2001:db8:1:3::')), 3);
  assert.is(t.lookup(ip('2001:db8:2::')), 2);
  assert.is(t.lookup(ip('fe80::1')), 1);
  assert.is(t.lookup(ip('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')), 1);
  assert.ok(t.delete('2001:db8:1:2::/127'));
  assert.is(t.lookup(ip('2001:db8:1:2::0')), 4);
  assert.ok(t.delete('::/0'));
  assert.is(t.lookup(ip('fe80::1')), -1);
  // Word-array form and lookup at an offset.
  assert.is(t.add(ip('2001:db8:1:2::1'), 128, 8), 5);
  const batch = new Uint32Array(8);
  batch.set(ip('2001:db8:1:2::1'), 4);
  assert.is(t.lookup(batch, 4), 8);
  assert.is(t.get(ip('2001:db8::'), 32), 2);
  assert.is(t.get('2001:db8::/33'), -1);
});

test('bad input throws a VtepError naming the field and value', () => {
  const t = new Lpm6();
  assert.throws(() => t.add('2001:db8::1/32', 1), isVtepError('ERR_INVALID_ARG', /2001:db8::1\/32/));
  assert.throws(() => t.add('10.0.0.0/8', 1), isVtepError('ERR_INVALID_ARG', /IPv6 prefix/));
  assert.throws(() => t.add('2001:db8::/129', 1), isVtepError('ERR_INVALID_ARG', /prefix/));
  assert.throws(() => t.add(ip('2001:db8::'), 32, -2), isVtepError('ERR_INVALID_ARG', /value: -2/));
  assert.throws(() => t.add([1, 2, 3], 32, 1), isVtepError('ERR_INVALID_ARG', /words/));
  assert.throws(() => t.add(ip('2001:db8::1'), 64, 1), isVtepError('ERR_INVALID_ARG', /host bits/));
  assert.throws(() => t.lookupBatch(new Uint32Array(8), new Int32Array(1)), isVtepError('ERR_INVALID_ARG', /count/));
});

/** Random prefixes under a few /24s (deep nodes), with some anywhere. */
function randomPrefix(r: () => number, bases: Uint32Array[]): [Uint32Array, number] {
  const lens = [0, 3, 16, 19, 24, 28, 32, 33, 40, 44, 47, 48, 48, 56, 63, 64, 65, 96, 100, 127, 128];
  const len = lens[r() % lens.length]!;
  const w = new Uint32Array(4);
  if (r() % 8 === 0) for (let i = 0; i < 4; i++) w[i] = r();
  else {
    const b = bases[r() % bases.length]!;
    w[0] = (b[0]! & 0xffffff00) | (r() & 0xff);
    w[1] = r() % 4 === 0 ? r() : r() & 0xffff0000;
    w[2] = r() % 2 === 0 ? 0 : r();
    w[3] = r() % 2 === 0 ? r() & 3 : r();
  }
  maskTo(w, 0, len);
  return [w, len];
}

function probes(r: () => number, ref: NaiveLpm, n: number): Uint32Array {
  const out: number[] = [];
  for (const e of ref.entries.values()) {
    const w = Uint32Array.from(e.words);
    out.push(...w);
    // The last address of the prefix.
    const last = Uint32Array.from(w);
    for (let i = 0; i < 4; i++) {
      const keep = Math.max(0, Math.min(32, e.len - 32 * i));
      last[i] = (last[i]! | (keep === 32 ? 0 : 0xffffffff >>> keep)) >>> 0;
    }
    out.push(...last);
    // A random address inside.
    const inside = Uint32Array.from(w);
    for (let i = 0; i < 4; i++) {
      const keep = Math.max(0, Math.min(32, e.len - 32 * i));
      inside[i] = (inside[i]! | (r() & (keep === 32 ? 0 : 0xffffffff >>> keep))) >>> 0;
    }
    out.push(...inside);
  }
  for (let i = 0; i < 4 * n; i++) out.push(r());
  return Uint32Array.from(out);
}

function checkAgainst(t: Lpm6, ref: NaiveLpm, keys: Uint32Array, what: string): void {
  const n = keys.length >>> 2;
  const out = new Int32Array(n);
  t.lookupBatch(keys, out);
  for (let i = 0; i < n; i++) {
    const want = ref.lookup(keys, 4 * i);
    const one = t.lookup(keys, 4 * i);
    if (one !== want || out[i] !== want) assert.unreachable(`${what}: key ${i}: lookup ${one}, batch ${out[i]}, reference ${want}`);
  }
}

test('seeded random tables match a linear scan', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const r = rng(seed);
    const bases = [ip('2001:db8::'), ip('2a02:1234::'), Uint32Array.of(r(), 0, 0, 0)];
    const t = new Lpm6();
    const ref = new NaiveLpm();
    for (let i = 0; i < 300; i++) {
      const [w, len] = randomPrefix(r, bases);
      const v = r() % 5000;
      t.add(w, len, v);
      ref.set(w, len, v);
    }
    assert.is(t.size, ref.size);
    checkAgainst(t, ref, probes(r, ref, 500), `seed ${seed}`);
  }
});

test('random add/delete sequences match a linear scan after every step, and free everything', () => {
  for (let seed = 200; seed < 220; seed++) {
    const r = rng(seed);
    const bases = [ip('2001:db8::'), ip('2001:db9::')];
    const t = new Lpm6();
    const ref = new NaiveLpm();
    const live = new Map<string, [Uint32Array, number]>();
    for (let step = 0; step < 200; step++) {
      if (live.size > 0 && r() % 3 === 0) {
        const keys = [...live.keys()];
        const key = keys[r() % keys.length]!;
        const [w, len] = live.get(key)!;
        live.delete(key);
        assert.ok(t.delete(w, len));
        ref.delete(w, len);
      } else {
        const [w, len] = randomPrefix(r, bases);
        const v = r() % 20;
        t.add(w, len, v);
        ref.set(w, len, v);
        live.set(NaiveLpm.key(w, len), [w, len]);
      }
      assert.is(t.size, ref.size);
      const keys = new Uint32Array(4 * 16);
      let k = 0;
      for (const [w, len] of live.values()) {
        if (k >= 12) break;
        if (r() % 4 !== 0) continue;
        keys.set(w, 4 * k);
        for (let i = 0; i < 4; i++) {
          const keep = Math.max(0, Math.min(32, len - 32 * i));
          keys[4 * k + i] = (keys[4 * k + i]! | (r() & (keep === 32 ? 0 : 0xffffffff >>> keep))) >>> 0;
        }
        k++;
      }
      for (; k < 16; k++) for (let i = 0; i < 4; i++) keys[4 * k + i] = i === 0 && k % 2 === 0 ? (bases[0]![0]! | (r() & 0xff)) >>> 0 : r();
      checkAgainst(t, ref, keys, `seed ${seed} step ${step}`);
    }
    for (const [w, len] of live.values()) assert.ok(t.delete(w, len));
    assert.is(t.size, 0);
    assert.is(t.stats().nodes, 0, 'every node freed');
  }
});

test('iteration in address order', () => {
  const t = new Lpm6();
  const list = ['2001:db8:1::/48', '::/0', '2001:db8::/32', '2001:db8:1::1/128', 'fe80::/10', '2001:db8:1::/64'];
  list.forEach((p, i) => t.add(p, i));
  assert.equal([...t].map((e) => `${e.prefix}=${e.value}`), ['::/0=1', '2001:db8::/32=2', '2001:db8:1::/48=0', '2001:db8:1::/64=5', '2001:db8:1::1/128=3', 'fe80::/10=4']);
});

test('load() equals add() one by one; compact() keeps the answers', () => {
  const r = rng(5);
  const bases = [ip('2001:db8::'), ip('2600:1f00::')];
  const n = 1500;
  const words = new Uint32Array(4 * n);
  const lens = new Uint8Array(n);
  const vals = new Int32Array(n);
  const seen = new Set<string>();
  const ref = new NaiveLpm();
  let k = 0;
  while (k < n) {
    const [w, len] = randomPrefix(r, bases);
    const key = NaiveLpm.key(w, len);
    if (seen.has(key)) continue;
    seen.add(key);
    words.set(w, 4 * k);
    lens[k] = len;
    vals[k] = k;
    ref.set(w, len, k);
    k++;
  }
  const a = new Lpm6();
  a.load(words, lens, vals);
  const b = new Lpm6();
  for (let i = n - 1; i >= 0; i--) b.add(words.subarray(4 * i, 4 * i + 4), lens[i]!, vals[i]!);
  const keys = probes(r, ref, 1000);
  const oa = new Int32Array(keys.length >>> 2);
  const ob = new Int32Array(keys.length >>> 2);
  a.lookupBatch(keys, oa);
  b.lookupBatch(keys, ob);
  assert.equal(oa, ob);
  checkAgainst(a, ref, keys.subarray(0, 4 * 1500), 'load');
  a.compact();
  a.lookupBatch(keys, oa);
  assert.equal(oa, ob);
});

test('the real IPv6 table: 1M random and 1M in-table addresses match a binary trie', () => {
  const tbl = loadTable6();
  assert.is(tbl.count, 160147);
  const values = new Int32Array(tbl.count);
  const ref = new BitTrie();
  for (let i = 0; i < tbl.count; i++) {
    values[i] = i;
    ref.insert(tbl.words, 4 * i, tbl.lengths[i]!, i);
  }
  const t = new Lpm6();
  t.load(tbl.words, tbl.lengths, values);
  assert.is(t.size, tbl.count);
  const n = 1 << 20;
  const out = new Int32Array(n);
  for (const keys of [randomKeys6(n, 21), inTableKeys6(tbl, n, 22)]) {
    t.lookupBatch(keys, out);
    for (let i = 0; i < n; i++) {
      const want = ref.lookup(keys, 4 * i, 128);
      if (out[i] !== want) assert.unreachable(`key ${i}: got ${out[i]}, want ${want}`);
    }
    for (let i = 0; i < n; i += 97) assert.is(t.lookup(keys, 4 * i), out[i]);
  }
  let i = 0;
  let ordered = true;
  t.forEach((w, len, v) => {
    for (let k = 0; k < 4; k++) if (w[k] !== tbl.words[4 * i + k]) ordered = false;
    if (len !== tbl.lengths[i] || v !== i) ordered = false;
    i++;
  });
  assert.is(i, tbl.count);
  assert.ok(ordered, 'walk order equals the sorted file');
  // Delete a third; the rest answers like a fresh table of them.
  const ref2 = new BitTrie();
  for (let k = 0; k < tbl.count; k++) {
    if (k % 3 === 0) assert.ok(t.delete(tbl.words.subarray(4 * k, 4 * k + 4), tbl.lengths[k]!));
    else ref2.insert(tbl.words, 4 * k, tbl.lengths[k]!, k);
  }
  const keys = inTableKeys6(tbl, 1 << 18, 23);
  t.lookupBatch(keys, out, 1 << 18);
  for (let k = 0; k < 1 << 18; k++) {
    const want = ref2.lookup(keys, 4 * k, 128);
    if (out[k] !== want) assert.unreachable(`after deletes, key ${k}: got ${out[k]}, want ${want}`);
  }
});

test.run();
