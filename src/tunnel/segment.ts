/**
 * Software segmentation (TSO/USO): a TCP or UDP super-frame from a TAP with
 * offloads (virtio-net gso_type TCPV4/TCPV6/UDP_L4, up to 64 KB) cut into
 * frames of at most `gsoSize` payload bytes, as the kernel's tcp_gso_segment /
 * __udp_gso_segment would:
 *
 *   TCP: sequence += k * mss; CWR only on the first segment; FIN and PSH only
 *        on the last; checksum complete (or pseudo-header only, PARTIAL_CSUM).
 *   UDP: length and checksum per datagram (0 computed is sent as 0xffff).
 *   IPv4: total length, identification + k, header checksum. IPv6: payload length.
 *
 * Output, zero copy first. Segment k's headers (Ethernet [+VLAN] + IP + L4,
 * `hdrLen` bytes, the same for every segment) are written at dst[dstStart[k]];
 * its payload stays in the source at src[payStart[k] .. + payLen[k]). So each
 * segment is two iovecs, headers then payload slice, and the whole super-frame
 * is one sendmsg: [outer+hdr 0][pay 0][outer+hdr 1][pay 1]... with UDP_SEGMENT
 * = the first segment's size (all equal but the last: what the kernel's UDP
 * GSO wants). The caller leaves headroom before each dstStart[k] for the outer
 * headers. With COPY_PAYLOAD the payload is copied right after the headers
 * instead, so segment k is one contiguous frame of len[k] bytes (pool slots).
 *
 * Segment 0 may be the super-frame itself (dst === src, dstStart[0] === off):
 * its header is then patched in place after the others are written, and its
 * payload does not move.
 *
 * No allocation per call: the output lives in a reused Segments object.
 */
import { checkInt } from '../errors.js';
import { Reason } from '../packet/reasons.js';
import { u16, i32, put16, put32 } from '../wire/bytes.js';
import { sumBytes, sumWords, fold } from '../wire/checksum.js';
import { walkL2, newL2Info, EtherType } from '../wire/ethernet.js';
import { Ipv4, checkIpv4, ipv4HeaderLen, ipv4IsFragment } from '../wire/ipv4.js';
import { Ipv6, checkIpv6, newIpv6Info } from '../wire/ipv6.js';
import { IpProto } from '../wire/ip.js';
import { Udp } from '../wire/udp.js';
import { Tcp, TcpFlag, tcpHeaderLen } from '../wire/tcp.js';
import { VnetCsumOffset } from '../wire/virtio.js';

export const SegFlag = {
  /** Copy each segment's payload after its headers (one contiguous frame per segment). */
  COPY_PAYLOAD: 1,
  /** Leave L4 checksums as the pseudo-header sum (for NEEDS_CSUM output, e.g. a TAP). */
  PARTIAL_CSUM: 2,
  /** The super-frame starts at its IP header (a routed packet bound for an IP-payload tunnel). */
  IP_START: 4,
} as const;

/** The result of one segment() call (reused; sized for `capacity` segments). */
export class Segments {
  readonly capacity: number;
  /** Segments written; 0 when segment() refused the frame (see reason). */
  count = 0;
  /** Drop reason code (src/packet/reasons.ts) when count is 0. */
  reason = 0;
  /** Header bytes in front of every segment's payload: Ethernet [+ VLAN] + IP + TCP/UDP. */
  hdrLen = 0;
  /** Offset of the L4 header from a segment's first byte (virtio csum_start). */
  csumStart = 0;
  /** Offset of the checksum field from csumStart (virtio csum_offset). */
  csumOffset = 0;
  /** Payload bytes of every segment but the last (the gso_size used). */
  segSize = 0;
  /** IPPROTO_TCP or IPPROTO_UDP. */
  proto = 0;
  /** Segment k's first byte in dst (= dstStart[k]). */
  readonly start: Uint32Array;
  /** Segment k's whole length, headers + payload (in COPY_PAYLOAD mode all of it is at start[k]). */
  readonly len: Uint32Array;
  /** Segment k's payload in the source buffer (zero-copy mode: the second iovec). */
  readonly payStart: Uint32Array;
  readonly payLen: Uint32Array;

  constructor(capacity = 64) {
    this.capacity = checkInt('capacity', capacity, 1, 1 << 16);
    this.start = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.payStart = new Uint32Array(capacity);
    this.payLen = new Uint32Array(capacity);
  }
}

/** Segments needed for `payload` bytes at `gsoSize` each (at least 1). */
export function segmentCount(payload: number, gsoSize: number): number {
  return payload <= gsoSize ? 1 : Math.ceil(payload / gsoSize);
}

const l2 = newL2Info();
const v6info = newIpv6Info();

// Buffer views for copies between two different memories: Buffer#copy is a
// memmove without the view object that set(subarray()) would allocate.
let viewSrc: Uint8Array | null = null;
let viewSrcBuf: Buffer | null = null;
let viewDst: Uint8Array | null = null;
let viewDstBuf: Buffer | null = null;

/** Copies src[from .. to) to dst[at..]; src and dst may be the same memory (memmove). */
export function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): void {
  if (src === dst) {
    if (from !== at) dst.copyWithin(at, from, to);
    return;
  }
  if (viewSrc !== src) {
    viewSrc = src;
    viewSrcBuf = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  }
  if (viewDst !== dst) {
    viewDst = dst;
    viewDstBuf = Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength);
  }
  viewSrcBuf!.copy(viewDstBuf!, at, from, to);
}

/**
 * The header bytes in front of every segment of the super-frame
 * src[off .. off + len) (Ethernet [+ VLAN] unless IP_START in `flags`, IP,
 * TCP or UDP), read without validating: for a size check before segment(),
 * which validates. 0 when the headers cannot be walked.
 */
export function superHeaderLen(src: Uint8Array, off: number, len: number, flags: number = 0): number {
  const end = off + len;
  let ip = off;
  if ((flags & SegFlag.IP_START) === 0) {
    if (!walkL2(src, off, end, l2)) return 0;
    ip = l2.l3;
  }
  if (end - ip < Ipv4.HEADER_LEN) return 0;
  const ver = src[ip]! >>> 4;
  let l4: number;
  let proto: number;
  if (ver === 4) {
    l4 = ip + ((src[ip]! & 0x0f) << 2);
    proto = src[ip + Ipv4.PROTO]!;
  } else if (ver === 6 && end - ip >= Ipv6.HEADER_LEN) {
    l4 = ip + Ipv6.HEADER_LEN;
    proto = src[ip + Ipv6.NEXT_HEADER]!;
  } else return 0;
  if (proto === IpProto.UDP) return l4 + Udp.HEADER_LEN - off;
  if (proto !== IpProto.TCP || end - l4 < Tcp.HEADER_LEN) return 0;
  return l4 + tcpHeaderLen(src, l4) - off;
}

/**
 * Cuts the super-frame src[off .. off + len) into segments of `gsoSize`
 * payload bytes (the virtio gso_size). Headers go to dst[dstStart[k]] (see the
 * file comment for the two modes and `flags`). `srcWords` is an optional
 * Uint32Array over src's memory from the same byte (the pool's u32): faster
 * payload checksums. Returns the number of segments, or 0 with out.reason set:
 * unsupported (not TCP/UDP over IPv4/IPv6, an IPv4 fragment, gsoSize 0),
 * truncated / bad-length / bad-header (malformed), no-buffer (more segments
 * than dstStart or out can hold).
 */
export function segment(
  src: Uint8Array,
  off: number,
  len: number,
  gsoSize: number,
  dst: Uint8Array,
  dstStart: ArrayLike<number>,
  out: Segments,
  flags: number = 0,
  srcWords: Uint32Array | null = null,
): number {
  out.count = 0;
  out.reason = 0;
  const end = off + len;
  let ip = off;
  let type: number;
  if ((flags & SegFlag.IP_START) !== 0) {
    if (len < 1) return refuse(out, Reason.truncated);
    const ver = src[off]! >>> 4;
    type = ver === 4 ? EtherType.IPV4 : ver === 6 ? EtherType.IPV6 : 0;
  } else {
    if (!walkL2(src, off, end, l2)) return refuse(out, Reason.truncated);
    ip = l2.l3;
    type = l2.type;
  }
  let v6: boolean;
  let proto: number;
  let l4: number;
  let ipEnd: number;
  if (type === EtherType.IPV4) {
    const r = checkIpv4(src, ip, end, false);
    if (r !== 0) return refuse(out, r);
    if (ipv4IsFragment(src, ip)) return refuse(out, Reason.unsupported);
    v6 = false;
    proto = src[ip + Ipv4.PROTO]!;
    l4 = ip + ipv4HeaderLen(src, ip);
    ipEnd = ip + u16(src, ip + Ipv4.TOTAL_LEN);
  } else if (type === EtherType.IPV6) {
    const r = checkIpv6(src, ip, end, v6info);
    if (r !== 0) return refuse(out, r);
    v6 = true;
    proto = v6info.proto;
    l4 = v6info.l4;
    ipEnd = v6info.end;
  } else {
    return refuse(out, Reason.unsupported);
  }
  let l4hl: number;
  if (proto === IpProto.TCP) {
    if (ipEnd - l4 < Tcp.HEADER_LEN) return refuse(out, Reason.truncated);
    l4hl = tcpHeaderLen(src, l4);
    if (l4hl < Tcp.HEADER_LEN) return refuse(out, Reason['bad-header']);
    if (l4 + l4hl > ipEnd) return refuse(out, Reason.truncated);
  } else if (proto === IpProto.UDP) {
    l4hl = Udp.HEADER_LEN;
    if (l4 + l4hl > ipEnd) return refuse(out, Reason.truncated);
  } else {
    return refuse(out, Reason.unsupported);
  }
  if (gsoSize <= 0) return refuse(out, Reason.unsupported);
  const payFirst = l4 + l4hl;
  const payTotal = ipEnd - payFirst;
  const n = segmentCount(payTotal, gsoSize);
  if (n > out.capacity || n > dstStart.length) return refuse(out, Reason['no-buffer']);

  const hdrLen = payFirst - off;
  const ipOff = ip - off; // offsets within a segment's headers
  const l4Off = l4 - off;
  const l3Len = l4 - ip; // IP header (+ IPv6 extension headers)
  out.hdrLen = hdrLen;
  out.csumStart = l4Off;
  out.csumOffset = proto === IpProto.TCP ? VnetCsumOffset.TCP : VnetCsumOffset.UDP;
  out.segSize = gsoSize;
  out.proto = proto;

  const copy = (flags & SegFlag.COPY_PAYLOAD) !== 0;
  const partial = (flags & SegFlag.PARTIAL_CSUM) !== 0;
  const tcp = proto === IpProto.TCP;
  // Sequence numbers signed (the same bits): an unsigned one from 2^31 up is a heap number in a call.
  const seq0 = tcp ? i32(src, l4 + Tcp.SEQ) : 0;
  const tcpFlags = tcp ? src[l4 + Tcp.FLAGS]! : 0;
  const id0 = v6 ? 0 : u16(src, ip + Ipv4.IDENT);
  // Pseudo-header address words and protocol: the same for every segment.
  const pseudoBase = v6 ? sumBytes(src, ip + Ipv6.SRC, 32, proto) : sumBytes(src, ip + Ipv4.SRC, 8, proto);
  const inPlace0 = dst === src && dstStart[0] === off;

  // Segment 0 last: while it is patched in place the others read its header.
  for (let j = 1; j <= n; j++) {
    const k = j === n ? 0 : j;
    const at = dstStart[k]!;
    const pStart = payFirst + k * gsoSize;
    const pLen = k === n - 1 ? payTotal - k * gsoSize : gsoSize;
    out.start[k] = at;
    out.len[k] = hdrLen + pLen;
    out.payStart[k] = pStart;
    out.payLen[k] = pLen;
    if (!(k === 0 && inPlace0)) {
      // One memmove of headers and payload when they are adjacent in the source (segment 0).
      if (copy && pStart === payFirst) {
        copyBytes(src, off, pStart + pLen, dst, at);
      } else {
        copyBytes(src, off, payFirst, dst, at); // a memmove beats a byte loop even for 66 bytes
        if (copy) copyBytes(src, pStart, pStart + pLen, dst, at + hdrLen);
      }
    }
    const dIp = at + ipOff;
    const dL4 = at + l4Off;
    const l4len = l4hl + pLen;
    if (v6) {
      put16(dst, dIp + Ipv6.PAYLOAD_LEN, l3Len - Ipv6.HEADER_LEN + l4len);
    } else {
      put16(dst, dIp + Ipv4.TOTAL_LEN, l3Len + l4len);
      put16(dst, dIp + Ipv4.IDENT, (id0 + k) & 0xffff);
      put16(dst, dIp + Ipv4.CHECKSUM, 0);
      put16(dst, dIp + Ipv4.CHECKSUM, ~fold(sumBytes(dst, dIp, l3Len, 0)) & 0xffff);
    }
    let csumField: number;
    if (tcp) {
      put32(dst, dL4 + Tcp.SEQ, (seq0 + k * gsoSize) | 0);
      let f = tcpFlags;
      if (k !== 0) f &= ~TcpFlag.CWR;
      if (k !== n - 1) f &= ~(TcpFlag.FIN | TcpFlag.PSH);
      dst[dL4 + Tcp.FLAGS] = f;
      csumField = dL4 + Tcp.CHECKSUM;
    } else {
      put16(dst, dL4 + Udp.LENGTH, l4len);
      csumField = dL4 + Udp.CHECKSUM;
    }
    const pseudo = pseudoBase + l4len;
    if (partial) {
      put16(dst, csumField, fold(pseudo));
    } else {
      put16(dst, csumField, 0);
      let s = sumBytes(dst, dL4, l4hl, pseudo);
      s = sumWords(src, srcWords, pStart, pLen, s);
      const c = ~fold(s) & 0xffff;
      put16(dst, csumField, c === 0 && !tcp ? 0xffff : c);
    }
  }
  out.count = n;
  return n;
}

function refuse(out: Segments, reason: number): number {
  out.reason = reason;
  return 0;
}
