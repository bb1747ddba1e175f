/**
 * Next hops as people type them on the `vtep ctl route` command line and in
 * route files, with the field names of the config:
 *
 *   remote=198.18.0.3,label=200              a tunnel (encap mplsoudp by default, as in the config)
 *   remote=198.18.0.3,encap=vxlan,vni=7,mac=02:00:00:00:00:09,weight=2
 *   port=vm3tap,via=10.1.0.9                 a neighbor on a local port of the VRF
 *   drop                                     a blackhole (alone)
 *
 * A route file has one route a line: `PREFIX [NEXTHOP...]` (`#` starts a
 * comment); a line with only a prefix takes the default next hop.
 */
import { UsageError } from './common.js';
import type { RouteNextHop } from '../dataplane/api.js';

const ENCAPS = ['vxlan', 'gre', 'mplsoudp', 'mplsogre'];
const KEYS = ['remote', 'encap', 'vni', 'key', 'label', 'mac', 'weight', 'port', 'via'];

function num(where: string, k: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${where}: ${k}=${v} is not a number`);
  return Number(v);
}

/** One next hop; `where` names it in errors (e.g. "vtep ctl: next hop 2" or "routes.txt:14"). */
export function parseNextHop(text: string, where: string): RouteNextHop {
  const kv = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (!KEYS.includes(k) || eq < 0) throw new UsageError(`${where}: ${JSON.stringify(part)} is not KEY=VALUE with a key of ${KEYS.join(', ')}`);
    kv.set(k, part.slice(eq + 1));
  }
  const weight = kv.has('weight') ? num(where, 'weight', kv.get('weight')!) : undefined;
  const remote = kv.get('remote');
  const port = kv.get('port');
  if ((remote === undefined) === (port === undefined)) throw new UsageError(`${where}: ${JSON.stringify(text)} needs remote=IP (a tunnel) or port=NAME (a local port)`);
  if (remote !== undefined) {
    const encap = kv.get('encap') ?? 'mplsoudp';
    if (!ENCAPS.includes(encap)) throw new UsageError(`${where}: encap=${encap} is not one of ${ENCAPS.join(', ')}`);
    const n: RouteNextHop = { remote, encap: encap as 'vxlan' };
    for (const k of ['vni', 'key', 'label'] as const) if (kv.has(k)) n[k] = num(where, k, kv.get(k)!);
    if (kv.has('mac')) n.mac = kv.get('mac')!;
    if (weight !== undefined) n.weight = weight;
    return n;
  }
  const n: RouteNextHop = { port: port! };
  if (kv.has('via')) n.via = kv.get('via')!;
  if (weight !== undefined) n.weight = weight;
  return n;
}

/** The next hops of a route: the words after the prefix (`drop` alone = none). */
export function parseNextHops(words: string[], where: string): RouteNextHop[] {
  if (words.length === 1 && words[0] === 'drop') return [];
  if (words.length === 0) throw new UsageError(`${where}: no next hop (give remote=IP,... or port=NAME,... or drop)`);
  return words.map((w, i) => parseNextHop(w, words.length > 1 ? `${where} next hop ${i + 1}` : where));
}

/** One line of a route file, or undefined for a blank or comment line. */
export function parseRouteLine(line: string, where: string, dflt: RouteNextHop[] | undefined): { prefix: string; nexthops: RouteNextHop[] } | undefined {
  const hash = line.indexOf('#');
  const words = (hash < 0 ? line : line.slice(0, hash)).trim().split(/\s+/).filter((w) => w.length > 0);
  if (words.length === 0) return undefined;
  const prefix = words[0]!;
  if (!prefix.includes('/')) throw new UsageError(`${where}: ${JSON.stringify(prefix)} is not a prefix like 10.2.0.0/16`);
  if (words.length === 1) {
    if (dflt === undefined) throw new UsageError(`${where}: ${prefix} has no next hop (give one on the line, or --nexthop for all)`);
    return { prefix, nexthops: dflt };
  }
  return { prefix, nexthops: parseNextHops(words.slice(1), where) };
}
