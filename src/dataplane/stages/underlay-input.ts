/**
 * underlay-input: tunnel packets from an underlay port. Strict decapsulation
 * (every outer header validated, destination ours, source an accepted peer,
 * VNI / key / label bound to a tenant: see src/tunnel/decap.ts), then the
 * inner frame goes to its bridge domain (l2-fwd, tagged with the remote it
 * came from) or its IP packet to its VRF (ip-route).
 */
import { Reason } from '../../packet/reasons.js';
import { Eth, EtherType, walkL2, newL2Info } from '../../wire/ethernet.js';
import { u16 } from '../../wire/bytes.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { IpProto } from '../../wire/ip.js';
import { Udp } from '../../wire/udp.js';
import { Tcp } from '../../wire/tcp.js';
import { VnetFlag, VnetGso } from '../../wire/virtio.js';
import { Inner } from '../../tunnel/decap.js';
import { pseudoSum4, pseudoSum6 } from '../../tunnel/csum.js';
import { fold } from '../../wire/checksum.js';
import { PROTO_NAMES } from '../../tunnel/protos.js';
import { formatIp } from '../../util/addr.js';
import { Stage } from '../stage.js';
import { finishInner } from './inner-csum.js';
import { Batch } from '../../packet/batch.js';
import { UnderlayDepth, VRF_TARGET, PktFlag } from '../runtime.js';

const L2_FWD = 0;
const IP_ROUTE = 1;
const SPLIT = 2;

export class UnderlayInputStage extends Stage {
  readonly name = 'underlay-input';
  readonly nextNames = ['l2-fwd', 'ip-route', 'split'] as const;
  /** Inner checksums finished (see inner-csum.ts). */
  completed = 0;
  /** Tunnel super-packets (a kernel VTEP's TSO) passed to the guest whole, as GSO frames. */
  superFrames = 0;
  readonly reasons = [
    Reason['no-buffer'],
    Reason.truncated, Reason['bad-length'], Reason['bad-checksum'], Reason.fragment, Reason['bad-header'], Reason.unsupported,
    Reason['unknown-id'], Reason['unknown-peer'], Reason['not-local'],
  ];
  /** What the last decapsulated packet was, for info(). */
  private lastProto = 0;
  private lastId = 0;
  /** Datagrams split out of coalesced (UDP GRO) buffers, run as a batch of their own after this one. */
  private trains: Batch | null = null;
  private readonly l2 = newL2Info();

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const u32 = rt.pool.u32;
    const b = rt.batch;
    const d = rt.decap;
    const e = rt.ingress;
    const depth = e.depth;
    const addr = b.addr;
    const tc = rt.tunCounters;
    const owner = rt.owner;
    const flags = rt.flags;
    // Both nexts are appended to through locals (see Stage.traced).
    const tracing = rt.tracing;
    const tL = this.nextIdx[L2_FWD]!;
    const vL = rt.vecs[tL]!;
    let nL = rt.vn[tL]!;
    const tR = this.nextIdx[IP_ROUTE]!;
    const vR = rt.vecs[tR]!;
    let nR = rt.vn[tR]!;
    // Packets of a vector mostly come from one peer: its remote index is looked up once per run.
    let lastPeer = -1;
    let lastRemote = -1;
    let completed = 0;
    const mtu = rt.underlay!.mtu;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const s = b.start[i]!;
      const len = b.len[i]!;
      const gso = b.gsoSize[i]!;
      if (gso !== 0 && gso < len && depth === UnderlayDepth.UDP && this.train(i, s, len, gso)) continue;
      let r: number;
      if (depth === UnderlayDepth.FRAME) {
        // From an underlay TAP: an outer checksum the kernel vouched for is not summed (stores only then).
        const vf = b.vflags[i]!;
        const vouched = (vf & (VnetFlag.NEEDS_CSUM | VnetFlag.DATA_VALID)) !== 0;
        // Its virtio-net fields described the outer frame: cleared (a super-frame gets its own below).
        if ((vf | b.gsoType[i]!) !== 0) b.vflags[i] = b.gsoType[i] = 0;
        if (vouched) d.trustL4 = true;
        r = d.frame(u8, s, len, u32);
        if (vouched) d.trustL4 = false;
      }
      else if (depth === UnderlayDepth.UDP) r = d.udpPayload(u8, s, len, e.localPort, e.family, addr, 4 * i);
      else if (depth === UnderlayDepth.RAW4) r = d.ip(u8, s, len, u32);
      else r = d.grePayload(u8, s, len, 6, addr, 4 * i, u32);
      if (r !== 0) {
        this.drop(i, r);
        continue;
      }
      let remote: number;
      if (d.peerFamily === 4 && d.peer[0] === lastPeer) remote = lastRemote;
      else {
        remote = rt.peerRemote(d.peerFamily, d.peer);
        lastPeer = d.peerFamily === 4 ? d.peer[0]! : -1;
        lastRemote = remote;
      }
      if (remote >= 0) {
        const c = (remote * 5 + d.proto) * 4;
        tc[c + 2]!++;
        tc[c + 3]! += d.innerLen;
      }
      const target = d.target;
      const is = d.innerStart;
      const il = d.innerLen;
      b.start[i] = is;
      b.len[i] = il;
      rt.remote[i] = remote;
      flags[i] = 0;
      if (tracing) {
        // What info() reports (only read while tracing).
        this.lastProto = d.proto;
        this.lastId = d.id;
      }
      const ipOnly = target >= VRF_TARGET && d.inner !== Inner.ETHERNET;
      // A buffer the socket received as one GSO packet (gsoSize: the inner MSS) must hold one TCP super-frame.
      if (gso !== 0 && !this.superFrame(i, is, il, ipOnly, 0)) {
        this.drop(i, Reason.unsupported);
        continue;
      }
      let whole = gso !== 0;
      // Longer than the underlay carries in one packet: a kernel VTEP's TSO output that crossed a veth
      // whole (a UDP-tunnel GSO packet: the socket gives no gso_size for those). Its TCP checksum is
      // partial; it goes to the guest as one GSO frame, unsummed, with the MSS the path allows.
      if (!whole && il > mtu && depth === UnderlayDepth.UDP) {
        // The inner frame bytes one packet of the path carries: the MTU less outer IP, UDP and tunnel headers.
        whole = this.superFrame(i, is, il, ipOnly, mtu - (e.family === 6 ? Ipv6.HEADER_LEN : Ipv4.HEADER_LEN) - Udp.HEADER_LEN - (is - s));
      }
      if (target < VRF_TARGET) {
        if (d.inner !== Inner.ETHERNET || il < Eth.HEADER_LEN) {
          this.drop(i, d.inner !== Inner.ETHERNET ? Reason.unsupported : Reason.truncated);
          continue;
        }
        owner[i] = target;
        // A super-frame keeps its partial checksum, for the kernel that segments it (NEEDS_CSUM).
        if (!whole && finishInner(u8, u32, is, is + il, is + Eth.HEADER_LEN, false)) completed++;
        vL[nL++] = i;
        if (tracing) this.traced(L2_FWD, i);
        continue;
      }
      owner[i] = target - VRF_TARGET;
      let l3 = is;
      if (d.inner === Inner.ETHERNET) {
        // Routed VXLAN: an Ethernet frame to us; route its IP packet.
        if (il < Eth.HEADER_LEN) {
          this.drop(i, Reason.truncated);
          continue;
        }
        const type = (u8[is + Eth.TYPE]! << 8) | u8[is + Eth.TYPE + 1]!;
        if (type !== EtherType.IPV4 && type !== EtherType.IPV6) {
          this.drop(i, Reason.unsupported);
          continue;
        }
        l3 = is + Eth.HEADER_LEN;
      }
      rt.l3[i] = l3;
      flags[i] = PktFlag.ROUTED;
      if (!whole && finishInner(u8, u32, is, is + il, l3, true)) completed++;
      vR[nR++] = i;
      if (tracing) this.traced(IP_ROUTE, i);
    }
    rt.vn[tL] = nL;
    rt.vn[tR] = nR;
    this.completed += completed;
  }

  /**
   * A buffer the socket received coalesced (UDP GRO: datagrams of `gso` bytes,
   * the last maybe shorter) is split into its datagrams, each an entry of a
   * batch that the dataplane runs after this one (takeTrains). A buffer that
   * is one tunnel super-packet (a kernel VTEP's TSO: its first `gso` bytes are
   * no datagram of their own) is not split: false, and decapsulation goes on.
   */
  private train(i: number, s: number, len: number, gso: number): boolean {
    const rt = this.rt;
    const b = rt.batch;
    // A train's first datagram decapsulates on its own; a super-packet's first gso bytes do not.
    const e = rt.ingress;
    if (rt.decap.udpPayload(rt.u8, s, gso, e.localPort, e.family, b.addr, 4 * i) !== 0) return false;
    const t = (this.trains ??= new Batch(rt.pool, 1024));
    const a = b.addr;
    const pool = rt.pool;
    for (let off = s; off < s + len; off += gso) {
      // Each datagram gets a slot of its own (a copy): later stages write headers in front of a
      // packet, which in a shared buffer would land on the previous datagram's bytes.
      const dlen = Math.min(gso, s + len - off);
      const c = t.count < t.capacity && dlen <= pool.dataRoom ? pool.alloc() : -1;
      if (c < 0) {
        this.dropCounts[Reason['no-buffer']]!++;
        rt.dropOther(e.id, Reason['no-buffer']);
        continue;
      }
      const cs = pool.dataStart(c);
      rt.u8.copyWithin(cs, off, off + dlen);
      const k = t.push(c, cs, dlen);
      t.addr[4 * k] = a[4 * i]!;
      t.addr[4 * k + 1] = a[4 * i + 1]!;
      t.addr[4 * k + 2] = a[4 * i + 2]!;
      t.addr[4 * k + 3] = a[4 * i + 3]!;
      t.peerPort[k] = b.peerPort[i]!;
    }
    this.sent(SPLIT, i);
    return true;
  }

  /** The datagrams split out of this batch's coalesced buffers, if any (the caller runs and releases them). */
  takeTrains(): Batch | null {
    const t = this.trains;
    return t !== null && t.count > 0 ? t : null;
  }

  /**
   * A kernel VTEP's TCP super-frame (its TSO output crossing a veth reaches a
   * UDP socket whole, as one tunnel packet; the inner headers give the whole
   * length and the TCP checksum holds the pseudo-header sum). Marks it for a
   * virtio-net GSO write (TCPV4/TCPV6, NEEDS_CSUM) and returns true; false for
   * anything else (a UDP GRO train is not split here). gsoSize: the socket's
   * (frameRoom 0) or, as the socket reports none for a UDP-tunnel GSO packet,
   * what a frame of frameRoom bytes carries after the headers, as GRO would
   * have made it; then only a partial checksum qualifies.
   */
  private superFrame(i: number, s: number, len: number, ip: boolean, frameRoom: number): boolean {
    const u8 = this.rt.u8;
    const b = this.rt.batch;
    const end = s + len;
    let l3 = s;
    if (!ip) {
      if (!walkL2(u8, s, end, this.l2)) return false;
      l3 = this.l2.l3;
    }
    if (end - l3 < Ipv6.HEADER_LEN) return false;
    let l4: number;
    let type: number;
    const ver = u8[l3]! >>> 4;
    if (ver === 4) {
      const hl = (u8[l3]! & 0x0f) << 2;
      if (u8[l3 + Ipv4.PROTO] !== IpProto.TCP || l3 + u16(u8, l3 + Ipv4.TOTAL_LEN) !== end) return false;
      l4 = l3 + hl;
      type = VnetGso.TCPV4;
    } else if (ver === 6) {
      if (u8[l3 + Ipv6.NEXT_HEADER] !== IpProto.TCP || l3 + Ipv6.HEADER_LEN + u16(u8, l3 + Ipv6.PAYLOAD_LEN) !== end) return false;
      l4 = l3 + Ipv6.HEADER_LEN;
      type = VnetGso.TCPV6;
    } else return false;
    if (end - l4 < Tcp.HEADER_LEN) return false;
    const hdrLen = l4 - s + ((u8[l4 + Tcp.DATA_OFF]! >>> 4) << 2);
    if (frameRoom > 0) {
      // Only a partial checksum (the pseudo-header sum) is left unsummed; anything else goes on as it is.
      const pseudo = type === VnetGso.TCPV4 ? pseudoSum4(u8, l3, IpProto.TCP, end - l4) : pseudoSum6(u8, l3, IpProto.TCP, end - l4);
      if (u16(u8, l4 + Tcp.CHECKSUM) !== fold(pseudo) || frameRoom <= hdrLen) return false;
      b.gsoSize[i] = frameRoom - hdrLen;
      this.superFrames++;
    }
    b.gsoType[i] = type;
    b.vflags[i] = VnetFlag.NEEDS_CSUM;
    this.rt.offloads = 1;
    b.csumStart[i] = l4 - s;
    b.csumOffset[i] = Tcp.CHECKSUM;
    b.hdrLen[i] = hdrLen;
    return true;
  }

  override counters(): Record<string, number> {
    return { completed: this.completed, superFrames: this.superFrames };
  }

  override info(i: number): string {
    const rt = this.rt;
    const r = rt.remote[i]!;
    return `${PROTO_NAMES[this.lastProto]} id ${this.lastId} from ${r >= 0 ? rt.remotes.address(r) : formatIp({ family: rt.decap.peerFamily === 6 ? 6 : 4, words: rt.decap.peer.slice(0, rt.decap.peerFamily === 6 ? 4 : 1) })}`;
  }
}
