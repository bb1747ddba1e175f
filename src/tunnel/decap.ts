/**
 * Decapsulation, the receive hot path: validate every outer header strictly,
 * check that the packet is addressed to us and comes from an accepted peer,
 * demultiplex by VNI / GRE key / MPLS label, and move the start to the inner
 * payload (no copy). A bad packet is never thrown on: each call returns 0 or a
 * drop reason code (src/packet/reasons.ts), and counters are kept per reason.
 *
 * Entry points by where the packet starts: an Ethernet frame (pcap,
 * AF_PACKET), an IP packet (raw IP sockets, raw-IP captures), or a UDP payload
 * (UDP sockets: the kernel has validated IP and UDP; the caller passes the
 * source address and the local port).
 *
 * Order of checks, so that the reason names the first thing wrong: lengths and
 * header fields, checksums, fragment, destination is ours, source is a peer,
 * transport, tunnel header, tenant id, inner payload.
 */
import type { Batch } from '../packet/batch.js';
import { Reason, reasonCounters } from '../packet/reasons.js';
import { invalidConfig, describe, VtepError } from '../errors.js';
import { parseIp, type IpAddr } from '../util/addr.js';
import { u16, u32 } from '../wire/bytes.js';
import { walkL2, newL2Info, EtherType, Eth } from '../wire/ethernet.js';
import { checkIpv4, ipv4IsFragment, Ipv4 } from '../wire/ipv4.js';
import { checkIpv6, newIpv6Info, Ipv6 } from '../wire/ipv6.js';
import { IpProto } from '../wire/ip.js';
import { Udp, UdpPort } from '../wire/udp.js';
import { sumBytes, sumWords, fold } from '../wire/checksum.js';
import { checkGre, newGreInfo } from '../wire/gre.js';
import { Vxlan } from '../wire/vxlan.js';
import { Mpls, MplsLabel } from '../wire/mpls.js';
import { IdMap, Addr6Map } from './idmap.js';
import { TunnelProto } from './tunnel.js';

/** What the inner payload is. */
export const Inner = { ETHERNET: 0, IPV4: 1, IPV6: 2 } as const;
export const INNER_NAMES: readonly string[] = ['ethernet', 'ipv4', 'ipv6'];

/** The decapsulation config (the format `vtep decap --config` reads). */
export interface DecapConfig {
  /** Our VTEP addresses: packets to any other destination are not for us. */
  local: string[];
  /** Accepted outer source addresses; absent = any source. */
  peers?: string[];
  vxlan?: { port?: number; vnis: number[] };
  gre?: { keys: number[] };
  /** Accept a zero UDP checksum over IPv6 (RFC 6935/6936). Default false. */
  udp6ZeroChecksumRx?: boolean;
  mpls?: { udpPort?: number; labels: Record<string, 'ethernet' | 'ip'> };
}

/** How an MPLS label's payload is read: bit 0 of the stored value. */
const LABEL_IP = 1;

export class Decapsulator {
  // Results of the last call that returned 0 (no allocation: plain fields).
  /** TunnelProto code. */
  proto = 0;
  /** VNI, GRE key or MPLS label. */
  id = 0;
  /** The value bound to the id (bindVni/bindKey/bindLabel; the list index for a config). */
  target = 0;
  innerStart = 0;
  innerLen = 0;
  /** Inner.* */
  inner = 0;
  /** Outer source: family and words (IPv4 in word 0). */
  peerFamily = 0;
  readonly peer = new Uint32Array(4);

  /** Drops per reason code (index 0: delivered), while `counting` (a dataplane counts in its own stage). */
  readonly counters = reasonCounters();
  counting = true;

  private readonly local4 = new IdMap();
  private readonly local6 = new Addr6Map();
  private readonly peers4 = new IdMap();
  private readonly peers6 = new Addr6Map();
  private anyPeer = true;
  private vxlanPort: number = UdpPort.VXLAN;
  private mplsPort: number = UdpPort.MPLS;
  private zeroCsum6 = false;
  private readonly vnis = new IdMap();
  private readonly keys = new IdMap();
  /** label -> target << 1 | LABEL_IP bit. */
  private readonly labels = new IdMap();

  /** Word view for the packet being decapsulated (see frame()), or null. */
  private w32: Uint32Array | null = null;
  private readonly l2 = newL2Info();
  private readonly v6 = newIpv6Info();
  private readonly gre = newGreInfo();

  constructor(config?: DecapConfig) {
    if (config !== undefined) this.configure(config);
  }

  /** Applies a DecapConfig (throws VtepError ERR_INVALID_CONFIG naming the field). */
  configure(c: DecapConfig): void {
    if (c === null || typeof c !== 'object') throw invalidConfig('config', c, 'an object');
    if (!Array.isArray(c.local) || c.local.length === 0) throw invalidConfig('local', c.local, 'a non-empty list of addresses');
    c.local.forEach((a, i) => this.addLocal(a, `local[${i}]`));
    if (c.peers !== undefined) {
      if (!Array.isArray(c.peers)) throw invalidConfig('peers', c.peers, 'a list of addresses');
      this.anyPeer = false;
      c.peers.forEach((a, i) => this.addPeer(a, `peers[${i}]`));
    }
    if (c.udp6ZeroChecksumRx !== undefined) {
      if (typeof c.udp6ZeroChecksumRx !== 'boolean') throw invalidConfig('udp6ZeroChecksumRx', c.udp6ZeroChecksumRx, 'a boolean');
      this.zeroCsum6 = c.udp6ZeroChecksumRx;
    }
    if (c.vxlan !== undefined) {
      if (c.vxlan.port !== undefined) this.vxlanPort = port('vxlan.port', c.vxlan.port);
      list('vxlan.vnis', c.vxlan.vnis).forEach((v, i) => this.bindVni(int(`vxlan.vnis[${i}]`, v, 0, Vxlan.MAX_VNI), i));
    }
    if (c.gre !== undefined) {
      list('gre.keys', c.gre.keys).forEach((k, i) => this.bindKey(int(`gre.keys[${i}]`, k, 0, 0xffffffff), i));
    }
    if (c.mpls !== undefined) {
      if (c.mpls.udpPort !== undefined) this.mplsPort = port('mpls.udpPort', c.mpls.udpPort);
      const labels = c.mpls.labels;
      if (labels === null || typeof labels !== 'object') throw invalidConfig('mpls.labels', labels, 'an object of label: "ethernet" | "ip"');
      Object.entries(labels).forEach(([l, kind], i) => {
        const label = /^\d+$/.test(l) ? Number(l) : NaN;
        int(`mpls.labels[${describe(l)}]`, label, MplsLabel.MAX_RESERVED + 1, Mpls.MAX_LABEL);
        if (kind !== 'ethernet' && kind !== 'ip') throw invalidConfig(`mpls.labels[${describe(l)}]`, kind, '"ethernet" or "ip"');
        this.bindLabel(label, kind, i);
      });
    }
    if (this.vxlanPort === this.mplsPort) throw invalidConfig('mpls.udpPort', this.mplsPort, `a port other than vxlan.port ${this.vxlanPort}`);
  }

  addLocal(address: string, field = 'local'): void {
    addAddr(parseAddr(address, field), this.local4, this.local6, this.local4.size + this.local6.size);
  }

  /** Accepts packets from `address`; the first peer added ends "any source". Returns its index. */
  addPeer(address: string, field = 'peers'): number {
    this.anyPeer = false;
    const index = this.peers4.size + this.peers6.size;
    addAddr(parseAddr(address, field), this.peers4, this.peers6, index);
    return index;
  }

  /** The peer index of the last packet's source (-1 when any source is accepted and it is not listed). */
  peerIndex(): number {
    const p = this.peer;
    return this.peerFamily === 4 ? this.peers4.get(p[0]!) : this.peers6.get(p[0]!, p[1]!, p[2]!, p[3]!);
  }

  bindVni(vni: number, target: number): void {
    this.vnis.set(vni, target);
  }
  unbindVni(vni: number): void {
    this.vnis.delete(vni);
  }
  bindKey(key: number, target: number): void {
    this.keys.set(key, target);
  }
  unbindKey(key: number): void {
    this.keys.delete(key);
  }
  bindLabel(label: number, payload: 'ethernet' | 'ip', target: number): void {
    if (label <= MplsLabel.MAX_RESERVED || label > Mpls.MAX_LABEL) throw new VtepError('ERR_INVALID_ARG', `label: ${label} is not in 16..1048575`);
    this.labels.set(label, (target << 1) | (payload === 'ip' ? LABEL_IP : 0));
  }
  unbindLabel(label: number): void {
    this.labels.delete(label);
  }

  /**
   * Set by the caller before frame(): the kernel vouched for the outer UDP
   * checksum (a frame from an underlay TAP whose virtio-net header says
   * NEEDS_CSUM or DATA_VALID: a veth leaves it partial), so it is not summed.
   */
  trustL4 = false;

  /**
   * A packet that starts with an Ethernet header. `u32`, when given, is a
   * 32-bit view of the same memory as u8 (both from byte 0, as PacketPool's):
   * checksums over long payloads then read words instead of bytes.
   */
  frame(u8: Uint8Array, start: number, len: number, u32: Uint32Array | null = null): number {
    this.w32 = u32;
    const end = start + len;
    const l2 = this.l2;
    // Every EtherType we could carry needs a payload: an L2 header alone is cut short.
    if (!walkL2(u8, start, end, l2) || l2.l3 >= end) return this.count(Reason.truncated);
    if (l2.type === EtherType.IPV4) return this.count(this.ip4(u8, l2.l3, end));
    if (l2.type === EtherType.IPV6) return this.count(this.ip6(u8, l2.l3, end));
    return this.count(Reason.unsupported);
  }

  /** A packet that starts with an IP header (version from its first nibble). */
  ip(u8: Uint8Array, start: number, len: number, u32: Uint32Array | null = null): number {
    this.w32 = u32;
    if (len < 1) return this.count(Reason.truncated);
    const v = u8[start]! >>> 4;
    if (v === 4) return this.count(this.ip4(u8, start, start + len));
    if (v === 6) return this.count(this.ip6(u8, start, start + len));
    return this.count(Reason['bad-header']);
  }

  /**
   * A UDP payload received on a socket bound to `localPort`, from a source of
   * `family` whose words are src[srcOff..]. IP and UDP were validated by the kernel.
   */
  udpPayload(u8: Uint8Array, start: number, len: number, localPort: number, family: number, src: ArrayLike<number>, srcOff: number): number {
    this.w32 = null;
    if (!this.setPeer(family, src, srcOff)) return this.count(Reason['unknown-peer']);
    return this.count(this.byPort(u8, start, start + len, localPort));
  }

  /**
   * A GRE packet without its IP header (IPv6 raw sockets strip it): the
   * source address is given as for udpPayload.
   */
  grePayload(u8: Uint8Array, start: number, len: number, family: number, src: ArrayLike<number>, srcOff: number, u32: Uint32Array | null = null): number {
    this.w32 = u32;
    if (!this.setPeer(family, src, srcOff)) return this.count(Reason['unknown-peer']);
    return this.count(this.greBody(u8, start, start + len));
  }

  private count(reason: number): number {
    if (this.counting) this.counters[reason]!++;
    return reason;
  }

  /** Records a source given by a socket; true when it is an accepted peer. */
  private setPeer(family: number, src: ArrayLike<number>, off: number): boolean {
    const p = this.peer;
    const v6 = family === 6;
    this.peerFamily = family;
    p[0] = src[off]!;
    p[1] = v6 ? src[off + 1]! : 0;
    p[2] = v6 ? src[off + 2]! : 0;
    p[3] = v6 ? src[off + 3]! : 0;
    return this.peerOk();
  }

  private peerOk(): boolean {
    return this.anyPeer || this.peerIndex() >= 0;
  }

  private ip4(u8: Uint8Array, ip: number, end: number): number {
    const r = checkIpv4(u8, ip, end, true, this.w32);
    if (r !== 0) return r;
    const pend = ip + u16(u8, ip + Ipv4.TOTAL_LEN); // Ethernet may pad or carry a trailer
    if (ipv4IsFragment(u8, ip)) return Reason.fragment;
    if (this.local4.get(u32(u8, ip + Ipv4.DST)) < 0) return Reason['not-local'];
    const p = this.peer;
    this.peerFamily = 4;
    p[0] = u32(u8, ip + Ipv4.SRC);
    p[1] = p[2] = p[3] = 0;
    if (!this.peerOk()) return Reason['unknown-peer'];
    const l4 = ip + ((u8[ip]! & 0x0f) << 2);
    const proto = u8[ip + Ipv4.PROTO]!;
    if (proto === IpProto.UDP) return this.udp(u8, ip, l4, pend, false);
    if (proto === IpProto.GRE) return this.greBody(u8, l4, pend);
    return Reason.unsupported;
  }

  private ip6(u8: Uint8Array, ip: number, end: number): number {
    const info = this.v6;
    const r = checkIpv6(u8, ip, end, info);
    if (r !== 0) return r;
    const d = ip + Ipv6.DST;
    if (this.local6.get(u32(u8, d), u32(u8, d + 4), u32(u8, d + 8), u32(u8, d + 12)) < 0) return Reason['not-local'];
    const p = this.peer;
    const s = ip + Ipv6.SRC;
    this.peerFamily = 6;
    p[0] = u32(u8, s);
    p[1] = u32(u8, s + 4);
    p[2] = u32(u8, s + 8);
    p[3] = u32(u8, s + 12);
    if (!this.peerOk()) return Reason['unknown-peer'];
    if (info.proto === IpProto.UDP) return this.udp(u8, ip, info.l4, info.end, true);
    if (info.proto === IpProto.GRE) return this.greBody(u8, info.l4, info.end);
    return Reason.unsupported;
  }

  private udp(u8: Uint8Array, ip: number, udp: number, end: number, v6: boolean): number {
    if (end - udp < Udp.HEADER_LEN) return Reason.truncated;
    const ulen = u16(u8, udp + Udp.LENGTH);
    if (ulen !== end - udp) return Reason['bad-length'];
    if (u16(u8, udp + Udp.CHECKSUM) === 0) {
      if (v6 && !this.zeroCsum6) return Reason['bad-checksum'];
    } else if (!this.trustL4) {
      // Pseudo-header (addresses, protocol, length) + segment must sum to all ones.
      const base = v6 ? sumBytes(u8, ip + Ipv6.SRC, 32, 0) : sumBytes(u8, ip + Ipv4.SRC, 8, 0);
      if (fold(sumWords(u8, this.w32, udp, ulen, base + IpProto.UDP + ulen)) !== 0xffff) return Reason['bad-checksum'];
    }
    return this.byPort(u8, udp + Udp.HEADER_LEN, end, u16(u8, udp + Udp.DST_PORT));
  }

  private byPort(u8: Uint8Array, p: number, end: number, port: number): number {
    if (port === this.vxlanPort) return this.vxlan(u8, p, end);
    if (port === this.mplsPort) return this.mpls(u8, p, end, TunnelProto.MPLSOUDP);
    return Reason.unsupported;
  }

  private vxlan(u8: Uint8Array, p: number, end: number): number {
    if (end - p < Vxlan.HEADER_LEN) return Reason.truncated;
    if ((u8[p]! & Vxlan.FLAG_I) === 0) return Reason['bad-header'];
    const vni = u32(u8, p + Vxlan.VNI) >>> 8;
    const target = this.vnis.get(vni);
    if (target < 0) return Reason['unknown-id'];
    return this.deliverEthernet(TunnelProto.VXLAN, vni, target, p + Vxlan.HEADER_LEN, end);
  }

  private greBody(u8: Uint8Array, p: number, end: number): number {
    const g = this.gre;
    const r = checkGre(u8, p, end, g, this.w32);
    if (r !== 0) return r;
    const type = g.protocol;
    if (type === EtherType.MPLS || type === EtherType.MPLS_MC) return this.mpls(u8, g.payload, end, TunnelProto.MPLSOGRE);
    if (type !== EtherType.TEB && type !== EtherType.IPV4 && type !== EtherType.IPV6) return Reason.unsupported;
    if (g.key < 0) return Reason['unknown-id']; // keyless GRE names no tenant
    const target = this.keys.get(g.key);
    if (target < 0) return Reason['unknown-id'];
    if (type === EtherType.TEB) return this.deliverEthernet(TunnelProto.GRE, g.key, target, g.payload, end);
    return this.deliverIp(TunnelProto.GRE, g.key, target, g.payload, end, type === EtherType.IPV6 ? 6 : 4);
  }

  /**
   * Walks the label stack to bottom of stack. Explicit-null labels and
   * entropy label pairs are skipped; the one other label names the tenant.
   * Router alert, GAL, OAM alert and extension labels need a control plane we
   * do not have: unsupported. Implicit null never appears on the wire. Label
   * TTLs are not judged here: we are the egress of a pipe-model tunnel
   * (RFC 3443), and the exposed packet keeps its own TTL for whoever routes it.
   */
  private mpls(u8: Uint8Array, p: number, end: number, proto: number): number {
    let label = -1;
    for (;;) {
      if (end - p < Mpls.ENTRY_LEN) return Reason.truncated;
      const e = u32(u8, p);
      const l = e >>> Mpls.LABEL_SHIFT;
      p += Mpls.ENTRY_LEN;
      let bos = (e & Mpls.S) !== 0;
      if (l > MplsLabel.MAX_RESERVED) {
        if (label >= 0) return Reason.unsupported; // a second service label: not ours to pop
        label = l;
      } else if (l === MplsLabel.ELI) {
        if (bos) return Reason['bad-header']; // an ELI is always followed by its EL
        if (end - p < Mpls.ENTRY_LEN) return Reason.truncated;
        bos = (u32(u8, p) & Mpls.S) !== 0;
        p += Mpls.ENTRY_LEN;
      } else if (l === MplsLabel.IMPLICIT_NULL) {
        return Reason['bad-header'];
      } else if (l !== MplsLabel.IPV4_EXPLICIT_NULL && l !== MplsLabel.IPV6_EXPLICIT_NULL) {
        return Reason.unsupported;
      }
      if (bos) break;
    }
    if (label < 0) return Reason['unknown-id'];
    const v = this.labels.get(label);
    if (v < 0) return Reason['unknown-id'];
    const target = v >>> 1;
    if ((v & LABEL_IP) === 0) return this.deliverEthernet(proto, label, target, p, end);
    if (p >= end) return Reason.truncated;
    const ver = u8[p]! >>> 4;
    if (ver !== 4 && ver !== 6) return Reason['bad-header'];
    return this.deliverIp(proto, label, target, p, end, ver);
  }

  private deliverEthernet(proto: number, id: number, target: number, p: number, end: number): number {
    if (end - p < Eth.HEADER_LEN) return Reason.truncated;
    this.proto = proto;
    this.id = id;
    this.target = target;
    this.innerStart = p;
    this.innerLen = end - p;
    this.inner = Inner.ETHERNET;
    return 0;
  }

  private deliverIp(proto: number, id: number, target: number, p: number, end: number, ver: number): number {
    if (end - p < (ver === 4 ? Ipv4.HEADER_LEN : Ipv6.HEADER_LEN)) return Reason.truncated;
    this.proto = proto;
    this.id = id;
    this.target = target;
    this.innerStart = p;
    this.innerLen = end - p;
    this.inner = ver === 4 ? Inner.IPV4 : Inner.IPV6;
    return 0;
  }
}

/** Where a batch's packets start, for decapBatch. */
export const RxDepth = { FRAME: 0, IP: 1, UDP: 2 } as const;

/**
 * Decapsulates batch entries [0, count) in place: on success start/len move
 * to the inner payload, id = VNI/key/label, aux = bound target, kind =
 * proto | inner << 4 | (IPv6 underlay ? 0x80 : 0), addr = outer source; on
 * failure reason = the drop code. For RxDepth.UDP the batch's addr/peerPort
 * hold the sources (as a UDP socket fills them) and `localPort` names the port.
 * Returns the number delivered.
 */
export function decapBatch(d: Decapsulator, b: Batch, depth: number, localPort = 0, family = 4): number {
  const { u8, u32 } = b.pool;
  const addr = b.addr;
  let n = 0;
  for (let i = 0; i < b.count; i++) {
    if (b.reason[i] !== 0) continue;
    const s = b.start[i]!;
    const len = b.len[i]!;
    const r =
      depth === RxDepth.FRAME ? d.frame(u8, s, len, u32) : depth === RxDepth.IP ? d.ip(u8, s, len, u32) : d.udpPayload(u8, s, len, localPort, family, addr, i * 4);
    if (r !== 0) {
      b.reason[i] = r;
      continue;
    }
    b.start[i] = d.innerStart;
    b.len[i] = d.innerLen;
    b.id[i] = d.id;
    b.aux[i] = d.target;
    b.kind[i] = d.proto | (d.inner << 4) | (d.peerFamily === 6 ? 0x80 : 0);
    const p = d.peer;
    const a = i * 4;
    addr[a] = p[0]!;
    addr[a + 1] = p[1]!;
    addr[a + 2] = p[2]!;
    addr[a + 3] = p[3]!;
    n++;
  }
  return n;
}

function parseAddr(text: string, field: string): IpAddr {
  try {
    return parseIp(text, field);
  } catch {
    throw invalidConfig(field, text, 'an IPv4 or IPv6 address');
  }
}

function addAddr(a: IpAddr, m4: IdMap, m6: Addr6Map, index: number): void {
  if (a.family === 4) m4.set(a.words[0]!, index);
  else m6.set(a.words, 0, index);
}

function list(field: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw invalidConfig(field, v, 'a list');
  return v;
}

function int(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidConfig(field, v, `an integer in ${min}..${max}`);
  return v;
}

function port(field: string, v: unknown): number {
  return int(field, v, 1, 65535);
}
