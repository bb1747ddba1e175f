/**
 * Ports in memory, for tests, demos and embedding without a kernel: a
 * MemoryPort pair is a wire. Frames written to one end are copied into a
 * fixed ring of the other end and read from there into pool slots; nothing is
 * allocated per frame. Observers (`onTransmit`) see every frame written, for
 * captures and for simulated hosts.
 */
import { EventEmitter } from 'node:events';
import { VtepError, checkInt } from '../errors.js';
import type { Batch } from '../packet/batch.js';
import type { Port, PortStats } from './port.js';
import { checkRange, zeroStats } from './port.js';

export interface MemoryPortOptions {
  name?: string;
  /** Frames the receive ring holds; more are dropped and counted. Default 1024. */
  frames?: number;
  /** Largest frame in bytes. Default 9216 (jumbo). */
  frameSize?: number;
}

/** Sees a frame written to a port (valid only during the call). */
export type TransmitObserver = (u8: Uint8Array, start: number, len: number) => void;

let counter = 0;

export class MemoryPort extends EventEmitter implements Port {
  readonly kind = 'memory' as const;
  readonly name: string;
  readonly frameSize: number;
  private peer: MemoryPort | null = null;
  private readonly ring: Uint8Array;
  private readonly lens: Uint32Array;
  private head = 0; // next frame to read
  private queued = 0;
  private readCb: (() => void) | null = null;
  private scheduled = false;
  private observers: TransmitObserver[] = [];
  private _closed = false;
  private readonly s: PortStats = zeroStats();
  /** Frames dropped because the receive ring was full. */
  rxDropped = 0;

  constructor(options: MemoryPortOptions = {}) {
    super();
    this.name = options.name ?? `mem${counter++}`;
    const frames = checkInt('frames', options.frames ?? 1024, 1, 1 << 20);
    this.frameSize = checkInt('frameSize', options.frameSize ?? 9216, 60, 1 << 16);
    this.ring = new Uint8Array(frames * this.frameSize);
    this.lens = new Uint32Array(frames);
  }

  /** Two ports joined as by a wire: what one writes, the other reads. */
  static pair(a: MemoryPortOptions = {}, b: MemoryPortOptions = {}): [MemoryPort, MemoryPort] {
    const x = new MemoryPort(a);
    const y = new MemoryPort(b);
    x.peer = y;
    y.peer = x;
    return [x, y];
  }

  get closed(): boolean {
    return this._closed;
  }
  get failed(): VtepError | undefined {
    return undefined;
  }
  /** A wire in memory has no link to lose. */
  get linkUp(): boolean {
    return true;
  }
  get stats(): PortStats {
    return { ...this.s };
  }
  /** Frames waiting to be read. */
  get pending(): number {
    return this.queued;
  }

  /** Calls `fn` with every frame written to this port (before it reaches the peer). Returns a remover. */
  onTransmit(fn: TransmitObserver): () => void {
    this.observers.push(fn);
    return () => {
      this.observers = this.observers.filter((f) => f !== fn);
    };
  }

  /** Queues a frame as if it had arrived on the wire. Returns false when dropped (ring full, too big, closed). */
  inject(u8: Uint8Array, start = 0, len = u8.length - start): boolean {
    if (this._closed || len > this.frameSize || this.queued === this.lens.length) {
      this.rxDropped++;
      return false;
    }
    const n = this.lens.length;
    const at = (this.head + this.queued) % n;
    this.ring.set(u8.subarray(start, start + len), at * this.frameSize);
    this.lens[at] = len;
    this.queued++;
    this.wake();
    return true;
  }

  readBatch(batch: Batch): number {
    if (this._closed || this.queued === 0) return 0;
    this.s.rxCalls++;
    const got = batch.prepareRx(Math.min(this.queued, batch.capacity));
    const u8 = batch.pool.u8;
    const room = batch.pool.dataRoom;
    const n = this.lens.length;
    let k = 0;
    for (let i = 0; i < got; i++) {
      const len = this.lens[this.head]!;
      const from = this.head * this.frameSize;
      this.head = (this.head + 1) % n;
      this.queued--;
      if (len > room) {
        this.s.rxTruncated++;
        continue;
      }
      u8.set(this.ring.subarray(from, from + len), batch.start[k]!);
      batch.slot[k] = batch.slot[i]!;
      batch.start[k] = batch.start[i]!;
      batch.len[k] = len;
      this.s.rxPackets++;
      this.s.rxBytes += len;
      k++;
    }
    // Slots of frames too big for the pool go back.
    for (let i = k; i < got; i++) batch.pool.free(batch.slot[i]!);
    batch.count = k;
    return k;
  }

  writeBatch(batch: Batch, from = 0, to = batch.count): number {
    checkRange(batch, from, to);
    if (this._closed) return 0;
    this.s.txCalls++;
    const u8 = batch.pool.u8;
    for (let i = from; i < to; i++) {
      const start = batch.start[i]!;
      const len = batch.len[i]!;
      for (const fn of this.observers) fn(u8, start, len);
      if (this.peer !== null && !this.peer.inject(u8, start, len)) this.s.txErrors++;
      this.s.txPackets++;
      this.s.txBytes += len;
    }
    return to - from;
  }

  onReadable(cb: (() => void) | null): void {
    this.readCb = cb;
    if (cb !== null && this.queued > 0) this.wake();
  }

  onWritable(cb: () => void): void {
    setImmediate(cb);
  }

  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.readCb = null;
    if (this.peer !== null && this.peer.peer === this) this.peer.peer = null;
    this.peer = null;
    this.queued = 0;
    this.emit('close');
  }

  /** One readiness call per wake-up, on a later turn of the event loop. */
  private wake(): void {
    if (this.readCb === null || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.readCb !== null && this.queued > 0) this.readCb();
    });
  }
}
