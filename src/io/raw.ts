/**
 * Raw ports: AF_PACKET on one interface (whole Ethernet frames) and raw IP
 * sockets for one protocol (47: GRE and MPLS-over-GRE underlay).
 *
 *   const ps = PacketSocket.open({ ifname: 'veth0', netns: 'ns1' });
 *   const gre = RawIpSocket.open({ family: 4, protocol: 47, netns: 'ns1' });
 *
 * RawIpSocket sends with the IP header ours (IP_HDRINCL / IPV6_HDRINCL): each
 * packet goes to the destination in its own header, batch.addr is not read.
 * On IPv4 the kernel still fills the header checksum and total length, and
 * the identification and source when they are 0. Receive follows the kernel:
 * an IPv4 raw socket delivers the IP header too, an IPv6 one delivers the
 * payload only (the GRE header first); the source goes to batch.addr.
 */
import { invalidArg, checkInt } from '../errors.js';
import { parseIp } from '../util/addr.js';
import { native, ADDR_MODE } from './native.js';
import { nativeError } from './port.js';
import { SocketPort, socketArgs, type SocketOptions } from './socket.js';

/** ETH_P_ALL: every protocol. */
export const ETH_P_ALL = 0x0003;

export interface PacketSocketOptions extends SocketOptions {
  /** Interface to bind to (in the namespace given by netns). */
  ifname: string;
  /** Ethertype to receive; default ETH_P_ALL. */
  protocol?: number;
  /** PACKET_MR_PROMISC on the interface for the socket's life. Default false. */
  promiscuous?: boolean;
  /** PACKET_QDISC_BYPASS: send straight to the driver. Default false. */
  qdiscBypass?: boolean;
  /** PACKET_IGNORE_OUTGOING: do not receive what this host sends. Default true. */
  ignoreOutgoing?: boolean;
}

export class PacketSocket extends SocketPort {
  readonly kind = 'packet' as const;
  readonly ifindex: number;

  private constructor(fd: number, ifname: string, ifindex: number) {
    super(fd, ifname, ADDR_MODE.NONE);
    this.ifindex = ifindex;
  }

  static open(options: PacketSocketOptions): PacketSocket {
    if (options === null || typeof options !== 'object') throw invalidArg('options', options, 'an object');
    const { ifname } = options;
    if (typeof ifname !== 'string' || !/^[^\s/:]{1,15}$/.test(ifname)) throw invalidArg('ifname', ifname, 'an interface name');
    const protocol = checkInt('protocol', options.protocol ?? ETH_P_ALL, 0, 0xffff);
    for (const k of ['promiscuous', 'qdiscBypass', 'ignoreOutgoing'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'boolean') throw invalidArg(k, options[k], 'a boolean');
    }
    let opened: { fd: number; ifindex: number };
    try {
      opened = native().packetOpen({
        ...socketArgs(options),
        ifname,
        protocol,
        promiscuous: options.promiscuous ?? false,
        qdiscBypass: options.qdiscBypass ?? false,
        ignoreOutgoing: options.ignoreOutgoing ?? true,
      });
    } catch (err) {
      throw nativeError(`packet ${ifname}`, err);
    }
    return new PacketSocket(opened.fd, ifname, opened.ifindex);
  }

  /** ENETDOWN is the link going down, unless the interface is gone (ifindex -1): then fatal. */
  protected override isFatal(name: string, op: string): boolean {
    if (name === 'ENETDOWN') return this.n.packetIfindex(this._fd) < 0;
    return super.isFatal(name, op);
  }
}

export interface RawIpOptions extends SocketOptions {
  /** 4 or 6. Default 4. */
  family?: 4 | 6;
  /** IP protocol number. Default 47 (GRE). */
  protocol?: number;
  /** Local address to bind (filters what is received). */
  address?: string;
}

export class RawIpSocket extends SocketPort {
  readonly kind = 'raw' as const;
  readonly family: 4 | 6;
  readonly protocol: number;

  private constructor(fd: number, family: 4 | 6, protocol: number) {
    super(fd, `ipv${family}/${protocol}`, family === 6 ? ADDR_MODE.RAW6 : ADDR_MODE.RAW4);
    this.family = family;
    this.protocol = protocol;
  }

  static open(options: RawIpOptions = {}): RawIpSocket {
    if (options === null || typeof options !== 'object') throw invalidArg('options', options, 'an object');
    const family = options.family ?? 4;
    if (family !== 4 && family !== 6) throw invalidArg('family', family, '4 or 6');
    const protocol = checkInt('protocol', options.protocol ?? 47, 1, 255);
    let addr: Uint32Array | undefined;
    if (options.address !== undefined) {
      const ip = parseIp(options.address, 'address');
      if (ip.family !== family) throw invalidArg('address', options.address, `an IPv${family} address`);
      addr = new Uint32Array(4);
      addr.set(ip.words);
    }
    let opened: { fd: number };
    try {
      opened = native().rawOpen({ ...socketArgs(options), family, protocol, hdrincl: true, ...(addr === undefined ? {} : { addr }) });
    } catch (err) {
      throw nativeError(`raw ipv${family}/${protocol}`, err);
    }
    return new RawIpSocket(opened.fd, family, protocol);
  }
}
