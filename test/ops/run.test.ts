/**
 * A real `vtep run` in namespaces, driven by `vtep ctl`: hosts h1..h3 behind
 * TAPs of bridge vxlan-42 (created in the hosts' namespaces), h4/h5 behind
 * gateway ports of VRF red; the underlay is an address on nsV's loopback.
 *
 * The tests that change the switch need the dataplane facade
 * (src/dataplane/api.ts); until the dataplane has it they print one skip line
 * naming the methods it lacks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Netns, skipWithoutNetns, waitExit, PACKAGE_DIR } from '../../src/util/netns.js';
import { ping, sleep, until, noIpv6 } from '../../src/util/topo.js';
import { icmpPing } from '../../src/util/ping.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { missingFacade } from '../../src/ops/target.js';
import { tempDir, haveTool } from '../helpers/tools.js';

const VTEP = path.join(PACKAGE_DIR, 'bin', 'vtep.js');
const MAC = (n: number) => `02:00:0a:00:00:0${n}`;

interface World {
  nsV: Netns;
  h: Netns[];
  dir: string;
  sock: string;
  file: string;
  child: ChildProcess;
  stderr: () => string;
  done: () => void;
}

function config(w: Pick<World, 'nsV' | 'h'>, o: { bridge44?: boolean; withVm2?: boolean } = {}): object {
  const [h1, h2, h3, h4, h5] = w.h as [Netns, Netns, Netns, Netns, Netns];
  const ports = [{ tap: 'vm1', netns: h1.name }];
  if (o.withVm2 ?? true) ports.push({ tap: 'vm2', netns: h2.name });
  const bridges: object[] = [{ vni: 42, ports, flood: ['198.18.0.2'] }];
  if (o.bridge44) bridges.push({ vni: 44, ports: [{ tap: 'vm6', netns: h3.name }] });
  return {
    underlay: { address: '198.18.0.1', netns: w.nsV.name },
    bridges,
    vrfs: [{ name: 'red', label: 100, ports: [{ tap: 'r1', netns: h4.name, gateway: '10.1.0.1/24' }, { tap: 'r2', netns: h5.name, gateway: '10.2.0.1/24' }] }],
  };
}

/** Addresses a host's TAP once vtep run made it (it is up already). */
function host(ns: Netns, dev: string, mac: string, cidr: string, gw?: string): void {
  ns.ip('link', 'set', dev, 'address', mac);
  ns.ip('addr', 'add', cidr, 'dev', dev);
  ns.ip('link', 'set', dev, 'up');
  if (gw !== undefined) ns.ip('route', 'add', 'default', 'via', gw);
}

async function start(): Promise<World> {
  const made: Netns[] = [];
  const { dir, done: rmDir } = tempDir('ctlrun');
  try {
    const nsV = Netns.create('cv');
    made.push(nsV);
    nsV.ip('addr', 'add', '198.18.0.1/32', 'dev', 'lo');
    const h: Netns[] = [];
    for (let i = 1; i <= 5; i++) {
      const n = Netns.create(`c${i}`);
      made.push(n);
      noIpv6(n);
      h.push(n);
    }
    const file = path.join(dir, 'vswitch.json');
    const sock = path.join(dir, 'vtep.sock');
    writeFileSync(file, JSON.stringify(config({ nsV, h })));
    const child = spawn(process.execPath, [VTEP, 'run', '--config', file, '--socket', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += String(d)));
    child.stdout!.resume();
    if (!(await until(() => err.includes('running with'), 15_000))) throw new Error(`vtep run did not start: ${err}`);
    host(h[0]!, 'vm1', MAC(1), '10.0.0.1/24');
    host(h[1]!, 'vm2', MAC(2), '10.0.0.2/24');
    host(h[3]!, 'r1', MAC(4), '10.1.0.4/24', '10.1.0.1');
    host(h[4]!, 'r2', MAC(5), '10.2.0.5/24', '10.2.0.1');
    return {
      nsV, h, dir, sock, file, child, stderr: () => err,
      done: () => {
        if (child.exitCode === null) child.kill('SIGKILL');
        for (const n of made) n.delete();
        rmDir();
      },
    };
  } catch (e) {
    for (const n of made) n.delete();
    rmDir();
    throw e;
  }
}

function ctl(w: World, ...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VTEP, 'ctl', '--socket', w.sock, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function ctlOk(w: World, ...args: string[]): string {
  const r = ctl(w, ...args);
  assert.is(r.status, 0, `vtep ctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

if (!skipWithoutNetns('vtep run with vtep ctl')) {
  const missing = missingFacade(new Dataplane());
  let w: World | undefined;
  const world = (): World => w!;
  test.before(async () => {
    w = await start();
  });
  test.after(() => w?.done());

  test('the control socket is 0600; ctl stats answers; a non-owner is refused', () => {
    assert.is(statSync(world().sock).mode & 0o777, 0o600);
    const s = JSON.parse(ctlOk(world(), '--json', 'stats')) as { ports: Record<string, unknown> };
    assert.ok('vm1' in s.ports && 'r2' in s.ports, Object.keys(s.ports).join(' '));
    const r = spawnSync(process.execPath, [VTEP, 'ctl', '--socket', world().sock, 'stats'], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /EACCES/);
  });

  test('SIGHUP with a bad file: refused with the field named, the switch goes on', async () => {
    const w0 = world();
    const good = JSON.stringify(config(w0));
    writeFileSync(w0.file, JSON.stringify({ ...JSON.parse(good), bridges: [{ vni: 1 << 24 }] }));
    w0.child.kill('SIGHUP');
    assert.ok(await until(() => w0.stderr().includes('reload refused'), 5000), w0.stderr());
    assert.match(w0.stderr(), /reload refused: .*bridges\[0\]\.vni: 16777216 is not an integer/);
    writeFileSync(w0.file, good);
    assert.is(w0.child.exitCode, null, 'still running');
    const r = ctl(w0, 'reload');
    if (missing.length === 0) assert.is(r.status, 0, r.stderr);
    const p = await ping(w0.h[0]!, '10.0.0.2', 2);
    assert.is(p.received, 2, p.output);
  });

  if (missing.length > 0) {
    console.log(`skip: vtep ctl port/route/fdb/reload/capture in namespaces need the dataplane facade (missing: ${missing.join(', ')})`);
  } else {
    test('port add: a VM added at run time pings at once', async () => {
      ctlOk(world(), 'port', 'add', 'vm3', '--bridge', 'vxlan-42', '--netns', world().h[2]!.name);
      host(world().h[2]!, 'vm3', MAC(3), '10.0.0.3/24');
      const p = await ping(world().h[2]!, '10.0.0.1', 3);
      assert.is(p.received, 3, p.output);
      assert.match(ctlOk(world(), 'show'), /\nvm3\s+tap\s+bridge\s+vxlan-42\s+up/);
    });

    test('trace N: the next packets\' paths through the stages; stats shows ports and stages', async () => {
      const [h1] = world().h as [Netns];
      const tr = spawn(process.execPath, [VTEP, 'ctl', '--socket', world().sock, 'trace', '2', '--timeout', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const done = waitExit(tr, 40_000);
      await sleep(1500);
      await icmpPing(h1.name, '10.0.0.2', { count: 3, intervalMs: 300, waitMs: 1000 });
      const r = await done;
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stdout, /^packet 1: \d+ bytes in on (vm1|vm2)\n  port-input/, r.stdout);
      assert.match(r.stdout, /\npacket 2: /);
      const st = ctlOk(world(), 'stats');
      assert.match(st, /^PORT\s+ROLE\s+RX PKTS/);
      assert.match(st, /\nSTAGE\s+COUNTER\s+VALUE\n/);
    });

    test('route add steers, route del stops traffic', async () => {
      const [, , , h4, h5] = world().h as [Netns, Netns, Netns, Netns, Netns];
      h5.ip('addr', 'add', '10.9.0.5/32', 'dev', 'lo');
      ctlOk(world(), 'route', 'add', 'red', '10.9.0.0/16', 'port=r2,via=10.2.0.5');
      assert.is((await ping(h4, '10.9.0.5', 2)).received, 2);
      assert.match(ctlOk(world(), 'route', 'show', 'red'), /10\.9\.0\.0\/16\s+port r2 via 10\.2\.0\.5/);
      ctlOk(world(), 'route', 'del', 'red', '10.9.0.0/16');
      assert.is((await ping(h4, '10.9.0.5', 2)).received, 0);
    });

    test('fdb add steers an unknown MAC to one port instead of flooding', async () => {
      const [h1] = world().h as [Netns];
      h1.ip('neigh', 'replace', '10.0.0.99', 'lladdr', '02:00:0a:00:00:99', 'dev', 'vm1', 'nud', 'permanent');
      const tx = (port: string): number => (JSON.parse(ctlOk(world(), '--json', 'stats')) as { ports: Record<string, { txPackets: number }> }).ports[port]!.txPackets;
      await icmpPing(h1.name, '10.0.0.99', { count: 3, intervalMs: 200, waitMs: 300 });
      const vm3Flooded = tx('vm3');
      ctlOk(world(), 'fdb', 'add', 'vxlan-42', '02:00:0a:00:00:99', 'port', 'vm2');
      const vm2Before = tx('vm2');
      await icmpPing(h1.name, '10.0.0.99', { count: 3, intervalMs: 200, waitMs: 300 });
      assert.ok(tx('vm2') >= vm2Before + 3, 'to vm2');
      assert.is(tx('vm3'), vm3Flooded, 'no longer flooded to vm3');
      assert.match(ctlOk(world(), 'fdb', 'show', 'vxlan-42'), /02:00:0a:00:00:99\s+static\s+port vm2/);
    });

    test('reload adding a bridge and removing a port: a third port\'s ping stream loses nothing', async () => {
      const w0 = world();
      const stream = icmpPing(w0.h[3]!.name, '10.2.0.5', { count: 200, intervalMs: 10, waitMs: 2000 });
      await sleep(500);
      writeFileSync(w0.file, JSON.stringify(config(w0, { bridge44: true, withVm2: false })));
      const r = ctlOk(w0, 'reload');
      assert.match(r, /bridge add vxlan-44/);
      assert.match(r, /port del vm2/);
      const out = (await stream).output;
      assert.match(out, /200 packets transmitted, 200 received/, out);
      assert.not.match(ctlOk(w0, 'show'), /\nvm2 /);
    });

    test('capture: tshark reads the pcapng from the pipe as it comes, exactly the frames sent', async () => {
      if (!haveTool('tshark')) {
        console.log('skip: the capture test needs tshark (Debian package tshark)');
        return;
      }
      const [h1] = world().h as [Netns];
      h1.ip('neigh', 'replace', '10.0.0.3', 'lladdr', MAC(3), 'dev', 'vm1', 'nud', 'permanent');
      // A shell pipe, as a user types it (tshark refuses a socket as its standard input).
      const errFile = path.join(world().dir, 'capture.err');
      const q = (x: string): string => `'${x}'`;
      const cmd = `timeout 40 ${q(process.execPath)} ${q(VTEP)} ctl --socket ${q(world().sock)} capture vm1 --direction rx -c 5 -w - 2>${q(errFile)}`
        + ' | timeout 50 tshark -r - -T fields -e icmp.type -e icmp.seq';
      const cap = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
      const done = waitExit(cap, 60_000);
      const capErr = (): string => (existsSync(errFile) ? readFileSync(errFile, 'utf8') : '');
      assert.ok(await until(() => capErr().includes('listening on vm1'), 20_000), capErr());
      await icmpPing(h1.name, '10.0.0.3', { count: 5, intervalMs: 200, waitMs: 1000 });
      const r = await done;
      assert.is(r.code, 0, `${capErr()}${r.stderr}`);
      assert.equal(r.stdout.trim().split('\n'), ['8\t0', '8\t1', '8\t2', '8\t3', '8\t4'], 'five echo requests, sequence 0..4');
      const rStderr = capErr();
      assert.match(rStderr, /capture: 5 frames of vm1/);
    });

    test('a capture reader that stops reading: drops counted, the switch forwards on', async () => {
      const [h1] = world().h as [Netns];
      const raw = net.connect(world().sock);
      await new Promise((r) => raw.once('connect', r));
      raw.pause();
      raw.write('{"id":1,"cmd":"capture","args":{"port":"vm1"}}\n');
      await sleep(500);
      // As fast as one timer a packet goes: 5,000 echoes of 1,400 bytes and their replies (14 MB) against a 4 MiB queue.
      const flood = await icmpPing(h1.name, '10.0.0.3', { count: 5000, intervalMs: 0, waitMs: 2000, size: 1400 });
      assert.match(flood.output, /5000 packets transmitted, 5000 received/, flood.output.slice(-200));
      raw.resume();
      raw.write('{"id":2,"cmd":"cancel","args":{"id":1}}\n');
      let text = '';
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20_000);
        raw.on('data', (d) => {
          text += String(d);
          if (text.includes('"id":1,"ok":true')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      raw.destroy();
      const finLine = text.split('\n').find((l) => l.startsWith('{"id":1,"ok":true'));
      assert.ok(finLine !== undefined, `the capture's final line: ${text.slice(-300)}`);
      const fin = JSON.parse(finLine!) as { result: { seen: number; dropped: number } };
      assert.ok(fin.result.seen >= 10000, JSON.stringify(fin.result));
      assert.ok(fin.result.dropped > 0, 'the stalled reader lost frames');
    });
  }

  test('SIGTERM: vtep run exits 0 and removes its socket', async () => {
    const w0 = world();
    const exited = waitExit(w0.child, 10_000);
    w0.child.kill('SIGTERM');
    const { code } = await exited;
    assert.is(code, 0, w0.stderr());
    assert.ok(await until(() => spawnSync('test', ['-e', w0.sock]).status !== 0, 2000), 'socket file removed');
  });

  test.run();
}
