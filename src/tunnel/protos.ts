/**
 * Tunnel protocol names and codes: a leaf module (it imports only the error
 * type), so that tables, the dataplane and the control layers can name
 * encapsulations without depending on the encapsulation code.
 */
import { invalidArg } from '../errors.js';

/** Tunnel protocol codes (Batch.kind after decap, counters, tenant map). */
export const TunnelProto = { VXLAN: 1, GRE: 2, MPLSOUDP: 3, MPLSOGRE: 4 } as const;
export type TunnelProtoName = 'vxlan' | 'gre' | 'mplsoudp' | 'mplsogre';
export const PROTO_NAMES: readonly string[] = ['', 'vxlan', 'gre', 'mplsoudp', 'mplsogre'];
export const PROTO_BY_NAME: Readonly<Record<string, number>> = { vxlan: 1, gre: 2, mplsoudp: 3, mplsogre: 4 };

/** The field that carries the tenant id of each protocol, as users write it. */
export const ID_FIELD: readonly string[] = ['', 'vni', 'key', 'label', 'label'];
/** Inclusive ranges of the tenant id per protocol (MPLS labels below 16 are reserved). */
export const ID_MIN: readonly number[] = [0, 0, 0, 16, 16];
export const ID_MAX: readonly number[] = [0, 0xffffff, 0xffffffff, 0xfffff, 0xfffff];

/** Maps a protocol name to its code; throws ERR_INVALID_ARG naming `field`. */
export function protoCode(name: unknown, field = 'proto'): number {
  const p = typeof name === 'string' ? PROTO_BY_NAME[name] : undefined;
  if (p === undefined) throw invalidArg(field, name, 'one of vxlan, gre, mplsoudp, mplsogre');
  return p;
}
