/** The fleet control plane on etcd (docs/control.md). */
export { EtcdControl, startControl, type EtcdControlOptions, type ControlStatus } from './etcd.js';
export { parseControlConfig, type ControlConfig, type EtcdOptions } from './options.js';
export { MemoryDataplane } from './memdp.js';
export { Keys, MODEL_VERSION, parseRecord, type HostRecord, type MacRecord, type RouteRecord } from './model.js';
export type { ReconcileReport } from './program.js';
