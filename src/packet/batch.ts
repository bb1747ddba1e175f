/**
 * A batch: up to `capacity` packets of one pool, as struct-of-arrays. Packet i
 * is the bytes pool.u8[start[i] .. start[i] + len[i]) in slot slot[i]; the
 * other arrays carry per-packet metadata between pipeline stages. No object
 * exists per packet: stages loop over i and read and write these arrays.
 */
import { checkInt, VtepError } from '../errors.js';
import type { PacketPool } from './pool.js';

export const BATCH_DEFAULT = 256;
/** Large slots a receive call takes as spares at most (Batch.spare). */
export const SPARE_MAX = 64;

export class Batch {
  readonly pool: PacketPool;
  readonly capacity: number;
  /** Packets in the batch: indexes 0 .. count-1 are valid. */
  count = 0;

  /** Pool slot holding the packet. */
  readonly slot: Uint32Array;
  /** Absolute offset of the packet's first byte in pool.u8. */
  readonly start: Uint32Array;
  /** Packet length in bytes. */
  readonly len: Uint32Array;
  /** Port the packet came in on, or goes out on. */
  readonly port: Uint16Array;
  /** Flow hash of the (inner) frame; 0 when not computed. */
  readonly hash: Uint32Array;
  /** Tenant id: VNI, GRE key or MPLS label after decap; bridge domain or VRF index later. */
  readonly id: Uint32Array;
  /** 0 = keep going, else a drop reason code of the stage that dropped it. */
  readonly reason: Uint8Array;
  /** Stage-specific small value: tunnel protocol after decap, payload kind, next-hop kind. */
  readonly kind: Uint8Array;
  /**
   * Peer address, 4 words per packet at addr[4 * i]: the source on receive, the
   * destination on send. IPv4 in word 0 (network order as a number, see
   * src/wire/addr.ts), IPv6 in words 0..3.
   */
  readonly addr: Uint32Array;
  /** Peer UDP port: the source port on receive, the destination port on send. */
  readonly peerPort: Uint16Array;
  /** Per-packet 32-bit scratch for stages (next-hop index, destination index, UDP port). */
  readonly aux: Uint32Array;

  /*
   * Offload metadata: the virtio-net header of a TAP with vnetHdr (see
   * src/io/tap.ts), read into and written from these fields. All zero is a
   * plain, complete frame. hdrLen, csumStart and csumOffset mean something only
   * when vflags or gsoType say so; push() and prepareRx() zero vflags, gsoType
   * and gsoSize.
   */
  /** virtio-net flags: 1 NEEDS_CSUM (csumStart/csumOffset valid), 2 DATA_VALID. */
  readonly vflags: Uint8Array;
  /** virtio-net gso_type: 0 none, 1 TCPv4, 3 UDP (UFO), 4 TCPv6, 5 UDP_L4 (USO); | 0x80 ECN. */
  readonly gsoType: Uint8Array;
  /**
   * Segment size of a super-packet: the MSS of a TAP GSO frame (gso_size), or,
   * after a UdpSocket receive with `gro`, the size of each datagram in a
   * coalesced train (all equal but the last, which may be shorter); 0 for a
   * single packet.
   */
  readonly gsoSize: Uint16Array;
  /** virtio-net hdr_len: bytes of headers before the payload (a hint for GSO). */
  readonly hdrLen: Uint16Array;
  /** With NEEDS_CSUM: where the checksummed region starts (from the frame start)... */
  readonly csumStart: Uint16Array;
  /** ...and where in it the 16-bit checksum goes. */
  readonly csumOffset: Uint16Array;
  /**
   * UDP source port to send the packet from (UdpSocket with `srcPorts`, see
   * src/io/udp.ts); 0 = the socket's own port. push() zeroes it; receive calls
   * leave it alone (a stage that sends from a receive batch sets it).
   */
  readonly srcPort: Uint16Array;
  /**
   * Large slots a receive call may swap in (TAP offloads, UDP GRO): filled and
   * freed by the port around its native call; not packet entries.
   */
  readonly spare: Uint32Array;

  constructor(pool: PacketPool, capacity: number = BATCH_DEFAULT) {
    checkInt('capacity', capacity, 1, 1 << 16);
    this.pool = pool;
    this.capacity = capacity;
    this.slot = new Uint32Array(capacity);
    this.start = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.port = new Uint16Array(capacity);
    this.hash = new Uint32Array(capacity);
    this.id = new Uint32Array(capacity);
    this.reason = new Uint8Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.addr = new Uint32Array(capacity * 4);
    this.peerPort = new Uint16Array(capacity);
    this.aux = new Uint32Array(capacity);
    this.vflags = new Uint8Array(capacity);
    this.gsoType = new Uint8Array(capacity);
    this.gsoSize = new Uint16Array(capacity);
    this.hdrLen = new Uint16Array(capacity);
    this.csumStart = new Uint16Array(capacity);
    this.csumOffset = new Uint16Array(capacity);
    this.srcPort = new Uint16Array(capacity);
    this.spare = new Uint32Array(capacity < SPARE_MAX ? capacity : SPARE_MAX);
  }

  /** Room left. */
  get free(): number {
    return this.capacity - this.count;
  }

  /**
   * Appends a packet already in a slot of this pool (the batch takes over the
   * caller's reference). Returns its index, or -1 when the batch is full.
   */
  push(slot: number, start: number, len: number): number {
    const i = this.count;
    if (i === this.capacity) return -1;
    this.slot[i] = slot;
    this.start[i] = start;
    this.len[i] = len;
    this.port[i] = 0;
    this.hash[i] = 0;
    this.id[i] = 0;
    this.reason[i] = 0;
    this.kind[i] = 0;
    this.aux[i] = 0;
    this.vflags[i] = 0;
    this.gsoType[i] = 0;
    this.gsoSize[i] = 0;
    this.srcPort[i] = 0;
    this.count = i + 1;
    return i;
  }

  /**
   * Allocates up to `n` empty slots (len 0, start at the pool's headroom) for a
   * receive call to fill; returns how many it got. The batch must be empty.
   */
  prepareRx(n: number = this.capacity): number {
    if (this.count !== 0) throw new VtepError('ERR_INVALID_ARG', `batch: holds ${this.count} packets; release() it before prepareRx()`);
    const want = n < this.capacity ? n : this.capacity;
    const got = this.pool.allocMany(this.slot, want);
    const { slotSize, headroom } = this.pool;
    for (let i = 0; i < got; i++) {
      this.start[i] = this.slot[i]! * slotSize + headroom;
      this.len[i] = 0;
    }
    this.reason.fill(0, 0, got);
    this.vflags.fill(0, 0, got);
    this.gsoType.fill(0, 0, got);
    this.gsoSize.fill(0, 0, got);
    return got;
  }

  /**
   * Copies `bytes` into a fresh slot (a large one when it does not fit a small
   * one) and appends it. For sources that do not write into the pool themselves
   * (files, tests). Returns the index or -1 when the batch is full; throws when
   * the pool is empty or the frame does not fit.
   */
  pushCopy(bytes: Uint8Array): number {
    if (this.count === this.capacity) return -1;
    const pool = this.pool;
    const large = bytes.length > pool.dataRoom;
    if (large && (pool.largeSlots === 0 || bytes.length > pool.largeRoom)) {
      const room = pool.largeSlots === 0 ? pool.dataRoom : pool.largeRoom;
      throw new VtepError('ERR_INVALID_ARG', `frame: ${bytes.length} bytes do not fit a slot of ${room} bytes after headroom`);
    }
    const slot = large ? pool.allocLarge() : pool.alloc();
    if (slot < 0) throw new VtepError('ERR_POOL_EXHAUSTED', `pool: no free ${large ? 'large ' : ''}slot (${large ? pool.largeSlots : pool.slots} slots)`);
    const start = pool.dataStart(slot);
    pool.u8.set(bytes, start);
    return this.push(slot, start, bytes.length);
  }

  /** A view of packet i (allocates a view: for tests and slow paths only). */
  packet(i: number): Uint8Array {
    const s = this.start[i]!;
    return this.pool.u8.subarray(s, s + this.len[i]!);
  }

  /** Returns every slot to the pool and empties the batch. */
  release(): void {
    this.pool.freeMany(this.slot, this.count);
    this.count = 0;
  }

  /**
   * Drops the packets whose reason is non-zero: frees their slots and moves the
   * rest down, keeping order. Returns how many were dropped.
   */
  compact(): number {
    const n = this.count;
    let w = 0;
    for (let r = 0; r < n; r++) {
      if (this.reason[r] !== 0) {
        this.pool.free(this.slot[r]!);
        continue;
      }
      if (w !== r) this.moveEntry(r, w);
      w++;
    }
    this.count = w;
    return n - w;
  }

  /**
   * Reorders entries [from, from + n): entry from + j becomes the entry that was
   * at from + order[j] (order: a permutation of 0..n-1). Metadata only.
   */
  reorder(from: number, order: Uint32Array, n: number): void {
    const t = (this.#scratch ??= new Uint32Array(this.capacity * 4));
    permute(this.slot, t, from, order, n);
    permute(this.start, t, from, order, n);
    permute(this.len, t, from, order, n);
    permute(this.port, t, from, order, n);
    permute(this.hash, t, from, order, n);
    permute(this.id, t, from, order, n);
    permute(this.reason, t, from, order, n);
    permute(this.kind, t, from, order, n);
    permute(this.peerPort, t, from, order, n);
    permute(this.aux, t, from, order, n);
    permute(this.vflags, t, from, order, n);
    permute(this.gsoType, t, from, order, n);
    permute(this.gsoSize, t, from, order, n);
    permute(this.hdrLen, t, from, order, n);
    permute(this.csumStart, t, from, order, n);
    permute(this.csumOffset, t, from, order, n);
    permute(this.srcPort, t, from, order, n);
    const a = this.addr;
    for (let j = 0; j < n; j++) {
      const f = (from + order[j]!) * 4;
      t[4 * j] = a[f]!;
      t[4 * j + 1] = a[f + 1]!;
      t[4 * j + 2] = a[f + 2]!;
      t[4 * j + 3] = a[f + 3]!;
    }
    for (let k = 0; k < 4 * n; k++) a[from * 4 + k] = t[k]!; // no subarray view: no garbage per call
  }

  #scratch: Uint32Array | undefined;

  /** Copies entry `from` over entry `to` (metadata only, not bytes). */
  moveEntry(from: number, to: number): void {
    this.slot[to] = this.slot[from]!;
    this.start[to] = this.start[from]!;
    this.len[to] = this.len[from]!;
    this.port[to] = this.port[from]!;
    this.hash[to] = this.hash[from]!;
    this.id[to] = this.id[from]!;
    this.reason[to] = this.reason[from]!;
    this.kind[to] = this.kind[from]!;
    this.aux[to] = this.aux[from]!;
    this.peerPort[to] = this.peerPort[from]!;
    this.vflags[to] = this.vflags[from]!;
    this.gsoType[to] = this.gsoType[from]!;
    this.gsoSize[to] = this.gsoSize[from]!;
    this.hdrLen[to] = this.hdrLen[from]!;
    this.csumStart[to] = this.csumStart[from]!;
    this.csumOffset[to] = this.csumOffset[from]!;
    this.srcPort[to] = this.srcPort[from]!;
    const a = this.addr;
    const f = from * 4;
    const t = to * 4;
    a[t] = a[f]!;
    a[t + 1] = a[f + 1]!;
    a[t + 2] = a[f + 2]!;
    a[t + 3] = a[f + 3]!;
  }
}

/** a[from + j] = old a[from + order[j]] for j < n, through the scratch t. */
function permute(a: Uint8Array | Uint16Array | Uint32Array, t: Uint32Array, from: number, order: Uint32Array, n: number): void {
  for (let j = 0; j < n; j++) t[j] = a[from + order[j]!]!;
  for (let j = 0; j < n; j++) a[from + j] = t[j]!;
}
