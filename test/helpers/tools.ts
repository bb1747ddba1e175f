/** External tools as test oracles (tshark, editcap), temporary folders, root checks. */
import { spawnSync } from 'node:child_process';

export { tempDir } from '../../src/util/tempdir.js';

const seen = new Map<string, boolean>();
/** True when `cmd --version` runs here. */
export function haveTool(cmd: string): boolean {
  let ok = seen.get(cmd);
  if (ok === undefined) {
    ok = spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
    seen.set(cmd, ok);
  }
  return ok;
}

/** True when tshark runs here (CI installs it); tests print one skip line otherwise. */
export function haveTshark(): boolean {
  return haveTool('tshark');
}

/** Runs a tool and fails loudly with its stderr; returns its stdout. */
export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
