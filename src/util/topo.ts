/**
 * Building blocks of the end-to-end tests and of `npm run bench -- e2e`:
 * commands run in namespaces without blocking the event loop (the dataplane
 * under test runs in this process), a kernel VXLAN VTEP with a bridge, hosts
 * behind TAPs and veths, a TCP transfer with a sha256 on both ends, and
 * tshark captures. NETWORK SAFETY: every link and address is made with
 * `ip -n NS` in a namespace the caller created (test/helpers/netns.ts).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { Netns, veth, waitExit } from './netns.js';
import { icmpPing } from './ping.js';

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command in a namespace and resolves when it exits (killed after
 * timeoutMs). Asynchronous on purpose: a dataplane in this process must keep
 * serving its ports while the command (ping, a TCP peer) waits for it.
 */
export function run(ns: Netns, cmd: string[], timeoutMs = 20_000): Promise<Ran> {
  return waitExit(ns.spawn(cmd), timeoutMs);
}

/** run(), then throws with the command's output unless it exited with 0; returns stdout. */
export async function runOk(ns: Netns, cmd: string[], timeoutMs = 20_000): Promise<string> {
  const r = await run(ns, cmd, timeoutMs);
  if (r.code !== 0) throw new Error(`${ns.name}: ${cmd.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * Echo requests from ns to dst answered (0.2 s apart, 2 s wait after the
 * last): a raw ICMP socket in ns (src/util/ping.ts), so no `ping` tool is needed.
 */
export async function ping(ns: Netns, dst: string, count = 3): Promise<{ received: number; output: string }> {
  const r = await icmpPing(ns.name, dst, { count, intervalMs: 200, waitMs: 2000 });
  return { received: r.received, output: r.output };
}

/** Resolves after ms milliseconds (the dataplane keeps running meanwhile). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 20 ms until it holds or timeoutMs passes; returns whether it held. */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

export interface KernelVtepOptions {
  /**
   * Underlay device in nsK (already addressed and up); undefined: the VXLAN
   * device is bound to none (routed by its local address), so its MTU may be
   * raised above the underlay's less the overhead (for the bridged PMTU check).
   */
  dev: string | undefined;
  local: string;
  /** Remote VTEPs: flood entries (00:00:00:00:00:00) of the VXLAN device. */
  flood: string[];
  vni: number;
  port?: number;
  /** Names in nsK. Default vx0, br0. */
  vxlan?: string;
  bridge?: string;
}

/**
 * A Linux VXLAN VTEP in nsK: a link vx0 of type vxlan (id VNI, the local
 * address, dstport 4789, over dev u0) in bridge br0, and a flood entry per remote
 * (head-end replication, as `bridge fdb append 00:00:00:00:00:00 dst R`).
 * Learning stays on: the kernel learns our hosts' MACs at our address.
 */
export function kernelVtep(nsK: Netns, o: KernelVtepOptions): void {
  const vx = o.vxlan ?? 'vx0';
  const br = o.bridge ?? 'br0';
  nsK.ip('link', 'add', vx, 'type', 'vxlan', 'id', String(o.vni), 'local', o.local, 'dstport', String(o.port ?? 4789), ...(o.dev === undefined ? [] : ['dev', o.dev]));
  nsK.ip('link', 'add', br, 'type', 'bridge');
  nsK.ip('link', 'set', vx, 'master', br);
  nsK.ip('link', 'set', vx, 'up');
  nsK.ip('link', 'set', br, 'up');
  for (const r of o.flood) nsK.exec(['bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', vx, 'dst', r]);
}

/** The addresses the benchmarks give kernelPeerWorld: VNI 42, guests at MTU 1450, vm1 behind the local VTEP, vm2 behind the kernel peer. */
export const PEER_WORLD = {
  vni: 42,
  mtu: 1450,
  vm1: { mac: '02:00:0a:00:00:01', ip: '10.0.0.1' },
  vm2: { mac: '02:00:0a:00:00:02', ip: '10.0.0.2' },
  local: '198.18.0.1',
  peer: '198.18.0.2',
} as const;

/** The namespaces of kernelPeerWorld: a (the local VTEP's), p (the kernel peer's), h1 (vm1), h2 (vm2). */
export interface PeerWorld {
  a: Netns;
  p: Netns;
  h1: Netns;
  h2: Netns;
}

/**
 * The kernel side shared by the end-to-end benchmarks: namespaces
 * PREFIX + a, p, 1, 2 (IPv6 off), the underlay veth u0 between a and p (p's
 * end at `peer`, a's at `local` unless `localAddress` is false), a Linux VTEP
 * in p flooding to `local`, vm2 (h2) behind its bridge with its MAC static on
 * its port. h1 is left for the local side to build. Deleted again if any step fails.
 */
export function kernelPeerWorld(prefix: string, o: { local: string; peer: string; vni: number; mtu: number; vm2: { ip: string; mac: string }; localAddress?: boolean }): PeerWorld {
  const made: Netns[] = [];
  try {
    for (const s of ['a', 'p', '1', '2']) made.push(Netns.create(`${prefix}${s}`));
    const [a, p, h1, h2] = made as [Netns, Netns, Netns, Netns];
    for (const ns of made) noIpv6(ns);
    veth(a, 'u0', o.localAddress === false ? undefined : `${o.local}/24`, p, 'u0', `${o.peer}/24`);
    kernelVtep(p, { dev: 'u0', local: o.peer, flood: [o.local], vni: o.vni });
    hostOnBridge(p, 'vm2p', 'br0', h2, { addr: `${o.vm2.ip}/24`, mac: o.vm2.mac, mtu: o.mtu });
    p.exec(['bridge', 'fdb', 'add', o.vm2.mac, 'dev', 'vm2p', 'master', 'static']);
    return { a, p, h1, h2 };
  } catch (err) {
    for (const ns of made) ns.delete();
    throw err;
  }
}

export interface HostOptions {
  /** Address with prefix length. */
  addr: string;
  mac: string;
  mtu?: number;
  /** Default route via this gateway. */
  gateway?: string;
}

/**
 * A host behind a kernel bridge: a veth from nsK (port `brPort`, in bridge
 * `bridge`) to `host` (eth0), with the kernel's default offloads, as users'
 * containers and VMs have them. (Its TCP then reaches a kernel VTEP with a
 * partial checksum, which the VTEP sends on as it is: vtep's inner-csum
 * stage finishes it.)
 */
export function hostOnBridge(nsK: Netns, brPort: string, bridge: string, host: Netns, o: HostOptions): void {
  veth(nsK, brPort, undefined, host, 'eth0', undefined);
  nsK.ip('link', 'set', brPort, 'master', bridge);
  configureHost(host, 'eth0', o);
}

/** Addresses an interface of a host namespace (MAC, MTU, address, up, default route). */
export function configureHost(host: Netns, ifname: string, o: HostOptions): void {
  host.ip('link', 'set', ifname, 'down');
  host.ip('link', 'set', ifname, 'address', o.mac);
  if (o.mtu !== undefined) host.ip('link', 'set', ifname, 'mtu', String(o.mtu));
  host.ip('addr', 'add', o.addr, 'dev', ifname);
  host.ip('link', 'set', ifname, 'up');
  if (o.gateway !== undefined) host.ip('route', 'add', 'default', 'via', o.gateway);
}

/**
 * Attaches a VM: moves a TAP the dataplane created in nsV into the host's
 * namespace (as one attaches a VM or container after start) and addresses it.
 */
export function attachTap(nsV: Netns, tap: string, host: Netns, o: Omit<HostOptions, 'mac'> & { mac?: string }): void {
  nsV.ip('link', 'set', tap, 'netns', host.name);
  if (o.mac !== undefined) host.ip('link', 'set', tap, 'address', o.mac);
  if (o.mtu !== undefined) host.ip('link', 'set', tap, 'mtu', String(o.mtu));
  host.ip('addr', 'add', o.addr, 'dev', tap);
  host.ip('link', 'set', tap, 'up');
  if (o.gateway !== undefined) host.ip('route', 'add', 'default', 'via', o.gateway);
}

/** Disables IPv6 in a namespace: no router solicitations or DAD in counters and captures. */
export function noIpv6(ns: Netns): void {
  ns.sysctl('net.ipv6.conf.all.disable_ipv6', 1);
  ns.sysctl('net.ipv6.conf.default.disable_ipv6', 1);
}

/** The kernel bridge's FDB entries of a VXLAN device: MAC -> remote (`dst`), learned ones only. */
export function kernelVxlanFdb(nsK: Netns, vx = 'vx0'): Map<string, string> {
  const out = nsK.exec(['bridge', 'fdb', 'show', 'dev', vx]);
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const r = /^([0-9a-f:]{17}) dst (\S+)/.exec(line);
    if (r !== null && r[1] !== '00:00:00:00:00:00') m.set(r[1]!, r[2]!);
  }
  return m;
}

// --------------------------------------------------------- TCP transfer

/**
 * The receiving end (node, which is there wherever the tests run; output by
 * process.stdout.write, since console.log colours numbers under FORCE_COLOR): listens on
 * PORT, prints "ready", takes one connection, reads it to the end and prints
 * "bytes sha256 seconds".
 */
const TCP_SINK = `
const net = require('node:net');
const crypto = require('node:crypto');
const server = net.createServer((c) => {
  const h = crypto.createHash('sha256');
  let n = 0;
  const t = process.hrtime.bigint();
  c.on('data', (d) => { h.update(d); n += d.length; });
  c.on('end', () => {
    process.stdout.write([n, h.digest('hex'), Number(process.hrtime.bigint() - t) / 1e9].join(' ') + '\\n');
    c.end();
    server.close();
  });
});
server.listen(Number(process.argv[1]), () => process.stdout.write('ready\\n'));
`;

/**
 * The sending end: connects to HOST PORT and sends BYTES of random data in
 * 256 KiB blocks; prints "bytes sha256 seconds" once the peer closed (so the
 * time covers delivery).
 */
const TCP_SOURCE = `
const net = require('node:net');
const crypto = require('node:crypto');
const [host, port, total] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const h = crypto.createHash('sha256');
const t = process.hrtime.bigint();
let sent = 0;
const s = net.connect(port, host, () => {
  const more = () => {
    while (sent < total) {
      const b = crypto.randomBytes(Math.min(1 << 18, total - sent));
      h.update(b);
      sent += b.length;
      if (!s.write(b)) return void s.once('drain', more);
    }
    s.end();
  };
  more();
});
s.on('data', () => {});
s.on('close', () => process.stdout.write([sent, h.digest('hex'), Number(process.hrtime.bigint() - t) / 1e9].join(' ') + '\\n'));
s.on('error', (e) => { console.error(e.message); process.exitCode = 1; });
`;

export interface Transfer {
  sent: number;
  received: number;
  sentSha: string;
  receivedSha: string;
  /** Receiver's time from accept to end of stream. */
  seconds: number;
  /** Payload bit rate seen by the receiver. */
  gbps: number;
}

/** Waits until a child printed a line matching re on stdout (or exited, or the time ran out). */
export function waitLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let text = '';
    const done = (v: boolean): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      resolve(v);
    };
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (re.test(text)) done(true);
    };
    const onExit = (): void => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Sends `bytes` over one TCP connection from `from` to `toAddr`:port in
 * namespace `to` (node programs on both ends), bounded by timeoutMs.
 */
export async function tcpTransfer(from: Netns, to: Netns, toAddr: string, bytes: number, timeoutMs = 60_000, port = 5001): Promise<Transfer> {
  const sink = to.spawn([process.execPath, '-e', TCP_SINK, String(port)]);
  // Listen for the whole output before anything else reads the pipe.
  const sinkDone = waitExit(sink, timeoutMs);
  try {
    if (!(await waitLine(sink, /ready/, 10_000))) throw new Error(`tcp sink in ${to.name} did not start: ${(await sinkDone).stderr}`);
    const src = await run(from, [process.execPath, '-e', TCP_SOURCE, toAddr, String(port), String(bytes)], timeoutMs);
    const rcv = await sinkDone;
    const a = src.stdout.trim().split(' ');
    const lines = rcv.stdout.trim().split('\n');
    const b = (lines[lines.length - 1] ?? '').split(' ');
    if (src.code !== 0 || rcv.code !== 0 || a.length !== 3 || b.length !== 3) {
      throw new Error(`tcp transfer ${from.name} -> ${to.name}: source exit ${src.code} ${src.stdout}${src.stderr}; sink exit ${rcv.code} ${rcv.stdout}${rcv.stderr}`);
    }
    const seconds = Number(b[2]);
    return { sent: Number(a[0]), sentSha: a[1]!, received: Number(b[0]), receivedSha: b[1]!, seconds, gbps: (Number(b[0]) * 8) / seconds / 1e9 };
  } finally {
    if (sink.exitCode === null) sink.kill('SIGKILL');
  }
}

// ------------------------------------------------------------- tshark

export interface Capture {
  /** Ends the capture (SIGINT, so tshark finishes the file) and waits for it. */
  stop(): Promise<void>;
}

/**
 * Starts `tshark -i IFACE -w FILE` in a namespace and resolves once it
 * captures (its "Capturing on" line), so that traffic sent afterwards is in
 * the file. Bounded by `seconds` and `count` packets.
 */
export async function capture(ns: Netns, iface: string, file: string, o: { seconds?: number; count?: number; filter?: string } = {}): Promise<Capture> {
  const args = ['tshark', '-n', '-q', '-i', iface, '-F', 'pcap', '-w', file, '-a', `duration:${o.seconds ?? 20}`, '-c', String(o.count ?? 1000)];
  if (o.filter !== undefined) args.push('-f', o.filter);
  const child = ns.spawn(args);
  const exited = waitExit(child, ((o.seconds ?? 20) + 10) * 1000);
  let started = await new Promise<boolean>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(false), 15_000);
    child.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('Capturing on')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  // "Capturing on" comes before the capture socket is bound; the file's
  // header is written after. Wait for it, then a little more.
  if (started && !(await until(() => existsSync(file) && statSync(file).size > 0, 10_000))) started = false;
  if (started) await sleep(250);
  if (!started) {
    child.kill('SIGKILL');
    const r = await exited;
    throw new Error(`tshark on ${ns.name}/${iface} did not start: ${r.stderr}`);
  }
  return {
    async stop() {
      // Let the last packets reach the file before tshark is told to end.
      await sleep(300);
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

/**
 * Reads a capture with tshark: one array of field values per packet that
 * passes the display filter. `decodeAs` entries go to `-d` (e.g.
 * "udp.port==6635,mpls"), `prefs` to `-o` (e.g. "tcp.check_checksum:TRUE").
 */
export function tsharkFields(file: string, filter: string, fields: string[], decodeAs: string[] = [], prefs: string[] = []): string[][] {
  const args = ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const d of decodeAs) args.push('-d', d);
  for (const o of prefs) args.push('-o', o);
  for (const f of fields) args.push('-e', f);
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}

