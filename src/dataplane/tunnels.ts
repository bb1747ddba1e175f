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
import type { PortOf, UnderlayState } from './runtime.js';

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
  /** What each tunnel was made from, to make it again when its remote's next hop changes. */
  private readonly opts: TunnelOptions[] = [];

  constructor(private readonly remotes: Remotes) {}

  get size(): number {
    return this.list.length;
  }

  /**
   * The tunnel toward `remote` for (proto, id, payload); made on first use.
   * `portOf` names the underlay port that carries it and at which depth.
   */
  get(u: UnderlayState, proto: number, remote: number, id: number, payload: 'ethernet' | 'ip', portOf: PortOf): number {
    const key = `${proto}/${remote}/${id}/${payload}`;
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    const { port, depth, dstMac } = portOf(proto, remote);
    const opts: TunnelOptions = {
      proto: PROTO_NAMES[proto] as TunnelProtoName,
      src: formatIp(u.address),
      dst: this.remotes.address(remote),
      ttl: u.ttl,
      payload,
      depth,
      srcMac: u.mac,
      dstMac,
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
    this.opts.push(opts);
    this.port[ti] = port;
    this.remote[ti] = remote;
    this.proto[ti] = proto;
    this.dstPort[ti] = t.dstPort;
    this.overhead[ti] = t.fullLen - t.ipOff;
    this.byKey.set(key, ti);
    return ti;
  }

  /** The underlay's ports changed (one came or went): every tunnel goes where `portOf` now says (port -1: none yet). */
  rebind(portOf: PortOf): void {
    for (let i = 0; i < this.list.length; i++) this.remake(i, portOf);
  }

  /**
   * A remote's next hop changed (its MAC learned or forgotten): its tunnels
   * go where `portOf` now says (the frame port to that MAC, or a socket).
   */
  retemplate(remote: number, portOf: PortOf): void {
    for (let i = 0; i < this.list.length; i++) if (this.remote[i] === remote) this.remake(i, portOf);
  }

  /** Tunnel i made again for its port, depth and MAC, if they changed. Control plane only: the hot path reads the new template from the next packet on. */
  private remake(i: number, portOf: PortOf): void {
    const { port, depth, dstMac } = portOf(this.proto[i]!, this.remote[i]!);
    const o = this.opts[i]!;
    this.port[i] = port;
    if (o.depth === depth && o.dstMac === dstMac) return;
    const opts: TunnelOptions = { ...o, depth, dstMac };
    const t = new Tunnel(opts);
    this.opts[i] = opts;
    this.list[i] = t;
    this.overhead[i] = t.fullLen - t.ipOff;
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
