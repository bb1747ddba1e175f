/**
 * Writers: pcap (one link type, microsecond or nanosecond magic, either byte
 * order) and pcapng (sections of a Section Header Block, any number of
 * Interface Description Blocks and Enhanced Packet Blocks). Both write to a
 * path, a Writable, or memory (no target; then toBuffer()), and have a
 * synchronous whole-buffer form: pcapToBuffer / pcapngToBuffer.
 *
 * write() copies the packet once, into the current output chunk; it returns
 * false when the stream wants the caller to `await drain()` (the chunks keep
 * being buffered otherwise, as with any Writable).
 */
import { VtepError, checkInt, describe, invalidArg } from '../errors.js';
import {
  BlockType, BYTE_ORDER_MAGIC, Epb, EpbOpt, Idb, IdbOpt, MAX_SNAPLEN, Opt, PcapHeader, PcapMagic, PcapRecord,
  Shb, ShbOpt, TSRESOL_DEFAULT,
} from './format.js';
import type { PacketInit } from './record.js';
import { Sink, type CaptureTarget, type CaptureSinkOptions } from './sink.js';
import { U64, tsScale, unitsFromTime, type TsScale } from './u64.js';

export type { CaptureTarget } from './sink.js';

export interface PcapWriterOptions extends CaptureSinkOptions {
  /** Link type of every record. Default 1 (Ethernet). */
  linkType?: number;
  /** Nanosecond timestamps (magic a1b23c4d). Default false: microseconds. */
  nanos?: boolean;
  /** Longer packets are cut to this many bytes (origLen keeps the length). Default 262144. */
  snaplen?: number;
  /** Write big-endian. Default false (little-endian, as on x86 and ARM). */
  bigEndian?: boolean;
}

export interface PcapngInterfaceOptions {
  /** Default 1 (Ethernet). */
  linkType?: number;
  /** Longer packets are cut to this many bytes; 0 = no limit. Default 262144. */
  snaplen?: number;
  /** if_name */
  name?: string;
  /** if_description */
  description?: string;
  /**
   * if_tsresol byte: n = 10^-n seconds (6 = microseconds, 9 = nanoseconds),
   * 0x80 | n = 2^-n seconds. Default 9.
   */
  tsresol?: number;
  /** if_tsoffset: seconds subtracted from every timestamp before it is written. Default 0. */
  tsoffset?: number;
  /** if_fcslen: FCS bytes at the end of every packet. */
  fcslen?: number;
  /** if_os, if_hardware */
  os?: string;
  hardware?: string;
  comment?: string;
}

export interface PcapngSectionOptions {
  /** Write this section big-endian (newSection; default: the writer's bigEndian option). */
  bigEndian?: boolean;
  /** shb_hardware, shb_os, shb_userappl (default "vtep"), opt_comment. */
  hardware?: string;
  os?: string;
  userappl?: string;
  comment?: string;
}

export interface PcapngWriterOptions extends CaptureSinkOptions, PcapngSectionOptions {
  /** Write big-endian sections. Default false. */
  bigEndian?: boolean;
  /** Interfaces to describe at once (ids 0, 1, ... in this order). */
  interfaces?: PcapngInterfaceOptions[];
}

const U32_MAX = 0xffffffff;

/** Seconds and nanoseconds of now (for writes without a timestamp). */
const NOW = { sec: 0, nsec: 0 };
function now(): void {
  const ms = Date.now();
  NOW.sec = Math.floor(ms / 1000);
  NOW.nsec = (ms - NOW.sec * 1000) * 1e6;
}

/** Validates the (bytes, offset, length) of a write and returns the length. */
function span(bytes: Uint8Array, offset: number, length: number | undefined): number {
  if (!(bytes instanceof Uint8Array)) throw invalidArg('bytes', bytes, 'a Uint8Array');
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) {
    throw invalidArg('offset', offset, `an integer in 0..${bytes.length}`);
  }
  const len = length === undefined ? bytes.length - offset : length;
  if (!Number.isInteger(len) || len < 0 || len > bytes.length - offset) {
    throw invalidArg('length', length, `an integer in 0..${bytes.length - offset} (bytes after offset ${offset})`);
  }
  return len;
}

function checkNsec(tsNsec: number): void {
  if (!Number.isInteger(tsNsec) || tsNsec < 0 || tsNsec > 999999999) throw invalidArg('tsNsec', tsNsec, 'an integer in 0..999999999');
}

function checkOrig(origLen: number, length: number): void {
  if (!Number.isInteger(origLen) || origLen < length || origLen > U32_MAX) {
    throw invalidArg('origLen', origLen, `an integer in ${length}..${U32_MAX} (at least the packet length)`);
  }
}

/** Copies bytes[offset .. offset+len) to out at pos (no view when the whole array is written). */
function copyInto(out: Uint8Array, pos: number, bytes: Uint8Array, offset: number, len: number): void {
  if (offset === 0 && len === bytes.length) out.set(bytes, pos);
  else if (len <= 16) for (let i = 0; i < len; i++) out[pos + i] = bytes[offset + i]!;
  else out.set(bytes.subarray(offset, offset + len), pos);
}

/** What both writers do with their sink: backpressure, size, memory output, close. */
abstract class SinkWriter {
  protected abstract readonly sink: Sink;

  /** Resolves when the stream has room again. */
  drain(): Promise<void> {
    return this.sink.drain();
  }

  /** Bytes written so far, file header included. */
  get bytesWritten(): number {
    return this.sink.flushed + this.sink.used;
  }

  /** The file so far (memory writers only). */
  toBuffer(): Buffer {
    return this.sink.bytes();
  }

  /** Hands what is buffered to the stream now (a live capture read as it arrives). */
  flush(): void {
    this.sink.check();
    this.sink.flush();
  }

  /** Flushes and ends the stream; resolves when it is all written. */
  close(): Promise<void> {
    return this.sink.close();
  }
}

export class PcapWriter extends SinkWriter {
  readonly linkType: number;
  readonly nanos: boolean;
  readonly snaplen: number;
  readonly littleEndian: boolean;
  /** Packets written. */
  packets = 0;
  protected readonly sink: Sink;

  /** Writes to a file path, a Writable, or (no target) memory: see toBuffer(). */
  constructor(target?: CaptureTarget, options: PcapWriterOptions = {}) {
    super();
    this.linkType = checkInt('linkType', options.linkType ?? 1, 0, 0x03ffffff);
    this.nanos = options.nanos === true;
    this.snaplen = checkInt('snaplen', options.snaplen ?? MAX_SNAPLEN, 1, 0x7fffffff);
    this.littleEndian = options.bigEndian !== true;
    this.sink = new Sink(target, options);
    const s = this.sink;
    const p = s.reserve(PcapHeader.LEN);
    const dv = s.dv;
    const le = this.littleEndian;
    dv.setUint32(p + PcapHeader.MAGIC, this.nanos ? PcapMagic.NSEC : PcapMagic.USEC, le);
    dv.setUint16(p + PcapHeader.VERSION_MAJOR, 2, le);
    dv.setUint16(p + PcapHeader.VERSION_MINOR, 4, le);
    dv.setUint32(p + PcapHeader.THISZONE, 0, le);
    dv.setUint32(p + PcapHeader.SIGFIGS, 0, le);
    dv.setUint32(p + PcapHeader.SNAPLEN, this.snaplen, le);
    dv.setUint32(p + PcapHeader.LINKTYPE, this.linkType, le);
    s.used = p + PcapHeader.LEN;
  }

  /**
   * Appends a record of bytes[offset .. offset+length), cut to the snaplen.
   * Time defaults to now; origLen to length. Returns false when the caller
   * should `await drain()` before writing more.
   */
  write(bytes: Uint8Array, offset = 0, length?: number, tsSec?: number, tsNsec = 0, origLen?: number): boolean {
    const s = this.sink;
    s.check();
    const len = span(bytes, offset, length);
    const orig = origLen === undefined ? len : origLen;
    if (orig !== len) checkOrig(orig, len);
    let sec: number;
    let nsec: number;
    if (tsSec === undefined) {
      now();
      sec = NOW.sec;
      nsec = NOW.nsec;
    } else {
      if (!Number.isInteger(tsSec) || tsSec < 0 || tsSec > U32_MAX) throw invalidArg('tsSec', tsSec, `an integer in 0..${U32_MAX} (pcap)`);
      checkNsec(tsNsec);
      sec = tsSec;
      nsec = tsNsec;
    }
    const caplen = len < this.snaplen ? len : this.snaplen;
    const p = s.reserve(PcapRecord.LEN + caplen);
    const dv = s.dv;
    const le = this.littleEndian;
    dv.setUint32(p + PcapRecord.TS_SEC, sec, le);
    dv.setUint32(p + PcapRecord.TS_FRAC, this.nanos ? nsec : Math.floor(nsec / 1000), le);
    dv.setUint32(p + PcapRecord.CAPLEN, caplen, le);
    dv.setUint32(p + PcapRecord.ORIGLEN, orig, le);
    copyInto(s.chunk, p + PcapRecord.LEN, bytes, offset, caplen);
    s.used = p + PcapRecord.LEN + caplen;
    this.packets++;
    return s.ready;
  }

  /** Appends a packet given as a value (see PacketInit). */
  writePacket(pkt: PacketInit): boolean {
    if (pkt === null || typeof pkt !== 'object') throw invalidArg('packet', pkt, 'an object with data');
    return this.write(pkt.data, 0, undefined, pkt.tsSec ?? (pkt.tsNsec === undefined ? undefined : 0), pkt.tsNsec ?? 0, pkt.origLen);
  }

}

/** An interface of a PcapngWriter, prepared for writing. */
interface WriterInterface {
  linkType: number;
  snaplen: number;
  scale: TsScale;
  tsoffset: number;
}

export class PcapngWriter extends SinkWriter {
  /** Byte order of the current section. */
  littleEndian: boolean;
  /** Packets written. */
  packets = 0;
  protected readonly sink: Sink;
  private ifaces: WriterInterface[] = [];
  private sections = 0;

  /** Writes to a file path, a Writable, or (no target) memory: see toBuffer(). */
  constructor(target?: CaptureTarget, options: PcapngWriterOptions = {}) {
    super();
    this.littleEndian = options.bigEndian !== true;
    this.sink = new Sink(target, options);
    this.newSection(options);
    if (options.interfaces !== undefined) {
      if (!Array.isArray(options.interfaces)) throw invalidArg('interfaces', options.interfaces, 'an array');
      for (const i of options.interfaces) this.addInterface(i);
    }
  }

  /** Number of interfaces in the current section. */
  get interfaceCount(): number {
    return this.ifaces.length;
  }

  /**
   * Starts a new section (a new Section Header Block), in its own byte order
   * if `bigEndian` is given: interfaces must be added again. The first section
   * is started by the constructor.
   */
  newSection(options: PcapngSectionOptions = {}): void {
    const s = this.sink;
    s.check();
    if (options.bigEndian !== undefined) this.littleEndian = options.bigEndian !== true;
    const opts: [number, Uint8Array][] = [];
    if (options.comment !== undefined) opts.push([Opt.COMMENT, utf8('comment', options.comment)]);
    if (options.hardware !== undefined) opts.push([ShbOpt.HARDWARE, utf8('hardware', options.hardware)]);
    if (options.os !== undefined) opts.push([ShbOpt.OS, utf8('os', options.os)]);
    opts.push([ShbOpt.USERAPPL, utf8('userappl', options.userappl ?? 'vtep')]);
    const len = Shb.OPTIONS + optionsLength(opts) + 4;
    const p = s.reserve(len);
    const dv = s.dv;
    const le = this.littleEndian;
    dv.setUint32(p, BlockType.SHB, le);
    dv.setUint32(p + 4, len, le);
    dv.setUint32(p + Shb.BYTE_ORDER, BYTE_ORDER_MAGIC, le);
    dv.setUint16(p + Shb.VERSION_MAJOR, 1, le);
    dv.setUint16(p + Shb.VERSION_MINOR, 0, le);
    // Section length unknown (-1).
    dv.setUint32(p + Shb.SECTION_LEN, U32_MAX, le);
    dv.setUint32(p + Shb.SECTION_LEN + 4, U32_MAX, le);
    writeOptions(s.chunk, dv, p + Shb.OPTIONS, opts, le);
    dv.setUint32(p + len - 4, len, le);
    s.used = p + len;
    this.ifaces = [];
    this.sections++;
  }

  /** Describes an interface (an IDB) and returns its id for write(). */
  addInterface(options: PcapngInterfaceOptions = {}): number {
    const s = this.sink;
    s.check();
    if (options === null || typeof options !== 'object') throw invalidArg('interface', options, 'an object');
    const linkType = checkInt('linkType', options.linkType ?? 1, 0, 0xffff);
    const snaplen = checkInt('snaplen', options.snaplen ?? MAX_SNAPLEN, 0, U32_MAX);
    const tsresol = checkInt('tsresol', options.tsresol ?? 9, 0, 255);
    const scale = tsScale(tsresol);
    if (scale === undefined) throw invalidArg('tsresol', tsresol, 'a resolution of 10^-0..10^-19 or 2^-0..2^-63 seconds');
    const tsoffset = checkInt('tsoffset', options.tsoffset ?? 0, -(2 ** 53), 2 ** 53);
    const opts: [number, Uint8Array][] = [];
    if (options.name !== undefined) opts.push([IdbOpt.NAME, utf8('name', options.name)]);
    if (options.description !== undefined) opts.push([IdbOpt.DESCRIPTION, utf8('description', options.description)]);
    if (tsresol !== TSRESOL_DEFAULT) opts.push([IdbOpt.TSRESOL, Uint8Array.of(tsresol)]);
    if (tsoffset !== 0) {
      const b = new Uint8Array(8);
      const v = new DataView(b.buffer);
      const hi = Math.floor(tsoffset / 4294967296);
      const lo = tsoffset - hi * 4294967296;
      v.setInt32(this.littleEndian ? 4 : 0, hi, this.littleEndian);
      v.setUint32(this.littleEndian ? 0 : 4, lo, this.littleEndian);
      opts.push([IdbOpt.TSOFFSET, b]);
    }
    if (options.fcslen !== undefined) opts.push([IdbOpt.FCSLEN, Uint8Array.of(checkInt('fcslen', options.fcslen, 0, 255))]);
    if (options.os !== undefined) opts.push([IdbOpt.OS, utf8('os', options.os)]);
    if (options.hardware !== undefined) opts.push([IdbOpt.HARDWARE, utf8('hardware', options.hardware)]);
    if (options.comment !== undefined) opts.push([Opt.COMMENT, utf8('comment', options.comment)]);
    const len = Idb.OPTIONS + optionsLength(opts) + 4;
    const p = s.reserve(len);
    const dv = s.dv;
    const le = this.littleEndian;
    dv.setUint32(p, BlockType.IDB, le);
    dv.setUint32(p + 4, len, le);
    dv.setUint16(p + Idb.LINKTYPE, linkType, le);
    dv.setUint16(p + Idb.RESERVED, 0, le);
    dv.setUint32(p + Idb.SNAPLEN, snaplen, le);
    writeOptions(s.chunk, dv, p + Idb.OPTIONS, opts, le);
    dv.setUint32(p + len - 4, len, le);
    s.used = p + len;
    this.ifaces.push({ linkType, snaplen, scale, tsoffset });
    return this.ifaces.length - 1;
  }

  /**
   * Appends an Enhanced Packet Block of bytes[offset .. offset+length) on
   * interface `ifId`, cut to the interface's snaplen. Time defaults to now,
   * origLen to length, flags (epb_flags) to none. Returns false when the caller
   * should `await drain()` before writing more.
   */
  write(ifId: number, bytes: Uint8Array, offset = 0, length?: number, tsSec?: number, tsNsec = 0, origLen?: number, flags = 0): boolean {
    return this.epb(ifId, bytes, offset, length, tsSec, tsNsec, origLen, flags, undefined);
  }

  /** Appends a packet given as a value (interfaceId, flags and comments included). */
  writePacket(pkt: PacketInit): boolean {
    if (pkt === null || typeof pkt !== 'object') throw invalidArg('packet', pkt, 'an object with data');
    const tsSec = pkt.tsSec ?? (pkt.tsNsec === undefined ? undefined : 0);
    return this.epb(pkt.interfaceId ?? 0, pkt.data, 0, undefined, tsSec, pkt.tsNsec ?? 0, pkt.origLen, pkt.flags ?? 0, pkt.comments);
  }

  private epb(ifId: number, bytes: Uint8Array, offset: number, length: number | undefined, tsSec: number | undefined,
    tsNsec: number, origLen: number | undefined, flags: number, comments: readonly string[] | undefined): boolean {
    const s = this.sink;
    s.check();
    const ifc = this.ifaces[ifId];
    if (ifc === undefined) {
      throw new VtepError('ERR_INVALID_ARG', `interface: ${describe(ifId)} is not an interface of this section (${this.ifaces.length} added)`);
    }
    const len = span(bytes, offset, length);
    const orig = origLen === undefined ? len : origLen;
    if (orig !== len) checkOrig(orig, len);
    let sec: number;
    let nsec: number;
    if (tsSec === undefined) {
      now();
      sec = NOW.sec;
      nsec = NOW.nsec;
    } else {
      if (!Number.isInteger(tsSec)) throw invalidArg('tsSec', tsSec, 'an integer');
      checkNsec(tsNsec);
      sec = tsSec;
      nsec = tsNsec;
    }
    const sc = ifc.scale;
    if (!unitsFromTime(sec - ifc.tsoffset, nsec, sc.kind, sc.n, sc.div, sc.mul)) {
      throw invalidArg('tsSec', tsSec, `a time that fits 64 bits at if_tsresol ${sc.tsresol} after if_tsoffset ${ifc.tsoffset}`);
    }
    const tsHi = U64.hi;
    const tsLo = U64.lo;
    const caplen = len < ifc.snaplen || ifc.snaplen === 0 ? len : ifc.snaplen;
    const padded = (caplen + 3) & ~3;
    let optLen = 0;
    let encoded: Uint8Array[] | undefined;
    if (flags !== 0) {
      if (!Number.isInteger(flags) || flags < 0 || flags > U32_MAX) throw invalidArg('flags', flags, `an integer in 0..${U32_MAX}`);
      optLen += 8;
    }
    if (comments !== undefined && comments.length > 0) {
      if (!Array.isArray(comments)) throw invalidArg('comments', comments, 'an array of strings');
      encoded = comments.map((c, i) => utf8(`comments[${i}]`, c));
      for (const e of encoded) optLen += 4 + ((e.length + 3) & ~3);
    }
    if (optLen !== 0) optLen += 4;
    const total = Epb.DATA + padded + optLen + 4;
    const p = s.reserve(total);
    const dv = s.dv;
    const le = this.littleEndian;
    dv.setUint32(p, BlockType.EPB, le);
    dv.setUint32(p + 4, total, le);
    dv.setUint32(p + Epb.INTERFACE_ID, ifId, le);
    dv.setUint32(p + Epb.TS_HIGH, tsHi, le);
    dv.setUint32(p + Epb.TS_LOW, tsLo, le);
    dv.setUint32(p + Epb.CAPLEN, caplen, le);
    dv.setUint32(p + Epb.ORIGLEN, orig, le);
    const out = s.chunk;
    copyInto(out, p + Epb.DATA, bytes, offset, caplen);
    // Zero the padding: files must not leak old chunk bytes.
    for (let i = p + Epb.DATA + caplen; i < p + Epb.DATA + padded; i++) out[i] = 0;
    if (optLen !== 0) {
      let q = p + Epb.DATA + padded;
      if (encoded !== undefined) {
        for (const e of encoded) q = writeOption(out, dv, q, Opt.COMMENT, e, le);
      }
      if (flags !== 0) {
        dv.setUint16(q, EpbOpt.FLAGS, le);
        dv.setUint16(q + 2, 4, le);
        dv.setUint32(q + 4, flags, le);
        q += 8;
      }
      dv.setUint32(q, 0, le);
    }
    dv.setUint32(p + total - 4, total, le);
    s.used = p + total;
    this.packets++;
    return s.ready;
  }

}

/** A whole pcap file in memory from packet values. */
export function pcapToBuffer(packets: Iterable<PacketInit>, options: Omit<PcapWriterOptions, keyof CaptureSinkOptions> = {}): Buffer {
  const w = new PcapWriter(undefined, options);
  for (const p of packets) w.writePacket(p);
  return w.toBuffer();
}

/**
 * A whole pcapng file in memory from packet values. Interfaces come from
 * `options.interfaces` (default: one Ethernet interface, nanosecond resolution);
 * packets pick one by interfaceId.
 */
export function pcapngToBuffer(packets: Iterable<PacketInit>, options: Omit<PcapngWriterOptions, keyof CaptureSinkOptions> = {}): Buffer {
  const w = new PcapngWriter(undefined, { ...options, interfaces: options.interfaces ?? [{}] });
  for (const p of packets) w.writePacket(p);
  return w.toBuffer();
}

const ENCODER = new TextEncoder();

function utf8(field: string, value: unknown): Uint8Array {
  if (typeof value !== 'string') throw invalidArg(field, value, 'a string');
  const b = ENCODER.encode(value);
  if (b.length > 0xffff) throw invalidArg(field, `${value.slice(0, 20)}...`, 'at most 65535 bytes of UTF-8');
  return b;
}

/** Bytes of these options plus opt_endofopt (0 when there are none). */
function optionsLength(opts: readonly [number, Uint8Array][]): number {
  if (opts.length === 0) return 0;
  let n = 4;
  for (const [, v] of opts) n += 4 + ((v.length + 3) & ~3);
  return n;
}

function writeOptions(out: Uint8Array, dv: DataView, p: number, opts: readonly [number, Uint8Array][], le: boolean): number {
  if (opts.length === 0) return p;
  for (const [code, v] of opts) p = writeOption(out, dv, p, code, v, le);
  dv.setUint32(p, 0, le);
  return p + 4;
}

function writeOption(out: Uint8Array, dv: DataView, p: number, code: number, v: Uint8Array, le: boolean): number {
  dv.setUint16(p, code, le);
  dv.setUint16(p + 2, v.length, le);
  out.set(v, p + 4);
  const end = p + 4 + ((v.length + 3) & ~3);
  for (let i = p + 4 + v.length; i < end; i++) out[i] = 0;
  return end;
}
