/**
 * The underlay's settings (setUnderlay) and the one rule for which underlay
 * port carries a tunnel: a frame port (memory wire, pcap, `underlay.tap`)
 * sends to the remote's own MAC when known, else to the configured next hop;
 * without a next hop, a remote whose MAC is not known yet goes through a
 * socket for its protocol, so that the kernel resolves it. Sockets alone
 * carry everything at their depth (UDP payload or IP).
 */
import { checkInt } from '../errors.js';
import { parseIp } from '../util/addr.js';
import { PROTO_NAMES } from '../tunnel/protos.js';
import type { DecapConfig } from '../tunnel/decap.js';
import type { Port } from '../io/port.js';
import { macArg } from './control.js';
import type { Runtime, UnderlayState } from './runtime.js';

export interface UnderlayOptions {
  /** Our VTEP address (IPv4 or IPv6). */
  address: string;
  /** VXLAN UDP port. Default 4789. */
  vxlanPort?: number;
  /** MPLS-over-UDP port. Default 6635. */
  mplsPort?: number;
  /** Accepted outer sources; default any. */
  peers?: string[];
  /** Accept IPv6 UDP zero checksums (RFC 6935). Default false. */
  udp6ZeroChecksumRx?: boolean;
  /** Outer TTL / hop limit. Default 64. */
  ttl?: number;
  /** The underlay's MTU, the largest outer IP packet: larger ones are answered with ICMP (DF, IPv6) or dropped (too-big). Default 1500. */
  mtu?: number;
  /**
   * Frame mode: one port carries whole underlay frames (a memory wire, a pcap,
   * AF_PACKET), with these outer MACs. Without it, the underlay is sockets:
   * add them with addUnderlaySocket().
   */
  port?: Port;
  mac?: number | string;
  /**
   * Outer destination MAC in frame mode for every remote (a router). Without
   * it: a remote's own MAC (setUnderlayNeighbor) when known, else a socket
   * for the protocol when there is one, else broadcast.
   */
  nextHopMac?: number | string;
}

/** Checks the options; the state the runtime keeps and the decapsulator's configuration. */
export function underlayState(o: UnderlayOptions): { state: UnderlayState; decap: DecapConfig } {
  const address = parseIp(o.address, 'address');
  const vxlanPort = checkInt('vxlanPort', o.vxlanPort ?? 4789, 1, 65535);
  const mplsPort = checkInt('mplsPort', o.mplsPort ?? 6635, 1, 65535);
  const decap: DecapConfig = { local: [o.address], vxlan: { port: vxlanPort, vnis: [] }, mpls: { udpPort: mplsPort, labels: {} }, udp6ZeroChecksumRx: o.udp6ZeroChecksumRx ?? false };
  if (o.peers !== undefined) decap.peers = o.peers;
  const state: UnderlayState = {
    address, vxlanPort, mplsPort,
    ttl: checkInt('ttl', o.ttl ?? 64, 1, 255),
    mtu: checkInt('mtu', o.mtu ?? 1500, 1280, 65535),
    framePort: -1,
    mac: o.mac === undefined ? 0x020000000001 : macArg('mac', o.mac),
    nextHopMac: o.nextHopMac === undefined ? 0xffffffffffff : macArg('nextHopMac', o.nextHopMac),
    nextHopGiven: o.nextHopMac !== undefined,
    neighbors: new Map(),
    udp: [],
    raw: [],
  };
  return { state, decap };
}

/** The underlay port, depth and (frame depth) destination MAC for a protocol toward a remote: Runtime.portOf. */
export function underlayPortOf(rt: Runtime, proto: number, remote: number): { port: number; depth: 'frame' | 'ip' | 'udp'; dstMac: number } {
  const u = rt.underlay!;
  let sock: { port: number; depth: 'ip' | 'udp' };
  if (PROTO_NAMES[proto] === 'vxlan' || PROTO_NAMES[proto] === 'mplsoudp') {
    const want = PROTO_NAMES[proto] === 'vxlan' ? u.vxlanPort : u.mplsPort;
    sock = { port: u.udp.find((p) => rt.ports[p]!.localPort === want) ?? -1, depth: 'udp' };
  } else sock = { port: u.raw.find((p) => rt.ports[p]!.family === u.address.family) ?? -1, depth: 'ip' };
  if (u.framePort >= 0) {
    const mac = u.neighbors.get(remote);
    if (mac !== undefined || u.nextHopGiven || sock.port < 0) return { port: u.framePort, depth: 'frame', dstMac: mac ?? u.nextHopMac };
  }
  return { ...sock, dstMac: u.nextHopMac };
}
