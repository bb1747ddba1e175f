/** Temporary folders for tests, benchmarks and demos. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(tag = 'test'): { dir: string; done: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `vtep-${tag}-${process.pid}-`));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}
