/**
 * arp-term: ARP and neighbor-discovery termination in a bridge domain (VPP's
 * l2-arp-term). Snoops the sender of every ARP packet and neighbor
 * solicitation into the domain's neighbor table, and answers a local host's
 * request for a known address in place, so that it never floods to the
 * remote VTEPs. VLAN tags are walked: a tagged request is answered tagged.
 */
import { u16, u32 } from '../../wire/bytes.js';
import { walkL2, newL2Info, EtherType } from '../../wire/ethernet.js';
import { Arp, ArpOp, isEthIpv4Arp } from '../../wire/arp.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { IpProto } from '../../wire/ip.js';
import { Icmp6Type, Nd, NdOpt, findNdOption } from '../../wire/icmpv6.js';
import { readMac, formatIp, formatMac } from '../../util/addr.js';
import { arpReply, ndAdvert, nsTarget } from '../respond.js';
import { Stage } from '../stage.js';
import type { BridgeEntry } from '../runtime.js';

const L2_FWD = 0;
const TX = 1;

export class ArpTermStage extends Stage {
  readonly name = 'arp-term';
  readonly nextNames = ['l2-fwd', 'tx'] as const;
  readonly reasons = [] as const;
  /** Requests answered here. */
  answered = 0;
  private readonly l2 = newL2Info();

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const b = rt.batch;
    const l2 = this.l2;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const s = b.start[i]!;
      const end = s + b.len[i]!;
      if (!walkL2(u8, s, end, l2)) {
        this.to(L2_FWD, i);
        continue;
      }
      const br = rt.bridges[rt.owner[i]!]!;
      const local = rt.remote[i]! < 0;
      let answer = 0;
      if (l2.type === EtherType.ARP) answer = this.arp(br, s, l2.l3, end, local);
      else if (l2.type === EtherType.IPV6) answer = this.nd(br, s, l2.l3, end, local);
      if (answer > 0) {
        this.answered++;
        b.len[i] = answer;
        rt.tx.enqueue(rt.ingress.id, b.slot[i]!, s, answer);
        this.sent(TX, i);
      } else this.to(L2_FWD, i);
    }
  }

  /** Snoops an ARP packet; answers a local request for a known address. Returns the answer's length or 0. */
  private arp(br: BridgeEntry, s: number, l3: number, end: number, local: boolean): number {
    const u8 = this.rt.u8;
    if (!isEthIpv4Arp(u8, l3, end)) return 0;
    const sha = readMac(u8, l3 + Arp.SHA);
    const spa = u32(u8, l3 + Arp.SPA);
    if (spa !== 0 && br.neigh.set4(spa, sha, local ? this.rt.ingress.id : -1) >= 0 && br.neigh.changed && this.rt.emitNeighbor !== undefined) {
      this.rt.words[0] = spa;
      this.rt.emitNeighbor(br.name, 4, this.rt.words, sha, local ? this.rt.ingress.id : -1);
    }
    if (!local || u16(u8, l3 + Arp.OPER) !== ArpOp.REQUEST) return 0;
    const k = br.neigh.get4(u32(u8, l3 + Arp.TPA));
    if (k < 0) return 0;
    const mac = br.neigh.mac[k]!;
    if (mac === sha) return 0; // the owner asking for itself (a probe): let it through
    return arpReply(u8, s, l3, end, mac);
  }

  /** Snoops a neighbor solicitation; answers a local one for a known address. Returns the answer's length or 0. */
  private nd(br: BridgeEntry, s: number, l3: number, end: number, local: boolean): number {
    const rt = this.rt;
    const u8 = rt.u8;
    if (end - l3 < Ipv6.HEADER_LEN + Nd.OPTIONS || u8[l3 + Ipv6.NEXT_HEADER] !== IpProto.ICMPV6 || u8[l3 + Ipv6.HEADER_LEN] !== Icmp6Type.NEIGHBOR_SOLICIT) return 0;
    const w = rt.words;
    if (!nsTarget(u8, l3, end, w)) return 0;
    const target = br.neigh.get6(w, 0);
    const icmp = l3 + Ipv6.HEADER_LEN;
    const opt = findNdOption(u8, icmp + Nd.OPTIONS, icmp + u16(u8, l3 + Ipv6.PAYLOAD_LEN), NdOpt.SOURCE_LINK_ADDR);
    if (opt >= 0 && u32(u8, l3 + Ipv6.SRC) !== 0) {
      for (let k = 0; k < 4; k++) w[k] = u32(u8, l3 + Ipv6.SRC + 4 * k);
      const mac = readMac(u8, opt + 2);
      if (br.neigh.set(6, w, 0, mac, local ? rt.ingress.id : -1) >= 0 && br.neigh.changed && rt.emitNeighbor !== undefined) rt.emitNeighbor(br.name, 6, w, mac, local ? rt.ingress.id : -1);
    }
    if (!local || target < 0) return 0;
    return ndAdvert(u8, s, l3, end, br.neigh.mac[target]!, false, rt.pool.roomAfter(s));
  }

  override counters(): Record<string, number> {
    return { answered: this.answered };
  }

  override info(i: number): string {
    const rt = this.rt;
    const u8 = rt.u8;
    const s = rt.batch.start[i]!;
    if (!walkL2(u8, s, s + rt.batch.len[i]!, this.l2)) return 'not ARP/ND';
    const l3 = this.l2.l3;
    if (this.l2.type === EtherType.ARP && isEthIpv4Arp(u8, l3, s + rt.batch.len[i]!)) {
      return `ARP op ${u16(u8, l3 + Arp.OPER)} who-has ${formatIp({ family: 4, words: Uint32Array.of(u32(u8, l3 + Arp.TPA)) })} from ${formatMac(readMac(u8, l3 + Arp.SHA))}`;
    }
    return `ethertype 0x${this.l2.type.toString(16)}`;
  }
}
