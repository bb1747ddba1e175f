/** The forwarding tables: LPM per VRF (IPv4, IPv6), next hops and ECMP groups, remote VTEPs, the FDB. */
export { Lpm4, type Lpm4Entry, type LpmOptions } from './lpm4.js';
export { Lpm6, type Lpm6Entry } from './lpm6.js';
export type { TrieStats } from './trie.js';
export { Remotes, type RemotesOptions, type RemoteEntry } from './remotes.js';
export {
  NextHops,
  NextHopKind,
  Route,
  ROUTE_GROUP,
  type NextHopKindCode,
  type NextHopSpec,
  type NextHopInfo,
  type GroupOptions,
  type NextHopsOptions,
} from './nexthop.js';
export { Vrf, Vrfs, type VrfsOptions } from './vrf.js';
export {
  Fdb,
  FdbValue,
  FDB_REMOTE,
  Learn,
  MAX_BD,
  type LearnStatus,
  type FdbOptions,
  type FdbEvents,
  type FdbEntry,
  type FdbCounters,
} from './fdb.js';
