/** `vtep run`: the long-running dataplane from a vSwitch config, with its control socket and metrics. */
import { existsSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { fromConfig } from '../dataplane/fromconfig.js';
import { parseVswitchConfig, type TapConfig, type VswitchConfig } from '../dataplane/config.js';
import { TapDevice } from '../io/tap.js';
import { netnsPath } from '../io/port.js';
import { setPollLinger, pollLoopStats } from '../io/poll-loop.js';
import { VtepError, shortText } from '../errors.js';
import { CtlServer } from '../ops/server.js';
import { MetricsServer, renderMetrics } from '../ops/metrics.js';
import { configDiff, applyOps, opText } from '../ops/reload.js';
import { defaultSocketPath } from '../ops/protocol.js';
import { asTarget, missingFacade, type OpsTarget } from '../ops/target.js';
import { Exit, UsageError, InputError, parse, intOpt, strOpt, guard } from './common.js';
import type { EtcdControl } from '../control/etcd.js';

export const RUN_HELP = `Usage: vtep run --config VSWITCH.json [--socket PATH] [--stats-interval SECONDS] [--busy-poll US]
                [--poll-linger MS]

Runs the dataplane a vSwitch config describes: creates its TAP devices and
underlay sockets (UDP 4789 for VXLAN and 6635 for MPLS-over-UDP, a raw IP
socket for GRE and MPLS-over-GRE when used), bridge domains, VRFs and routes.

  { "underlay": { "address": "198.18.0.1", "vxlanPort": 4789 },
    "bridges": [ { "vni": 42, "ports": [ { "tap": "vm1tap" } ], "flood": ["198.18.0.2"],
                   "fdb": [ { "mac": "02:00:00:00:00:02", "remote": "198.18.0.2" } ] } ],
    "vrfs": [ { "name": "red", "label": 100,
                "ports": [ { "tap": "vm3tap", "gateway": "10.1.0.1/24" } ],
                "routes": [ { "prefix": "10.2.0.0/16", "remote": "198.18.0.3",
                              "encap": "mplsoudp", "label": 200 } ] } ],
    "metrics": { "listen": "127.0.0.1:9310" } }

  --socket PATH   the control socket for 'vtep ctl' (mode 0600, this user only;
                  default ${defaultSocketPath()})
  --busy-poll US  after traffic, keep polling the ports US microseconds before
                  sleeping again (lower latency, a core spins while traffic
                  comes; 0 = off); overrides "busyPollUs" of the config
  --poll-linger MS  after a port's wake-up, wait up to MS for the next one
                  inside the addon, on the event loop's own fd set, giving the
                  loop back as soon as anything else is due (default 100; 0 =
                  every wake-up goes round the event loop). Saves Node's
                  per-iteration work and garbage (docs/dataplane.md)
  "metrics"       serve Prometheus text at http://LISTEN/metrics (no listener without it)

With "control": { "etcd": { "endpoints": [...] } } it joins a fleet: it
publishes this host in etcd and programs flood lists, remote MACs, ARP
entries and routes from the other hosts (docs/control.md).

TAPs get a virtio-net header and offloads (a port's "offloads": false turns
them off): a guest's TCP super-frames are cut into segments for the tunnel.
"underlay": { ..., "tap": { "name", "mac", "nextHopMac" } } (experimental)
sends through a TAP you bridge with the uplink, whole super-frames as
UDP-tunnel GSO packets (Linux 6.17); the sockets still receive.

Counters are printed as one JSON line on standard output every
--stats-interval seconds and on SIGUSR1 (with per-stage counters under
"nodes"). SIGUSR2 traces the next 20 packets through the pipeline stages
and prints their paths as one JSON line (within 10 seconds). SIGHUP (or 'vtep ctl reload')
re-reads the config and applies the difference: ports, bridges, VRFs, routes,
FDB and ARP entries added or removed; what did not change keeps running with
its learned MACs. A bad file is refused and nothing changes. SIGINT and
SIGTERM stop it: sockets closed, TAP devices (not persistent) gone.
Exit status: 0 stopped by a signal, 1 the config cannot be read or a device,
namespace or socket cannot be opened, 2 a bad config (the message names the
field and the value).`;

/** Reads and validates a config: InputError (exit 1) when unreadable, UsageError (exit 2) when bad. */
export function loadConfig(cmd: string, path: string): VswitchConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(`vtep ${cmd}: --config ${path}: ${e.code ?? e.message}${e.code === 'ENOENT' ? ' (no such file)' : e.code === 'EACCES' ? ' (permission denied)' : ''}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`vtep ${cmd}: ${path}: not JSON: ${(err as Error).message}`);
  }
  try {
    return parseVswitchConfig(json);
  } catch (err) {
    if (err instanceof VtepError) throw new UsageError(`vtep ${cmd}: ${path}: ${err.message}`);
    throw err;
  }
}

/** A namespace that is not there, said with its name and field (the native open would only say ENOENT). */
function netnsExists(ns: string, field: string): void {
  const p = netnsPath(ns, field)!;
  if (!existsSync(p)) throw new VtepError('ERR_NOT_FOUND', `${field}: ${JSON.stringify(ns)} is not a network namespace (no ${p})`);
}

/** Every namespace the config names must exist: the error names the field (exit 1). */
export function checkNamespaces(c: VswitchConfig): void {
  const check = (field: string, ns: string | undefined): void => {
    if (ns !== undefined) netnsExists(ns, field);
  };
  check('underlay.netns', c.underlay.netns);
  c.bridges.forEach((b, i) => b.ports.forEach((p, j) => check(`bridges[${i}].ports[${j}].netns`, p.netns)));
  c.vrfs.forEach((v, i) => v.ports.forEach((p, j) => check(`vrfs[${i}].ports[${j}].netns`, p.netns)));
}

/** A TAP as the config (or ctl) describes it: up, gone when closed. */
export function openTap(p: TapConfig | { name: string; netns?: string; mtu?: number; mac?: string | number }): TapDevice {
  const name = 'tap' in p ? p.tap : p.name;
  const o: Parameters<typeof TapDevice.open>[0] = { name, up: true, persist: false };
  if (p.netns !== undefined) {
    netnsExists(p.netns, 'netns');
    o.netns = p.netns;
  }
  if (p.mtu !== undefined) o.mtu = p.mtu;
  if (p.mac !== undefined) o.mac = p.mac;
  return TapDevice.open(o);
}

/**
 * V8 optimizes a function once it has run a budget of bytecode (132 KB by
 * default). Below saturation the packet path runs a few hundred times a
 * second, so it would stay interpreted for minutes: every packet slower, a
 * wake-up's work 1.5x longer, and garbage from unoptimized code (measured by
 * `npm run bench -- latency`). A budget 8x smaller optimizes it within the
 * first few thousand packets. A budget given on node's command line wins.
 */
export const INTERRUPT_BUDGET = 16 * 1024;

function tuneJit(): void {
  if (process.execArgv.some((a) => a.startsWith('--interrupt-budget'))) return;
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}

export async function runCommand(args: string[]): Promise<number> {
  return guard('run', async () => {
    tuneJit();
    const { values: v, positionals } = parse('run', args, {
      config: { type: 'string', short: 'c' },
      socket: { type: 'string', short: 's' },
      'stats-interval': { type: 'string' },
      'busy-poll': { type: 'string' },
      'poll-linger': { type: 'string' },
    });
    if (v.help) {
      console.log(RUN_HELP);
      return Exit.OK;
    }
    if (positionals.length > 0) throw new UsageError(`vtep run: unexpected argument ${shortText(positionals[0]!)}`);
    const path = strOpt(v.config);
    if (path === undefined) throw new UsageError('vtep run: --config VSWITCH.json is required');
    const interval = intOpt('run', 'stats-interval', v['stats-interval'], 1, 86400);
    const busyPollUs = intOpt('run', 'busy-poll', v['busy-poll'], 0, 1_000_000);
    const lingerMs = intOpt('run', 'poll-linger', v['poll-linger'], 0, 10_000);
    const socketPath = strOpt(v.socket) ?? defaultSocketPath();
    let config = loadConfig('run', path);
    checkNamespaces(config);
    if (lingerMs !== undefined) setPollLinger(lingerMs);
    const dp = fromConfig(config, busyPollUs === undefined ? {} : { busyPollUs });
    const target: OpsTarget = asTarget(dp);
    let ctl: CtlServer | undefined;
    let metrics: MetricsServer | undefined;
    let control: EtcdControl | undefined;
    let retry: NodeJS.Timeout | undefined;
    let stopping = false;
    try {
      dp.on('port-error', ({ port, error }: { port: string; error: Error }) => console.error(`vtep run: port ${port}: ${error.message}`));
      dp.on('link-down', ({ port }) => console.error(`vtep run: port ${port}: link down (frames for it are dropped as link-down)`));
      dp.on('link-up', ({ port }) => console.error(`vtep run: port ${port}: link up`));
      dp.on('limit', ({ bridge, scope, limit }) => console.error(`vtep run: MAC learning stopped in bridge ${bridge}: ${scope} limit ${limit} reached`));
      dp.start();
      const scrape = (): string => renderMetrics(target.stats(), missingFacade(dp).length === 0 ? { tables: target, loop: pollLoopStats() } : { loop: pollLoopStats() });
      const startMetrics = async (c: VswitchConfig): Promise<void> => {
        if (c.metrics === undefined) return;
        metrics = await MetricsServer.listen(c.metrics.host, c.metrics.port, scrape);
        console.error(`vtep run: metrics at http://${metrics.address}/metrics`);
      };
      await startMetrics(config);

      /** Re-reads the file and applies the difference; throws (and changes nothing) on a bad file. */
      const reload = async (): Promise<{ applied: string[] }> => {
        const next = loadConfig('run', path);
        checkNamespaces(next);
        const ops = configDiff(config, next);
        applyOps(target, ops, openTap);
        const old = config;
        config = next;
        if (JSON.stringify(old.metrics) !== JSON.stringify(next.metrics)) {
          await metrics?.close();
          metrics = undefined;
          await startMetrics(next);
        }
        return { applied: ops.map(opText) };
      };
      const reloadLogged = async (): Promise<{ applied: string[] }> => {
        try {
          const r = await reload();
          console.error(`vtep run: reload: ${r.applied.length === 0 ? 'no change' : r.applied.join('; ')}`);
          return r;
        } catch (err) {
          const msg = (err as Error).message.replace(/^vtep run: /, '');
          console.error(`vtep run: reload refused: ${msg}`);
          throw err instanceof UsageError ? new VtepError('ERR_INVALID_CONFIG', msg) : err;
        }
      };

      ctl = await CtlServer.listen({ dp: target, openTap, reload: reloadLogged }, { path: socketPath });
      const ports = Object.keys(dp.stats().ports);
      const missing = missingFacade(dp);
      if (missing.length > 0) console.error(`vtep run: the dataplane lacks ${missing.join(', ')}: ctl commands that need them answer ERR_UNSUPPORTED`);
      const print = (): void => {
        console.log(JSON.stringify({ time: new Date().toISOString(), ...dp.stats(), loop: pollLoopStats() }));
      };
      const timer = interval === undefined ? undefined : setInterval(print, interval * 1000);
      const onHup = (): void => {
        reloadLogged().catch(() => undefined);
      };
      const trace = (): void => {
        void dp.trace(20, { timeoutMs: 10_000 }).then((t) => console.log(JSON.stringify({ time: new Date().toISOString(), trace: t })));
      };
      process.on('SIGUSR1', print);
      process.on('SIGUSR2', trace);
      process.on('SIGHUP', onHup);
      // Announced once the signals are ours: a SIGHUP sent on seeing this line must find its handler.
      console.error(`vtep run: running with ${ports.length} ports (${ports.join(', ')}); control socket ${ctl.path}; SIGUSR1 prints counters, SIGUSR2 a trace, SIGHUP reloads`);
      if (config.control !== undefined) {
        // Loaded only here: the etcd client (gRPC) costs every other command nothing.
        const { startControl } = await import('../control/etcd.js');
        const cc = config.control;
        const where = cc.etcd.endpoints.join(', ');
        // etcd out of reach at start stops nothing either: forward with the config alone and keep trying.
        const join = (): void => {
          retry = undefined;
          startControl(dp, cc, config.underlay.address, (line) => console.error(`vtep run: ${line}`)).then(
            (c) => {
              if (stopping) return void c.stop();
              control = c;
              console.error(`vtep run: joined the fleet as ${c.host} (etcd ${where})`);
            },
            (err: Error) => {
              if (stopping) return;
              console.error(`vtep run: control: etcd ${where}: ${err.message}; trying again in 5 s`);
              retry = setTimeout(join, 5000);
            },
          );
        };
        join();
      }
      await new Promise<void>((resolve) => {
        const onSig = (sig: string): void => {
          console.error(`vtep run: ${sig}: stopping`);
          resolve();
        };
        process.once('SIGINT', () => onSig('SIGINT'));
        process.once('SIGTERM', () => onSig('SIGTERM'));
      });
      if (timer !== undefined) clearInterval(timer);
      process.off('SIGUSR1', print);
      process.off('SIGUSR2', trace);
      process.off('SIGHUP', onHup);
    } finally {
      stopping = true;
      clearTimeout(retry);
      await control?.stop();
      await ctl?.close();
      await metrics?.close();
      dp.close();
    }
    // Whatever else is left (a client that does not hang up) must not keep the process.
    setTimeout(() => process.exit(Exit.OK), 1000).unref();
    return Exit.OK;
  });
}
