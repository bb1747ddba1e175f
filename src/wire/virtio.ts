/**
 * virtio-net header (virtio 1.x §5.1.6, `struct virtio_net_hdr` in
 * linux/virtio_net.h): what a TAP opened with IFF_VNET_HDR puts in front of
 * every frame it reads, and expects in front of every frame written to it.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Flags     |   GSO Type    |     Header Length (LE)        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        GSO Size (LE)          |     Checksum Start (LE)       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Checksum Offset (LE)      |  Num Buffers (LE, mrg_rxbuf)  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * 10 bytes; 12 with num_buffers (`struct virtio_net_hdr_mrg_rxbuf`, what a
 * TAP uses after TUNSETVNETHDRSZ 12). The 16-bit fields are `__virtio16`:
 * tun reads them little-endian when TUNSETVNETLE is set *or* the CPU is
 * little-endian (tun_is_little_endian: TUN_VNET_LE || legacy native order,
 * and TUNSETVNETBE only exists with CONFIG_TUN_VNET_CROSS_LE). On x86 and
 * arm64 the default is therefore little-endian; a TAP that sets TUNSETVNETLE
 * is little-endian everywhere. These helpers always read and write LE.
 *
 * Flags:
 * - NEEDS_CSUM: the checksum from csum_start to the end of the frame is not
 *   done; the field at csum_start + csum_offset holds the pseudo-header sum.
 * - DATA_VALID: (reads only) the checksum was already verified.
 * GSO: a super-frame to be cut into gso_size-byte payloads, each behind a copy
 * of the first hdr_len bytes (Ethernet + IP + TCP/UDP headers).
 */

export const Vnet = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2, // Ethernet + IP + TCP/UDP header bytes (a hint; the kernel re-derives it)
  GSO_SIZE: 4, // payload bytes per segment (MSS for TCP)
  CSUM_START: 6, // offset from the frame start where checksumming starts (the L4 header)
  CSUM_OFFSET: 8, // offset from csum_start of the checksum field (16 for TCP, 6 for UDP)
  NUM_BUFFERS: 10, // mrg_rxbuf only: buffers a received packet spans (1 for a TAP)
  HEADER_LEN: 10,
  MRG_HEADER_LEN: 12,
} as const;

export const VnetFlag = {
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
  RSC_INFO: 4, // rsc_ext only; never set by tun
  UDP_TUNNEL_CSUM: 8, // tunnel GSO: the outer UDP checksum is to be filled too (Linux 6.17)
} as const;

export const VnetGso = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3, // UFO (IPv4 fragmentation offload); obsolete, refused by modern kernels
  TCPV6: 4,
  UDP_L4: 5, // USO: UDP segmentation, each segment its own datagram (Linux 6.2)
  /**
   * Tunnel GSO bits (Linux 6.17, TUN_F_UDP_TUNNEL_GSO), OR-ed with UDP_L4 or
   * TCPV4/6; they need the longer virtio_net_hdr_v1_hash_tunnel header (outer
   * transport and inner network offsets). Defined here, as installed headers lag.
   */
  UDP_TUNNEL_IPV4: 0x20,
  UDP_TUNNEL_IPV6: 0x40,
  ECN: 0x80, // OR-ed in: the TCP super-frame carries CWR, cut it the TSO_ECN way
  TYPE_MASK: 0x07, // the base type, without ECN and tunnel bits
} as const;

/** Checksum field offsets from the L4 header, for csum_offset. */
export const VnetCsumOffset = { TCP: 16, UDP: 6 } as const;

function le16(u8: Uint8Array, o: number): number {
  return u8[o]! | (u8[o + 1]! << 8);
}
function putLe16(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v;
  u8[o + 1] = v >>> 8;
}

export function vnetFlags(u8: Uint8Array, off: number): number {
  return u8[off + Vnet.FLAGS]!;
}
export function vnetGsoType(u8: Uint8Array, off: number): number {
  return u8[off + Vnet.GSO_TYPE]!;
}
export function vnetHdrLen(u8: Uint8Array, off: number): number {
  return le16(u8, off + Vnet.HDR_LEN);
}
export function vnetGsoSize(u8: Uint8Array, off: number): number {
  return le16(u8, off + Vnet.GSO_SIZE);
}
export function vnetCsumStart(u8: Uint8Array, off: number): number {
  return le16(u8, off + Vnet.CSUM_START);
}
export function vnetCsumOffset(u8: Uint8Array, off: number): number {
  return le16(u8, off + Vnet.CSUM_OFFSET);
}
export function vnetNumBuffers(u8: Uint8Array, off: number): number {
  return le16(u8, off + Vnet.NUM_BUFFERS);
}

/**
 * Writes a 10-byte header at u8[off] (12 with `hdrSize` 12: num_buffers = 1).
 * Returns the offset after it.
 */
export function writeVnet(
  u8: Uint8Array,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
  hdrSize: number = Vnet.HEADER_LEN,
): number {
  u8[off + Vnet.FLAGS] = flags;
  u8[off + Vnet.GSO_TYPE] = gsoType;
  putLe16(u8, off + Vnet.HDR_LEN, hdrLen);
  putLe16(u8, off + Vnet.GSO_SIZE, gsoSize);
  putLe16(u8, off + Vnet.CSUM_START, csumStart);
  putLe16(u8, off + Vnet.CSUM_OFFSET, csumOffset);
  if (hdrSize === Vnet.MRG_HEADER_LEN) {
    putLe16(u8, off + Vnet.NUM_BUFFERS, 1);
    return off + Vnet.MRG_HEADER_LEN;
  }
  return off + Vnet.HEADER_LEN;
}

/** A header that asks for nothing: a complete frame (flags 0, GSO none). */
export function writeVnetNone(u8: Uint8Array, off: number, hdrSize: number = Vnet.HEADER_LEN): number {
  return writeVnet(u8, off, 0, VnetGso.NONE, 0, 0, 0, 0, hdrSize);
}

/** Value form, for tests and slow paths. */
export interface VnetRepr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  numBuffers?: number;
}

/** Reads the header at u8[off]; null when fewer than `hdrSize` bytes remain. */
export function parseVnet(u8: Uint8Array, off: number, end: number, hdrSize: number = Vnet.HEADER_LEN): VnetRepr | null {
  if (end - off < hdrSize) return null;
  const r: VnetRepr = {
    flags: vnetFlags(u8, off),
    gsoType: vnetGsoType(u8, off),
    hdrLen: vnetHdrLen(u8, off),
    gsoSize: vnetGsoSize(u8, off),
    csumStart: vnetCsumStart(u8, off),
    csumOffset: vnetCsumOffset(u8, off),
  };
  if (hdrSize === Vnet.MRG_HEADER_LEN) r.numBuffers = vnetNumBuffers(u8, off);
  return r;
}

export function emitVnet(r: VnetRepr, u8: Uint8Array, off: number, hdrSize: number = Vnet.HEADER_LEN): number {
  const next = writeVnet(u8, off, r.flags, r.gsoType, r.hdrLen, r.gsoSize, r.csumStart, r.csumOffset, hdrSize);
  if (hdrSize === Vnet.MRG_HEADER_LEN && r.numBuffers !== undefined) putLe16(u8, off + Vnet.NUM_BUFFERS, r.numBuffers);
  return next;
}
