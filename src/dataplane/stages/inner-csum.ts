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
      if (b.gsoType[i] !== 0) {
        // A super-frame: its checksum stays partial, for the kernel that segments it (NEEDS_CSUM).
        this.to((flags[i]! & PktFlag.ROUTED) === 0 ? L2_LEARN : IP_ROUTE, i);
        continue;
      }
      if ((flags[i]! & PktFlag.ROUTED) === 0) {
        if (completePartial(u8, s, b.len[i]!, words) === CsumStatus.COMPLETED) this.completed++;
        this.to(L2_LEARN, i);
      } else {
        if (completePartialIp(u8, rt.l3[i]!, s + b.len[i]!, words) === CsumStatus.COMPLETED) this.completed++;
        this.to(IP_ROUTE, i);
      }
    }
  }

  override counters(): Record<string, number> {
    return { completed: this.completed };
  }
}
