/** What the subcommands share: usage errors (one line, exit 2), option parsing, output. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VtepError, shortText } from '../errors.js';

/** Exit codes: 0 done, 1 failed at run time (unreadable or corrupt input), 2 bad usage or config. */
export const Exit = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** A usage or configuration error: main() prints its message as one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An input that cannot be read (a missing file, no permission): one line, exit 1. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** util.parseArgs in strict mode, its errors turned into one-line UsageErrors. */
export function parse<O extends Options>(cmd: string, args: string[], options: O): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals };
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(`vtep ${cmd}: ${msg}`);
  }
}

/** An integer option in [min, max], or `dflt` when absent. */
export function intOpt(cmd: string, name: string, v: unknown, min: number, max: number, dflt?: number): number | undefined {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`vtep ${cmd}: --${name} ${shortText(String(v))} is not an integer in ${min}..${max}`);
  return n;
}

export function strOpt(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Runs a subcommand body, mapping errors to exit codes and one-line messages. */
export async function guard(cmd: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      return Exit.USAGE;
    }
    if (err instanceof InputError) {
      console.error(err.message);
      return Exit.FAILED;
    }
    if (err instanceof VtepError) {
      const usage = err.code === 'ERR_INVALID_ARG' || err.code === 'ERR_INVALID_CONFIG';
      console.error(`vtep ${cmd}: ${err.message}`);
      return usage ? Exit.USAGE : Exit.FAILED;
    }
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.code === 'string' && e.code.startsWith('E') && e.message) {
      console.error(`vtep ${cmd}: ${e.message}`);
      return Exit.FAILED;
    }
    throw err;
  }
}

/** Writes a line to stdout, waiting when the pipe is full (large --json outputs). */
export async function out(line: string): Promise<void> {
  if (!process.stdout.write(line + '\n')) await new Promise<void>((r) => process.stdout.once('drain', r));
}
