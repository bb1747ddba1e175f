/**
 * ip-rewrite: the adjacency of a routed packet's next hop (rt.out). A local
 * next hop gets an Ethernet header with the neighbor's MAC (the packet's
 * destination, or the route's `via`) and the port's router MAC, and is
 * queued; a neighbor not yet known sends it to neigh-hold. A tunnel next hop
 * gets its payload form (an inner Ethernet header for routed VXLAN, the bare
 * IP packet for GRE/MPLS) and goes to tunnel-encap with rt.out = tunnel;
 * ip-route does that itself for GRE/MPLS unless offload offsets must move.
 */
import { Reason } from '../../packet/reasons.js';
import type { Batch } from '../../packet/batch.js';
import { u32, put16 } from '../../wire/bytes.js';
import { Eth, EtherType } from '../../wire/ethernet.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { writeMac } from '../../wire/mac.js';
import { NextHopKind } from '../../table/nexthop.js';
import { Payload } from '../../tunnel/tunnel.js';
import { formatMac } from '../../util/addr.js';
import { Stage } from '../stage.js';

const TX = 0;
const TUNNEL_ENCAP = 1;
const NEIGH_HOLD = 2;

/** Router MAC of routed VXLAN packets that entered from a tunnel (no gateway port). */
const TUNNEL_ROUTER_MAC = 0x027674000000;

export class IpRewriteStage extends Stage {
  readonly name = 'ip-rewrite';
  readonly nextNames = ['tx', 'tunnel-encap', 'neigh-hold'] as const;
  readonly reasons = [Reason['no-headroom'], Reason['no-port']];

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const b = rt.batch;
    const nhs = rt.nexthops;
    const slotSize = rt.pool.slotSize;
    // tunnel-encap's vector is appended to through locals (see Stage.traced).
    const tracing = rt.tracing;
    const tE = this.nextIdx[TUNNEL_ENCAP]!;
    const vE = rt.vecs[tE]!;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const nh = rt.out[i]!;
      const l3 = rt.l3[i]!;
      const end = b.start[i]! + b.len[i]!;
      const base = b.slot[i]! * slotSize;
      const ver = u8[l3]! >>> 4;
      if (nhs.kind[nh] === NextHopKind.TUNNEL) {
        const ti = rt.nhTunnel[nh]!;
        const t = rt.tunnels.list[ti]!;
        let ps = l3;
        if (t.payload === Payload.ETHERNET) {
          // Routed VXLAN: an inner Ethernet header to the remote router's MAC.
          ps = l3 - Eth.HEADER_LEN;
          if (ps - base < t.hdrLen) {
            this.drop(i, Reason['no-headroom']);
            continue;
          }
          writeMac(u8, ps + Eth.DST, rt.nhMac[nh]!);
          writeMac(u8, ps + Eth.SRC, rt.ingress.routerMac || TUNNEL_ROUTER_MAC);
          put16(u8, ps + Eth.TYPE, ver === 4 ? EtherType.IPV4 : EtherType.IPV6);
        }
        moveStart(b, i, ps, end);
        rt.out[i] = ti;
        vE[rt.vn[tE]!++] = i;
        if (tracing) this.traced(TUNNEL_ENCAP, i);
        continue;
      }
      const out = nhs.port[nh]!;
      const oe = rt.ports[out];
      if (oe === undefined) {
        this.drop(i, Reason['no-port']);
        continue;
      }
      const v = rt.vrfs[rt.owner[i]!]!;
      // The neighbor: the route's `via`, else the packet's destination.
      let ne: number;
      const via = rt.nhVia.size === 0 ? undefined : rt.nhVia.get(nh);
      if (via !== undefined) ne = v.neigh.get(via.family, via.words, 0);
      else if (ver === 4) ne = v.neigh.get4(u32(u8, l3 + Ipv4.DST));
      else {
        const w = rt.words;
        for (let q = 0; q < 4; q++) w[q] = u32(u8, l3 + Ipv6.DST + 4 * q);
        ne = v.neigh.get6(w, 0);
      }
      const fs = l3 - Eth.HEADER_LEN;
      if (fs < base) {
        this.drop(i, Reason['no-headroom']);
        continue;
      }
      moveStart(b, i, fs, end);
      if (ne < 0 || v.neigh.port[ne] !== out) {
        rt.out[i] = out;
        this.to(NEIGH_HOLD, i);
        continue;
      }
      writeMac(u8, fs + Eth.DST, v.neigh.mac[ne]!);
      writeMac(u8, fs + Eth.SRC, oe.routerMac);
      put16(u8, fs + Eth.TYPE, ver === 4 ? EtherType.IPV4 : EtherType.IPV6);
      if (rt.tx.enqueue(out, b.slot[i]!, fs, end - fs, i)) this.sent(TX, i);
    }
  }

  override info(i: number): string {
    const rt = this.rt;
    const nh = rt.out[i]!;
    const info = rt.nexthops.get(nh);
    if (info === undefined) return `next hop ${nh}`;
    if (info.type === 'tunnel') return `next hop ${nh}: ${info.proto} ${info.tunnelId} to ${rt.remotes.address(info.remote)}`;
    if (info.type === 'local') return `next hop ${nh}: port ${rt.ports[info.port]?.name ?? info.port} from ${formatMac(rt.ports[info.port]?.routerMac ?? 0)}`;
    return `next hop ${nh}: ${info.type}`;
  }
}

/**
 * Moves packet i's first byte to ns (its end stays). The offload offsets of a
 * super-frame or a partial checksum count from the first byte: they follow.
 */
function moveStart(b: Batch, i: number, ns: number, end: number): void {
  const d = b.start[i]! - ns;
  b.start[i] = ns;
  b.len[i] = end - ns;
  if (d !== 0 && (b.vflags[i]! | b.gsoType[i]!) !== 0) {
    b.csumStart[i] = b.csumStart[i]! + d;
    if (b.gsoType[i] !== 0) b.hdrLen[i] = b.hdrLen[i]! + d;
  }
}
