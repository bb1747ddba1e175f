/**
 * The inner-checksum step of underlay-input (a stage of its own at first; fused
 * into underlay-input because the split cost a pass over every decapsulated
 * packet in the pipeline benchmark): finishes the inner TCP/UDP checksums that a Linux VTEP left
 * partial. A kernel peer sending from a local socket leaves the checksum to
 * the device (CHECKSUM_PARTIAL: the field holds only the pseudo-header sum),
 * a veth and the VXLAN driver keep it so, and the frame arrives here with a
 * checksum no host would accept: TCP through such a peer would not flow at
 * all. Only a field equal to the pseudo-header sum is looked at further (the
 * payload summed); if the full checksum verifies it is left alone, else it is
 * finished. Any other field, correct or corrupt, is left as it is for the
 * receiver to judge (see src/tunnel/csum.ts), so a corrupt packet is never
 * made valid and a correct one never changed.
 */
import { completePartial, completePartialIp, finishPartial, CsumStatus } from '../../tunnel/csum.js';
import { VnetFlag } from '../../wire/virtio.js';
import type { Runtime } from '../runtime.js';
import { u16 } from '../../wire/bytes.js';
import { Eth, EtherType } from '../../wire/ethernet.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { IpProto } from '../../wire/ip.js';
import { Udp } from '../../wire/udp.js';

/**
 * Finishes the checksum of the decapsulated frame u8[s .. end) (its IP header
 * at l3; `routed`: an IP packet without an Ethernet header) when the sender
 * left it partial; true when it did. Part of underlay-input (see there).
 */
export function finishInner(u8: Uint8Array, words: Uint32Array, s: number, end: number, l3: number, routed: boolean): boolean {
  const type = routed ? 0 : (u8[s + Eth.TYPE]! << 8) | u8[s + Eth.TYPE + 1]!;
  // IPv4 that is neither TCP nor UDP, or UDP without a checksum, has nothing to finish: said here,
  // without the call (mayBePartial is not inlined into underlay-input; the call cost decap about 5%).
  if ((routed || type === EtherType.IPV4) && (u8[l3]! >>> 4) === 4) {
    const l4 = l3 + ((u8[l3]! & 0x0f) << 2);
    const proto = u8[l3 + Ipv4.PROTO]!;
    if (proto !== IpProto.TCP && (proto !== IpProto.UDP || (l4 + Udp.HEADER_LEN <= end && (u8[l4 + Udp.CHECKSUM]! | u8[l4 + Udp.CHECKSUM + 1]!) === 0))) return false;
  }
  if (!routed) {
    // Untagged IPv4/IPv6 takes the header-only test; anything else the full walk.
    if ((type === EtherType.IPV4 || type === EtherType.IPV6) && mayBePartial(u8, l3, end) === 0) return false;
    return completePartial(u8, s, end - s, words) === CsumStatus.COMPLETED;
  }
  if (mayBePartial(u8, l3, end) === 0) return false;
  return completePartialIp(u8, l3, end, words) === CsumStatus.COMPLETED;
}

/**
 * A guest's frame, batch entry i, whose virtio-net header says NEEDS_CSUM
 * (the field holds the pseudo-header sum), finished where it goes somewhere
 * that takes only complete checksums (a tunnel, a port without a virtio-net
 * header, the held queue, before flooding); its offload flags are cleared so
 * that no later copy asks for the sum again. True when it was finished.
 */
export function finishGuestCsum(rt: Runtime, i: number): boolean {
  const b = rt.batch;
  if ((b.vflags[i]! & VnetFlag.NEEDS_CSUM) === 0) return false;
  b.vflags[i] = 0;
  return finishPartial(rt.u8, b.start[i]!, b.len[i]!, b.csumStart[i]!, b.csumOffset[i]!, rt.pool.u32);
}

/**
 * 0 when the IP packet at u8[l3] certainly needs no finishing (not TCP/UDP,
 * a fragment, UDP/IPv4 without checksum, or a field other than the folded
 * pseudo-header sum); 1 when it may (the caller checks it fully). Reads only
 * the headers: no call, no payload.
 */
function mayBePartial(u8: Uint8Array, l3: number, end: number): number {
  if (end - l3 < Ipv6.HEADER_LEN) return 1;
  const ver = u8[l3]! >>> 4;
  let proto: number;
  let l4: number;
  let l4len: number;
  if (ver === 4) {
    proto = u8[l3 + Ipv4.PROTO]!;
    if ((proto !== IpProto.TCP && proto !== IpProto.UDP) || (u16(u8, l3 + Ipv4.FLAGS_FRAG) & 0x3fff) !== 0) return 0;
    const hl = (u8[l3]! & 0x0f) << 2;
    l4 = l3 + hl;
    l4len = u16(u8, l3 + Ipv4.TOTAL_LEN) - hl;
  } else if (ver === 6) {
    proto = u8[l3 + Ipv6.NEXT_HEADER]!;
    if (proto !== IpProto.TCP && proto !== IpProto.UDP) return 1; // extension headers: the full walk decides
    l4 = l3 + Ipv6.HEADER_LEN;
    l4len = u16(u8, l3 + Ipv6.PAYLOAD_LEN);
  } else return 0;
  if (l4len < (proto === IpProto.TCP ? 20 : 8) || l4 + l4len > end) return 1;
  const field = u16(u8, l4 + (proto === IpProto.TCP ? 16 : 6));
  // UDP over IPv4 without a checksum: nothing to finish (tested before any summing).
  if (proto === IpProto.UDP && ver === 4 && field === 0) return 0;
  if (proto === IpProto.UDP) l4len = u16(u8, l4 + 4);
  let sum = proto + l4len;
  if (ver === 4) sum += u16(u8, l3 + 12) + u16(u8, l3 + 14) + u16(u8, l3 + 16) + u16(u8, l3 + 18);
  else for (let q = 8; q < 40; q += 2) sum += u16(u8, l3 + q);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return field === sum ? 1 : 0;
}
