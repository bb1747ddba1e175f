/**
 * What a reader hands out. One CaptureRecord per reader is filled again for
 * every packet (no object per packet): copy the fields, or call clone(), to
 * keep a packet past the next iteration.
 */
import { BlockType, TSRESOL_DEFAULT } from './format.js';
import { tsScale, type TsScale } from './u64.js';

export type CaptureFormat = 'pcap' | 'pcapng';

/**
 * One capture interface: the pcap file header, or one pcapng Interface
 * Description Block. Created once per header/IDB, shared by its records.
 */
export class CaptureInterface {
  /** Link type (LinkType constants; any value is kept). */
  linkType = 0;
  /** Largest captured length the interface promises; 0 = no limit. */
  snaplen = 0;
  /** Id inside its section (pcap: 0). */
  id = 0;
  /** Section number, from 0 (pcap: 0). */
  section = 0;
  /** if_tsresol byte: 6 = microseconds, 9 = nanoseconds, 0x80|n = 2^-n s. pcap: 6 or 9. */
  tsresol = TSRESOL_DEFAULT;
  /** if_tsoffset: seconds added to every timestamp. */
  tsoffset = 0;
  /** if_fcslen (pcapng) or the FCS length of the pcap link type word; -1 = unknown. */
  fcslen = -1;
  name: string | undefined = undefined;
  description: string | undefined = undefined;
  os: string | undefined = undefined;
  hardware: string | undefined = undefined;
  filter: string | undefined = undefined;
  comments: string[] = [];
  /** @internal prepared resolution */
  scale: TsScale = tsScale(TSRESOL_DEFAULT)!;

  /** Units per second of the resolution, as a number (2^n may be inexact above 2^53). */
  get unitsPerSecond(): number {
    return this.tsresol & 0x80 ? 2 ** (this.tsresol & 0x7f) : 10 ** this.tsresol;
  }
}

/** A packet as a plain value, as clone() returns it. */
export interface CapturedPacket {
  /** The captured bytes (caplen = data.length). */
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
  /** Length on the wire. */
  origLen: number;
  /** pcapng interface id within its section (pcap: 0). */
  interfaceId: number;
  linkType: number;
  /** pcapng epb_flags (direction, reception type, FCS length...); 0 = absent. */
  flags: number;
  /** pcapng opt_comment values, when there are any. */
  comments?: string[];
}

/**
 * What the to-buffer writers and writePacket() take: a CapturedPacket where
 * only `data` is required. Defaults: time 0, origLen = data.length, interface 0,
 * no flags, no comment. `linkType` is ignored (the interface's counts).
 */
export type PacketInit = Pick<CapturedPacket, 'data'> & Partial<Omit<CapturedPacket, 'data'>>;

export class CaptureRecord {
  /** Link type of the record's interface. */
  linkType = 0;
  /** Interface id within its section (pcap: 0). */
  interfaceId = 0;
  /** Section number from 0 (pcapng files may hold several; pcap: 0). */
  section = 0;
  /** Timestamp: seconds since the epoch (if_tsoffset applied) and nanoseconds. */
  tsSec = 0;
  tsNsec = 0;
  /** Length on the wire. */
  origLen = 0;
  /** Bytes captured, at buf[offset .. offset + caplen). */
  caplen = 0;
  /** The memory holding the packet: the input buffer, or the streaming reader's chunk. */
  buf: Uint8Array = EMPTY;
  offset = 0;
  /** Record number from 0, over the whole file. */
  index = 0;
  /** Byte offset of the record header / block in the file. */
  fileOffset = 0;
  /** pcapng block type (BlockType.EPB, SPB, PB); 0 for pcap. */
  blockType = 0;
  /** pcapng epb_flags / pack_flags; 0 when absent. */
  flags = 0;
  /** The interface (shared object; do not modify). */
  iface: CaptureInterface = NO_INTERFACE;
  /** @internal Options of the block: buf[optOffset .. optEnd), in the section's byte order. */
  optOffset = 0;
  optEnd = 0;
  /** @internal little-endian section */
  le = true;

  /** A view of the captured bytes; valid until the reader moves on. */
  get data(): Uint8Array {
    return this.buf.subarray(this.offset, this.offset + this.caplen);
  }

  /** True when the record has a timestamp (pcapng Simple Packet Blocks have none). */
  get hasTimestamp(): boolean {
    return this.blockType !== BlockType.SPB;
  }

  /** opt_comment values of the block (parsed on demand; allocates). */
  get comments(): string[] {
    const out: string[] = [];
    if (this.optEnd <= this.optOffset) return out;
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    let p = this.optOffset;
    while (p + 4 <= this.optEnd) {
      const code = dv.getUint16(p, this.le);
      const len = dv.getUint16(p + 2, this.le);
      if (code === 0) break;
      if (code === 1) out.push(UTF8.decode(this.buf.subarray(p + 4, p + 4 + len)));
      p += 4 + ((len + 3) & ~3);
    }
    return out;
  }

  /** A copy that outlives the iteration, as a plain value (allocates). */
  clone(): CapturedPacket {
    const p: CapturedPacket = {
      data: copyBytes(this.buf, this.offset, this.caplen),
      tsSec: this.tsSec,
      tsNsec: this.tsNsec,
      origLen: this.origLen,
      interfaceId: this.interfaceId,
      linkType: this.linkType,
      flags: this.flags,
    };
    const c = this.comments;
    if (c.length > 0) p.comments = c;
    return p;
  }
}

/** A fresh Uint8Array copy (Buffer#slice would return a view). */
function copyBytes(buf: Uint8Array, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(buf.subarray(offset, offset + length));
  return out;
}

const EMPTY = new Uint8Array(0);
const NO_INTERFACE = new CaptureInterface();
export const UTF8 = new TextDecoder('utf-8', { fatal: false });
