/**
 * TAP devices: Ethernet frames between the kernel and pool slots.
 *
 *   const tap = TapDevice.open({ name: 'vm1tap', netns: 'ns1', mtu: 1500, mac: 0x020000000001, up: true });
 *   tap.onReadable(() => { while (tap.readBatch(b) > 0) { ...; b.release(); } });
 *
 * One TapQueue per fd; TapDevice is queue 0 and holds every queue of a
 * multi-queue device. A device opened with `netns` is created (or attached)
 * inside that namespace: the native call enters it around TUNSETIFF and the
 * ioctls and returns; the fd stays bound to the device wherever it moves.
 * Later configuration (setMtu, setUp, ...) runs in the namespace where the
 * device is at that moment (TUNGETDEVNETNS).
 *
 * Link state. tun refuses a write with EIO while the interface is down (a
 * guest that reboots, an interface set down by hand, and every move to another
 * namespace, which takes the device down on the way): the queue then reads
 * linkUp false, emits 'link-down', and writeBatch consumes nothing (one
 * write() per call finds out whether it is still down). It emits 'link-up'
 * and takes writes again on the first of: the fd polling writable (tun
 * reports EPOLLOUT only for an interface that is up, and wakes its pollers
 * when it comes up), a write that goes through, or the IFF_UP flag read
 * every LINK_PROBE_MS while down (for kernels that do not wake
 * pollers). Reads go on meanwhile: a down TAP just has nothing to read. Only
 * a device that is gone (EBADFD once it is deleted, ENODEV, ENXIO) is an
 * 'error' and fails the queue.
 *
 * With vnetHdr, each frame is preceded by a virtio-net header of vnetHdrSize
 * bytes: on read it lands in the headroom just before `start` (the frame
 * still starts at `start`) and its fields go to the batch's offload arrays
 * (vflags, gsoType, hdrLen, gsoSize, csumStart, csumOffset); on write a header
 * built from those arrays goes first (all zero: a plain frame).
 *
 * With offloads (TUNSETOFFLOAD, implies vnetHdr), the kernel may hand us TCP
 * super-frames of up to 64 KB (gsoType TCPv4/TCPv6, gsoSize = MSS) and frames
 * with a partial checksum (vflags NEEDS_CSUM), and takes the same from us.
 * Super-frames land in the pool's large slots (PacketPool largeSlots): each
 * readBatch lends the native call up to 64 of them as spares; every read goes
 * into a spare, a frame that fits a small slot is copied there (cheaper than a
 * readv over both, measured), a longer one keeps the large slot; the unused
 * spares go back after the call.
 */
import { constants as osConstants } from 'node:os';
import { VtepError, checkInt, invalidArg } from '../errors.js';
import type { Batch } from '../packet/batch.js';
import { isGroupMac, parseMac } from '../util/addr.js';
import { native, STAT, type NativeAddon, type TapInfo, type TapConfigArgs } from './native.js';
import { FdPort, FATAL_ERRNOS, checkRange, errnoInfo, freeSpares, nativeError, netnsPath, releaseTail, takeSpares } from './port.js';

const EIO = osConstants.errno.EIO;

/** TUNSETOFFLOAD bits (linux/if_tun.h; USO from 6.2). */
export const TUN_F = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, TSO_ECN: 0x08, UFO: 0x10, USO4: 0x20, USO6: 0x40, UDP_TUNNEL_GSO: 0x80 } as const;

/** virtio-net header values of Batch.vflags and Batch.gsoType (linux/virtio_net.h). */
export const VnetFlag = { NEEDS_CSUM: 1, DATA_VALID: 2 } as const;
export const VnetGso = { NONE: 0, TCPV4: 1, UDP: 3, TCPV6: 4, UDP_L4: 5, ECN: 0x80 } as const;

/** Offloads the kernel granted a TAP opened with `offloads: true` (all false otherwise). */
export interface TapOffloads {
  /** Frames may carry a partial checksum (NEEDS_CSUM), both ways. */
  csum: boolean;
  /** TCP super-frames (TSO) over IPv4 / IPv6, and with the ECN (CWR) bit. */
  tso4: boolean;
  tso6: boolean;
  tsoEcn: boolean;
  /** UDP super-frames (USO, gso_type UDP_L4), Linux 6.2 and later. */
  uso4: boolean;
  uso6: boolean;
  /**
   * UDP-tunnel GSO (Linux 6.17): a whole encapsulated super-frame written as
   * one frame (vnetHdrSize 24 only): the kernel segments it, or a peer on a
   * veth takes it whole.
   */
  udpTunnel: boolean;
}

function offloadsOf(bits: number): TapOffloads {
  return Object.freeze({
    csum: (bits & TUN_F.CSUM) !== 0,
    tso4: (bits & TUN_F.TSO4) !== 0,
    tso6: (bits & TUN_F.TSO6) !== 0,
    tsoEcn: (bits & TUN_F.TSO_ECN) !== 0,
    uso4: (bits & TUN_F.USO4) !== 0,
    uso6: (bits & TUN_F.USO6) !== 0,
    udpTunnel: (bits & TUN_F.UDP_TUNNEL_GSO) !== 0,
  });
}

export interface TapOptions {
  /** Interface name, at most 15 bytes; "%d" lets the kernel number it. Default "vtep%d". */
  name?: string;
  /** Namespace to create or attach the device in: a name from `ip netns add` or a path. */
  netns?: string;
  /** IFF_VNET_HDR: a virtio-net header before every frame. Default false. */
  vnetHdr?: boolean;
  /** Size of that header: 10 (virtio_net_hdr), 12 (with num_buffers) or 24 (virtio_net_hdr_v1_hash_tunnel: UDP-tunnel GSO, Linux 6.17). Default 12. */
  vnetHdrSize?: 10 | 12 | 24;
  /**
   * TUNSETOFFLOAD: checksum offload, TSO4/6 with ECN, and USO4/6 where the
   * kernel has it (probed; see `offloads`). Implies vnetHdr. Super-frames need a
   * pool with large slots. Default false.
   */
  offloads?: boolean;
  /** IFF_MULTI_QUEUE: open `queues` fds on one device. Default false. */
  multiQueue?: boolean;
  /** Number of queues to open (1..256); more than 1 needs multiQueue. Default 1. */
  queues?: number;
  /** TUNSETPERSIST: true keeps the device after close, false clears it; unset leaves it. */
  persist?: boolean;
  /** IFF_TUN_EXCL: fail with EBUSY instead of attaching to an existing device. Default false. */
  exclusive?: boolean;
  /** MTU (68..65535). Unset leaves the kernel's (1500 for a new device). */
  mtu?: number;
  /** Unicast MAC, as a 48-bit number or "02:00:00:00:00:01". Unset: the kernel's random one. */
  mac?: number | string;
  /** Bring the link up (true) or down (false). Unset leaves it. */
  up?: boolean;
  /** Device transmit queue length, i.e. frames the kernel holds for us to read. */
  txQueueLen?: number;
}

const NAME_RE = /^[^\s/:]{1,15}$/;
const MAX_QUEUES = 256;

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || Buffer.byteLength(name) > 15 || name === '.' || name === '..') {
    throw invalidArg('name', name, 'an interface name of 1..15 bytes without "/", ":" or spaces');
  }
  return name;
}

function checkMac(mac: unknown): number {
  const m = typeof mac === 'string' ? parseMac(mac, 'mac') : mac;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 0xffffffffffff) {
    throw invalidArg('mac', mac, 'a 48-bit MAC number or a "02:00:00:00:00:01" string');
  }
  if (isGroupMac(m) || m === 0) throw invalidArg('mac', mac, 'a unicast, non-zero MAC');
  return m;
}

function checkBool(field: string, v: unknown): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  throw invalidArg(field, v, 'a boolean');
}

function configArgs(o: { mtu?: unknown; mac?: unknown; up?: unknown; txQueueLen?: unknown; persist?: unknown }): TapConfigArgs {
  const c: TapConfigArgs = {};
  if (o.mtu !== undefined) c.mtu = checkInt('mtu', o.mtu, 68, 65535);
  if (o.mac !== undefined) c.mac = checkMac(o.mac);
  const up = checkBool('up', o.up);
  if (up !== undefined) c.up = up;
  if (o.txQueueLen !== undefined) c.txQueueLen = checkInt('txQueueLen', o.txQueueLen, 0, 0x7fffffff);
  const persist = checkBool('persist', o.persist);
  if (persist !== undefined) c.persist = persist;
  return c;
}

/** One queue (fd) of a TAP device. */
export class TapQueue extends FdPort {
  readonly kind = 'tap' as const;
  /** Queue number within the device. */
  readonly queue: number;
  /** Bytes of virtio-net header before each frame (0 without vnetHdr). */
  readonly vnetHdrSize: number;
  /** What TUNSETOFFLOAD granted (all false without `offloads`). */
  readonly offloads: TapOffloads;
  /** Whether the kernel may send super-frames (TSO or USO granted): reads take spare large slots. */
  readonly superFrames: boolean;
  protected readonly n: NativeAddon;

  /** @internal Use TapDevice.open. */
  constructor(fd: number, name: string, queue: number, vnetHdrSize: number, offloadBits = 0) {
    super(fd, name);
    this.queue = queue;
    this.vnetHdrSize = vnetHdrSize;
    this.offloads = offloadsOf(offloadBits);
    this.superFrames = (offloadBits & (TUN_F.TSO4 | TUN_F.TSO6 | TUN_F.USO4 | TUN_F.USO6)) !== 0;
    this.n = native();
  }

  /**
   * Reads the frames that are ready into the empty `batch` (up to its
   * capacity, each into a fresh slot at the headroom); returns the count,
   * 0 when none is ready. A frame must be shorter than pool.dataRoom: one
   * that fills the room may have been cut by the driver, so it is dropped
   * and counted (stats.rxTruncated), as are longer ones. With the default
   * pool that allows 1917-byte frames. For a multi-queue device, read every
   * queue (tap.queues[i]); the kernel spreads flows over them.
   *
   * With vnetHdr the header's fields go to the batch's offload arrays. With
   * offloads and a pool that has large slots, a frame longer than the small
   * room lands in a large slot (up to pool.largeRoom), and a batch holds at
   * most 64 of them (the call stops when its spares run out).
   */
  readBatch(batch: Batch): number {
    if (!this.usable()) return 0;
    const n = batch.prepareRx();
    if (n === 0) return 0;
    const pool = batch.pool;
    const st = this.st;
    let got: number;
    if (this.vnetHdrSize === 0) {
      got = this.n.fdReadBatch(this._fd, pool.u8, batch.start, batch.len, n, pool.dataRoom, 0, st);
    } else {
      const spares = this.superFrames ? takeSpares(batch, n) : 0;
      got = this.n.vnetReadBatch(
        this._fd, pool.u8, batch.slot, batch.start, batch.len, n, pool.dataRoom, this.vnetHdrSize,
        batch.vflags, batch.gsoType, batch.gsoSize, batch.hdrLen, batch.csumStart, batch.csumOffset,
        batch.spare, spares, pool.slotSize, pool.headroom, pool.largeRoom, st,
      );
      if (spares > 0) freeSpares(batch, spares);
    }
    batch.count = got;
    if (got < n) releaseTail(batch, got, n);
    if (st[STAT.STOP_ERRNO] !== 0) this.checkStop('read');
    return got;
  }

  /**
   * Writes entries [from, to); returns how many were consumed (see Port). With
   * vnetHdr each frame goes behind a header built from the batch's offload
   * arrays: a super-frame (gsoType, gsoSize) or a partial checksum
   * (vflags NEEDS_CSUM, csumStart, csumOffset) is finished by the kernel. A
   * header the kernel refuses drops that frame (txErrors, EINVAL).
   */
  writeBatch(batch: Batch, from = 0, to = batch.count): number {
    if (!this.usable()) return 0;
    checkRange(batch, from, to);
    if (from === to) return 0;
    const st = this.st;
    const u8 = batch.pool.u8;
    const done =
      this.vnetHdrSize === 0
        ? this.n.fdWriteBatch(this._fd, u8, batch.start, batch.len, from, to, 0, st)
        : this.n.vnetWriteBatch(
            this._fd, u8, batch.start, batch.len, from, to, this.vnetHdrSize,
            batch.vflags, batch.gsoType, batch.gsoSize, batch.hdrLen, batch.csumStart, batch.csumOffset, st,
          );
    const stop = st[STAT.STOP_ERRNO]!;
    if (stop === EIO) this.#linkDown();
    else {
      if (stop !== 0) this.checkStop('write');
      if (done > 0 && !this.linkUp) this.markLinkUp();
    }
    return done;
  }

  /** tun says EIO for a write to an interface that is down; a device that is gone says more when asked. */
  #linkDown(): void {
    if (!this.linkUp) return;
    const s = this.probeLink();
    if (typeof s === 'number') this.report(s, 'write');
    else this.markLinkDown();
  }

  /** EIO is a link that is down, except from a poll error nobody can explain. */
  protected override isFatal(name: string, op: string): boolean {
    if (name === 'EIO') return op === 'poll';
    return FATAL_ERRNOS.has(name);
  }

  /** IFF_UP now; the errno when the device is gone (EBADFD once deleted); false when it cannot be read. */
  protected override probeLink(): boolean | number {
    try {
      return this.n.tapInfo(this._fd).up;
    } catch (err) {
      const errno = (err as { errno?: unknown }).errno;
      return typeof errno === 'number' && errno !== EIO && FATAL_ERRNOS.has(errnoInfo(errno).name) ? errno : false;
    }
  }

  protected pollErrno(): number {
    // After the device is deleted every tun ioctl fails with EBADFD.
    try {
      this.n.tapInfo(this._fd);
      return 0;
    } catch (err) {
      return typeof (err as { errno?: unknown }).errno === 'number' ? (err as { errno: number }).errno : 0;
    }
  }
}

/** A TAP device: queue 0 itself, every queue in `queues`. */
export class TapDevice extends TapQueue {
  /** All queues, queues[0] === this. */
  readonly queues: readonly TapQueue[];

  private constructor(fds: number[], name: string, vnetHdrSize: number, offloadBits: number) {
    super(fds[0]!, name, 0, vnetHdrSize, offloadBits);
    const queues: TapQueue[] = [this];
    for (let q = 1; q < fds.length; q++) queues.push(new TapQueue(fds[q]!, name, q, vnetHdrSize, offloadBits));
    this.queues = queues;
  }

  /** Creates or attaches to a TAP device (IFF_TAP | IFF_NO_PI, non-blocking). */
  static open(options: TapOptions = {}): TapDevice {
    if (options === null || typeof options !== 'object') throw invalidArg('options', options, 'an object');
    const name = checkName(options.name ?? 'vtep%d');
    const netns = netnsPath(options.netns);
    const offloads = checkBool('offloads', options.offloads) ?? false;
    const vnetHdr = (checkBool('vnetHdr', options.vnetHdr) ?? false) || offloads;
    if (offloads && options.vnetHdr === false) throw invalidArg('vnetHdr', false, 'true or unset with offloads: true');
    const vnetHdrSize = vnetHdr ? (options.vnetHdrSize ?? 12) : 0;
    if (vnetHdr && vnetHdrSize !== 10 && vnetHdrSize !== 12 && vnetHdrSize !== 24) throw invalidArg('vnetHdrSize', options.vnetHdrSize, '10, 12 or 24');
    const multiQueue = checkBool('multiQueue', options.multiQueue) ?? false;
    const queues = checkInt('queues', options.queues ?? 1, 1, MAX_QUEUES);
    if (queues > 1 && !multiQueue) throw invalidArg('queues', queues, '1 unless multiQueue is true');
    const exclusive = checkBool('exclusive', options.exclusive) ?? false;
    const config = configArgs(options);
    let opened: { fds: number[]; name: string; offloads: number };
    try {
      opened = native().tapOpen({ name, ...(netns === undefined ? {} : { netns }), vnetHdr, vnetHdrSize, offloads, multiQueue, queues, exclusive, ...config });
    } catch (err) {
      throw nativeError(`tap ${name}`, err);
    }
    return new TapDevice(opened.fds, opened.name, vnetHdrSize, opened.offloads);
  }

  /** Name, ifindex, MTU, MAC, up/running as the kernel has them now. */
  info(): TapInfo {
    this.#open();
    try {
      return this.n.tapInfo(this._fd);
    } catch (err) {
      throw nativeError(`tap ${this.name}`, err);
    }
  }

  setMtu(mtu: number): void {
    this.#configure({ mtu });
  }

  setMac(mac: number | string): void {
    this.#configure({ mac });
  }

  setUp(up: boolean): void {
    this.#configure({ up });
  }

  setTxQueueLen(txQueueLen: number): void {
    this.#configure({ txQueueLen });
  }

  /** true: the device outlives close(); false: it goes with the last fd. */
  setPersist(persist: boolean): void {
    this.#configure({ persist });
  }

  /** Closes every queue. A non-persistent device disappears with its last fd. */
  override close(): void {
    for (let q = this.queues.length - 1; q > 0; q--) this.queues[q]!.close();
    super.close();
  }

  #open(): void {
    if (this.closed) throw new VtepError('ERR_CLOSED', `tap ${this.name}: used after close()`);
  }

  #configure(o: TapConfigArgs | { mac: number | string }): void {
    this.#open();
    const args = configArgs(o);
    try {
      this.n.tapConfigure(this._fd, args);
    } catch (err) {
      throw nativeError(`tap ${this.name}`, err);
    }
  }
}
