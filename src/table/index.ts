/** The forwarding tables: LPM per VRF (IPv4, IPv6), next hops and ECMP groups, the FDB. */
export { Lpm4, type Lpm4Entry, type LpmOptions } from './lpm4.js';
export { Lpm6, type Lpm6Entry } from './lpm6.js';
export type { TrieStats } from './trie.js';
