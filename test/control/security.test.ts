/**
 * etcd authentication with one role per host (a host writes only its own
 * folder), and TLS with client certificates. Real etcd on 127.0.0.1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { Range } from 'etcd3';
import { EtcdCluster, etcdBinary, ETCD_SKIP } from '../../src/util/etcd.js';
import { Keys } from '../../src/control/model.js';
import { EtcdControl } from '../../src/control/etcd.js';
import { MemoryDataplane } from '../../src/control/memdp.js';
import { tempDir } from '../../src/util/tempdir.js';
import { makeHost, macOf, until, fdbRemote, rawClient, type FleetHost } from './fleet.js';

const ROOT = '/vtep/v1/';

/** The documented role of host `h`: read the fleet, write its own folder (docs/control.md). */
async function addHostUser(endpoints: string[], h: string): Promise<void> {
  const root = rawClient(endpoints, { username: 'root', password: 'rootpw' });
  try {
    const role = root.role(`vtep-${h}`);
    await role.create();
    await role.grant({ permission: 'Read', range: Range.prefix('/vtep/') });
    await role.grant({ permission: 'Readwrite', range: Range.prefix(Keys.hostDir(ROOT, h)) });
    await root.user(h).create(`${h}pw`);
    await root.user(h).addRole(`vtep-${h}`);
  } finally {
    root.close();
  }
}

if (etcdBinary() === undefined) {
  console.log(`skip: control/security ${ETCD_SKIP}`);
} else {
  test('per-host roles: each host publishes its own keys; a write into another host folder is refused by etcd', async () => {
    const etcd = await EtcdCluster.start();
    const hosts: FleetHost[] = [];
    const c = rawClient(etcd.endpoints());
    try {
      await c.user('root').create('rootpw');
      await c.user('root').addRole('root');
      await c.auth.authEnable({});
      c.close();
      for (const h of ['h1', 'h2']) await addHostUser(etcd.endpoints(), h);
      for (const i of [1, 2]) hosts.push(makeHost(i, etcd.endpoints(), { extra: { username: `h${i}`, password: `h${i}pw` } }));
      await Promise.all(hosts.map((h) => h.control.start()));
      const [h1, h2] = hosts as [FleetHost, FleetHost];
      h1.dp.learn('vxlan-42', macOf(1), { port: 'vm1a' });
      h2.dp.learn('vxlan-42', macOf(2), { port: 'vm2a' });
      await until('both see each other', () => fdbRemote(h1.dp, 'vxlan-42', macOf(2)) === h2.underlay && fdbRemote(h2.dp, 'vxlan-42', macOf(1)) === h1.underlay);

      const asH1 = rawClient(etcd.endpoints(), { username: 'h1', password: 'h1pw' });
      try {
        await asH1.put(Keys.mac(ROOT, 'h1', 'vxlan-42', '02:00:00:00:00:11')).value('{"ips":[]}');
        let refused: Error | undefined;
        try {
          await asH1.put(Keys.mac(ROOT, 'h2', 'vxlan-42', '02:00:00:00:00:66')).value('{"ips":[]}');
        } catch (err) {
          refused = err as Error;
        }
        assert.ok(refused !== undefined, 'h1 wrote into h2 folder');
        assert.match(refused.message, /permission denied/i);
        let deleteRefused = false;
        await asH1.delete().key(Keys.host(ROOT, 'h2')).exec().catch(() => (deleteRefused = true));
        assert.ok(deleteRefused, 'h1 deleted h2 host key');
        assert.ok((await asH1.get(Keys.host(ROOT, 'h2')).string()) !== null, 'h1 still reads the fleet');
      } finally {
        asH1.close();
      }
      const anonymous = rawClient(etcd.endpoints());
      try {
        let denied = false;
        await anonymous.put(Keys.host(ROOT, 'h9')).value('{}').catch(() => (denied = true));
        assert.ok(denied, 'a client without a user wrote');
      } finally {
        anonymous.close();
      }
    } finally {
      await Promise.all(hosts.map((h) => h.control.stop().catch(() => undefined)));
      c.close();
      etcd.stop();
    }
  });

  const haveOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
  if (!haveOpenssl) {
    console.log('skip: control/security TLS needs openssl (Debian package openssl)');
  } else {
    test('TLS with client certificates: hosts with a certificate converge; a client without one is refused', async () => {
      const dir = tempDir('tls');
      let etcd: EtcdCluster | undefined;
      const hosts: FleetHost[] = [];
      try {
        const f = (n: string): string => path.join(dir.dir, n);
        const ssl = (...args: string[]): void => {
          const r = spawnSync('openssl', args, { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
        };
        writeFileSync(f('san.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
        ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=vtep-test-ca');
        for (const n of ['server', 'h1', 'h2']) {
          ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${n}.key`), '-out', f(`${n}.csr`), '-subj', `/CN=${n}`);
          ssl('x509', '-req', '-in', f(`${n}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${n}.pem`), '-days', '1', '-extfile', f('san.cnf'));
        }
        etcd = await EtcdCluster.start({
          scheme: 'https',
          args: ['--cert-file', f('server.pem'), '--key-file', f('server.key'), '--trusted-ca-file', f('ca.pem'), '--client-cert-auth'],
        });
        for (const i of [1, 2]) hosts.push(makeHost(i, etcd.endpoints(), { extra: { ca: f('ca.pem'), cert: f(`h${i}.pem`), key: f(`h${i}.key`) } }));
        await Promise.all(hosts.map((h) => h.control.start()));
        const [h1, h2] = hosts as [FleetHost, FleetHost];
        h1.dp.learn('vxlan-42', macOf(1), { port: 'vm1a' });
        await until('h2 sees h1 over TLS', () => fdbRemote(h2.dp, 'vxlan-42', macOf(1)) === h1.underlay);
        // A client that trusts the CA but shows no certificate of its own.
        const stranger = new EtcdControl(new MemoryDataplane(), { host: 'x', underlay: '198.18.0.99', etcd: { endpoints: etcd.endpoints(), ca: f('ca.pem') }, log: () => undefined });
        let refused = false;
        await stranger.start().catch(() => (refused = true));
        await stranger.stop().catch(() => undefined);
        assert.ok(refused, 'a client without a certificate joined');
      } finally {
        await Promise.all(hosts.map((h) => h.control.stop().catch(() => undefined)));
        etcd?.stop();
        dir.done();
      }
    });
  }
}

test.run();
