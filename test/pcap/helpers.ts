/** Shared pieces of the pcap tests: fixture paths, hex, tshark as an oracle. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/io/native.js';

/** The repository root (tests run from dist/test/pcap). */
export const ROOT = PACKAGE_ROOT;
export { FIXTURES } from '../helpers/fixtures.js';
export { tempDir, haveTshark, needTool, run } from '../helpers/tools.js';
export { toHex } from '../../src/wire/bytes.js';
export const PCAP_FIXTURES = path.join(ROOT, 'test', 'pcap', 'fixtures');

/** Bytes from hex; whitespace and comments after '#' on each line are ignored. */
export function hex(text: string): Uint8Array {
  const clean = text.split('\n').map((l) => l.replace(/#.*$/, '')).join('').replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex: ${clean}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** One packet as tshark sees it. */
export interface TsharkFrame {
  section: number;
  interfaceId: number | undefined;
  /** "sec.nnnnnnnnn" as tshark prints it, or '' without a timestamp. */
  time: string;
  len: number;
  caplen: number;
  comments: string[];
  flags: number;
  protocols: string;
  hex: string;
}

const SEP = '\u0001';

/** Every record tshark shows for a file (custom blocks too: they have no interface id). */
export function tsharkFrames(file: string): TsharkFrame[] {
  const env = { ...process.env, LC_ALL: 'C' };
  const fields = ['frame.section_number', 'frame.interface_id', 'frame.time_epoch', 'frame.len', 'frame.cap_len',
    'frame.comment', 'frame.packet_flags', 'frame.protocols'];
  const args = ['-r', file, '-T', 'fields', '-E', `separator=${SEP}`, '-E', 'aggregator=|', '-E', 'occurrence=a'];
  for (const f of fields) args.push('-e', f);
  const text = execFileSync('tshark', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
  const json = execFileSync('tshark', ['-r', file, '-T', 'json', '-x', '-j', 'frame'],
    { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
  const raw = (JSON.parse(json) as { _source: { layers: { frame_raw?: [string] } } }[]).map((p) => p._source.layers.frame_raw?.[0] ?? '');
  const lines = text.split('\n').filter((l) => l.length > 0);
  return lines.map((l, i) => {
    const [sec, ifid, time, len, caplen, comment, flags, protocols] = l.split(SEP);
    // pcap files have no sections or interfaces in tshark's view: section 0, interface 0.
    const pcap = sec === undefined || sec === '';
    return {
      section: pcap ? 0 : Number(sec) - 1,
      interfaceId: pcap ? 0 : ifid === undefined || ifid === '' ? undefined : Number(ifid),
      time: time ?? '',
      len: Number(len),
      caplen: Number(caplen),
      comments: comment === undefined || comment === '' ? [] : comment.split('|'),
      flags: flags === undefined || flags === '' ? 0 : Number(flags),
      protocols: protocols ?? '',
      hex: raw[i] ?? '',
    };
  });
}

/** "sec.nnnnnnnnn" from two numbers, as tshark prints frame.time_epoch. */
export function epoch(sec: number, nsec: number): string {
  return `${sec}.${String(nsec).padStart(9, '0')}`;
}

/** Deep-compares two lists of frames and names the first difference on one line each. */
export function sameFrames(actual: readonly TsharkFrame[], expected: readonly TsharkFrame[], label = ''): void {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = JSON.stringify(actual[i]);
    const e = JSON.stringify(expected[i]);
    if (a !== e) throw new Error(`${label} frame ${i} of ${actual.length}/${expected.length} differs:\n  got  ${a}\n  want ${e}`);
  }
}
