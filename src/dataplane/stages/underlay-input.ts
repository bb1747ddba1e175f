/**
 * underlay-input: tunnel packets from an underlay port. Strict decapsulation
 * (every outer header validated, destination ours, source an accepted peer,
 * VNI / key / label bound to a tenant: see src/tunnel/decap.ts), then the
 * inner frame goes to its bridge domain (l2-learn, tagged with the remote it
 * came from) or its IP packet to its VRF (ip-route).
 */
import { Reason } from '../../packet/reasons.js';
import { Eth, EtherType } from '../../wire/ethernet.js';
import { Inner } from '../../tunnel/decap.js';
import { PROTO_NAMES } from '../../tunnel/protos.js';
import { formatIp } from '../../util/addr.js';
import { Stage } from '../stage.js';
import { UnderlayDepth, VRF_TARGET } from '../runtime.js';

const L2_LEARN = 0;
const IP_ROUTE = 1;

export class UnderlayInputStage extends Stage {
  readonly name = 'underlay-input';
  readonly nextNames = ['l2-learn', 'ip-route'] as const;
  readonly reasons = [
    Reason.truncated, Reason['bad-length'], Reason['bad-checksum'], Reason.fragment, Reason['bad-header'], Reason.unsupported,
    Reason['unknown-id'], Reason['unknown-peer'], Reason['not-local'],
  ];
  /** What the last decapsulated packet was, for info(). */
  private lastProto = 0;
  private lastId = 0;

  run(vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const u8 = rt.u8;
    const u32 = rt.pool.u32;
    const b = rt.batch;
    const d = rt.decap;
    const e = rt.ingress;
    const depth = e.depth;
    const addr = b.addr;
    const tc = rt.tunCounters;
    for (let k = 0; k < n; k++) {
      const i = vec[k]!;
      const s = b.start[i]!;
      const len = b.len[i]!;
      let r: number;
      if (depth === UnderlayDepth.FRAME) r = d.frame(u8, s, len, u32);
      else if (depth === UnderlayDepth.UDP) r = d.udpPayload(u8, s, len, e.localPort, e.family, addr, 4 * i);
      else if (depth === UnderlayDepth.RAW4) r = d.ip(u8, s, len, u32);
      else r = d.grePayload(u8, s, len, 6, addr, 4 * i, u32);
      if (r !== 0) {
        this.drop(i, r);
        continue;
      }
      const remote = rt.peerRemote(d.peerFamily, d.peer);
      if (remote >= 0) {
        const c = (remote * 5 + d.proto) * 4;
        tc[c + 2]!++;
        tc[c + 3]! += d.innerLen;
      }
      this.lastProto = d.proto;
      this.lastId = d.id;
      const target = d.target;
      const is = d.innerStart;
      const il = d.innerLen;
      b.start[i] = is;
      b.len[i] = il;
      rt.remote[i] = remote;
      rt.flags[i] = 0;
      if (target < VRF_TARGET) {
        if (d.inner !== Inner.ETHERNET || il < Eth.HEADER_LEN) {
          this.drop(i, d.inner !== Inner.ETHERNET ? Reason.unsupported : Reason.truncated);
          continue;
        }
        rt.owner[i] = target;
        // Learning needs to know where the source is: a remote we could not register is not learned.
        this.to(L2_LEARN, i);
        continue;
      }
      rt.owner[i] = target - VRF_TARGET;
      if (d.inner === Inner.ETHERNET) {
        // Routed VXLAN: an Ethernet frame to us; route its IP packet.
        if (il < Eth.HEADER_LEN) {
          this.drop(i, Reason.truncated);
          continue;
        }
        const type = (u8[is + Eth.TYPE]! << 8) | u8[is + Eth.TYPE + 1]!;
        if (type !== EtherType.IPV4 && type !== EtherType.IPV6) {
          this.drop(i, Reason.unsupported);
          continue;
        }
        rt.l3[i] = is + Eth.HEADER_LEN;
      } else rt.l3[i] = is;
      this.to(IP_ROUTE, i);
    }
  }

  override info(i: number): string {
    const rt = this.rt;
    const r = rt.remote[i]!;
    return `${PROTO_NAMES[this.lastProto]} id ${this.lastId} from ${r >= 0 ? rt.remotes.address(r) : formatIp({ family: rt.decap.peerFamily === 6 ? 6 : 4, words: rt.decap.peer.slice(0, rt.decap.peerFamily === 6 ? 4 : 1) })}`;
  }
}
