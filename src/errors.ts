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

/** Characters of a value an error message shows at most (then an ellipsis and the full size). */
export const ECHO_LIMIT = 60;

/**
 * Short printable form of a value for error messages: JSON-like, at most
 * ECHO_LIMIT characters of it, then "…" and the size of the whole (string
 * length, array length). Never serialises more of the value than it shows, so
 * a 50 MB string or a million-element array costs nothing to describe.
 */
export function describe(value: unknown): string {
  const s = preview(value, ECHO_LIMIT + 1, 0);
  if (s.length <= ECHO_LIMIT) return s;
  const cut = s.slice(0, ECHO_LIMIT) + '…';
  if (typeof value === 'string') return `${cut} (${value.length} characters)`;
  if (Array.isArray(value)) return `${cut} (${value.length} items)`;
  if (ArrayBuffer.isView(value)) return `${cut} (${value.byteLength} bytes)`;
  return cut;
}

/** A name as written (a config key, a port name) cut like describe() cuts values, without quotes when short. */
export function shortText(text: string): string {
  return text.length <= ECHO_LIMIT ? text : `${text.slice(0, ECHO_LIMIT)}… (${text.length} characters)`;
}

/** JSON-like text of `v`, stopping soon after `budget` characters. */
function preview(v: unknown, budget: number, depth: number): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > budget ? v.slice(0, budget) : v);
    case 'bigint':
      return `${v}n`;
    case 'function':
      return `[function ${shortText(v.name || 'anonymous')}]`;
    case 'symbol':
      return shortText(v.toString());
    case 'object':
      break;
    default:
      return String(v);
  }
  if (v === null) return 'null';
  if (depth > 4) return Array.isArray(v) ? '[…]' : '{…}';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.byteLength} bytes)`;
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length && out.length <= budget; i++) out += (i > 0 ? ',' : '') + preview(v[i], budget - out.length, depth + 1);
    return out + ']';
  }
  let proto: unknown;
  try {
    proto = Object.getPrototypeOf(v);
  } catch {
    return '[object]';
  }
  if (proto !== Object.prototype && proto !== null) {
    const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
    return `[${typeof name === 'string' && name !== '' ? shortText(name) : 'object'}]`;
  }
  let out = '{';
  let first = true;
  for (const k in v as Record<string, unknown>) {
    if (out.length > budget) break;
    let item: unknown;
    try {
      item = (v as Record<string, unknown>)[k];
    } catch {
      item = '[getter threw]';
    }
    if (item === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k.length > budget ? k.slice(0, budget) : k) + ':' + preview(item, budget - out.length, depth + 1);
    first = false;
  }
  return out + '}';
}

/** Integer in [min, max] or throw ERR_INVALID_ARG. */
export function checkInt(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArg(field, value, `an integer in ${min}..${max}`);
  }
  return value;
}
