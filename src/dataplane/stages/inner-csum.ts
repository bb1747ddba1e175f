/**
 * inner-csum: finishes the inner TCP/UDP checksums that a Linux VTEP left
 * partial. A kernel peer sending from a local socket leaves the checksum to
 * the device (CHECKSUM_PARTIAL: the field holds only the pseudo-header sum),
 * a veth and the VXLAN driver keep it so, and the frame arrives here with a
 * checksum no host would accept: TCP through such a peer would not flow at
 * all. Only a field equal to the pseudo-header sum is looked at further (the
 * payload summed); if the full checksum verifies it is left alone, else it is
 * finished. Any other field, correct or corrupt, is left as it is for the
 * receiver to judge (see src/tunnel/csum.ts), so a corrupt packet is never
 * made valid and a correct one never changed.
 */
import { completePartial, completePartialIp, CsumStatus } from '../../tunnel/csum.js';
import { u16 } from '../../wire/bytes.js';
import { Eth, EtherType } from '../../wire/ethernet.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Ipv6 } from '../../wire/ipv6.js';
import { IpProto } from '../../wire/ip.js';
import { Stage } from '../stage.js';
import { PktFlag } from '../runtime.js';

const L2_LEARN = 0;
const IP_ROUTE = 1;

export class InnerCsumStage extends Stage {
  readonly name = 'inner-csum';
  readonly nextNames = ['l2-learn', 'ip-route'] as const;
  readonly reasons = [] as const;
  /** Checksums finished here. */
  completed = 0;

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const words = rt.pool.u32;
    const b = rt.batch;
    const flags = rt.flags;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const s = b.start[i]!;
      const end = s + b.len[i]!;
      const routed = (flags[i]! & PktFlag.ROUTED) !== 0;
      // A super-frame keeps its partial checksum, for the kernel that segments it (NEEDS_CSUM).
      if (b.gsoType[i] === 0) {
        // Fast path (every packet): untagged IPv4/IPv6 TCP/UDP whose field is not the pseudo-header
        // sum needs nothing; only the rest goes through the full walk in csum.ts.
        const l3 = routed ? rt.l3[i]! : s + Eth.HEADER_LEN;
        const type = routed ? 0 : (u8[s + Eth.TYPE]! << 8) | u8[s + Eth.TYPE + 1]!;
        const p = routed || type === EtherType.IPV4 || type === EtherType.IPV6 ? mayBePartial(u8, l3, end) : 1;
        if (p !== 0 && (routed ? completePartialIp(u8, l3, end, words) : completePartial(u8, s, end - s, words)) === CsumStatus.COMPLETED) this.completed++;
      }
      this.to(routed ? IP_ROUTE : L2_LEARN, i);
    }
  }

  override counters(): Record<string, number> {
    return { completed: this.completed };
  }
}

/**
 * 0 when the IP packet at u8[l3] certainly needs no finishing (not TCP/UDP,
 * a fragment, UDP/IPv4 without checksum, or a field other than the folded
 * pseudo-header sum); 1 when it may (the caller checks it fully). Reads only
 * the headers: no call, no payload.
 */
function mayBePartial(u8: Uint8Array, l3: number, end: number): number {
  if (end - l3 < Ipv6.HEADER_LEN) return 1;
  const ver = u8[l3]! >>> 4;
  let proto: number;
  let l4: number;
  let l4len: number;
  let sum: number;
  if (ver === 4) {
    proto = u8[l3 + Ipv4.PROTO]!;
    if ((proto !== IpProto.TCP && proto !== IpProto.UDP) || (u16(u8, l3 + Ipv4.FLAGS_FRAG) & 0x3fff) !== 0) return 0;
    const hl = (u8[l3]! & 0x0f) << 2;
    l4 = l3 + hl;
    l4len = u16(u8, l3 + Ipv4.TOTAL_LEN) - hl;
    sum = u16(u8, l3 + 12) + u16(u8, l3 + 14) + u16(u8, l3 + 16) + u16(u8, l3 + 18);
  } else if (ver === 6) {
    proto = u8[l3 + Ipv6.NEXT_HEADER]!;
    if (proto !== IpProto.TCP && proto !== IpProto.UDP) return 1; // extension headers: the full walk decides
    l4 = l3 + Ipv6.HEADER_LEN;
    l4len = u16(u8, l3 + Ipv6.PAYLOAD_LEN);
    sum = 0;
    for (let q = 8; q < 40; q += 2) sum += u16(u8, l3 + q);
  } else return 0;
  if (l4len < (proto === IpProto.TCP ? 20 : 8) || l4 + l4len > end) return 1;
  if (proto === IpProto.UDP) l4len = u16(u8, l4 + 4);
  const field = u16(u8, l4 + (proto === IpProto.TCP ? 16 : 6));
  if (proto === IpProto.UDP && ver === 4 && field === 0) return 0;
  sum += proto + l4len;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return field === sum ? 1 : 0;
}
