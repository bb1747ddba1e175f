/**
 * Receive coalescing (GRO) of decapsulated TCP segments: consecutive in-order
 * segments of one flow in a batch become one super-frame that a TAP with
 * offloads takes whole (virtio gso_type TCPV4/TCPV6, gso_size = MSS,
 * NEEDS_CSUM). The rules are Linux's (tcp_gro_receive, inet_gro_receive,
 * ipv6_gro_receive), so that the guest sees what a kernel bridge would give it:
 *
 *  - one flow: same batch port (b.port), identical Ethernet header (MACs,
 *    VLAN tags, EtherType), IP addresses and TCP ports; IPv6 flow label too;
 *  - IPv4: header of 20 bytes (no options), no fragment bits, same TOS, TTL and
 *    DF; identification incrementing by one per segment, or (with DF) fixed;
 *    IPv6: no extension headers, same traffic class and hop limit;
 *  - TCP: sequence = previous sequence + previous payload; same ACK number,
 *    data offset, window and options (timestamps included: Linux compares the
 *    option bytes whole); flags equal except CWR/PSH/FIN; CWR only on the first
 *    segment; SYN, RST, URG never merged; PSH or FIN ends a run (that segment
 *    is its last); pure ACKs (no payload) never merged;
 *  - sizes: the first segment's payload is the MSS; later ones no larger, and
 *    a smaller one ends the run; the IP packet stays under 64 KB;
 *  - checksums: each segment's IPv4 header checksum must verify, and its TCP
 *    checksum verify or hold the pseudo-header sum only (src/tunnel/csum.ts);
 *    a corrupt segment is never merged (we and the TAP would recompute over it
 *    and make it valid).
 * Anything else passes through as it came.
 *
 * Zero copy: coalesce() only links segments (next[]) and patches the first
 * segment's headers in its own slot (IP length and checksum, TCP PSH/FIN and
 * the pseudo-header sum in the TCP checksum field). A merged frame is then
 * written either as iovecs (iovecs(): the first frame, then each following
 * payload slice, straight from the pool into writev) or copied to one buffer
 * (gather(): e.g. a large pool slot). Output k's virtio-net header fields are
 * in the SoA arrays below (or writeVnetFor()).
 */
import { VtepError, checkInt } from '../errors.js';
import type { Batch } from '../packet/batch.js';
import { BATCH_DEFAULT } from '../packet/batch.js';
import { u16, u32, put16 } from '../wire/bytes.js';
import { sumBytes, fold } from '../wire/checksum.js';
import { walkL2, newL2Info, EtherType } from '../wire/ethernet.js';
import { Ipv4, Ipv4Flag } from '../wire/ipv4.js';
import { Ipv6 } from '../wire/ipv6.js';
import { IpProto } from '../wire/ip.js';
import { Tcp, TcpFlag } from '../wire/tcp.js';
import { VnetFlag, VnetGso, VnetCsumOffset, writeVnet, Vnet } from '../wire/virtio.js';
import { CsumStatus, l4ChecksumStatus } from './csum.js';
import { copyBytes } from './segment.js';

export interface CoalescerOptions {
  /** Batch capacity this coalescer serves. Default BATCH_DEFAULT. */
  capacity?: number;
  /** Flows with an open run at once; when full the oldest run is closed. Default 16. */
  maxFlows?: number;
  /** Largest merged IP packet (header + payload). Default 65535. */
  maxIpLen?: number;
  /**
   * Verify each segment's TCP checksum before merging (default true). Turn off
   * only when an earlier stage already did (completeChecksum returning OK or
   * COMPLETED for every TCP frame of the batch).
   */
  verify?: boolean;
}

const SYN_RST_URG = TcpFlag.SYN | TcpFlag.RST | TcpFlag.URG;
const ENDS_RUN = TcpFlag.PSH | TcpFlag.FIN;
const l2 = newL2Info();
const l2close = newL2Info(); // close() runs inside the loop that holds l2

export class Coalescer {
  readonly capacity: number;
  readonly maxFlows: number;
  readonly maxIpLen: number;
  readonly verify: boolean;

  /** Output frames (merged or passed through) of the last coalesce(), in the order of their first segment. */
  count = 0;
  /** Batch index of output k's first segment: its headers lead the merged frame. */
  readonly head: Uint32Array;
  /** Segments in output k (1: the frame passes through as it came). */
  readonly segs: Uint16Array;
  /** Output k's length: its headers plus every segment's payload. */
  readonly len: Uint32Array;
  /** virtio-net header fields for output k (src/wire/virtio.ts). */
  readonly vnetFlags: Uint8Array;
  readonly gsoType: Uint8Array;
  readonly hdrLen: Uint16Array;
  readonly gsoSize: Uint16Array;
  readonly csumStart: Uint16Array;
  readonly csumOffset: Uint8Array;
  /** Per batch index: the next segment of the same output, -1 after the last. */
  readonly next: Int32Array;
  /** Segments merged into another frame over this coalescer's life, and merged frames made. */
  merged = 0;
  frames = 0;

  // Open runs, one per flow.
  private readonly rHead: Int32Array;
  private readonly rTail: Uint32Array;
  private readonly rOut: Uint32Array;
  private readonly rPay: Uint32Array;
  private readonly rMss: Uint32Array;
  private readonly rSeq: Uint32Array;
  private readonly rHash: Uint32Array;
  private readonly rFixedId: Uint8Array;
  private readonly rFlags: Uint8Array;
  private readonly rPartial: Uint8Array;
  private readonly rL4: Uint16Array; // L4 offset from the frame start
  private readonly rHdr: Uint16Array; // headers length
  private open = 0;

  constructor(options: CoalescerOptions = {}) {
    const cap = checkInt('capacity', options.capacity ?? BATCH_DEFAULT, 1, 1 << 16);
    const flows = checkInt('maxFlows', options.maxFlows ?? 16, 1, 1024);
    this.capacity = cap;
    this.maxFlows = flows;
    this.maxIpLen = checkInt('maxIpLen', options.maxIpLen ?? 65535, 576, 65535);
    this.verify = options.verify ?? true;
    this.head = new Uint32Array(cap);
    this.segs = new Uint16Array(cap);
    this.len = new Uint32Array(cap);
    this.vnetFlags = new Uint8Array(cap);
    this.gsoType = new Uint8Array(cap);
    this.hdrLen = new Uint16Array(cap);
    this.gsoSize = new Uint16Array(cap);
    this.csumStart = new Uint16Array(cap);
    this.csumOffset = new Uint8Array(cap);
    this.next = new Int32Array(cap);
    this.rHead = new Int32Array(flows).fill(-1);
    this.rTail = new Uint32Array(flows);
    this.rOut = new Uint32Array(flows);
    this.rPay = new Uint32Array(flows);
    this.rMss = new Uint32Array(flows);
    this.rSeq = new Uint32Array(flows);
    this.rHash = new Uint32Array(flows);
    this.rFixedId = new Uint8Array(flows);
    this.rFlags = new Uint8Array(flows);
    this.rPartial = new Uint8Array(flows);
    this.rL4 = new Uint16Array(flows);
    this.rHdr = new Uint16Array(flows);
  }

  /**
   * Groups the batch's frames (reason 0 ones; dropped ones are skipped) into
   * outputs and patches the first segment of every merged run in place.
   * Returns the number of outputs. Batch entries are not moved or freed: the
   * slots of merged segments stay in the batch until the caller releases it.
   */
  coalesce(b: Batch): number {
    const n = b.count;
    if (n > this.capacity) throw new VtepError('ERR_INVALID_ARG', `batch: ${n} frames exceed the coalescer's capacity ${this.capacity}`);
    const u8 = b.pool.u8;
    const words = b.pool.u32;
    this.count = 0;
    for (let i = 0; i < n; i++) {
      this.next[i] = -1;
      if (b.reason[i] !== 0) continue;
      const off = b.start[i]!;
      const flen = b.len[i]!;
      const end = off + flen;
      // Parse: Ethernet [+ VLAN] + IPv4 (IHL 5) or IPv6 (no extension) + TCP.
      let tcp = -1;
      let v6 = false;
      let ipLen = 0;
      if (walkL2(u8, off, end, l2)) {
        const ip = l2.l3;
        if (l2.type === EtherType.IPV4 && ip + Ipv4.HEADER_LEN <= end && u8[ip] === 0x45 && u8[ip + Ipv4.PROTO] === IpProto.TCP) {
          ipLen = u16(u8, ip + Ipv4.TOTAL_LEN);
          if ((u16(u8, ip + Ipv4.FLAGS_FRAG) & (Ipv4Flag.MF | Ipv4Flag.OFFSET_MASK)) === 0) tcp = ip + Ipv4.HEADER_LEN;
        } else if (l2.type === EtherType.IPV6 && ip + Ipv6.HEADER_LEN <= end && u8[ip]! >>> 4 === 6 && u8[ip + Ipv6.NEXT_HEADER] === IpProto.TCP) {
          v6 = true;
          ipLen = Ipv6.HEADER_LEN + u16(u8, ip + Ipv6.PAYLOAD_LEN);
          tcp = ip + Ipv6.HEADER_LEN;
        }
        // Trailing bytes (padding) or a short frame: not a candidate, as in Linux.
        if (tcp >= 0 && (ip + ipLen !== end || tcp + Tcp.HEADER_LEN > end)) tcp = -1;
      }
      if (tcp < 0) {
        this.single(i, b.len[i]!, 0, 0, 0);
        continue;
      }
      const ip = l2.l3;
      const thl = (u8[tcp + Tcp.DATA_OFF]! >>> 4) << 2;
      if (thl < Tcp.HEADER_LEN || tcp + thl > end) {
        this.single(i, flen, 0, 0, 0);
        continue;
      }
      const hdr = tcp + thl - off;
      const pay = flen - hdr;
      const flags = u8[tcp + Tcp.FLAGS]!;
      const hash = flowKey(u8, off, ip, tcp, v6);
      let r = this.findRun(u8, b, i, hash, off, ip, tcp, v6);
      let status: number = CsumStatus.OK;
      if (this.verify) {
        // As inet_gro_receive: a bad IPv4 header checksum is never merged (we would rewrite it valid).
        if (!v6 && fold(sumBytes(u8, ip, Ipv4.HEADER_LEN, 0)) !== 0xffff) status = CsumStatus.BAD;
        const pseudo = v6 ? sumBytes(u8, ip + Ipv6.SRC, 32, IpProto.TCP + thl + pay) : sumBytes(u8, ip + Ipv4.SRC, 8, IpProto.TCP + thl + pay);
        if (status !== CsumStatus.BAD) status = l4ChecksumStatus(u8, words, tcp, thl + pay, IpProto.TCP, pseudo, false);
      }
      if (r >= 0) {
        if (status !== CsumStatus.BAD && pay > 0 && this.canAppend(u8, b, r, off, ip, tcp, v6, hdr, pay, flags)) {
          this.append(r, i, pay, flags, status);
          if (pay < this.rMss[r]! || (flags & ENDS_RUN) !== 0) this.close(u8, b, r);
          continue;
        }
        this.close(u8, b, r); // the flow's run ends before this frame
      }
      // This frame starts a run, or passes alone.
      if (status === CsumStatus.BAD || pay === 0 || (flags & (SYN_RST_URG | ENDS_RUN)) !== 0 || ipLen > this.maxIpLen) {
        this.single(i, flen, status === CsumStatus.COMPLETED ? 1 : 0, tcp - off, hdr);
        continue;
      }
      r = this.freeRun(u8, b);
      const k = this.count++;
      this.head[k] = i;
      this.rHead[r] = i;
      this.rTail[r] = i;
      this.rOut[r] = k;
      this.rPay[r] = pay;
      this.rMss[r] = pay;
      this.rSeq[r] = (u32(u8, tcp + Tcp.SEQ) + pay) >>> 0;
      this.rHash[r] = hash;
      this.rFixedId[r] = 0;
      this.rFlags[r] = 0;
      this.rPartial[r] = status === CsumStatus.COMPLETED ? 1 : 0;
      this.rL4[r] = tcp - off;
      this.rHdr[r] = hdr;
      this.segs[k] = 1;
      this.open++;
    }
    for (let r = 0; this.open > 0 && r < this.maxFlows; r++) if (this.rHead[r]! >= 0) this.close(u8, b, r);
    return this.count;
  }

  /** Copies output k into dst[at..] as one frame (headers + payloads); returns its length. */
  gather(b: Batch, k: number, dst: Uint8Array, at: number): number {
    const u8 = b.pool.u8;
    let i = this.head[k]!;
    const hdr = this.hdrLen[k]!;
    let p = at;
    const first = b.start[i]!;
    const firstLen = this.segs[k]! > 1 ? b.len[i]! : this.len[k]!;
    copyBytes(u8, first, first + firstLen, dst, p);
    p += firstLen;
    for (let j = this.next[i]!; j >= 0; j = this.next[j]!) {
      const s = b.start[j]! + hdr;
      const e = b.start[j]! + b.len[j]!;
      copyBytes(u8, s, e, dst, p);
      p += e - s;
      i = j;
    }
    return p - at;
  }

  /**
   * Output k as iovecs into pool.u8: (offs[at + m], lens[at + m]) for the
   * first frame and then each following payload. Returns how many it wrote.
   */
  iovecs(b: Batch, k: number, offs: Uint32Array, lens: Uint32Array, at: number): number {
    let i = this.head[k]!;
    const hdr = this.hdrLen[k]!;
    offs[at] = b.start[i]!;
    lens[at] = b.len[i]!;
    let m = 1;
    for (let j = this.next[i]!; j >= 0; j = this.next[j]!) {
      offs[at + m] = b.start[j]! + hdr;
      lens[at + m] = b.len[j]! - hdr;
      m++;
      i = j;
    }
    return m;
  }

  /** Writes output k's virtio-net header at u8[off] (10 or 12 bytes); returns the offset after it. */
  writeVnetFor(k: number, u8: Uint8Array, off: number, hdrSize: number = Vnet.HEADER_LEN): number {
    return writeVnet(u8, off, this.vnetFlags[k]!, this.gsoType[k]!, this.hdrLen[k]!, this.gsoSize[k]!, this.csumStart[k]!, this.csumOffset[k]!, hdrSize);
  }

  /** Output for frame i alone. `partial`: its TCP checksum holds the pseudo-header sum (NEEDS_CSUM). */
  private single(i: number, len: number, partial: number, l4: number, hdr: number): void {
    this.fillSingle(this.count++, i, len, partial, l4, hdr);
  }

  private findRun(u8: Uint8Array, b: Batch, i: number, hash: number, off: number, ip: number, tcp: number, v6: boolean): number {
    if (this.open === 0) return -1;
    for (let r = 0; r < this.maxFlows; r++) {
      const h = this.rHead[r]!;
      if (h < 0 || this.rHash[r] !== hash) continue;
      if (b.port[h] === b.port[i] && sameFlow(u8, b.start[h]!, off, ip, tcp, v6)) return r;
    }
    return -1;
  }

  /** A free run slot; when all are taken, the run with the oldest head is closed first. */
  private freeRun(u8: Uint8Array, b: Batch): number {
    let oldest = -1;
    for (let r = 0; r < this.maxFlows; r++) {
      if (this.rHead[r]! < 0) return r;
      if (oldest < 0 || this.rHead[r]! < this.rHead[oldest]!) oldest = r;
    }
    this.close(u8, b, oldest);
    return oldest;
  }

  private canAppend(u8: Uint8Array, b: Batch, r: number, off: number, ip: number, tcp: number, v6: boolean, hdr: number, pay: number, flags: number): boolean {
    if (hdr !== this.rHdr[r] || pay > this.rMss[r]! || (flags & (SYN_RST_URG | TcpFlag.CWR)) !== 0) return false;
    const hOff = b.start[this.rHead[r]!]!;
    const hIp = hOff + (ip - off);
    const hTcp = hOff + this.rL4[r]!;
    // The merged IP packet: IP header + TCP header + every payload.
    if (off + hdr - ip + this.rPay[r]! + pay > this.maxIpLen) return false;
    if (u32(u8, tcp + Tcp.SEQ) !== this.rSeq[r]) return false;
    if (u32(u8, tcp + Tcp.ACK) !== u32(u8, hTcp + Tcp.ACK)) return false;
    // Data offset, flags but CWR/PSH/FIN, window: one 32-bit word in Linux's compare.
    if (u8[tcp + Tcp.DATA_OFF] !== u8[hTcp + Tcp.DATA_OFF]) return false;
    if (((u8[tcp + Tcp.FLAGS]! ^ u8[hTcp + Tcp.FLAGS]!) & ~(TcpFlag.CWR | ENDS_RUN)) !== 0) return false;
    if (u16(u8, tcp + Tcp.WINDOW) !== u16(u8, hTcp + Tcp.WINDOW)) return false;
    const thl = hdr - (tcp - off);
    for (let p = Tcp.HEADER_LEN; p < thl; p++) if (u8[tcp + p] !== u8[hTcp + p]) return false;
    if (v6) {
      // Version, traffic class, flow label; hop limit.
      if (u32(u8, ip) !== u32(u8, hIp) || u8[ip + Ipv6.HOP_LIMIT] !== u8[hIp + Ipv6.HOP_LIMIT]) return false;
    } else {
      if (u8[ip + Ipv4.TOS] !== u8[hIp + Ipv4.TOS] || u8[ip + Ipv4.TTL] !== u8[hIp + Ipv4.TTL]) return false;
      const df = u16(u8, ip + Ipv4.FLAGS_FRAG) & Ipv4Flag.DF;
      if (df !== (u16(u8, hIp + Ipv4.FLAGS_FRAG) & Ipv4Flag.DF)) return false;
      const delta = (u16(u8, ip + Ipv4.IDENT) - u16(u8, hIp + Ipv4.IDENT)) & 0xffff;
      const segs = this.segs[this.rOut[r]!]!;
      // As inet_gro_flush: the second segment decides fixed (DF and same id) or incrementing.
      if (segs === 1 && df !== 0 && delta === 0) this.rFixedId[r] = 1;
      if (delta !== (this.rFixedId[r] !== 0 ? 0 : segs)) return false;
    }
    return true;
  }

  private append(r: number, i: number, pay: number, flags: number, status: number): void {
    this.next[this.rTail[r]!] = i;
    this.rTail[r] = i;
    this.rPay[r] = this.rPay[r]! + pay;
    this.rSeq[r] = (this.rSeq[r]! + pay) >>> 0;
    this.rFlags[r] = this.rFlags[r]! | (flags & ENDS_RUN);
    if (status === CsumStatus.COMPLETED) this.rPartial[r] = 1;
    this.segs[this.rOut[r]!]!++;
  }

  /** Ends run r: a single frame passes through; a merged one gets its headers patched. */
  private close(u8: Uint8Array, b: Batch, r: number): void {
    const i = this.rHead[r]!;
    const k = this.rOut[r]!;
    this.rHead[r] = -1;
    this.open--;
    const segs = this.segs[k]!;
    const hdr = this.rHdr[r]!;
    const l4 = this.rL4[r]!;
    if (segs === 1) {
      this.fillSingle(k, i, b.len[i]!, this.rPartial[r]!, l4, hdr);
      return;
    }
    const off = b.start[i]!;
    walkL2(u8, off, off + hdr, l2close);
    const ip = l2close.l3;
    const tcp = off + l4;
    const l4len = hdr - l4 + this.rPay[r]!;
    let pseudo: number;
    let v6: boolean;
    if (l2close.type === EtherType.IPV6) {
      v6 = true;
      put16(u8, ip + Ipv6.PAYLOAD_LEN, l4len);
      pseudo = sumBytes(u8, ip + Ipv6.SRC, 32, IpProto.TCP + l4len);
    } else {
      v6 = false;
      put16(u8, ip + Ipv4.TOTAL_LEN, Ipv4.HEADER_LEN + l4len);
      put16(u8, ip + Ipv4.CHECKSUM, 0);
      put16(u8, ip + Ipv4.CHECKSUM, ~fold(sumBytes(u8, ip, Ipv4.HEADER_LEN, 0)) & 0xffff);
      pseudo = sumBytes(u8, ip + Ipv4.SRC, 8, IpProto.TCP + l4len);
    }
    const f = u8[tcp + Tcp.FLAGS]! | this.rFlags[r]!;
    u8[tcp + Tcp.FLAGS] = f;
    put16(u8, tcp + Tcp.CHECKSUM, fold(pseudo));
    this.len[k] = hdr + this.rPay[r]!;
    this.vnetFlags[k] = VnetFlag.NEEDS_CSUM;
    this.gsoType[k] = (v6 ? VnetGso.TCPV6 : VnetGso.TCPV4) | ((f & TcpFlag.CWR) !== 0 ? VnetGso.ECN : 0);
    this.gsoSize[k] = this.rMss[r]!;
    this.hdrLen[k] = hdr;
    this.csumStart[k] = l4;
    this.csumOffset[k] = VnetCsumOffset.TCP;
    this.merged += segs - 1;
    this.frames++;
  }

  private fillSingle(k: number, i: number, len: number, partial: number, l4: number, hdr: number): void {
    this.head[k] = i;
    this.segs[k] = 1;
    this.len[k] = len;
    this.gsoType[k] = VnetGso.NONE;
    this.gsoSize[k] = 0;
    this.hdrLen[k] = hdr;
    this.vnetFlags[k] = partial !== 0 ? VnetFlag.NEEDS_CSUM : 0;
    this.csumStart[k] = partial !== 0 ? l4 : 0;
    this.csumOffset[k] = partial !== 0 ? VnetCsumOffset.TCP : 0;
  }
}

/** A 32-bit key of the flow: addresses and ports (the full compare is sameFlow). */
function flowKey(u8: Uint8Array, off: number, ip: number, tcp: number, v6: boolean): number {
  let h = u32(u8, tcp) ^ (ip - off);
  if (v6) {
    for (let p = ip + Ipv6.SRC; p < ip + Ipv6.HEADER_LEN; p += 4) h = Math.imul(h ^ u32(u8, p), 0x9e3779b1);
  } else {
    h = Math.imul(h ^ u32(u8, ip + Ipv4.SRC), 0x9e3779b1);
    h = Math.imul(h ^ u32(u8, ip + Ipv4.DST), 0x9e3779b1);
  }
  return (h ^ (h >>> 16)) >>> 0;
}

/** Same Ethernet header (with tags), addresses and ports as the frame at u8[h]. */
function sameFlow(u8: Uint8Array, h: number, off: number, ip: number, tcp: number, v6: boolean): boolean {
  const l2len = ip - off;
  for (let p = 0; p < l2len; p++) if (u8[h + p] !== u8[off + p]) return false;
  const hIp = h + l2len;
  if (v6) {
    for (let p = Ipv6.SRC; p < Ipv6.HEADER_LEN; p++) if (u8[hIp + p] !== u8[ip + p]) return false;
  } else {
    for (let p = Ipv4.SRC; p < Ipv4.HEADER_LEN; p++) if (u8[hIp + p] !== u8[ip + p]) return false;
  }
  return u32(u8, hIp + (tcp - ip)) === u32(u8, tcp);
}
