/**
 * The tunnel table: one compiled Tunnel (outer-header template) per
 * (protocol, remote, tenant id, payload), made on first use and shared by
 * every bridge and route that needs it, with the per-tunnel values the hot
 * path reads kept in typed arrays: underlay port, remote index, protocol, UDP
 * destination port.
 */
import { Tunnel, type TunnelOptions } from '../tunnel/tunnel.js';
import { TunnelProto, PROTO_NAMES, type TunnelProtoName } from '../tunnel/protos.js';
import { formatIp } from '../util/addr.js';
import type { Remotes } from '../table/remotes.js';
import type { UnderlayState } from './runtime.js';

export class TunnelTable {
  readonly list: Tunnel[] = [];
  /** Tunnel index -> underlay port id (-1: none yet), remote index, protocol, UDP destination port. */
  port = new Int32Array(64);
  remote = new Int32Array(64);
  proto = new Uint8Array(64);
  dstPort = new Uint16Array(64);
  /** Bytes the tunnel adds from the outer IP header to the payload (the outer packet is payload + this). */
  overhead = new Uint16Array(64);
  private readonly byKey = new Map<string, number>();

  constructor(private readonly remotes: Remotes) {}

  get size(): number {
    return this.list.length;
  }

  /**
   * The tunnel toward `remote` for (proto, id, payload); made on first use.
   * `portOf` names the underlay port that carries it and at which depth.
   */
  get(u: UnderlayState, proto: number, remote: number, id: number, payload: 'ethernet' | 'ip', portOf: (proto: number) => { port: number; depth: 'frame' | 'ip' | 'udp' }): number {
    const key = `${proto}/${remote}/${id}/${payload}`;
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    const { port, depth } = portOf(proto);
    const opts: TunnelOptions = {
      proto: PROTO_NAMES[proto] as TunnelProtoName,
      src: formatIp(u.address),
      dst: this.remotes.address(remote),
      ttl: u.ttl,
      payload,
      depth,
      srcMac: u.mac,
      dstMac: u.nextHopMac,
    };
    if (proto === TunnelProto.VXLAN) {
      opts.vni = id;
      opts.dstPort = u.vxlanPort;
    } else if (proto === TunnelProto.GRE) opts.key = id;
    else {
      opts.label = id;
      if (proto === TunnelProto.MPLSOUDP) opts.dstPort = u.mplsPort;
    }
    const t = new Tunnel(opts);
    const ti = this.list.length;
    if (ti === this.port.length) this.grow();
    this.list.push(t);
    this.port[ti] = port;
    this.remote[ti] = remote;
    this.proto[ti] = proto;
    this.dstPort[ti] = t.dstPort;
    this.overhead[ti] = t.fullLen - t.ipOff;
    this.byKey.set(key, ti);
    return ti;
  }

  /** An underlay port went away: its tunnels have none until `portOf` gives one again. */
  forgetPort(port: number): void {
    for (let i = 0; i < this.list.length; i++) if (this.port[i] === port) this.port[i] = -1;
  }

  /** An underlay port came: tunnels without one take it when `portOf` says so. */
  rebind(portOf: (proto: number) => { port: number }): void {
    for (let i = 0; i < this.list.length; i++) if (this.port[i]! < 0) this.port[i] = portOf(this.proto[i]!).port;
  }

  private grow(): void {
    const g = <T extends Int32Array | Uint8Array | Uint16Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.port = g(this.port);
    this.remote = g(this.remote);
    this.proto = g(this.proto);
    this.dstPort = g(this.dstPort);
    this.overhead = g(this.overhead);
  }
}
