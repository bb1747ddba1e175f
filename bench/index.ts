/**
 * `npm run bench -- [NAME...] [--json]` and `vtep bench`: runs the named suites
 * (all when none is named). Each suite is bench/<name>.ts exporting `suite`.
 */
import { formatRows, type BenchRow, type Suite } from './harness.js';

/** Suite names, in the order `vtep bench` runs them. */
export const SUITES = ['encap', 'segment', 'pipeline', 'cold', 'pcap', 'lpm', 'fdb', 'io', 'srcport', 'e2e', 'latency', 'metrics', 'capture', 'control'] as const;

export const BENCH_HELP = `Usage: vtep bench [NAME...] [--json] [--list]

Runs the benchmark suites (all of them when none is named): ${SUITES.join(', ')}.
Each figure is printed next to a baseline measured in the same run. Suites
marked (root) in --list build network namespaces and are skipped without
root; Ctrl-C stops a run and removes the namespaces it made.
  --list   the suites and what each measures
  --json   one JSON object with every row instead of tables
  --quick  shorter runs (less precise); e2e: --rounds=N, --profile, --tcp (TCP rows only),
           --tunnel-gso (vtep run with underlay.tap and a C prototype too),
           --sock-proto (a C prototype of vtep's own socket path too)
           latency: --rounds=N, --busy-poll=US (the busy-poll variant's budget)
  pipeline --against=DIR  this build against another build's dist/ in one
           process (interleaved rounds, median time ratio; --rounds=N)
Exit status: 0 done, 2 an unknown suite or option.`;

const FLAGS = ['--json', '--list', '--quick', '--profile', '--tcp', '--tunnel-gso', '--sock-proto'];

export async function runBench(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(BENCH_HELP);
    return 0;
  }
  const json = argv.includes('--json');
  const list = argv.includes('--list');
  const badFlag = argv.find((a) => a.startsWith('-') && !FLAGS.includes(a) && !a.startsWith('--rounds=') && !a.startsWith('--against=') && !a.startsWith('--busy-poll='));
  if (badFlag !== undefined) {
    console.error(`vtep bench: unknown option '${badFlag}' (options: ${FLAGS.join(', ')}, --help)`);
    return 2;
  }
  const names = argv.filter((a) => !a.startsWith('-'));
  const unknown = names.filter((n) => !(SUITES as readonly string[]).includes(n));
  const selected = names.length === 0 ? [...SUITES] : names.filter((n) => !unknown.includes(n));
  if (unknown.length > 0) {
    console.error(`vtep bench: unknown suite ${unknown.join(', ')} (suites: ${SUITES.join(', ')})`);
    return 2;
  }
  const results: Record<string, BenchRow[] | { skipped: string }> = {};
  for (const name of selected) {
    let suite: Suite;
    try {
      suite = ((await import(`./${name}.js`)) as { suite: Suite }).suite;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
        if (names.length > 0) console.error(`vtep bench: suite ${name} is not built yet`);
        continue;
      }
      throw err;
    }
    if (list) {
      console.log(`${name.padEnd(8)} ${suite.description}${suite.needsRoot ? ' (root)' : ''}`);
      continue;
    }
    if (suite.needsRoot && process.getuid?.() !== 0) {
      const why = 'needs root and network namespaces';
      results[name] = { skipped: why };
      if (!json) console.log(`${name}: skipped (${why})`);
      continue;
    }
    const rows = await suite.run({
      args: argv,
      json,
      log: (line) => {
        if (!json) console.error(`  ${line}`);
      },
    });
    results[name] = rows;
    if (!json) console.log(formatRows(name, rows));
  }
  if (json && !list) console.log(JSON.stringify({ node: process.version, date: new Date().toISOString(), results }));
  return 0;
}

// Run directly: node dist/bench/index.js NAME...
if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  runBench(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
