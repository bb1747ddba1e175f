/**
 * Checksum offload on the host side: finishing the TCP/UDP checksums that a
 * sender left for "the hardware" to do.
 *
 * 1. finishPartial: a frame read from a TAP with VNET_HDR_F_NEEDS_CSUM. The
 *    virtio-net header says where the L4 header starts (csum_start) and where
 *    its checksum field is (csum_offset); the field already holds the
 *    pseudo-header sum. Summing csum_start..end with the field as it is and
 *    storing the complement finishes it (what the kernel's skb_checksum_help
 *    does, including writing 0xffff for a result of 0).
 *
 * 2. completeChecksum: an inner frame decapsulated from a Linux VTEP. When a
 *    local socket sends, the kernel leaves the checksum to the device
 *    (CHECKSUM_PARTIAL): __tcp_v4_send_check sets
 *        th->check = ~tcp_v4_check(len, saddr, daddr, 0)
 *    and tcp_v4_check is csum_tcpudp_magic, which folds the pseudo-header sum
 *    (addresses, protocol, L4 length) and complements it; complemented twice,
 *    the field holds the folded pseudo-header sum itself. udp4_hwcsum does the
 *    same with ~csum_tcpudp_magic(saddr, daddr, len, IPPROTO_UDP, 0), and the
 *    IPv6 versions (__tcp_v6_send_check, udp6_hwcsum_outgoing) with
 *    ~csum_ipv6_magic. A veth and the VXLAN driver keep CHECKSUM_PARTIAL (they
 *    advertise checksum offload), so the inner frame leaves the host with that
 *    value in the field. Here:
 *      - the full checksum verifies          -> untouched            (OK)
 *      - the field equals the pseudo sum     -> finished in place    (COMPLETED)
 *      - anything else                       -> untouched            (BAD)
 *    so a correct checksum is never altered and a corrupt one never turns
 *    valid. A sum of non-zero words folded with end-around carry is never
 *    0x0000, and the pseudo-header holds a non-zero protocol, so comparing the
 *    field with our own fold needs no special case for the two zeros.
 *
 * UDP over IPv4 with checksum 0 carries none (RFC 768): NOT_CHECKED. IP
 * fragments, other protocols and malformed headers: NOT_CHECKED, untouched.
 */
import { sumBytes, sumWords, fold } from '../wire/checksum.js';
import { u16, put16 } from '../wire/bytes.js';
import { walkL2, newL2Info, EtherType } from '../wire/ethernet.js';
import { Ipv4, checkIpv4, ipv4HeaderLen, ipv4IsFragment, ipv4TotalLen } from '../wire/ipv4.js';
import { Ipv6, checkIpv6, newIpv6Info } from '../wire/ipv6.js';
import { IpProto } from '../wire/ip.js';
import { Udp } from '../wire/udp.js';
import { Tcp } from '../wire/tcp.js';

/** What completeChecksum found (and did). */
export const CsumStatus = {
  /** The checksum verified; nothing was written. */
  OK: 0,
  /** The field held the pseudo-header sum only; the checksum was finished in place. */
  COMPLETED: 1,
  /** Neither: a corrupt packet, left as it is for the receiver to drop. */
  BAD: 2,
  /** Not TCP or UDP, a fragment, UDP without checksum, or headers we do not walk. */
  NOT_CHECKED: 3,
} as const;

/** Names by status, for counters. */
export const CSUM_STATUS_NAMES = ['ok', 'completed', 'bad', 'not-checked'] as const;

/** Pseudo-header sum (unfolded) of the IPv4 header at u8[ip] for `proto` and `l4len` bytes. */
export function pseudoSum4(u8: Uint8Array, ip: number, proto: number, l4len: number): number {
  return sumBytes(u8, ip + Ipv4.SRC, 8, proto + l4len);
}

/** Same for the IPv6 header at u8[ip] (no routing header with segments left: dst is final). */
export function pseudoSum6(u8: Uint8Array, ip: number, proto: number, l4len: number): number {
  return sumBytes(u8, ip + Ipv6.SRC, 32, proto + l4len);
}

/**
 * NEEDS_CSUM: sums u8[off + csumStart .. off + len) (the field holding the
 * pseudo-header sum) and stores the checksum at off + csumStart + csumOffset.
 * `words` is an optional Uint32Array over the same memory starting at the same
 * byte as u8 (the pool's u32), for speed. False when the offsets do not fit.
 */
export function finishPartial(u8: Uint8Array, off: number, len: number, csumStart: number, csumOffset: number, words: Uint32Array | null = null): boolean {
  if (csumStart + csumOffset + 2 > len) return false;
  const start = off + csumStart;
  const field = start + csumOffset;
  const c = ~fold(sumWords(u8, words, start, off + len - start, 0)) & 0xffff;
  put16(u8, field, c === 0 ? 0xffff : c);
  return true;
}

/**
 * The core of completeChecksum for an L4 segment whose headers are already
 * walked: u8[l4 .. l4 + l4len) is the TCP or UDP segment (`proto`), `pseudo`
 * its pseudo-header sum (pseudoSum4/6). Finishes a pseudo-only field when `fix`.
 */
export function l4ChecksumStatus(u8: Uint8Array, words: Uint32Array | null, l4: number, l4len: number, proto: number, pseudo: number, fix: boolean): number {
  const field = l4 + (proto === IpProto.TCP ? Tcp.CHECKSUM : Udp.CHECKSUM);
  const f = u16(u8, field);
  const s = sumWords(u8, words, l4, l4len, pseudo);
  if (fold(s) === 0xffff) return CsumStatus.OK;
  if (f !== fold(pseudo)) return CsumStatus.BAD;
  if (fix) {
    // The sum without the field is s - f: no second pass over the payload.
    const c = ~fold(s - f) & 0xffff;
    put16(u8, field, c === 0 && proto === IpProto.UDP ? 0xffff : c);
  }
  return CsumStatus.COMPLETED;
}

const l2 = newL2Info();
const v6info = newIpv6Info();

/**
 * Checks the TCP or UDP checksum of the Ethernet frame u8[off .. off + len)
 * (VLAN tags skipped) and finishes it when the sender left only the
 * pseudo-header sum. Returns a CsumStatus. `words`: see finishPartial.
 */
export function completeChecksum(u8: Uint8Array, off: number, len: number, words: Uint32Array | null = null): number {
  const end = off + len;
  if (!walkL2(u8, off, end, l2)) return CsumStatus.NOT_CHECKED;
  const ip = l2.l3;
  if (l2.type === EtherType.IPV4) {
    if (checkIpv4(u8, ip, end, false) !== 0 || ipv4IsFragment(u8, ip)) return CsumStatus.NOT_CHECKED;
    const proto = u8[ip + Ipv4.PROTO]!;
    if (proto !== IpProto.TCP && proto !== IpProto.UDP) return CsumStatus.NOT_CHECKED;
    const l4 = ip + ipv4HeaderLen(u8, ip);
    return l4Status(u8, words, ip, l4, ip + ipv4TotalLen(u8, ip) - l4, proto, false);
  }
  if (l2.type === EtherType.IPV6) {
    if (checkIpv6(u8, ip, end, v6info) !== 0) return CsumStatus.NOT_CHECKED;
    const proto = v6info.proto;
    if (proto !== IpProto.TCP && proto !== IpProto.UDP) return CsumStatus.NOT_CHECKED;
    return l4Status(u8, words, ip, v6info.l4, v6info.end - v6info.l4, proto, true);
  }
  return CsumStatus.NOT_CHECKED;
}

function l4Status(u8: Uint8Array, words: Uint32Array | null, ip: number, l4: number, l4len: number, proto: number, v6: boolean): number {
  if (proto === IpProto.TCP) {
    if (l4len < Tcp.HEADER_LEN) return CsumStatus.NOT_CHECKED;
  } else {
    if (l4len < Udp.HEADER_LEN) return CsumStatus.NOT_CHECKED;
    const ulen = u16(u8, l4 + Udp.LENGTH);
    if (ulen < Udp.HEADER_LEN || ulen > l4len) return CsumStatus.NOT_CHECKED;
    l4len = ulen; // the UDP length rules; bytes after it are padding
    if (!v6 && u16(u8, l4 + Udp.CHECKSUM) === 0) return CsumStatus.NOT_CHECKED;
  }
  const pseudo = v6 ? pseudoSum6(u8, ip, proto, l4len) : pseudoSum4(u8, ip, proto, l4len);
  return l4ChecksumStatus(u8, words, l4, l4len, proto, pseudo, true);
}
