/**
 * Where writers put bytes: large chunks that are handed to a Writable (or
 * kept in memory) when full. A record is encoded straight into the current
 * chunk, so a packet from pool memory is copied once, into the chunk that goes
 * to the stream, and never into a temporary of its own.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { VtepError, describe } from '../errors.js';

export type CaptureTarget = string | URL | NodeJS.WritableStream;

export interface CaptureSinkOptions {
  /** Bytes per chunk handed to the stream. Default 1 MiB. */
  chunkSize?: number;
  /** End the stream on close(); default true (false leaves e.g. process.stdout open). */
  end?: boolean;
}

export class Sink {
  chunk: Buffer;
  dv: DataView;
  used = 0;
  /** Bytes handed to the stream or memory so far, plus `used`: the file offset of chunk[used]. */
  flushed = 0;

  private readonly chunkSize: number;
  private readonly stream: Writable | undefined;
  /** Chunks may be reused once written: only for streams we opened (a file). */
  private readonly recycle: boolean;
  private readonly endStream: boolean;
  private readonly spare: Buffer[] = [];
  private readonly memory: Buffer[] = [];
  private error: unknown = undefined;
  private needDrain = false;
  private closed = false;
  private drainWaiters: (() => void)[] = [];

  constructor(target: CaptureTarget | undefined, options: CaptureSinkOptions = {}) {
    const size = options.chunkSize ?? 1 << 20;
    if (!Number.isInteger(size) || size < 4096 || size > 1 << 30) {
      throw new VtepError('ERR_INVALID_ARG', `chunkSize: ${describe(size)} is not an integer in 4096..${1 << 30}`);
    }
    this.chunkSize = size;
    this.endStream = options.end !== false;
    if (target === undefined) {
      this.stream = undefined;
      this.recycle = false;
    } else if (typeof target === 'string' || target instanceof URL) {
      this.stream = createWriteStream(target);
      this.recycle = true;
    } else if (target !== null && typeof target === 'object' && typeof (target as Writable).write === 'function'
      && typeof (target as Writable).on === 'function') {
      this.stream = target as Writable;
      this.recycle = false;
    } else {
      throw new VtepError('ERR_INVALID_ARG', `target: ${describe(target)} is not a path or a Writable stream`);
    }
    if (this.stream !== undefined) {
      this.stream.on('error', (err) => {
        this.error ??= err;
        this.wakeDrain();
      });
      this.stream.on('drain', () => {
        this.needDrain = false;
        this.wakeDrain();
      });
    }
    this.chunk = Buffer.allocUnsafe(size);
    this.dv = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
  }

  /** Throws a stream error that happened since, or a use after close. */
  check(): void {
    if (this.error !== undefined) throw this.error;
    if (this.closed) throw new VtepError('ERR_CLOSED', 'writer: write after close()');
  }

  /** Makes room for n contiguous bytes in `chunk` and returns where they start. */
  reserve(n: number): number {
    if (this.used + n <= this.chunk.length) return this.used;
    this.flush();
    if (n > this.chunk.length) this.setChunk(Buffer.allocUnsafe(n));
    return 0;
  }

  /** Hands the filled part of the chunk on and starts another. */
  flush(): void {
    const used = this.used;
    if (used === 0) return;
    const full = this.chunk;
    const part = full.subarray(0, used);
    this.flushed += used;
    this.used = 0;
    const stream = this.stream;
    if (stream === undefined) {
      this.memory.push(part);
    } else if (this.recycle && full.length === this.chunkSize) {
      const ok = stream.write(part, (err) => {
        if (err == null && this.spare.length < 4) this.spare.push(full);
      });
      if (!ok) this.needDrain = true;
    } else {
      if (!stream.write(part)) this.needDrain = true;
    }
    this.setChunk(this.spare.pop() ?? Buffer.allocUnsafe(this.chunkSize));
  }

  private setChunk(b: Buffer): void {
    this.chunk = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** False while the stream asks the writer to wait (await drain()). */
  get ready(): boolean {
    return !this.needDrain;
  }

  /** Resolves when the stream has room again (at once when it has). */
  drain(): Promise<void> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (!this.needDrain) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.drainWaiters.push(() => (this.error !== undefined ? reject(this.error) : resolve()));
    });
  }

  private wakeDrain(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }

  /** Everything written so far, for a memory writer. */
  bytes(): Buffer {
    if (this.stream !== undefined) throw new VtepError('ERR_INVALID_ARG', 'toBuffer: the writer writes to a stream, not to memory');
    return Buffer.concat([...this.memory, this.chunk.subarray(0, this.used)]);
  }

  /** Flushes, ends the stream (unless end: false) and waits until it is written. */
  async close(): Promise<void> {
    if (this.closed) {
      if (this.error !== undefined) throw this.error;
      return;
    }
    if (this.error !== undefined) {
      this.closed = true;
      throw this.error;
    }
    const stream = this.stream;
    if (stream === undefined) {
      this.closed = true;
      return;
    }
    this.flush();
    this.closed = true;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown): void => reject(err);
      stream.once('error', fail);
      if (this.endStream) {
        // A file stream is done when its descriptor is closed.
        const ev = this.recycle ? 'close' : 'finish';
        stream.once(ev, () => {
          stream.off('error', fail);
          if (this.error !== undefined) reject(this.error);
          else resolve();
        });
        stream.end();
      } else if (this.needDrain) {
        stream.once('drain', () => {
          stream.off('error', fail);
          resolve();
        });
      } else {
        stream.off('error', fail);
        resolve();
      }
    });
  }
}
