/**
 * Random input through decapsulation: 1,000,000 seeded inputs (random bytes
 * and mutations of the fixture packets and of our own encapsulations) through
 * every entry point. Nothing may throw, a delivered payload must lie inside
 * the packet, and nothing may be read outside the packet:
 * - every input is decapsulated twice with different guard bytes around it
 *   (before and after): any read outside would change some result;
 * - a sample runs over a Proxy that throws on any index outside the packet.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decapsulator } from '../../src/index.js';
import { toHex } from '../../src/wire/bytes.js';
import { fixtureJson, type DecapFixture } from '../helpers/fixtures.js';
import { DecapFuzzer, FUZZ_SEED, INTERESTING16, fuzzSeeds, reproducer } from '../helpers/fuzz.js';
import { rng } from '../../src/util/rng.js';

// `npm run fuzz -- N` runs the same fuzzer for any count (test/scripts/fuzz.ts).
const INPUTS = 1_000_000;
const PROXY_SAMPLE = 20_000;

test(`${INPUTS.toLocaleString('en')} random and mutated inputs: no throw, no over-read, payload inside the packet`, () => {
  const f = new DecapFuzzer(FUZZ_SEED);
  for (let n = 0; n < INPUTS; n++) {
    const failure = f.input(n);
    if (failure !== undefined) assert.unreachable(reproducer(failure));
  }
  // The mutations must reach deep: a fair share still decapsulates.
  assert.ok(f.delivered > INPUTS / 20, `${f.delivered} delivered`);
  assert.is(f.calls, INPUTS * 2, 'every call counted once');
});

/** A Uint8Array stand-in that throws on any index outside [lo, hi). */
function fence(u8: Uint8Array, lo: number, hi: number): Uint8Array {
  return new Proxy(u8, {
    get(target, prop) {
      if (typeof prop === 'string') {
        const c = prop.charCodeAt(0);
        if (c >= 48 && c <= 57) {
          const i = Number(prop);
          if (i < lo || i >= hi) throw new RangeError(`read at ${i} outside ${lo}..${hi}`);
          return target[i];
        }
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

test(`${PROXY_SAMPLE.toLocaleString('en')} mutated inputs on a fence that throws on any read outside the packet`, () => {
  const D = fixtureJson<DecapFixture>('decap.json');
  const d = new Decapsulator(D.config);
  const pool = fuzzSeeds();
  const r = rng(7);
  for (let n = 0; n < PROXY_SAMPLE; n++) {
    const s = pool[r() % pool.length]!;
    const buf = new Uint8Array(s.length + 64);
    buf.set(s, 32);
    let len = s.length;
    const at = 32 + (r() % s.length);
    if (r() & 1) buf[at] = r();
    else len = r() % (len + 1);
    if (r() % 3 === 0) {
      const v = INTERESTING16[r() % INTERESTING16.length]!;
      const o = 32 + ((r() % Math.max(1, len - 1)) & ~1);
      buf[o] = v >>> 8;
      buf[o + 1] = v;
    }
    const f = fence(buf, 32, 32 + len);
    try {
      d.frame(f, 32, len);
      d.ip(f, 32 + 14, Math.max(0, len - 14));
    } catch (err) {
      assert.unreachable(`input ${n}: ${String(err)}: ${toHex(buf, 32, len)}`);
    }
  }
});

test.run();
