/**
 * l2-fwd: learning and forwarding in a bridge domain, in one pass (as the
 * kernel's bridge does them, br_handle_frame_finish): each frame's source MAC
 * is learned (at the local port, or at the remote VTEP it came from; a group
 * source is filtered), ARP and neighbor discovery go to arp-term when the
 * domain suppresses ARP, and the destination MAC's FDB entry decides: a local
 * port (queued), a remote VTEP (to tunnel-encap), or nobody known / a group
 * address (to l2-flood).
 *
 * Learning was a stage of its own before l2-fwd (VPP's l2-learn); fused here
 * because the second pass over every bridged frame cost about 3% on the
 * bridge and decap paths (bench pipeline --against, A/A-corrected).
 */
import { Reason } from '../../packet/reasons.js';
import { i32 } from '../../wire/bytes.js';
import { Eth, EtherType } from '../../wire/ethernet.js';
import { isVlanTpid } from '../../wire/vlan.js';
import { FDB_REMOTE } from '../../table/fdb.js';
import { formatMac, readMac } from '../../util/addr.js';
import { Stage } from '../stage.js';
import { PktFlag, PortRole } from '../runtime.js';

const TX = 0;
const TUNNEL_ENCAP = 1;
const L2_FLOOD = 2;
const ARP_TERM = 3;

export class L2FwdStage extends Stage {
  readonly name = 'l2-fwd';
  readonly nextNames = ['tx', 'tunnel-encap', 'l2-flood', 'arp-term'] as const;
  readonly reasons = [Reason.filtered, Reason.loop];
  /** The current run's batch entries (one local port), queued together. */
  private runVec = new Uint16Array(256);

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const b = rt.batch;
    const owner = rt.owner;
    const remote = rt.remote;
    const out = rt.out;
    const fdb = rt.fdb;
    const flags = rt.flags;
    const ingress = rt.ingress.id;
    const fromUnderlay = rt.ingress.role === PortRole.UNDERLAY;
    // Frames of a vector mostly share their source (the VM behind the port,
    // or a busy remote host): learned once per run of equal (bridge, source, place).
    let lBd = -1;
    let lHi = -1;
    let lLo = -1;
    let lAt = -1;
    // Frames of a vector mostly share their destination: the last lookup (and
    // the tunnel it gave) is reused for an equal (bridge, MAC).
    let cBd = -1;
    let cHi = -1;
    let cLo = -1;
    let cached = -1;
    let cTunnel = -1;
    const tracing = rt.tracing;
    const tE = this.nextIdx[TUNNEL_ENCAP]!;
    const vE = rt.vecs[tE]!;
    let nE = rt.vn[tE]!;
    let nTx = 0;
    // Frames for a local port are queued a run of one port at a time (tx.enqueueRun): a call per
    // packet to enqueue() cost the decap path about 5% (bench pipeline --against).
    if (this.runVec.length < n) this.runVec = new Uint16Array(n);
    const rv = this.runVec;
    let m = 0;
    let runPort = -1;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const s = b.start[i]!;
      const bd = owner[i]!;
      const br = rt.bridges[bd]!;
      const srcHi = (u8[s + Eth.SRC]! << 8) | u8[s + Eth.SRC + 1]!;
      if ((srcHi & 0x100) !== 0) {
        this.drop(i, Reason.filtered); // a group MAC is never a source
        continue;
      }
      if (br.learn) {
        const r = remote[i]!;
        const at = r >= 0 ? FDB_REMOTE | r : ingress;
        // Signed: an unsigned word from 2^31 up would be a heap number in the call (the FDB keys it as int32).
        const srcLo = i32(u8, s + Eth.SRC + 2);
        // From the underlay, only a source we know the remote of is learned.
        if ((r >= 0 || !fromUnderlay) && (srcHi !== lHi || srcLo !== lLo || at !== lAt || bd !== lBd)) {
          fdb.learn(bd, srcHi, srcLo, at); // the time: the batch's reading (rt.time), no number passed
          lHi = srcHi;
          lLo = srcLo;
          lAt = at;
          lBd = bd;
          cBd = -1; // the entry learned may be the cached destination's
        }
      }
      // Only ARP, IPv6 (neighbor discovery) and tagged frames can concern arp-term; one it passed
      // back (flagged) is forwarded. Its source was learned again above: the same entry, refreshed.
      const type = (u8[s + Eth.TYPE]! << 8) | u8[s + Eth.TYPE + 1]!;
      if (br.arpSuppress && (type === EtherType.ARP || type === EtherType.IPV6 || isVlanTpid(type)) && (flags[i]! & PktFlag.ARP_TERM) === 0) {
        flags[i] = flags[i]! | PktFlag.ARP_TERM;
        this.to(ARP_TERM, i);
        continue;
      }
      const dstHi = (u8[s + Eth.DST]! << 8) | u8[s + Eth.DST + 1]!;
      if ((dstHi & 0x100) !== 0) {
        this.to(L2_FLOOD, i);
        continue;
      }
      const dstLo = i32(u8, s + Eth.DST + 2); // signed: no heap number in the lookup call (keyed as int32)
      if (dstHi !== cHi || dstLo !== cLo || bd !== cBd) {
        cached = fdb.lookup(bd, dstHi, dstLo);
        cBd = bd;
        cHi = dstHi;
        cLo = dstLo;
        cTunnel = -1;
      }
      const v = cached;
      if (v < 0) this.to(L2_FLOOD, i);
      else if ((v & FDB_REMOTE) !== 0) {
        // Split horizon: what came from the underlay never goes back into it.
        if (remote[i]! >= 0) this.drop(i, Reason.loop);
        else {
          if (cTunnel < 0) cTunnel = rt.bridgeTunnel(br, v & (FDB_REMOTE - 1));
          out[i] = cTunnel;
          vE[nE++] = i;
          if (tracing) this.traced(TUNNEL_ENCAP, i);
        }
      } else if (v === ingress && remote[i]! < 0) this.drop(i, Reason.loop);
      else {
        if (v !== runPort) {
          if (m > 0) nTx += this.queueRun(runPort, rv, m);
          runPort = v;
          m = 0;
        }
        rv[m++] = i;
      }
    }
    if (m > 0) nTx += this.queueRun(runPort, rv, m);
    rt.vn[tE] = nE;
    this.nextCounts[TX]! += nTx;
  }

  /** Queues the run rv[0 .. m) on local port `port`; returns how many were queued. */
  private queueRun(port: number, rv: Uint16Array, m: number): number {
    const q = this.rt.tx.enqueueRun(port, rv, m);
    if (q > 0 && this.rt.tracing) for (let k = 0; k < m; k++) this.traced(TX, rv[k]!);
    return q;
  }

  override info(i: number): string {
    const rt = this.rt;
    const s = rt.batch.start[i]!;
    const br = rt.bridges[rt.owner[i]!]!;
    const r = rt.remote[i]!;
    const src = `src ${formatMac(readMac(rt.u8, s + Eth.SRC))} at ${r >= 0 ? `remote ${rt.remotes.address(r)}` : `port ${rt.ingress.name}`}`;
    const mac = readMac(rt.u8, s + Eth.DST);
    const v = rt.fdb.lookup(rt.owner[i]!, Math.floor(mac / 2 ** 32), mac >>> 0);
    const where = v < 0 ? 'unknown' : (v & FDB_REMOTE) !== 0 ? `remote ${rt.remotes.address(v & (FDB_REMOTE - 1))}` : `port ${rt.ports[v]?.name ?? v}`;
    return `bridge ${br.name} ${src}, dst ${formatMac(mac)} -> ${where}`;
  }
}
