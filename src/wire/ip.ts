/** IP protocol numbers (IANA), shared by the IPv4 protocol and IPv6 next-header fields. */
export const IpProto = {
  HOPOPTS: 0, // IPv6 hop-by-hop options
  ICMP: 1,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43, // IPv6 routing header
  FRAGMENT: 44, // IPv6 fragment header
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59, // IPv6 no next header
  DSTOPTS: 60, // IPv6 destination options
  MPLS_IN_IP: 137,
  SCTP: 132,
  UDPLITE: 136,
} as const;

/** True for transport protocols whose first 4 bytes are source and destination ports. */
export function hasPorts(proto: number): boolean {
  return proto === IpProto.TCP || proto === IpProto.UDP || proto === IpProto.SCTP || proto === IpProto.UDPLITE;
}
