/**
 * The flow hash of an inner frame: MACs, VLAN tags, EtherType and, when the
 * frame carries IP, addresses, protocol and (for unfragmented TCP, UDP, SCTP,
 * UDP-Lite) the ports. Equal flows hash equal; fragments of a flow skip the
 * ports so that all of them hash alike. It picks the UDP source port (RFC 7348
 * §5, RFC 7510 §3), the entropy label (RFC 6790), the IPv6 flow label
 * (RFC 6438) and the ECMP member.
 *
 * Each 32-bit word is folded in FxHash style (rotate, xor, multiply by an odd
 * constant), then Murmur3's finaliser avalanches the result so that the low
 * bits, which pick ports and members, depend on every input bit. Words are
 * read little-endian, so that the pool fast path (flowHashPool) can load them
 * as native 16- and 32-bit words on little-endian hosts and get the same hash.
 *
 * The *32 variants give the same 32 bits as a signed integer (`h | 0`): a
 * value V8 passes and returns as a small integer, where an unsigned one from
 * 2^31 up is a heap number, allocated at every call and return that is not
 * inlined (half of all hashes). The packet path uses those; `& mask` and
 * `>>> 0` read them as the unsigned hash.
 */

const K = 0x9e3779b1; // 2^32 / golden ratio, odd

/** The 4 bytes at o as a little-endian word. */
function rd32(u8: Uint8Array, o: number): number {
  return u8[o]! | (u8[o + 1]! << 8) | (u8[o + 2]! << 16) | (u8[o + 3]! << 24);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function add(h: number, w: number): number {
  return Math.imul(((h << 5) | (h >>> 27)) ^ w, K);
}

/** Murmur3 finaliser: a full avalanche of a 32-bit value. */
export function fmix32(h: number): number {
  return mix32(h) >>> 0;
}

/** fmix32 as a signed 32-bit integer (the same bits). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Hash of the Ethernet frame u8[off .. off+len). Never 0, so that 0 can mean
 * "not computed yet" in Batch.hash.
 */
export function flowHash(u8: Uint8Array, off: number, len: number, seed = 0): number {
  return flowHash32(u8, off, len, seed) >>> 0;
}

/** flowHash as a signed 32-bit integer (the same bits; see the file comment). */
export function flowHash32(u8: Uint8Array, off: number, len: number, seed = 0): number {
  const end = off + len;
  let h = seed | 0;
  if (len < 14) {
    for (let i = off; i < end; i++) h = add(h, u8[i]!);
    return mix32(h ^ len) || 1;
  }
  h = add(h, rd32(u8, off));
  h = add(h, rd32(u8, off + 4));
  h = add(h, rd32(u8, off + 8));
  let p = off + 12;
  let type = (u8[p]! << 8) | u8[p + 1]!;
  // Up to two VLAN tags belong to the flow (their VID and PCP).
  if ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && p + 6 <= end) {
    h = add(h, rd32(u8, p));
    p += 4;
    type = (u8[p]! << 8) | u8[p + 1]!;
    if (type === 0x8100 && p + 6 <= end) {
      h = add(h, rd32(u8, p));
      p += 4;
      type = (u8[p]! << 8) | u8[p + 1]!;
    }
  }
  h = add(h, u8[p]! | (u8[p + 1]! << 8));
  return mix32(hashL3(u8, p + 2, end, type, h)) || 1;
}

/**
 * flowHash for a frame in pool memory, with the pool's 16- and 32-bit views
 * of the same buffer. An untagged IPv4 frame that starts where the pool puts
 * frames (2 bytes past a 4-byte boundary: MACs 2-aligned, IP header 4-aligned)
 * is hashed with a dozen word loads instead of some 30 byte loads; anything
 * else goes the byte way. Both give the same value.
 */
export function flowHashPool(u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, off: number, len: number, seed = 0): number {
  return flowHashPool32(u8, u16, u32, off, len, seed) >>> 0;
}

/** flowHashPool as a signed 32-bit integer (the same bits; see the file comment). */
export function flowHashPool32(u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, off: number, len: number, seed = 0): number {
  if ((off & 3) !== 2 || len < 34 || !LITTLE_ENDIAN) return flowHash32(u8, off, len, seed);
  const w = off >>> 1;
  const type = u16[w + 6]!;
  if (type !== 0x0008) return flowHash32(u8, off, len, seed); // EtherType 0x0800, little-endian
  let h = seed | 0;
  h = add(h, u16[w]! | (u16[w + 1]! << 16));
  h = add(h, u16[w + 2]! | (u16[w + 3]! << 16));
  h = add(h, u16[w + 4]! | (u16[w + 5]! << 16));
  h = add(h, type);
  const p = off + 14;
  const q = p >>> 2;
  const ihl = (u8[p]! & 0x0f) << 2;
  const proto = u8[p + 9]!;
  h = add(h, u32[q + 3]!);
  h = add(h, u32[q + 4]!);
  h = add(h, proto);
  // MF and fragment offset, little-endian: 0x3fff big-endian is 0xff3f.
  if ((u16[(p + 6) >>> 1]! & 0xff3f) === 0 && ihl >= 20 && (proto === 6 || proto === 17 || proto === 132 || proto === 136) && ihl + 4 <= len - 14) {
    h = add(h, u32[q + (ihl >>> 2)]!);
  }
  return mix32(h) || 1;
}

/** Hash of an IP packet u8[off .. off+len) (no Ethernet header: routed payloads). */
export function flowHashIp(u8: Uint8Array, off: number, len: number, seed = 0): number {
  return flowHashIp32(u8, off, len, seed) >>> 0;
}

/** flowHashIp as a signed 32-bit integer (the same bits; see the file comment). */
export function flowHashIp32(u8: Uint8Array, off: number, len: number, seed = 0): number {
  const v = len > 0 ? u8[off]! >>> 4 : 0;
  const h = hashL3(u8, off, off + len, v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0, add(seed | 0, v));
  return mix32(h) || 1;
}

function hashL3(u8: Uint8Array, p: number, end: number, type: number, h: number): number {
  if (type === 0x0800) {
    if (p + 20 > end) return h;
    const ihl = (u8[p]! & 0x0f) << 2;
    const proto = u8[p + 9]!;
    h = add(h, rd32(u8, p + 12));
    h = add(h, rd32(u8, p + 16));
    h = add(h, proto);
    const frag = ((u8[p + 6]! << 8) | u8[p + 7]!) & 0x3fff; // MF + offset
    if (frag === 0 && ihl >= 20 && (proto === 6 || proto === 17 || proto === 132 || proto === 136) && p + ihl + 4 <= end) {
      h = add(h, rd32(u8, p + ihl));
    }
    return h;
  }
  if (type === 0x86dd) {
    if (p + 40 > end) return h;
    for (let o = p + 8; o < p + 40; o += 4) h = add(h, rd32(u8, o));
    const nh = u8[p + 6]!;
    h = add(h, nh);
    h = add(h, ((u8[p + 1]! & 0x0f) << 16) | (u8[p + 2]! << 8) | u8[p + 3]!); // flow label, constant within a flow
    if ((nh === 6 || nh === 17 || nh === 132 || nh === 136) && p + 44 <= end) h = add(h, rd32(u8, p + 40));
  }
  return h;
}

/** Maps a hash to a port in [min, min + 2^bits): 49152..65535 by default. */
export function entropyPort(hash: number, min = 49152, bits = 14): number {
  return min + (hash & ((1 << bits) - 1));
}
