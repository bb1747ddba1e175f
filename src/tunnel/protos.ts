/**
 * Tunnel protocol names and codes: a leaf module (no imports), so that
 * tables, the dataplane and the control layers can name encapsulations
 * without depending on the encapsulation code.
 */

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
