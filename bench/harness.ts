/**
 * Shared pieces of the benchmark suites: benchmark.js runs, C reference
 * programs compiled on the spot, GC counting, and one table format. Every
 * figure is printed next to a baseline measured in the same run, because these
 * machines are shared and noisy: the ratio is the result, not the raw number.
 */
import Benchmark from 'benchmark';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';

export interface BenchRow {
  /** Suite-local name of the measurement, e.g. "vxlan4 encap 64B". */
  name: string;
  /** The figure, in `unit`. */
  value: number;
  unit: string;
  /** Name of the baseline row this one is compared with, and the ratio value/baseline. */
  baseline?: string;
  ratio?: number;
  /** Relative margin of error (percent), when benchmark.js measured it. */
  rme?: number;
  note?: string;
}

export interface BenchContext {
  /** The whole argument list (suite names and flags such as --quick). */
  args: string[];
  json: boolean;
  /** Human-readable progress line (suppressed with --json). */
  log(line: string): void;
}

export interface Suite {
  /** One line shown by `vtep bench --list`. */
  description: string;
  /** True when the suite needs root and network namespaces. */
  needsRoot?: boolean;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

/** Folder of the benchmark sources (bench/), from dist/bench at run time. */
export const BENCH_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');

export interface Measured {
  /** Operations (calls of fn) per second. */
  hz: number;
  /** Relative margin of error, percent. */
  rme: number;
}

/** Runs fn under benchmark.js (synchronous body) and returns calls per second. */
export function measure(name: string, fn: () => void, minTime = 1): Measured {
  const bench = new Benchmark(name, fn, { minTime, maxTime: minTime * 4 });
  bench.run({ async: false });
  if (bench.error) throw bench.error;
  return { hz: bench.hz, rme: bench.stats.rme };
}

/**
 * Compiles a C file of bench/c with the system compiler (cached by mtime in a
 * temporary folder) and returns the executable's path.
 */
const compiled = new Map<string, string>();
export function compileC(file: string, flags: string[] = []): string {
  const src = path.join(BENCH_SRC, 'c', file);
  const key = `${src} ${flags.join(' ')}`;
  const hit = compiled.get(key);
  if (hit !== undefined && existsSync(hit) && statSync(hit).mtimeMs >= statSync(src).mtimeMs) return hit;
  const dir = mkdtempSync(path.join(tmpdir(), 'vtep-bench-'));
  const out = path.join(dir, path.basename(file, '.c'));
  execFileSync('cc', ['-O2', '-march=native', '-o', out, src, ...flags], { stdio: 'inherit' });
  compiled.set(key, out);
  return out;
}

/** Counts full and minor garbage collections while `fn` runs. */
export async function countGc<T>(fn: () => Promise<T> | T): Promise<{ result: T; gcs: number }> {
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    const result = await fn();
    // Entries are delivered asynchronously; let the observer drain.
    await new Promise((r) => setImmediate(r));
    return { result, gcs };
  } finally {
    obs.disconnect();
  }
}

/** Formats rows as an aligned text table. */
export function formatRows(suite: string, rows: BenchRow[]): string {
  const lines = rows.map((r) => {
    const v = fmt(r.value);
    const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x ${r.baseline ?? ''}`;
    const rme = r.rme === undefined ? '' : `±${r.rme.toFixed(1)}%`;
    return [`${suite}: ${r.name}`, `${v} ${r.unit}`, rme, ratio, r.note ?? ''];
  });
  const widths = [0, 1, 2, 3].map((c) => Math.max(...lines.map((l) => l[c]!.length)));
  return lines.map((l) => l.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]!) : cell)).join('  ').trimEnd()).join('\n');
}

function fmt(v: number): string {
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)} G`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(2)} k`;
  return v.toFixed(v < 10 ? 3 : 1);
}
