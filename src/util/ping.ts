/**
 * ICMP echo from inside a namespace without the `ping` tool (which a fresh
 * machine may lack): a raw IPv4 socket of protocol ICMP, our own, opened in
 * the namespace, so the kernel of that namespace routes, resolves by ARP and
 * sends the requests exactly as it would ping's, and the far host's kernel
 * answers. For tests, benchmarks and `vtep demo --netns`.
 *
 *   const r = await icmpPing('ns1', '10.0.0.2', { count: 3 });   // { transmitted: 3, received: 3, output }
 *
 * The IP header is ours with source 0.0.0.0 and identification 0: the kernel
 * fills in the source address of the route and an identification (as for
 * ping's datagram). Replies are matched by identifier, sequence number and
 * source, so pings in parallel in one namespace do not see each other's.
 */
import { PacketPool } from '../packet/pool.js';
import { Batch } from '../packet/batch.js';
import { RawIpSocket } from '../io/raw.js';
import { parseIPv4 } from './addr.js';
import { put16, put32, u16, u32 } from '../wire/bytes.js';
import { checksum } from '../wire/checksum.js';
import { IpProto } from '../wire/ip.js';
import { Ipv4 } from '../wire/ipv4.js';
import { Icmp, IcmpType } from '../wire/icmp.js';

export interface IcmpPingOptions {
  /** Echo requests to send. Default 3. */
  count?: number;
  /** Between two requests, ms. Default 200. */
  intervalMs?: number;
  /** After the last request, how long to wait for the missing replies, ms. Default 2000. */
  waitMs?: number;
  /** ICMP payload bytes (ping -s). Default 56. */
  size?: number;
  /** Don't-fragment bit. Default true (ping's default path-MTU discovery). */
  df?: boolean;
}

export interface IcmpPingResult {
  transmitted: number;
  received: number;
  /** ping-like lines: one per reply (`icmp_seq=1 ttl=62`), then the summary. */
  output: string;
}

let nextIdent = (process.pid * 7919) & 0xffff;

/** Sends echo requests from namespace `netns` (a name or a path) to `dst`; resolves with the replies counted. */
export async function icmpPing(netns: string | undefined, dst: string, o: IcmpPingOptions = {}): Promise<IcmpPingResult> {
  const count = o.count ?? 3;
  const interval = o.intervalMs ?? 200;
  const wait = o.waitMs ?? 2000;
  const size = o.size ?? 56;
  const to = parseIPv4(dst, 'dst');
  const ident = nextIdent;
  nextIdent = (nextIdent + 1) & 0xffff;
  const sock = RawIpSocket.open({ family: 4, protocol: IpProto.ICMP, ...(netns === undefined ? {} : { netns }) });
  const pool = new PacketPool({ slots: 64 });
  const rx = new Batch(pool, 16);
  const tx = new Batch(pool, 1);
  const seen = new Set<number>();
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  sock.onReadable(() => {
    while (sock.recvBatch(rx) > 0) {
      for (let i = 0; i < rx.count; i++) {
        const p = rx.packet(i);
        const ihl = (p[0]! & 0x0f) * 4;
        if (p.length < ihl + Icmp.HEADER_LEN || p[Ipv4.PROTO] !== IpProto.ICMP) continue;
        const seq = u16(p, ihl + Icmp.SEQ);
        if (p[ihl] !== IcmpType.ECHO_REPLY || u16(p, ihl + Icmp.ID) !== ident || u32(p, Ipv4.SRC) !== to || seq >= count || seen.has(seq)) continue;
        seen.add(seq);
        lines.push(`${p.length - ihl} bytes from ${dst}: icmp_seq=${seq + 1} ttl=${p[Ipv4.TTL]}`);
      }
      rx.release();
    }
    if (seen.size === count) wake?.();
  });
  const request = new Uint8Array(Ipv4.HEADER_LEN + Icmp.HEADER_LEN + size);
  request[0] = 0x45;
  put16(request, Ipv4.TOTAL_LEN, request.length);
  put16(request, Ipv4.FLAGS_FRAG, (o.df ?? true) ? 0x4000 : 0);
  request[Ipv4.TTL] = 64;
  request[Ipv4.PROTO] = IpProto.ICMP;
  put32(request, Ipv4.DST, to);
  const icmp = Ipv4.HEADER_LEN;
  request[icmp] = IcmpType.ECHO_REQUEST;
  put16(request, icmp + Icmp.ID, ident);
  for (let i = icmp + Icmp.HEADER_LEN; i < request.length; i++) request[i] = i & 0xff;
  let sent = 0;
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  try {
    for (let seq = 0; seq < count; seq++) {
      put16(request, icmp + Icmp.SEQ, seq);
      put16(request, icmp + Icmp.CHECKSUM, 0);
      put16(request, icmp + Icmp.CHECKSUM, checksum(request, icmp, request.length - icmp));
      tx.pushCopy(request);
      sent += sock.sendBatch(tx);
      tx.release();
      if (seq + 1 < count) await sleep(interval);
    }
    if (seen.size < count) await sleep(wait);
  } finally {
    sock.close();
  }
  const received = seen.size;
  const output = `PING ${dst}\n${lines.map((l) => l + '\n').join('')}${sent} packets transmitted, ${received} received\n`;
  return { transmitted: sent, received, output };
}
