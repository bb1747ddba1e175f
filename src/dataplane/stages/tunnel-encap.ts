/**
 * tunnel-encap: prepends the outer headers of the packet's tunnel (rt.out =
 * tunnel index) into the headroom, zero-copy, and queues it on the tunnel's
 * underlay port with the remote's address.
 */
import { Reason } from '../../packet/reasons.js';
import { encapInPool, payloadHash32 } from '../../tunnel/encap.js';
import { Depth, Payload } from '../../tunnel/tunnel.js';
import { superHeaderLen, SegFlag } from '../../tunnel/segment.js';
import { finishGuestCsum } from './inner-csum.js';
import { PROTO_NAMES } from '../../tunnel/protos.js';
import { walkL2, newL2Info, EtherType } from '../../wire/ethernet.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Stage } from '../stage.js';
import { PortRole, PktFlag, type Runtime } from '../runtime.js';
import { IcmpWhy } from './icmp-error.js';

const TX = 0;
const ICMP_ERROR = 1;
const GSO_SEGMENT = 2;

/**
 * Encapsulates u8[s, s+len) of `slot` for tunnel ti and queues it; returns
 * false (nothing queued) when the headroom is too small. Shared with l2-flood.
 */
export function encapAndQueue(rt: Runtime, ti: number, slot: number, s: number, len: number): number {
  const t = rt.tunnels.list[ti]!;
  if (s - slot * rt.pool.slotSize < t.hdrLen) return Reason['no-headroom'];
  const ns = encapInPool(t, rt.pool, s, len, 0);
  return rt.tx.enqueueTunnel(ti, slot, ns, len + (s - ns)) ? 0 : -1;
}

export class TunnelEncapStage extends Stage {
  readonly name = 'tunnel-encap';
  readonly nextNames = ['tx', 'icmp-error', 'gso-segment'] as const;
  readonly reasons = [Reason['no-headroom'], Reason['too-big'], Reason['bad-header']];
  /** Partial inner checksums (a guest's NEEDS_CSUM) finished before encapsulation. */
  completed = 0;
  private readonly l2 = newL2Info();
  /** The current run's batch entries (one tunnel), queued together. */
  private runVec = new Uint16Array(256);

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const b = rt.batch;
    const out = rt.out;
    const pool = rt.pool;
    const u8 = rt.u8;
    const slotSize = pool.slotSize;
    const tunnels = rt.tunnels.list;
    const over = rt.tunnels.overhead;
    const mtu = rt.underlay!.mtu;
    // Packets of a vector mostly share their tunnel: what it says stays in locals across a run,
    // and the run is queued with one call (bench pipeline --against: the split from the single
    // loop cost a pass here, and a per-packet enqueueTunnel call was often not inlined).
    if (this.runVec.length < n) this.runVec = new Uint16Array(n);
    const rv = this.runVec;
    let m = 0;
    let cti = -1;
    let t = tunnels[out[vec[0]!]!]!;
    let room = 0;
    let hdrLen = 0;
    let udp = false;
    let nTx = 0;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const ti = out[i]!;
      if (ti !== cti) {
        if (m > 0) nTx += this.queueRun(cti, rv, m);
        m = 0;
        cti = ti;
        t = tunnels[ti]!;
        room = mtu - over[ti]!;
        hdrLen = t.hdrLen;
        udp = t.depth === Depth.UDP;
      }
      const s = b.start[i]!;
      const len = b.len[i]!;
      if (b.gsoType[i] !== 0) {
        // A guest's super-frame: its segments must fit (the ICMP answer teaches the guest the MSS).
        const hl = superHeaderLen(u8, s, len, t.payload === Payload.IP ? SegFlag.IP_START : 0);
        if (hl === 0) this.drop(i, Reason['bad-header']);
        else if (hl + b.gsoSize[i]! > room) this.tooBig(i, s, len, room);
        else this.to(GSO_SEGMENT, i);
        continue;
      }
      if (len > room) {
        this.tooBig(i, s, len, room);
        continue;
      }
      if (s - b.slot[i]! * slotSize < hdrLen) {
        this.drop(i, Reason['no-headroom']);
        continue;
      }
      // A guest's partial checksum is finished where it leaves the host: a tunnel carries complete ones.
      if (b.vflags[i] !== 0 && finishGuestCsum(rt, i)) this.completed++;
      // Over a UDP socket the flow hash picks the source port (the socket writes the UDP header).
      const h = udp ? payloadHash32(t, u8, s, len) : 0;
      const ns = encapInPool(t, pool, s, len, h);
      // The batch entry now describes the outer packet (it leaves the batch here).
      b.start[i] = ns;
      b.len[i] = len + (s - ns);
      b.hash[i] = h;
      rv[m++] = i;
    }
    if (m > 0) nTx += this.queueRun(cti, rv, m);
    this.nextCounts[TX]! += nTx;
  }

  /** Queues the run rv[0 .. m) of tunnel ti; returns how many were queued. */
  private queueRun(ti: number, rv: Uint16Array, m: number): number {
    const q = this.rt.tx.enqueueTunnelRun(ti, rv, m);
    if (q > 0 && this.rt.tracing) for (let k = 0; k < m; k++) this.traced(TX, rv[k]!);
    return q;
  }

  override counters(): Record<string, number> {
    return { completed: this.completed };
  }

  /**
   * A packet that would exceed the underlay MTU once encapsulated (`room`:
   * the payload the tunnel can carry). IPv4 with DF and IPv6 are answered with
   * "fragmentation needed" / "packet too big" carrying the usable MTU, as the
   * kernel's VXLAN does since Linux 5.9; IPv4 without DF and anything else is
   * dropped (we do not fragment the outer packet: a fabric may drop fragments).
   */
  private tooBig(i: number, s: number, len: number, room: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const bridged = rt.remote[i]! < 0 && rt.ingress.role === PortRole.BRIDGE;
    let l3: number;
    if (bridged) {
      if (!walkL2(u8, s, s + len, this.l2)) return this.drop(i, Reason['too-big']);
      const type = this.l2.type;
      if (type !== EtherType.IPV4 && type !== EtherType.IPV6) return this.drop(i, Reason['too-big']);
      l3 = this.l2.l3;
    } else l3 = rt.l3[i]!;
    const ver = u8[l3]! >>> 4;
    const df = ver === 6 || (ver === 4 && (u8[l3 + Ipv4.FLAGS_FRAG]! & 0x40) !== 0);
    this.drop(i, Reason['too-big']);
    if (!df) return;
    rt.batch.reason[i] = 0; // it lives on as the error message
    rt.l3[i] = l3;
    rt.out[i] = IcmpWhy.TOO_BIG;
    if (bridged) rt.flags[i] = PktFlag.BRIDGED;
    rt.icmpMtu[i] = room - (l3 - s);
    this.to(ICMP_ERROR, i);
  }

  override info(i: number): string {
    const rt = this.rt;
    const ti = rt.out[i]!;
    const t = rt.tunnels.list[ti]!;
    return `${PROTO_NAMES[rt.tunnels.proto[ti]!]} id ${t.id} to ${rt.remotes.address(rt.tunnels.remote[ti]!)}`;
  }
}
