/**
 * What operating a running switch needs from the dataplane: the public facade
 * (DataplaneApi), its counters (the `stats()` shape), and attaching a port
 * that we opened. Nothing here reaches into dataplane internals, so the ctl
 * server, the metrics endpoint and reload work against any implementation,
 * including the small fake of the unit tests.
 */
import type { DataplaneApi, VrfPortOptions } from '../dataplane/api.js';
import type { Port } from '../io/port.js';
import { VtepError } from '../errors.js';

/** The counters of `stats()`; `nodes` (per-stage counters) once the dataplane has stages. */
export interface StatsLike {
  ports: Record<string, { kind: string; role: string; rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; drops: number; ignored?: number; io?: object }>;
  tunnels: Record<string, { txPackets: number; txBytes: number; rxPackets: number; rxBytes: number }>;
  drops: Record<string, number>;
  fdb: { entries: number; learned: number; moved: number; aged: number; limit: number };
  arp: { suppressed: number; gatewayReplies: number; requestsSent: number };
  pool: { slots: number; free: number };
  /** Busy-poll's counters, when it is on. */
  busyPoll?: { slices: number; packets: number; backoffs: number; spinSeconds: number };
  /** Per stage: its counters by name (numbers, or one level of named numbers). */
  nodes?: Record<string, Record<string, number | Record<string, number>>>;
}

export interface OpsTarget extends DataplaneApi {
  stats(): StatsLike;
  /** Puts a port in a bridge domain (by name); `owned`: the dataplane closes it on removal. */
  addBridgePort(bridge: string, port: Port, owned?: boolean): number;
  /** Puts a port in a VRF as a gateway. */
  addVrfPort(vrf: string, port: Port, options: VrfPortOptions, owned?: boolean): number;
}

/** The facade methods ctl calls; `missingFacade` names those an object lacks (the facade not merged yet). */
export const FACADE_METHODS = [
  'addBridge', 'removeBridge', 'addVrf', 'removeVrf', 'removePort', 'addFdb', 'removeFdb', 'addFlood', 'removeFlood',
  'addArp', 'removeArp', 'addRoute', 'deleteRoute', 'listPorts', 'listBridges', 'listVrfs', 'fdbEntries', 'arpEntries',
  'neighbors', 'routes', 'trace', 'capture', 'stats', 'addBridgePort', 'addVrfPort',
] as const;

export function missingFacade(x: object): string[] {
  return FACADE_METHODS.filter((m) => typeof (x as Record<string, unknown>)[m] !== 'function');
}

/**
 * The dataplane as an OpsTarget: methods it lacks (a build without the full
 * facade) throw ERR_UNSUPPORTED naming the method, so ctl answers with a
 * clear error instead of a TypeError.
 */
export function asTarget(dp: object): OpsTarget {
  const missing = new Set(missingFacade(dp));
  if (missing.size === 0) return dp as OpsTarget;
  return new Proxy(dp, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && missing.has(prop)) {
        return () => {
          throw new VtepError('ERR_UNSUPPORTED', `${prop}: this dataplane does not have it yet (the facade of src/dataplane/api.ts)`);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as OpsTarget;
}
