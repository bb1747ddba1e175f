/**
 * `npm run fuzz -- [N] [--seed S] [--input I]`: the decapsulation fuzzer of
 * test/tunnel/fuzz.test.ts (test/helpers/fuzz.ts) for N inputs (default
 * 10,000,000), with a progress line every 10 s, the rate in inputs/s, and every
 * failure with the command that replays it. `--input I` runs input I alone.
 * Exit status 1 when any input failed. Not on the `npm test` path.
 */
import { parseArgs } from 'node:util';
import { DecapFuzzer, FUZZ_SEED, reproducer } from '../helpers/fuzz.js';

function main(): number {
  const { values, positionals } = parseArgs({
    options: { seed: { type: 'string' }, input: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help === true) {
    console.log('usage: npm run fuzz -- [N] [--seed S] [--input I]');
    return 0;
  }
  const count = positionals[0] === undefined ? 10_000_000 : Number(positionals[0].replace(/_/g, ''));
  const seed = values.seed === undefined ? FUZZ_SEED : Number(values.seed);
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    console.error('fuzz: N must be a positive integer and --seed an integer in 0..4294967295');
    return 2;
  }
  const f = new DecapFuzzer(seed);
  if (values.input !== undefined) {
    const n = Number(values.input);
    const failure = f.input(n);
    console.log(failure === undefined ? `input ${n} (seed ${seed}): ok` : reproducer(failure));
    return failure === undefined ? 0 : 1;
  }
  let failures = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let lastReport = t0;
  for (let n = 0; n < count; n++) {
    const failure = f.input(n);
    if (failure !== undefined) {
      failures++;
      if (failures <= 20) console.log(`FAIL ${reproducer(failure)}`);
    }
    if ((n & 0xffff) === 0xffff) {
      const now = performance.now();
      if (now - lastReport >= 10_000) {
        lastReport = now;
        console.log(`  ${(n + 1).toLocaleString('en')} inputs, ${Math.round(((n + 1) * 1000) / (now - t0)).toLocaleString('en')} inputs/s`);
      }
    }
  }
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  const cpu = (c.user + c.system) / 1e6;
  // The machine may be shared: the rate per CPU second is the one to compare.
  console.log(
    `fuzz: ${count.toLocaleString('en')} inputs (seed ${seed}) in ${s.toFixed(1)} s (${cpu.toFixed(1)} s CPU), ` +
      `${Math.round(count / s).toLocaleString('en')} inputs/s, ${Math.round(count / cpu).toLocaleString('en')} per CPU second; ` +
      `${f.delivered.toLocaleString('en')} delivered; ${failures} failed`,
  );
  return failures === 0 ? 0 : 1;
}

process.exitCode = main();
