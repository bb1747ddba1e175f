/**
 * A simulated host on a memory port: the smallest IPv4 stack that makes a
 * dataplane testable without root. It answers ARP requests and pings for its
 * address, resolves its next hop by ARP, and sends pings whose replies it
 * reports. Attach `host.port` to a dataplane (a bridge or VRF port); the host
 * lives on the other end of the wire.
 */
import { EventEmitter } from 'node:events';
import { VtepError, describe } from '../errors.js';
import { PacketPool } from '../packet/pool.js';
import { Batch } from '../packet/batch.js';
import { parseCidr, parseIPv4, parseMac, formatIPv4, readMac, writeMac } from '../util/addr.js';
import { u16, u32, put16, put32 } from '../wire/bytes.js';
import { Arp, ArpOp, emitArp } from '../wire/arp.js';
import { EtherType, Eth } from '../wire/ethernet.js';
import { Ipv4 } from '../wire/ipv4.js';
import { IpProto } from '../wire/ip.js';
import { Icmp, IcmpType } from '../wire/icmp.js';
import { checksum, verifies } from '../wire/checksum.js';
import { MemoryPort } from '../io/memory.js';
import { arpReply, echoReply4 } from './respond.js';

export interface SimHostOptions {
  name: string;
  mac: number | string;
  /** Address with prefix length, e.g. "10.0.0.1/24". */
  ip: string;
  /** Default gateway (for destinations outside the subnet). */
  gateway?: string;
}

export interface PingReply {
  seq: number;
  from: string;
  ttl: number;
  /** Milliseconds from request to reply. */
  rtt: number;
}

export class SimHost extends EventEmitter {
  readonly name: string;
  readonly mac: number;
  readonly ip: number;
  readonly prefix: number;
  readonly gateway: number;
  /** The dataplane side of the wire: attach this to a dataplane. */
  readonly port: MemoryPort;
  /** The host side of the wire. */
  private readonly nic: MemoryPort;
  private readonly pool = new PacketPool({ slots: 256, slotSize: 2048 });
  private readonly rx = new Batch(this.pool, 64);
  /** Neighbor table: IPv4 -> MAC. */
  readonly arp = new Map<number, number>();
  /** Frames waiting for ARP resolution of their next hop. */
  private readonly waiting = new Map<number, Uint8Array[]>();
  private readonly sent = new Map<number, number>(); // seq -> time
  private readonly ident = 0x4242;
  /** Counters of what the host saw. */
  readonly counters = { arpRequests: 0, arpReplies: 0, echoRequests: 0, echoReplies: 0, other: 0 };

  constructor(o: SimHostOptions) {
    super();
    this.name = o.name;
    this.mac = typeof o.mac === 'string' ? parseMac(o.mac) : o.mac;
    const c = parseCidr(o.ip, 'ip', true);
    if (c.family !== 4) throw new VtepError('ERR_INVALID_ARG', `ip: ${describe(o.ip)} is not an IPv4 address with a prefix length`);
    this.ip = c.words[0]!;
    this.prefix = c.length;
    this.gateway = o.gateway === undefined ? 0 : parseIPv4(o.gateway, 'gateway');
    [this.port, this.nic] = MemoryPort.pair({ name: o.name }, { name: `${o.name}-nic` });
    this.nic.onReadable(() => this.receive());
  }

  /** Sends an ICMP echo request (resolving the next hop by ARP first if needed). */
  ping(dst: string, seq: number, payload = 56): void {
    const d = parseIPv4(dst, 'dst');
    const f = new Uint8Array(Eth.HEADER_LEN + Ipv4.HEADER_LEN + Icmp.HEADER_LEN + payload);
    put16(f, Eth.TYPE, EtherType.IPV4);
    writeMac(f, Eth.SRC, this.mac);
    const ip = Eth.HEADER_LEN;
    f[ip] = 0x45;
    put16(f, ip + Ipv4.TOTAL_LEN, f.length - ip);
    put16(f, ip + Ipv4.IDENT, seq);
    put16(f, ip + Ipv4.FLAGS_FRAG, 0x4000);
    f[ip + Ipv4.TTL] = 64;
    f[ip + Ipv4.PROTO] = IpProto.ICMP;
    put32(f, ip + Ipv4.SRC, this.ip);
    put32(f, ip + Ipv4.DST, d);
    put16(f, ip + Ipv4.CHECKSUM, checksum(f, ip, Ipv4.HEADER_LEN));
    const icmp = ip + Ipv4.HEADER_LEN;
    f[icmp] = IcmpType.ECHO_REQUEST;
    put16(f, icmp + Icmp.ID, this.ident);
    put16(f, icmp + Icmp.SEQ, seq);
    for (let i = icmp + Icmp.HEADER_LEN; i < f.length; i++) f[i] = i & 0xff;
    put16(f, icmp + Icmp.CHECKSUM, checksum(f, icmp, f.length - icmp));
    this.sent.set(seq, performance.now());
    this.sendIp(f, d);
  }

  /** Resolves on the echo reply with sequence number `seq`, rejects after `ms`. */
  reply(seq: number, ms = 2000): Promise<PingReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('reply', on);
        reject(new Error(`${this.name}: no reply to ping ${seq} within ${ms} ms`));
      }, ms);
      const on = (r: PingReply): void => {
        if (r.seq !== seq) return;
        clearTimeout(timer);
        this.off('reply', on);
        resolve(r);
      };
      this.on('reply', on);
    });
  }

  /** Pings and waits for the reply. */
  async pingAndWait(dst: string, seq: number, ms = 2000): Promise<PingReply> {
    const p = this.reply(seq, ms);
    this.ping(dst, seq);
    return p;
  }

  /** Sends an ARP request for `ip` (gratuitous when ip is the host's own). */
  arpRequest(ip: number): void {
    const f = new Uint8Array(Eth.HEADER_LEN + Arp.LEN);
    writeMac(f, Eth.DST, 0xffffffffffff);
    writeMac(f, Eth.SRC, this.mac);
    put16(f, Eth.TYPE, EtherType.ARP);
    emitArp({ op: ArpOp.REQUEST, senderMac: this.mac, senderIp: this.ip, targetMac: 0, targetIp: ip }, f, Eth.HEADER_LEN);
    this.transmit(f);
  }

  close(): void {
    this.nic.close();
    this.port.close();
  }

  private nextHop(dst: number): number {
    const mask = this.prefix === 0 ? 0 : (0xffffffff << (32 - this.prefix)) >>> 0;
    return ((dst & mask) >>> 0) === ((this.ip & mask) >>> 0) || this.gateway === 0 ? dst : this.gateway;
  }

  private sendIp(f: Uint8Array, dst: number): void {
    const nh = this.nextHop(dst);
    const mac = this.arp.get(nh);
    if (mac !== undefined) {
      writeMac(f, Eth.DST, mac);
      this.transmit(f);
      return;
    }
    const q = this.waiting.get(nh);
    if (q !== undefined) q.push(f);
    else {
      this.waiting.set(nh, [f]);
      this.arpRequest(nh);
    }
  }

  /** Host -> dataplane: what the host sends arrives on `port`. */
  private transmit(f: Uint8Array): void {
    if (f !== undefined && this.nic.closed === false) {
      // MemoryPort.pair: writing on the nic side delivers to the port side.
      const b = new Batch(this.pool, 1);
      b.pushCopy(f);
      this.nic.writeBatch(b);
      b.release();
    }
  }

  private receive(): void {
    const rx = this.rx;
    const u8 = this.pool.u8;
    while (this.nic.readBatch(rx) > 0) {
      for (let i = 0; i < rx.count; i++) this.frame(u8, rx.start[i]!, rx.len[i]!);
      rx.release();
    }
  }

  private frame(u8: Uint8Array, s: number, len: number): void {
    const end = s + len;
    if (len < Eth.HEADER_LEN) return;
    const type = u16(u8, s + Eth.TYPE);
    const l3 = s + Eth.HEADER_LEN;
    if (type === EtherType.ARP && end - l3 >= Arp.LEN) {
      const op = u16(u8, l3 + Arp.OPER);
      const spa = u32(u8, l3 + Arp.SPA);
      const sha = readMac(u8, l3 + Arp.SHA);
      if (op === ArpOp.REPLY) {
        this.counters.arpReplies++;
        this.arp.set(spa, sha);
        const q = this.waiting.get(spa);
        if (q !== undefined) {
          this.waiting.delete(spa);
          for (const f of q) {
            writeMac(f, Eth.DST, sha);
            this.transmit(f);
          }
        }
      } else if (op === ArpOp.REQUEST && u32(u8, l3 + Arp.TPA) === this.ip) {
        this.counters.arpRequests++;
        this.arp.set(spa, sha);
        const copy = u8.slice(s, end);
        if (arpReply(copy, 0, Eth.HEADER_LEN, copy.length, this.mac) > 0) this.transmit(copy);
      }
      return;
    }
    if (type !== EtherType.IPV4 || end - l3 < Ipv4.HEADER_LEN + Icmp.HEADER_LEN) {
      this.counters.other++;
      return;
    }
    if (u32(u8, l3 + Ipv4.DST) !== this.ip || u8[l3 + Ipv4.PROTO] !== IpProto.ICMP || !verifies(u8, l3, Ipv4.HEADER_LEN)) {
      this.counters.other++;
      return;
    }
    const icmp = l3 + ((u8[l3]! & 0x0f) << 2);
    if (u8[icmp] === IcmpType.ECHO_REQUEST) {
      this.counters.echoRequests++;
      const copy = u8.slice(s, end);
      const n = echoReply4(copy, 0, Eth.HEADER_LEN, copy.length, this.ip);
      if (n > 0) this.transmit(copy.subarray(0, n));
    } else if (u8[icmp] === IcmpType.ECHO_REPLY && u16(u8, icmp + Icmp.ID) === this.ident) {
      this.counters.echoReplies++;
      const seq = u16(u8, icmp + Icmp.SEQ);
      const t0 = this.sent.get(seq);
      this.sent.delete(seq);
      const r: PingReply = { seq, from: formatIPv4(u32(u8, l3 + Ipv4.SRC)), ttl: u8[l3 + Ipv4.TTL]!, rtt: t0 === undefined ? 0 : performance.now() - t0 };
      this.emit('reply', r);
    } else {
      this.counters.other++;
    }
  }
}
