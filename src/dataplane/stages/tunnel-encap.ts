/**
 * tunnel-encap: prepends the outer headers of the packet's tunnel (rt.out =
 * tunnel index) into the headroom, zero-copy, and queues it on the tunnel's
 * underlay port with the remote's address.
 */
import { Reason } from '../../packet/reasons.js';
import { encapInPool } from '../../tunnel/encap.js';
import { PROTO_NAMES } from '../../tunnel/protos.js';
import { Stage } from '../stage.js';
import type { Runtime } from '../runtime.js';

const TX = 0;

/**
 * Encapsulates u8[s, s+len) of `slot` for tunnel ti and queues it; returns
 * false (nothing queued) when the headroom is too small. Shared with l2-flood.
 */
export function encapAndQueue(rt: Runtime, ti: number, slot: number, s: number, len: number): number {
  const t = rt.tunnels.list[ti]!;
  if (s - slot * rt.pool.slotSize < t.hdrLen) return Reason['no-headroom'];
  const ns = encapInPool(t, rt.pool, s, len, 0);
  return rt.tx.enqueueTunnel(ti, slot, ns, len + (s - ns)) ? 0 : -1;
}

export class TunnelEncapStage extends Stage {
  readonly name = 'tunnel-encap';
  readonly nextNames = ['tx'] as const;
  readonly reasons = [Reason['no-headroom']];

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const b = rt.batch;
    const out = rt.out;
    const pool = rt.pool;
    const slotSize = pool.slotSize;
    const tunnels = rt.tunnels.list;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const ti = out[i]!;
      const t = tunnels[ti]!;
      const s = b.start[i]!;
      const len = b.len[i]!;
      if (s - b.slot[i]! * slotSize < t.hdrLen) {
        this.drop(i, Reason['no-headroom']);
        continue;
      }
      const ns = encapInPool(t, pool, s, len, 0);
      if (rt.tx.enqueueTunnel(ti, b.slot[i]!, ns, len + (s - ns))) this.sent(TX, i);
    }
  }

  override info(i: number): string {
    const rt = this.rt;
    const ti = rt.out[i]!;
    const t = rt.tunnels.list[ti]!;
    return `${PROTO_NAMES[rt.tunnels.proto[ti]!]} id ${t.id} to ${rt.remotes.address(rt.tunnels.remote[ti]!)}`;
  }
}
