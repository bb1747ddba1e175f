/**
 * Answers the dataplane gives itself, written over the request in its own
 * slot (no allocation, no copy): ARP replies and neighbor advertisements for
 * suppression and for gateway addresses, and echo replies from a gateway.
 * Each function takes the frame u8[start .. start+len) whose L3 header is at
 * `l3` (after any VLAN tags, which are kept), checks what it must, and
 * returns the new frame length, or 0 when the packet is not one to answer.
 */
import { u16, u32, put16, put32 } from '../wire/bytes.js';
import { readMac, writeMac } from '../util/addr.js';
import { Eth } from '../wire/ethernet.js';
import { Arp, ArpOp, isEthIpv4Arp } from '../wire/arp.js';
import { Ipv4 } from '../wire/ipv4.js';
import { Ipv6 } from '../wire/ipv6.js';
import { IpProto } from '../wire/ip.js';
import { Icmp, IcmpType } from '../wire/icmp.js';
import { Icmp6, Icmp6Type, Nd, NdOpt, fillIcmp6Checksum, icmp6ChecksumOk, findNdOption } from '../wire/icmpv6.js';
import { checksum, verifies } from '../wire/checksum.js';

/** The target IPv4 address of an ARP request at l3, or -1 when it is not an Ethernet/IPv4 ARP request. */
export function arpRequestTarget(u8: Uint8Array, l3: number, end: number): number {
  if (!isEthIpv4Arp(u8, l3, end) || u16(u8, l3 + Arp.OPER) !== ArpOp.REQUEST) return -1;
  return u32(u8, l3 + Arp.TPA);
}

/**
 * Turns the ARP request at l3 into the reply "targetIp is at `mac`", sent back
 * to the requester. Gratuitous requests (sender = target) are not answered.
 */
export function arpReply(u8: Uint8Array, start: number, l3: number, end: number, mac: number): number {
  const target = arpRequestTarget(u8, l3, end);
  if (target < 0 || target === u32(u8, l3 + Arp.SPA)) return 0;
  const requesterMac = readMac(u8, l3 + Arp.SHA);
  const requesterIp = u32(u8, l3 + Arp.SPA);
  writeMac(u8, start + Eth.DST, requesterMac);
  writeMac(u8, start + Eth.SRC, mac);
  put16(u8, l3 + Arp.OPER, ArpOp.REPLY);
  writeMac(u8, l3 + Arp.SHA, mac);
  put32(u8, l3 + Arp.SPA, target);
  writeMac(u8, l3 + Arp.THA, requesterMac);
  put32(u8, l3 + Arp.TPA, requesterIp);
  return end - start;
}

/** Writes the target address words of a neighbor solicitation at l3 into out[0..4) and returns true, or false. */
export function nsTarget(u8: Uint8Array, l3: number, end: number, out: Uint32Array): boolean {
  const icmp = l3 + Ipv6.HEADER_LEN;
  if (end - l3 < Ipv6.HEADER_LEN + Nd.OPTIONS) return false;
  if (u8[l3]! >>> 4 !== 6 || u8[l3 + Ipv6.NEXT_HEADER] !== IpProto.ICMPV6 || u8[l3 + Ipv6.HOP_LIMIT] !== Nd.HOP_LIMIT) return false;
  if (u8[icmp + Icmp6.TYPE] !== Icmp6Type.NEIGHBOR_SOLICIT || u8[icmp + Icmp6.CODE] !== 0) return false;
  const plen = u16(u8, l3 + Ipv6.PAYLOAD_LEN);
  if (plen < Nd.OPTIONS || l3 + Ipv6.HEADER_LEN + plen > end) return false;
  if (!icmp6ChecksumOk(u8, l3, icmp, plen)) return false;
  if (findNdOption(u8, icmp + Nd.OPTIONS, icmp + plen, 0xff) === -2) return false; // an option of length 0
  for (let i = 0; i < 4; i++) out[i] = u32(u8, icmp + Nd.TARGET + 4 * i);
  return true;
}

const ND_REPLY_LEN = Eth.HEADER_LEN + Ipv6.HEADER_LEN + Nd.OPTIONS + 8;

/**
 * Turns the neighbor solicitation at l3 into the advertisement "target is at
 * `mac`" (RFC 4861 §7.2.4): solicited and override set, router when asked,
 * to the soliciting node, or to all nodes when it solicited from :: (DAD).
 * `room` is how many bytes may be written from `start`; 86 are needed.
 */
export function ndAdvert(u8: Uint8Array, start: number, l3: number, end: number, mac: number, router: boolean, room: number): number {
  const icmp = l3 + Ipv6.HEADER_LEN;
  const tags = l3 - start - Eth.HEADER_LEN;
  if (room < ND_REPLY_LEN + tags) return 0;
  const src = l3 + Ipv6.SRC;
  const dad = u32(u8, src) === 0 && u32(u8, src + 4) === 0 && u32(u8, src + 8) === 0 && u32(u8, src + 12) === 0;
  const requesterMac = readMac(u8, start + Eth.SRC);
  // IPv6: to the solicitor (or all-nodes), from the target.
  if (dad) {
    put32(u8, l3 + Ipv6.DST, 0xff020000);
    put32(u8, l3 + Ipv6.DST + 4, 0);
    put32(u8, l3 + Ipv6.DST + 8, 0);
    put32(u8, l3 + Ipv6.DST + 12, 1);
  } else {
    u8.copyWithin(l3 + Ipv6.DST, src, src + 16);
  }
  u8.copyWithin(src, icmp + Nd.TARGET, icmp + Nd.TARGET + 16);
  put32(u8, l3, 0x60000000);
  put16(u8, l3 + Ipv6.PAYLOAD_LEN, Nd.OPTIONS + 8);
  u8[l3 + Ipv6.HOP_LIMIT] = Nd.HOP_LIMIT;
  u8[icmp + Icmp6.TYPE] = Icmp6Type.NEIGHBOR_ADVERT;
  u8[icmp + Icmp6.CODE] = 0;
  put32(u8, icmp + Nd.FLAGS, 0);
  u8[icmp + Nd.FLAGS] = (router ? Nd.FLAG_ROUTER : 0) | (dad ? 0 : Nd.FLAG_SOLICITED) | Nd.FLAG_OVERRIDE;
  // Target link-layer address option.
  const opt = icmp + Nd.OPTIONS;
  u8[opt] = NdOpt.TARGET_LINK_ADDR;
  u8[opt + 1] = 1;
  writeMac(u8, opt + 2, mac);
  fillIcmp6Checksum(u8, l3, icmp, Nd.OPTIONS + 8);
  writeMac(u8, start + Eth.DST, dad ? 0x333300000001 : requesterMac);
  writeMac(u8, start + Eth.SRC, mac);
  return ND_REPLY_LEN + tags;
}

/**
 * Turns an ICMP echo request to `ip` (an IPv4 packet at l3, validated here)
 * into the reply, MACs swapped. Returns the new frame length or 0.
 */
export function echoReply4(u8: Uint8Array, start: number, l3: number, end: number, ip: number): number {
  if (end - l3 < Ipv4.HEADER_LEN) return 0;
  const hl = (u8[l3]! & 0x0f) << 2;
  if (u8[l3]! >>> 4 !== 4 || hl < Ipv4.HEADER_LEN || u8[l3 + Ipv4.PROTO] !== IpProto.ICMP) return 0;
  const total = u16(u8, l3 + Ipv4.TOTAL_LEN);
  if (total < hl + Icmp.HEADER_LEN || l3 + total > end || !verifies(u8, l3, hl)) return 0;
  if ((u16(u8, l3 + Ipv4.FLAGS_FRAG) & 0x3fff) !== 0 || u32(u8, l3 + Ipv4.DST) !== ip) return 0;
  const icmp = l3 + hl;
  if (u8[icmp] !== IcmpType.ECHO_REQUEST || u8[icmp + 1] !== 0 || !verifies(u8, icmp, total - hl)) return 0;
  // ICMP: type 8 -> 0; the checksum changes by the type word alone.
  u8[icmp] = IcmpType.ECHO_REPLY;
  put16(u8, icmp + Icmp.CHECKSUM, 0);
  put16(u8, icmp + Icmp.CHECKSUM, checksum(u8, icmp, total - hl));
  // IPv4: swap addresses, fresh TTL, recompute the header checksum.
  const s = u32(u8, l3 + Ipv4.SRC);
  put32(u8, l3 + Ipv4.SRC, ip);
  put32(u8, l3 + Ipv4.DST, s);
  u8[l3 + Ipv4.TTL] = 64;
  put16(u8, l3 + Ipv4.CHECKSUM, 0);
  put16(u8, l3 + Ipv4.CHECKSUM, checksum(u8, l3, hl));
  swapMacs(u8, start);
  return l3 + total - start;
}

/** The same for an ICMPv6 echo request to the address words `ip` (no extension headers). */
export function echoReply6(u8: Uint8Array, start: number, l3: number, end: number, ip: Uint32Array): number {
  if (end - l3 < Ipv6.HEADER_LEN + 8 || u8[l3]! >>> 4 !== 6 || u8[l3 + Ipv6.NEXT_HEADER] !== IpProto.ICMPV6) return 0;
  const plen = u16(u8, l3 + Ipv6.PAYLOAD_LEN);
  const icmp = l3 + Ipv6.HEADER_LEN;
  if (plen < 8 || icmp + plen > end) return 0;
  for (let i = 0; i < 4; i++) if (u32(u8, l3 + Ipv6.DST + 4 * i) !== ip[i]) return 0;
  if (u8[icmp] !== Icmp6Type.ECHO_REQUEST || u8[icmp + 1] !== 0 || !icmp6ChecksumOk(u8, l3, icmp, plen)) return 0;
  u8.copyWithin(l3 + Ipv6.DST, l3 + Ipv6.SRC, l3 + Ipv6.SRC + 16);
  for (let i = 0; i < 4; i++) put32(u8, l3 + Ipv6.SRC + 4 * i, ip[i]!);
  u8[l3 + Ipv6.HOP_LIMIT] = 64;
  u8[icmp] = Icmp6Type.ECHO_REPLY;
  fillIcmp6Checksum(u8, l3, icmp, plen);
  swapMacs(u8, start);
  return icmp + plen - start;
}

function swapMacs(u8: Uint8Array, start: number): void {
  const d = readMac(u8, start + Eth.DST);
  writeMac(u8, start + Eth.DST, readMac(u8, start + Eth.SRC));
  writeMac(u8, start + Eth.SRC, d);
}

