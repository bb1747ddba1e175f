/** The `vtep` command. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../io/native.js';
import { Exit } from './common.js';
import { encapCommand, ENCAP_HELP } from './encap.js';
import { decapCommand, DECAP_HELP } from './decap.js';
import { runCommand, RUN_HELP } from './run.js';
import { demoCommand, DEMO_HELP } from './demo.js';
import { ctlCommand, CTL_HELP } from './ctl.js';

const HELP = `Usage: vtep <command> [options]

Commands:
  encap   encapsulate the frames of a capture (VXLAN, GRE, MPLS-over-UDP/GRE)
  decap   decapsulate a capture under a config, with a verdict per packet
  run     run a vSwitch from a config file (TAP devices, VXLAN/GRE/MPLS underlay)
  ctl     inspect and change a running 'vtep run' (show, fdb, route, port, capture, ...)
  demo    two dataplanes and simulated hosts pinging across tunnels (no root needed)
  bench   run the benchmark suites (encap, pipeline, pcap, lpm, fdb, io, e2e, metrics)

'vtep <command> --help' tells more. 'vtep --version' prints the version.`;

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; help: string }> = {
  encap: { run: encapCommand, help: ENCAP_HELP },
  decap: { run: decapCommand, help: DECAP_HELP },
  run: { run: runCommand, help: RUN_HELP },
  demo: { run: demoCommand, help: DEMO_HELP },
  ctl: { run: ctlCommand, help: CTL_HELP },
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    console.log(HELP);
    return cmd === undefined ? Exit.USAGE : Exit.OK;
  }
  if (cmd === '--version' || cmd === '-v') {
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    console.log(pkg.version);
    return Exit.OK;
  }
  if (cmd === 'help') {
    if (rest[0] === 'bench') {
      const { BENCH_HELP } = await import('../../bench/index.js');
      console.log(BENCH_HELP);
      return Exit.OK;
    }
    const c = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    console.log(c?.help ?? HELP);
    return Exit.OK;
  }
  if (cmd === 'bench') {
    const { runBench } = await import('../../bench/index.js');
    return runBench(rest);
  }
  const c = COMMANDS[cmd];
  if (c === undefined) {
    console.error(`vtep: unknown command '${cmd}' (commands: ${Object.keys(COMMANDS).join(', ')}, bench; see vtep --help)`);
    return Exit.USAGE;
  }
  return c.run(rest);
}
