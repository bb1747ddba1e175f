/** A fleet of in-memory dataplanes with their EtcdControl, for the control tests. */
import { Etcd3 } from 'etcd3';
import { EtcdControl, type EtcdControlOptions } from '../../src/control/etcd.js';
import { MemoryDataplane } from '../../src/control/memdp.js';

export interface FleetHost {
  name: string;
  underlay: string;
  dp: MemoryDataplane;
  control: EtcdControl;
  /** Lines the control logged. */
  logs: string[];
}

/**
 * Host i (1-based): underlay 198.18.0.i; bridges vxlan-42 and vxlan-43 with a
 * port each; VRF red (label 100) with gateway 10.1.i.1/24; with `anycast`, also
 * a gateway 10.99.0.1/24 (a prefix several hosts announce: ECMP).
 */
export function makeHost(i: number, endpoints: string[], o: { anycast?: boolean; ttl?: number; extra?: Partial<EtcdControlOptions['etcd']> } = {}): FleetHost {
  const dp = new MemoryDataplane();
  dp.addBridge({ vni: 42 });
  dp.addBridge({ vni: 43 });
  dp.addPort('vxlan-42', `vm${i}a`);
  dp.addPort('vxlan-43', `vm${i}b`);
  dp.addVrf({ name: 'red', label: 100 });
  dp.addPort('red', `r${i}`, { gateway: `10.1.${i}.1/24`, connected: `10.1.${i}.0/24` });
  if (o.anycast === true) dp.addPort('red', `any${i}`, { gateway: '10.99.0.1/24', connected: '10.99.0.0/24' });
  const logs: string[] = [];
  const underlay = `198.18.0.${i}`;
  const control = new EtcdControl(dp, {
    host: `h${i}`,
    underlay,
    etcd: { endpoints, leaseTtl: o.ttl ?? 10, ...o.extra },
    reconcileSeconds: 0,
    log: (l) => {
      logs.push(l);
      if (process.env.VTEP_TEST_LOG !== undefined) console.error(`h${i}: ${l}`);
    },
  });
  return { name: `h${i}`, underlay, dp, control, logs };
}

/** Host i's MAC on bridge b: 02:00:00:00:<b>:<i>. */
export const macOf = (i: number, b = 42): string => `02:00:00:00:${(b & 0xff).toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}`;

/** Polls `cond` every 20 ms; throws with `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 10000): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function fdbRemote(dp: MemoryDataplane, bridge: string, mac: string): string | undefined {
  return dp.fdbEntries(bridge).find((e) => e.mac === mac)?.remote;
}

export function flood(dp: MemoryDataplane, bridge: string): string[] {
  return [...(dp.listBridges().find((b) => b.name === bridge)?.flood ?? [])].sort();
}

export function route(dp: MemoryDataplane, prefix: string): string[] | undefined {
  const r = dp.routes('red').find((x) => x.prefix === prefix);
  return r?.nexthops.map((n) => ('remote' in n ? `${n.remote} ${n.encap} ${n.label ?? n.vni}` : `port ${n.port}`)).sort();
}

/** A plain client on the same etcd (for writing records by hand). */
export function rawClient(endpoints: string[], auth?: { username: string; password: string }): Etcd3 {
  return new Etcd3({ hosts: endpoints, dialTimeout: 3000, ...(auth !== undefined ? { auth } : {}) });
}
