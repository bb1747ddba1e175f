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

/** The Debian package of each outside tool a test may use. */
export const TOOL_PACKAGES = { tshark: 'tshark' } as const;

/**
 * For test files: true when `tool` runs here; otherwise prints the one line
 * `skip: <what> needs <tool> (Debian package <pkg>)` and returns false, so
 * that the caller registers no test for it.
 */
export function needTool(tool: keyof typeof TOOL_PACKAGES, what: string): boolean {
  if (haveTool(tool)) return true;
  console.log(`skip: ${what} needs ${tool} (Debian package ${TOOL_PACKAGES[tool]})`);
  return false;
}

/** Runs a tool and fails loudly with its stderr; returns its stdout. */
export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
