/**
 * l2-learn: learns each frame's source MAC in its bridge domain's FDB (at the
 * local port, or at the remote VTEP it came from), before any forwarding of
 * the vector, as VPP's l2-learn does. A group MAC is never a source.
 */
import { Reason } from '../../packet/reasons.js';
import { i32 } from '../../wire/bytes.js';
import { Eth, EtherType } from '../../wire/ethernet.js';
import { isVlanTpid } from '../../wire/vlan.js';
import { FDB_REMOTE } from '../../table/fdb.js';
import { formatMac, readMac } from '../../util/addr.js';
import { Stage } from '../stage.js';
import { PortRole } from '../runtime.js';

const ARP_TERM = 0;
const L2_FWD = 1;

export class L2LearnStage extends Stage {
  readonly name = 'l2-learn';
  readonly nextNames = ['arp-term', 'l2-fwd'] as const;
  readonly reasons = [Reason.filtered];

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const start = rt.batch.start;
    const owner = rt.owner;
    const remote = rt.remote;
    const fdb = rt.fdb;
    const ingress = rt.ingress.id;
    const fromUnderlay = rt.ingress.role === PortRole.UNDERLAY;
    // Frames of a vector mostly share their source (the VM behind the port,
    // or a busy remote host): learn once per run of equal (bridge, source, place).
    let lastBd = -1;
    let lastHi = -1;
    let lastLo = -1;
    let lastAt = -1;
    // Most frames go to l2-fwd: its vector is appended to through locals (see Stage.traced).
    const tracing = rt.tracing;
    const tF = this.nextIdx[L2_FWD]!;
    const vF = rt.vecs[tF]!;
    let nF = rt.vn[tF]!;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const s = start[i]!;
      const br = rt.bridges[owner[i]!]!;
      const srcHi = (u8[s + Eth.SRC]! << 8) | u8[s + Eth.SRC + 1]!;
      if ((srcHi & 0x100) !== 0) {
        this.drop(i, Reason.filtered);
        continue;
      }
      if (br.learn) {
        const r = remote[i]!;
        const at = r >= 0 ? FDB_REMOTE | r : ingress;
        // Signed: an unsigned word from 2^31 up would be a heap number in the call (the FDB keys it as int32).
        const srcLo = i32(u8, s + Eth.SRC + 2);
        // From the underlay, only a source we know the remote of is learned.
        if ((r >= 0 || !fromUnderlay) && (srcHi !== lastHi || srcLo !== lastLo || at !== lastAt || br.index !== lastBd)) {
          fdb.learn(br.index, srcHi, srcLo, at); // the time: the batch's reading (rt.time), no number passed
          lastHi = srcHi;
          lastLo = srcLo;
          lastAt = at;
          lastBd = br.index;
        }
      }
      // Only ARP, IPv6 (neighbor discovery) and tagged frames can concern arp-term.
      const type = (u8[s + Eth.TYPE]! << 8) | u8[s + Eth.TYPE + 1]!;
      if (br.arpSuppress && (type === EtherType.ARP || type === EtherType.IPV6 || isVlanTpid(type))) this.to(ARP_TERM, i);
      else {
        vF[nF++] = i;
        if (tracing) this.traced(L2_FWD, i);
      }
    }
    rt.vn[tF] = nF;
  }

  override info(i: number): string {
    const rt = this.rt;
    const br = rt.bridges[rt.owner[i]!]!;
    const r = rt.remote[i]!;
    return `bridge ${br.name} src ${formatMac(readMac(rt.u8, rt.batch.start[i]! + Eth.SRC))} at ${r >= 0 ? `remote ${rt.remotes.address(r)}` : `port ${rt.ingress.name}`}`;
  }
}
