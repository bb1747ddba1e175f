/**
 * The control plane against a real etcd (on 127.0.0.1, random ports, data in
 * a temporary folder, killed in a finally), with in-memory dataplanes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { EtcdCluster, etcdBinary, freePort, ETCD_SKIP } from '../../src/util/etcd.js';
import { Keys } from '../../src/control/model.js';
import { makeHost, macOf, until, sleep, fdbRemote, flood, route, rawClient, type FleetHost } from './fleet.js';

async function withFleet(n: number, o: { members?: number; ttl?: number; anycast?: boolean }, fn: (hosts: FleetHost[], etcd: EtcdCluster) => Promise<void>): Promise<void> {
  const etcd = await EtcdCluster.start({ members: o.members ?? 1 });
  const hosts: FleetHost[] = [];
  try {
    for (let i = 1; i <= n; i++) hosts.push(makeHost(i, etcd.endpoints(), o));
    await Promise.all(hosts.map((h) => h.control.start()));
    await fn(hosts, etcd);
  } finally {
    await Promise.all(hosts.map((h) => h.control.stop({ revoke: false }).catch(() => undefined)));
    etcd.stop();
  }
}

/** Every host learns its MAC and its IP in both bridges and snoops a VM in VRF red. */
function populate(hosts: FleetHost[]): void {
  for (const [k, h] of hosts.entries()) {
    const i = k + 1;
    for (const b of [42, 43]) {
      h.dp.snoop(`vxlan-${b}`, `10.0.${b}.${i}`, macOf(i, b));
      h.dp.learn(`vxlan-${b}`, macOf(i, b), { port: `vm${i}${b === 42 ? 'a' : 'b'}` });
    }
    h.dp.snoop('red', `10.1.${i}.10`, '02:00:00:00:01:10', `r${i}`);
  }
}

/** A TCP relay to etcd on 127.0.0.1 that can cut every connection and refuse new ones for a while. */
class TcpProxy {
  private readonly socks = new Set<Socket>();
  private server: Server | undefined;
  private constructor(readonly port: number, private readonly target: number) {}

  static async start(target: number): Promise<TcpProxy> {
    const p = new TcpProxy(await freePort(), target);
    await p.restore();
    return p;
  }
  restore(): Promise<void> {
    this.server = createServer((s) => {
      const up = connect(this.target, '127.0.0.1');
      for (const x of [s, up]) {
        this.socks.add(x);
        x.on('error', () => undefined);
        x.on('close', () => this.socks.delete(x));
      }
      s.pipe(up).pipe(s);
    });
    return new Promise((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }
  cut(): void {
    this.server?.close();
    this.server = undefined;
    for (const s of this.socks) s.destroy();
  }
  close(): void {
    this.cut();
  }
}

if (etcdBinary() === undefined) {
  console.log(`skip: control/etcd ${ETCD_SKIP}`);
} else {
  test('three hosts converge: flood lists, remote MACs, ARP suppression, routes and ECMP', async () => {
    await withFleet(3, { anycast: true }, async (hosts, etcd) => {
      populate(hosts);
      const [h1, h2, h3] = hosts as [FleetHost, FleetHost, FleetHost];
      await until('convergence', () => hosts.every((h, k) => hosts.every((o, j) => j === k || (fdbRemote(h.dp, 'vxlan-43', macOf(j + 1, 43)) === o.underlay && route(h.dp, `10.1.${j + 1}.10/32`) !== undefined))));
      assert.equal(flood(h1.dp, 'vxlan-42'), ['198.18.0.2', '198.18.0.3']);
      assert.equal(flood(h2.dp, 'vxlan-43'), ['198.18.0.1', '198.18.0.3']);
      assert.is(fdbRemote(h1.dp, 'vxlan-42', macOf(2)), '198.18.0.2');
      assert.is(fdbRemote(h1.dp, 'vxlan-42', macOf(1)), undefined, 'a local MAC is not programmed as remote');
      assert.equal(h3.dp.arpEntries('vxlan-42').find((e) => e.ip === '10.0.42.1'), { owner: 'vxlan-42', ip: '10.0.42.1', mac: macOf(1) });
      // Subnets of the others, and the anycast subnet stays connected everywhere (config wins).
      assert.equal(route(h1.dp, '10.1.2.0/24'), ['198.18.0.2 mplsoudp 100']);
      assert.equal(route(h1.dp, '10.1.3.10/32'), ['198.18.0.3 mplsoudp 100']);
      assert.equal(route(h1.dp, '10.99.0.0/24'), ['port any1']);
      assert.equal(route(h1.dp, '10.1.1.0/24'), ['port r1']);
      for (const h of hosts) assert.equal(h.control.reconcile().diffs, [], `${h.name} reconciles clean`);
      // A host without the anycast subnet reaches it over ECMP.
      const h4 = makeHost(4, etcd.endpoints());
      try {
        await h4.control.start();
        await until('ECMP route on h4', () => route(h4.dp, '10.99.0.0/24')?.length === 3);
        assert.equal(route(h4.dp, '10.99.0.0/24'), ['198.18.0.1 mplsoudp 100', '198.18.0.2 mplsoudp 100', '198.18.0.3 mplsoudp 100']);
        await until('h4 in the flood lists', () => flood(h1.dp, 'vxlan-42').length === 3);
        await h4.control.stop(); // revoked: gone at once
        await until('h4 gone from ECMP', () => route(h1.dp, '10.99.0.0/24')?.[0] === 'port any1' && flood(h1.dp, 'vxlan-42').length === 2);
      } finally {
        await h4.control.stop().catch(() => undefined);
      }
      assert.equal(h1.logs.filter((l) => l.includes('skipped')), []);
    });
  });

  test('a MAC moves from one host to another and every table follows; the old host withdraws it', async () => {
    await withFleet(3, {}, async (hosts, etcd) => {
      populate(hosts);
      const [h1, h2, h3] = hosts as [FleetHost, FleetHost, FleetHost];
      const m = macOf(1);
      await until('h2 and h3 know the MAC at h1', () => fdbRemote(h2.dp, 'vxlan-42', m) === h1.underlay && fdbRemote(h3.dp, 'vxlan-42', m) === h1.underlay);
      h2.dp.learn('vxlan-42', m, { port: 'vm2a' }); // the VM now talks behind h2
      await until('h1 and h3 point at h2', () => fdbRemote(h1.dp, 'vxlan-42', m) === h2.underlay && fdbRemote(h3.dp, 'vxlan-42', m) === h2.underlay);
      assert.is(fdbRemote(h2.dp, 'vxlan-42', m), undefined, 'h2 holds it on a port, no remote entry');
      const raw = rawClient(etcd.endpoints());
      try {
        await until('h1 withdrew its key', () => h1.control.status().pending === 0);
        assert.is(await raw.get(Keys.mac('/vtep/v1/', 'h1', 'vxlan-42', m)).string(), null);
        assert.is(await raw.get(Keys.mac('/vtep/v1/', 'h2', 'vxlan-42', m)).string(), JSON.stringify({ ips: [] }));
      } finally {
        raw.close();
      }
      // It ages out at h2: everyone forgets it.
      h2.dp.age('vxlan-42', m);
      await until('MAC gone everywhere', () => fdbRemote(h1.dp, 'vxlan-42', m) === undefined && fdbRemote(h3.dp, 'vxlan-42', m) === undefined);
      for (const h of hosts) assert.equal(h.control.reconcile().diffs, []);
    });
  });

  test('a killed host vanishes from the others within the lease TTL', async () => {
    await withFleet(3, { ttl: 2 }, async (hosts) => {
      populate(hosts);
      const [h1, h2, h3] = hosts as [FleetHost, FleetHost, FleetHost];
      await until('h1 knows h3', () => fdbRemote(h1.dp, 'vxlan-42', macOf(3)) === h3.underlay && route(h1.dp, '10.1.3.0/24') !== undefined);
      await h3.control.stop({ revoke: false }); // a crash: the lease is left to expire
      // etcd expires a lease within about a second after its TTL; the bound leaves room for a busy machine.
      await until('h3 gone from h1 and h2', () =>
        [h1, h2].every((h) => fdbRemote(h.dp, 'vxlan-42', macOf(3)) === undefined && !flood(h.dp, 'vxlan-42').includes(h3.underlay) && route(h.dp, '10.1.3.0/24') === undefined && !h.dp.arpEntries().some((e) => e.ip === '10.0.42.3')),
      8000);
      assert.is(fdbRemote(h1.dp, 'vxlan-42', macOf(2)), h2.underlay, 'the others stay');
      assert.equal(h1.control.reconcile().diffs, []);
    });
  });

  test('a host whose lease was lost publishes its keys again', async () => {
    await withFleet(2, { ttl: 3 }, async (hosts, etcd) => {
      populate(hosts);
      const [h1, h2] = hosts as [FleetHost, FleetHost];
      await until('converged', () => fdbRemote(h2.dp, 'vxlan-42', macOf(1)) === h1.underlay);
      const raw = rawClient(etcd.endpoints());
      try {
        // Revoke h1's lease behind its back (as if it had expired during a partition).
        const owner = await raw.kv.range({ key: Buffer.from(Keys.host('/vtep/v1/', 'h1')) });
        await raw.leaseClient.leaseRevoke({ ID: owner.kvs[0]!.lease });
        await until('h1 gone from h2', () => fdbRemote(h2.dp, 'vxlan-42', macOf(1)) === undefined);
        await until('h1 back at h2', () => fdbRemote(h2.dp, 'vxlan-42', macOf(1)) === h1.underlay && flood(h2.dp, 'vxlan-42').includes(h1.underlay) && route(h2.dp, '10.1.1.10/32') !== undefined);
        assert.is(h1.control.status().leasesLost, 1);
        assert.ok(h1.logs.some((l) => l.includes('lost')), h1.logs.join('\n'));
        assert.equal((await h2.control.verify()).diffs, []);
      } finally {
        raw.close();
      }
    });
  });

  test('etcd down for 10 s: the dataplanes keep their state; afterwards the fleet resyncs', async () => {
    await withFleet(2, { ttl: 3 }, async (hosts, etcd) => {
      populate(hosts);
      const [h1, h2] = hosts as [FleetHost, FleetHost];
      await until('converged', () => fdbRemote(h1.dp, 'vxlan-42', macOf(2)) === h2.underlay && fdbRemote(h2.dp, 'vxlan-42', macOf(1)) === h1.underlay);
      const before = JSON.stringify([h1.dp.fdbEntries(), h1.dp.routes(), h1.dp.listBridges()]);
      const calls = { ...h1.dp.calls };
      etcd.kill(0);
      await sleep(3000);
      // Changes while etcd is down wait in the queue.
      h2.dp.learn('vxlan-42', '02:00:00:00:99:02', { port: 'vm2a' });
      await sleep(7000);
      assert.is(JSON.stringify([h1.dp.fdbEntries(), h1.dp.routes(), h1.dp.listBridges()]), before, 'nothing flushed while etcd is away');
      assert.equal(h1.dp.calls, calls);
      assert.not.ok(h1.control.status().connected);
      await etcd.restart(0);
      await until('the MAC learned during the outage arrives', () => fdbRemote(h1.dp, 'vxlan-42', '02:00:00:00:99:02') === h2.underlay, 20000);
      await until('h1 still has h2 after the leases settle', () => fdbRemote(h1.dp, 'vxlan-42', macOf(2)) === h2.underlay);
      await sleep(2 * 3000); // a lease lost during the outage is re-granted and re-published by now
      await until('h2 back everywhere', () => fdbRemote(h1.dp, 'vxlan-42', macOf(2)) === h2.underlay && flood(h1.dp, 'vxlan-42').includes(h2.underlay), 10000);
      assert.equal(h1.control.reconcile().diffs, []);
      assert.equal(h2.control.reconcile().diffs, []);
      assert.ok(h1.control.status().connected);
    });
  });

  test('a 3-member etcd cluster with one member killed: the fleet keeps converging', async () => {
    await withFleet(3, { members: 3 }, async (hosts, etcd) => {
      populate(hosts);
      const [h1, h2, h3] = hosts as [FleetHost, FleetHost, FleetHost];
      await until('converged', () => fdbRemote(h3.dp, 'vxlan-42', macOf(1)) === h1.underlay);
      etcd.kill(0);
      h1.dp.learn('vxlan-42', '02:00:00:00:77:01', { port: 'vm1a' });
      h2.dp.learn('vxlan-43', '02:00:00:00:77:02', { port: 'vm2b' });
      await until('new MACs reach everyone', () =>
        fdbRemote(h3.dp, 'vxlan-42', '02:00:00:00:77:01') === h1.underlay && fdbRemote(h3.dp, 'vxlan-43', '02:00:00:00:77:02') === h2.underlay && fdbRemote(h1.dp, 'vxlan-43', '02:00:00:00:77:02') === h2.underlay,
      20000);
      for (const h of hosts) assert.equal(h.control.reconcile().diffs, []);
    });
  });

  test('a host cut off while the store changed and was compacted resyncs by revision and converges', async () => {
    const etcd = await EtcdCluster.start();
    const proxy = await TcpProxy.start(Number(new URL(etcd.endpoints()[0]!).port));
    const h1 = makeHost(1, [`http://127.0.0.1:${proxy.port}`]); // reaches etcd only through the proxy
    const h2 = makeHost(2, etcd.endpoints());
    const raw = rawClient(etcd.endpoints());
    try {
      await h1.control.start();
      await h2.control.start();
      populate([h1, h2]);
      await until('converged', () => fdbRemote(h1.dp, 'vxlan-42', macOf(2)) === h2.underlay && fdbRemote(h2.dp, 'vxlan-42', macOf(1)) === h1.underlay);
      proxy.cut();
      h2.dp.learn('vxlan-42', '02:00:00:00:55:02', { port: 'vm2a' });
      h2.dp.age('vxlan-42', macOf(2));
      await until('h2 wrote', () => h2.control.status().pending === 0);
      const rev = (await raw.kv.range({ key: Buffer.from('/vtep/') })).header.revision;
      await raw.kv.compact({ revision: rev, physical: true });
      assert.is(fdbRemote(h1.dp, 'vxlan-42', macOf(2)), h2.underlay, 'cut off: h1 keeps what it had');
      const before = h1.control.status().resyncs;
      await proxy.restore();
      await until('h1 caught up', () => fdbRemote(h1.dp, 'vxlan-42', '02:00:00:00:55:02') === h2.underlay && fdbRemote(h1.dp, 'vxlan-42', macOf(2)) === undefined, 20000);
      assert.ok(h1.control.status().resyncs > before, 'the reconnection led to a resync');
      assert.equal((await h1.control.verify()).diffs, []);
    } finally {
      raw.close();
      await h1.control.stop({ revoke: false }).catch(() => undefined);
      await h2.control.stop({ revoke: false }).catch(() => undefined);
      proxy.close();
      etcd.stop();
    }
  });

  test('bad records in the store are logged and skipped, never half-programmed', async () => {
    await withFleet(1, {}, async (hosts, etcd) => {
      const [h1] = hosts as [FleetHost];
      const raw = rawClient(etcd.endpoints());
      try {
        const root = '/vtep/v1/';
        const bad: [string, string][] = [
          [Keys.host(root, 'x1'), 'not json'],
          [Keys.host(root, 'x2'), JSON.stringify({ underlay: '300.1.1.1', bridges: [], vrfs: [] })],
          [Keys.host(root, 'x3'), JSON.stringify({ underlay: '198.18.0.9', bridges: [{ encap: 'vxlan', id: 1 << 25 }], vrfs: [] })],
          [Keys.mac(root, 'x9', 'vxlan-42', '02:00:00:00:00:09'), JSON.stringify({ ips: ['10.0.0.9', 'nope'] })],
          [`${root}hosts/x9/macs/vxlan-42/NOT-A-MAC`, '{}'],
          [Keys.route(root, 'x9', 'red', '10.9.0.0/16'), JSON.stringify({ encap: 'mplsoudp', id: 3 })],
          [`${root}hosts/x9/routes/red/10.9.0.1_16`, JSON.stringify({ encap: 'mplsoudp', id: 300 })],
          [Keys.host(root, 'x4'), JSON.stringify({ underlay: '198.18.0.1', bridges: [{ encap: 'vxlan', id: 42 }], vrfs: [] })], // h1's own address
        ];
        for (const [k, v] of bad) await raw.put(k).value(v);
        // And a good host x9 whose only MAC record is broken: its flood entry, not the MAC.
        await raw.put(Keys.host(root, 'x9')).value(JSON.stringify({ underlay: '198.18.0.9', bridges: [{ encap: 'vxlan', id: 42 }], vrfs: [{ name: 'red', label: 100 }] }));
        await until('x9 in the flood list', () => flood(h1.dp, 'vxlan-42').includes('198.18.0.9'));
        assert.is(h1.control.status().badRecords, bad.length);
        assert.equal(h1.dp.fdbEntries('vxlan-42'), []);
        assert.equal(h1.dp.arpEntries('vxlan-42'), []);
        assert.is(route(h1.dp, '10.9.0.0/16'), undefined);
        assert.equal(flood(h1.dp, 'vxlan-42'), ['198.18.0.9'], 'x1, x2, x3, x4 are not hosts');
        assert.ok(h1.logs.some((l) => l.includes('/x2/host') && l.includes('underlay')), h1.logs.join('\n'));
        // The broken MAC record repaired: now it is used; broken again: the entry goes.
        await raw.put(Keys.mac(root, 'x9', 'vxlan-42', '02:00:00:00:00:09')).value(JSON.stringify({ ips: ['10.0.0.9'] }));
        await until('fixed record programmed', () => fdbRemote(h1.dp, 'vxlan-42', '02:00:00:00:00:09') === '198.18.0.9');
        assert.is(h1.dp.arpEntries('vxlan-42')[0]?.mac, '02:00:00:00:00:09');
        await raw.put(Keys.mac(root, 'x9', 'vxlan-42', '02:00:00:00:00:09')).value('{"ips": 5}');
        await until('broken again: removed', () => fdbRemote(h1.dp, 'vxlan-42', '02:00:00:00:00:09') === undefined);
        assert.equal(h1.dp.arpEntries('vxlan-42'), []);
        assert.equal(h1.control.reconcile().diffs, []);
      } finally {
        raw.close();
      }
    });
  });

  test('a MAC flood is coalesced and batched: a MAC learned and aged within one tick costs no write; 500 MACs take 4 transactions', async () => {
    await withFleet(2, {}, async (hosts, etcd) => {
      const [h1, h2] = hosts as [FleetHost, FleetHost];
      await until('idle', () => h1.control.status().pending === 0);
      const writes = h1.control.status().writes;
      for (let i = 0; i < 1000; i++) h1.dp.learn('vxlan-42', `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, { port: 'vm1a' });
      for (let i = 0; i < 1000; i++) h1.dp.age('vxlan-42', `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`);
      assert.is(h1.control.status().pending, 0);
      const raw = rawClient(etcd.endpoints());
      try {
        const rev0 = Number((await raw.kv.range({ key: Buffer.from('/vtep/') })).header.revision);
        for (let i = 0; i < 500; i++) h1.dp.learn('vxlan-42', `02:00:00:02:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, { port: 'vm1a' });
        await until('500 MACs at h2', () => h2.dp.fdbEntries('vxlan-42').length === 500);
        const rev1 = Number((await raw.kv.range({ key: Buffer.from('/vtep/') })).header.revision);
        assert.is(rev1 - rev0, 4, 'one revision per transaction of up to 128 keys');
        assert.is(h1.control.status().writes - writes, 500);
      } finally {
        raw.close();
      }
    });
  });

  test('writes are rate-limited: at 10 keys/s, 50 MACs take seconds, never more than the budget', async () => {
    const etcd = await EtcdCluster.start();
    const h1 = makeHost(1, etcd.endpoints(), { extra: { maxWritesPerSecond: 10 } });
    try {
      await h1.control.start();
      await sleep(1100); // the start's writes used the bucket; let it refill
      const w0 = h1.control.status().writes;
      const t0 = Date.now();
      for (let i = 0; i < 50; i++) h1.dp.learn('vxlan-42', `02:00:00:03:00:${i.toString(16).padStart(2, '0')}`, { port: 'vm1a' });
      for (let k = 0; k < 10; k++) {
        await sleep(200);
        const written = h1.control.status().writes - w0;
        const budget = 10 + ((Date.now() - t0) / 1000) * 10; // a full bucket plus the refill
        assert.ok(written <= budget + 1, `${written} writes within ${Date.now() - t0} ms`);
      }
      await until('all written', () => h1.control.status().pending === 0, 15000);
      assert.is(h1.control.status().writes - w0, 50);
    } finally {
      await h1.control.stop().catch(() => undefined);
      etcd.stop();
    }
  });

  test('a resync changes nothing still valid; reconcile finds and fixes what was changed behind the control plane', async () => {
    await withFleet(2, {}, async (hosts) => {
      populate(hosts);
      const [h1, h2] = hosts as [FleetHost, FleetHost];
      await until('converged', () => fdbRemote(h1.dp, 'vxlan-42', macOf(2)) === h2.underlay && route(h1.dp, '10.1.2.0/24') !== undefined);
      // A resync (as after a compacted watch) re-reads everything and calls the dataplane for nothing still valid.
      const calls = { ...h1.dp.calls };
      await h1.control.resync();
      assert.equal(h1.dp.calls, calls, 'nothing flushed and re-added');
      assert.is(h1.control.status().resyncs, 2);
      h1.dp.removeFdb('vxlan-42', macOf(2));
      h1.dp.removeFlood('vxlan-43', h2.underlay);
      h1.dp.deleteRoute('red', '10.1.2.0/24');
      h1.dp.addFdb('vxlan-42', '02:00:00:00:66:66', { remote: '198.18.0.66' });
      const r = h1.control.reconcile();
      assert.is(r.diffs.length, 4, r.diffs.join('\n'));
      assert.equal(h1.control.reconcile().diffs, []);
      assert.is(fdbRemote(h1.dp, 'vxlan-42', macOf(2)), h2.underlay);
      assert.is(fdbRemote(h1.dp, 'vxlan-42', '02:00:00:00:66:66'), undefined);
    });
  });
}

test.run();
