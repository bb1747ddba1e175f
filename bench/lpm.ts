/**
 * `npm run bench -- lpm` (LPM_BENCH=v4 or v6 for one family, LPM_BENCH=layouts
 * for the comparison of trie layouts behind the choice of Lpm4's): Lpm4 and Lpm6
 * on the real tables of test/data next to a C DIR-24-8 (bench/c/lpm_dir24_8.c,
 * after DPDK rte_lpm/rte_lpm6) fed the same prefixes, values, keys and update
 * sequence. The C program builds its table once and then measures on command,
 * so every JavaScript figure is measured in rounds alternating with the C
 * figure it is compared with: the ratio is the median of the per-round ratios
 * and stays meaningful on a shared, noisy machine. The C results' checksums must
 * equal ours, so both answer the same question.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { compileC, countGc, measure, type BenchContext, type BenchRow, type Suite } from './harness.js';
import { Lpm4, Lpm6 } from '../src/table/index.js';
import { inTableKeys4, inTableKeys6, loadTable4, loadTable6, randomKeys4, randomKeys6, rng } from './data.js';

const KEYS = 1 << 20;
const UPDATES = 100_000;
/** A dataplane batch. */
const BATCH = 256;
/** Alternating rounds per compared figure, and seconds per measurement. */
const ROUNDS = 5;
const SECONDS = 0.2;

interface CStart {
  build_s: number;
  bytes: number;
  rule_bytes: number;
  checksums: number[];
}

/**
 * A C reference program as a child process: it reads its input file, prints
 * one JSON line, then answers one JSON line per command line on stdin.
 */
export class CProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  private readonly dir: string;

  constructor(cfile: string, input: (Uint32Array | Int32Array)[], args: string[] = []) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'vtep-bench-'));
    const file = path.join(this.dir, 'input.bin');
    writeFileSync(file, Buffer.concat(input.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
    this.child = spawn(compileC(cfile), [file, ...args]);
    this.child.stderr.pipe(process.stderr);
    createInterface({ input: this.child.stdout }).on('line', (line) => this.pending.shift()?.resolve(line));
    this.child.on('exit', (code) => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`${cfile} exited with ${code}`));
    });
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve: (line) => resolve(JSON.parse(line) as Record<string, unknown>), reject });
    });
  }

  /** The first line (printed after the program has read its input). */
  start<T>(): Promise<T> {
    return this.next() as Promise<T>;
  }

  async cmd(line: string): Promise<{ per_s: number; checksum?: number }> {
    const p = this.next();
    this.child.stdin.write(line + '\n');
    const r = await p;
    if (typeof r['per_s'] !== 'number') throw new Error(`C reference: ${JSON.stringify(r)}`);
    return r as { per_s: number; checksum?: number };
  }

  close(): void {
    this.child.stdin.end('quit\n');
    this.child.removeAllListeners();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function lpmRef(width: number, keyWords: Uint32Array, lengths: Uint8Array, values: Int32Array, sets: Uint32Array[], updates: Uint32Array): CProcess {
  const header = Uint32Array.of(0x4c504d31, width, lengths.length, KEYS, sets.length, updates.length);
  return new CProcess('lpm_dir24_8.c', [header, keyWords, Uint32Array.from(lengths), values, ...sets, updates], [String(SECONDS)]);
}

export function checksum(out: Int32Array): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s = (Math.imul(s, 31) + out[i]!) >>> 0;
  return s;
}

/** count distinct indexes below n, seeded. */
function sample(n: number, count: number, seed: number): Uint32Array {
  const r = rng(seed);
  const all = new Uint32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + (r() % (n - i));
    const t = all[i]!;
    all[i] = all[j]!;
    all[j] = t;
  }
  return all.slice(0, count);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >>> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * ROUNDS alternating measurements of a JavaScript figure (ops per call x calls
 * per second) and the C command it is compared with.
 */
export async function paired(c: CProcess, cmd: string, name: string, perCall: number, fn: () => void, unit: string, cname: string): Promise<BenchRow> {
  const js: number[] = [];
  const cs: number[] = [];
  const ratios: number[] = [];
  const rmes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const cr = (await c.cmd(`${cmd} ${SECONDS}`)).per_s;
    const m = measure(name, fn, SECONDS);
    js.push(m.hz * perCall);
    cs.push(cr);
    rmes.push(m.rme);
    ratios.push((m.hz * perCall) / cr);
  }
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  return {
    name,
    value: median(js),
    unit,
    rme: median(rmes),
    baseline: cname,
    ratio: median(ratios),
    note: `C ${(median(cs) / 1e6).toFixed(1)} M/s; ratio ${lo.toFixed(2)}..${hi.toFixed(2)} over ${ROUNDS} rounds`,
  };
}

async function family4(ctx: BenchContext, rows: BenchRow[]): Promise<void> {
  const tbl = loadTable4();
  const n = tbl.count;
  const values = new Int32Array(n);
  for (let i = 0; i < n; i++) values[i] = i;
  const sets = [randomKeys4(KEYS, 1), inTableKeys4(tbl, KEYS, 2)];
  const updates = sample(n, UPDATES, 3);
  ctx.log(`v4: ${n} prefixes, ${KEYS} keys per set; C DIR-24-8 reference`);
  const c = lpmRef(32, tbl.addresses, tbl.lengths, values, sets, updates);
  try {
    const cinfo = await c.start<CStart>();

    // Build: bulk load (shortest first, as the C build), best of three fresh tables.
    let build = Infinity;
    let lpm = new Lpm4();
    for (let r = 0; r < 3; r++) {
      lpm = new Lpm4();
      const t0 = performance.now();
      lpm.load(tbl.addresses, tbl.lengths, values);
      build = Math.min(build, (performance.now() - t0) / 1000);
    }
    rows.push({ name: 'v4 full build, load()', value: build * 1000, unit: 'ms', baseline: 'C', ratio: build / cinfo.build_s, note: `C ${(cinfo.build_s * 1000).toFixed(0)} ms; ratio = time, lower is better` });
    let incr = Infinity;
    for (let r = 0; r < 2; r++) {
      const t = new Lpm4();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) t.add(tbl.addresses[i]!, tbl.lengths[i]!, i);
      incr = Math.min(incr, (performance.now() - t0) / 1000);
    }
    rows.push({ name: 'v4 full build, add() in file order', value: incr * 1000, unit: 'ms', baseline: 'C', ratio: incr / cinfo.build_s, note: 'C build sorted by length' });

    const out = new Int32Array(KEYS);
    const names = ['random', 'in-table'];
    for (let s = 0; s < 2; s++) {
      const keys = sets[s]!;
      lpm.lookupBatch(keys, out);
      if (checksum(out) !== cinfo.checksums[s]) throw new Error(`lpm v4 ${names[s]}: results differ from the C reference`);
      rows.push(await paired(c, `batch ${s}`, `v4 lookupBatch ${names[s]}, 1M per call`, KEYS, () => lpm.lookupBatch(keys, out), 'lookups/s', 'C batch'));
      // Dataplane-sized batches; the views are made up front so the timed loop allocates nothing.
      const kv: Uint32Array[] = [];
      const ov: Int32Array[] = [];
      for (let o = 0; o < KEYS; o += BATCH) {
        kv.push(keys.subarray(o, o + BATCH));
        ov.push(out.subarray(o, o + BATCH));
      }
      const fn256 = (): void => {
        for (let b = 0; b < kv.length; b++) lpm.lookupBatch(kv[b]!, ov[b]!);
      };
      rows.push(await paired(c, `batch ${s}`, `v4 lookupBatch ${names[s]}, ${BATCH} per call`, KEYS, fn256, 'lookups/s', 'C batch'));
      const single = (): void => {
        let x = 0;
        for (let i = 0; i < KEYS; i++) x ^= lpm.lookup(keys[i]!);
        if (x === 0.5) throw new Error('unreachable');
      };
      rows.push(await paired(c, `single ${s}`, `v4 lookup() ${names[s]}`, KEYS, single, 'lookups/s', 'C single'));
    }
    const { gcs } = await countGc(() => {
      for (let r = 0; r < 20; r++) lpm.lookupBatch(sets[1]!, out);
    });
    rows.push({ name: 'v4 GCs during 20M batched lookups', value: gcs, unit: 'GCs', note: 'no allocation per lookup' });

    // Updates: delete 100k distinct prefixes, then add them back (both sides), alternating.
    const js: number[] = [];
    const cs: number[] = [];
    for (let r = 0; r < 3; r++) {
      const cr = await c.cmd('updates');
      if (cr.checksum !== cinfo.checksums[0]) throw new Error('lpm v4: C results changed after the updates');
      cs.push(cr.per_s);
      const t0 = performance.now();
      for (let j = 0; j < UPDATES; j++) lpm.delete(tbl.addresses[updates[j]!]!, tbl.lengths[updates[j]!]!);
      for (let j = 0; j < UPDATES; j++) {
        const i = updates[j]!;
        lpm.add(tbl.addresses[i]!, tbl.lengths[i]!, i);
      }
      js.push((2 * UPDATES) / ((performance.now() - t0) / 1000));
      lpm.lookupBatch(sets[0]!, out);
      if (checksum(out) !== cinfo.checksums[0]) throw new Error('lpm v4: results changed after the updates');
    }
    rows.push({ name: 'v4 updates, 100k delete + 100k add', value: median(js), unit: 'updates/s', baseline: 'C', ratio: median(js) / median(cs), note: `C ${(median(cs) / 1e6).toFixed(2)} M/s` });

    const st = lpm.stats();
    rows.push({ name: 'v4 bytes per prefix, all held', value: lpm.bytes / n, unit: 'B', baseline: 'C tbl24+tbl8', ratio: lpm.bytes / cinfo.bytes, note: `${(lpm.bytes / 2 ** 20).toFixed(1)} MiB; C ${(cinfo.bytes / n).toFixed(1)} B + rules ${(cinfo.rule_bytes / n).toFixed(1)} B` });
    rows.push({ name: 'v4 bytes per prefix, lookup arrays', value: st.lookupBytes / n, unit: 'B', note: `${st.nodes} nodes; control part ${(st.controlBytes / n).toFixed(1)} B` });
    lpm.compact();
    rows.push({ name: 'v4 bytes per prefix after compact()', value: lpm.bytes / n, unit: 'B', note: `${(lpm.bytes / 2 ** 20).toFixed(1)} MiB` });
  } finally {
    c.close();
  }
}

async function family6(ctx: BenchContext, rows: BenchRow[]): Promise<void> {
  const tbl = loadTable6();
  const n = tbl.count;
  const values = new Int32Array(n);
  for (let i = 0; i < n; i++) values[i] = i;
  const sets = [randomKeys6(KEYS, 4), inTableKeys6(tbl, KEYS, 5)];
  const updates = sample(n, Math.min(UPDATES, n >>> 1), 6);
  ctx.log(`v6: ${n} prefixes, ${KEYS} keys per set; C DIR-24-8-8 reference`);
  const c = lpmRef(128, tbl.words, tbl.lengths, values, sets, updates);
  try {
    const cinfo = await c.start<CStart>();
    let build = Infinity;
    let lpm = new Lpm6();
    for (let r = 0; r < 3; r++) {
      lpm = new Lpm6();
      const t0 = performance.now();
      lpm.load(tbl.words, tbl.lengths, values);
      build = Math.min(build, (performance.now() - t0) / 1000);
    }
    rows.push({ name: 'v6 full build, load()', value: build * 1000, unit: 'ms', baseline: 'C', ratio: build / cinfo.build_s, note: `C ${(cinfo.build_s * 1000).toFixed(0)} ms; ratio = time, lower is better` });

    const out = new Int32Array(KEYS);
    const names = ['random', 'in-table'];
    for (let s = 0; s < 2; s++) {
      const keys = sets[s]!;
      lpm.lookupBatch(keys, out);
      if (checksum(out) !== cinfo.checksums[s]) throw new Error(`lpm v6 ${names[s]}: results differ from the C reference`);
      rows.push(await paired(c, `batch ${s}`, `v6 lookupBatch ${names[s]}, 1M per call`, KEYS, () => lpm.lookupBatch(keys, out), 'lookups/s', 'C batch'));
      const single = (): void => {
        let x = 0;
        for (let i = 0; i < KEYS; i++) x ^= lpm.lookup(keys, 4 * i);
        if (x === 0.5) throw new Error('unreachable');
      };
      rows.push(await paired(c, `single ${s}`, `v6 lookup() ${names[s]}`, KEYS, single, 'lookups/s', 'C single'));
    }
    const { gcs } = await countGc(() => {
      for (let r = 0; r < 10; r++) lpm.lookupBatch(sets[1]!, out);
    });
    rows.push({ name: 'v6 GCs during 10M batched lookups', value: gcs, unit: 'GCs', note: 'no allocation per lookup' });

    const w = tbl.words;
    const views = Array.from(updates, (i) => w.subarray(4 * i, 4 * i + 4));
    const js: number[] = [];
    const cs: number[] = [];
    for (let r = 0; r < 3; r++) {
      const cr = await c.cmd('updates');
      if (cr.checksum !== cinfo.checksums[0]) throw new Error('lpm v6: C results changed after the updates');
      cs.push(cr.per_s);
      const t0 = performance.now();
      for (let j = 0; j < updates.length; j++) lpm.delete(views[j]!, tbl.lengths[updates[j]!]!);
      for (let j = 0; j < updates.length; j++) lpm.add(views[j]!, tbl.lengths[updates[j]!]!, updates[j]!);
      js.push((2 * updates.length) / ((performance.now() - t0) / 1000));
      lpm.lookupBatch(sets[0]!, out);
      if (checksum(out) !== cinfo.checksums[0]) throw new Error('lpm v6: results changed after the updates');
    }
    rows.push({ name: `v6 updates, ${updates.length} delete + add`, value: median(js), unit: 'updates/s', baseline: 'C', ratio: median(js) / median(cs), note: `C ${(median(cs) / 1e6).toFixed(2)} M/s` });
    rows.push({ name: 'v6 bytes per prefix, all held', value: lpm.bytes / n, unit: 'B', baseline: 'C tbl24+tbl8', ratio: lpm.bytes / cinfo.bytes, note: `${(lpm.bytes / 2 ** 20).toFixed(1)} MiB; C ${(cinfo.bytes / 2 ** 20).toFixed(1)} MiB + rules ${(cinfo.rule_bytes / 2 ** 20).toFixed(1)} MiB` });
    lpm.compact();
    rows.push({ name: 'v6 bytes per prefix after compact()', value: lpm.bytes / n, unit: 'B', note: `${(lpm.bytes / 2 ** 20).toFixed(1)} MiB` });
  } finally {
    c.close();
  }
}

/**
 * The layouts considered, built statically from the real IPv4 table (shortest
 * prefixes first, leaf-pushed, Int32 entries as in Lpm4) and looked up by code
 * of the same shape, so that only the layout differs: memory of the lookup
 * arrays and batched lookups, relative to DIR-24-8 in JavaScript.
 */
class StaticLayout {
  readonly dir: Int32Array;
  readonly levels: Int32Array[] = [];
  private readonly counts: number[] = [];

  constructor(
    readonly dirBits: number,
    readonly strides: number[],
    tbl: { count: number; addresses: Uint32Array; lengths: Uint8Array },
  ) {
    this.dir = new Int32Array(1 << dirBits).fill(-1);
    for (const s of strides) {
      this.levels.push(new Int32Array(1024 << s).fill(-1));
      this.counts.push(1); // node 0 reserved: ~0 = -1 is "no route"
    }
    const order = Array.from({ length: tbl.count }, (_, i) => i).sort((x, y) => tbl.lengths[x]! - tbl.lengths[y]!);
    for (const i of order) this.add(tbl.addresses[i]!, tbl.lengths[i]!, i);
  }

  private node(level: number, fill: number): number {
    const s = this.strides[level]!;
    const n = this.counts[level]!++;
    let arr = this.levels[level]!;
    if ((n + 1) << s > arr.length) {
      const grown = new Int32Array(arr.length * 2).fill(-1);
      grown.set(arr);
      arr = this.levels[level] = grown;
    }
    arr.fill(fill, n << s, (n + 1) << s);
    return n;
  }

  private add(a: number, len: number, v: number): void {
    let cut = this.dirBits;
    let arr = this.dir;
    let idx = a >>> (32 - cut);
    let span = len <= cut ? 1 << (cut - len) : 1;
    for (let level = 0; len > cut; level++) {
      const e = arr[idx]!;
      let n: number;
      if (e < -1) n = ~e;
      else {
        n = this.node(level, e);
        arr[idx] = ~n;
      }
      const s = this.strides[level]!;
      arr = this.levels[level]!;
      cut += s;
      idx = (n << s) | ((a >>> (32 - cut)) & ((1 << s) - 1));
      span = len <= cut ? 1 << (cut - len) : 1;
    }
    arr.fill(v, idx, idx + span);
  }

  get bytes(): number {
    return this.dir.byteLength + this.levels.reduce((sum, l, k) => sum + (this.counts[k]! << this.strides[k]!) * 4, 0);
  }

  /**
   * A batch lookup compiled for this layout: straight-line code per level, as
   * Lpm4.lookup() is written, so that the loop shape does not favour a layout.
   */
  compile(): (keys: Uint32Array, out: Int32Array) => void {
    let body = `const e0 = dir[a >>> ${32 - this.dirBits}];\nlet e = e0;\n`;
    let shift = 32 - this.dirBits;
    let close = '';
    this.strides.forEach((s, k) => {
      shift -= s;
      body += `if (e < -1) { e = L${k}[(~e << ${s}) | ((a >>> ${shift}) & ${(1 << s) - 1})];\n`;
      close += '}';
    });
    const src = `return function batch(keys, out) {\n for (let i = 0; i < keys.length; i++) {\n const a = keys[i];\n ${body}${close}\n out[i] = e;\n }\n};`;
    const names = this.levels.map((_, k) => `L${k}`);
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    return new Function('dir', ...names, src)(this.dir, ...this.levels) as (keys: Uint32Array, out: Int32Array) => void;
  }
}

async function layouts(ctx: BenchContext, rows: BenchRow[]): Promise<void> {
  const tbl = loadTable4();
  const sets = [randomKeys4(KEYS, 1), inTableKeys4(tbl, KEYS, 2)];
  const shapes: [string, number, number[]][] = [
    ['DIR-24-8', 24, [8]],
    ['DIR-16-8-8 (VPP mtrie shape)', 16, [8, 8]],
    ['DIR-16-4-4-4-4', 16, [4, 4, 4, 4]],
    ['DIR-18-6-8', 18, [6, 8]],
    ['DIR-20-4-8', 20, [4, 8]],
    ['DIR-20-4-4-4 (Lpm4)', 20, [4, 4, 4]],
  ];
  const out = new Int32Array(KEYS);
  const refs = [0, 0];
  const built = shapes.map(([name, d, strides]) => {
    ctx.log(`layout ${name}`);
    const l = new StaticLayout(d, strides, tbl);
    return { name, bytes: l.bytes, batch: l.compile() };
  });
  // Results must agree with DIR-24-8.
  for (const b of built) {
    for (let s = 0; s < 2; s++) {
      b.batch(sets[s]!, out);
      if (b === built[0]) refs[s] = checksum(out);
      else if (checksum(out) !== refs[s]) throw new Error(`layout ${b.name}: results differ from DIR-24-8`);
    }
  }
  // Rounds over all layouts in turn; each figure is the median of its rounds.
  const rates = built.map(() => [[], []] as number[][]);
  for (let r = 0; r < ROUNDS; r++) {
    built.forEach((b, k) => {
      for (let s = 0; s < 2; s++) rates[k]![s]!.push(measure(`${b.name} ${s}`, () => b.batch(sets[s]!, out), SECONDS).hz * KEYS);
    });
  }
  const base = [median(rates[0]![0]!), median(rates[0]![1]!)];
  built.forEach((b, k) => {
    rows.push({ name: `layout ${b.name}: lookup arrays`, value: b.bytes / tbl.count, unit: 'B/prefix', note: `${(b.bytes / 2 ** 20).toFixed(1)} MiB` });
    for (let s = 0; s < 2; s++) {
      const m = median(rates[k]![s]!);
      rows.push({ name: `layout ${b.name}: ${s === 0 ? 'random' : 'in-table'}`, value: m, unit: 'lookups/s', baseline: 'DIR-24-8', ratio: m / base[s]!, note: `median of ${ROUNDS} rounds, same loop shape for all` });
    }
  });
  // The shipped batch (eight lookups interleaved) on the same keys.
  const lpm = new Lpm4();
  const values = Int32Array.from({ length: tbl.count }, (_, i) => i);
  lpm.load(tbl.addresses, tbl.lengths, values);
  for (let s = 0; s < 2; s++) {
    const rs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rs.push(measure(`Lpm4 ${s}`, () => lpm.lookupBatch(sets[s]!, out), SECONDS).hz * KEYS);
    const m = median(rs);
    rows.push({ name: `Lpm4.lookupBatch (interleaved): ${s === 0 ? 'random' : 'in-table'}`, value: m, unit: 'lookups/s', baseline: 'DIR-24-8', ratio: m / base[s]!, note: `median of ${ROUNDS}` });
  }
}

export const suite: Suite = {
  description: 'Lpm4/Lpm6 on the real BGP tables: build, lookups (single, batched), updates, bytes per prefix vs a C DIR-24-8',
  async run(ctx) {
    const rows: BenchRow[] = [];
    // LPM_BENCH=v4 or v6 runs one family only (bench/index.ts passes suite names only);
    // LPM_BENCH=layouts compares the layouts considered for Lpm4.
    const only = process.env['LPM_BENCH'];
    if (only === 'layouts') {
      await layouts(ctx, rows);
      return rows;
    }
    if (only !== 'v6') await family4(ctx, rows);
    if (only !== 'v4') await family6(ctx, rows);
    return rows;
  },
};
