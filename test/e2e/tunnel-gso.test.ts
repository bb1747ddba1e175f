/**
 * The experimental send path through a TAP (`underlay.tap`), against the
 * kernel's VXLAN:
 *
 *   h1: vm1tap 10.0.0.1 ─TAP─ [nsV: vtep ─TAP vtepu0─ ub0 198.18.0.1 (bridge) ─ u0] ─veth─ [nsK: u0 198.18.0.2, vx0 + br0] ─veth─ h2: eth0 10.0.0.2
 *
 * vtep sends whole frames into vtepu0, which the test bridges with the
 * underlay veth; the bridge holds 198.18.0.1, so the kernel answers the
 * peer's ARP and vtep's UDP sockets receive. No nextHopMac is configured:
 * the first packets go through the sockets, the kernel resolves the peer,
 * and vtep takes the peer's MAC from the kernel's neighbor table. Where the kernel grants
 * UDP-tunnel GSO (Linux 6.17), each of vm1's TCP super-frames leaves as one
 * frame that the peer's VXLAN takes whole. Pings, then 20 MB of TCP each way
 * with matching sha256.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { fromConfig } from '../../src/dataplane/fromconfig.js';
import { Netns, veth, skipWithoutNetns, canUseNetns } from '../helpers/netns.js';
import { attachTap, hostOnBridge, kernelVtep, noIpv6, ping, tcpTransfer, until } from './topo.js';

const VNI = 42;
const MTU = 1450;
const OUR_MAC = '02:fc:18:00:00:01'; // the source MAC of what vtep sends through its TAP
/**
 * The uplink bridge's own MAC, set as a host's is: a Linux bridge without one takes its lowest
 * port's, so bridging vtep's TAP in could change it (when OUR_MAC sorts below the veth's random
 * one), which flushes the bridge's neighbors and leaves the peers' ARP entries for 198.18.0.1 stale.
 */
const UPLINK_MAC = '02:fc:18:00:00:fe';
const BYTES = 20 * 1024 * 1024;

if (!skipWithoutNetns('e2e tunnel-gso')) {
  test('underlay through a TAP: pings and 20 MB of TCP each way with the kernel VTEP; super-frames sent whole where the kernel has UDP-tunnel GSO', async () => {
    const made: Netns[] = [];
    let dp: Dataplane | undefined;
    try {
      for (const p of ['gv', 'gk', 'g1', 'g2']) made.push(Netns.create(p));
      const [nsV, nsK, h1, h2] = made as [Netns, Netns, Netns, Netns];
      for (const ns of made) noIpv6(ns);
      veth(nsV, 'u0', undefined, nsK, 'u0', '198.18.0.2/24');
      nsV.ip('link', 'add', 'ub0', 'address', UPLINK_MAC, 'type', 'bridge');
      nsV.ip('link', 'set', 'u0', 'master', 'ub0');
      nsV.ip('addr', 'add', '198.18.0.1/24', 'dev', 'ub0');
      nsV.ip('link', 'set', 'ub0', 'up');
      kernelVtep(nsK, { dev: 'u0', local: '198.18.0.2', flood: ['198.18.0.1'], vni: VNI });
      hostOnBridge(nsK, 'vm2p', 'br0', h2, { addr: '10.0.0.2/24', mac: '02:00:0a:00:00:02', mtu: MTU });
      const peerMac = nsK.exec(['cat', '/sys/class/net/u0/address']).trim();
      dp = fromConfig({
        underlay: { address: '198.18.0.1', netns: nsV.name, tap: { name: 'vtepu0', mac: OUR_MAC } },
        bridges: [{ vni: VNI, ports: [{ tap: 'vm1tap', netns: nsV.name, mtu: MTU, mac: '02:00:0a:00:00:01' }], flood: ['198.18.0.2'] }],
      });
      nsV.ip('link', 'set', 'vtepu0', 'master', 'ub0');
      dp.start();
      attachTap(nsV, 'vm1tap', h1, { addr: '10.0.0.1/24' });
      const p = await ping(h1, '10.0.0.2', 3);
      assert.ok(p.received > 0, p.output);
      // The pings went through the sockets and made the kernel resolve the peer; its MAC is read
      // at the next tick (every 500 ms), and from then on vtep sends through the TAP.
      assert.ok(await until(() => dp!.underlayNeighbors().some((n) => n.remote === '198.18.0.2'), 10_000), 'the peer\'s MAC read from the kernel');
      const a = await tcpTransfer(h1, h2, '10.0.0.2', BYTES, 60_000);
      assert.is(a.received, BYTES, JSON.stringify(a));
      assert.is(a.receivedSha, a.sentSha);
      const b = await tcpTransfer(h2, h1, '10.0.0.1', BYTES, 60_000, 5002);
      assert.is(b.received, BYTES, JSON.stringify(b));
      assert.is(b.receivedSha, b.sentSha);
      const s = dp.stats();
      const off = s.ports.vtepu0!.offloads ?? {};
      const g = s.nodes['gso-segment']!;
      // What came back reached the sockets (whole super-packets among it), not the TAP.
      assert.ok(s.ports['198.18.0.1:4789']!.rxPackets > 0, JSON.stringify(s.ports));
      // The peer's MAC came from the kernel; from then on vtep sent through the TAP.
      assert.equal(dp.underlayNeighbors().filter((n) => n.remote === '198.18.0.2'), [{ remote: '198.18.0.2', mac: peerMac }]);
      assert.ok(s.ports.vtepu0!.txPackets > 0, JSON.stringify(s.ports.vtepu0));
      if (off.udpTunnel === true) assert.ok(g.counters!.whole! > 0, JSON.stringify(g));
      else console.log(`  e2e tunnel-gso: the kernel granted no UDP-tunnel GSO (${JSON.stringify(off)}): super-frames were cut`);
      console.log(`  e2e tunnel-gso: 20 MB vm1 -> vm2 ${a.gbps.toFixed(2)} Gbit/s, vm2 -> vm1 ${b.gbps.toFixed(2)} Gbit/s; gso-segment ${JSON.stringify(g.counters)}`);
    } finally {
      dp?.close();
      for (const ns of made) ns.delete();
    }
  });
}

if (canUseNetns()) {
  test('underlay through a TAP with two kernel VTEPs on one segment: each is sent to at its own MAC, read from the kernel', async () => {
    const made: Netns[] = [];
    let dp: Dataplane | undefined;
    try {
      for (const p of ['gv', 'gk', 'gl', 'g1', 'g2', 'g3']) made.push(Netns.create(p));
      const [nsV, nsK, nsL, h1, h2, h3] = made as [Netns, Netns, Netns, Netns, Netns, Netns];
      for (const ns of made) noIpv6(ns);
      // ub0 (198.18.0.1) bridges vtep's TAP and two veths: 198.18.0.2 in nsK, 198.18.0.3 in nsL.
      veth(nsV, 'u0', undefined, nsK, 'u0', '198.18.0.2/24');
      veth(nsV, 'u1', undefined, nsL, 'u0', '198.18.0.3/24');
      nsV.ip('link', 'add', 'ub0', 'address', UPLINK_MAC, 'type', 'bridge');
      for (const d of ['u0', 'u1']) nsV.ip('link', 'set', d, 'master', 'ub0');
      nsV.ip('addr', 'add', '198.18.0.1/24', 'dev', 'ub0');
      nsV.ip('link', 'set', 'ub0', 'up');
      kernelVtep(nsK, { dev: 'u0', local: '198.18.0.2', flood: ['198.18.0.1'], vni: VNI });
      kernelVtep(nsL, { dev: 'u0', local: '198.18.0.3', flood: ['198.18.0.1'], vni: VNI });
      hostOnBridge(nsK, 'vm2p', 'br0', h2, { addr: '10.0.0.2/24', mac: '02:00:0a:00:00:02', mtu: MTU });
      hostOnBridge(nsL, 'vm3p', 'br0', h3, { addr: '10.0.0.3/24', mac: '02:00:0a:00:00:03', mtu: MTU });
      const macK = nsK.exec(['cat', '/sys/class/net/u0/address']).trim();
      const macL = nsL.exec(['cat', '/sys/class/net/u0/address']).trim();
      dp = fromConfig({
        underlay: { address: '198.18.0.1', netns: nsV.name, tap: { name: 'vtepu0', mac: OUR_MAC } },
        bridges: [{ vni: VNI, ports: [{ tap: 'vm1tap', netns: nsV.name, mtu: MTU, mac: '02:00:0a:00:00:01' }], flood: ['198.18.0.2', '198.18.0.3'] }],
      });
      nsV.ip('link', 'set', 'vtepu0', 'master', 'ub0');
      dp.start();
      attachTap(nsV, 'vm1tap', h1, { addr: '10.0.0.1/24' });
      // The first packets to each peer go through the sockets; the kernel resolves both peers.
      for (const dst of ['10.0.0.2', '10.0.0.3']) {
        const p = await ping(h1, dst, 3);
        assert.ok(p.received > 0, p.output);
      }
      // Read at the next tick (every 500 ms).
      await until(() => dp!.underlayNeighbors().filter((n) => n.remote !== '198.18.0.1').length === 2, 10_000);
      assert.equal(dp.underlayNeighbors().filter((n) => n.remote !== '198.18.0.1').sort((a, b) => a.remote.localeCompare(b.remote)), [
        { remote: '198.18.0.2', mac: macK },
        { remote: '198.18.0.3', mac: macL },
      ]);
      // Now through the TAP, each at its own MAC: both answer.
      const before = dp.stats().ports.vtepu0!.txPackets;
      for (const dst of ['10.0.0.2', '10.0.0.3']) {
        const p = await ping(h1, dst, 3);
        assert.is(p.received, 3, p.output);
      }
      assert.ok(dp.stats().ports.vtepu0!.txPackets - before >= 6, JSON.stringify(dp.stats().ports.vtepu0));
      assert.equal(dp.stats().drops, {});
    } finally {
      dp?.close();
      for (const ns of made) ns.delete();
    }
  });
}

test.run();
