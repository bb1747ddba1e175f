/** Namespace topologies for the e2e tests: the project's own helpers (src/util/topo.ts). */
export * from '../../src/util/topo.js';
