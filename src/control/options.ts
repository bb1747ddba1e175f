/**
 * The `control` section of a vSwitch config, validated like the rest of it
 * (errors name the field path and the value):
 *
 *   "control": { "host": "h1",
 *                "etcd": { "endpoints": ["https://198.18.0.254:2379"], "prefix": "/vtep/", "leaseTtl": 10,
 *                          "ca": "ca.pem", "cert": "h1.pem", "key": "h1-key.pem",
 *                          "username": "h1", "password": "..." } }
 */
import { invalidConfig } from '../errors.js';
import { HOST_NAME } from './model.js';

export interface EtcdOptions {
  endpoints: string[];
  /** Key prefix of the fleet; ends with "/". Default "/vtep/". */
  prefix: string;
  /** Lease TTL in seconds: how long a dead host's entries outlive it. Default 10. */
  leaseTtl: number;
  /** PEM files: the CA that signed etcd's certificate, this host's client certificate and key. */
  ca?: string;
  cert?: string;
  key?: string;
  username?: string;
  password?: string;
  /** Writes to etcd per second at most (MAC floods are coalesced, not forwarded). Default 1000. */
  maxWritesPerSecond: number;
}

export interface ControlConfig {
  /** This host's name in the store. Default: the underlay address. */
  host: string | undefined;
  etcd: EtcdOptions;
  /** Seconds between reconciliation passes; 0 = none. Default 60. */
  reconcileSeconds: number;
}

type Obj = Record<string, unknown>;

function obj(path: string, v: unknown): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidConfig(path, v, 'an object');
  return v as Obj;
}
function onlyKeys(path: string, o: Obj, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw invalidConfig(`${path}.${k}`, o[k], `a known field (${path} takes ${keys.join(', ')})`);
}
function str(path: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw invalidConfig(path, v, 'a non-empty string');
  return v;
}
function int(path: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidConfig(path, v, `an integer in ${min}..${max}`);
  return v;
}

/** Validates `control` (path "control"); throws VtepError ERR_INVALID_CONFIG. */
export function parseControlConfig(v: unknown, path = 'control'): ControlConfig {
  const o = obj(path, v);
  onlyKeys(path, o, ['host', 'etcd', 'reconcileSeconds']);
  let host: string | undefined;
  if (o.host !== undefined) {
    if (typeof o.host !== 'string' || !HOST_NAME.test(o.host)) throw invalidConfig(`${path}.host`, o.host, 'a host name of 1-64 letters, digits, "_", ".", ":" or "-"');
    host = o.host;
  }
  const e = obj(`${path}.etcd`, o.etcd);
  const ep = `${path}.etcd`;
  onlyKeys(ep, e, ['endpoints', 'prefix', 'leaseTtl', 'ca', 'cert', 'key', 'username', 'password', 'maxWritesPerSecond']);
  if (!Array.isArray(e.endpoints) || e.endpoints.length === 0) throw invalidConfig(`${ep}.endpoints`, e.endpoints, 'a non-empty list of URLs');
  const endpoints = e.endpoints.map((u, i) => {
    if (typeof u !== 'string' || !/^https?:\/\/[^/\s]+\/?$/.test(u)) throw invalidConfig(`${ep}.endpoints[${i}]`, u, 'a URL like http://198.18.0.254:2379');
    return u;
  });
  const prefix = e.prefix === undefined ? '/vtep/' : str(`${ep}.prefix`, e.prefix);
  if (!prefix.endsWith('/')) throw invalidConfig(`${ep}.prefix`, prefix, 'a key prefix ending in "/"');
  const etcd: EtcdOptions = {
    endpoints,
    prefix,
    leaseTtl: e.leaseTtl === undefined ? 10 : int(`${ep}.leaseTtl`, e.leaseTtl, 2, 3600),
    maxWritesPerSecond: e.maxWritesPerSecond === undefined ? 1000 : int(`${ep}.maxWritesPerSecond`, e.maxWritesPerSecond, 10, 1_000_000),
  };
  for (const f of ['ca', 'cert', 'key', 'username', 'password'] as const) if (e[f] !== undefined) etcd[f] = str(`${ep}.${f}`, e[f]);
  if ((etcd.cert === undefined) !== (etcd.key === undefined)) {
    const missing = etcd.cert === undefined ? 'cert' : 'key';
    throw invalidConfig(`${ep}.${missing}`, undefined, `given (cert and key go together)`);
  }
  if ((etcd.username === undefined) !== (etcd.password === undefined)) {
    const missing = etcd.username === undefined ? 'username' : 'password';
    throw invalidConfig(`${ep}.${missing}`, undefined, `given (username and password go together)`);
  }
  const tls = endpoints.some((u) => u.startsWith('https:'));
  if ((etcd.ca !== undefined || etcd.cert !== undefined) && !tls) throw invalidConfig(`${ep}.endpoints`, endpoints, 'https URLs (TLS files are given)');
  return { host, etcd, reconcileSeconds: o.reconcileSeconds === undefined ? 60 : int(`${path}.reconcileSeconds`, o.reconcileSeconds, 0, 86400) };
}
