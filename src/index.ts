/** vtep: a userspace overlay dataplane. The package root re-exports the public API. */
export { VtepError, type VtepErrorCode } from './errors.js';
export { PacketPool, POOL_DEFAULTS, MIN_HEADROOM, type PoolOptions } from './packet/pool.js';
export { Batch, BATCH_DEFAULT } from './packet/batch.js';
export * from './util/addr.js';
export * from './tunnel/index.js';
export { Reason, REASON_NAMES, REASON_TEXT, REASON_COUNT, reasonName, reasonCountsObject, type ReasonName } from './packet/reasons.js';
export * from './pcap/index.js';
export * from './io/index.js';
export * from './table/index.js';
export * from './dataplane/index.js';
