/**
 * Drop reasons: one declarative list, from which the reason codes, their names
 * (the `reason` strings of `vtep decap --json` and of stats()) and the counter
 * arrays come (as VPP's vxlan_error.def). Code 0 means "not dropped".
 *
 * Codes are stable within a process, not a wire format: outside, use names.
 */
import { STATUS_NAMES } from '../wire/status.js';

const LIST = [
  // [name, what it means]
  // The wire layer's status codes first, in their order (src/wire/status.ts).
  ['truncated', 'packet ends before a header it announces'],
  ['bad-length', 'a length field disagrees with the bytes present'],
  ['bad-checksum', 'IPv4 header, UDP or GRE checksum does not verify'],
  ['fragment', 'an IP fragment (tunnels are not reassembled)'],
  ['bad-header', 'a header field has a value the RFC forbids'],
  ['unsupported', 'a protocol, port or payload type we do not carry'],
  ['unknown-id', 'no tenant for this VNI, GRE key or MPLS label'],
  ['unknown-peer', 'outer source is not an accepted peer'],
  ['not-local', 'outer destination is not one of our addresses'],
  ['no-headroom', 'not enough headroom to prepend the outer headers'],
  ['no-route', 'no route in the VRF for the destination'],
  ['no-neighbor', 'the next hop did not answer ARP / neighbor solicitation in time'],
  ['no-port', 'the output port is missing or down'],
  ['ttl-expired', 'TTL or hop limit reached zero on forwarding'],
  ['no-buffer', 'no free packet slot (pool exhausted)'],
  ['tx-error', 'the output port refused the packet'],
  ['loop', 'would go back out where it came from'],
  ['filtered', 'a frame the bridge or router must not forward (e.g. reserved MAC)'],
  ['link-down', 'the output port exists but its link is down (guest interface down, TAP being moved)'],
  ['too-big', 'larger than the underlay MTU once encapsulated (answered with ICMP where allowed)'],
] as const;

// The wire layer's codes must be the first reasons, in order: checked once at load.
STATUS_NAMES.forEach((name, code) => {
  if (code > 0 && LIST[code - 1]![0] !== name) throw new Error(`reasons: entry ${code} is ${LIST[code - 1]![0]}, the wire status ${name}`);
});

export type ReasonName = (typeof LIST)[number][0];

/** Number of codes, 0 included: size of a counter array indexed by code. */
export const REASON_COUNT = LIST.length + 1;

/** Name -> code, e.g. Reason['bad-checksum']. */
export const Reason = Object.freeze(
  Object.fromEntries(LIST.map(([name], i) => [name, i + 1])) as { readonly [K in ReasonName]: number },
);

/** Code -> name; index 0 is ''. */
export const REASON_NAMES: readonly string[] = ['', ...LIST.map(([name]) => name)];

/** Code -> description. */
export const REASON_TEXT: readonly string[] = ['', ...LIST.map(([, text]) => text)];

export function reasonName(code: number): string {
  return REASON_NAMES[code] ?? `reason-${code}`;
}

/** A counter array sized for every reason code. */
export function reasonCounters(): Float64Array {
  return new Float64Array(REASON_COUNT);
}

/** Non-zero counters as a plain { name: count } object. */
export function reasonCountsObject(counters: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 1; i < REASON_COUNT; i++) {
    const v = counters[i] ?? 0;
    if (v !== 0) out[REASON_NAMES[i]!] = v;
  }
  return out;
}
