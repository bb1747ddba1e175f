/**
 * The real routing tables of test/data (see its README) as typed arrays, and
 * seeded lookup keys. Shared by the table tests and bench/lpm.ts.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/io/native.js';
import { parseCidr } from '../src/util/addr.js';
import { rng } from '../src/util/rng.js';
export { rng } from '../src/util/rng.js';

export const DATA_DIR = path.join(PACKAGE_ROOT, 'test', 'data');

export interface Table4 {
  count: number;
  addresses: Uint32Array;
  lengths: Uint8Array;
}

export interface Table6 {
  count: number;
  /** Four words per prefix. */
  words: Uint32Array;
  lengths: Uint8Array;
}

function lines(file: string): string[] {
  const text = gunzipSync(readFileSync(path.join(DATA_DIR, file))).toString('latin1');
  return text.split('\n').filter((l) => l.length > 0);
}

/** bgp-ipv4-2023.txt.gz: 901,899 prefixes. Parsed by hand: the file is canonical. */
export function loadTable4(): Table4 {
  const all = lines('bgp-ipv4-2023.txt.gz');
  const addresses = new Uint32Array(all.length);
  const lengths = new Uint8Array(all.length);
  for (let i = 0; i < all.length; i++) {
    const line = all[i]!;
    let a = 0;
    let part = 0;
    let k = 0;
    for (; k < line.length; k++) {
      const ch = line.charCodeAt(k);
      if (ch === 46 /* . */) {
        a = (a << 8) | part;
        part = 0;
      } else if (ch === 47 /* / */) break;
      else part = part * 10 + (ch - 48);
    }
    addresses[i] = ((a << 8) | part) >>> 0;
    lengths[i] = Number(line.slice(k + 1));
  }
  return { count: all.length, addresses, lengths };
}

/** bgp-ipv6-2023.txt.gz: 160,147 prefixes. */
export function loadTable6(): Table6 {
  const all = lines('bgp-ipv6-2023.txt.gz');
  const words = new Uint32Array(4 * all.length);
  const lengths = new Uint8Array(all.length);
  for (let i = 0; i < all.length; i++) {
    const c = parseCidr(all[i]!);
    words.set(c.words, 4 * i);
    lengths[i] = c.length;
  }
  return { count: all.length, words, lengths };
}


/** n uniformly random IPv4 addresses. */
export function randomKeys4(n: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = r();
  return out;
}

/** n addresses inside random prefixes of the table (random host bits). */
export function inTableKeys4(t: Table4, n: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const p = r() % t.count;
    const len = t.lengths[p]!;
    out[i] = (t.addresses[p]! | (len === 32 ? 0 : r() >>> len)) >>> 0;
  }
  return out;
}

export function randomKeys6(n: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(4 * n);
  for (let i = 0; i < 4 * n; i++) out[i] = r();
  return out;
}

export function inTableKeys6(t: Table6, n: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const p = r() % t.count;
    const len = t.lengths[p]!;
    for (let w = 0; w < 4; w++) {
      const keep = Math.max(0, Math.min(32, len - 32 * w));
      const host = keep === 32 ? 0 : 0xffffffff >>> keep;
      out[4 * i + w] = (t.words[4 * p + w]! | (r() & host)) >>> 0;
    }
  }
  return out;
}
