/**
 * UDP sockets, IPv4 or IPv6: sendmmsg with a destination per packet
 * (batch.addr / batch.peerPort), recvmmsg into pool slots at the headroom so
 * that decapsulation only moves `start`; the source goes to addr/peerPort.
 *
 *   const udp = UdpSocket.open({ address: '198.18.0.1', port: 4789, netns: 'ns1' });
 *   udp.sendBatch(batch);            // entries consumed
 *   udp.recvBatch(batch);            // datagrams received
 *
 * GSO (default on where the kernel has UDP_SEGMENT): consecutive entries to
 * the same destination and of the same length (the last of a run may be
 * shorter) go to the kernel as one message of up to 64 datagrams, an iovec
 * over their slots. The datagrams on the wire are the ones per-packet sends
 * make; the kernel's cost per datagram drops several times. A run the kernel
 * refuses (path MTU below the length, ...) is resent datagram by datagram.
 *
 * Per-flow source ports (RFC 7348 §5): with `srcPorts: N` the socket opens N
 * more sockets on the same address, bound to N ports spread over
 * `srcPortRange` (`udp.srcPorts`), and sendBatch sends entry i from the port
 * in batch.srcPort[i] (0: the socket's own port; a port outside the set maps
 * to srcPorts[port % N]). `udp.srcPortFor(flowHash)` picks one per flow.
 * sendBatch first groups the entries by port (stable: the order within a flow
 * holds, across flows it may change), then sends each group with one
 * sendmmsg, GSO included; see docs/io.md for why several sockets and not raw
 * IP or AF_PACKET.
 */
import { invalidArg, checkInt } from '../errors.js';
import { parseIp, formatIp, type IpFamily } from '../util/addr.js';
import type { Batch } from '../packet/batch.js';
import { native, ADDR_MODE, SEND_GSO, STAT } from './native.js';
import { checkRange, freeSpares, nativeError, releaseTail, takeSpares, trackFd } from './port.js';
import { SocketPort, socketArgs, type SocketOptions } from './socket.js';

export interface UdpOptions extends SocketOptions {
  /** 4 or 6; taken from `address` when unset; default 4. */
  family?: IpFamily;
  /** Local address to bind; default the wildcard of the family. */
  address?: string;
  /** Local port; 0 (default) lets the kernel pick. */
  port?: number;
  /** SO_REUSEPORT: several sockets (one per worker) share the port. */
  reusePort?: boolean;
  /** SO_REUSEADDR. */
  reuseAddr?: boolean;
  /** IPV6_V6ONLY for IPv6 sockets; default true (no IPv4-mapped peers). */
  v6Only?: boolean;
  /** Coalesce same-destination runs with UDP GSO when the kernel can. Default true. */
  gso?: boolean;
  /**
   * UDP_GRO: the kernel may hand over a train of datagrams of one flow as one
   * buffer; recvBatch then sets batch.gsoSize[i] to the size of each datagram
   * in it (0 for a single one), and the receiver splits it. Trains longer than
   * a small slot land in the pool's large slots. Default false.
   */
  gro?: boolean;
  /**
   * Extra sockets bound to this many source ports (1..1024), for per-flow
   * source ports through batch.srcPort. Default 0: every packet leaves from `port`.
   */
  srcPorts?: number;
  /** Where those ports come from, inclusive. Default [49152, 65535]. */
  srcPortRange?: [number, number];
}

/** Default range of per-flow source ports (RFC 7348 §5, RFC 6335 dynamic ports). */
export const SRC_PORT_RANGE: readonly [number, number] = [49152, 65535];
const MAX_SRC_PORTS = 1024;

export class UdpSocket extends SocketPort {
  readonly kind = 'udp' as const;
  readonly family: IpFamily;
  readonly localAddress: string;
  readonly localPort: number;
  /** Whether sendBatch uses UDP GSO (asked for and supported by the kernel). */
  readonly gso: boolean;
  /** Whether recvBatch may return coalesced trains (UDP_GRO asked for and taken). */
  readonly gro: boolean;
  /** Source ports of the extra send sockets (empty without `srcPorts`). */
  readonly srcPorts: Uint16Array;
  /** fds[0] this socket, fds[k] the socket of srcPorts[k-1]; portMap: port -> k. */
  #fds: Int32Array | undefined;
  #portMap: Uint16Array | undefined;
  /** Scratch of the grouping: socket per entry, counts, order. */
  #keys = new Uint16Array(0);
  #counts = new Uint32Array(0);
  #order = new Uint32Array(0);

  private constructor(fd: number, family: IpFamily, address: string, port: number, gso: boolean, gro: boolean) {
    super(fd, `${family === 6 ? `[${address}]` : address}:${port}`, family === 6 ? ADDR_MODE.UDP6 : ADDR_MODE.UDP4, gso ? SEND_GSO : 0);
    this.gso = gso;
    this.gro = gro;
    this.srcPorts = new Uint16Array(0);
    this.family = family;
    this.localAddress = address;
    this.localPort = port;
  }

  static open(options: UdpOptions = {}): UdpSocket {
    if (options === null || typeof options !== 'object') throw invalidArg('options', options, 'an object');
    if (options.family !== undefined && options.family !== 4 && options.family !== 6) throw invalidArg('family', options.family, '4 or 6');
    const address = options.address ?? (options.family === 6 ? '::' : '0.0.0.0');
    const ip = parseIp(address, 'address');
    if (options.family !== undefined && options.family !== ip.family) {
      throw invalidArg('address', address, `an IPv${options.family} address (family is ${options.family})`);
    }
    const port = checkInt('port', options.port ?? 0, 0, 65535);
    for (const k of ['reusePort', 'reuseAddr', 'v6Only', 'gso', 'gro'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'boolean') throw invalidArg(k, options[k], 'a boolean');
    }
    const nPorts = checkInt('srcPorts', options.srcPorts ?? 0, 0, MAX_SRC_PORTS);
    const range = options.srcPortRange ?? SRC_PORT_RANGE;
    if (!Array.isArray(range) || range.length !== 2) throw invalidArg('srcPortRange', range, 'a [min, max] pair');
    const lo = checkInt('srcPortRange', range[0], 1, 65535);
    const hi = checkInt('srcPortRange', range[1], lo, 65535);
    if (nPorts > hi - lo + 1) throw invalidArg('srcPorts', nPorts, `at most the ${hi - lo + 1} ports of srcPortRange`);
    const addr = new Uint32Array(4);
    addr.set(ip.words);
    let opened: { fd: number; port: number; gso: boolean; gro: boolean };
    try {
      opened = native().udpOpen({
        ...socketArgs(options),
        family: ip.family,
        addr,
        port,
        reusePort: options.reusePort ?? false,
        reuseAddr: options.reuseAddr ?? false,
        v6Only: options.v6Only ?? true,
        gso: options.gso ?? true,
        gro: options.gro ?? false,
      });
    } catch (err) {
      throw nativeError(`udp ${address}:${port}`, err);
    }
    const sock = new UdpSocket(opened.fd, ip.family, formatIp(ip), opened.port, opened.gso, opened.gro);
    if (nPorts > 0) {
      try {
        sock.#openSrcPorts(options, ip.family, addr, nPorts, lo, hi);
      } catch (err) {
        sock.close();
        throw err;
      }
    }
    return sock;
  }

  /**
   * Opens n send-only sockets on ports spread evenly over [lo, hi]; a port in
   * use moves to the next free one of its share of the range.
   */
  #openSrcPorts(options: UdpOptions, family: IpFamily, addr: Uint32Array, n: number, lo: number, hi: number): void {
    const span = hi - lo + 1;
    const fds = new Int32Array(n + 1);
    const ports = new Uint16Array(n);
    fds[0] = this._fd;
    const common = socketArgs(options);
    // What the extra sockets receive nobody reads: the smallest receive buffer.
    const args = { ...common, rcvbuf: 1, family, addr, reusePort: false, reuseAddr: false, v6Only: options.v6Only ?? true, gso: this.gso };
    let opened = 0;
    try {
      for (let k = 0; k < n; k++) {
        const first = lo + Math.floor((k * span) / n);
        const last = lo + Math.floor(((k + 1) * span) / n) - 1;
        for (let p = first; ; p++) {
          try {
            const o = native().udpOpen({ ...args, port: p });
            fds[k + 1] = o.fd;
            trackFd(this, o.fd);
            opened++;
            ports[k] = p;
            break;
          } catch (err) {
            if ((err as { code?: unknown }).code !== 'EADDRINUSE' || p >= last) throw nativeError(`udp ${this.name} source port ${p}`, err);
          }
        }
      }
    } catch (err) {
      for (let k = 1; k <= opened; k++) native().closeFd(fds[k]!);
      throw err;
    }
    const map = new Uint16Array(65536);
    for (let p = 1; p < 65536; p++) map[p] = 1 + (p % n);
    for (let k = 0; k < n; k++) map[ports[k]!] = k + 1;
    map[0] = 0;
    (this as { srcPorts: Uint16Array }).srcPorts = ports;
    this.#fds = fds;
    this.#portMap = map;
  }

  /** The source port for a flow hash: one of srcPorts, equal for equal hashes (0 without srcPorts). */
  srcPortFor(hash: number): number {
    const n = this.srcPorts.length;
    return n === 0 ? 0 : this.srcPorts[(hash >>> 0) % n]!;
  }

  /**
   * Sends entries [from, to) (see SocketPort.sendBatch). With srcPorts, entry i
   * leaves from batch.srcPort[i] (0: this socket's port).
   */
  override sendBatch(batch: Batch, from = 0, to = batch.count): number {
    const fds = this.#fds;
    if (fds === undefined) return super.sendBatch(batch, from, to);
    if (!this.usable()) return 0;
    checkRange(batch, from, to);
    if (from === to) return 0;
    this.#group(batch, from, to);
    const st = this.st;
    const done = this.n.mmsgSendPorts(fds, this.#portMap!, batch.srcPort, this.sendMode, batch.pool.u8, batch.start, batch.len, batch.addr, batch.peerPort, from, to, st);
    if (st[STAT.STOP_ERRNO] !== 0) this.checkStop('sendmmsg');
    return done;
  }

  /**
   * Groups entries [from, to) by source socket, keeping the order within each
   * (so within each flow), when they are not grouped already: one sendmmsg per
   * socket instead of one per change of socket. Order across flows is free.
   */
  #group(batch: Batch, from: number, to: number): void {
    const map = this.#portMap!;
    const src = batch.srcPort;
    const n = to - from;
    const sockets = this.#fds!.length;
    if (this.#keys.length < n) {
      this.#keys = new Uint16Array(batch.capacity);
      this.#order = new Uint32Array(batch.capacity);
    }
    if (this.#counts.length !== sockets + 1) this.#counts = new Uint32Array(sockets + 1);
    const keys = this.#keys;
    const counts = this.#counts;
    counts.fill(0);
    let changes = 0;
    let distinct = 0;
    let prev = -1;
    for (let j = 0; j < n; j++) {
      const k = map[src[from + j]!]!;
      keys[j] = k;
      if (counts[k + 1]!++ === 0) distinct++;
      if (k !== prev) changes++;
      prev = k;
    }
    if (changes === distinct) return;
    for (let k = 1; k <= sockets; k++) counts[k] = counts[k]! + counts[k - 1]!;
    const order = this.#order;
    for (let j = 0; j < n; j++) order[counts[keys[j]!]!++] = j;
    batch.reorder(from, order, n);
  }

  /** Closes the socket and its source-port sockets. */
  override close(): void {
    if (this.closed) return;
    const fds = this.#fds;
    this.#fds = undefined;
    if (fds !== undefined) for (let k = 1; k < fds.length; k++) native().closeFd(fds[k]!);
    super.close();
  }

  /**
   * Receives into the empty `batch` (see SocketPort.recvBatch). With `gro`,
   * an entry may hold a train of datagrams: batch.gsoSize[i] is the size of
   * each (the last may be shorter), 0 for a single datagram. A train longer
   * than a small slot lands in a large slot (a batch takes up to 64 as spares;
   * without large slots such a train is truncated and dropped).
   */
  override recvBatch(batch: Batch): number {
    if (!this.gro) return super.recvBatch(batch);
    if (!this.usable()) return 0;
    const n = batch.prepareRx();
    if (n === 0) return 0;
    const pool = batch.pool;
    const st = this.st;
    const spares = takeSpares(batch, n);
    const got = this.n.mmsgRecvGro(
      this._fd, this.mode, pool.u8, batch.slot, batch.start, batch.len, batch.addr, batch.peerPort, n, pool.dataRoom,
      batch.gsoSize, batch.spare, spares, pool.slotSize, pool.headroom, pool.largeRoom, st,
    );
    if (spares > 0) freeSpares(batch, spares);
    batch.count = got;
    if (got < n) releaseTail(batch, got, n);
    if (st[STAT.STOP_ERRNO] !== 0) this.checkStop('recvmmsg');
    return got;
  }
}
