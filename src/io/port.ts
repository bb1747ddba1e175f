/**
 * The Port interface every I/O port implements (TAP, UDP, AF_PACKET, raw IP
 * here; pcap and memory ports elsewhere), and FdPort, the base of the ports
 * that own a kernel fd: readiness, counters, errors and teardown.
 *
 * Errors. Bad input on the hot path never throws. A system call error that
 * ends a batch call (st[STOP_ERRNO]) or a poll error becomes an 'error' event
 * carrying a VtepError (code ERR_NATIVE, `errno` its name), emitted on the
 * next tick, and only when someone listens (else a process warning): the
 * process goes on. Errors that mean the device or fd is gone (FATAL_ERRNOS)
 * also mark the port failed: polling stops, reads and writes return 0, and
 * close() remains to be called. Other errors (ENETDOWN on a socket, ...)
 * leave the port working; repeats of the same errno within a second are
 * counted but not re-emitted.
 *
 * Link state. A TAP whose interface is down refuses writes with EIO: that is
 * not an error but a link that is down (a guest rebooting, its interface
 * set down, a move to another namespace). The port then reads false in
 * `linkUp`, emits 'link-down' once, consumes nothing in writeBatch, and
 * emits 'link-up' once the link is back; ports without a link state are
 * always up.
 */
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { VtepError, describe } from '../errors.js';
import type { Batch } from '../packet/batch.js';
import { native, STAT, POLL, type NativePoller, type NativeErrnoError } from './native.js';

export type PortKind = 'tap' | 'udp' | 'packet' | 'raw' | 'pcap' | 'memory';

/** Counters of one port (a snapshot: reading `stats` builds a new object). */
export interface PortStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Received frames longer than the pool's dataRoom: dropped. */
  rxTruncated: number;
  /** Send calls stopped by EAGAIN (socket buffer full). */
  txEagain: number;
  /** Send calls stopped by ENOBUFS (device queue full). */
  txEnobufs: number;
  /** Packets dropped by a per-packet send error (EMSGSIZE, EHOSTUNREACH, ...). */
  txErrors: number;
  /** errno name of the last per-packet send error. */
  lastError: string | undefined;
  rxCalls: number;
  txCalls: number;
  /** Datagrams sent inside UDP GSO messages (a subset of txPackets). */
  txGso: number;
  /** GSO messages the kernel refused, resent one datagram at a time. */
  txGsoFallback: number;
  /** Frames received into a large slot (TAP offloads, UDP GRO trains). */
  rxLarge: number;
  /** Coalesced buffers received from a UDP socket with `gro` (gsoSize > 0). */
  rxGro: number;
}

/** Counters all zero: the start of a port's stats. */
export function zeroStats(): PortStats {
  return {
    rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxTruncated: 0, txEagain: 0, txEnobufs: 0,
    txErrors: 0, lastError: undefined, rxCalls: 0, txCalls: 0, txGso: 0, txGsoFallback: 0,
    rxLarge: 0, rxGro: 0,
  };
}

/**
 * A source and sink of packets in pool slots. Ownership: readBatch fills an
 * empty batch with fresh slots the caller then owns; writeBatch never frees
 * or keeps a slot: the caller still owns every entry afterwards and releases
 * the batch (or retries the unconsumed tail) itself.
 */
export interface Port extends EventEmitter {
  readonly kind: PortKind;
  readonly name: string;
  /** Fills the empty `batch` with what is ready; 0 when nothing is (never blocks). */
  readBatch(batch: Batch): number;
  /**
   * Sends entries [from, to); returns how many were consumed from `from`
   * (sent, or dropped by a per-packet error). Entries after those were not
   * attempted (EAGAIN/ENOBUFS or an error event): retry or release them.
   */
  writeBatch(batch: Batch, from?: number, to?: number): number;
  /** Calls cb once per readiness wake-up while set; null stops. */
  onReadable(cb: (() => void) | null): void;
  /** Calls cb once, the next time the port can take more (after EAGAIN). */
  onWritable(cb: () => void): void;
  readonly stats: PortStats;
  readonly closed: boolean;
  /** The error that made the port unusable, if any. */
  readonly failed: VtepError | undefined;
  /**
   * False while the link is down (a TAP whose interface is down): writes
   * consume nothing, nothing is closed. 'link-down' and 'link-up' events
   * mark the changes. Always true for ports without a link.
   */
  readonly linkUp: boolean;
  close(): void;
}

const E = osConstants.errno;
const EAGAIN = E.EAGAIN;
const ENOBUFS = E.ENOBUFS;
const EIO = E.EIO;

/**
 * errno names that mean the device or fd is gone for good. EIO is here for
 * sockets and for a poll error nobody can explain; a TAP treats EIO on
 * write as its link being down (see TapQueue).
 */
export const FATAL_ERRNOS: ReadonlySet<string> = new Set(['EBADF', 'EBADFD', 'ENXIO', 'ENODEV', 'EIO', 'ENOTSOCK', 'EPIPE']);

/**
 * While a link is down, how often its state is read (a fallback: the kernel
 * wakes a writability poll when a TAP comes up, at least on 6.18).
 */
export const LINK_PROBE_MS = 1000;

/** Closes fds of ports dropped without close() (polling ports stay reachable, so never these). */
const leaked = new FinalizationRegistry<number>((fd) => {
  native().closeFd(fd);
});

/**
 * Takes up to `want` spare large slots into batch.spare for a receive call
 * that may spill into them; 0 when the pool has none.
 */
export function takeSpares(batch: Batch, want: number): number {
  const pool = batch.pool;
  if (pool.largeSlots === 0) return 0;
  const cap = batch.spare.length;
  return pool.allocLargeMany(batch.spare, want < cap ? want : cap);
}

/** Frees batch.spare[0..n) after a receive call (the native side left there what the batch did not keep). */
export function freeSpares(batch: Batch, n: number): void {
  const pool = batch.pool;
  const spare = batch.spare;
  for (let i = 0; i < n; i++) pool.free(spare[i]!);
}

/** Closes `fd` if `owner` is dropped without close(); close() unregisters every fd of the owner. */
export function trackFd(owner: object, fd: number): void {
  leaked.register(owner, fd, owner);
}

/** Gives the slots of entries [from, to) back to the pool (after a short receive). */
export function releaseTail(batch: Batch, from: number, to: number): void {
  const pool = batch.pool;
  const slot = batch.slot;
  for (let i = from; i < to; i++) pool.free(slot[i]!);
}

/** errno number to name and message (slow path only). */
export function errnoInfo(errno: number): { name: string; message: string } {
  return native().errnoName(errno);
}

/** A VtepError from an Error thrown by a native setup call. */
export function nativeError(what: string, err: unknown): VtepError {
  const e = err as Partial<NativeErrnoError>;
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.syscall === 'string') {
    const msg = errnoInfo(e.errno ?? 0).message;
    return new VtepError('ERR_NATIVE', `${what}: ${e.syscall} failed: ${e.code} (${msg})`, { errno: e.code, cause: err });
  }
  if (err instanceof VtepError) return err;
  return new VtepError('ERR_NATIVE', `${what}: ${String((err as Error)?.message ?? err)}`, { cause: err });
}

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,255}$/;

/**
 * A namespace option as a path: a name made by `ip netns add` (looked up in
 * /var/run/netns) or an absolute path such as /proc/PID/ns/net.
 */
export function netnsPath(value: unknown, field = 'netns'): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && value.startsWith('/')) return value;
  if (typeof value === 'string' && NETNS_NAME.test(value) && value !== '.' && value !== '..') return `/var/run/netns/${value}`;
  throw new VtepError('ERR_INVALID_ARG', `${field}: ${describe(value)} is not a namespace name or an absolute path`);
}

/** Checks [from, to) against a batch; throws ERR_INVALID_ARG on misuse. */
export function checkRange(batch: Batch, from: number, to: number): void {
  if (!(from >= 0 && to <= batch.count && from <= to && (from | 0) === from && (to | 0) === to)) {
    throw new VtepError('ERR_INVALID_ARG', `range: [${from}, ${to}) is not within the batch's ${batch.count} packets`);
  }
}

export abstract class FdPort extends EventEmitter implements Port {
  abstract readonly kind: PortKind;
  readonly name: string;
  /** The kernel fd; -1 once closed. */
  protected _fd: number;
  /** Counters, added to by every native call; layout STAT. */
  readonly st = new Float64Array(STAT.COUNT);

  #poller: NativePoller | undefined;
  #readable: (() => void) | null = null;
  #writable: (() => void) | null = null;
  #closed = false;
  #failed: VtepError | undefined;
  #lastEmitErrno = 0;
  #lastEmitAt = 0;
  #silentPollErrors = 0;
  #linkUp = true;
  #linkProbe: ReturnType<typeof setInterval> | undefined;

  protected constructor(fd: number, name: string) {
    super();
    this._fd = fd;
    this.name = name;
    leaked.register(this, fd, this);
  }

  /** The kernel fd, -1 once closed. For inspection: the port owns it. */
  get fd(): number {
    return this._fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get failed(): VtepError | undefined {
    return this.#failed;
  }

  get linkUp(): boolean {
    return this.#linkUp;
  }

  /** True when batch I/O may run: throws after close(), false once failed. */
  protected usable(): boolean {
    if (this.#closed) throw new VtepError('ERR_CLOSED', `${this.kind} ${this.name}: used after close()`);
    return this.#failed === undefined;
  }

  get stats(): PortStats {
    const s = this.st;
    const last = s[STAT.LAST_ERRNO]!;
    return {
      rxPackets: s[STAT.RX_PACKETS]!,
      rxBytes: s[STAT.RX_BYTES]!,
      txPackets: s[STAT.TX_PACKETS]!,
      txBytes: s[STAT.TX_BYTES]!,
      rxTruncated: s[STAT.RX_TRUNCATED]!,
      txEagain: s[STAT.TX_EAGAIN]!,
      txEnobufs: s[STAT.TX_ENOBUFS]!,
      txErrors: s[STAT.TX_ERRORS]!,
      lastError: last === 0 ? undefined : errnoInfo(last).name,
      rxCalls: s[STAT.RX_CALLS]!,
      txCalls: s[STAT.TX_CALLS]!,
      txGso: s[STAT.TX_GSO]!,
      txGsoFallback: s[STAT.TX_GSO_FALLBACK]!,
      rxLarge: s[STAT.RX_LARGE]!,
      rxGro: s[STAT.RX_GRO]!,
    };
  }

  abstract readBatch(batch: Batch): number;
  abstract writeBatch(batch: Batch, from?: number, to?: number): number;

  onReadable(cb: (() => void) | null): void {
    if (cb !== null && typeof cb !== 'function') throw new VtepError('ERR_INVALID_ARG', `onReadable: ${typeof cb} is not a function or null`);
    if (cb !== null) this.usable();
    this.#readable = cb;
    this.#updatePoll();
  }

  onWritable(cb: () => void): void {
    if (typeof cb !== 'function') throw new VtepError('ERR_INVALID_ARG', `onWritable: ${typeof cb} is not a function`);
    this.usable();
    this.#writable = cb;
    this.#updatePoll();
  }

  /** Stops polling and closes the fd; idempotent. Emits 'close'. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#readable = null;
    this.#writable = null;
    this.#stopLinkProbe();
    // The poll handle goes before the fd: libuv must never watch a closed fd.
    this.#poller?.close();
    this.#poller = undefined;
    leaked.unregister(this);
    native().closeFd(this._fd);
    this._fd = -1;
    this.emit('close');
  }

  #updatePoll(): void {
    if (this.#closed || this.#failed !== undefined) return;
    // While the link is down, writability is the sign that it is up again.
    const mask = (this.#readable !== null ? POLL.READABLE : 0) | (this.#writable !== null || !this.#linkUp ? POLL.WRITABLE : 0);
    if (mask === 0) {
      this.#poller?.stop();
      return;
    }
    if (this.#poller === undefined) this.#poller = new (native().Poller)(this._fd, this.#onPoll);
    this.#poller.start(mask);
  }

  #onPoll = (status: number, events: number): void => {
    if (this.#closed || this.#failed !== undefined) return;
    if (status < 0) {
      // libuv stopped the handle (POLLERR): find out why, then resume if we may.
      // A POLLERR nobody can explain twice in a row would spin: call it EIO.
      let errno = this.pollErrno();
      if (errno === 0 && ++this.#silentPollErrors >= 2) errno = EIO;
      this.report(errno, 'poll');
      this.#updatePoll();
      return;
    }
    this.#silentPollErrors = 0;
    if ((events & POLL.WRITABLE) !== 0 && !this.#linkUp) this.markLinkUp();
    if ((events & POLL.WRITABLE) !== 0 && this.#writable !== null) {
      const cb = this.#writable;
      this.#writable = null;
      this.#updatePoll();
      cb();
    }
    if ((events & POLL.READABLE) !== 0 && this.#readable !== null) this.#readable();
  };

  /** After a poll error: the errno behind it (0 when none could be found). */
  protected abstract pollErrno(): number;

  /** Whether `errno` (from `op`: read, write, poll) means the port is gone; subclasses refine (AF_PACKET, TAP). */
  protected isFatal(name: string, _op: string): boolean {
    return FATAL_ERRNOS.has(name);
  }

  /**
   * The link state now, for the fallback probe while down: true (up), false
   * (down) or an errno when the device is gone. Ports that call markLinkDown
   * implement it; writability on their fd must mean the link is up.
   */
  protected probeLink(): boolean | number {
    return true;
  }

  /** The link went down: stop consuming writes, emit 'link-down' once, watch for it to come back. */
  protected markLinkDown(): void {
    if (!this.#linkUp || this.#closed || this.#failed !== undefined) return;
    this.#linkUp = false;
    this.#updatePoll();
    this.#linkProbe = setInterval(this.#onLinkProbe, LINK_PROBE_MS);
    this.#linkProbe.unref();
    process.nextTick(() => this.emit('link-down'));
  }

  /** The link is up again: emit 'link-up' once. */
  protected markLinkUp(): void {
    if (this.#linkUp) return;
    this.#linkUp = true;
    this.#stopLinkProbe();
    this.#updatePoll();
    if (!this.#closed) process.nextTick(() => this.emit('link-up'));
  }

  #onLinkProbe = (): void => {
    if (this.#closed || this.#failed !== undefined) return this.#stopLinkProbe();
    const s = this.probeLink();
    if (typeof s === 'number') this.report(s, 'probe');
    else if (s) this.markLinkUp();
  };

  #stopLinkProbe(): void {
    if (this.#linkProbe !== undefined) clearInterval(this.#linkProbe);
    this.#linkProbe = undefined;
  }

  /** After a batch call: turns st[STOP_ERRNO] into an error event when it is one. */
  protected checkStop(op: string): void {
    const e = this.st[STAT.STOP_ERRNO]!;
    if (e === 0 || e === EAGAIN || e === ENOBUFS) return;
    this.report(e, op);
  }

  /** Emits an error for `errno` (0: nothing); fatal ones fail the port. */
  protected report(errno: number, op: string): void {
    if (errno === 0) return;
    const { name, message } = errnoInfo(errno);
    const fatal = this.isFatal(name, op);
    const err = new VtepError('ERR_NATIVE', `${this.kind} ${this.name}: ${op} failed: ${name} (${message})`, { errno: name });
    if (fatal) {
      this.#failed = err;
      this.#stopLinkProbe();
      this.#poller?.close();
      this.#poller = undefined;
    } else {
      const now = Date.now();
      if (errno === this.#lastEmitErrno && now - this.#lastEmitAt < 1000) return;
      this.#lastEmitErrno = errno;
      this.#lastEmitAt = now;
    }
    process.nextTick(() => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.emitWarning(err);
    });
  }
}
