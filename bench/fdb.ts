/**
 * `npm run bench -- fdb`: the Fdb with 1,000,000 entries (16 bridge domains,
 * random unicast MACs, learned into a table made with capacity: 1e6) next to a C program with the same table layout, hash and
 * bucket count (bench/c/fdb_cuckoo.c), fed the same entries and keys, measured
 * in alternating rounds (see bench/lpm.ts); and next to a Node Map keyed by
 * bd * 2^48 + MAC as the plain-JavaScript baseline.
 */
import { countGc, measure, type BenchRow, type Suite } from './harness.js';
import { CProcess, checksum, paired } from './lpm.js';
import { Fdb, Learn } from '../src/table/index.js';
import { rng } from './data.js';

const ENTRIES = 1_000_000;
const KEYS = 1 << 20;
const BDS = 16;

export const suite: Suite = {
  description: 'Fdb with 1M entries: learning, lookups (single, batched; hits and misses), aging vs a C cuckoo table and a Node Map',
  async run(ctx) {
    const rows: BenchRow[] = [];
    const r = rng(42);
    const bd = new Uint32Array(ENTRIES);
    const hi = new Uint32Array(ENTRIES);
    const lo = new Uint32Array(ENTRIES);
    const val = new Int32Array(ENTRIES);
    for (let i = 0; i < ENTRIES; i++) {
      bd[i] = r() % BDS;
      hi[i] = (r() & 0xfeff) | 0x0200; // unicast, locally administered
      lo[i] = r();
      val[i] = r() & 0x3fffffff;
    }
    // Learning 1M new MACs (duplicates among random MACs are possible but rare: they refresh).
    // Sized for a million entries, as a deployment expecting them would (a table grown by
    // learning alone ends anywhere between 67% and 95% full).
    let fdb = new Fdb({ capacity: ENTRIES, maxLearned: 2 * ENTRIES });
    let learnRate = 0;
    for (let round = 0; round < 2; round++) {
      fdb = new Fdb({ capacity: ENTRIES, maxLearned: 2 * ENTRIES });
      const t0 = performance.now();
      for (let i = 0; i < ENTRIES; i++) fdb.learn(bd[i]!, hi[i]!, lo[i]!, val[i]!, 0);
      learnRate = Math.max(learnRate, ENTRIES / ((performance.now() - t0) / 1000));
    }
    let mapRate = 0;
    let map = new Map<number, number>();
    for (let round = 0; round < 2; round++) {
      map = new Map<number, number>();
      const t0 = performance.now();
      for (let i = 0; i < ENTRIES; i++) map.set(bd[i]! * 2 ** 48 + hi[i]! * 2 ** 32 + lo[i]!, val[i]!);
      mapRate = Math.max(mapRate, ENTRIES / ((performance.now() - t0) / 1000));
    }
    rows.push({ name: 'learn 1M new MACs', value: learnRate, unit: 'learns/s', baseline: 'Map.set', ratio: learnRate / mapRate, note: `Map ${(mapRate / 1e6).toFixed(2)} M/s` });
    const st = fdb.stats();
    ctx.log(`fdb: ${st.entries} entries in ${st.buckets} buckets (load ${st.load.toFixed(2)}), ${(fdb.bytes / 2 ** 20).toFixed(1)} MiB`);
    rows.push({ name: 'bytes per entry', value: fdb.bytes / st.entries, unit: 'B', note: `${(fdb.bytes / 2 ** 20).toFixed(1)} MiB, load ${st.load.toFixed(2)}; Map ~${((process.memoryUsage().heapUsed) / 2 ** 20).toFixed(0)} MiB heap in all` });

    // Keys: hits (present MACs, random order) and misses (absent MACs).
    const sets: { name: string; bd: Uint32Array; hi: Uint32Array; lo: Uint32Array }[] = [];
    for (const miss of [false, true]) {
      const kb = new Uint32Array(KEYS);
      const kh = new Uint32Array(KEYS);
      const kl = new Uint32Array(KEYS);
      for (let i = 0; i < KEYS; i++) {
        const j = r() % ENTRIES;
        kb[i] = bd[j]!;
        kh[i] = hi[j]!;
        kl[i] = miss ? r() : lo[j]!;
      }
      sets.push({ name: miss ? 'misses' : 'hits', bd: kb, hi: kh, lo: kl });
    }
    const out = new Int32Array(KEYS);
    for (const set of sets) {
      const keys = new Uint32Array(3 * KEYS);
      for (let i = 0; i < KEYS; i++) {
        keys[3 * i] = set.bd[i]!;
        keys[3 * i + 1] = set.hi[i]!;
        keys[3 * i + 2] = set.lo[i]!;
      }
      const entries = new Uint32Array(4 * ENTRIES);
      for (let i = 0; i < ENTRIES; i++) {
        entries[4 * i] = bd[i]!;
        entries[4 * i + 1] = hi[i]!;
        entries[4 * i + 2] = lo[i]!;
        entries[4 * i + 3] = val[i]!;
      }
      const c = new CProcess('fdb_cuckoo.c', [Uint32Array.of(0x46444231, ENTRIES, KEYS, st.m, st.k, fdb.seed >>> 0), entries, keys]);
      try {
        const info = await c.start<{ checksum: number; bytes: number }>();
        fdb.lookupBatch(set.bd, set.hi, set.lo, out, KEYS);
        if (set.name === 'hits' && checksum(out) !== info.checksum) {
          // Same entries, same layout, same hash: only the kick order may differ, never the answers.
          throw new Error('fdb: results differ from the C reference');
        }
        rows.push(await paired(c, 'batch', `lookupBatch ${set.name}`, KEYS, () => fdb.lookupBatch(set.bd, set.hi, set.lo, out, KEYS), 'lookups/s', 'C batch'));
        const single = (): void => {
          let x = 0;
          for (let i = 0; i < KEYS; i++) x ^= fdb.lookup(set.bd[i]!, set.hi[i]!, set.lo[i]!);
          if (x === 0.5) throw new Error('unreachable');
        };
        rows.push(await paired(c, 'single', `lookup() ${set.name}`, KEYS, single, 'lookups/s', 'C single'));
      } finally {
        c.close();
      }
      // The plain-JavaScript baseline: a Map keyed by a 64-bit-ish number.
      const m = measure(`Map.get ${set.name}`, () => {
        let x = 0;
        for (let i = 0; i < KEYS; i++) x ^= map.get(set.bd[i]! * 2 ** 48 + set.hi[i]! * 2 ** 32 + set.lo[i]!) ?? -1;
        if (x === 0.5) throw new Error('unreachable');
      }, 0.3);
      const js = measure(`fdb batch ${set.name} again`, () => fdb.lookupBatch(set.bd, set.hi, set.lo, out, KEYS), 0.3);
      rows.push({ name: `lookupBatch ${set.name} vs Map.get`, value: js.hz * KEYS, unit: 'lookups/s', rme: js.rme, baseline: 'Map.get', ratio: js.hz / m.hz, note: `Map ${((m.hz * KEYS) / 1e6).toFixed(1)} M/s` });
    }
    const { gcs } = await countGc(() => {
      for (let k = 0; k < 10; k++) fdb.lookupBatch(sets[0]!.bd, sets[0]!.hi, sets[0]!.lo, out, KEYS);
    });
    rows.push({ name: 'GCs during 10M batched lookups', value: gcs, unit: 'GCs', note: 'no allocation per lookup' });

    // Learning known MACs (the per-packet case): refreshes.
    const refresh = measure('refresh', () => {
      for (let i = 0; i < KEYS; i++) fdb.learn(sets[0]!.bd[i]!, sets[0]!.hi[i]!, sets[0]!.lo[i]!, 5, 1);
    }, 0.3);
    rows.push({ name: 'learn() of known MACs (moves, then refreshes)', value: refresh.hz * KEYS, unit: 'learns/s', rme: refresh.rme });
    // Aging: one scan of the whole table, everything expires.
    const t0 = performance.now();
    const aged = fdb.age(1e15);
    const ageMs = performance.now() - t0;
    rows.push({ name: `age() scan removing ${aged} entries`, value: ageMs, unit: 'ms' });
    const statuses = Object.keys(Learn).length;
    if (statuses !== 6) throw new Error('unreachable');
    return rows;
  },
};
