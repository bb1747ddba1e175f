/**
 * pcap and pcapng on the wire: magics, header layouts, block types, option
 * codes and link types, in one place. Sources: draft-ietf-opsawg-pcap (pcap)
 * and draft-ietf-opsawg-pcapng (pcapng); libpcap's pcap-savefile(5).
 *
 * pcap file header (24 bytes, in the writer's byte order):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0|          Magic (a1b2c3d4 usec, a1b23c4d nsec, a1b2cd34 modified)|
 *  4|        Major version (2)      |        Minor version (4)      |
 *  8|                 thiszone (GMT offset, always 0)               |
 * 12|                 sigfigs (always 0)                            |
 * 16|                 SnapLen                                       |
 * 20| FCS |0|F|   reserved        |          LinkType             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * pcap record header (16 bytes; 24 in the "modified" Kuznetzov format):
 *  0 seconds | 4 microseconds or nanoseconds | 8 captured length | 12 original length
 *  [16 ifindex u32 | 20 protocol u16 | 22 pkt_type u8 | 23 pad]        (modified only)
 *
 * pcapng block (every block, 4-byte aligned, in its section's byte order):
 *  0 Block Type | 4 Block Total Length | 8 body ... | Block Total Length (again)
 */

/** pcap magics as read with the file's own byte order. */
export const PcapMagic = {
  USEC: 0xa1b2c3d4,
  NSEC: 0xa1b23c4d,
  /** Alexey Kuznetzov's patched libpcap: 8 more bytes per record header. */
  MODIFIED: 0xa1b2cd34,
} as const;

export const PcapHeader = {
  MAGIC: 0,
  VERSION_MAJOR: 4,
  VERSION_MINOR: 6,
  THISZONE: 8,
  SIGFIGS: 12,
  SNAPLEN: 16,
  LINKTYPE: 20,
  LEN: 24,
} as const;

export const PcapRecord = {
  TS_SEC: 0,
  TS_FRAC: 4,
  CAPLEN: 8,
  ORIGLEN: 12,
  LEN: 16,
  /** Record header length in the modified (Kuznetzov) format. */
  MODIFIED_LEN: 24,
} as const;

/** libpcap keeps the low 26 bits of the link type word (the rest is FCS information). */
export const PCAP_LINKTYPE_MASK = 0x03ffffff;

/** pcapng block types. Unknown types are skipped by their length. */
export const BlockType = {
  /** Section Header Block: the same bytes in both orders, so it can be found first. */
  SHB: 0x0a0d0d0a,
  IDB: 0x00000001,
  /** Obsolete Packet Block (16-bit interface id and drops count). */
  PB: 0x00000002,
  SPB: 0x00000003,
  NRB: 0x00000004,
  ISB: 0x00000005,
  EPB: 0x00000006,
  SYSTEMD_JOURNAL: 0x00000009,
  DSB: 0x0000000a,
  CUSTOM: 0x00000bad,
  CUSTOM_NOCOPY: 0x40000bad,
} as const;

/** Byte-order magic of the SHB: read as this value in the section's byte order. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Fixed parts of the block bodies (offsets from the block start). */
export const Block = {
  TYPE: 0,
  TOTAL_LEN: 4,
  BODY: 8,
  /** Type + length + trailing length. */
  OVERHEAD: 12,
} as const;

export const Shb = {
  BYTE_ORDER: 8,
  VERSION_MAJOR: 12,
  VERSION_MINOR: 14,
  SECTION_LEN: 16,
  OPTIONS: 24,
  MIN_LEN: 28,
} as const;

export const Idb = {
  LINKTYPE: 8,
  RESERVED: 10,
  SNAPLEN: 12,
  OPTIONS: 16,
  MIN_LEN: 20,
} as const;

export const Epb = {
  INTERFACE_ID: 8,
  TS_HIGH: 12,
  TS_LOW: 16,
  CAPLEN: 20,
  ORIGLEN: 24,
  DATA: 28,
  MIN_LEN: 32,
} as const;

/** Obsolete Packet Block: like the EPB but with a 16-bit interface id. */
export const Pb = {
  INTERFACE_ID: 8,
  DROPS: 10,
  TS_HIGH: 12,
  TS_LOW: 16,
  CAPLEN: 20,
  ORIGLEN: 24,
  DATA: 28,
  MIN_LEN: 32,
} as const;

export const Spb = {
  ORIGLEN: 8,
  DATA: 12,
  MIN_LEN: 16,
} as const;

/** Option codes. Every option: code u16, length u16, value padded to 4 bytes. */
export const Opt = {
  END: 0,
  COMMENT: 1,
  CUSTOM_STR: 2988,
  CUSTOM_BIN: 2989,
  CUSTOM_STR_NOCOPY: 19372,
  CUSTOM_BIN_NOCOPY: 19373,
} as const;

export const ShbOpt = { HARDWARE: 2, OS: 3, USERAPPL: 4 } as const;

export const IdbOpt = {
  NAME: 2,
  DESCRIPTION: 3,
  IPV4ADDR: 4,
  IPV6ADDR: 5,
  MACADDR: 6,
  EUIADDR: 7,
  SPEED: 8,
  /** One byte: MSB clear = 10^-n seconds, MSB set = 2^-n seconds; default 6. */
  TSRESOL: 9,
  TZONE: 10,
  FILTER: 11,
  OS: 12,
  FCSLEN: 13,
  /** Signed 64-bit seconds added to every timestamp of the interface. */
  TSOFFSET: 14,
  HARDWARE: 15,
  TXSPEED: 16,
  RXSPEED: 17,
} as const;

export const EpbOpt = { FLAGS: 2, HASH: 3, DROPCOUNT: 4, PACKETID: 5, QUEUE: 6, VERDICT: 7 } as const;

/** Default if_tsresol: microseconds. */
export const TSRESOL_DEFAULT = 6;
/** if_tsresol bit that selects a power-of-two resolution. */
export const TSRESOL_POW2 = 0x80;

/**
 * Common link types (tcpdump.org/linktypes.html). Any 16-bit value is kept and
 * reported as is; these are names for the ones vtep meets.
 */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  /** Raw IP, version from the first nibble. */
  RAW: 101,
  IEEE802_11: 105,
  LOOP: 108,
  /** Linux cooked capture v1 (tcpdump -i any). */
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  NETLINK: 253,
  /** Linux cooked capture v2. */
  LINUX_SLL2: 276,
} as const;

/** libpcap's largest snapshot length for ordinary link types, and our default limit. */
export const MAX_SNAPLEN = 262144;
