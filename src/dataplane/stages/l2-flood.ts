/**
 * l2-flood: broadcast, unknown unicast and multicast in a bridge domain: to
 * every local port of the domain but the ingress, and, for frames from local
 * ports only (split horizon), to every remote VTEP of the flood list by
 * head-end replication. Local copies share the slot (reference counts); over
 * UDP sockets the tunnel header is the same for every remote, so one
 * encapsulated frame is sent to each; other depths carry per-remote headers
 * and get a copy for each remote but the last. A guest's super-frame goes
 * whole to local ports that take it and is cut for each remote (gso-segment).
 */
import { Reason } from '../../packet/reasons.js';
import { encapInPool, payloadHash32 } from '../../tunnel/encap.js';
import { Depth } from '../../tunnel/tunnel.js';
import { Stage } from '../stage.js';
import { encapAndQueue } from './tunnel-encap.js';
import { GsoSegmenter } from './gso-segment.js';
import { finishGuestCsum } from './inner-csum.js';
import type { Runtime } from '../runtime.js';

const TX = 0;

export class L2FloodStage extends Stage {
  readonly name = 'l2-flood';
  readonly nextNames = ['tx'] as const;
  readonly reasons = [Reason['no-buffer'], Reason['no-headroom']];
  private readonly seg: GsoSegmenter;

  constructor(rt: Runtime) {
    super(rt);
    this.seg = new GsoSegmenter(rt);
  }

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const b = rt.batch;
    const tx = rt.tx;
    const pool = rt.pool;
    const ingress = rt.ingress.id;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const br = rt.bridges[rt.owner[i]!]!;
      const slot = b.slot[i]!;
      const s = b.start[i]!;
      const len = b.len[i]!;
      const fromRemote = rt.remote[i]! >= 0;
      let copies = 0;
      // A partial checksum is finished once, before any copy is queued: copies share the bytes.
      if (b.vflags[i] !== 0 && b.gsoType[i] === 0) finishGuestCsum(rt, i);
      const ports = br.ports;
      for (let p = 0; p < ports.length; p++) {
        const port = ports[p]!;
        if ((port !== ingress || fromRemote) && tx.enqueue(port, slot, s, len, i)) copies++;
      }
      const list = fromRemote ? EMPTY : rt.fdb.flood(br.index);
      const nr = list.length;
      if (nr > 0 && b.gsoType[i] !== 0) {
        for (let r = 0; r < nr; r++) {
          const st = this.seg.encapAndQueue(i, rt.bridgeTunnel(br, list[r]!));
          if (st === 0) copies++;
          else {
            this.dropCounts[st]!++;
            rt.dropOther(ingress, st);
          }
        }
      } else if (nr > 0) {
        const t0 = rt.bridgeTunnel(br, list[0]!);
        const first = rt.tunnels.list[t0]!;
        if (first.depth === Depth.UDP) {
          if (s - slot * pool.slotSize < first.hdrLen) {
            // The local copies went out; the remotes' copy cannot: counted, charged to the ingress.
            this.dropCounts[Reason['no-headroom']]!++;
            rt.dropOther(ingress, Reason['no-headroom']);
            this.sent(TX, i, copies);
            continue;
          }
          const h = payloadHash32(first, pool.u8, s, len);
          const ns = encapInPool(first, pool, s, len, h);
          const hl = len + (s - ns);
          for (let r = 0; r < nr; r++) if (tx.enqueueTunnel(rt.bridgeTunnel(br, list[r]!), slot, ns, hl, h)) copies++;
        } else {
          for (let r = 0; r < nr; r++) {
            const ti = rt.bridgeTunnel(br, list[r]!);
            if (r === nr - 1) {
              const st = encapAndQueue(rt, ti, slot, s, len);
              if (st === 0) copies++;
              else if (st > 0) {
                this.dropCounts[st]!++;
                rt.dropOther(ingress, st);
              }
              break;
            }
            const c = pool.alloc();
            if (c < 0) {
              this.dropCounts[Reason['no-buffer']]!++;
              rt.dropOther(ingress, Reason['no-buffer']);
              continue;
            }
            const cs = pool.dataStart(c);
            pool.u8.copyWithin(cs, s, s + len);
            if (encapAndQueue(rt, ti, c, cs, len) === 0) copies++;
            pool.free(c); // the queue holds its own reference
          }
        }
      }
      this.sent(TX, i, copies);
    }
  }

  override info(i: number): string {
    const rt = this.rt;
    const br = rt.bridges[rt.owner[i]!]!;
    return `bridge ${br.name}: ${br.ports.length} local ports, ${rt.remote[i]! >= 0 ? 0 : rt.fdb.flood(br.index).length} remotes`;
  }
}

const EMPTY = new Uint32Array(0);
