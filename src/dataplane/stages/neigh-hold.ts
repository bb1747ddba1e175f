/**
 * neigh-hold: a routed packet whose next hop's MAC is not known yet. The
 * packet waits in the held-packet queue (bounded per destination, per VRF and
 * overall: see held.ts) while an ARP request or neighbor solicitation goes
 * out of the port, at most once a second per destination. A packet that
 * cannot be held is dropped (no-neighbor); held packets whose neighbor never
 * answers are dropped on expiry (no-neighbor, charged to the port that sent
 * them), and the sender of the first one hears "host unreachable".
 */
import { Reason } from '../../packet/reasons.js';
import { u32, put32, put16 } from '../../wire/bytes.js';
import { Eth, EtherType, BROADCAST_MAC } from '../../wire/ethernet.js';
import { emitArp, ArpOp, Arp } from '../../wire/arp.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { IpProto } from '../../wire/ip.js';
import { writeMac } from '../../wire/mac.js';
import { Icmp6Type, Nd, NdOpt, fillIcmp6Checksum, solicitedNode } from '../../wire/icmpv6.js';
import { formatIp } from '../../util/addr.js';
import { Hold } from '../held.js';
import { finishGuestCsum } from './inner-csum.js';
import { Stage } from '../stage.js';
import type { PortEntry, Runtime } from '../runtime.js';

const HOLD = 0;

export class NeighHoldStage extends Stage {
  readonly name = 'neigh-hold';
  readonly nextNames = ['hold'] as const;
  readonly reasons = [Reason['no-neighbor']];
  /** ARP requests and neighbor solicitations sent. */
  requests = 0;

  constructor(rt: Runtime) {
    super(rt);
    rt.dropHeld = (r: number): void => {
      this.dropCounts[Reason['no-neighbor']]!++;
      rt.dropOther(rt.held.inPort[r]!, Reason['no-neighbor']);
    };
  }

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const b = rt.batch;
    const held = rt.held;
    const w = rt.words;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const out = rt.out[i]!;
      const oe = rt.ports[out]!;
      const v = rt.vrfs[rt.owner[i]!]!;
      const l3 = rt.l3[i]!;
      const ver = u8[l3]! >>> 4;
      // The address to resolve: the route's `via`, else the destination.
      const via = rt.nhVia.size === 0 ? undefined : rt.nhVia.get(rt.out[i]!);
      let family: number;
      if (via !== undefined) {
        family = via.family;
        for (let q = 0; q < via.words.length; q++) w[q] = via.words[q]!;
      } else if (ver === 4) {
        family = 4;
        w[0] = u32(u8, l3 + Ipv4.DST);
      } else {
        family = 6;
        for (let q = 0; q < 4; q++) w[q] = u32(u8, l3 + Ipv6.DST + 4 * q);
      }
      const slot = b.slot[i]!;
      const s = b.start[i]!;
      // A held packet loses its offload fields: a partial checksum is finished now.
      if (b.vflags[i] !== 0) finishGuestCsum(rt, i);
      const st = held.hold(v.index, family, w, 0, slot, s, s + b.len[i]!, out, rt.ingress.id, ver, rt.now);
      if (st !== Hold.HELD) {
        this.drop(i, Reason['no-neighbor']);
      } else {
        rt.pool.retain(slot); // the queue's reference; the batch keeps its own until released
        this.sent(HOLD, i);
      }
      const d = st === Hold.HELD ? held.lastDest : held.find(v.index, family, w, 0);
      if (d >= 0 && held.shouldAsk(d, rt.now)) this.solicit(oe, family, w);
    }
  }

  /** An ARP request or a neighbor solicitation for w from the gateway of port oe. */
  solicit(oe: PortEntry, family: number, w: Uint32Array): void {
    const rt = this.rt;
    const pool = rt.pool;
    const u8 = rt.u8;
    if (family === 4 ? oe.gw4len === 0 : oe.gw6 === null) return;
    const slot = pool.alloc();
    if (slot < 0) return;
    const s = pool.dataStart(slot);
    let len: number;
    if (family === 4) {
      writeMac(u8, s + Eth.DST, BROADCAST_MAC);
      writeMac(u8, s + Eth.SRC, oe.routerMac);
      put16(u8, s + Eth.TYPE, EtherType.ARP);
      emitArp({ op: ArpOp.REQUEST, senderMac: oe.routerMac, senderIp: oe.gw4, targetMac: 0, targetIp: w[0]! }, u8, s + Eth.HEADER_LEN);
      len = Eth.HEADER_LEN + Arp.LEN;
    } else {
      const g = oe.gw6!;
      const sn = solicitedNode(w[3]!);
      writeMac(u8, s + Eth.DST, 0x333300000000 + (sn[3] >>> 0));
      writeMac(u8, s + Eth.SRC, oe.routerMac);
      put16(u8, s + Eth.TYPE, EtherType.IPV6);
      const ip = s + Eth.HEADER_LEN;
      put32(u8, ip, 0x60000000);
      put16(u8, ip + Ipv6.PAYLOAD_LEN, Nd.OPTIONS + 8);
      u8[ip + Ipv6.NEXT_HEADER] = IpProto.ICMPV6;
      u8[ip + Ipv6.HOP_LIMIT] = Nd.HOP_LIMIT;
      for (let k = 0; k < 4; k++) {
        put32(u8, ip + Ipv6.SRC + 4 * k, g[k]!);
        put32(u8, ip + Ipv6.DST + 4 * k, sn[k]!);
      }
      const icmp = ip + Ipv6.HEADER_LEN;
      put32(u8, icmp, Icmp6Type.NEIGHBOR_SOLICIT << 24);
      put32(u8, icmp + 4, 0);
      for (let k = 0; k < 4; k++) put32(u8, icmp + Nd.TARGET + 4 * k, w[k]!);
      u8[icmp + Nd.OPTIONS] = NdOpt.SOURCE_LINK_ADDR;
      u8[icmp + Nd.OPTIONS + 1] = 1;
      writeMac(u8, icmp + Nd.OPTIONS + 2, oe.routerMac);
      fillIcmp6Checksum(u8, ip, icmp, Nd.OPTIONS + 8);
      len = Eth.HEADER_LEN + Ipv6.HEADER_LEN + Nd.OPTIONS + 8;
    }
    this.requests++;
    rt.tx.enqueue(oe.id, slot, s, len);
    pool.free(slot); // the queue holds its reference
  }

  override counters(): Record<string, number> {
    return { requests: this.requests, held: this.rt.held.size };
  }

  override info(i: number): string {
    const rt = this.rt;
    const l3 = rt.l3[i]!;
    const ver = rt.u8[l3]! >>> 4;
    const words = ver === 4 ? Uint32Array.of(u32(rt.u8, l3 + Ipv4.DST)) : Uint32Array.from({ length: 4 }, (_, q) => u32(rt.u8, l3 + Ipv6.DST + 4 * q));
    return `waiting for ${formatIp({ family: ver === 4 ? 4 : 6, words })} on ${rt.ports[rt.out[i]!]?.name}`;
  }
}
