/** Namespaces for tests: the project's own helper (src/util/netns.ts). */
export * from '../../src/util/netns.js';
