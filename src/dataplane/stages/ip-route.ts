/**
 * ip-route: the routing decision for an IP packet in a VRF (rt.l3 = its IP
 * header; an Ethernet header before it when it came from a gateway port or
 * routed VXLAN). Validates the header (length, IPv4 checksum), checks and
 * decrements the TTL / hop limit, looks the destination up in the VRF's LPM
 * and resolves ECMP by the flow hash. rt.out becomes the next hop, for
 * ip-rewrite; a GRE or MPLS next hop (the IP packet is the tunnel's payload)
 * goes straight to tunnel-encap with rt.out = its tunnel.
 *
 * An expired TTL or a missing route is dropped here (counted here) and handed
 * to icmp-error, which may answer the sender.
 */
import { Reason } from '../../packet/reasons.js';
import { u16, u32, put16 } from '../../wire/bytes.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { verifies } from '../../wire/checksum.js';
import { flowHashIp32 } from '../../tunnel/flowhash.js';
import { ROUTE_GROUP } from '../../table/nexthop.js';
import { NextHopKind } from '../../table/nexthop.js';
import { formatIPv4, formatIPv6 } from '../../util/addr.js';
import { Stage } from '../stage.js';
import { PktFlag } from '../runtime.js';
import { IcmpWhy } from './icmp-error.js';

const IP_REWRITE = 0;
const ICMP_ERROR = 1;
const TUNNEL_ENCAP = 2;

export class IpRouteStage extends Stage {
  readonly name = 'ip-route';
  readonly nextNames = ['ip-rewrite', 'icmp-error', 'tunnel-encap'] as const;
  readonly reasons = [Reason.truncated, Reason['bad-length'], Reason['bad-checksum'], Reason['bad-header'], Reason['ttl-expired'], Reason['no-route']];

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const b = rt.batch;
    const nhs = rt.nexthops;
    const w = rt.words;
    const l3s = rt.l3;
    const owner = rt.owner;
    const flags = rt.flags;
    const out = rt.out;
    const ipTunnel = rt.nhIpTunnel;
    // The VRF stays in a local across a run of packets of one owner (run() is called with n > 0).
    let vi = owner[vec[0]!]!;
    let vrf = rt.vrfs[vi]!.vrf;
    // ip-rewrite's vector is appended to through locals (see Stage.traced).
    const tracing = rt.tracing;
    const tW = this.nextIdx[IP_REWRITE]!;
    const vW = rt.vecs[tW]!;
    const tE = this.nextIdx[TUNNEL_ENCAP]!;
    const vE = rt.vecs[tE]!;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const l3 = l3s[i]!;
      const end = b.start[i]! + b.len[i]!;
      const o = owner[i]!;
      if (o !== vi) {
        vi = o;
        vrf = rt.vrfs[o]!.vrf;
      }
      const local = (flags[i]! & PktFlag.LOCAL) !== 0;
      const ver = u8[l3]! >>> 4;
      let value: number;
      let ipEnd: number;
      if (ver === 4) {
        if (end - l3 < Ipv4.HEADER_LEN) {
          this.drop(i, Reason.truncated);
          continue;
        }
        const hl = (u8[l3]! & 0x0f) << 2;
        const total = u16(u8, l3 + Ipv4.TOTAL_LEN);
        if (hl < Ipv4.HEADER_LEN || total < hl || l3 + total > end) {
          this.drop(i, Reason['bad-length']);
          continue;
        }
        if (!verifies(u8, l3, hl)) {
          this.drop(i, Reason['bad-checksum']);
          continue;
        }
        const ttl = u8[l3 + Ipv4.TTL]!;
        if (ttl <= 1 && !local) {
          this.fail(i, Reason['ttl-expired'], IcmpWhy.TTL);
          continue;
        }
        ipEnd = l3 + total;
        value = vrf.v4.lookup(u32(u8, l3 + Ipv4.DST));
        if (value < 0) {
          this.fail(i, Reason['no-route'], IcmpWhy.NET);
          continue;
        }
        if (!local) {
          // TTL - 1; the checksum rises by 0x0100 (RFC 1141), end-around carry.
          u8[l3 + Ipv4.TTL] = ttl - 1;
          let c = u16(u8, l3 + Ipv4.CHECKSUM) + 0x0100;
          c = (c & 0xffff) + (c >>> 16);
          put16(u8, l3 + Ipv4.CHECKSUM, c);
        }
      } else if (ver === 6) {
        if (end - l3 < Ipv6.HEADER_LEN) {
          this.drop(i, Reason.truncated);
          continue;
        }
        ipEnd = l3 + Ipv6.HEADER_LEN + u16(u8, l3 + Ipv6.PAYLOAD_LEN);
        if (ipEnd > end) {
          this.drop(i, Reason['bad-length']);
          continue;
        }
        const hop = u8[l3 + Ipv6.HOP_LIMIT]!;
        if (hop <= 1 && !local) {
          this.fail(i, Reason['ttl-expired'], IcmpWhy.TTL);
          continue;
        }
        for (let q = 0; q < 4; q++) w[q] = u32(u8, l3 + Ipv6.DST + 4 * q);
        value = vrf.v6.lookup(w, 0);
        if (value < 0) {
          this.fail(i, Reason['no-route'], IcmpWhy.NET);
          continue;
        }
        if (!local) u8[l3 + Ipv6.HOP_LIMIT] = hop - 1;
      } else {
        this.drop(i, Reason['bad-header']);
        continue;
      }
      // The IP total length (not the frame) bounds the packet from here on: padding is gone.
      b.len[i] = ipEnd - b.start[i]!;
      const nh = (value & ROUTE_GROUP) === 0 ? value : nhs.resolve(value, flowHashIp32(u8, l3, ipEnd - l3));
      if (nh < 0 || nhs.kind[nh] === NextHopKind.DROP) {
        this.drop(i, Reason['no-route']); // a blackhole route: dropped, not answered
        continue;
      }
      // A tunnel that carries the IP packet itself (GRE, MPLS) needs no rewrite: the packet goes
      // straight to tunnel-encap (fused: ip-rewrite's pass cost the routed path about 4%, bench
      // pipeline --against). Routed VXLAN (an inner Ethernet header), local ports and frames with
      // offload offsets to move take ip-rewrite.
      const ti = ipTunnel[nh]!;
      if (ti >= 0 && (b.vflags[i]! | b.gsoType[i]!) === 0) {
        b.start[i] = l3;
        b.len[i] = ipEnd - l3;
        if (tracing) {
          out[i] = nh; // what info() reports
          this.traced(TUNNEL_ENCAP, i);
        }
        out[i] = ti;
        vE[rt.vn[tE]!++] = i;
        continue;
      }
      out[i] = nh;
      vW[rt.vn[tW]!++] = i;
      if (tracing) this.traced(IP_REWRITE, i);
    }
  }

  /** Dropped here (counted here), and icmp-error decides whether the sender hears of it. */
  private fail(i: number, reason: number, why: number): void {
    this.drop(i, reason);
    this.rt.batch.reason[i] = 0; // it lives on as the error message
    this.rt.out[i] = why;
    this.to(ICMP_ERROR, i);
  }

  override info(i: number): string {
    const rt = this.rt;
    const u8 = rt.u8;
    const l3 = rt.l3[i]!;
    const v = rt.vrfs[rt.owner[i]!]!;
    const ver = u8[l3]! >>> 4;
    const dst = ver === 4 ? formatIPv4(u32(u8, l3 + Ipv4.DST)) : formatIPv6(Uint32Array.from({ length: 4 }, (_, q) => u32(u8, l3 + Ipv6.DST + 4 * q)));
    return `vrf ${v.name} dst ${dst}${rt.batch.reason[i] === 0 ? ` -> next hop ${rt.out[i]}` : ''}`;
  }
}
