/**
 * Test-only: a guest's TCP super-frame as a TAP with offloads hands it over
 * (virtio gso_type TCPV4, gso_size, NEEDS_CSUM), and a check of a TCP
 * checksum inside an encapsulated frame.
 */
import { Batch } from '../../src/packet/batch.js';
import type { Dataplane } from '../../src/dataplane/dataplane.js';
import { inetChecksum, ethHeader, ipv4Header } from './frames.js';

export const MSS = 1400;
export const PAYLOAD = 4000; // three segments: 1400, 1400, 1200
export const ACK_PSH_CWR = 0x10 | 0x08 | 0x80;

/**
 * Ethernet[IPv4 id 0x1234 DF[TCP 1000 -> 5001 seq 0x10000000 ACK|PSH|CWR, checksum = pseudo-header sum[4000 bytes]]]
 * vm1 (02:00:0a:00:00:01, 10.0.0.1) -> vm2 (02:00:0a:00:00:02, 10.0.0.2).
 */
export function superFrame(payload = PAYLOAD): Uint8Array {
  const tcp = [0x03, 0xe8, 0x13, 0x89, 0x10, 0, 0, 0, 0, 0, 0, 1, 0x50, ACK_PSH_CWR, 0xff, 0xff, 0, 0, 0, 0];
  const data = Array.from({ length: payload }, (_, k) => (k * 7 + 3) & 0xff);
  const f = Uint8Array.from([...ethHeader(0x02000a000002, 0x02000a000001, 0x0800), ...ipv4Header({ src: 0x0a000001, dst: 0x0a000002, protocol: 6, payloadLen: 20 + payload, id: 0x1234 }), ...tcp, ...data]);
  // NEEDS_CSUM: the field holds the folded pseudo-header sum (what the guest's kernel leaves).
  let s = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 20 + payload;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f[14 + 20 + 16] = s >>> 8;
  f[14 + 20 + 17] = s & 0xff;
  return f;
}

/** Injects `frame` on vm1 as a TAP with offloads hands it over. */
export function injectSuper(dp: Dataplane, frame: Uint8Array, gsoSize = MSS, port = 'vm1'): void {
  const b = new Batch(dp.pool, 1);
  b.pushCopy(frame);
  b.gsoType[0] = 1; // TCPV4
  b.gsoSize[0] = gsoSize;
  b.hdrLen[0] = 54;
  b.vflags[0] = 1; // NEEDS_CSUM
  b.csumStart[0] = 34;
  b.csumOffset[0] = 16;
  dp.inject(port, b);
}

export /** TCP checksum of the segment inside an encapsulated frame verifies (pseudo-header + segment sum to 0xffff). */
function tcpSumOk(f: Uint8Array, ip: number): boolean {
  const total = (f[ip + 2]! << 8) | f[ip + 3]!;
  const l4len = total - 20;
  const pseudo = [...f.subarray(ip + 12, ip + 20), 0, 6, l4len >>> 8, l4len & 0xff];
  return inetChecksum(Uint8Array.from([...pseudo, ...f.subarray(ip + 20, ip + total)])) === 0;
}

