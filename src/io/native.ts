/**
 * The native addon's surface, declared once. Arguments are validated by the
 * TypeScript callers (tap.ts, udp.ts, raw.ts) before they reach these
 * functions; the addon only guards against memory misuse.
 *
 * Batch calls take the pool's Uint8Array and the batch's typed arrays and
 * return a count; per-port counters live in a Float64Array (layout STAT) that
 * every call adds to. STAT.STOP_ERRNO holds the errno that ended the last call
 * (0 when none): the caller turns it into an 'error' event.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { VtepError } from '../errors.js';

/** Counter slots of a port's stats array; mirrors vtep::stat in native/common.h. */
export const STAT = {
  RX_PACKETS: 0,
  RX_BYTES: 1,
  TX_PACKETS: 2,
  TX_BYTES: 3,
  RX_TRUNCATED: 4,
  TX_EAGAIN: 5,
  TX_ENOBUFS: 6,
  TX_ERRORS: 7,
  LAST_ERRNO: 8,
  STOP_ERRNO: 9,
  RX_CALLS: 10,
  TX_CALLS: 11,
  TX_GSO: 12,
  TX_GSO_FALLBACK: 13,
  RX_LARGE: 14,
  RX_GRO: 15,
  /** The addon's monotonic clock (monoClock's scale, ms) when the last receive call returned packets: a batch's time without a call of its own. */
  RX_TIME: 16,
  COUNT: 17,
} as const;

/** Per-packet address handling of mmsgSend/mmsgRecv; mirrors batch_io.cc. */
export const ADDR_MODE = {
  /** No address per packet (AF_PACKET bound to an interface). */
  NONE: 0,
  /** UDP over IPv4: destination/source in addr[4i], peerPort[i]. */
  UDP4: 4,
  /** UDP over IPv6: addr[4i..4i+3], peerPort[i]. */
  UDP6: 6,
  /** Raw IPv4, header included: sent to the header's destination; source on receive. */
  RAW4: 40,
  /** Raw IPv6, header included: sent to the header's destination; source on receive. */
  RAW6: 60,
} as const;
export type AddrMode = (typeof ADDR_MODE)[keyof typeof ADDR_MODE];
/** Flag on UDP4/UDP6 for mmsgSend: coalesce same-destination runs with UDP GSO. */
export const SEND_GSO = 0x100;

/** Poll interest bits of Poller.start. */
export const POLL = { READABLE: 1, WRITABLE: 2 } as const;

/** An Error thrown by a native setup call. */
export interface NativeErrnoError extends Error {
  errno: number;
  /** errno name, e.g. 'EBUSY'. */
  code: string;
  syscall: string;
}

export interface TapOpenArgs {
  name: string;
  netns?: string;
  vnetHdr?: boolean;
  vnetHdrSize?: number;
  /** TUNSETOFFLOAD with the bits the kernel accepts (the answer comes back as `offloads`). */
  offloads?: boolean;
  multiQueue?: boolean;
  queues?: number;
  exclusive?: boolean;
  mtu?: number;
  mac?: number;
  up?: boolean;
  txQueueLen?: number;
  persist?: boolean;
}

export interface TapConfigArgs {
  mtu?: number;
  mac?: number;
  up?: boolean;
  txQueueLen?: number;
  persist?: boolean;
}

export interface TapInfo {
  name: string;
  ifindex: number;
  mtu: number;
  mac: number;
  up: boolean;
  running: boolean;
  tunFlags: number;
}

export interface SocketCommonArgs {
  netns?: string;
  sndbuf?: number;
  rcvbuf?: number;
  /** SO_BINDTODEVICE. */
  device?: string;
}

export interface UdpOpenArgs extends SocketCommonArgs {
  family: 4 | 6;
  /** The local address as four words (IPv4 in word 0). */
  addr: Uint32Array;
  port: number;
  reusePort?: boolean;
  reuseAddr?: boolean;
  v6Only?: boolean;
  /** Probe UDP_SEGMENT support (the answer comes back as `gso`). */
  gso?: boolean;
  /** setsockopt(UDP_GRO) (the answer comes back as `gro`). */
  gro?: boolean;
}

export interface PacketOpenArgs extends SocketCommonArgs {
  ifname: string;
  protocol?: number;
  promiscuous?: boolean;
  qdiscBypass?: boolean;
  ignoreOutgoing?: boolean;
  vnetHdr?: boolean;
}

export interface RawOpenArgs extends SocketCommonArgs {
  family: 4 | 6;
  protocol: number;
  hdrincl?: boolean;
  addr?: Uint32Array;
}

/** uv_poll readiness for one fd; callback(status, events) once per wake-up. */
export interface NativePoller {
  /** Interest: POLL bits; 0 stops. Replaces the previous interest. */
  start(events: number): void;
  stop(): void;
  /** Releases the handle; call before closing the fd. Idempotent. */
  close(): void;
}

export interface NativeAddon {
  /** Version of the native surface; must equal NATIVE_ABI. */
  abiVersion(): number;

  tapOpen(args: TapOpenArgs): { fds: number[]; name: string; offloads: number };
  tapConfigure(fd: number, args: TapConfigArgs): void;
  tapInfo(fd: number): TapInfo;

  udpOpen(args: UdpOpenArgs): { fd: number; port: number; gso: boolean; gro: boolean };
  packetOpen(args: PacketOpenArgs): { fd: number; ifindex: number };
  rawOpen(args: RawOpenArgs): { fd: number };
  /** close(2): 0 or the errno. */
  closeFd(fd: number): number;
  /** The pending SO_ERROR (cleared by reading it). */
  socketError(fd: number): number;
  /** The ifindex an AF_PACKET socket is bound to: -1 once the interface is gone; -errno on failure. */
  packetIfindex(fd: number): number;
  dupFd(fd: number): number;
  /** open(path, O_RDONLY) from inside a namespace (a name under /var/run/netns; '' for ours). */
  openInNetns(args: { path: string; netns?: string }): number;
  errnoName(errno: number): { name: string; message: string };

  /** read() up to n frames into entries 0..n-1 (capacity cap, hdr bytes of vnet header before start). */
  fdReadBatch(fd: number, u8: Uint8Array, start: Uint32Array, len: Uint32Array, n: number, cap: number, hdr: number, st: Float64Array): number;
  /** write() entries [from, to); returns entries consumed. */
  fdWriteBatch(fd: number, u8: Uint8Array, start: Uint32Array, len: Uint32Array, from: number, to: number, hdr: number, st: Float64Array): number;
  /** sendmmsg() entries [from, to); returns entries consumed. mode may carry SEND_GSO. */
  mmsgSend(fd: number, mode: number, u8: Uint8Array, start: Uint32Array, len: Uint32Array, addr: Uint32Array, port: Uint16Array, from: number, to: number, st: Float64Array): number;
  /**
   * sendmmsg() entries [from, to), entry i on fds[map[srcPort[i]]] (runs of one
   * socket per sendmmsg); returns entries consumed. mode may carry SEND_GSO.
   */
  mmsgSendPorts(fds: Int32Array, map: Uint16Array, srcPort: Uint16Array, mode: number, u8: Uint8Array, start: Uint32Array, len: Uint32Array, addr: Uint32Array, port: Uint16Array, from: number, to: number, st: Float64Array): number;
  /** recvmmsg() up to n datagrams into entries 0..; reorders slot/start so the first `count` are valid. */
  mmsgRecv(fd: number, mode: AddrMode, u8: Uint8Array, slot: Uint32Array, start: Uint32Array, len: Uint32Array, addr: Uint32Array, port: Uint16Array, n: number, cap: number, st: Float64Array): number;

  /**
   * read()/readv() up to n frames with a virtio-net header of hdr bytes into
   * entries 0..; header fields to vflags..csumOffset. Frames longer than cap
   * spill into spare[0..nspare) large slots (see offload_io.cc); afterwards
   * spare[] holds what the caller must free.
   */
  vnetReadBatch(
    fd: number, u8: Uint8Array, slot: Uint32Array, start: Uint32Array, len: Uint32Array, n: number, cap: number, hdr: number,
    vflags: Uint8Array, gsoType: Uint8Array, gsoSize: Uint16Array, hdrLen: Uint16Array, csumStart: Uint16Array, csumOffset: Uint16Array,
    spare: Uint32Array, nspare: number, slotSize: number, headroom: number, largeCap: number, st: Float64Array,
  ): number;
  /** writev() entries [from, to), each behind a virtio-net header built from the fields. */
  vnetWriteBatch(
    fd: number, u8: Uint8Array, start: Uint32Array, len: Uint32Array, from: number, to: number, hdr: number,
    vflags: Uint8Array, gsoType: Uint8Array, gsoSize: Uint16Array, hdrLen: Uint16Array, csumStart: Uint16Array, csumOffset: Uint16Array,
    st: Float64Array,
  ): number;
  /** recvmmsg() on a UDP_GRO socket: gsoSize[i] from the cmsg; spares as vnetReadBatch. */
  mmsgRecvGro(
    fd: number, mode: AddrMode, u8: Uint8Array, slot: Uint32Array, start: Uint32Array, len: Uint32Array, addr: Uint32Array, port: Uint16Array,
    n: number, cap: number, gsoSize: Uint16Array, spare: Uint32Array, nspare: number, slotSize: number, headroom: number, largeCap: number,
    st: Float64Array,
  ): number;

  Poller: new (fd: number, callback: (status: number, events: number) => void) => NativePoller;
  /** cell[0] = the monotonic clock in ms less cell[1] (no allocation, unlike performance.now()). */
  monoClock(cell: Float64Array): void;
  /** How long a poller may wait on the loop's fds after its callback (ms; 0 off). See poll-loop.ts. */
  setPollLinger(ms: number): void;
  /** The linger counters into out (layout LOOP_STAT). */
  pollStats(out: Float64Array): void;
}

/** pollStats' layout; mirrors lstat in native/poller.cc. */
export const LOOP_STAT = {
  LINGERS: 0,
  CALLBACKS: 1,
  EXIT_LOOP: 2,
  EXIT_FOREIGN: 3,
  EXIT_TIME: 4,
  ITERATIONS: 5,
  COUNT: 6,
} as const;

export const NATIVE_ABI = 6;

let addon: NativeAddon | undefined;

/** The package root: dist/src/io/native.js lives three levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Loads the addon once: node-gyp-build finds build/Release or a prebuild.
 * VTEP_ADDON=/path/to/vtep.node loads that file instead (scripts/asan.sh uses
 * it for the AddressSanitizer build).
 */
export function native(): NativeAddon {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    const override = process.env['VTEP_ADDON'];
    const loaded =
      override !== undefined && override !== ''
        ? (require(path.resolve(override)) as NativeAddon)
        : (require('node-gyp-build') as (dir: string) => NativeAddon)(PACKAGE_ROOT);
    const abi = loaded.abiVersion();
    if (abi !== NATIVE_ABI) {
      throw new VtepError('ERR_UNSUPPORTED', `addon: ABI ${abi} does not match ${NATIVE_ABI}; rebuild it with npm install`);
    }
    addon = loaded;
  }
  return addon;
}
