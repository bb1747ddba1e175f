export { Tunnel, TunnelProto, PROTO_NAMES, Depth, Payload, protoCode, type TunnelOptions, type TunnelProtoName, type DepthName, type PayloadName } from './tunnel.js';
export { encapInPlace, encapInPool, encapBatch, encapBatchVia, needsHash, payloadHash } from './encap.js';
export { Decapsulator, decapBatch, RxDepth, Inner, INNER_NAMES, type DecapConfig } from './decap.js';
export { flowHash, flowHashIp, flowHashPool, entropyPort, fmix32 } from './flowhash.js';
export { IdMap, Addr6Map } from './idmap.js';
export { completeChecksum, finishPartial, CsumStatus, CSUM_STATUS_NAMES } from './csum.js';
export { segment, Segments, SegFlag, segmentCount } from './segment.js';
export { Coalescer, type CoalescerOptions } from './coalesce.js';
