/**
 * gso-segment: a guest's super-frame bound for a tunnel. A TAP with offloads
 * (TUNSETOFFLOAD) hands us up to 64 KB of TCP (gso_type TCPV4/TCPV6) or UDP
 * (UDP_L4) with gso_size = the MSS and a partial checksum; a tunnel must carry
 * MSS-sized packets with complete inner checksums. Each super-frame is cut as
 * the kernel's tcp_gso_segment would (src/tunnel/segment.ts: IPv4 id and
 * length, header checksum, TCP sequence, CWR on the first segment only,
 * FIN/PSH on the last, the TCP/UDP checksum), one pool slot per segment, and
 * every segment is encapsulated and queued like any packet.
 *
 * One system call per super-frame: the segments are equal but the last and go
 * to one remote with one source port (one flow hash, taken from the
 * super-frame), so the UDP socket's writer sends them as one UDP GSO message.
 * The payload is copied once, into the segments (the kernel copies it on
 * sendmsg as well); the checksum is summed over the copy's source.
 *
 * Over an underlay TAP that took UDP-tunnel GSO (Linux 6.17, a 24-byte
 * virtio-net header; `underlay.tap`), a VXLAN-over-IPv4 super-frame is not
 * cut at all: it is encapsulated whole and written as one frame whose header
 * tells the kernel to segment it (or a peer on a veth to take it whole, as
 * it takes a kernel VTEP's).
 */
import { Reason } from '../../packet/reasons.js';
import { encapInPool, payloadHash32 } from '../../tunnel/encap.js';
import { Depth, Payload, type Tunnel } from '../../tunnel/tunnel.js';
import { TunnelProto } from '../../tunnel/protos.js';
import { segment, Segments, SegFlag, superHeaderLen } from '../../tunnel/segment.js';
import { VnetGso } from '../../wire/virtio.js';
import { Stage } from '../stage.js';
import type { Runtime } from '../runtime.js';

const TX = 0;
/** Segments of one super-frame: 64 KB at the smallest MSS we accept (536) is 123. */
const MAX_SEGS = 128;

export class GsoSegmentStage extends Stage {
  readonly name = 'gso-segment';
  readonly nextNames = ['tx'] as const;
  readonly reasons = [Reason['no-buffer'], Reason['too-big'], Reason.unsupported, Reason.truncated, Reason['bad-length'], Reason['bad-header']];
  /** Super-frames cut, and the segments they made; super-frames sent whole (UDP-tunnel GSO). */
  superFrames = 0;
  segments = 0;
  whole = 0;
  private readonly seg: GsoSegmenter;

  constructor(rt: Runtime) {
    super(rt);
    this.seg = new GsoSegmenter(rt);
  }

  run(vec: Uint16Array, n: number): void {
    const out = this.rt.out;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const r = this.seg.encapAndQueue(i, out[i]!);
      if (r > 0) this.drop(i, r);
      else if (this.seg.whole) {
        this.whole++;
        this.sent(TX, i);
      } else {
        this.superFrames++;
        this.segments += this.seg.made;
        this.sent(TX, i, this.seg.made);
      }
    }
  }

  override counters(): Record<string, number> {
    return { superFrames: this.superFrames, segments: this.segments, whole: this.whole };
  }

  override info(i: number): string {
    const b = this.rt.batch;
    return `${b.len[i]} bytes, gso_size ${b.gsoSize[i]} -> ${this.seg.made} segments`;
  }
}

/**
 * Cuts batch entry i (a super-frame) into segments for tunnel ti, each
 * encapsulated and queued on the tunnel's underlay port. Shared with
 * l2-flood (a super-frame flooded to remotes is cut once per remote).
 */
export class GsoSegmenter {
  /** Segments queued by the last call; whether it went whole (UDP-tunnel GSO) instead. */
  made = 0;
  whole = false;
  private readonly out = new Segments(MAX_SEGS);
  private readonly slots = new Uint32Array(MAX_SEGS);
  private readonly starts = new Uint32Array(MAX_SEGS);

  constructor(private readonly rt: Runtime) {}

  /** 0 when cut and queued (made segments), else the drop reason (nothing queued). */
  encapAndQueue(i: number, ti: number): number {
    const rt = this.rt;
    const b = rt.batch;
    const pool = rt.pool;
    const u8 = pool.u8;
    const t = rt.tunnels.list[ti]!;
    const s = b.start[i]!;
    const len = b.len[i]!;
    const gso = b.gsoSize[i]!;
    this.made = 0;
    this.whole = false;
    if (t.depth === Depth.FRAME && t.proto === TunnelProto.VXLAN && t.family === 4 && !t.udpChecksum && len + t.hdrLen - 14 <= 0xffff && rt.tunnelGso(ti)) {
      return this.encapWhole(i, ti, t, s, len);
    }
    // Segments needed; every one of them gets a slot with the tunnel's headroom.
    const n = gso === 0 ? 0 : Math.ceil(len / gso);
    if (n === 0 || n > MAX_SEGS) return Reason.unsupported;
    // Fresh slots start `headroom` (at least 128) bytes in: room for any tunnel's outer headers.
    const got = pool.allocMany(this.slots, n);
    if (got < n) {
      for (let k = 0; k < got; k++) pool.free(this.slots[k]!);
      return Reason['no-buffer'];
    }
    for (let k = 0; k < n; k++) this.starts[k] = pool.dataStart(this.slots[k]!);
    const flags = SegFlag.COPY_PAYLOAD | (t.payload === Payload.IP ? SegFlag.IP_START : 0);
    const o = this.out;
    const m = segment(u8, s, len, gso, u8, this.starts, o, flags, pool.u32);
    // A segment longer than a slot holds cannot be: the MTU check before us bounds it.
    if (m === 0 || o.hdrLen + o.segSize > pool.dataRoom) {
      for (let k = 0; k < n; k++) pool.free(this.slots[k]!);
      return m === 0 ? o.reason : Reason['too-big'];
    }
    // One flow: one source port for all (the hash of the super-frame's headers, as its segments').
    const h = t.depth === Depth.UDP ? payloadHash32(t, u8, s, len) : 0;
    const tx = rt.tx;
    for (let k = 0; k < n; k++) {
      const c = this.slots[k]!;
      if (k < m) {
        const ss = o.start[k]!;
        const sl = o.len[k]!;
        const ns = encapInPool(t, pool, ss, sl, h);
        if (tx.enqueueTunnel(ti, c, ns, sl + (ss - ns), h)) this.made++;
      }
      pool.free(c); // the queue holds its own reference
    }
    return 0;
  }

  /**
   * The super-frame encapsulated whole and queued as one frame with a
   * UDP-tunnel GSO header: gso_type gains the tunnel bit, the header length
   * and checksum start move by the outer headers (gso_size, the MSS, stays).
   */
  private encapWhole(i: number, ti: number, t: Tunnel, s: number, len: number): number {
    const rt = this.rt;
    const b = rt.batch;
    const pool = rt.pool;
    const hl = superHeaderLen(pool.u8, s, len);
    if (hl === 0) return Reason.unsupported;
    const h = payloadHash32(t, pool.u8, s, len);
    const ns = encapInPool(t, pool, s, len, h);
    const over = s - ns;
    if (!rt.tx.enqueueTunnel(ti, b.slot[i]!, ns, len + over, h)) return 0; // counted there (no-port)
    rt.tx.offloadLast(rt.tunnels.port[ti]!, b.gsoType[i]! | VnetGso.UDP_TUNNEL_IPV4, b.gsoSize[i]!, hl + over, b.vflags[i]!, b.csumStart[i]! + over, b.csumOffset[i]!);
    this.whole = true;
    this.made = 1;
    return 0;
  }
}
