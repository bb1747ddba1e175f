/**
 * Test-only byte builders and readers (the wire layer will replace them):
 * Ethernet, ARP replies, ICMP echo replies, IPv4 and GRE headers. Plain
 * arrays and allocation everywhere: never for hot paths.
 */

export const ETHERTYPE = { IPV4: 0x0800, ARP: 0x0806, IPV6: 0x86dd, TEB: 0x6558 } as const;

/** The Internet checksum (RFC 1071) of bytes[off, off + len). */
export function inetChecksum(bytes: Uint8Array, off = 0, len = bytes.length - off): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (bytes[off + i]! << 8) | bytes[off + i + 1]!;
  if (len % 2 === 1) sum += bytes[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function macBytes(mac: number): number[] {
  const out: number[] = [];
  for (let i = 5; i >= 0; i--) out.push(Math.floor(mac / 2 ** (8 * i)) % 256);
  return out;
}

export function ipBytes(ip: number): number[] {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** Ethernet II header: dst, src, ethertype. */
export function ethHeader(dst: number, src: number, type: number): number[] {
  return [...macBytes(dst), ...macBytes(src), type >>> 8, type & 255];
}

export function ethType(frame: Uint8Array): number {
  return frame.length >= 14 ? u16(frame, 12) : -1;
}

export function ethSrc(frame: Uint8Array): number {
  return u16(frame, 6) * 2 ** 32 + u32(frame, 8);
}

/**
 * The reply to an ARP request for `ip` (answered with `mac`), or null when
 * the frame is not such a request.
 *   // Ethernet[ARP(op=2, sha=mac, spa=ip, tha=requester, tpa=requester ip)]
 */
export function arpReplyFor(frame: Uint8Array, ip: number, mac: number): Uint8Array | null {
  if (ethType(frame) !== ETHERTYPE.ARP || frame.length < 42) return null;
  const op = u16(frame, 20);
  const tpa = u32(frame, 38);
  if (op !== 1 || tpa !== ip) return null;
  const sha = [...frame.subarray(22, 28)];
  const spa = [...frame.subarray(28, 32)];
  return Uint8Array.from([
    ...sha, ...macBytes(mac), 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02,
    ...macBytes(mac), ...ipBytes(ip),
    ...sha, ...spa,
  ]);
}

/**
 * The echo reply to an ICMP echo request addressed to `ip`, or null.
 * Swaps MACs and addresses, sets type 0, recomputes both checksums.
 *   // Ethernet[IPv4[ICMP echo reply]]
 */
export function icmpEchoReplyFor(frame: Uint8Array, ip: number): Uint8Array | null {
  if (ethType(frame) !== ETHERTYPE.IPV4 || frame.length < 14 + 20 + 8) return null;
  const ihl = (frame[14]! & 15) * 4;
  const proto = frame[23];
  const dst = u32(frame, 30);
  const icmp = 14 + ihl;
  const total = u16(frame, 16);
  if (proto !== 1 || dst !== ip || frame[icmp] !== 8 || 14 + total > frame.length) return null;
  const out = Uint8Array.from(frame.subarray(0, 14 + total));
  out.set(frame.subarray(6, 12), 0);
  out.set(frame.subarray(0, 6), 6);
  out.set(frame.subarray(30, 34), 26);
  out.set(frame.subarray(26, 30), 30);
  out[22] = 64; // TTL
  out[24] = 0;
  out[25] = 0;
  const ipSum = inetChecksum(out, 14, ihl);
  out[24] = ipSum >>> 8;
  out[25] = ipSum & 255;
  out[icmp] = 0;
  out[icmp + 2] = 0;
  out[icmp + 3] = 0;
  const sum = inetChecksum(out, icmp, total - ihl);
  out[icmp + 2] = sum >>> 8;
  out[icmp + 3] = sum & 255;
  return out;
}

/** An IPv4 header (20 bytes, DF set, checksum computed) for a payload of payloadLen bytes. */
export function ipv4Header(o: { src: number; dst: number; protocol: number; payloadLen: number; ttl?: number; id?: number }): number[] {
  const total = 20 + o.payloadLen;
  const h = Uint8Array.from([
    0x45, 0, total >>> 8, total & 255,
    (o.id ?? 0) >>> 8, (o.id ?? 0) & 255, 0x40, 0,
    o.ttl ?? 64, o.protocol, 0, 0,
    ...ipBytes(o.src), ...ipBytes(o.dst),
  ]);
  const sum = inetChecksum(h);
  h[10] = sum >>> 8;
  h[11] = sum & 255;
  return [...h];
}

/** A GRE header (RFC 2890): K bit and key when `key` is given. */
export function greHeader(o: { protocol: number; key?: number }): number[] {
  if (o.key === undefined) return [0, 0, o.protocol >>> 8, o.protocol & 255];
  const k = o.key >>> 0;
  return [0x20, 0, o.protocol >>> 8, o.protocol & 255, k >>> 24, (k >>> 16) & 255, (k >>> 8) & 255, k & 255];
}

/**
 * A whole IPv4 GRE packet carrying an Ethernet frame (header included, for
 * a raw socket): // IPv4[GRE(key)[Ethernet[payload]]]
 */
export function ipv4GrePacket(o: { src: number; dst: number; key: number; inner: number[] }): Uint8Array {
  const gre = greHeader({ protocol: ETHERTYPE.TEB, key: o.key });
  const payloadLen = gre.length + o.inner.length;
  return Uint8Array.from([...ipv4Header({ src: o.src, dst: o.dst, protocol: 47, payloadLen }), ...gre, ...o.inner]);
}

/**
 * A whole IPv6 GRE packet carrying an Ethernet frame (header included):
 * // IPv6[GRE(key)[Ethernet[payload]]]. Addresses as four words each.
 */
export function ipv6GrePacket(o: { src: ArrayLike<number>; dst: ArrayLike<number>; key: number; inner: number[] }): Uint8Array {
  const gre = greHeader({ protocol: ETHERTYPE.TEB, key: o.key });
  const payloadLen = gre.length + o.inner.length;
  const words = (w: ArrayLike<number>) => [0, 1, 2, 3].flatMap((i) => ipBytes(w[i]! >>> 0));
  return Uint8Array.from([
    0x60, 0, 0, 0, payloadLen >>> 8, payloadLen & 255, 47, 64,
    ...words(o.src), ...words(o.dst),
    ...gre, ...o.inner,
  ]);
}
