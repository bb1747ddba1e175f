/**
 * icmp-error: tells the sender of a packet the router could not forward, as
 * the kernel and VPP do (RFC 1812 §4.3, RFC 4443 §2.4): time exceeded when
 * the TTL / hop limit ran out, destination unreachable (net: no route; host:
 * the neighbor never answered), and "fragmentation needed" / "packet too big"
 * with the usable MTU. The error is written in place, in front of the
 * offending packet's own IP header (which the error quotes), from the
 * gateway address of the port it came in on, and routed back (ip-route, with
 * the TTL left alone).
 *
 * Never in answer to an ICMP error, to a broadcast or multicast destination
 * or a group MAC, to a non-initial fragment, or from an unspecified source;
 * and at most `rate` per second per VRF with bursts of `burst` (a token
 * bucket, like the kernel's icmp_ratelimit).
 */
import { u16, u32, put16, put32 } from '../../wire/bytes.js';
import { Eth } from '../../wire/ethernet.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { IpProto } from '../../wire/ip.js';
import { IcmpType, Icmp } from '../../wire/icmp.js';
import { Icmp6Type, fillIcmp6Checksum } from '../../wire/icmpv6.js';
import { checksum } from '../../wire/checksum.js';
import { Stage } from '../stage.js';
import { PktFlag, type Runtime, type VrfEntry } from '../runtime.js';

/** Why an error is sent (rt.out on entry); for TOO_BIG the MTU is in rt.l3's companion, see mtuOf. */
export const IcmpWhy = { TTL: 1, NET: 2, HOST: 3, TOO_BIG: 4 } as const;
const WHY_NAMES = ['', 'time exceeded', 'net unreachable', 'host unreachable', 'too big'];

const IP_ROUTE = 0;
const RATE_LIMITED = 1;
const NOT_SENT = 2;
const TX = 3;

/** Longest error: IPv4 576 bytes (RFC 1812 §4.3.2.3), IPv6 the minimum MTU 1280 (RFC 4443 §2.4(c)). */
const MAX4 = 576;
const MAX6 = 1280;
const V4_ERR_HDR = Ipv4.HEADER_LEN + Icmp.HEADER_LEN;
const V6_ERR_HDR = Ipv6.HEADER_LEN + 8;

export interface IcmpLimits {
  /** Errors per second per VRF. Default 100. */
  rate?: number;
  /** Burst. Default 50. */
  burst?: number;
}

export class IcmpErrorStage extends Stage {
  readonly name = 'icmp-error';
  readonly nextNames = ['ip-route', 'rate-limited', 'not-sent', 'tx'] as const;
  readonly reasons = [] as const;
  readonly rate: number;
  readonly burst: number;

  constructor(rt: Runtime, limits: IcmpLimits = {}) {
    super(rt);
    this.rate = limits.rate ?? 100;
    this.burst = limits.burst ?? 50;
  }

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      if ((rt.flags[i]! & PktFlag.BRIDGED) !== 0) {
        this.bridged(i);
        continue;
      }
      const v = rt.vrfs[rt.owner[i]!]!;
      const l3 = rt.l3[i]!;
      const ok = (rt.u8[l3]! >>> 4) === 4 ? this.build4(i, v, l3) : this.build6(i, v, l3);
      if (!ok) {
        this.sent(NOT_SENT, i);
        continue;
      }
      if (!this.token(v)) {
        this.sent(RATE_LIMITED, i);
        continue;
      }
      rt.flags[i] = PktFlag.LOCAL;
      this.to(IP_ROUTE, i);
    }
  }

  /**
   * A bridged packet too big for the tunnel: no router is on its path, so the
   * answer comes at L2 as the kernel's bridged VXLAN gives it
   * (iptunnel_pmtud_build_icmp): from the packet's destination address and
   * MAC, to its source, out of the port it came in on, VLAN tags kept.
   */
  private bridged(i: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const b = rt.batch;
    const s = b.start[i]!;
    const l3 = rt.l3[i]!;
    const l2len = l3 - s;
    const ver = u8[l3]! >>> 4;
    const hdr = ver === 4 ? V4_ERR_HDR : V6_ERR_HDR;
    const ns = s - hdr;
    if (ns < b.slot[i]! * rt.pool.slotSize || (ver === 4 ? !this.allowed4(i, l3) : !this.allowed6(i, l3))) {
      this.sent(NOT_SENT, i);
      return;
    }
    if (!this.token(rt.bridges[rt.owner[i]!]!)) {
      this.sent(RATE_LIMITED, i);
      return;
    }
    // The L2 header (with its tags) moves in front of the error; source and destination MACs swap.
    u8.copyWithin(ns, s, l3);
    for (let k = 0; k < 6; k++) {
      const d = u8[ns + Eth.DST + k]!;
      u8[ns + Eth.DST + k] = u8[ns + Eth.SRC + k]!;
      u8[ns + Eth.SRC + k] = d;
    }
    const ip = ns + l2len;
    const len = ver === 4 ? this.write4(ip, l3, u32(u8, l3 + Ipv4.DST), IcmpWhy.TOO_BIG, i) : this.write6(ip, l3, null, IcmpWhy.TOO_BIG, i);
    b.start[i] = ns;
    b.len[i] = l2len + len;
    if (rt.tx.enqueue(rt.ingress.id, b.slot[i]!, ns, l2len + len)) this.sent(TX, i);
  }

  /** Takes a token of the tenant's bucket. */
  private token(v: { icmpTokens: number; icmpAt: number }): boolean {
    const now = this.rt.now;
    v.icmpTokens = Math.min(this.burst, v.icmpTokens + ((now - v.icmpAt) * this.rate) / 1000);
    v.icmpAt = now;
    if (v.icmpTokens < 1) return false;
    v.icmpTokens--;
    return true;
  }

  /** Our source address for an error about packet i: the ingress port's gateway, else the VRF's first. */
  private source4(v: VrfEntry): number {
    const e = this.rt.ingress;
    if (e.gw4len > 0 && e.owner === v.index && e.role === 2) return e.gw4;
    for (const p of v.ports) {
      const pe = this.rt.ports[p];
      if (pe !== undefined && pe.gw4len > 0) return pe.gw4;
    }
    return 0;
  }

  private source6(v: VrfEntry): Uint32Array | null {
    const e = this.rt.ingress;
    if (e.gw6 !== null && e.owner === v.index && e.role === 2) return e.gw6;
    for (const p of v.ports) {
      const pe = this.rt.ports[p];
      if (pe !== undefined && pe.gw6 !== null) return pe.gw6;
    }
    return null;
  }

  /** True when packet i may be answered at all (the rules above), given its IP header. */
  private groupMac(i: number, l3: number): boolean {
    const b = this.rt.batch;
    return l3 - b.start[i]! >= Eth.HEADER_LEN && (this.rt.u8[b.start[i]!]! & 1) !== 0;
  }

  /** May packet i (IPv4 at l3) be answered at all? (The rules in the header comment.) */
  private allowed4(i: number, l3: number): boolean {
    const u8 = this.rt.u8;
    const hl = (u8[l3]! & 0x0f) << 2;
    const src = u32(u8, l3 + Ipv4.SRC);
    const dst = u32(u8, l3 + Ipv4.DST);
    if (src === 0 || src >>> 28 === 0xe || src === 0xffffffff || dst >>> 28 === 0xe || dst === 0xffffffff || this.groupMac(i, l3)) return false;
    if ((u16(u8, l3 + Ipv4.FLAGS_FRAG) & 0x1fff) !== 0) return false; // not the first fragment
    if (u8[l3 + Ipv4.PROTO] === IpProto.ICMP) {
      const t = u8[l3 + hl]!;
      if (t !== IcmpType.ECHO_REQUEST && t !== IcmpType.ECHO_REPLY && t !== 13 && t !== 14) return false; // an error (or unknown): never answered
    }
    return true;
  }

  /** The same for IPv6. */
  private allowed6(i: number, l3: number): boolean {
    const u8 = this.rt.u8;
    if (u8[l3 + Ipv6.DST]! === 0xff || this.groupMac(i, l3)) return false; // multicast destination
    if (u8[l3 + Ipv6.SRC] === 0xff || (u32(u8, l3 + Ipv6.SRC) === 0 && u32(u8, l3 + Ipv6.SRC + 4) === 0 && u32(u8, l3 + Ipv6.SRC + 8) === 0 && u32(u8, l3 + Ipv6.SRC + 12) === 0)) return false;
    const nh = u8[l3 + Ipv6.NEXT_HEADER]!;
    if (nh === IpProto.ICMPV6 && u8[l3 + Ipv6.HEADER_LEN]! < 128) return false; // an error message
    if (nh === IpProto.FRAGMENT && (u16(u8, l3 + Ipv6.HEADER_LEN + 2) & 0xfff8) !== 0) return false; // not the first fragment
    return true;
  }

  /**
   * Writes an IPv4 ICMP error at `ip` (just before the offending header at l3,
   * which it quotes) from `from` to the offender's source; returns its length.
   */
  private write4(ip: number, l3: number, from: number, why: number, i: number): number {
    const u8 = this.rt.u8;
    const total = u16(u8, l3 + Ipv4.TOTAL_LEN);
    const src = u32(u8, l3 + Ipv4.SRC);
    const quote = Math.min(total, MAX4 - V4_ERR_HDR);
    const icmp = ip + Ipv4.HEADER_LEN;
    put32(u8, ip, 0x45c00000 | (V4_ERR_HDR + quote)); // version 4, IHL 5, precedence "internetwork control"
    put32(u8, ip + 4, 0);
    u8[ip + Ipv4.TTL] = 64;
    u8[ip + Ipv4.PROTO] = IpProto.ICMP;
    put16(u8, ip + Ipv4.CHECKSUM, 0);
    put32(u8, ip + Ipv4.SRC, from);
    put32(u8, ip + Ipv4.DST, src);
    put16(u8, ip + Ipv4.CHECKSUM, checksum(u8, ip, Ipv4.HEADER_LEN));
    u8[icmp + Icmp.TYPE] = why === IcmpWhy.TTL ? IcmpType.TIME_EXCEEDED : IcmpType.DEST_UNREACHABLE;
    u8[icmp + Icmp.CODE] = why === IcmpWhy.NET ? 0 : why === IcmpWhy.HOST ? 1 : why === IcmpWhy.TOO_BIG ? 4 : 0;
    put32(u8, icmp + 4, why === IcmpWhy.TOO_BIG ? this.rt.icmpMtu[i]! : 0); // RFC 1191: next-hop MTU in the low 16 bits
    put16(u8, icmp + Icmp.CHECKSUM, 0);
    put16(u8, icmp + Icmp.CHECKSUM, checksum(u8, icmp, Icmp.HEADER_LEN + quote));
    return V4_ERR_HDR + quote;
  }

  /** The same for IPv6; `from` null: from the offender's destination (the L2 answer). */
  private write6(ip: number, l3: number, from: Uint32Array | null, why: number, i: number): number {
    const u8 = this.rt.u8;
    const w = this.rt.words;
    const total = Ipv6.HEADER_LEN + u16(u8, l3 + Ipv6.PAYLOAD_LEN);
    const quote = Math.min(total, MAX6 - V6_ERR_HDR);
    const icmp = ip + Ipv6.HEADER_LEN;
    for (let k = 0; k < 4; k++) w[k] = from === null ? u32(u8, l3 + Ipv6.DST + 4 * k) : from[k]!;
    // The offending source becomes our destination (its bytes are behind ours: no overlap).
    for (let k = 0; k < 4; k++) put32(u8, ip + Ipv6.DST + 4 * k, u32(u8, l3 + Ipv6.SRC + 4 * k));
    put32(u8, ip, 0x60000000);
    put16(u8, ip + Ipv6.PAYLOAD_LEN, 8 + quote);
    u8[ip + Ipv6.NEXT_HEADER] = IpProto.ICMPV6;
    u8[ip + Ipv6.HOP_LIMIT] = 64;
    for (let k = 0; k < 4; k++) put32(u8, ip + Ipv6.SRC + 4 * k, w[k]!);
    u8[icmp] = why === IcmpWhy.TTL ? Icmp6Type.TIME_EXCEEDED : why === IcmpWhy.TOO_BIG ? 2 : Icmp6Type.DEST_UNREACHABLE;
    u8[icmp + 1] = why === IcmpWhy.HOST ? 3 : 0; // unreachable: 0 no route, 3 address unreachable
    put32(u8, icmp + 4, why === IcmpWhy.TOO_BIG ? this.rt.icmpMtu[i]! : 0);
    fillIcmp6Checksum(u8, ip, icmp, 8 + quote);
    return V6_ERR_HDR + quote;
  }

  /** A routed error, written in place before the IP header; the packet becomes it. */
  private build4(i: number, v: VrfEntry, l3: number): boolean {
    const rt = this.rt;
    const b = rt.batch;
    if (!this.allowed4(i, l3)) return false;
    const from = this.source4(v);
    const ip = l3 - V4_ERR_HDR;
    if (from === 0 || ip - Eth.HEADER_LEN < b.slot[i]! * rt.pool.slotSize) return false; // no source, no headroom: not answered
    b.len[i] = this.write4(ip, l3, from, rt.out[i]!, i);
    b.start[i] = ip;
    rt.l3[i] = ip;
    return true;
  }

  private build6(i: number, v: VrfEntry, l3: number): boolean {
    const rt = this.rt;
    const b = rt.batch;
    if (!this.allowed6(i, l3)) return false;
    const from = this.source6(v);
    const ip = l3 - V6_ERR_HDR;
    if (from === null || ip - Eth.HEADER_LEN < b.slot[i]! * rt.pool.slotSize) return false;
    b.len[i] = this.write6(ip, l3, from, rt.out[i]!, i);
    b.start[i] = ip;
    rt.l3[i] = ip;
    return true;
  }

  override info(i: number): string {
    return WHY_NAMES[this.rt.out[i]!] ?? '';
  }
}
