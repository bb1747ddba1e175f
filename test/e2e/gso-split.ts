/**
 * Test helper: a capture on a veth holds UDP GSO super-packets whole (one
 * skb: one IP header, the datagrams back to back behind one UDP header); the
 * wire would carry them cut at gso_size. This writes the capture as the wire
 * would have it, so tshark can check every datagram: a VXLAN packet whose IP
 * length exceeds `mtu` is cut into datagrams of (VXLAN header + the first
 * inner frame) bytes, each behind a copy of the outer headers with its own
 * lengths, the outer IPv4 checksum recomputed and the UDP checksum 0 (none,
 * as allowed over IPv4). IPv4 outer headers without options only.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readCaptureBuffer, pcapToBuffer, type PacketInit } from '../../src/pcap/index.js';
import { checksum } from '../../src/wire/checksum.js';

/** Returns how many super-packets were cut, and the largest IP length seen before cutting. */
export function splitUdpGso(inFile: string, outFile: string, mtu: number): { superPackets: number; datagrams: number } {
  const out: PacketInit[] = [];
  let superPackets = 0;
  let datagrams = 0;
  for (const rec of readCaptureBuffer(readFileSync(inFile))) {
    const d = rec.data;
    const ipLen = d.length >= 34 ? (d[16]! << 8) | d[17]! : 0;
    const isVxlan = d.length >= 42 && d[12] === 0x08 && d[13] === 0x00 && d[14] === 0x45 && d[23] === 17 && ((d[36]! << 8) | d[37]!) === 4789;
    if (!isVxlan || ipLen <= mtu) {
      out.push({ data: d.slice(), tsSec: rec.tsSec, tsNsec: rec.tsNsec });
      datagrams++;
      continue;
    }
    // The first datagram: VXLAN (8) + inner Ethernet (14) + the inner IPv4/IPv6 packet.
    const inner = 42 + 8;
    const innerIp = inner + 14;
    const v = d[innerIp]! >>> 4;
    const innerLen = v === 4 ? (d[innerIp + 2]! << 8) | d[innerIp + 3]! : 40 + ((d[innerIp + 4]! << 8) | d[innerIp + 5]!);
    const gso = 8 + 14 + innerLen;
    superPackets++;
    for (let off = 42; off < 14 + ipLen; off += gso) {
      const chunk = d.subarray(off, Math.min(off + gso, 14 + ipLen));
      const p = new Uint8Array(42 + chunk.length);
      p.set(d.subarray(0, 42));
      p.set(chunk, 42);
      const ip = 20 + 8 + chunk.length;
      p[16] = ip >>> 8;
      p[17] = ip & 0xff;
      p[24] = 0;
      p[25] = 0;
      const c = checksum(p, 14, 20);
      p[24] = c >>> 8;
      p[25] = c & 0xff;
      const ul = 8 + chunk.length;
      p[38] = ul >>> 8;
      p[39] = ul & 0xff;
      p[40] = 0;
      p[41] = 0;
      out.push({ data: p, tsSec: rec.tsSec, tsNsec: rec.tsNsec });
      datagrams++;
    }
  }
  writeFileSync(outFile, pcapToBuffer(out));
  return { superPackets, datagrams };
}
