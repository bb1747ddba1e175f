/**
 * A TAP deleted under the running dataplane: the dataplane reports a
 * 'port-error' for it and goes on forwarding between its other ports.
 *
 *   h1: vm1tap 10.0.0.1 ─┐
 *                        ├─ [nsV: vtep, bridge VNI 42] ─veth─ [nsK: kernel vx0 + br0] ─ h2: eth0 10.0.0.2
 *   h3: vm3tap 10.0.0.3 ─┘
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { fromConfig } from '../../src/dataplane/fromconfig.js';
import { VtepError } from '../../src/errors.js';
import { Netns, veth, skipWithoutNetns } from '../helpers/netns.js';
import { attachTap, hostOnBridge, kernelVtep, noIpv6, ping, until } from './topo.js';

const MTU = 1450;

if (!skipWithoutNetns('e2e port-error')) {
  test('a TAP deleted while running: one port-error event, the other ports keep forwarding', async () => {
    const made: Netns[] = [];
    let dp: Dataplane | undefined;
    try {
      for (const p of ['pv', 'pk', 'p1', 'p2', 'p3']) made.push(Netns.create(p));
      const [nsV, nsK, h1, h2, h3] = made as [Netns, Netns, Netns, Netns, Netns];
      for (const ns of made) noIpv6(ns);
      veth(nsV, 'u0', '198.18.0.1/24', nsK, 'u0', '198.18.0.2/24');
      kernelVtep(nsK, { dev: 'u0', local: '198.18.0.2', flood: ['198.18.0.1'], vni: 42 });
      // Pings only: ICMP checksums are never left to offload, so no ethtool workaround (see hostOnBridge).
      hostOnBridge(nsK, 'vm2p', 'br0', h2, { addr: '10.0.0.2/24', mac: '02:00:0a:00:00:02', mtu: MTU, txChecksumOff: false });
      dp = fromConfig({
        underlay: { address: '198.18.0.1', netns: nsV.name },
        bridges: [{
          vni: 42, flood: ['198.18.0.2'],
          ports: [{ tap: 'vm1tap', netns: nsV.name, mtu: MTU, mac: '02:00:0a:00:00:01' }, { tap: 'vm3tap', netns: nsV.name, mtu: MTU, mac: '02:00:0a:00:00:03' }],
        }],
      });
      const errors: { port: string; error: unknown }[] = [];
      dp.on('port-error', (e: { port: string; error: unknown }) => errors.push(e));
      dp.start();
      attachTap(nsV, 'vm1tap', h1, { addr: '10.0.0.1/24' });
      attachTap(nsV, 'vm3tap', h3, { addr: '10.0.0.3/24' });

      // All three hosts reach each other: two local ports, one behind the kernel VTEP.
      for (const [from, to] of [[h1, '10.0.0.3'], [h3, '10.0.0.2'], [h1, '10.0.0.2']] as const) {
        const r = await ping(from, to, 2);
        assert.is(r.received, 2, `${from.name} -> ${to}: ${r.output}`);
      }
      assert.equal(errors, [], 'no port errors while all is well');

      // The VM goes away: its TAP is deleted in the host namespace, under the dataplane.
      h3.ip('link', 'del', 'vm3tap');
      assert.ok(await until(() => errors.length > 0, 5000), 'a port-error event');
      assert.is(errors.length, 1, JSON.stringify(errors));
      assert.is(errors[0]!.port, 'vm3tap');
      assert.instance(errors[0]!.error, VtepError);
      assert.is((errors[0]!.error as VtepError).code, 'ERR_NATIVE');
      assert.ok(dp.port('vm3tap').failed !== undefined, 'the port is marked failed');

      // The rest keeps forwarding: vm1 <-> vm2 across the kernel VTEP, ARP flooding included
      // (the flood copy for the dead port is dropped and counted).
      h1.ip('neigh', 'flush', 'all');
      const r = await ping(h1, '10.0.0.2', 3);
      assert.is(r.received, 3, r.output);
      const back = await ping(h2, '10.0.0.1', 3);
      assert.is(back.received, 3, back.output);
      assert.is(errors.length, 1, 'one event, not one per packet');

      // The application removes the dead port; the dataplane goes on without it.
      dp.removePort('vm3tap');
      assert.is(dp.stats().ports.vm3tap, undefined);
      h1.ip('neigh', 'flush', 'all');
      const again = await ping(h1, '10.0.0.2', 2);
      assert.is(again.received, 2, again.output);
      const s = dp.stats();
      assert.is(s.pool.free, s.pool.slots, 'every slot back in the pool');
    } finally {
      dp?.close();
      for (const ns of made) ns.delete();
    }
  });
}

test.run();
