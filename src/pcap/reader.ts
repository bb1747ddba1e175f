/**
 * Readers: over a whole buffer (synchronous iteration) and over a file or
 * stream (asynchronous iteration in constant memory). Both hand out the same
 * CaptureRecord object for every packet; its `buf`/`data` stay valid until the
 * next record is read.
 *
 * The streaming reader keeps one fixed buffer (1 MiB by default, at least two
 * of the largest blocks it accepts). It reads a file straight into that buffer
 * and copies stream chunks into it; a record that straddles the end is moved
 * to the front before the next read. Blocks it does not need (statistics, name
 * resolution, decryption secrets, custom) are skipped by length without being
 * buffered, so the memory does not depend on the file.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { VtepError, checkInt, describe } from '../errors.js';
import { BlockType, PcapMagic } from './format.js';
import { CaptureParser, Step, type CaptureSection, type CaptureReadOptions } from './parser.js';
import type { CaptureFormat, CaptureInterface, CaptureRecord, CapturedPacket } from './record.js';

export type { CaptureReadOptions } from './parser.js';

export interface CaptureStreamOptions extends CaptureReadOptions {
  /** Bytes of the reader's buffer; raised to twice the largest accepted block. Default 1 MiB. */
  bufferSize?: number;
}

/** 'pcap' or 'pcapng' from the first bytes of a file (at least 4; 12 to check a pcapng byte-order magic). */
export function captureFormat(bytes: Uint8Array): CaptureFormat | undefined {
  if (bytes.length < 4) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = dv.getUint32(0, true);
  const be = dv.getUint32(0, false);
  if (le === BlockType.SHB) {
    if (bytes.length < 12) return 'pcapng';
    const bom = dv.getUint32(8, true);
    return bom === 0x1a2b3c4d || bom === 0x4d3c2b1a ? 'pcapng' : undefined;
  }
  for (const m of [PcapMagic.USEC, PcapMagic.NSEC, PcapMagic.MODIFIED]) {
    if (le === m || be === m) return 'pcap';
  }
  return undefined;
}

/** What readers share: the parsed headers so far. */
abstract class ReaderBase {
  protected readonly parser: CaptureParser;

  constructor(options: CaptureReadOptions | undefined) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new VtepError('ERR_INVALID_ARG', `options: ${describe(options)} is not an object`);
    }
    this.parser = new CaptureParser(options);
  }

  /** 'pcap' or 'pcapng' once the file header has been read. */
  get format(): CaptureFormat | undefined {
    return this.parser.format;
  }

  /** Interfaces of the current section (pcap: one, from the file header). */
  get interfaces(): readonly CaptureInterface[] {
    return this.parser.interfaces;
  }

  /** The current pcapng section (byte order, version, shb_* options). */
  get section(): CaptureSection {
    return this.parser.section;
  }

  /** File offset of the truncated tail where a lenient reader stopped, or -1. */
  get truncatedAt(): number {
    return this.parser.truncatedAt;
  }

  /** The record object every iteration fills. */
  get record(): CaptureRecord {
    return this.parser.rec;
  }
}

/**
 * Synchronous reader over a whole capture in memory. `rec.buf` is the input
 * itself: `rec.data` views stay valid as long as the input does.
 */
export class CaptureBufferReader extends ReaderBase implements IterableIterator<CaptureRecord> {
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private pos = 0;
  private readonly result: IteratorResult<CaptureRecord>;

  constructor(bytes: Uint8Array, options?: CaptureReadOptions) {
    super(options);
    if (!(bytes instanceof Uint8Array)) throw new VtepError('ERR_INVALID_ARG', `bytes: ${describe(bytes)} is not a Uint8Array`);
    this.u8 = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.result = { done: false, value: this.parser.rec };
  }

  /** The next record, or null at the end. */
  read(): CaptureRecord | null {
    const p = this.parser;
    const end = this.u8.length;
    for (;;) {
      const s = p.step(this.u8, this.dv, this.pos, end, 0, true);
      if (s === Step.RECORD) {
        this.pos += p.used;
        return p.rec;
      }
      if (s === Step.BLOCK) {
        this.pos += p.used;
        continue;
      }
      return null;
    }
  }

  next(): IteratorResult<CaptureRecord> {
    // The same result object every time: no allocation per packet.
    return this.read() === null ? DONE : this.result;
  }

  [Symbol.iterator](): this {
    return this;
  }
}

/** Iterates over a capture held in memory. */
export function readCaptureBuffer(bytes: Uint8Array, options?: CaptureReadOptions): CaptureBufferReader {
  return new CaptureBufferReader(bytes, options);
}

/** Where the streaming reader gets bytes. */
interface ByteSource {
  /** Reads up to len bytes into buf at off; 0 at the end. */
  read(buf: Uint8Array, off: number, len: number): Promise<number>;
  close(): Promise<void>;
}

class FileSource implements ByteSource {
  private fh: FileHandle | undefined;
  private closed = false;
  constructor(private readonly path: string | URL) {}

  async read(buf: Uint8Array, off: number, len: number): Promise<number> {
    if (this.closed) return 0;
    if (this.fh === undefined) this.fh = await open(this.path, 'r');
    const { bytesRead } = await this.fh.read(buf, off, len, null);
    return bytesRead;
  }

  async close(): Promise<void> {
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    if (fh !== undefined) await fh.close();
  }
}

class ChunkSource implements ByteSource {
  private it: AsyncIterator<unknown> | undefined;
  private chunk: Uint8Array | undefined;
  private at = 0;
  private done = false;
  constructor(private readonly src: AsyncIterable<unknown>) {}

  async read(buf: Uint8Array, off: number, len: number): Promise<number> {
    while (this.chunk === undefined || this.at === this.chunk.length) {
      if (this.done) return 0;
      this.it ??= this.src[Symbol.asyncIterator]();
      const r = await this.it.next();
      if (r.done === true) {
        this.done = true;
        this.chunk = undefined;
        return 0;
      }
      const v = r.value;
      if (!(v instanceof Uint8Array)) {
        throw new VtepError('ERR_INVALID_ARG', `source: chunk ${describe(v)} is not a Uint8Array (use a binary stream, no encoding)`);
      }
      this.chunk = v;
      this.at = 0;
    }
    const c = this.chunk;
    const n = Math.min(len, c.length - this.at);
    buf.set(c.subarray(this.at, this.at + n), off);
    this.at += n;
    return n;
  }

  async close(): Promise<void> {
    const it = this.it;
    this.chunk = undefined;
    if (!this.done && it !== undefined && typeof it.return === 'function') {
      this.done = true;
      await it.return();
    }
    this.done = true;
  }
}

export type CaptureSource = string | URL | Uint8Array | AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

/**
 * Streaming reader over a file path, a Readable stream / async iterable of
 * chunks, or a buffer. Use it with `for await`, or, to avoid a promise per
 * packet, call read() until it returns null and then `await fill()`.
 */
export class CaptureReader extends ReaderBase implements AsyncIterable<CaptureRecord> {
  /** The reader's one buffer; its size never changes. */
  readonly buffer: Buffer;
  private readonly dv: DataView;
  private readonly source: ByteSource;
  private pos = 0;
  private end = 0;
  /** File offset of buffer[0]. */
  private base = 0;
  private eof = false;
  private done = false;
  private readonly result: IteratorResult<CaptureRecord>;

  constructor(source: CaptureSource, options: CaptureStreamOptions = {}) {
    super(options);
    const p = this.parser;
    const size = Math.max(checkInt('bufferSize', options.bufferSize ?? 1 << 20, 4096, 1 << 30), 2 * p.maxBlock);
    if (typeof source === 'string' || source instanceof URL) {
      this.source = new FileSource(source);
    } else if (source instanceof Uint8Array) {
      this.source = new ChunkSource(once(source));
    } else if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
      this.source = new ChunkSource(source as AsyncIterable<unknown>);
    } else {
      throw new VtepError('ERR_INVALID_ARG', `source: ${describe(source)} is not a path, a Readable stream, an async iterable of Uint8Array or a Uint8Array`);
    }
    this.buffer = Buffer.allocUnsafe(size);
    this.dv = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    this.result = { done: false, value: p.rec };
  }

  /** The next record if it is already buffered, else null: then `await fill()` (false at the end). */
  read(): CaptureRecord | null {
    if (this.done) return null;
    const p = this.parser;
    for (;;) {
      const s = p.step(this.buffer, this.dv, this.pos, this.end, this.base, this.eof);
      if (s === Step.RECORD) {
        this.pos += p.used;
        return p.rec;
      }
      if (s === Step.BLOCK) {
        this.pos += p.used;
        continue;
      }
      if (s === Step.END) {
        this.done = true;
        void this.source.close().catch(() => undefined);
      }
      return null;
    }
  }

  /**
   * Reads more of the source into the buffer. Returns false when the capture
   * is over (then read() returns null for good). Records read before are
   * invalidated: their bytes may move.
   */
  async fill(): Promise<boolean> {
    if (this.done) return false;
    // At the end of the source the parser never waits: read() settles the rest.
    if (this.eof) return true;
    const buf = this.buffer;
    if (this.pos > 0) {
      // Move the unread tail (at most one block) to the front.
      if (this.end > this.pos) buf.copyWithin(0, this.pos, this.end);
      this.base += this.pos;
      this.end -= this.pos;
      this.pos = 0;
    }
    if (this.end === buf.length) {
      // Cannot follow a read() that returned null (a block is at most half the buffer).
      throw new VtepError('ERR_INVALID_ARG', `fill(): the ${buf.length}-byte buffer is full; read() the buffered records first`);
    }
    try {
      const n = await this.source.read(buf, this.end, buf.length - this.end);
      if (n === 0) this.eof = true;
      else this.end += n;
    } catch (err) {
      this.done = true;
      await this.source.close().catch(() => undefined);
      throw err;
    }
    return true;
  }

  /**
   * Reads until the file header (pcap) or the first section header and the
   * interfaces before the first packet (pcapng) are parsed, without consuming a
   * packet; then `format`, `interfaces` and `section` are known.
   */
  async open(): Promise<this> {
    const p = this.parser;
    while (!this.done) {
      const s = p.step(this.buffer, this.dv, this.pos, this.end, this.base, this.eof);
      if (s === Step.BLOCK) {
        this.pos += p.used;
        continue;
      }
      if (s === Step.RECORD) {
        // Not consumed: the next read() parses it again.
        p.unread();
        break;
      }
      if (s === Step.END) {
        this.done = true;
        await this.source.close();
        break;
      }
      await this.fill();
    }
    return this;
  }

  /** Stops reading and closes the file (or ends the stream's iteration). */
  async close(): Promise<void> {
    this.done = true;
    await this.source.close();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<CaptureRecord> {
    const self = this;
    return {
      async next(): Promise<IteratorResult<CaptureRecord>> {
        try {
          for (;;) {
            if (self.read() !== null) return self.result;
            if (!(await self.fill())) return DONE;
          }
        } catch (err) {
          await self.close().catch(() => undefined);
          throw err;
        }
      },
      async return(): Promise<IteratorResult<CaptureRecord>> {
        await self.close();
        return DONE;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

/** Streams the records of a capture file, Readable stream or buffer. */
export function readCapture(source: CaptureSource, options?: CaptureStreamOptions): CaptureReader {
  return new CaptureReader(source, options);
}

/** Reads a whole capture into plain values (copies; for tests and small files). */
export async function readCapturePackets(source: CaptureSource, options?: CaptureStreamOptions): Promise<CapturedPacket[]> {
  const out: CapturedPacket[] = [];
  if (source instanceof Uint8Array) {
    for (const rec of readCaptureBuffer(source, options)) out.push(rec.clone());
    return out;
  }
  for await (const rec of readCapture(source, options)) out.push(rec.clone());
  return out;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

const DONE: IteratorResult<CaptureRecord> = Object.freeze({ done: true, value: undefined }) as IteratorResult<CaptureRecord>;
