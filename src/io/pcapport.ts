/**
 * A port over capture files: it receives the frames of a pcap/pcapng capture
 * (Ethernet link type; records of other link types are skipped and counted)
 * and writes what it sends to a capture. Replays a capture through a dataplane
 * and records what comes out, with no root and no kernel.
 */
import { EventEmitter } from 'node:events';
import { VtepError, invalidArg } from '../errors.js';
import type { Batch } from '../packet/batch.js';
import { readCapture, type CaptureReader, type CaptureSource } from '../pcap/reader.js';
import { PcapWriter, PcapngWriter, type CaptureTarget } from '../pcap/writer.js';
import { LinkType } from '../pcap/format.js';
import type { Port, PortStats } from './port.js';
import { checkRange, zeroStats } from './port.js';

export interface PcapPortOptions {
  name?: string;
  /** Capture to receive from: a path, a stream or bytes. Absent: the port never receives. */
  input?: CaptureSource;
  /** Capture to write sent frames to: a path or a Writable. Absent: sent frames are counted and dropped. */
  output?: CaptureTarget;
  /** Write pcapng instead of pcap. Default: by the output path's extension. */
  pcapng?: boolean;
}

let counter = 0;

export class PcapPort extends EventEmitter implements Port {
  readonly kind = 'pcap' as const;
  readonly name: string;
  private readonly reader: CaptureReader | undefined;
  private readonly writer: PcapWriter | PcapngWriter | undefined;
  private readonly ifId: number = 0;
  private readCb: (() => void) | null = null;
  private filling: Promise<void> | null = null;
  private eof = false;
  private _closed = false;
  private _failed: VtepError | undefined;
  /** Resolves when close() has flushed and closed the output. */
  finished: Promise<void> = Promise.resolve();
  /** Records skipped because their link type is not Ethernet. */
  skipped = 0;
  private readonly s: PortStats = zeroStats();

  constructor(options: PcapPortOptions) {
    super();
    if (options === null || typeof options !== 'object') throw invalidArg('options', options, 'an object');
    this.name = options.name ?? `pcap${counter++}`;
    if (options.input !== undefined) this.reader = readCapture(options.input);
    else this.eof = true;
    if (options.output !== undefined) {
      const ng = options.pcapng ?? (typeof options.output === 'string' && /\.pcapng$/i.test(options.output));
      if (ng) {
        const w = new PcapngWriter(options.output);
        this.ifId = w.addInterface({ linkType: LinkType.ETHERNET, name: this.name, tsresol: 9 });
        this.writer = w;
      } else {
        this.writer = new PcapWriter(options.output, { linkType: LinkType.ETHERNET, nanos: true });
      }
    }
  }

  get closed(): boolean {
    return this._closed;
  }
  get failed(): VtepError | undefined {
    return this._failed;
  }
  /** A capture has no link to lose. */
  get linkUp(): boolean {
    return true;
  }
  get stats(): PortStats {
    return { ...this.s };
  }
  /** True once every input record has been read. */
  get ended(): boolean {
    return this.eof;
  }

  readBatch(batch: Batch): number {
    const r = this.reader;
    if (r === undefined || this._closed || this._failed !== undefined) return 0;
    this.s.rxCalls++;
    const got = batch.prepareRx();
    const u8 = batch.pool.u8;
    const room = batch.pool.dataRoom;
    let k = 0;
    try {
      while (k < got) {
        const rec = r.read();
        if (rec === null) break;
        if (rec.linkType !== LinkType.ETHERNET) {
          this.skipped++;
          continue;
        }
        if (rec.caplen > room) {
          this.s.rxTruncated++;
          continue;
        }
        u8.set(rec.buf.subarray(rec.offset, rec.offset + rec.caplen), batch.start[k]!);
        batch.len[k] = rec.caplen;
        this.s.rxPackets++;
        this.s.rxBytes += rec.caplen;
        k++;
      }
    } catch (err) {
      this.fail(err);
    }
    for (let i = k; i < got; i++) batch.pool.free(batch.slot[i]!);
    batch.count = k;
    if (k < got) this.refill();
    return k;
  }

  writeBatch(batch: Batch, from = 0, to = batch.count): number {
    checkRange(batch, from, to);
    if (this._closed) return 0;
    this.s.txCalls++;
    const w = this.writer;
    const u8 = batch.pool.u8;
    if (w !== undefined) {
      const ms = Date.now();
      const sec = Math.floor(ms / 1000);
      const nsec = (ms - sec * 1000) * 1e6;
      for (let i = from; i < to; i++) {
        if (w instanceof PcapngWriter) w.write(this.ifId, u8, batch.start[i]!, batch.len[i]!, sec, nsec);
        else w.write(u8, batch.start[i]!, batch.len[i]!, sec, nsec);
      }
    }
    for (let i = from; i < to; i++) {
      this.s.txPackets++;
      this.s.txBytes += batch.len[i]!;
    }
    return to - from;
  }

  onReadable(cb: (() => void) | null): void {
    this.readCb = cb;
    if (cb !== null && !this.eof) this.refill(true);
  }

  onWritable(cb: () => void): void {
    setImmediate(cb);
  }

  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.readCb = null;
    this.finished = Promise.all([this.reader?.close(), this.writer?.close()]).then(() => undefined);
    this.finished.catch(() => undefined);
  }

  /** Reads more of the input in the background; readiness once it has some. */
  private refill(first = false): void {
    const r = this.reader;
    if (r === undefined || this.filling !== null || this.eof || this._closed) return;
    this.filling = (first ? Promise.resolve(true) : r.fill()).then(
      (more) => {
        this.filling = null;
        if (!more) {
          this.eof = true;
          this.emit('end');
          return;
        }
        if (this.readCb !== null) this.readCb();
      },
      (err: unknown) => {
        this.filling = null;
        this.fail(err);
      },
    );
  }

  private fail(err: unknown): void {
    const e = err instanceof VtepError ? err : new VtepError('ERR_PCAP_FORMAT', String((err as Error)?.message ?? err), { cause: err });
    if (this._failed !== undefined) return;
    this._failed = e;
    this.eof = true;
    setImmediate(() => this.emit('error', e));
  }
}
