/**
 * UDP sockets, IPv4 or IPv6: sendmmsg with a destination per packet
 * (batch.addr / batch.peerPort), recvmmsg into pool slots at the headroom so
 * that decapsulation only moves `start`; the source goes to addr/peerPort.
 *
 *   const udp = UdpSocket.open({ address: '198.18.0.1', port: 4789, netns: 'ns1' });
 *   udp.sendBatch(batch);            // entries consumed
 *   udp.recvBatch(batch);            // datagrams received
 *
 * GSO (default on where the kernel has UDP_SEGMENT): consecutive entries to
 * the same destination and of the same length (the last of a run may be
 * shorter) go to the kernel as one message of up to 64 datagrams, an iovec
 * over their slots. The datagrams on the wire are the ones per-packet sends
 * make; the kernel's cost per datagram drops several times. A run the kernel
 * refuses (path MTU below the length, ...) is resent datagram by datagram.
 */
import { invalidArg, checkInt } from '../errors.js';
import { parseIp, formatIp, type IpFamily } from '../util/addr.js';
import { native, ADDR_MODE, SEND_GSO } from './native.js';
import { nativeError } from './port.js';
import { SocketPort, socketArgs, type SocketOptions } from './socket.js';

export interface UdpOptions extends SocketOptions {
  /** 4 or 6; taken from `address` when unset; default 4. */
  family?: IpFamily;
  /** Local address to bind; default the wildcard of the family. */
  address?: string;
  /** Local port; 0 (default) lets the kernel pick. */
  port?: number;
  /** SO_REUSEPORT: several sockets (one per worker) share the port. */
  reusePort?: boolean;
  /** SO_REUSEADDR. */
  reuseAddr?: boolean;
  /** IPV6_V6ONLY for IPv6 sockets; default true (no IPv4-mapped peers). */
  v6Only?: boolean;
  /** Coalesce same-destination runs with UDP GSO when the kernel can. Default true. */
  gso?: boolean;
}

export class UdpSocket extends SocketPort {
  readonly kind = 'udp' as const;
  readonly family: IpFamily;
  readonly localAddress: string;
  readonly localPort: number;
  /** Whether sendBatch uses UDP GSO (asked for and supported by the kernel). */
  readonly gso: boolean;

  private constructor(fd: number, family: IpFamily, address: string, port: number, gso: boolean) {
    super(fd, `${family === 6 ? `[${address}]` : address}:${port}`, family === 6 ? ADDR_MODE.UDP6 : ADDR_MODE.UDP4, gso ? SEND_GSO : 0);
    this.gso = gso;
    this.family = family;
    this.localAddress = address;
    this.localPort = port;
  }

  static open(options: UdpOptions = {}): UdpSocket {
    if (options === null || typeof options !== 'object') throw invalidArg('options', options, 'an object');
    if (options.family !== undefined && options.family !== 4 && options.family !== 6) throw invalidArg('family', options.family, '4 or 6');
    const address = options.address ?? (options.family === 6 ? '::' : '0.0.0.0');
    const ip = parseIp(address, 'address');
    if (options.family !== undefined && options.family !== ip.family) {
      throw invalidArg('address', address, `an IPv${options.family} address (family is ${options.family})`);
    }
    const port = checkInt('port', options.port ?? 0, 0, 65535);
    for (const k of ['reusePort', 'reuseAddr', 'v6Only', 'gso'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'boolean') throw invalidArg(k, options[k], 'a boolean');
    }
    const addr = new Uint32Array(4);
    addr.set(ip.words);
    let opened: { fd: number; port: number; gso: boolean };
    try {
      opened = native().udpOpen({
        ...socketArgs(options),
        family: ip.family,
        addr,
        port,
        reusePort: options.reusePort ?? false,
        reuseAddr: options.reuseAddr ?? false,
        v6Only: options.v6Only ?? true,
        gso: options.gso ?? true,
      });
    } catch (err) {
      throw nativeError(`udp ${address}:${port}`, err);
    }
    return new UdpSocket(opened.fd, ip.family, formatIp(ip), opened.port, opened.gso);
  }
}
