/**
 * Errors for misuse and bad configuration. Bad packets never throw: they are
 * dropped and counted under a named reason (see src/tunnel/reasons.ts).
 *
 * `code` is stable and meant for programs; `message` names the field and the
 * value so that a person can fix the input.
 */
export type VtepErrorCode =
  | 'ERR_INVALID_ARG' // a value of the wrong type, range or form
  | 'ERR_INVALID_CONFIG' // a configuration file or object that does not hold together
  | 'ERR_POOL_EXHAUSTED' // no free packet slot
  | 'ERR_NO_HEADROOM' // a packet has too little headroom for the header to prepend
  | 'ERR_NATIVE' // a system call failed (errno in `errno`)
  | 'ERR_CLOSED' // use after close()
  | 'ERR_NOT_FOUND' // a named thing (port, VRF, bridge, route) does not exist
  | 'ERR_EXISTS' // a named thing already exists
  | 'ERR_LIMIT' // a table or resource limit was reached
  | 'ERR_PCAP_FORMAT' // a capture file that is not pcap/pcapng or is corrupt
  | 'ERR_UNSUPPORTED'; // a valid request this build cannot serve

export class VtepError extends Error {
  override readonly name = 'VtepError';
  readonly code: VtepErrorCode;
  /** errno name for ERR_NATIVE, e.g. 'ENXIO'. */
  readonly errno: string | undefined;

  constructor(code: VtepErrorCode, message: string, options?: { cause?: unknown; errno?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = options?.errno;
  }
}

/** Throws ERR_INVALID_ARG naming `field` and `value` unless `ok`. */
export function check(ok: boolean, field: string, value: unknown, expected: string): asserts ok {
  if (!ok) throw invalidArg(field, value, expected);
}

export function invalidArg(field: string, value: unknown, expected: string): VtepError {
  return new VtepError('ERR_INVALID_ARG', `${field}: ${describe(value)} is not ${expected}`);
}

export function invalidConfig(field: string, value: unknown, expected: string): VtepError {
  return new VtepError('ERR_INVALID_CONFIG', `${field}: ${describe(value)} is not ${expected}`);
}

/** Short printable form of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || value === null || typeof value !== 'object') return String(value);
  try {
    const s = JSON.stringify(value);
    return s.length > 80 ? s.slice(0, 77) + '...' : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Integer in [min, max] or throw ERR_INVALID_ARG. */
export function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArg(field, value, `an integer in ${min}..${max}`);
  }
  return value;
}
