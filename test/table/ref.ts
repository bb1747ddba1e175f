/**
 * Reference longest-prefix matches for the tests: a linear scan over a prefix
 * list (obviously right, for small tables) and a one-bit-per-level binary trie
 * (simple enough to trust, fast enough for the real tables). Keys are four
 * words; IPv4 uses word 0 and width 32.
 */

function bit(w: ArrayLike<number>, off: number, i: number): number {
  return (w[off + (i >>> 5)]! >>> (31 - (i & 31))) & 1;
}

/** True when the first len bits of a and b are equal. */
export function samePrefix(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, len: number): boolean {
  for (let i = 0; i < 4 && len > 0; i++, len -= 32) {
    const mask = len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
    if (((a[ao + i]! ^ b[bo + i]!) & mask) !== 0) return false;
  }
  return true;
}

export class NaiveLpm {
  /** key -> [words, len, value]; key is "w0,w1,w2,w3/len". */
  readonly entries = new Map<string, { words: Uint32Array; len: number; value: number }>();

  static key(words: ArrayLike<number>, len: number): string {
    return `${words[0]},${words[1] ?? 0},${words[2] ?? 0},${words[3] ?? 0}/${len}`;
  }

  set(words: ArrayLike<number>, len: number, value: number): void {
    const w = new Uint32Array(4);
    for (let i = 0; i < Math.min(4, words.length); i++) w[i] = words[i]!;
    this.entries.set(NaiveLpm.key(w, len), { words: w, len, value });
  }

  delete(words: ArrayLike<number>, len: number): boolean {
    const w = [words[0] ?? 0, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0];
    return this.entries.delete(NaiveLpm.key(w, len));
  }

  lookup(words: ArrayLike<number>, off = 0): number {
    let best = -1;
    let bestLen = -1;
    for (const e of this.entries.values()) {
      if (e.len > bestLen && samePrefix(e.words, 0, words, off, e.len)) {
        best = e.value;
        bestLen = e.len;
      }
    }
    return best;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Binary trie over typed arrays: child[2n], child[2n+1]; value per node (-1 none). */
export class BitTrie {
  private child = new Int32Array(2 * 1024);
  private value = new Int32Array(1024).fill(-1);
  private count = 1;

  insert(words: ArrayLike<number>, off: number, len: number, v: number): void {
    let n = 0;
    for (let i = 0; i < len; i++) {
      const b = bit(words, off, i);
      let c = this.child[2 * n + b]!;
      if (c === 0) {
        c = this.count++;
        if (c >= this.value.length) {
          const ch = new Int32Array(this.child.length * 2);
          ch.set(this.child);
          this.child = ch;
          const va = new Int32Array(this.value.length * 2).fill(-1);
          va.set(this.value);
          this.value = va;
        }
        this.child[2 * n + b] = c;
      }
      n = c;
    }
    this.value[n] = v;
  }

  lookup(words: ArrayLike<number>, off: number, width: number): number {
    let n = 0;
    let best = this.value[0]!;
    for (let i = 0; i < width; i++) {
      n = this.child[2 * n + bit(words, off, i)]!;
      if (n === 0) break;
      const v = this.value[n]!;
      if (v !== -1) best = v;
    }
    return best;
  }
}
