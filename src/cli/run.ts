/** `vtep run`: the long-running dataplane from a vSwitch config. */
import { readFileSync } from 'node:fs';
import { Dataplane } from '../dataplane/dataplane.js';
import { parseVswitchConfig } from '../dataplane/config.js';
import { VtepError } from '../errors.js';
import { Exit, UsageError, parse, intOpt, strOpt, guard } from './common.js';
import type { EtcdControl } from '../control/etcd.js';

export const RUN_HELP = `Usage: vtep run --config VSWITCH.json [--stats-interval SECONDS]

Runs the dataplane a vSwitch config describes: creates its TAP devices and
underlay sockets (UDP 4789 for VXLAN and 6635 for MPLS-over-UDP, a raw IP
socket for GRE and MPLS-over-GRE when used), bridge domains, VRFs and routes.

  { "underlay": { "address": "198.18.0.1", "vxlanPort": 4789 },
    "bridges": [ { "vni": 42, "ports": [ { "tap": "vm1tap" } ], "flood": ["198.18.0.2"],
                   "fdb": [ { "mac": "02:00:00:00:00:02", "remote": "198.18.0.2" } ] } ],
    "vrfs": [ { "name": "red", "label": 100,
                "ports": [ { "tap": "vm3tap", "gateway": "10.1.0.1/24" } ],
                "routes": [ { "prefix": "10.2.0.0/16", "remote": "198.18.0.3",
                              "encap": "mplsoudp", "label": 200 } ] } ] }

With "control": { "etcd": { "endpoints": [...] } } it joins a fleet: it
publishes this host in etcd and programs flood lists, remote MACs, ARP
entries and routes from the other hosts (docs/control.md).

Counters are printed as one JSON line on standard output every
--stats-interval seconds and on SIGUSR1. SIGINT and SIGTERM stop it cleanly:
sockets closed, TAP devices (not persistent) gone. A TAP may be moved into
another namespace while it runs (with the netns option of ip-link).
Exit status: 0 stopped by a signal, 1 a device or socket could not be opened,
2 a bad config (the message names the field and the value).`;

export async function runCommand(args: string[]): Promise<number> {
  return guard('run', async () => {
    const { values: v, positionals } = parse('run', args, {
      config: { type: 'string', short: 'c' },
      'stats-interval': { type: 'string' },
    });
    if (v.help) {
      console.log(RUN_HELP);
      return Exit.OK;
    }
    if (positionals.length > 0) throw new UsageError(`vtep run: unexpected argument ${positionals[0]}`);
    const path = strOpt(v.config);
    if (path === undefined) throw new UsageError('vtep run: --config VSWITCH.json is required');
    const interval = intOpt('run', 'stats-interval', v['stats-interval'], 1, 86400);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new UsageError(`vtep run: --config ${path}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`vtep run: ${path}: not JSON: ${(err as Error).message}`);
    }
    let config;
    try {
      config = parseVswitchConfig(json);
    } catch (err) {
      if (err instanceof VtepError) throw new UsageError(`vtep run: ${path}: ${err.message}`);
      throw err;
    }
    const dp = Dataplane.fromConfig(config);
    dp.on('port-error', ({ port, error }: { port: string; error: Error }) => console.error(`vtep run: port ${port}: ${error.message}`));
    dp.fdb.on('limit', (bd, scope, limit) => console.error(`vtep run: MAC learning stopped in bridge ${bd}: ${scope} limit ${limit} reached`));
    dp.start();
    const ports = Object.keys(dp.stats().ports);
    console.error(`vtep run: running with ${ports.length} ports (${ports.join(', ')}); SIGUSR1 prints counters`);
    let control: EtcdControl | undefined;
    let retry: NodeJS.Timeout | undefined;
    let stopping = false;
    if (config.control !== undefined) {
      // Loaded only here: the etcd client (gRPC) costs every other command nothing.
      const { startControl, isDataplaneApi } = await import('../control/etcd.js');
      if (!isDataplaneApi(dp)) {
        dp.close();
        console.error('vtep run: control: this dataplane does not implement DataplaneApi yet (src/dataplane/api.ts)');
        return Exit.FAILED;
      }
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
    const print = (): void => {
      console.log(JSON.stringify({ time: new Date().toISOString(), ...dp.stats() }));
    };
    const timer = interval === undefined ? undefined : setInterval(print, interval * 1000);
    process.on('SIGUSR1', print);
    await new Promise<void>((resolve) => {
      const stop = (sig: string): void => {
        console.error(`vtep run: ${sig}: stopping`);
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    if (timer !== undefined) clearInterval(timer);
    process.off('SIGUSR1', print);
    stopping = true;
    clearTimeout(retry);
    await control?.stop();
    dp.close();
    return Exit.OK;
  });
}
