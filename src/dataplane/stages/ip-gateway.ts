/**
 * ip-gateway: frames from a VRF (gateway) port. The router's own business is
 * done here: ARP and neighbor discovery (learn the sender, answer for the
 * gateway address, release packets held for a neighbor that answered) and
 * echo requests to the gateway address. Anything else must be addressed to
 * the router's MAC and is routed.
 */
import { Reason } from '../../packet/reasons.js';
import { u16, u32, put16 } from '../../wire/bytes.js';
import { Eth, EtherType } from '../../wire/ethernet.js';
import { Arp, ArpOp, isEthIpv4Arp } from '../../wire/arp.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { IpProto } from '../../wire/ip.js';
import { writeMac } from '../../wire/mac.js';
import { Icmp6Type, Nd, NdOpt, findNdOption } from '../../wire/icmpv6.js';
import { readMac, formatMac } from '../../util/addr.js';
import { arpReply, echoReply4, echoReply6, ndAdvert, nsTarget } from '../respond.js';
import { Stage } from '../stage.js';
import type { PortEntry, VrfEntry } from '../runtime.js';

const IP_ROUTE = 0;
const TX = 1;
const CONSUMED = 2;

export class IpGatewayStage extends Stage {
  readonly name = 'ip-gateway';
  readonly nextNames = ['ip-route', 'tx', 'consumed'] as const;
  readonly reasons = [Reason.filtered, Reason.unsupported, Reason['bad-header']];
  /** ARP/ND and echo answers from the gateway. */
  replies = 0;
  // The neighbor being released (see release()): set before HeldQueue.take calls back.
  private relMac = 0;
  private relPort: PortEntry | undefined;
  private readonly releaseOne = (r: number): void => this.releaseRecord(r);

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const b = rt.batch;
    const e = rt.ingress;
    const v = rt.vrfs[e.owner]!;
    const rmHi = Math.floor(e.routerMac / 0x100000000);
    const rmLo = e.routerMac >>> 0;
    // ip-route's vector is appended to through locals (see Stage.traced).
    const tracing = rt.tracing;
    const tR = this.nextIdx[IP_ROUTE]!;
    const vR = rt.vecs[tR]!;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const s = b.start[i]!;
      const end = s + b.len[i]!;
      const type = (u8[s + Eth.TYPE]! << 8) | u8[s + Eth.TYPE + 1]!;
      const l3 = s + Eth.HEADER_LEN;
      if (type === EtherType.ARP) {
        this.arp(v, e, i, s, l3, end);
        continue;
      }
      if (type === EtherType.IPV6 && u8[l3 + Ipv6.NEXT_HEADER] === IpProto.ICMPV6 && end - l3 >= Ipv6.HEADER_LEN + 4) {
        const t = u8[l3 + Ipv6.HEADER_LEN]!;
        if (t === Icmp6Type.NEIGHBOR_SOLICIT || t === Icmp6Type.NEIGHBOR_ADVERT) {
          this.nd(v, e, i, s, l3, end, t);
          continue;
        }
      }
      if (((u8[s + Eth.DST]! << 8) | u8[s + Eth.DST + 1]!) !== rmHi || u32(u8, s + Eth.DST + 2) !== rmLo) {
        this.drop(i, Reason.filtered); // not addressed to the router
        continue;
      }
      rt.l3[i] = l3;
      if (type === EtherType.IPV4) {
        if (e.gw4len > 0 && u32(u8, l3 + Ipv4.DST) === e.gw4) {
          this.answer(i, s, echoReply4(u8, s, l3, end, e.gw4));
          continue;
        }
        vR[rt.vn[tR]!++] = i;
        if (tracing) this.traced(IP_ROUTE, i);
      } else if (type === EtherType.IPV6) {
        const g = e.gw6;
        if (g !== null && u32(u8, l3 + Ipv6.DST) === g[0] && u32(u8, l3 + Ipv6.DST + 4) === g[1] && u32(u8, l3 + Ipv6.DST + 8) === g[2] && u32(u8, l3 + Ipv6.DST + 12) === g[3]) {
          this.answer(i, s, echoReply6(u8, s, l3, end, g));
          continue;
        }
        vR[rt.vn[tR]!++] = i;
        if (tracing) this.traced(IP_ROUTE, i);
      } else {
        this.drop(i, Reason.unsupported);
      }
    }
  }

  /** Sends an answer written over packet i back out of the ingress port (n = its length; 0: none). */
  private answer(i: number, s: number, n: number): void {
    if (n === 0) {
      this.drop(i, Reason.unsupported);
      return;
    }
    const rt = this.rt;
    this.replies++;
    rt.batch.len[i] = n;
    if (rt.tx.enqueue(rt.ingress.id, rt.batch.slot[i]!, s, n)) this.sent(TX, i);
  }

  /** ARP on a gateway port: learn the sender, answer requests for the gateway. */
  private arp(v: VrfEntry, e: PortEntry, i: number, s: number, l3: number, end: number): void {
    const u8 = this.rt.u8;
    if (!isEthIpv4Arp(u8, l3, end)) {
      this.drop(i, Reason.unsupported);
      return;
    }
    const spa = u32(u8, l3 + Arp.SPA);
    if (spa !== 0) {
      const w = this.rt.words;
      w[0] = spa;
      this.learn(v, 4, w, readMac(u8, l3 + Arp.SHA), e);
    }
    if (u16(u8, l3 + Arp.OPER) === ArpOp.REQUEST && e.gw4len > 0 && u32(u8, l3 + Arp.TPA) === e.gw4) {
      this.answer(i, s, arpReply(u8, s, l3, end, e.routerMac));
    } else this.sent(CONSUMED, i); // learned from, nothing to answer
  }

  /** Neighbor discovery on a gateway port: learn, answer solicitations for the gateway. */
  private nd(v: VrfEntry, e: PortEntry, i: number, s: number, l3: number, end: number, type: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const icmp = l3 + Ipv6.HEADER_LEN;
    const plen = u16(u8, l3 + Ipv6.PAYLOAD_LEN);
    if (u8[l3 + Ipv6.HOP_LIMIT] !== Nd.HOP_LIMIT || icmp + plen > end || plen < Nd.OPTIONS) {
      this.drop(i, Reason['bad-header']);
      return;
    }
    const w = rt.words;
    if (type === Icmp6Type.NEIGHBOR_ADVERT) {
      const opt = findNdOption(u8, icmp + Nd.OPTIONS, icmp + plen, NdOpt.TARGET_LINK_ADDR);
      if (opt >= 0) {
        for (let k = 0; k < 4; k++) w[k] = u32(u8, icmp + Nd.TARGET + 4 * k);
        this.learn(v, 6, w, readMac(u8, opt + 2), e);
      }
      this.sent(CONSUMED, i);
      return;
    }
    if (!nsTarget(u8, l3, end, w)) {
      this.drop(i, Reason['bad-header']);
      return;
    }
    // Compare the target before learning the sender: both use the scratch words.
    const g = e.gw6;
    const forUs = g !== null && w[0] === g[0] && w[1] === g[1] && w[2] === g[2] && w[3] === g[3];
    const opt = findNdOption(u8, icmp + Nd.OPTIONS, icmp + plen, NdOpt.SOURCE_LINK_ADDR);
    if (opt >= 0 && u32(u8, l3 + Ipv6.SRC) !== 0) {
      for (let k = 0; k < 4; k++) w[k] = u32(u8, l3 + Ipv6.SRC + 4 * k);
      this.learn(v, 6, w, readMac(u8, opt + 2), e);
    }
    if (forUs) this.answer(i, s, ndAdvert(u8, s, l3, end, e.routerMac, true, rt.pool.roomAfter(s)));
    else this.sent(CONSUMED, i);
  }

  /** A neighbor seen on port e: into the VRF's table, and what was held for it goes out. */
  private learn(v: VrfEntry, family: number, w: Uint32Array, mac: number, e: PortEntry): void {
    const rt = this.rt;
    if (v.neigh.set(family, w, 0, mac, e.id) >= 0 && v.neigh.changed && rt.emitNeighbor !== undefined) rt.emitNeighbor(v.name, family, w, mac, e.id);
    if (rt.held.size === 0) return;
    this.relMac = mac;
    this.relPort = e;
    rt.held.take(v.index, family, w, 0, this.releaseOne);
    this.relPort = undefined;
  }

  /** One held packet for the neighbor that answered: Ethernet header, then queued (or dropped if it waits on another port). */
  private releaseRecord(r: number): void {
    const rt = this.rt;
    const h = rt.held;
    const oe = this.relPort!;
    const slot = h.slot[r]!;
    if (h.port[r] === oe.id) {
      const u8 = rt.u8;
      const s = h.start[r]!;
      writeMac(u8, s + Eth.DST, this.relMac);
      writeMac(u8, s + Eth.SRC, oe.routerMac);
      put16(u8, s + Eth.TYPE, h.ver[r] === 4 ? EtherType.IPV4 : EtherType.IPV6);
      rt.tx.enqueue(oe.id, slot, s, h.end[r]! - s);
      rt.neighHoldReleased++;
    } else {
      rt.dropHeld(r);
    }
    rt.pool.free(slot);
  }

  override counters(): Record<string, number> {
    return { replies: this.replies };
  }

  override info(i: number): string {
    const rt = this.rt;
    const s = rt.batch.start[i]!;
    const type = (rt.u8[s + Eth.TYPE]! << 8) | rt.u8[s + Eth.TYPE + 1]!;
    return `ethertype 0x${type.toString(16)} dst ${formatMac(readMac(rt.u8, s + Eth.DST))} on ${rt.ingress.name}`;
  }
}
