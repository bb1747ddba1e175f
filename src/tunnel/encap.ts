/**
 * Encapsulation, the hot path: copy the tunnel's template into the headroom in
 * front of the inner frame, then patch what varies per packet. The inner frame
 * is never copied or moved; only the start offset moves back.
 */
import type { Batch } from '../packet/batch.js';
import type { PacketPool } from '../packet/pool.js';
import { Reason } from '../packet/reasons.js';
import { sumBytes, sumWords } from '../wire/checksum.js';
import { Ipv4 } from '../wire/ipv4.js';
import { Ipv6 } from '../wire/ipv6.js';
import { Udp } from '../wire/udp.js';
import { Gre } from '../wire/gre.js';
import { EtherType } from '../wire/ethernet.js';
import { IpProto } from '../wire/ip.js';
import { flowHash32, flowHashIp32, flowHashPool32 } from './flowhash.js';
import { Depth, Payload, TunnelProto, type Tunnel } from './tunnel.js';

/**
 * Copies the template to u8[at..). With word views of the same memory (the
 * pool's: its default headroom puts every outer header on a 4-byte boundary)
 * the copy is done in 32- or 16-bit words; outer header sets are always an
 * even number of bytes long.
 */
function copyTemplate(t: Tunnel, u8: Uint8Array, u16: Uint16Array | null, u32: Uint32Array | null, at: number): void {
  const n = t.hdrLen;
  if (u32 !== null && (at & 3) === 0) {
    const c = t.copy32;
    const w = at >>> 2;
    const nw = n >>> 2;
    let i = 0;
    // Four words a step: every header is 7 to 20 words long.
    for (; i + 4 <= nw; i += 4) {
      u32[w + i] = c[i]!;
      u32[w + i + 1] = c[i + 1]!;
      u32[w + i + 2] = c[i + 2]!;
      u32[w + i + 3] = c[i + 3]!;
    }
    for (; i < nw; i++) u32[w + i] = c[i]!;
    if ((n & 2) !== 0) u16![(at + n - 2) >>> 1] = t.copy16[(n - 2) >>> 1]!;
    return;
  }
  if (u16 !== null && (at & 1) === 0) {
    const c = t.copy16;
    const w = at >>> 1;
    const nw = n >>> 1;
    for (let i = 0; i < nw; i++) u16[w + i] = c[i]!;
    return;
  }
  const c = t.copy8;
  for (let i = 0; i < n; i++) u8[at + i] = c[i]!;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes a big-endian 16-bit field at u8[o]: one native store when a 16-bit view allows. */
function field16(u8: Uint8Array, u16: Uint16Array | null, o: number, v: number): void {
  if (u16 !== null && (o & 1) === 0) u16[o >>> 1] = LITTLE_ENDIAN ? ((v & 0xff) << 8) | ((v >>> 8) & 0xff) : v;
  else {
    u8[o] = v >>> 8;
    u8[o + 1] = v;
  }
}

/** TOS / traffic class of the inner IP header, or 0 when the payload is not IP. */
function innerTos(u8: Uint8Array, start: number, len: number, payload: number): number {
  let ip = start;
  let v: number;
  if (payload === Payload.ETHERNET) {
    if (len < 16) return 0;
    let type = (u8[start + 12]! << 8) | u8[start + 13]!;
    ip = start + 14;
    if (type === EtherType.VLAN || type === EtherType.QINQ) {
      type = (u8[start + 16]! << 8) | u8[start + 17]!;
      ip += 4;
    }
    if (ip + 2 > start + len) return 0;
    v = type === EtherType.IPV4 ? 4 : type === EtherType.IPV6 ? 6 : 0;
  } else {
    if (len < 2) return 0;
    v = u8[ip]! >>> 4;
  }
  if (v === 4) return u8[ip + 1]!;
  if (v === 6) return ((u8[ip]! & 0x0f) << 4) | (u8[ip + 1]! >>> 4);
  return 0;
}

/** Whether encapsulation through `t` needs the inner flow hash. */
export function needsHash(t: Tunnel): boolean {
  return (t.isUdp && t.srcPort < 0 && t.depth !== Depth.UDP) || t.elOff >= 0 || t.flowLabel < 0;
}

/** The flow hash of a payload as tunnel `t` sees it (Ethernet frame or IP packet). */
export function payloadHash(t: Tunnel, u8: Uint8Array, start: number, len: number): number {
  return payloadHash32(t, u8, start, len) >>> 0;
}

/** payloadHash as a signed 32-bit integer, the packet path's form (no heap number: see flowhash.ts). */
export function payloadHash32(t: Tunnel, u8: Uint8Array, start: number, len: number): number {
  return t.payload === Payload.ETHERNET ? flowHash32(u8, start, len) : flowHashIp32(u8, start, len);
}

/**
 * Prepends t's outer headers to u8[start .. start+len) in place and returns
 * the new start, start - t.hdrLen. The caller guarantees that much headroom.
 * `hash` is the inner flow hash; 0 means "compute it if needed".
 */
export function encapInPlace(t: Tunnel, u8: Uint8Array, start: number, len: number, hash: number): number {
  return encapCore(t, u8, null, null, start, len, hash);
}

/**
 * encapInPlace for a packet in pool memory: the template is copied in words
 * and the flow hash read in words, through the pool's views.
 */
export function encapInPool(t: Tunnel, pool: PacketPool, start: number, len: number, hash: number): number {
  if (hash === 0 && needsHash(t)) hash = poolHash(t, pool, start, len);
  return encapCore(t, pool.u8, pool.u16, pool.u32, start, len, hash);
}

/** encapInPlace with optional word views over the same memory as u8 (byteOffset 0). */
function encapCore(t: Tunnel, u8: Uint8Array, u16: Uint16Array | null, u32: Uint32Array | null, start: number, len: number, hash: number): number {
  const ns = start - t.hdrLen;
  copyTemplate(t, u8, u16, u32, ns);
  if (hash === 0 && needsHash(t)) hash = payloadHash32(t, u8, start, len);
  const full = start - t.fullLen; // where template byte 0 is (or would be, at a deeper depth)
  const end = start + len;
  if (t.depth !== Depth.UDP) {
    const ip = full + t.ipOff;
    if (t.family === 4) {
      const total = end - ip;
      field16(u8, u16, ip + Ipv4.TOTAL_LEN, total);
      let sum = t.ip4Base + total;
      if (t.tos < 0) {
        const tos = innerTos(u8, start, len, t.payload);
        u8[ip + Ipv4.TOS] = tos;
        sum += tos;
      }
      // RFC 1624: the template's sum plus what changed, folded twice (sum < 2^20).
      sum = (sum & 0xffff) + (sum >>> 16);
      sum = ~((sum & 0xffff) + (sum >>> 16)) & 0xffff;
      field16(u8, u16, ip + Ipv4.CHECKSUM, sum);
    } else {
      field16(u8, u16, ip + Ipv6.PAYLOAD_LEN, end - ip - Ipv6.HEADER_LEN);
      if (t.tos < 0) {
        const tc = innerTos(u8, start, len, t.payload);
        u8[ip] = 0x60 | (tc >>> 4);
        u8[ip + 1] = ((tc & 0x0f) << 4) | (u8[ip + 1]! & 0x0f);
      }
      if (t.flowLabel < 0) {
        const fl = hash & 0xfffff;
        u8[ip + 1] = (u8[ip + 1]! & 0xf0) | (fl >>> 16);
        u8[ip + 2] = fl >>> 8;
        u8[ip + 3] = fl;
      }
    }
    if (t.isUdp) {
      const udp = full + t.l4Off;
      const ulen = end - udp;
      field16(u8, u16, udp + Udp.LENGTH, ulen);
      if (t.srcPort < 0) field16(u8, u16, udp + Udp.SRC_PORT, t.portMin + (hash & t.portMask));
      if (t.elOff >= 0) writeEntropyLabel(t, u8, full, hash);
      if (t.udpChecksum) {
        // Pseudo-header: addresses (precomputed for IPv6), protocol, length.
        const base = t.family === 6 ? t.pseudo6 : sumBytes(u8, ip + Ipv4.SRC, 8, 0);
        let c = sumWords(u8, u32, udp, ulen, base + IpProto.UDP + ulen);
        while (c > 0xffff) c = (c & 0xffff) + Math.floor(c / 0x10000);
        c = ~c & 0xffff;
        if (c === 0) c = 0xffff;
        u8[udp + Udp.CHECKSUM] = c >>> 8;
        u8[udp + Udp.CHECKSUM + 1] = c;
      }
      return ns;
    }
    // GRE.
    const gre = full + t.l4Off;
    if (t.payload === Payload.IP && t.proto === TunnelProto.GRE) {
      const type = u8[start]! >>> 4 === 6 ? EtherType.IPV6 : EtherType.IPV4;
      u8[gre + Gre.PROTOCOL] = type >>> 8;
      u8[gre + Gre.PROTOCOL + 1] = type;
    }
    if (t.greSeqOff >= 0) {
      const s = t.greSeq;
      t.greSeq = (s + 1) >>> 0;
      const o = full + t.greSeqOff;
      u8[o] = s >>> 24;
      u8[o + 1] = s >>> 16;
      u8[o + 2] = s >>> 8;
      u8[o + 3] = s;
    }
    if (t.elOff >= 0) writeEntropyLabel(t, u8, full, hash);
    if (t.greCsum) {
      let c = sumWords(u8, u32, gre, end - gre, 0);
      while (c > 0xffff) c = (c & 0xffff) + Math.floor(c / 0x10000);
      c = ~c & 0xffff;
      u8[gre + Gre.HEADER_LEN] = c >>> 8;
      u8[gre + Gre.HEADER_LEN + 1] = c;
    }
    return ns;
  }
  if (t.elOff >= 0) writeEntropyLabel(t, u8, full, hash);
  return ns;
}

/** The entropy label from the hash, outside the reserved range 0..15 (RFC 6790 §4.1). */
function writeEntropyLabel(t: Tunnel, u8: Uint8Array, full: number, hash: number): void {
  const label = 16 + ((hash >>> 0) % 0xffff0);
  const o = full + t.elOff;
  u8[o] = label >>> 12;
  u8[o + 1] = label >>> 4;
  u8[o + 2] = ((label & 0x0f) << 4) | (u8[o + 2]! & 0x0f);
}

/**
 * Encapsulates batch entries [from, to) through one tunnel, in place. Entries
 * already dropped are skipped; entries without enough headroom in their slot
 * are dropped as 'no-headroom'. Flow hashes missing from b.hash are computed
 * and stored. Returns how many were encapsulated.
 */
export function encapBatch(t: Tunnel, b: Batch, from = 0, to = b.count): number {
  // The loop body is spelled out rather than calling encapEntry: with the call,
  // V8 no longer inlines the hash and the template copy into it (37 -> 46 ns a packet here).
  const pool = b.pool;
  const { u8, u16, u32, slotSize } = pool;
  const hdr = t.hdrLen;
  const wantHash = needsHash(t);
  let n = 0;
  for (let i = from; i < to; i++) {
    if (b.reason[i] !== 0) continue;
    const s = b.start[i]!;
    if (s - b.slot[i]! * slotSize < hdr) {
      b.reason[i] = Reason['no-headroom'];
      continue;
    }
    const len = b.len[i]!;
    let h = b.hash[i]! | 0; // signed: no heap number for a hash from 2^31 up
    if (h === 0 && wantHash) {
      h = t.payload === Payload.ETHERNET ? flowHashPool32(u8, u16, u32, s, len) : flowHashIp32(u8, s, len);
      b.hash[i] = h;
    }
    b.start[i] = encapCore(t, u8, u16, u32, s, len, h);
    b.len[i] = len + hdr;
    n++;
  }
  return n;
}

/**
 * Like encapBatch, with a tunnel per entry: tunnels[b.aux[i]]. For a pipeline
 * whose next hops point at different remote VTEPs within one batch.
 */
export function encapBatchVia(tunnels: readonly Tunnel[], b: Batch, from = 0, to = b.count): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    if (b.reason[i] !== 0) continue;
    const t = tunnels[b.aux[i]!];
    if (t === undefined) b.reason[i] = Reason['no-route'];
    else if (encapEntry(t, b, i, needsHash(t))) n++;
  }
  return n;
}

/**
 * Encapsulates batch entry i in place (hash kept in b.hash); false when it had
 * too little headroom. `wantHash` is needsHash(t), decided once per batch.
 */
function encapEntry(t: Tunnel, b: Batch, i: number, wantHash: boolean): boolean {
  const pool = b.pool;
  const s = b.start[i]!;
  const hdr = t.hdrLen;
  if (s - b.slot[i]! * pool.slotSize < hdr) {
    b.reason[i] = Reason['no-headroom'];
    return false;
  }
  const len = b.len[i]!;
  let h = b.hash[i]! | 0;
  if (h === 0 && wantHash) {
    h = poolHash(t, pool, s, len);
    b.hash[i] = h;
  }
  b.start[i] = encapCore(t, pool.u8, pool.u16, pool.u32, s, len, h);
  b.len[i] = len + hdr;
  return true;
}

/** The flow hash of a payload in pool memory (word loads where aligned). */
function poolHash(t: Tunnel, pool: PacketPool, start: number, len: number): number {
  return t.payload === Payload.ETHERNET ? flowHashPool32(pool.u8, pool.u16, pool.u32, start, len) : flowHashIp32(pool.u8, start, len);
}
