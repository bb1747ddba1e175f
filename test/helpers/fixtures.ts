/** The scapy-built fixtures of test/fixtures (copied from the project's shared fixtures). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/io/native.js';

export const FIXTURES = path.join(PACKAGE_ROOT, 'test', 'fixtures');

export function fixture(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, name));
}

export function fixtureJson<T = any>(name: string): T {
  return JSON.parse(fixture(name).toString('utf8')) as T;
}

/** Frames of a little-endian microsecond pcap (the fixtures' format). */
export function pcapFrames(name: string): Uint8Array[] {
  const d = fixture(name);
  const out: Uint8Array[] = [];
  for (let off = 24; off + 16 <= d.length; ) {
    const cl = d.readUInt32LE(off + 8);
    out.push(new Uint8Array(d.subarray(off + 16, off + 16 + cl)));
    off += 16 + cl;
  }
  return out;
}

export interface EncapSet {
  params: { name: string; proto: 'vxlan' | 'gre' | 'mplsoudp' | 'mplsogre'; vni?: number; key?: number; label?: number; underlay: 'ipv4' | 'ipv6' };
  expected: { frame: string; hex: string; masks: { offset: number; length: number; rule: string }[] }[];
}
export interface EncapFixture {
  local4: string; remote4: string; local6: string; remote6: string; ttl: number; srcMac: string; dstMac: string;
  sets: EncapSet[];
}
export interface DecapCase { i: number; name: string; verdict: 'deliver' | 'drop'; proto?: string; id?: number; inner?: string; reason?: string | null }
export interface DecapFixture { config: any; cases: DecapCase[] }

/** offload.json (test/fixtures/gen_offload.py): segmentation, coalescing and checksum cases. */
export interface SegmentCase { name: string; gsoSize: number; proto: 'tcp' | 'udp'; frame: string; segments: string[]; partialCsum: number[] }
export interface GroOutput { segs: number; frame: string; gsoType?: number; gsoSize?: number; csumStart?: number; hdrLen?: number }
export interface GroCase { name: string; why: string; frames: string[]; groups: number[][]; outputs: GroOutput[] }
export interface CsumCase { name: string; frame: string; status: number; expected: string }
export interface OffloadFixture { segment: SegmentCase[]; coalesce: GroCase[]; csum: CsumCase[] }
