/**
 * tx: the per-port transmit queues. Stages append to a port's queue (taking a
 * slot reference, so one frame can be queued on several ports); after each
 * received batch every queue that holds entries is written with one call.
 * What a port does not take is dropped and counted here, charged to that
 * port: `link-down` while its link is down, else `tx-error`. A switch does not
 * buffer without bound.
 */
import { Reason } from '../../packet/reasons.js';
import { Stage } from '../stage.js';
import { finishGuestCsum } from './inner-csum.js';
import { MAX_PORTS, PortCtr, type Runtime } from '../runtime.js';

/**
 * The queue's source-port pick from an inner flow hash (signed or unsigned, the
 * same 32 bits; 0: none, the socket's own port): 1..65535, an index into a
 * socket's per-flow ports (UdpSocket `srcPorts`).
 */
function srcPortOf(hash: number): number {
  return hash === 0 ? 0 : ((hash >>> 0) % 65535) + 1;
}

export class TxStage extends Stage {
  readonly name = 'tx';
  readonly nextNames = [] as const;
  readonly reasons = [Reason['no-port'], Reason['tx-error'], Reason['link-down'], Reason['too-big']];
  /** Ports whose queue holds entries (a typed array: clearing a JS array's length would free its store, garbage per flush). */
  private readonly dirty = new Uint16Array(MAX_PORTS);
  private nDirty = 0;
  private readonly isDirty = new Uint8Array(MAX_PORTS);

  constructor(rt: Runtime) {
    super(rt);
  }

  /** Packets are queued by the other stages; nothing enters tx through a vector. */
  run(): void {}

  /**
   * Queues a frame on a port; false (and counted) when the port is gone. With
   * `from`, the batch entry it is: its offload fields (a GSO super-frame, a
   * partial checksum) go with it, to a port that takes a virtio-net header;
   * any other port cannot take a super-frame (too-big).
   */
  enqueue(port: number, slot: number, start: number, len: number, from = -1): boolean {
    const rt = this.rt;
    const e = rt.ports[port];
    if (e === undefined) {
      this.dropCounts[Reason['no-port']]!++;
      rt.dropOther(rt.ingress.id, Reason['no-port']);
      return false;
    }
    const b = rt.batch;
    if (from >= 0 && (b.gsoType[from]! | b.vflags[from]!) !== 0) {
      if (!((e.port as { vnetHdrSize?: number }).vnetHdrSize! > 0)) {
        if (b.gsoType[from] !== 0) {
          this.dropCounts[Reason['too-big']]!++;
          rt.dropOther(port, Reason['too-big']);
          return false;
        }
        // A port without a virtio-net header takes only complete checksums: finish it, for every copy.
        finishGuestCsum(rt, from);
        b.vflags[from] = 0; // DATA_VALID too: this port takes no header
        this.push(port, slot, start, len);
        return true;
      }
      const q = e.tx;
      const k = this.push(port, slot, start, len);
      q.vflags[k] = b.vflags[from]!;
      q.gsoType[k] = b.gsoType[from]!;
      q.gsoSize[k] = b.gsoSize[from]!;
      q.hdrLen[k] = b.hdrLen[from]!;
      q.csumStart[k] = b.csumStart[from]!;
      q.csumOffset[k] = b.csumOffset[from]!;
      return true;
    }
    this.push(port, slot, start, len);
    return true;
  }

  /**
   * Queues an encapsulated packet on its tunnel's underlay port, with the
   * destination address and port; `hash` (the inner flow hash, 0: none) picks
   * the UDP source port on a socket with per-flow ports (RFC 7348 §5; a
   * socket without them sends from its own).
   */
  enqueueTunnel(ti: number, slot: number, start: number, len: number, hash = 0): boolean {
    const rt = this.rt;
    const tt = rt.tunnels;
    const port = tt.port[ti]!;
    if (port < 0 || rt.ports[port] === undefined) {
      this.dropCounts[Reason['no-port']]!++;
      rt.dropOther(rt.ingress.id, Reason['no-port']);
      return false;
    }
    const r = tt.remote[ti]!;
    const q = rt.ports[port]!.tx;
    const i = this.push(port, slot, start, len);
    const rw = rt.remotes.words;
    const a = 4 * i;
    q.addr[a] = rw[4 * r]!;
    q.addr[a + 1] = rw[4 * r + 1]!;
    q.addr[a + 2] = rw[4 * r + 2]!;
    q.addr[a + 3] = rw[4 * r + 3]!;
    q.peerPort[i] = tt.dstPort[ti]!;
    q.srcPort[i] = srcPortOf(hash);
    const k = (r * 5 + tt.proto[ti]!) * 4;
    rt.tunCounters[k]!++;
    rt.tunCounters[k + 1]! += len;
    return true;
  }

  /**
   * enqueueTunnel() for a run of batch entries vec[0 .. n) of one tunnel, as
   * tunnel-encap left them (b.start/b.len: the outer packet; b.hash: the flow
   * hash or 0): the tunnel's port, queue and remote are looked up once, and
   * the per-packet call is gone (it was often not inlined). Returns how many
   * were queued. push() and the tunnel fields are written out in the loop:
   * calling push() per entry measured 4-6% slower (bench pipeline --against).
   */
  enqueueTunnelRun(ti: number, vec: Uint16Array, n: number): number {
    const rt = this.rt;
    const tt = rt.tunnels;
    const port = tt.port[ti]!;
    if (port < 0 || rt.ports[port] === undefined) {
      this.dropCounts[Reason['no-port']]! += n;
      rt.dropOther(rt.ingress.id, Reason['no-port'], n);
      return 0;
    }
    const b = rt.batch;
    const r = tt.remote[ti]!;
    const q = rt.ports[port]!.tx;
    const rw = rt.remotes.words;
    const a0 = rw[4 * r]!;
    const a1 = rw[4 * r + 1]!;
    const a2 = rw[4 * r + 2]!;
    const a3 = rw[4 * r + 3]!;
    const peer = tt.dstPort[ti]!;
    const pool = rt.pool;
    this.markDirty(port);
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      if (q.count === q.capacity) this.flushPort(port);
      const slot = b.slot[i]!;
      pool.retain(slot);
      const e = q.count++;
      const len = b.len[i]!;
      q.slot[e] = slot;
      q.start[e] = b.start[i]!;
      q.len[e] = len;
      q.vflags[e] = 0;
      q.gsoType[e] = 0;
      const w = 4 * e;
      q.addr[w] = a0;
      q.addr[w + 1] = a1;
      q.addr[w + 2] = a2;
      q.addr[w + 3] = a3;
      q.peerPort[e] = peer;
      q.srcPort[e] = srcPortOf(b.hash[i]!);
      bytes += len;
    }
    this.packets[0]! += n;
    const c = (r * 5 + tt.proto[ti]!) * 4;
    rt.tunCounters[c]! += n;
    rt.tunCounters[c + 1]! += bytes;
    return n;
  }

  /**
   * enqueue() for a run of batch entries vec[0 .. n) bound for one local
   * port, as they are (slot, start, len): the port's queue is looked up once;
   * an entry with offload fields (a super-frame, a partial checksum) takes
   * enqueue()'s path. Returns how many were queued. (push() written out in
   * the loop, as in enqueueTunnelRun.)
   */
  enqueueRun(port: number, vec: Uint16Array, n: number): number {
    const rt = this.rt;
    const e = rt.ports[port];
    if (e === undefined) {
      this.dropCounts[Reason['no-port']]! += n;
      rt.dropOther(rt.ingress.id, Reason['no-port'], n);
      return 0;
    }
    const b = rt.batch;
    const q = e.tx;
    const pool = rt.pool;
    this.markDirty(port);
    let queued = 0;
    let plain = 0;
    // No entry of the batch carries offload fields (rt.offloads: from an underlay): no per-entry test.
    const test = rt.offloads !== 0;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      if (test && (b.gsoType[i]! | b.vflags[i]!) !== 0) {
        if (this.enqueue(port, b.slot[i]!, b.start[i]!, b.len[i]!, i)) queued++; // counted there
        continue;
      }
      if (q.count === q.capacity) this.flushPort(port);
      const slot = b.slot[i]!;
      pool.retain(slot);
      const j = q.count++;
      q.slot[j] = slot;
      q.start[j] = b.start[i]!;
      q.len[j] = b.len[i]!;
      q.vflags[j] = 0;
      q.gsoType[j] = 0;
      plain++;
    }
    this.packets[0]! += plain;
    return queued + plain;
  }

  /** Sets the offload fields of the entry just queued on `port` (a whole super-frame for a UDP-tunnel GSO port). */
  offloadLast(port: number, gsoType: number, gsoSize: number, hdrLen: number, vflags: number, csumStart: number, csumOffset: number): void {
    const q = this.rt.ports[port]!.tx;
    const k = q.count - 1;
    q.gsoType[k] = gsoType;
    q.gsoSize[k] = gsoSize;
    q.hdrLen[k] = hdrLen;
    q.vflags[k] = vflags;
    q.csumStart[k] = csumStart;
    q.csumOffset[k] = csumOffset;
  }

  /** Puts a port on the list that flush() writes (once until then). */
  private markDirty(port: number): void {
    if (this.isDirty[port] === 0) {
      this.isDirty[port] = 1;
      this.dirty[this.nDirty++] = port;
    }
  }

  /** Appends to a port's queue (writing it first when full); returns the entry index. */
  private push(port: number, slot: number, start: number, len: number): number {
    const q = this.rt.ports[port]!.tx;
    this.markDirty(port);
    if (q.count === q.capacity) this.flushPort(port);
    this.rt.pool.retain(slot);
    const i = q.count++;
    q.slot[i] = slot;
    q.start[i] = start;
    q.len[i] = len;
    q.vflags[i] = 0; // plain unless enqueue() copies a batch entry's offload fields
    q.gsoType[i] = 0;
    this.packets[0]!++;
    return i;
  }

  /** Writes every queue that holds entries. */
  flush(): void {
    const d = this.dirty;
    const n = this.nDirty;
    for (let k = 0; k < n; k++) {
      const p = d[k]!;
      this.isDirty[p] = 0;
      this.flushPort(p);
    }
    this.nDirty = 0;
  }

  /** Writes a port's queue; what it does not take is dropped; slots are released. */
  flushPort(port: number): void {
    const e = this.rt.ports[port];
    if (e === undefined) return;
    const q = e.tx;
    const n = q.count;
    if (n === 0) return;
    let sent = 0;
    try {
      sent = e.port.failed === undefined && !e.port.closed ? e.port.writeBatch(q, 0, n) : 0;
    } catch (err) {
      this.rt.onPortError(e, err);
    }
    let bytes = 0;
    for (let i = 0; i < sent; i++) bytes += q.len[i]!;
    e.ctr[PortCtr.TX_PACKETS]! += sent;
    e.ctr[PortCtr.TX_BYTES]! += bytes;
    const cap = e.capTx;
    if (cap !== null) for (let i = 0; i < sent; i++) for (const fn of cap) fn('tx', this.rt.u8, q.start[i]!, q.len[i]!);
    if (sent < n) {
      const reason = !e.port.linkUp ? Reason['link-down'] : Reason['tx-error'];
      this.dropCounts[reason]! += n - sent;
      this.rt.dropOther(port, reason, n - sent);
    }
    q.release();
  }

  /** Drops what a port has queued (the port is being removed). */
  discard(port: number): void {
    const e = this.rt.ports[port];
    if (e !== undefined) e.tx.release();
  }
}
