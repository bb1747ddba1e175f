/** vtep: a userspace overlay dataplane. The package root re-exports the public API. */
export { VtepError, type VtepErrorCode } from './errors.js';
export { PacketPool, POOL_DEFAULTS, MIN_HEADROOM, type PoolOptions } from './packet/pool.js';
export { Batch, BATCH_DEFAULT } from './packet/batch.js';
export * from './wire/addr.js';
export * from './table/index.js';
