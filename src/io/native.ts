/**
 * The native addon's surface, declared once. Arguments are validated by the
 * TypeScript callers before they reach these functions.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeAddon {
  /** Version of the native surface; must equal NATIVE_ABI. */
  abiVersion(): number;
}

export const NATIVE_ABI = 1;

let addon: NativeAddon | undefined;

/** The package root: dist/src/io/native.js lives three levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Loads the addon once (node-gyp-build finds build/Release or a prebuild). */
export function native(): NativeAddon {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    addon = load(PACKAGE_ROOT);
  }
  return addon;
}
