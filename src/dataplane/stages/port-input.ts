/**
 * port-input: frames from a local port (a VM's TAP, a simulated host). Checks
 * that an Ethernet header is there, tags each frame with its tenant (the
 * port's bridge domain or VRF) and sends it to the bridge or the router.
 */
import { Reason } from '../../packet/reasons.js';
import { Eth } from '../../wire/ethernet.js';
import { Ipv4 } from '../../wire/ipv4.js';
import { Stage } from '../stage.js';
import { PortRole } from '../runtime.js';

const L2_FWD = 0;
const IP_GATEWAY = 1;

export class PortInputStage extends Stage {
  readonly name = 'port-input';
  readonly nextNames = ['l2-fwd', 'ip-gateway'] as const;
  readonly reasons = [Reason.truncated];

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const e = rt.ingress;
    const len = rt.batch.len;
    // Every packet of the batch enters here: tag them all at once.
    const count = rt.batch.count;
    rt.owner.fill(e.owner, 0, count);
    rt.remote.fill(-1, 0, count);
    rt.flags.fill(0, 0, count);
    // A router port needs an IP header after the Ethernet one; ARP (28 bytes) is shorter still than that.
    const bridge = e.role === PortRole.BRIDGE;
    const min = bridge ? Eth.HEADER_LEN : Eth.HEADER_LEN + Ipv4.HEADER_LEN;
    const next = bridge ? L2_FWD : IP_GATEWAY;
    // The common case, every frame long enough and nothing traced, forwards the vector whole.
    let short = 0;
    for (let k = 0; k < n; k++) if (len[vec[k]!]! < min) short++;
    if (short === 0 && !rt.tracing) {
      this.toAll(next, vec, n);
      return;
    }
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      if (len[i]! < min) this.drop(i, Reason.truncated);
      else this.to(next, i);
    }
  }

  /**
   * The whole stage for a batch with nothing to trace, called by the facade in
   * place of a graph pass. Fused because the pipeline benchmark showed the pass
   * of its own (filling the entry vector, then copying it on) cost 3% (bridge)
   * to 3-6% (routed). When no frame is short, tags them all and queues packets
   * 0 .. n-1 at the next stage, counted as run() counts; false, with nothing
   * done, when a frame is short (run() then decides each).
   */
  admit(n: number): boolean {
    const rt = this.rt;
    const e = rt.ingress;
    const len = rt.batch.len;
    const bridge = e.role === PortRole.BRIDGE;
    const min = bridge ? Eth.HEADER_LEN : Eth.HEADER_LEN + Ipv4.HEADER_LEN;
    for (let i = 0; i < n; i++) if (len[i]! < min) return false;
    rt.owner.fill(e.owner, 0, n);
    rt.remote.fill(-1, 0, n);
    rt.flags.fill(0, 0, n);
    const next = bridge ? L2_FWD : IP_GATEWAY;
    const t = this.nextIdx[next]!;
    const v = rt.vecs[t]!;
    const m = rt.vn[t]!;
    for (let i = 0; i < n; i++) v[m + i] = i;
    rt.vn[t] = m + n;
    this.packets[0]! += n;
    this.nextCounts[next]! += n;
    return true;
  }

  override info(i: number): string {
    return `${this.rt.batch.len[i]} bytes on ${this.rt.ingress.name}`;
  }
}
