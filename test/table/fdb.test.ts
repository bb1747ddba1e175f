import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Fdb, FdbValue, Learn, VtepError, parseMac } from '../../src/index.js';
import { rng } from '../../bench/data.js';

const MAC1 = parseMac('02:00:00:00:00:01');
const hi = (mac: number): number => Math.floor(mac / 2 ** 32);
const lo = (mac: number): number => mac >>> 0;

function isVtepError(code: string, re?: RegExp) {
  return (e: unknown): boolean => e instanceof VtepError && e.code === code && (re === undefined || re.test(e.message));
}

/** A clock the test moves by hand. */
function fakeClock(): { now: number; fn: () => number } {
  const c = { now: 1000, fn: () => c.now };
  return c;
}

test('learn: new, refreshed, moved; lookup finds the value', () => {
  const fdb = new Fdb();
  const r1 = FdbValue.remote(1);
  const r2 = FdbValue.remote(2);
  assert.is(fdb.lookup(5, hi(MAC1), lo(MAC1)), -1);
  assert.is(fdb.learn(5, hi(MAC1), lo(MAC1), r1, 0), Learn.NEW);
  assert.is(fdb.lookup(5, hi(MAC1), lo(MAC1)), r1);
  assert.is(fdb.lookup(6, hi(MAC1), lo(MAC1)), -1, 'other bridge domain');
  assert.is(fdb.learn(5, hi(MAC1), lo(MAC1), r1, 10), Learn.REFRESHED);
  assert.is(fdb.learn(5, hi(MAC1), lo(MAC1), r2, 20), Learn.MOVED);
  assert.is(fdb.get(5, '02:00:00:00:00:01'), r2);
  assert.is(fdb.size, 1);
  assert.is(fdb.learnedCount, 1);
  assert.equal({ ...fdb.counters }, { learned: 1, refreshed: 1, moved: 1, limit: 0, staticConflict: 0, invalid: 0, aged: 0 });
  assert.ok(FdbValue.isRemote(r2));
  assert.is(FdbValue.id(r2), 2);
  assert.not.ok(FdbValue.isRemote(FdbValue.port(7)));
});

test('learn refuses group, zero and out-of-range input without throwing', () => {
  const fdb = new Fdb();
  const bcast = parseMac('ff:ff:ff:ff:ff:ff');
  const mcast = parseMac('01:00:5e:00:00:01');
  assert.is(fdb.learn(1, hi(bcast), lo(bcast), 1, 0), Learn.INVALID);
  assert.is(fdb.learn(1, hi(mcast), lo(mcast), 1, 0), Learn.INVALID);
  assert.is(fdb.learn(1, 0, 0, 1, 0), Learn.INVALID);
  assert.is(fdb.learn(0xffff, hi(MAC1), lo(MAC1), 1, 0), Learn.INVALID);
  assert.is(fdb.learn(-1, hi(MAC1), lo(MAC1), 1, 0), Learn.INVALID);
  assert.is(fdb.learn(1, hi(MAC1), lo(MAC1), -1, 0), Learn.INVALID);
  assert.is(fdb.learn(1, 0x10000, lo(MAC1), 1, 0), Learn.INVALID);
  assert.is(fdb.size, 0);
  assert.is(fdb.counters.invalid, 7);
});

test('learnAt and lookupAt read MACs from frame bytes', () => {
  const fdb = new Fdb();
  // Ethernet: dst 02:00:00:00:00:01, src 02:00:00:00:00:02, type IPv4
  const frame = Uint8Array.from(Buffer.from('020000000001' + '020000000002' + '0800', 'hex'));
  assert.is(fdb.learnAt(3, frame, 6, FdbValue.port(4), 0), Learn.NEW);
  assert.is(fdb.get(3, '02:00:00:00:00:02'), 4);
  assert.is(fdb.lookupAt(3, frame, 0), -1);
  fdb.addStatic(3, '02:00:00:00:00:01', FdbValue.port(9));
  assert.is(fdb.lookupAt(3, frame, 0), 9);
  // A MAC with the top bit of its low word set.
  const f2 = Uint8Array.from(Buffer.from('0a0bfedcba98', 'hex'));
  fdb.learnAt(3, f2, 0, 11, 0);
  assert.is(fdb.get(3, '0a:0b:fe:dc:ba:98'), 11);
  assert.is(fdb.lookup(3, 0x0a0b, 0xfedcba98), 11);
});

test('static entries: not moved by learning, not aged, not limited; learned ones become static', () => {
  const clock = fakeClock();
  const fdb = new Fdb({ clock: clock.fn, ageMs: 100, maxLearned: 1 });
  fdb.addStatic(1, MAC1, FdbValue.port(1));
  assert.ok(fdb.isStatic(1, MAC1));
  assert.is(fdb.learn(1, hi(MAC1), lo(MAC1), FdbValue.port(2)), Learn.STATIC_CONFLICT);
  assert.is(fdb.learn(1, hi(MAC1), lo(MAC1), FdbValue.port(1)), Learn.REFRESHED);
  assert.is(fdb.get(1, MAC1), 1);
  assert.is(fdb.counters.staticConflict, 1);
  // Fill the one learned place, then static entries still go in.
  assert.is(fdb.learn(1, 0x0200, 2, 5), Learn.NEW);
  assert.is(fdb.learn(1, 0x0200, 3, 5), Learn.LIMIT);
  fdb.addStatic(1, 0x020000000003, 6);
  assert.is(fdb.get(1, 0x020000000003), 6);
  // A learned entry turned static frees its learned place.
  fdb.addStatic(1, 0x020000000002, 7);
  assert.is(fdb.learnedCount, 0);
  assert.is(fdb.learn(1, 0x0200, 4, 5), Learn.NEW);
  clock.now += 1000;
  assert.is(fdb.age(), 1, 'only the learned entry ages');
  assert.is(fdb.size, 3);
  assert.throws(() => fdb.addStatic(70000, MAC1, 1), isVtepError('ERR_INVALID_ARG', /bd: 70000/));
  assert.throws(() => fdb.addStatic(1, 'zz:00:00:00:00:01', 1), isVtepError('ERR_INVALID_ARG', /mac/));
  assert.throws(() => fdb.addStatic(1, MAC1, -3), isVtepError('ERR_INVALID_ARG', /value: -3/));
});

test('aging with an injected clock; refresh keeps an entry; events fire on changes only', () => {
  const clock = fakeClock();
  const fdb = new Fdb({ clock: clock.fn, ageMs: 300 });
  const events: string[] = [];
  fdb.on('learned', (bd, mac, v) => events.push(`learned ${bd} ${mac.toString(16)} ${v}`));
  fdb.on('moved', (bd, mac, from, to) => events.push(`moved ${bd} ${mac.toString(16)} ${from}->${to}`));
  fdb.on('aged', (bd, mac, v) => events.push(`aged ${bd} ${mac.toString(16)} ${v}`));
  fdb.learn(1, 0x0200, 1, 10); // at 1000
  fdb.learn(1, 0x0200, 2, 10);
  clock.now = 1200;
  fdb.learn(1, 0x0200, 1, 10); // refresh: no event
  fdb.lookup(1, 0x0200, 1); // no event
  clock.now = 1350;
  assert.is(fdb.age(), 1, 'the entry last seen at 1000 goes');
  assert.is(fdb.get(1, 0x020000000001), 10);
  assert.is(fdb.get(1, 0x020000000002), -1);
  fdb.learn(1, 0x0200, 1, 11, 1400); // explicit now
  assert.is(fdb.age(1650), 0);
  assert.is(fdb.age(1700), 1);
  assert.equal(events, ['learned 1 20000000001 10', 'learned 1 20000000002 10', 'aged 1 20000000002 10', 'moved 1 20000000001 10->11', 'aged 1 20000000001 11']);
  assert.is(fdb.counters.aged, 2);
  const e = [...fdb];
  assert.is(e.length, 0);
});

test('listeners may change the table while age() reports', () => {
  const fdb = new Fdb({ capacity: 8, ageMs: 10 });
  for (let i = 1; i <= 200; i++) fdb.learn(1, 0x0200, i, 1, 0);
  let n = 0;
  fdb.on('aged', () => {
    n++;
    fdb.learn(2, 0x0200, n, 2, 100); // grows the table mid-report
  });
  assert.is(fdb.age(50), 200);
  assert.is(n, 200);
  assert.is(fdb.size, 200);
  assert.is(fdb.learnedIn(1), 0);
  assert.is(fdb.learnedIn(2), 200);
});

test('limits per bridge domain and overall: learning stops, is counted, one event per episode', () => {
  const fdb = new Fdb({ maxLearned: 5, bdLimit: 3 });
  const limits: string[] = [];
  fdb.on('limit', (bd, scope, limit) => limits.push(`${bd} ${scope} ${limit}`));
  for (let i = 1; i <= 4; i++) fdb.learn(1, 0x0200, i, 1);
  assert.is(fdb.learnedIn(1), 3);
  assert.is(fdb.learn(1, 0x0200, 9, 1), Learn.LIMIT);
  assert.is(fdb.counters.limit, 2);
  assert.equal(limits, ['1 bd 3'], 'one event for the episode');
  fdb.learn(2, 0x0200, 1, 1);
  fdb.learn(2, 0x0200, 2, 1);
  assert.is(fdb.learn(2, 0x0200, 3, 1), Learn.LIMIT, 'overall limit of 5');
  assert.equal(limits, ['1 bd 3', '2 total 5']);
  // Known MACs still refresh and move at the limit.
  assert.is(fdb.learn(1, 0x0200, 1, 2), Learn.MOVED);
  // Room again: a new episode can fire again.
  assert.ok(fdb.delete(1, 0x020000000001));
  assert.is(fdb.learn(1, 0x0200, 7, 1), Learn.NEW);
  assert.is(fdb.learn(1, 0x0200, 8, 1), Learn.LIMIT);
  assert.equal(limits, ['1 bd 3', '2 total 5', '1 total 5'], 'the overall limit is checked first');
  fdb.setLimit(3, 0);
  assert.is(fdb.limitOf(3), 0);
  assert.is(fdb.limitOf(1), 3);
  fdb.setLimit(1, undefined);
  assert.is(fdb.limitOf(1), 3);
  assert.is(new Fdb().limitOf(1), Infinity);
});

test('delete and flush by domain, by value, with or without static entries', () => {
  const fdb = new Fdb();
  for (let i = 1; i <= 10; i++) fdb.learn(i % 2, 0x0200, i, FdbValue.remote(i % 3));
  fdb.addStatic(0, 0x020000000099, FdbValue.remote(0));
  assert.is(fdb.size, 11);
  assert.is(fdb.flush({ value: FdbValue.remote(0) }), 3, 'learned entries on remote 0');
  assert.is(fdb.size, 8);
  assert.is(fdb.flush({ bd: 1 }), 3, 'MACs 1, 5 and 7');
  assert.is(fdb.flush(), 4, 'the learned rest, not the static entry');
  assert.is(fdb.size, 1);
  assert.is(fdb.flush({ static: true }), 1);
  assert.is(fdb.size, 0);
  assert.is(fdb.learnedCount, 0);
  assert.not.ok(fdb.delete(0, 0x020000000099));
});

test('flood lists per bridge domain', () => {
  const fdb = new Fdb();
  assert.is(fdb.flood(7).length, 0);
  fdb.setFlood(7, [3, 1, 2]);
  const list = fdb.flood(7);
  assert.equal([...list], [3, 1, 2]);
  assert.is(fdb.flood(7), list, 'the same array every call: no allocation');
  fdb.addFlood(7, 9);
  fdb.addFlood(7, 9);
  assert.equal([...fdb.flood(7)], [3, 1, 2, 9]);
  assert.ok(fdb.removeFlood(7, 1));
  assert.not.ok(fdb.removeFlood(7, 1));
  assert.equal([...fdb.flood(7)], [3, 2, 9]);
  assert.is(fdb.flood(8).length, 0);
  assert.throws(() => fdb.setFlood(7, [1, 1]), isVtepError('ERR_INVALID_ARG', /repeats/));
  assert.throws(() => fdb.setFlood(7, [-1]), isVtepError('ERR_INVALID_ARG', /remotes\[0\]/));
  fdb.setFlood(7, []);
  assert.is(fdb.flood(7).length, 0);
});

test('random operations on many MACs agree with a Map; the table grows and answers in batches', () => {
  const r = rng(9);
  const fdb = new Fdb({ capacity: 16, maxLearned: 1 << 20 });
  const ref = new Map<number, number>();
  const keys: [number, number, number][] = [];
  for (let step = 0; step < 120_000; step++) {
    const op = r() % 10;
    if (op < 7 || keys.length === 0) {
      const bd = r() % 4;
      const h = (r() & 0xfeff) | 0x0200;
      const l = r();
      const v = r() % 1000;
      const st = fdb.learn(bd, h, l, v, step);
      const k = bd * 2 ** 48 + h * 2 ** 32 + l;
      const had = ref.get(k);
      assert.is(st, had === undefined ? Learn.NEW : had === v ? Learn.REFRESHED : Learn.MOVED);
      if (had === undefined) keys.push([bd, h, l]);
      ref.set(k, v);
    } else if (op < 9) {
      const [bd, h, l] = keys[r() % keys.length]!;
      assert.is(fdb.lookup(bd, h, l), ref.get(bd * 2 ** 48 + h * 2 ** 32 + l) ?? -1);
    } else {
      const i = r() % keys.length;
      const [bd, h, l] = keys[i]!;
      const k = bd * 2 ** 48 + h * 2 ** 32 + l;
      assert.is(fdb.delete(bd, h * 2 ** 32 + l), ref.has(k));
      ref.delete(k);
      keys[i] = keys[keys.length - 1]!;
      keys.pop();
    }
  }
  assert.is(fdb.size, ref.size);
  assert.ok(fdb.stats().load > 0.3);
  const n = keys.length;
  const kb = new Uint32Array(n);
  const kh = new Uint32Array(n);
  const kl = new Uint32Array(n);
  keys.forEach(([b, h, l], i) => {
    kb[i] = b;
    kh[i] = h;
    kl[i] = l;
  });
  const out = new Int32Array(n);
  fdb.lookupBatch(kb, kh, kl, out);
  for (let i = 0; i < n; i++) assert.is(out[i], ref.get(kb[i]! * 2 ** 48 + kh[i]! * 2 ** 32 + kl[i]!));
  let count = 0;
  for (const e of fdb) {
    count++;
    if (ref.get(e.bd * 2 ** 48 + e.mac) !== e.value) assert.unreachable(`entry ${e.bd} ${e.macText}`);
  }
  assert.is(count, ref.size);
  assert.throws(() => fdb.lookupBatch(kb, kh, kl, new Int32Array(1), 2), isVtepError('ERR_INVALID_ARG', /n: 2/));
});

test.run();

test('learn() without now takes the owner\'s clock reading (FdbOptions.time), else the clock', () => {
  const clock = fakeClock();
  const time = new Float64Array(1);
  const fdb = new Fdb({ clock: clock.fn, ageMs: 300, time });
  time[0] = 5000; // the owner's reading; the clock says 1000
  fdb.learn(1, 0x0200, 1, 10);
  assert.is(fdb.age(5250), 0, 'seen at 5000, not at 1000');
  assert.is(fdb.age(5350), 1);
  fdb.learn(1, 0x0200, 2, 10, 6000); // an explicit now wins
  assert.is(fdb.age(6250), 0);
  assert.throws(() => new Fdb({ time: [1] as unknown as Float64Array }), (e: unknown) => e instanceof VtepError && /time/.test((e as Error).message));
});
