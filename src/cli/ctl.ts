/** `vtep ctl`: inspect and change a running `vtep run` through its control socket. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { BridgeInfo, FdbEntryInfo, NeighborInfo, PacketTrace, PortInfo, RouteInfo, RouteNextHop, VrfInfo } from '../dataplane/api.js';
import { CtlClient } from '../ops/client.js';
import { defaultSocketPath } from '../ops/protocol.js';
import type { StatsLike } from '../ops/target.js';
import { Exit, UsageError, parse, intOpt, strOpt, guard, out } from './common.js';
import { parseNextHops, parseRouteLine } from './nexthop.js';
import { table } from './table.js';
import { captureCommand } from './ctl-capture.js';

export const CTL_HELP = `Usage: vtep ctl [--socket PATH] [--json] COMMAND ...

Inspects and changes a running 'vtep run' through its control socket
(default ${defaultSocketPath()}; 'vtep run --socket PATH' names another).
Tables for people by default; --json prints the server's answer as JSON.

  show                                   ports (role, link, counters), bridges, VRFs, tunnels
  fdb show [BRIDGE]                      MAC table (static and learned)
  fdb add BRIDGE MAC remote IP | port NAME
  fdb del BRIDGE MAC
  arp show [BRIDGE]                      ARP/ND suppression entries, VRF neighbors, underlay MACs
  arp add BRIDGE IP MAC   |   arp del BRIDGE IP
  flood add BRIDGE IP     |   flood del BRIDGE IP
  route show [VRF]                       routes with their next hops (ECMP: several)
  route add VRF PREFIX NEXTHOP... | drop
  route del VRF PREFIX
  route load VRF FILE [--nexthop NEXTHOP]   a file (or .gz) of 'PREFIX [NEXTHOP...]' lines
  port add NAME --bridge BRIDGE | --vrf VRF --gateway CIDR [--gateway6 CIDR] [--router-mac MAC]
           [--netns NS] [--mtu N] [--mac MAC]  a new TAP device in a bridge or a VRF
  port del NAME
  stats [--watch SECONDS]                counters (again every SECONDS until Ctrl-C)
  trace N [--timeout SECONDS]            the path of the next N packets through the pipeline
  capture PORT [-w FILE|-] [-c N] [--direction rx|tx|both] [--snaplen N]
                                         a live pcapng of a port ('-w -' to a pipe: | tshark -r -)
  reload                                 re-read the config file and apply the difference

NEXTHOP: remote=IP[,encap=E][,vni=N|key=N|label=N][,mac=MAC][,weight=N] (encap
default mplsoudp) or port=NAME[,via=IP][,weight=N]; several make an ECMP group.
Bridges are named ENCAP-ID (vxlan-42, gre-7); VRFs by their name.
Exit status: 0 done, 1 the switch refused or is not reachable, 2 bad arguments.`;

const OPTIONS = {
  socket: { type: 'string', short: 's' }, json: { type: 'boolean' }, watch: { type: 'string' }, nexthop: { type: 'string' },
  bridge: { type: 'string' }, vrf: { type: 'string' }, gateway: { type: 'string' }, gateway6: { type: 'string' },
  'router-mac': { type: 'string' }, netns: { type: 'string' }, mtu: { type: 'string' }, mac: { type: 'string' },
  write: { type: 'string', short: 'w' }, count: { type: 'string', short: 'c' }, direction: { type: 'string' },
  snaplen: { type: 'string' }, timeout: { type: 'string' },
} as const;

type Values = Record<string, string | boolean | string[] | undefined>;

/** Positional arguments: exactly these names, or a usage error naming the command. */
function want(cmd: string, pos: string[], names: string[], optional = 0): string[] {
  if (pos.length < names.length - optional || pos.length > names.length) {
    throw new UsageError(`vtep ctl ${cmd}: expected ${names.map((n, i) => (i >= names.length - optional ? `[${n}]` : n)).join(' ')}`);
  }
  return pos;
}

export async function ctlCommand(args: string[]): Promise<number> {
  return guard('ctl', async () => {
    const { values: v, positionals: pos } = parse('ctl', args, OPTIONS);
    if (v.help || pos.length === 0) {
      console.log(CTL_HELP);
      return v.help ? Exit.OK : Exit.USAGE;
    }
    const socket = strOpt(v.socket) ?? defaultSocketPath();
    const [group, ...rest] = pos;
    const sub = ['fdb', 'arp', 'route', 'flood', 'port'].includes(group!) ? rest.shift() : undefined;
    const cmd = sub === undefined ? group! : `${group} ${sub}`;
    // Check the arguments before connecting: a typo is a usage error even with no switch running.
    const request = build(cmd, rest, v);
    const client = await CtlClient.connect(socket);
    try {
      return await request(client, v.json === true);
    } finally {
      client.close();
    }
  });
}

type Runner = (c: CtlClient, json: boolean) => Promise<number>;

/** A one-shot request: print its result as JSON, or with `human`. */
function simple(cmd: string, args: Record<string, unknown>, human?: (r: unknown) => string): Runner {
  return async (c, json) => {
    const r = await c.request(cmd, args);
    if (json) await out(JSON.stringify(r));
    else if (human !== undefined) await out(human(r));
    return Exit.OK;
  };
}

function build(cmd: string, pos: string[], v: Values): Runner {
  switch (cmd) {
    case 'show':
      want(cmd, pos, []);
      return simple('show', {}, (r) => showText(r as { ports: PortInfo[]; bridges: BridgeInfo[]; vrfs: VrfInfo[]; tunnels: StatsLike['tunnels'] }));
    case 'fdb show': {
      const [bridge] = want(cmd, pos, ['BRIDGE'], 1);
      return simple('fdb.show', bridge === undefined ? {} : { bridge }, (r) => table(['BRIDGE', 'MAC', 'TYPE', 'WHERE'],
        (r as FdbEntryInfo[]).map((e) => [e.bridge, e.mac, e.static ? 'static' : 'learned', e.port !== undefined ? `port ${e.port}` : `remote ${e.remote ?? '?'}`])));
    }
    case 'fdb add': {
      const [bridge, mac, kind, where] = want(cmd, pos, ['BRIDGE', 'MAC', 'remote|port', 'IP|NAME']);
      if (kind !== 'remote' && kind !== 'port') throw new UsageError(`vtep ctl fdb add: ${kind} is not 'remote IP' or 'port NAME'`);
      return simple('fdb.add', { bridge, mac, [kind]: where });
    }
    case 'fdb del': {
      const [bridge, mac] = want(cmd, pos, ['BRIDGE', 'MAC']);
      return simple('fdb.del', { bridge, mac });
    }
    case 'arp show': {
      const [bridge] = want(cmd, pos, ['BRIDGE'], 1);
      return simple('arp.show', bridge === undefined ? {} : { bridge }, (r) => {
        const x = r as { arp: NeighborInfo[]; neighbors: NeighborInfo[] };
        return table(['OWNER', 'IP', 'MAC', 'PORT'], [...x.arp, ...x.neighbors].map((e) => [e.owner, e.ip, e.mac, e.port ?? '']));
      });
    }
    case 'arp add': {
      const [bridge, ip, mac] = want(cmd, pos, ['BRIDGE', 'IP', 'MAC']);
      return simple('arp.add', { bridge, ip, mac });
    }
    case 'arp del': {
      const [bridge, ip] = want(cmd, pos, ['BRIDGE', 'IP']);
      return simple('arp.del', { bridge, ip });
    }
    case 'flood add':
    case 'flood del': {
      const [bridge, remote] = want(cmd, pos, ['BRIDGE', 'IP']);
      return simple(cmd.replace(' ', '.'), { bridge, remote });
    }
    case 'route show': {
      const [vrf] = want(cmd, pos, ['VRF'], 1);
      return simple('route.show', vrf === undefined ? {} : { vrf }, (r) => table(['VRF', 'PREFIX', 'NEXT HOPS'],
        (r as RouteInfo[]).map((e) => [e.vrf, e.prefix, e.nexthops.length === 0 ? 'drop' : e.nexthops.map(nexthopText).join(' ')])));
    }
    case 'route add': {
      if (pos.length < 3) throw new UsageError('vtep ctl route add: expected VRF PREFIX NEXTHOP... (or drop)');
      const [vrf, prefix, ...nh] = pos;
      return simple('route.add', { vrf, prefix, nexthops: parseNextHops(nh, 'vtep ctl route add') });
    }
    case 'route del': {
      const [vrf, prefix] = want(cmd, pos, ['VRF', 'PREFIX']);
      return simple('route.del', { vrf, prefix });
    }
    case 'route load': {
      const [vrf, file] = want(cmd, pos, ['VRF', 'FILE']);
      const dflt = strOpt(v.nexthop) === undefined ? undefined : parseNextHops([strOpt(v.nexthop)!], 'vtep ctl route load: --nexthop');
      return (c, json) => routeLoad(c, json, vrf!, file!, dflt);
    }
    case 'port add': {
      const [name] = want(cmd, pos, ['NAME']);
      const a: Record<string, unknown> = { name };
      for (const [flag, key] of [['bridge', 'bridge'], ['vrf', 'vrf'], ['gateway', 'gateway'], ['gateway6', 'gateway6'], ['router-mac', 'routerMac'], ['netns', 'netns'], ['mac', 'mac']]) {
        if (v[flag!] !== undefined) a[key!] = strOpt(v[flag!]);
      }
      if (v.mtu !== undefined) a.mtu = intOpt('ctl', 'mtu', v.mtu, 68, 65535);
      if ((a.bridge === undefined) === (a.vrf === undefined)) throw new UsageError('vtep ctl port add: give --bridge BRIDGE or --vrf VRF (one of them)');
      if (a.vrf !== undefined && a.gateway === undefined && a.gateway6 === undefined) throw new UsageError('vtep ctl port add: --vrf needs --gateway CIDR (or --gateway6)');
      return simple('port.add', a, (r) => `port ${(r as { port: string }).port} added`);
    }
    case 'port del': {
      const [name] = want(cmd, pos, ['NAME']);
      return simple('port.del', { name });
    }
    case 'stats': {
      want(cmd, pos, []);
      const watch = intOpt('ctl', 'watch', v.watch, 1, 86400);
      if (watch === undefined) return simple('stats', {}, (r) => statsText(r as StatsLike));
      return (c, json) => streamUntilInterrupt(c, 'stats', { watch }, (d) => (json ? JSON.stringify(d) : `\n${(d as { time: string }).time}\n${statsText(d as StatsLike)}`));
    }
    case 'trace': {
      const [n] = want(cmd, pos, ['N']);
      const count = intOpt('ctl', 'N', n, 1, 10000)!;
      const timeout = intOpt('ctl', 'timeout', v.timeout, 1, 3600, 10)!;
      return async (c, json) => {
        const r = (await c.request('trace', { n: count, timeoutMs: timeout * 1000 }, (d) => {
          console.log(json ? JSON.stringify(d) : traceText(d as PacketTrace));
        })) as { traced: number };
        if (!json && r.traced < count) console.error(`vtep ctl trace: ${r.traced} of ${count} packets within ${timeout} s`);
        return Exit.OK;
      };
    }
    case 'capture': {
      const [port] = want(cmd, pos, ['PORT']);
      const direction = strOpt(v.direction) ?? 'both';
      if (!['rx', 'tx', 'both'].includes(direction)) throw new UsageError(`vtep ctl capture: --direction ${direction} is not rx, tx or both`);
      const a: Record<string, unknown> = { port, direction };
      if (v.count !== undefined) a.count = intOpt('ctl', 'count', v.count, 1, 2 ** 31);
      if (v.snaplen !== undefined) a.snaplen = intOpt('ctl', 'snaplen', v.snaplen, 1, 262144);
      return (c, json) => captureCommand(c, a, strOpt(v.write), json);
    }
    case 'reload':
      want(cmd, pos, []);
      return simple('reload', {}, (r) => {
        const applied = (r as { applied: string[] }).applied;
        return applied.length === 0 ? 'reload: no change' : `reload: ${applied.length} changes\n${applied.map((a) => `  ${a}`).join('\n')}`;
      });
    default:
      throw new UsageError(`vtep ctl: unknown command '${cmd}' (see vtep ctl --help)`);
  }
}

/** Runs a stream request until Ctrl-C (then cancels it and waits for its end). */
async function streamUntilInterrupt(c: CtlClient, cmd: string, args: Record<string, unknown>, line: (d: unknown) => string): Promise<number> {
  const p = c.request(cmd, args, (d) => console.log(line(d)));
  const stop = (): void => c.cancel(p.id);
  process.once('SIGINT', stop);
  try {
    await p;
  } finally {
    process.off('SIGINT', stop);
  }
  return Exit.OK;
}

const BATCH = 10000;

async function routeLoad(c: CtlClient, json: boolean, vrf: string, file: string, dflt: RouteNextHop[] | undefined): Promise<number> {
  const input = createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(`vtep ctl route load: ${file}: ${err.code ?? err.message}`), { code: err.code })));
  });
  await opened;
  const lines = createInterface({ input: /\.gz$/.test(file) ? input.pipe(createGunzip()) : input, crlfDelay: Infinity });
  const tty = process.stderr.isTTY === true;
  let added = 0;
  let failed = 0;
  let n = 0;
  let lastPrint = 0;
  const errors: string[] = [];
  const t0 = performance.now();
  const progress = (final: boolean): void => {
    const now = performance.now();
    if (!final && !tty && now - lastPrint < 1000) return;
    lastPrint = now;
    const rate = Math.round(added / Math.max(1e-3, (now - t0) / 1000));
    const text = `route load: ${added} routes in ${vrf}${failed > 0 ? `, ${failed} refused` : ''} (${rate}/s)`;
    if (tty) process.stderr.write(`\r${text}${final ? '\n' : ''}`);
    else process.stderr.write(`${text}\n`);
  };
  let batch: { prefix: string; nexthops: RouteNextHop[] }[] = [];
  let first = 0;
  const send = async (): Promise<void> => {
    const r = (await c.request('route.load', { vrf, routes: batch })) as { added: number; failed: number; errors: { index: number; message: string }[] };
    added += r.added;
    failed += r.failed;
    for (const e of r.errors) if (errors.length < 10) errors.push(`${file}:${first + e.index + 1}: ${e.message}`);
    batch = [];
    progress(false);
  };
  for await (const line of lines) {
    n++;
    const r = parseRouteLine(line, `${file}:${n}`, dflt);
    if (r === undefined) continue;
    if (batch.length === 0) first = n - 1;
    batch.push(r);
    if (batch.length === BATCH) await send();
  }
  if (batch.length > 0) await send();
  progress(true);
  for (const e of errors) console.error(`vtep ctl ${e}`);
  if (json) await out(JSON.stringify({ added, failed }));
  return failed > 0 ? Exit.FAILED : Exit.OK;
}

export function nexthopText(n: RouteNextHop): string {
  if ('remote' in n) {
    const id = n.vni !== undefined ? `vni ${n.vni}` : n.key !== undefined ? `key ${n.key}` : n.label !== undefined ? `label ${n.label}` : '';
    return `${n.encap} ${n.remote} ${id}${n.mac !== undefined ? ` mac ${String(n.mac)}` : ''}${(n.weight ?? 1) !== 1 ? ` weight ${n.weight}` : ''}`.replace(/  +/g, ' ');
  }
  return `port ${n.port}${n.via !== undefined ? ` via ${n.via}` : ''}${(n.weight ?? 1) !== 1 ? ` weight ${n.weight}` : ''}`;
}

function showText(r: { ports: PortInfo[]; bridges: BridgeInfo[]; vrfs: VrfInfo[]; tunnels: StatsLike['tunnels'] }): string {
  const parts = [
    'Ports',
    table(['NAME', 'KIND', 'ROLE', 'IN', 'LINK', 'RX PKTS', 'RX BYTES', 'TX PKTS', 'TX BYTES', 'DROPS'],
      r.ports.map((p) => [p.name, p.kind, p.role, p.owner ?? '', p.linkUp ? 'up' : 'down', p.rxPackets, p.rxBytes, p.txPackets, p.txBytes, p.drops])),
    '',
    'Bridges',
    table(['NAME', 'PORTS', 'FLOOD', 'LEARN', 'ARP SUPPRESS', 'MAC LIMIT'],
      r.bridges.map((b) => [b.name, b.ports.join(',') || '-', b.flood.join(',') || '-', b.learn ? 'yes' : 'no', b.arpSuppress ? 'yes' : 'no', b.macLimit === undefined ? '-' : String(b.macLimit)])),
    '',
    'VRFs',
    table(['NAME', 'LABEL', 'VNI', 'PORTS'],
      r.vrfs.map((v) => [v.name, v.label === undefined ? '-' : String(v.label), v.vni === undefined ? '-' : String(v.vni), v.ports.map((p) => `${p.name} ${[p.gateway, p.gateway6].filter((g) => g !== undefined).join(' ')}`).join(', ') || '-'])),
    '',
    'Tunnels',
    table(['TUNNEL', 'RX PKTS', 'RX BYTES', 'TX PKTS', 'TX BYTES'],
      Object.entries(r.tunnels).map(([k, t]) => [k, t.rxPackets, t.rxBytes, t.txPackets, t.txBytes])),
  ];
  return parts.join('\n');
}

function statsText(s: StatsLike): string {
  const parts = [
    table(['PORT', 'ROLE', 'RX PKTS', 'RX BYTES', 'TX PKTS', 'TX BYTES', 'DROPS'],
      Object.entries(s.ports).map(([n, p]) => [n, p.role, p.rxPackets, p.rxBytes, p.txPackets, p.txBytes, p.drops])),
    `fdb: ${s.fdb.entries} entries, ${s.fdb.learned} learned, ${s.fdb.moved} moved, ${s.fdb.aged} aged; pool: ${s.pool.slots - s.pool.free}/${s.pool.slots} slots in use`,
  ];
  const drops = Object.entries(s.drops).filter(([, n]) => n > 0);
  if (drops.length > 0) parts.push(table(['DROP REASON', 'PACKETS'], drops.map(([k, n]) => [k, n])));
  if (s.nodes !== undefined) {
    const rows: (string | number)[][] = [];
    for (const [stage, counters] of Object.entries(s.nodes)) {
      for (const [k, x] of Object.entries(counters)) {
        if (typeof x === 'number') {
          if (x > 0) rows.push([stage, k, x]);
        } else {
          for (const [k2, y] of Object.entries(x)) if (y > 0) rows.push([stage, `${k}.${k2}`, y]);
        }
      }
    }
    if (rows.length > 0) parts.push(table(['STAGE', 'COUNTER', 'VALUE'], rows));
  }
  return parts.join('\n');
}

function traceText(t: PacketTrace): string {
  const lines = [`packet ${t.seq}: ${t.len} bytes in on ${t.port}`];
  for (const s of t.steps) lines.push(`  ${s.stage.padEnd(16)} -> ${s.next}${s.reason !== undefined ? ` (${s.reason})` : ''}  ${s.info}`);
  return lines.join('\n');
}
