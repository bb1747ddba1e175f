/**
 * Hand-built capture files as hex, field by field (built with Python's struct,
 * independently of vtep's writer). Shared by the reader and streaming tests.
 */
import { concat, hex } from './helpers.js';

// Ethernet[ARP request] 02:00:0a:2a:00:01 -> broadcast, who has 10.42.0.2 tell 10.42.0.1 (42 bytes)
export const ARP = hex(`
  ffffffffffff 02000a2a0001 0806            # Ethernet: dst, src, type ARP
  0001 0800 06 04 0001                      # ARP: Ethernet/IPv4, request
  02000a2a0001 0a2a0001 000000000000 0a2a0002
`);

// IPv4[UDP] 10.0.0.1:1000 -> 10.0.0.3:2000, payload abcd (30 bytes)
export const V4_UDP = hex(`
  4500001e 00034000 40110000 0a000001 0a000003   # IPv4, proto 17
  03e807d0 000a0000 abcd                          # UDP 1000 -> 2000, len 10
`);

/** pcap, little-endian, microseconds, Ethernet: one record Ethernet[ARP] at 1795212431.481361. */
export const PCAP_LE_USEC = hex(`
  d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000   # magic usec LE, 2.4, snaplen 65535, linktype 1
  8fc4006b 51580700 2a000000 2a000000                       # ts 1795212431.481361, caplen 42, len 42
  ${Buffer.from(ARP).toString('hex')}
`);

/** pcap, big-endian, nanoseconds, raw IPv4 (228), snaplen 96: IPv4[UDP] at 1795212431.481361007. */
export const PCAP_BE_NSEC = hex(`
  a1b23c4d 0002 0004 00000000 00000000 00000060 000000e4   # magic nsec BE, snaplen 96, linktype 228
  6b00c48f 1cb0fc6f 0000001e 0000001e                       # ts 1795212431.481361007, caplen 30, len 30
  ${Buffer.from(V4_UDP).toString('hex')}
`);

/** Modified (Kuznetzov) pcap, little-endian: 24-byte record header; Ethernet[ARP] cut from 60 to 42 bytes. */
export const PCAP_MODIFIED = hex(`
  34cdb2a1 0200 0400 00000000 00000000 ffff0000 01000000   # magic a1b2cd34 LE, linktype 1
  8fc4006b 05000000 2a000000 3c000000                       # ts 1795212431.000005, caplen 42, len 60
  03000000 0608 04 00                                       # ifindex 3, protocol 0x0806, pkt_type 4, pad
  ${Buffer.from(ARP).toString('hex')}
`);

/** pcapng section, little-endian: SHB, IDB (Ethernet, eth0, 10^-9), EPB with options, ISB, SPB. */
export const PCAPNG_LE = hex(`
  0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffffffffffff 1c000000      # SHB 28 bytes, LE, 1.0, length -1
  01000000 28000000 0100 0000 00000000                                 # IDB 40 bytes, linktype 1, snaplen 0
    0200 0400 65746830                                                 #   if_name "eth0"
    0900 0100 09000000                                                 #   if_tsresol 9
    0000 0000                                                          #   opt_endofopt
  28000000
  06000000 60000000 00000000                                           # EPB 96 bytes, interface 0
    31e0e918 15a37ad5                                                  #   ts 1795212431123456789 ns (high, low)
    2a000000 3c000000                                                  #   caplen 42, len 60
    ${Buffer.from(ARP).toString('hex')} 0000                           #   Ethernet[ARP] + 2 bytes padding
    0100 0200 68690000                                                 #   opt_comment "hi"
    0200 0400 01000000                                                 #   epb_flags 1 (inbound)
    0000 0000
  60000000
  05000000 18000000 00000000 00000000 00000000 18000000                # ISB (skipped)
  03000000 3c000000 2a000000                                           # SPB 60 bytes, len 42
    ${Buffer.from(ARP).toString('hex')} 0000
  3c000000
`);

/** pcapng section, big-endian: SHB, IDB (raw IP, snaplen 128, 2^-10 s, tsoffset 1000), EPB. */
export const PCAPNG_BE = hex(`
  0a0d0d0a 0000001c 1a2b3c4d 0001 0000 ffffffffffffffff 0000001c      # SHB BE
  00000001 0000002c 0065 0000 00000080                                 # IDB linktype 101, snaplen 128
    0009 0001 8a000000                                                 #   if_tsresol 0x8a: 2^-10 s
    000e 0008 00000000 000003e8                                        #   if_tsoffset 1000 s
    0000 0000
  0000002c
  00000006 00000040 00000000 00000000 00000600 0000001e 0000001e      # EPB, ts 1536/1024 s, caplen 30
    ${Buffer.from(V4_UDP).toString('hex')} 0000
  00000040
`);

/** Two sections of different byte orders in one file. */
export const PCAPNG_MULTI = concat(PCAPNG_LE, PCAPNG_BE);

/** Offsets of the blocks in PCAPNG_LE. */
export const LE_OFFSETS = { SHB: 0, IDB: 28, EPB: 68, ISB: 164, SPB: 188, END: 248 } as const;
