/**
 * The commands of the control socket, each a function of its arguments that
 * calls the dataplane facade (DataplaneApi) and returns a plain value; the
 * streaming ones (capture, stats with watch, trace) send items on the way.
 * Arguments are checked here and errors name them as docs/ctl.md does.
 */
import type net from 'node:net';
import { VtepError, describe, invalidArg } from '../errors.js';
import type { CaptureDirection, RouteNextHop, VrfPortOptions } from '../dataplane/api.js';
import type { Port } from '../io/port.js';
import { CaptureQueue } from './capture.js';
import { PROTOCOL_VERSION, type CaptureFrame } from './protocol.js';
import type { OpsTarget } from './target.js';

/** What the server serves: the dataplane, how to open a TAP, and reload (from `vtep run`). */
export interface CtlContext {
  dp: OpsTarget;
  openTap: (o: { name: string; netns?: string; mtu?: number; mac?: string }) => Port;
  /** Re-reads the config file and applies the difference; returns the operations applied. */
  reload?: () => Promise<{ applied: string[] }>;
  /** Per capture client: bytes and frames queued at most. */
  captureQueue?: { bytes?: number; frames?: number };
}

/** One request being served. */
export interface Call {
  id: number;
  args: Record<string, unknown>;
  socket: net.Socket;
  /** Sends a stream item; false when the socket asks to wait. */
  data: (d: unknown) => boolean;
  readonly cancelled: boolean;
  /** Called once when the client cancels or goes away. */
  onCancel: (fn: () => void) => void;
}

type Handler = (ctx: CtlContext, call: Call) => unknown;

function str(a: Record<string, unknown>, k: string): string {
  const v = a[k];
  if (typeof v !== 'string' || v.length === 0) throw invalidArg(k, v, 'a non-empty string');
  return v;
}
function optStr(a: Record<string, unknown>, k: string): string | undefined {
  return a[k] === undefined ? undefined : str(a, k);
}
function int(a: Record<string, unknown>, k: string, min: number, max: number, dflt?: number): number {
  const v = a[k] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidArg(k, v, `an integer in ${min}..${max}`);
  return v;
}
function nexthops(a: Record<string, unknown>, k: string): RouteNextHop[] {
  const v = a[k];
  if (!Array.isArray(v) || v.some((n) => n === null || typeof n !== 'object')) throw invalidArg(k, v, 'a list of next hops ({remote, encap, label...} or {port, via})');
  return v as RouteNextHop[];
}
function notFound(what: string, v: string, where: string): VtepError {
  return new VtepError('ERR_NOT_FOUND', `${what}: ${describe(v)} is not in ${where}`);
}

const COMMANDS: Record<string, Handler> = {
  hello: () => ({ protocol: PROTOCOL_VERSION, pid: process.pid }),

  show: ({ dp }) => ({ ports: dp.listPorts(), bridges: dp.listBridges(), vrfs: dp.listVrfs(), tunnels: dp.stats().tunnels }),

  'fdb.show': ({ dp }, { args }) => dp.fdbEntries(optStr(args, 'bridge')),
  'fdb.add': ({ dp }, { args }) => {
    const remote = optStr(args, 'remote');
    const port = optStr(args, 'port');
    if ((remote === undefined) === (port === undefined)) throw invalidArg('remote', remote, 'given, or port, but not both');
    dp.addFdb(str(args, 'bridge'), str(args, 'mac'), remote !== undefined ? { remote } : { port: port! });
    return {};
  },
  'fdb.del': ({ dp }, { args }) => {
    const bridge = str(args, 'bridge');
    if (!dp.removeFdb(bridge, str(args, 'mac'))) throw notFound('mac', str(args, 'mac'), `the FDB of bridge ${bridge}`);
    return {};
  },

  'arp.show': ({ dp }, { args }) => {
    const bridge = optStr(args, 'bridge');
    const vrf = optStr(args, 'vrf');
    const neighbors = bridge !== undefined ? [] : dp.neighbors(vrf);
    // The remote VTEPs' MACs of a frame-mode underlay (underlay.tap), as owner "underlay".
    const under = (dp as { underlayNeighbors?: () => { remote: string; mac: string }[] }).underlayNeighbors;
    if (bridge === undefined && vrf === undefined && typeof under === 'function') {
      try {
        for (const n of under.call(dp)) neighbors.push({ owner: 'underlay', ip: n.remote, mac: n.mac });
      } catch {
        // no underlay set
      }
    }
    return { arp: vrf !== undefined ? [] : dp.arpEntries(bridge), neighbors };
  },
  'arp.add': ({ dp }, { args }) => {
    dp.addArp(str(args, 'bridge'), str(args, 'ip'), str(args, 'mac'));
    return {};
  },
  'arp.del': ({ dp }, { args }) => {
    const bridge = str(args, 'bridge');
    if (!dp.removeArp(bridge, str(args, 'ip'))) throw notFound('ip', str(args, 'ip'), `the ARP entries of bridge ${bridge}`);
    return {};
  },

  'route.show': ({ dp }, { args }) => dp.routes(optStr(args, 'vrf')),
  'route.add': ({ dp }, { args }) => {
    dp.addRoute(str(args, 'vrf'), str(args, 'prefix'), nexthops(args, 'nexthops'));
    return {};
  },
  'route.del': ({ dp }, { args }) => {
    const vrf = str(args, 'vrf');
    if (!dp.deleteRoute(vrf, str(args, 'prefix'))) throw notFound('prefix', str(args, 'prefix'), `VRF ${vrf}`);
    return {};
  },
  /** A batch of routes for one VRF; errors are counted and the first few returned, the rest still added. */
  'route.load': ({ dp }, { args }) => {
    const vrf = str(args, 'vrf');
    const routes = args.routes;
    if (!Array.isArray(routes)) throw invalidArg('routes', routes, 'a list of {prefix, nexthops}');
    let added = 0;
    const errors: { index: number; message: string }[] = [];
    let failed = 0;
    routes.forEach((r: { prefix?: unknown; nexthops?: unknown }, i) => {
      try {
        dp.addRoute(vrf, r.prefix as string, r.nexthops as RouteNextHop[]);
        added++;
      } catch (err) {
        if ((err as VtepError).code === 'ERR_NOT_FOUND' && i === 0) throw err; // no such VRF: say so once
        failed++;
        if (errors.length < 10) errors.push({ index: i, message: (err as Error).message });
      }
    });
    return { added, failed, errors };
  },

  'flood.add': ({ dp }, { args }) => {
    dp.addFlood(str(args, 'bridge'), str(args, 'remote'));
    return {};
  },
  'flood.del': ({ dp }, { args }) => {
    const bridge = str(args, 'bridge');
    if (!dp.removeFlood(bridge, str(args, 'remote'))) throw notFound('remote', str(args, 'remote'), `the flood list of bridge ${bridge}`);
    return {};
  },

  'port.add': ({ dp, openTap }, { args }) => {
    const name = str(args, 'name');
    const bridge = optStr(args, 'bridge');
    const vrf = optStr(args, 'vrf');
    if ((bridge === undefined) === (vrf === undefined)) throw invalidArg('bridge', bridge, 'given, or vrf, but not both');
    const o: { name: string; netns?: string; mtu?: number; mac?: string } = { name };
    const netns = optStr(args, 'netns');
    if (netns !== undefined) o.netns = netns;
    if (args.mtu !== undefined) o.mtu = int(args, 'mtu', 68, 65535);
    const mac = optStr(args, 'mac');
    if (mac !== undefined) o.mac = mac;
    let po: VrfPortOptions | undefined;
    if (vrf !== undefined) {
      po = {};
      const g = optStr(args, 'gateway');
      const g6 = optStr(args, 'gateway6');
      const rm = optStr(args, 'routerMac');
      if (g !== undefined) po.gateway = g;
      if (g6 !== undefined) po.gateway6 = g6;
      if (rm !== undefined) po.routerMac = rm;
      if (g === undefined && g6 === undefined) throw invalidArg('gateway', undefined, 'given (or gateway6) for a VRF port');
    }
    const port = openTap(o);
    try {
      const id = bridge !== undefined ? dp.addBridgePort(bridge, port, true) : dp.addVrfPort(vrf!, port, po!, true);
      return { port: port.name, id };
    } catch (err) {
      port.close();
      throw err;
    }
  },
  'port.del': ({ dp }, { args }) => {
    dp.removePort(str(args, 'name'));
    return {};
  },

  stats: ({ dp }, call) => {
    if (call.args.watch === undefined) return dp.stats();
    const ms = int(call.args, 'watch', 1, 86400) * 1000;
    return new Promise((resolve) => {
      const tick = (): void => {
        call.data({ time: new Date().toISOString(), ...dp.stats() });
      };
      tick();
      const t = setInterval(tick, ms);
      call.onCancel(() => {
        clearInterval(t);
        resolve({});
      });
    });
  },

  trace: async ({ dp }, call) => {
    const n = int(call.args, 'n', 1, 10000);
    const timeoutMs = int(call.args, 'timeoutMs', 1, 3600000, 10000);
    const traces = await dp.trace(n, { timeoutMs });
    if (!call.cancelled) for (const t of traces) call.data(t);
    return { traced: traces.length };
  },

  capture: (ctx, call) => capture(ctx, call),

  reload: async (ctx) => {
    if (ctx.reload === undefined) throw new VtepError('ERR_UNSUPPORTED', 'reload: this dataplane was not started from a config file');
    return ctx.reload();
  },
};

/** Runs one command; unknown names are ERR_INVALID_ARG naming the command. */
export function runCommand(ctx: CtlContext, cmd: string, call: Call): unknown {
  const h = COMMANDS[cmd];
  if (h === undefined) throw invalidArg('cmd', cmd, `a command (${Object.keys(COMMANDS).join(', ')}, cancel)`);
  return h(ctx, call);
}

export const COMMAND_NAMES = Object.keys(COMMANDS);

/**
 * A live capture: the dataplane's callback only copies into a bounded queue;
 * the queue is emptied onto the socket as fast as the socket takes it. A
 * frame that finds the queue full is dropped and counted.
 */
function capture(ctx: CtlContext, call: Call): Promise<unknown> {
  const { dp } = ctx;
  const a = call.args;
  const port = str(a, 'port');
  const direction = (a.direction ?? 'both') as CaptureDirection;
  if (direction !== 'rx' && direction !== 'tx' && direction !== 'both') throw invalidArg('direction', a.direction, 'rx, tx or both');
  const count = a.count === undefined ? 0 : int(a, 'count', 1, 2 ** 31);
  const snaplen = int(a, 'snaplen', 1, 262144, 65535);
  const q = new CaptureQueue({ snaplen, ...ctx.captureQueue });
  const sock = call.socket;
  const rec = { start: 0, len: 0, origLen: 0, tx: false, timeMs: 0 };
  let sent = 0;
  let scheduled = false;
  let waiting = false;
  let finished = false;
  let stop: (() => void) | undefined;
  let resolveDone!: (v: unknown) => void;
  const done = new Promise((r) => (resolveDone = r));

  const finish = (): void => {
    if (finished) return;
    finished = true;
    stop?.();
    stop = undefined;
    drain();
  };
  const drain = (): void => {
    scheduled = false;
    while (!sock.destroyed && !sock.writableNeedDrain && q.peek(rec)) {
      const sec = Math.floor(rec.timeMs / 1000);
      const frame: CaptureFrame = {
        dir: rec.tx ? 'tx' : 'rx', sec, nsec: Math.round((rec.timeMs - sec * 1000) * 1e6) % 1e9, len: rec.origLen,
        data: Buffer.from(q.ring.buffer, q.ring.byteOffset + rec.start, rec.len).toString('base64'),
      };
      q.shift();
      call.data(frame);
      sent++;
    }
    if (sock.destroyed) q.dropped += q.length;
    if (q.length > 0 && !sock.destroyed) {
      if (!waiting) {
        waiting = true;
        sock.once('drain', () => {
          waiting = false;
          drain();
        });
      }
      return;
    }
    if (finished) resolveDone({ frames: sent, seen: q.offered, dropped: q.dropped });
  };
  const schedule = (): void => {
    if (scheduled || waiting) return;
    scheduled = true;
    setImmediate(drain);
  };
  stop = dp.capture(port, direction, (dir, u8, start, len) => {
    if (finished || (count !== 0 && q.offered >= count)) return;
    q.push(dir === 'tx', u8, start, len, performance.timeOrigin + performance.now());
    if (count !== 0 && q.offered >= count) setImmediate(finish);
    schedule();
  });
  call.onCancel(finish);
  sock.once('close', finish);
  // The first item says the capture is on (tcpdump's "listening on"); frames follow.
  call.data({ listening: port, direction, snaplen });
  return done;
}
