/**
 * The base of the socket ports (UDP, AF_PACKET, raw IP): batch send with
 * sendmmsg and batch receive with recvmmsg, straight between the kernel and
 * pool slots. recvBatch/sendBatch are the socket names; readBatch/writeBatch
 * the same calls under the Port names.
 */
import { invalidArg, checkInt } from '../errors.js';
import type { Batch } from '../packet/batch.js';
import { native, STAT, type AddrMode, type NativeAddon, type SocketCommonArgs } from './native.js';
import { FdPort, checkRange, netnsPath, releaseTail } from './port.js';

/** Options every socket port takes. */
export interface SocketOptions {
  /** Namespace to create the socket in: a name from `ip netns add` or a path. */
  netns?: string;
  /** SO_SNDBUF in bytes (SO_SNDBUFFORCE first, so root may pass net.core.wmem_max). */
  sndbuf?: number;
  /** SO_RCVBUF in bytes (SO_RCVBUFFORCE first). */
  rcvbuf?: number;
  /** SO_BINDTODEVICE: only this interface. */
  device?: string;
}

/** Validates the common options into native arguments. */
export function socketArgs(o: SocketOptions): SocketCommonArgs {
  const a: SocketCommonArgs = {};
  const netns = netnsPath(o.netns);
  if (netns !== undefined) a.netns = netns;
  if (o.sndbuf !== undefined) a.sndbuf = checkInt('sndbuf', o.sndbuf, 0, 0x7fffffff);
  if (o.rcvbuf !== undefined) a.rcvbuf = checkInt('rcvbuf', o.rcvbuf, 0, 0x7fffffff);
  if (o.device !== undefined) {
    if (typeof o.device !== 'string' || !/^[^\s/:]{1,15}$/.test(o.device)) throw invalidArg('device', o.device, 'an interface name');
    a.device = o.device;
  }
  return a;
}

export abstract class SocketPort extends FdPort {
  protected readonly n: NativeAddon;
  /** How per-packet addresses are handled on receive (ADDR_MODE). */
  protected readonly mode: AddrMode;
  /** The same for send, plus flags (SEND_GSO). */
  protected readonly sendMode: number;

  protected constructor(fd: number, name: string, mode: AddrMode, sendFlags = 0) {
    super(fd, name);
    this.n = native();
    this.mode = mode;
    this.sendMode = mode | sendFlags;
  }

  /**
   * Receives what is ready into the empty `batch` (up to its capacity, one
   * datagram per fresh slot at the headroom); returns the count, 0 when
   * nothing is ready. The peer address and port go to batch.addr/peerPort.
   */
  recvBatch(batch: Batch): number {
    if (!this.usable()) return 0;
    const n = batch.prepareRx();
    if (n === 0) return 0;
    const pool = batch.pool;
    const st = this.st;
    const got = this.n.mmsgRecv(this._fd, this.mode, pool.u8, batch.slot, batch.start, batch.len, batch.addr, batch.peerPort, n, pool.dataRoom, st);
    batch.count = got;
    if (got < n) releaseTail(batch, got, n);
    if (st[STAT.STOP_ERRNO] !== 0) this.checkStop('recvmmsg');
    return got;
  }

  /** Sends entries [from, to); returns how many were consumed (see Port). */
  sendBatch(batch: Batch, from = 0, to = batch.count): number {
    if (!this.usable()) return 0;
    checkRange(batch, from, to);
    if (from === to) return 0;
    const st = this.st;
    const done = this.n.mmsgSend(this._fd, this.sendMode, batch.pool.u8, batch.start, batch.len, batch.addr, batch.peerPort, from, to, st);
    if (st[STAT.STOP_ERRNO] !== 0) this.checkStop('sendmmsg');
    return done;
  }

  readBatch(batch: Batch): number {
    return this.recvBatch(batch);
  }

  writeBatch(batch: Batch, from = 0, to = batch.count): number {
    return this.sendBatch(batch, from, to);
  }

  protected pollErrno(): number {
    return this.n.socketError(this._fd);
  }
}
