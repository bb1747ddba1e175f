/**
 * A tunnel: one remote VTEP and one tenant id over one protocol, compiled
 * once into an outer-header template. Encapsulation (encap.ts) copies the
 * template in front of the inner frame and patches what varies per packet:
 * lengths, the IPv4 checksum (incrementally), the UDP source port or entropy
 * label from the flow hash, and optionally TOS, flow label and checksums.
 *
 * Template layout (frame depth), e.g. VXLAN over IPv4:
 *   | Ethernet 14 | [802.1Q 4] | IPv4 20 | UDP 8 | VXLAN 8 |  inner frame ...
 *   ^ 0                        ^ ipOff   ^ l4Off ^ tunOff  ^ fullLen
 * Output depth picks where the packet starts: 'frame' (pcap, AF_PACKET) at 0,
 * 'ip' (raw IP sockets) at ipOff, 'udp' (UDP sockets: the UDP payload) at tunOff.
 */
import { invalidArg, describe, VtepError, checkInt } from '../errors.js';
import { parseIp, parseMac, type IpAddr } from '../util/addr.js';
import { emitEthernet, EtherType, Eth } from '../wire/ethernet.js';
import { Tpid, Vlan } from '../wire/vlan.js';
import { put16 } from '../wire/bytes.js';
import { emitIpv4, Ipv4 } from '../wire/ipv4.js';
import { emitIpv6, Ipv6 } from '../wire/ipv6.js';
import { emitUdp, Udp, UdpPort, ENTROPY_PORT_MIN } from '../wire/udp.js';
import { emitGre, Gre } from '../wire/gre.js';
import { emitVxlan, Vxlan } from '../wire/vxlan.js';
import { emitMplsStack, Mpls, MplsLabel } from '../wire/mpls.js';
import { IpProto } from '../wire/ip.js';
import { sumBytes } from '../wire/checksum.js';

import { TunnelProto, PROTO_NAMES, PROTO_BY_NAME, protoCode, type TunnelProtoName } from './protos.js';
export { TunnelProto, PROTO_NAMES, protoCode, type TunnelProtoName };

/** Where the output packet starts. */
export const Depth = { FRAME: 0, IP: 1, UDP: 2 } as const;
export type DepthName = 'frame' | 'ip' | 'udp';
const DEPTH_BY_NAME: Record<string, number> = { frame: 0, ip: 1, udp: 2 };

/** What the tunnel carries. */
export const Payload = { ETHERNET: 0, IP: 1 } as const;
export type PayloadName = 'ethernet' | 'ip';

export interface TunnelOptions {
  proto: TunnelProtoName;
  /** VXLAN network identifier, 0..2^24-1. */
  vni?: number;
  /** GRE key, 0..2^32-1 (required for GRE). */
  key?: number;
  /** MPLS label, 16..2^20-1 (labels below 16 are reserved). */
  label?: number;
  /** Our underlay address and the remote VTEP's, of one family. */
  src: string;
  dst: string;
  /** Outer MACs (required at depth 'frame'). */
  srcMac?: string | number;
  dstMac?: string | number;
  /** Outer 802.1Q VLAN id, if the underlay is tagged. */
  vlan?: number;
  /** Outer TTL / hop limit, and the MPLS label TTL unless mplsTtl is given. Default 64. */
  ttl?: number;
  /** Outer TOS / traffic class, or 'inherit' to copy the inner IP header's. Default 0. */
  tos?: number | 'inherit';
  /** IPv4 don't-fragment. Default true. */
  df?: boolean;
  /** IPv6 flow label, or 'hash' for the inner flow hash (RFC 6438). Default 0. */
  flowLabel?: number | 'hash';
  /** UDP checksum: default off over IPv4, on over IPv6 (off over IPv6 = RFC 6935 zero checksum). */
  udpChecksum?: boolean;
  /** UDP destination port. Default 4789 (VXLAN) / 6635 (MPLS-over-UDP). */
  dstPort?: number;
  /** A fixed UDP source port, or 'hash' (default): the flow hash mapped into srcPortRange. */
  srcPort?: number | 'hash';
  /** Range for hashed source ports, a power-of-two span. Default [49152, 65535]. */
  srcPortRange?: [number, number];
  /** GRE checksum (C bit). Default false. */
  greChecksum?: boolean;
  /** GRE sequence numbers (S bit), counting per tunnel. Default false. */
  greSeq?: boolean;
  /** Ethernet frames (default) or IP packets. VXLAN carries Ethernet only. */
  payload?: PayloadName;
  /** MPLS label TTL (default: ttl) and traffic class (default 0). */
  mplsTtl?: number;
  mplsTc?: number;
  /** Push an entropy label pair (ELI, EL from the flow hash) above the label (RFC 6790). */
  entropyLabel?: boolean;
  /** Output depth (see above). Default 'frame'. */
  depth?: DepthName;
}

export class Tunnel {
  readonly proto: number;
  readonly family: 4 | 6;
  readonly payload: number;
  readonly depth: number;
  /** Tenant id in the header: VNI, key or label. */
  readonly id: number;
  readonly src: IpAddr;
  readonly dst: IpAddr;
  readonly dstPort: number;

  /** The whole outer header set, frame depth. */
  readonly template: Uint8Array;
  /** Template bytes from the output depth on, as 16- and 32-bit words for aligned copies. */
  readonly copy8: Uint8Array;
  readonly copy16: Uint16Array;
  readonly copy32: Uint32Array;
  /** Bytes of the whole template and of the part this tunnel prepends. */
  readonly fullLen: number;
  readonly hdrLen: number;
  /** Offsets within the template; -1 when absent. */
  readonly ipOff: number;
  readonly l4Off: number;
  readonly tunOff: number;
  readonly elOff: number;
  readonly greSeqOff: number;
  readonly greCsum: boolean;
  /** First template offset that is written (0, ipOff or tunOff). */
  readonly depthOff: number;

  /** IPv4 header sum with total length 0 and, when inherited, TOS 0. */
  readonly ip4Base: number;
  /** IPv6 pseudo-header address sum, for UDP checksums. */
  readonly pseudo6: number;
  readonly udpChecksum: boolean;
  readonly isUdp: boolean;
  /** -1 = inherit. */
  readonly tos: number;
  /** -1 = hash. */
  readonly flowLabel: number;
  /** -1 = hash. */
  readonly srcPort: number;
  readonly portMin: number;
  readonly portMask: number;
  /** Next GRE sequence number. */
  greSeq = 0;

  constructor(options: TunnelOptions) {
    const o = options;
    if (o === null || typeof o !== 'object') throw invalidArg('tunnel', o, 'an options object');
    const proto = PROTO_BY_NAME[o.proto as string];
    if (proto === undefined) throw invalidArg('proto', o.proto, 'one of vxlan, gre, mplsoudp, mplsogre');
    this.proto = proto;
    const depth = DEPTH_BY_NAME[o.depth ?? 'frame'];
    if (depth === undefined) throw invalidArg('depth', o.depth, "one of 'frame', 'ip', 'udp'");
    this.depth = depth;
    const payloadName = o.payload ?? 'ethernet';
    if (payloadName !== 'ethernet' && payloadName !== 'ip') throw invalidArg('payload', o.payload, "'ethernet' or 'ip'");
    this.payload = payloadName === 'ip' ? Payload.IP : Payload.ETHERNET;
    const isUdp = proto === TunnelProto.VXLAN || proto === TunnelProto.MPLSOUDP;
    this.isUdp = isUdp;
    if (proto === TunnelProto.VXLAN && this.payload !== Payload.ETHERNET) throw invalidArg('payload', o.payload, "'ethernet' for VXLAN");
    if (!isUdp && depth === Depth.UDP) throw invalidArg('depth', o.depth, `'frame' or 'ip' for ${o.proto} (it has no UDP header)`);

    // Tenant id.
    if (proto === TunnelProto.VXLAN) this.id = checkInt('vni', o.vni, 0, Vxlan.MAX_VNI);
    else if (proto === TunnelProto.GRE) this.id = checkInt('key', o.key, 0, 0xffffffff);
    else this.id = checkInt('label', o.label, MplsLabel.MAX_RESERVED + 1, Mpls.MAX_LABEL);

    this.src = parseIp(o.src, 'src');
    this.dst = parseIp(o.dst, 'dst');
    if (this.src.family !== this.dst.family) throw invalidArg('dst', o.dst, `an address of the same family as src ${o.src}`);
    this.family = this.src.family;
    const v6 = this.family === 6;

    const ttl = checkInt('ttl', o.ttl ?? 64, 1, 255);
    const tosOpt = o.tos ?? 0;
    this.tos = tosOpt === 'inherit' ? -1 : checkInt('tos', tosOpt, 0, 255);
    const flOpt = o.flowLabel ?? 0;
    if (!v6 && o.flowLabel !== undefined) throw invalidArg('flowLabel', o.flowLabel, 'meaningful over an IPv4 underlay');
    this.flowLabel = flOpt === 'hash' ? -1 : checkInt('flowLabel', flOpt, 0, 0xfffff);
    if (v6 && o.df !== undefined) throw invalidArg('df', o.df, 'meaningful over an IPv6 underlay (IPv6 never fragments in flight)');
    const df = o.df ?? true;
    if (typeof df !== 'boolean') throw invalidArg('df', o.df, 'a boolean');
    this.udpChecksum = o.udpChecksum ?? v6;
    if (!isUdp && o.udpChecksum !== undefined) throw invalidArg('udpChecksum', o.udpChecksum, `meaningful for ${o.proto}`);
    this.dstPort = checkInt('dstPort', o.dstPort ?? (proto === TunnelProto.VXLAN ? UdpPort.VXLAN : UdpPort.MPLS), 1, 65535);
    const sp = o.srcPort ?? 'hash';
    this.srcPort = sp === 'hash' ? -1 : checkInt('srcPort', sp, 1, 65535);
    const [pmin, pmax] = o.srcPortRange ?? [ENTROPY_PORT_MIN, 65535];
    checkInt('srcPortRange[0]', pmin, 1, 65535);
    checkInt('srcPortRange[1]', pmax, pmin, 65535);
    const span = pmax - pmin + 1;
    if ((span & (span - 1)) !== 0) throw invalidArg('srcPortRange', o.srcPortRange, 'a range whose size is a power of two');
    this.portMin = pmin;
    this.portMask = span - 1;
    this.greCsum = o.greChecksum ?? false;
    const greSeq = o.greSeq ?? false;
    if (proto !== TunnelProto.GRE && (o.greChecksum !== undefined || o.greSeq !== undefined)) {
      throw invalidArg(o.greChecksum !== undefined ? 'greChecksum' : 'greSeq', o.greChecksum ?? o.greSeq, `meaningful for ${o.proto}`);
    }
    const isMpls = proto === TunnelProto.MPLSOUDP || proto === TunnelProto.MPLSOGRE;
    const el = o.entropyLabel ?? false;
    if (!isMpls && o.entropyLabel !== undefined) throw invalidArg('entropyLabel', o.entropyLabel, `meaningful for ${o.proto}`);
    const mplsTtl = checkInt('mplsTtl', o.mplsTtl ?? ttl, 0, 255);
    const mplsTc = checkInt('mplsTc', o.mplsTc ?? 0, 0, 7);

    let srcMac = 0;
    let dstMac = 0;
    if (depth === Depth.FRAME || o.srcMac !== undefined || o.dstMac !== undefined) {
      srcMac = macOption('srcMac', o.srcMac);
      dstMac = macOption('dstMac', o.dstMac);
    }
    const vlan = o.vlan === undefined ? -1 : checkInt('vlan', o.vlan, 1, 4094);

    // Layout.
    const l2Len = Eth.HEADER_LEN + (vlan >= 0 ? Vlan.TAG_LEN : 0);
    const ipLen = v6 ? Ipv6.HEADER_LEN : Ipv4.HEADER_LEN;
    const greLen = Gre.HEADER_LEN + (this.greCsum ? 4 : 0) + (proto === TunnelProto.GRE ? 4 : 0) + (greSeq ? 4 : 0);
    const l4Len = isUdp ? Udp.HEADER_LEN : greLen;
    const tunLen = proto === TunnelProto.VXLAN ? Vxlan.HEADER_LEN : isMpls ? Mpls.ENTRY_LEN * (el ? 3 : 1) : 0;
    this.ipOff = l2Len;
    this.l4Off = l2Len + ipLen;
    this.tunOff = this.l4Off + l4Len;
    this.fullLen = this.tunOff + tunLen;
    this.elOff = el ? this.tunOff + Mpls.ENTRY_LEN : -1;
    this.greSeqOff = greSeq ? this.tunOff - 4 : -1;
    this.depthOff = depth === Depth.FRAME ? 0 : depth === Depth.IP ? this.ipOff : this.tunOff;
    this.hdrLen = this.fullLen - this.depthOff;

    // Template.
    const t = new Uint8Array(this.fullLen);
    const outerType = v6 ? EtherType.IPV6 : EtherType.IPV4;
    if (vlan >= 0) {
      // 802.1Q tag between the MACs and the outer EtherType; PCP and DEI zero.
      emitEthernet({ dst: dstMac, src: srcMac, type: Tpid.CTAG }, t, 0);
      put16(t, Eth.TYPE + Vlan.TCI, vlan); // the tag's TPID sits in the EtherType slot
      put16(t, Eth.TYPE + Vlan.TAG_LEN, outerType);
    } else {
      emitEthernet({ dst: dstMac, src: srcMac, type: outerType }, t, 0);
    }
    const ipProto = isUdp ? IpProto.UDP : IpProto.GRE;
    const tos = this.tos < 0 ? 0 : this.tos;
    if (v6) {
      emitIpv6({ trafficClass: tos, flowLabel: this.flowLabel < 0 ? 0 : this.flowLabel, payloadLen: 0, nextHeader: ipProto, hopLimit: ttl, src: this.src.words, dst: this.dst.words }, t, this.ipOff);
    } else {
      emitIpv4({ tos, totalLen: 0, ident: 0, df, mf: false, fragOffset: 0, ttl, proto: ipProto, src: this.src.words[0]!, dst: this.dst.words[0]! }, t, this.ipOff);
      t[this.ipOff + Ipv4.CHECKSUM] = 0;
      t[this.ipOff + Ipv4.CHECKSUM + 1] = 0;
    }
    this.ip4Base = v6 ? 0 : sumBytes(t, this.ipOff, Ipv4.HEADER_LEN, 0);
    this.pseudo6 = v6 ? sumBytes(t, this.ipOff + Ipv6.SRC, 32, 0) : 0;
    if (isUdp) {
      emitUdp({ srcPort: this.srcPort < 0 ? 0 : this.srcPort, dstPort: this.dstPort, length: 0, checksum: 0 }, t, this.l4Off);
    } else {
      const greProto = proto === TunnelProto.MPLSOGRE ? EtherType.MPLS : this.payload === Payload.ETHERNET ? EtherType.TEB : EtherType.IPV4;
      const r: { protocol: number; checksum: boolean; key?: number; seq?: number } = { protocol: greProto, checksum: this.greCsum };
      if (proto === TunnelProto.GRE) r.key = this.id;
      if (greSeq) r.seq = 0;
      emitGre(r, t, this.l4Off);
      // The checksum covers the payload: computed per packet from a zero field.
      if (this.greCsum) put16(t, this.l4Off + Gre.HEADER_LEN, 0);
    }
    if (proto === TunnelProto.VXLAN) emitVxlan(this.id, t, this.tunOff);
    else if (isMpls) {
      const stack = el
        ? [{ label: MplsLabel.ELI, tc: mplsTc, ttl: 0 }, { label: 0, tc: mplsTc, ttl: 0 }, { label: this.id, tc: mplsTc, ttl: mplsTtl }]
        : [{ label: this.id, tc: mplsTc, ttl: mplsTtl }];
      emitMplsStack(stack, t, this.tunOff);
    }
    this.template = t;
    const n = this.hdrLen;
    this.copy8 = t.slice(this.depthOff);
    const c16 = new Uint16Array((n + 1) >>> 1);
    new Uint8Array(c16.buffer).set(this.copy8);
    const c32 = new Uint32Array((n + 3) >>> 2);
    new Uint8Array(c32.buffer).set(this.copy8);
    this.copy16 = c16;
    this.copy32 = c32;
  }

  /** Protocol name. */
  get protoName(): TunnelProtoName {
    return PROTO_NAMES[this.proto] as TunnelProtoName;
  }
}

function macOption(field: string, v: string | number | undefined): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffffffff) throw invalidArg(field, v, 'a 48-bit MAC number');
    return v;
  }
  if (typeof v === 'string') return parseMac(v, field);
  throw new VtepError('ERR_INVALID_ARG', `${field}: ${describe(v)} is required for depth 'frame' (the outer Ethernet header)`);
}


