/**
 * Three `vtep run` processes joined only through etcd: no static FDB, flood
 * list or ARP entry in any config. Each vtep has its underlay in its own
 * namespace on a shared bridge, and three hosts behind TAPs (bridges VNI 42
 * and 43, VRF red); etcd listens on 127.0.0.1 (the vtep processes run in the
 * root namespace and open their underlay sockets in theirs).
 *
 *   [nsU: br0] ─veth─ [ns1: vtep h1, u0 198.18.0.1] ─TAP─ a1 10.0.42.1  b1 10.0.43.1  r1 10.1.1.2 (gw 10.1.1.1)
 *              ─veth─ [ns2: vtep h2, u0 198.18.0.2] ─TAP─ a2 10.0.42.2  b2 10.0.43.2  r2 10.1.2.2 (gw 10.1.2.1)
 *              ─veth─ [ns3: vtep h3, u0 198.18.0.3] ─TAP─ a3 10.0.42.3  b3 10.0.43.3  r3 10.1.3.2 (gw 10.1.3.1)
 *
 * Runs once the Dataplane implements DataplaneApi (src/dataplane/api.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/io/native.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { isDataplaneApi } from '../../src/control/etcd.js';
import { EtcdCluster, etcdBinary, ETCD_SKIP } from '../../src/util/etcd.js';
import { Netns, veth, skipWithoutNetns } from '../helpers/netns.js';
import { tempDir } from '../helpers/tools.js';
import { attachTap, noIpv6, ping, sleep, tcpTransfer } from './topo.js';

const VTEP = path.join(PACKAGE_ROOT, 'bin', 'vtep.js');
const N = 3;
const MTU = 1400;
const TTL = 3;

interface Vtep {
  ns: Netns;
  proc: ChildProcess | undefined;
  stderr: string;
  hosts: Record<'a' | 'b' | 'r', Netns>;
}

function startVtep(v: Vtep, cfg: string): Promise<void> {
  v.proc = spawn(process.execPath, [VTEP, 'run', '--config', cfg, '--socket', cfg.replace(/\.json$/, '.sock')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vtep did not join: ${v.stderr}`)), 20_000);
    v.proc!.stderr!.on('data', (d: Buffer) => {
      v.stderr += d.toString();
      if (v.stderr.includes('joined the fleet')) {
        clearTimeout(timer);
        resolve();
      }
    });
    v.proc!.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vtep exited ${code}: ${v.stderr}`));
    });
  });
}

async function pingAll(vteps: Vtep[], what: string): Promise<void> {
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      if (i === j) continue;
      for (const [k, dst] of [['a', `10.0.42.${j + 1}`], ['b', `10.0.43.${j + 1}`], ['r', `10.1.${j + 1}.2`]] as const) {
        const r = await ping(vteps[i]!.hosts[k], dst, 2);
        assert.is(r.received, 2, `${what}: h${i + 1} ${k} -> ${dst}: ${r.output}`);
      }
    }
  }
}

if (skipWithoutNetns('e2e fleet')) {
  // printed
} else if (etcdBinary() === undefined) {
  console.log(`skip: e2e fleet ${ETCD_SKIP}`);
} else if (!isDataplaneApi(Dataplane.prototype)) {
  console.log('skip: e2e fleet needs the Dataplane to implement DataplaneApi (src/dataplane/api.ts)');
} else {
  test('three vtep run joined by etcd: pings and TCP between every pair in two VNIs and a VRF; an etcd outage stops nothing; a MAC that moves is followed', async () => {
    const tmp = tempDir('e2e-fleet');
    const made: Netns[] = [];
    const make = (p: string): Netns => {
      const ns = Netns.create(p);
      made.push(ns);
      noIpv6(ns);
      return ns;
    };
    const vteps: Vtep[] = [];
    let etcd: EtcdCluster | undefined;
    try {
      etcd = await EtcdCluster.start();
      const nsU = make('fu');
      nsU.ip('link', 'add', 'br0', 'type', 'bridge');
      nsU.ip('link', 'set', 'br0', 'up');
      for (let i = 1; i <= N; i++) {
        const ns = make('fv');
        veth(ns, 'u0', `198.18.0.${i}/24`, nsU, `p${i}`, undefined);
        nsU.ip('link', 'set', `p${i}`, 'master', 'br0');
        const tap = (t: string) => ({ tap: `${t}${i}`, netns: ns.name, mtu: MTU });
        const cfg = path.join(tmp.dir, `h${i}.json`);
        writeFileSync(cfg, JSON.stringify({
          underlay: { address: `198.18.0.${i}`, netns: ns.name },
          bridges: [{ vni: 42, ports: [tap('a')] }, { vni: 43, ports: [tap('b')] }],
          vrfs: [{ name: 'red', label: 100, ports: [{ ...tap('r'), gateway: `10.1.${i}.1/24` }] }],
          control: { host: `h${i}`, etcd: { endpoints: etcd.endpoints(), leaseTtl: TTL } },
        }));
        const v: Vtep = { ns, proc: undefined, stderr: '', hosts: { a: make('fa'), b: make('fb'), r: make('fr') } };
        vteps.push(v);
        await startVtep(v, cfg);
        attachTap(ns, `a${i}`, v.hosts.a, { addr: `10.0.42.${i}/24`, mac: `02:00:00:00:42:0${i}`, mtu: MTU });
        attachTap(ns, `b${i}`, v.hosts.b, { addr: `10.0.43.${i}/24`, mac: `02:00:00:00:43:0${i}`, mtu: MTU });
        attachTap(ns, `r${i}`, v.hosts.r, { addr: `10.1.${i}.2/24`, gateway: `10.1.${i}.1`, mac: `02:00:00:00:01:0${i}`, mtu: MTU });
      }
      await sleep(1000);
      await pingAll(vteps, 'fleet');
      for (let i = 0; i < N; i++) {
        const j = (i + 1) % N;
        const t = await tcpTransfer(vteps[i]!.hosts.r, vteps[j]!.hosts.r, `10.1.${j + 1}.2`, 4 << 20, 60_000, 5001 + i);
        assert.is(t.received, t.sent);
        assert.is(t.receivedSha, t.sentSha);
      }
      etcd.kill(0);
      await sleep(10_000);
      await pingAll(vteps, 'etcd down');
      await etcd.restart(0);
      await sleep(2 * TTL * 1000);
      await pingAll(vteps, 'etcd back');

      // A MAC moves: h1's VM in VNI 42 goes down and comes up behind h2 (a port added by a reload),
      // same MAC and address. h2 had it as a remote MAC from etcd; local learning takes it over at
      // once, h2 publishes it, and h3's traffic follows it to h2.
      vteps[0]!.hosts.a.ip('link', 'set', 'a1', 'down');
      const cfg2 = path.join(tmp.dir, 'h2.json');
      const c2 = JSON.parse(readFileSync(cfg2, 'utf8')) as { bridges: { ports: unknown[] }[] };
      c2.bridges[0]!.ports.push({ tap: 'm2', netns: vteps[1]!.ns.name, mtu: MTU });
      writeFileSync(cfg2, JSON.stringify(c2));
      vteps[1]!.proc!.kill('SIGHUP');
      const moved = make('fm');
      for (let t = 0; t < 100; t++) {
        if (vteps[1]!.ns.ip('link', 'show').includes('m2')) break;
        await sleep(100);
      }
      attachTap(vteps[1]!.ns, 'm2', moved, { addr: '10.0.42.1/24', mac: '02:00:00:00:42:01', mtu: MTU });
      const first = await ping(moved, '10.0.42.3', 3);
      assert.ok(first.received >= 1, `the moved VM reaches h3: ${first.output}`);
      let after = await ping(vteps[2]!.hosts.a, '10.0.42.1', 3);
      for (let t = 0; t < 10 && after.received < 3; t++) {
        await sleep(500);
        after = await ping(vteps[2]!.hosts.a, '10.0.42.1', 3);
      }
      assert.is(after.received, 3, `h3 reaches the moved VM behind h2: ${after.output}`);
      for (const v of vteps) assert.ok(v.proc?.exitCode === null, v.stderr);
    } finally {
      for (const v of vteps) v.proc?.kill('SIGTERM');
      await sleep(500);
      for (const v of vteps) if (v.proc?.exitCode === null) v.proc.kill('SIGKILL');
      for (const ns of made) ns.delete();
      etcd?.stop();
      tmp.done();
    }
  });
}

test.run();
