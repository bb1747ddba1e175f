/**
 * The capture parser: a state machine over a window buf[pos .. end) of the
 * file, shared by the whole-buffer reader and the streaming reader. Each step
 * consumes one file header, record or block (or part of a block being skipped)
 * and says what it did; it never reads outside [pos, end) and never allocates
 * per packet. Corrupt input throws ERR_PCAP_FORMAT naming the file offset; a
 * file that ends inside a record or block is "truncated": an error, or with
 * `lenient` a clean end.
 */
import { VtepError, checkInt } from '../errors.js';
import {
  Block, BlockType, BYTE_ORDER_MAGIC, Epb, Idb, IdbOpt, MAX_SNAPLEN, Opt, PCAP_LINKTYPE_MASK, Pb,
  PcapHeader, PcapMagic, PcapRecord, Shb, ShbOpt, Spb, EpbOpt,
} from './format.js';
import { CaptureInterface, CaptureRecord, UTF8, type CaptureFormat } from './record.js';
import { TS, timeFromUnits, tsScale } from './u64.js';

export interface CaptureReadOptions {
  /** Stop cleanly (no error) when the file ends inside a record or block. Default false. */
  lenient?: boolean;
  /**
   * Largest captured length accepted, in bytes; larger is a format error. Blocks
   * that must be parsed (SHB, IDB, packet blocks) may be at most this plus 64 KiB
   * of headers and options. Other blocks of any length are skipped without being
   * buffered. Default 262144 (libpcap's MAXIMUM_SNAPLEN).
   */
  maxPacket?: number;
  /** Most interfaces one pcapng section may describe. Default 65536. */
  maxInterfaces?: number;
  /**
   * Accept records longer than the snaplen their header or interface declares
   * (Wireshark does; some writers put a wrong snaplen). Default false: a format
   * error. maxPacket still applies.
   */
  ignoreSnaplen?: boolean;
}

/** What step() did. */
export const Step = {
  /** Needs more bytes than the window holds (streaming only). */
  NEED: 0,
  /** Filled the record; `used` bytes consumed. */
  RECORD: 1,
  /** Consumed `used` bytes of something that is not a packet. */
  BLOCK: 2,
  /** End of the capture (clean, or a truncated tail in lenient mode). */
  END: 3,
} as const;

/** Room for headers and options around the largest packet in a parsed block. */
export const BLOCK_SLACK = 65536;

/** One pcapng section (pcap files have one implicit section). */
export class CaptureSection {
  index = 0;
  littleEndian = true;
  versionMajor = 0;
  versionMinor = 0;
  hardware: string | undefined = undefined;
  os: string | undefined = undefined;
  userappl: string | undefined = undefined;
  comments: string[] = [];
}

const FMT_UNKNOWN = 0;
const FMT_PCAP = 1;
const FMT_PCAPNG = 2;

export class CaptureParser {
  readonly rec = new CaptureRecord();
  /** Interfaces of the current section (pcap: the one from the file header). */
  interfaces: CaptureInterface[] = [];
  section = new CaptureSection();
  /** Bytes consumed by the last step. */
  used = 0;
  /** After NEED: bytes wanted from pos. */
  need = 0;
  /** File offset where a truncated tail starts (lenient mode), or -1. */
  truncatedAt = -1;
  readonly lenient: boolean;
  readonly maxPacket: number;
  readonly maxBlock: number;
  readonly maxInterfaces: number;
  readonly ignoreSnaplen: boolean;

  private fmt = FMT_UNKNOWN;
  private le = true;
  private pcapRecLen: number = PcapRecord.LEN;
  private pcapFracMul = 1000;
  private sectionCount = 0;
  private index = 0;
  /** Skipping a long block: bytes still to drop before its trailing length. */
  private skipLeft = 0;
  /** > 0 while a skipped block's trailing length is still to be checked. */
  private skipLen = 0;
  private skipAt = 0;
  private skipType = 0;
  private ended = false;

  constructor(options: CaptureReadOptions = {}) {
    this.lenient = options.lenient === true;
    this.maxPacket = checkInt('maxPacket', options.maxPacket ?? MAX_SNAPLEN, 1, 1 << 30);
    this.maxBlock = this.maxPacket + BLOCK_SLACK;
    this.maxInterfaces = checkInt('maxInterfaces', options.maxInterfaces ?? 65536, 1, 1 << 24);
    this.ignoreSnaplen = options.ignoreSnaplen === true;
  }

  get format(): CaptureFormat | undefined {
    return this.fmt === FMT_PCAP ? 'pcap' : this.fmt === FMT_PCAPNG ? 'pcapng' : undefined;
  }

  /** True once the file header (pcap) or first SHB (pcapng) has been read. */
  get started(): boolean {
    return this.fmt !== FMT_UNKNOWN;
  }

  /**
   * One step over buf[pos .. end); `base` is the file offset of buf[0] and `eof`
   * says that no byte follows `end`.
   */
  step(buf: Uint8Array, dv: DataView, pos: number, end: number, base: number, eof: boolean): number {
    if (this.ended) return Step.END;
    if (this.fmt === FMT_PCAP) return this.stepPcap(buf, dv, pos, end, base, eof);
    if (this.fmt === FMT_PCAPNG) return this.stepPcapng(buf, dv, pos, end, base, eof);
    return this.stepStart(buf, dv, pos, end, base, eof);
  }

  private stepStart(buf: Uint8Array, dv: DataView, pos: number, end: number, base: number, eof: boolean): number {
    const avail = end - pos;
    if (avail < 4) {
      if (!eof) return this.wait(4);
      if (this.lenient) return this.truncate(base + pos);
      throw formatError(base + pos, `not a capture file: only ${avail} bytes`);
    }
    const m = dv.getUint32(pos, true);
    if (m === BlockType.SHB) {
      this.fmt = FMT_PCAPNG;
      return this.stepPcapng(buf, dv, pos, end, base, eof);
    }
    let le: boolean;
    let magic: number;
    if (m === PcapMagic.USEC || m === PcapMagic.NSEC || m === PcapMagic.MODIFIED) {
      le = true;
      magic = m;
    } else {
      magic = dv.getUint32(pos, false);
      if (magic !== PcapMagic.USEC && magic !== PcapMagic.NSEC && magic !== PcapMagic.MODIFIED) {
        throw formatError(base + pos, `not a pcap or pcapng file: bad magic 0x${hex32(dv.getUint32(pos, false))}`);
      }
      le = false;
    }
    if (avail < PcapHeader.LEN) {
      if (!eof) return this.wait(PcapHeader.LEN);
      if (this.lenient) return this.truncate(base + pos);
      throw formatError(base + pos, `truncated pcap file header: ${avail} of ${PcapHeader.LEN} bytes`);
    }
    const major = dv.getUint16(pos + PcapHeader.VERSION_MAJOR, le);
    const minor = dv.getUint16(pos + PcapHeader.VERSION_MINOR, le);
    if (major !== 2) throw formatError(base + pos, `unsupported pcap version ${major}.${minor}`);
    const lt = dv.getUint32(pos + PcapHeader.LINKTYPE, le);
    const ifc = new CaptureInterface();
    ifc.linkType = lt & PCAP_LINKTYPE_MASK;
    // Bit 26 says the top 4 bits hold the FCS length in 16-bit units.
    ifc.fcslen = (lt & 0x04000000) !== 0 ? (lt >>> 28) * 2 : -1;
    ifc.snaplen = dv.getUint32(pos + PcapHeader.SNAPLEN, le);
    ifc.tsresol = magic === PcapMagic.NSEC ? 9 : 6;
    ifc.scale = tsScale(ifc.tsresol)!;
    this.fmt = FMT_PCAP;
    this.le = le;
    this.pcapRecLen = magic === PcapMagic.MODIFIED ? PcapRecord.MODIFIED_LEN : PcapRecord.LEN;
    this.pcapFracMul = magic === PcapMagic.NSEC ? 1 : 1000;
    this.interfaces = [ifc];
    this.section.littleEndian = le;
    this.section.versionMajor = major;
    this.section.versionMinor = minor;
    const rec = this.rec;
    rec.iface = ifc;
    rec.linkType = ifc.linkType;
    rec.interfaceId = 0;
    rec.section = 0;
    rec.blockType = 0;
    rec.flags = 0;
    rec.optOffset = 0;
    rec.optEnd = 0;
    rec.le = le;
    this.used = PcapHeader.LEN;
    return Step.BLOCK;
  }

  private stepPcap(buf: Uint8Array, dv: DataView, pos: number, end: number, base: number, eof: boolean): number {
    const avail = end - pos;
    const hl = this.pcapRecLen;
    if (avail < hl) {
      if (avail === 0 && eof) return this.finish();
      if (!eof) return this.wait(hl);
      return this.truncated(base + pos, hl, avail, 'record header');
    }
    const le = this.le;
    const caplen = dv.getUint32(pos + PcapRecord.CAPLEN, le);
    const ifc = this.interfaces[0]!;
    if (caplen > this.maxPacket) {
      throw formatError(base + pos, `record ${this.index}: captured length ${caplen} exceeds the limit ${this.maxPacket} (option maxPacket)`);
    }
    if (caplen > ifc.snaplen && ifc.snaplen !== 0 && !this.ignoreSnaplen) {
      throw formatError(base + pos, `record ${this.index}: captured length ${caplen} exceeds the file's snaplen ${ifc.snaplen} (option ignoreSnaplen)`);
    }
    const total = hl + caplen;
    if (avail < total) {
      if (!eof) return this.wait(total);
      return this.truncated(base + pos, total, avail, 'record');
    }
    const rec = this.rec;
    rec.tsSec = dv.getUint32(pos + PcapRecord.TS_SEC, le);
    rec.tsNsec = dv.getUint32(pos + PcapRecord.TS_FRAC, le) * this.pcapFracMul;
    rec.caplen = caplen;
    rec.origLen = dv.getUint32(pos + PcapRecord.ORIGLEN, le);
    rec.buf = buf;
    rec.offset = pos + hl;
    rec.fileOffset = base + pos;
    rec.index = this.index++;
    this.used = total;
    return Step.RECORD;
  }

  private stepPcapng(buf: Uint8Array, dv: DataView, pos: number, end: number, base: number, eof: boolean): number {
    const avail = end - pos;
    if (this.skipLen !== 0) return this.stepSkip(dv, pos, avail, eof);
    if (avail < Block.BODY) {
      if (avail === 0 && eof) return this.finish();
      if (!eof) return this.wait(Block.BODY);
      return this.truncated(base + pos, Block.BODY, avail, 'block header');
    }
    let le = this.le;
    const type = dv.getUint32(pos, le);
    if (type === BlockType.SHB) {
      if (avail < Block.OVERHEAD) {
        if (!eof) return this.wait(Block.OVERHEAD);
        return this.truncated(base + pos, Block.OVERHEAD, avail, 'section header block');
      }
      const bom = dv.getUint32(pos + Shb.BYTE_ORDER, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw formatError(base + pos, `section header block: bad byte-order magic 0x${hex32(dv.getUint32(pos + Shb.BYTE_ORDER, false))}`);
    }
    const len = dv.getUint32(pos + Block.TOTAL_LEN, le);
    const at = base + pos;
    if (len < Block.OVERHEAD || (len & 3) !== 0) {
      throw formatError(at, `block type 0x${hex32(type)}: total length ${len} is ${len < Block.OVERHEAD ? 'less than 12' : 'not a multiple of 4'}`);
    }
    const parsed = type === BlockType.EPB || type === BlockType.SHB || type === BlockType.IDB || type === BlockType.SPB || type === BlockType.PB;
    if (parsed && len > this.maxBlock) {
      throw formatError(at, `block type 0x${hex32(type)}: total length ${len} exceeds the limit ${this.maxBlock} (option maxPacket ${this.maxPacket} + ${BLOCK_SLACK})`);
    }
    if (avail < len) {
      if (eof) return this.truncated(at, len, avail, `block type 0x${hex32(type)}`);
      if (parsed) return this.wait(len);
      // Skip a block we do not read without buffering it: drop what we have,
      // keep dropping, then check its trailing length.
      const take = Math.min(avail, len - 4);
      this.skipLeft = len - 4 - take;
      this.skipLen = len;
      this.skipAt = at;
      this.skipType = type;
      this.used = take;
      return Step.BLOCK;
    }
    const trail = dv.getUint32(pos + len - 4, le);
    if (trail !== len) {
      throw formatError(at, `block type 0x${hex32(type)}: trailing length ${trail} differs from the leading length ${len}`);
    }
    this.used = len;
    switch (type) {
      case BlockType.EPB:
        return this.epb(buf, dv, pos, len, at);
      case BlockType.SPB:
        return this.spb(buf, dv, pos, len, at);
      case BlockType.IDB:
        this.idb(buf, dv, pos, len, at);
        return Step.BLOCK;
      case BlockType.SHB:
        this.shb(buf, dv, pos, len, at, le);
        return Step.BLOCK;
      case BlockType.PB:
        return this.pb(buf, dv, pos, len, at);
      default:
        // NRB, ISB, DSB, custom, systemd journal, anything newer: skipped by length.
        return Step.BLOCK;
    }
  }

  private stepSkip(dv: DataView, pos: number, avail: number, eof: boolean): number {
    if (this.skipLeft > 0) {
      if (avail === 0) {
        if (!eof) return this.wait(1);
        return this.truncated(this.skipAt, this.skipLen, this.skipLen - this.skipLeft - 4, `block type 0x${hex32(this.skipType)}`);
      }
      const take = avail < this.skipLeft ? avail : this.skipLeft;
      this.skipLeft -= take;
      this.used = take;
      return Step.BLOCK;
    }
    if (avail < 4) {
      if (!eof) return this.wait(4);
      return this.truncated(this.skipAt, this.skipLen, this.skipLen - 4 + avail, `block type 0x${hex32(this.skipType)}`);
    }
    const trail = dv.getUint32(pos, this.le);
    if (trail !== this.skipLen) {
      throw formatError(this.skipAt, `block type 0x${hex32(this.skipType)}: trailing length ${trail} differs from the leading length ${this.skipLen}`);
    }
    this.skipLen = 0;
    this.used = 4;
    return Step.BLOCK;
  }

  private epb(buf: Uint8Array, dv: DataView, pos: number, len: number, at: number): number {
    const le = this.le;
    if (len < Epb.MIN_LEN) throw formatError(at, `enhanced packet block: total length ${len} is less than ${Epb.MIN_LEN}`);
    const id = dv.getUint32(pos + Epb.INTERFACE_ID, le);
    const ifc = this.interfaces[id];
    if (ifc === undefined) {
      throw formatError(at, `enhanced packet block: interface id ${id} is not defined (section ${this.section.index} has ${this.interfaces.length} interfaces)`);
    }
    const caplen = dv.getUint32(pos + Epb.CAPLEN, le);
    this.checkCaplen(caplen, len - Epb.MIN_LEN, ifc, at, 'enhanced packet block');
    const s = ifc.scale;
    timeFromUnits(dv.getUint32(pos + Epb.TS_HIGH, le), dv.getUint32(pos + Epb.TS_LOW, le), s.kind, s.n, s.div, s.mul);
    const rec = this.rec;
    rec.tsSec = TS.sec + ifc.tsoffset;
    rec.tsNsec = TS.nsec;
    rec.origLen = dv.getUint32(pos + Epb.ORIGLEN, le);
    return this.packet(buf, dv, pos, Epb.DATA, caplen, len, at, id, ifc, BlockType.EPB);
  }

  private pb(buf: Uint8Array, dv: DataView, pos: number, len: number, at: number): number {
    const le = this.le;
    if (len < Pb.MIN_LEN) throw formatError(at, `packet block: total length ${len} is less than ${Pb.MIN_LEN}`);
    const id = dv.getUint16(pos + Pb.INTERFACE_ID, le);
    const ifc = this.interfaces[id];
    if (ifc === undefined) {
      throw formatError(at, `packet block: interface id ${id} is not defined (section ${this.section.index} has ${this.interfaces.length} interfaces)`);
    }
    const caplen = dv.getUint32(pos + Pb.CAPLEN, le);
    this.checkCaplen(caplen, len - Pb.MIN_LEN, ifc, at, 'packet block');
    const s = ifc.scale;
    timeFromUnits(dv.getUint32(pos + Pb.TS_HIGH, le), dv.getUint32(pos + Pb.TS_LOW, le), s.kind, s.n, s.div, s.mul);
    const rec = this.rec;
    rec.tsSec = TS.sec + ifc.tsoffset;
    rec.tsNsec = TS.nsec;
    rec.origLen = dv.getUint32(pos + Pb.ORIGLEN, le);
    return this.packet(buf, dv, pos, Pb.DATA, caplen, len, at, id, ifc, BlockType.PB);
  }

  private spb(buf: Uint8Array, dv: DataView, pos: number, len: number, at: number): number {
    if (len < Spb.MIN_LEN) throw formatError(at, `simple packet block: total length ${len} is less than ${Spb.MIN_LEN}`);
    const ifc = this.interfaces[0];
    if (ifc === undefined) throw formatError(at, `simple packet block: section ${this.section.index} has no interface 0`);
    const origLen = dv.getUint32(pos + Spb.ORIGLEN, this.le);
    // The captured length is not stored: the original length, cut to the snaplen.
    const caplen = ifc.snaplen !== 0 && origLen > ifc.snaplen ? ifc.snaplen : origLen;
    const room = len - Spb.MIN_LEN;
    if (caplen > room) {
      throw formatError(at, `simple packet block: packet length ${caplen} exceeds the ${room} bytes of the block`);
    }
    if (caplen > this.maxPacket) {
      throw formatError(at, `simple packet block: captured length ${caplen} exceeds the limit ${this.maxPacket} (option maxPacket)`);
    }
    const rec = this.rec;
    rec.tsSec = 0;
    rec.tsNsec = 0;
    rec.origLen = origLen;
    rec.caplen = caplen;
    rec.buf = buf;
    rec.offset = pos + Spb.DATA;
    rec.fileOffset = at;
    rec.index = this.index++;
    rec.blockType = BlockType.SPB;
    rec.flags = 0;
    rec.optOffset = 0;
    rec.optEnd = 0;
    rec.le = this.le;
    rec.interfaceId = 0;
    rec.iface = ifc;
    rec.linkType = ifc.linkType;
    rec.section = this.section.index;
    return Step.RECORD;
  }

  private checkCaplen(caplen: number, room: number, ifc: CaptureInterface, at: number, what: string): void {
    if (caplen > room) throw formatError(at, `${what}: captured length ${caplen} exceeds the ${room} bytes of the block`);
    if (caplen > this.maxPacket) {
      throw formatError(at, `${what}: captured length ${caplen} exceeds the limit ${this.maxPacket} (option maxPacket)`);
    }
    if (caplen > ifc.snaplen && ifc.snaplen !== 0 && !this.ignoreSnaplen) {
      throw formatError(at, `${what}: captured length ${caplen} exceeds the snaplen ${ifc.snaplen} of interface ${ifc.id} (option ignoreSnaplen)`);
    }
  }

  /** Shared tail of EPB and PB: data position, options (flags and validation). */
  private packet(buf: Uint8Array, dv: DataView, pos: number, dataAt: number, caplen: number, len: number, at: number,
    id: number, ifc: CaptureInterface, type: number): number {
    const rec = this.rec;
    const optStart = pos + dataAt + ((caplen + 3) & ~3);
    const optEnd = pos + len - 4;
    let flags = 0;
    if (optStart < optEnd) flags = this.scanPacketOptions(dv, optStart, optEnd, at);
    rec.caplen = caplen;
    rec.buf = buf;
    rec.offset = pos + dataAt;
    rec.fileOffset = at;
    rec.index = this.index++;
    rec.blockType = type;
    rec.flags = flags;
    rec.optOffset = optStart;
    rec.optEnd = optEnd;
    rec.le = this.le;
    rec.interfaceId = id;
    rec.iface = ifc;
    rec.linkType = ifc.linkType;
    rec.section = this.section.index;
    return Step.RECORD;
  }

  /** Checks that the options stay inside the block; returns epb_flags (0 when absent). */
  private scanPacketOptions(dv: DataView, p: number, end: number, at: number): number {
    const le = this.le;
    let flags = 0;
    while (p + 4 <= end) {
      const code = dv.getUint16(p, le);
      const olen = dv.getUint16(p + 2, le);
      if (code === Opt.END) break;
      const next = p + 4 + ((olen + 3) & ~3);
      if (next > end) throw formatError(at, `packet block: option ${code} of length ${olen} overflows the block`);
      if (code === EpbOpt.FLAGS && olen === 4) flags = dv.getUint32(p + 4, le);
      p = next;
    }
    return flags;
  }

  private idb(buf: Uint8Array, dv: DataView, pos: number, len: number, at: number): void {
    const le = this.le;
    if (len < Idb.MIN_LEN) throw formatError(at, `interface description block: total length ${len} is less than ${Idb.MIN_LEN}`);
    if (this.interfaces.length >= this.maxInterfaces) {
      throw formatError(at, `interface description block: more than ${this.maxInterfaces} interfaces in section ${this.section.index} (option maxInterfaces)`);
    }
    const ifc = new CaptureInterface();
    ifc.linkType = dv.getUint16(pos + Idb.LINKTYPE, le);
    ifc.snaplen = dv.getUint32(pos + Idb.SNAPLEN, le);
    ifc.id = this.interfaces.length;
    ifc.section = this.section.index;
    forEachOption(dv, pos + Idb.OPTIONS, pos + len - 4, le, at, 'interface description block', (code, p, olen) => {
      switch (code) {
        case Opt.COMMENT: ifc.comments.push(text(buf, p, olen)); break;
        case IdbOpt.NAME: ifc.name = text(buf, p, olen); break;
        case IdbOpt.DESCRIPTION: ifc.description = text(buf, p, olen); break;
        case IdbOpt.OS: ifc.os = text(buf, p, olen); break;
        case IdbOpt.HARDWARE: ifc.hardware = text(buf, p, olen); break;
        case IdbOpt.FILTER: if (olen >= 1) ifc.filter = text(buf, p + 1, olen - 1); break;
        case IdbOpt.FCSLEN: if (olen === 1) ifc.fcslen = buf[p]!; break;
        case IdbOpt.TSRESOL: {
          if (olen !== 1) throw formatError(at, `interface description block: if_tsresol has length ${olen}, not 1`);
          const r = buf[p]!;
          const scale = tsScale(r);
          if (scale === undefined) throw formatError(at, `interface description block: if_tsresol 0x${r.toString(16)} is not supported (more than 64 bits per second)`);
          ifc.tsresol = r;
          ifc.scale = scale;
          break;
        }
        case IdbOpt.TSOFFSET:
          if (olen !== 8) throw formatError(at, `interface description block: if_tsoffset has length ${olen}, not 8`);
          ifc.tsoffset = le
            ? dv.getInt32(p + 4, true) * 4294967296 + dv.getUint32(p, true)
            : dv.getInt32(p, false) * 4294967296 + dv.getUint32(p + 4, false);
          break;
        default:
          break;
      }
    });
    this.interfaces.push(ifc);
  }

  private shb(buf: Uint8Array, dv: DataView, pos: number, len: number, at: number, le: boolean): void {
    if (len < Shb.MIN_LEN) throw formatError(at, `section header block: total length ${len} is less than ${Shb.MIN_LEN}`);
    const major = dv.getUint16(pos + Shb.VERSION_MAJOR, le);
    const minor = dv.getUint16(pos + Shb.VERSION_MINOR, le);
    if (major !== 1) throw formatError(at, `section header block: unsupported pcapng version ${major}.${minor}`);
    const sec = new CaptureSection();
    sec.index = this.sectionCount++;
    sec.littleEndian = le;
    sec.versionMajor = major;
    sec.versionMinor = minor;
    forEachOption(dv, pos + Shb.OPTIONS, pos + len - 4, le, at, 'section header block', (code, p, olen) => {
      if (code === Opt.COMMENT) sec.comments.push(text(buf, p, olen));
      else if (code === ShbOpt.HARDWARE) sec.hardware = text(buf, p, olen);
      else if (code === ShbOpt.OS) sec.os = text(buf, p, olen);
      else if (code === ShbOpt.USERAPPL) sec.userappl = text(buf, p, olen);
    });
    this.le = le;
    this.section = sec;
    // A new section forgets the interfaces of the previous one.
    this.interfaces = [];
  }

  /** Forgets the record just parsed (the caller will step over it again). */
  unread(): void {
    this.index--;
  }

  private wait(n: number): number {
    this.need = n;
    return Step.NEED;
  }

  private finish(): number {
    this.ended = true;
    return Step.END;
  }

  private truncate(at: number): number {
    this.truncatedAt = at;
    this.ended = true;
    return Step.END;
  }

  private truncated(at: number, want: number, have: number, what: string): number {
    if (this.lenient) return this.truncate(at);
    throw formatError(at, `truncated ${what}: needs ${want} bytes, the file ends after ${have}`);
  }
}

/** Calls fn(code, valueOffset, valueLength) for each option in buf[p .. end). */
function forEachOption(dv: DataView, p: number, end: number, le: boolean, at: number, what: string,
  fn: (code: number, p: number, len: number) => void): void {
  while (p + 4 <= end) {
    const code = dv.getUint16(p, le);
    const olen = dv.getUint16(p + 2, le);
    if (code === Opt.END) return;
    const next = p + 4 + ((olen + 3) & ~3);
    if (next > end) throw formatError(at, `${what}: option ${code} of length ${olen} overflows the block`);
    fn(code, p + 4, olen);
    p = next;
  }
}

/** UTF-8 option value; a trailing NUL (written by some tools) is dropped. */
function text(buf: Uint8Array, p: number, len: number): string {
  let n = len;
  while (n > 0 && buf[p + n - 1] === 0) n--;
  return UTF8.decode(buf.subarray(p, p + n));
}

export function formatError(offset: number, what: string): VtepError {
  return new VtepError('ERR_PCAP_FORMAT', `capture at offset ${offset}: ${what}`);
}

function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
