/**
 * The tenant map: which bridge domain or VRF a tunnel id belongs to, and the
 * one place that binds ids in the decapsulator.
 *
 * Id spaces, and why: a VXLAN VNI is one space (bridges and routed-VXLAN VRFs
 * share it: RFC 7348 has one VNI per segment); a GRE key is one space; an MPLS
 * label is one space for MPLS-over-UDP and MPLS-over-GRE together, because a
 * label is a platform-wide label (RFC 3031 §3.14; RFC 7510 only changes the
 * transport) and the decapsulator looks labels up in one table whichever
 * transport brought them. A second binding of an id already taken in its space
 * is refused with ERR_EXISTS naming both owners: a label that silently meant
 * another tenant would leak traffic between tenants.
 */
import { VtepError } from '../errors.js';
import { TunnelProto, PROTO_NAMES, ID_FIELD } from '../tunnel/protos.js';
import type { Decapsulator } from '../tunnel/decap.js';

/** Id spaces: VNI, GRE key, MPLS label. */
const SPACE_OF = [0, 0, 1, 2, 2];
const SPACE_NAMES = ['VNI', 'GRE key', 'MPLS label'];

export class TenantMap {
  /** Per space: id -> owner description ("bridge vxlan-42", "VRF red"). */
  private readonly owners = [new Map<number, string>(), new Map<number, string>(), new Map<number, string>()];

  constructor(private readonly decap: Decapsulator) {}

  /**
   * Binds (proto, id) to a decap target (bridge index, or VRF_TARGET + VRF
   * index) carrying an Ethernet or an IP payload. `owner` names the tenant in
   * messages. Throws ERR_EXISTS when the id is taken in its space.
   */
  bind(proto: number, id: number, target: number, payload: 'ethernet' | 'ip', owner: string): void {
    this.check(proto, id, owner);
    this.owners[SPACE_OF[proto]!]!.set(id, owner);
    if (proto === TunnelProto.VXLAN) this.decap.bindVni(id, target);
    else if (proto === TunnelProto.GRE) this.decap.bindKey(id, target);
    else this.decap.bindLabel(id, payload, target);
  }

  /** Throws ERR_EXISTS, naming both owners, when (proto, id) is taken in its space. */
  check(proto: number, id: number, owner: string): void {
    const space = SPACE_OF[proto]!;
    const other = this.owners[space]!.get(id);
    if (other !== undefined) {
      throw new VtepError('ERR_EXISTS', `${ID_FIELD[proto]}: ${SPACE_NAMES[space]} ${id} (${PROTO_NAMES[proto]}) of ${owner} is already used by ${other}`);
    }
  }

  /** The owner of (proto, id), if bound. */
  ownerOf(proto: number, id: number): string | undefined {
    return this.owners[SPACE_OF[proto]!]!.get(id);
  }

  unbind(proto: number, id: number): void {
    if (!this.owners[SPACE_OF[proto]!]!.delete(id)) return;
    if (proto === TunnelProto.VXLAN) this.decap.unbindVni(id);
    else if (proto === TunnelProto.GRE) this.decap.unbindKey(id);
    else this.decap.unbindLabel(id);
  }
}
