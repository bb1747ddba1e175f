/**
 * The queue between a port capture and one slow consumer (a socket): frames
 * are copied into a fixed byte ring by the dataplane's capture callback and
 * taken out later, off the packet path. When the ring is full a frame is
 * dropped and counted, never waited for: a reader that stops reading costs
 * the switch one length check per frame.
 *
 * No allocation per frame: the bytes go into `ring`, the length, original
 * length, direction and time into typed arrays of `maxFrames` records.
 */
import { checkInt } from '../errors.js';

/** Buffer's copy works on any Uint8Array and makes no view (subarray would). */
const COPY = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

export interface CaptureQueueOptions {
  /** Bytes of frame data held at most. Default 4 MiB. */
  bytes?: number;
  /** Frames held at most. Default 8192. */
  frames?: number;
  /** Bytes kept of each frame. Default 65535. */
  snaplen?: number;
}

export class CaptureQueue {
  readonly ring: Uint8Array;
  readonly snaplen: number;
  /** Frames offered, queued, and dropped because the queue was full. */
  offered = 0;
  dropped = 0;
  private readonly off: Uint32Array;
  private readonly cap: Uint32Array;
  private readonly orig: Uint32Array;
  private readonly dir: Uint8Array;
  private readonly time: Float64Array;
  private readonly max: number;
  /** Record ring: head = oldest, count records. Byte ring: `write` is where the next frame goes, `read` where the oldest starts. */
  private head = 0;
  private count = 0;
  private write = 0;
  private read = 0;
  /** True when the newest frames sit before the oldest (the byte ring wrapped). */
  private wrapped = false;

  constructor(o: CaptureQueueOptions = {}) {
    const bytes = checkInt('bytes', o.bytes ?? 4 << 20, 4096, 1 << 30);
    this.max = checkInt('frames', o.frames ?? 8192, 1, 1 << 20);
    this.snaplen = checkInt('snaplen', o.snaplen ?? 65535, 1, 262144);
    this.ring = new Uint8Array(bytes);
    this.off = new Uint32Array(this.max);
    this.cap = new Uint32Array(this.max);
    this.orig = new Uint32Array(this.max);
    this.dir = new Uint8Array(this.max);
    this.time = new Float64Array(this.max);
  }

  get length(): number {
    return this.count;
  }

  /** Queues a copy of u8[start, start+len); false (and counted) when there is no room. */
  push(tx: boolean, u8: Uint8Array, start: number, len: number, timeMs: number): boolean {
    this.offered++;
    const n = len < this.snaplen ? len : this.snaplen;
    const size = this.ring.length;
    if (this.count === this.max || n > size) {
      this.dropped++;
      return false;
    }
    // Contiguous room at `write`: up to the end of the ring, or (wrapped) up to `read`.
    let at = this.write;
    if (this.count === 0) {
      at = 0;
      this.read = 0;
      this.wrapped = false;
    } else if (!this.wrapped) {
      if (size - at < n) {
        if (this.read < n) {
          this.dropped++;
          return false;
        }
        at = 0;
        this.wrapped = true;
      }
    } else if (this.read - at < n) {
      this.dropped++;
      return false;
    }
    const ring = this.ring;
    if (n <= 128) for (let i = 0; i < n; i++) ring[at + i] = u8[start + i]!;
    else COPY.call(u8, ring, at, start, start + n);
    const r = (this.head + this.count) % this.max;
    this.off[r] = at;
    this.cap[r] = n;
    this.orig[r] = len;
    this.dir[r] = tx ? 1 : 0;
    this.time[r] = timeMs;
    this.count++;
    this.write = at + n;
    return true;
  }

  /** The oldest frame, or false when empty: fills `out` (valid until the next shift). */
  peek(out: { start: number; len: number; origLen: number; tx: boolean; timeMs: number }): boolean {
    if (this.count === 0) return false;
    const h = this.head;
    out.start = this.off[h]!;
    out.len = this.cap[h]!;
    out.origLen = this.orig[h]!;
    out.tx = this.dir[h] === 1;
    out.timeMs = this.time[h]!;
    return true;
  }

  /** Drops the oldest frame (after peek). */
  shift(): void {
    if (this.count === 0) return;
    this.head = (this.head + 1) % this.max;
    this.count--;
    if (this.count === 0) {
      this.read = 0;
      this.write = 0;
      this.wrapped = false;
    } else {
      const next = this.off[this.head]!;
      if (next < this.read) this.wrapped = false;
      this.read = next;
    }
  }
}
