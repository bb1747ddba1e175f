/**
 * Path MTU with guests left at MTU 1500 behind a 1500-byte underlay, over an
 * IPv4 and an IPv6 underlay, against the kernel's VXLAN:
 *
 *   h1: vm1tap 10.0.0.1 mtu 1500 ─TAP─ [nsV: vtep, u0] ─veth 1500─ [nsK: u0, vx0 mtu 1500 + br0] ─veth─ h2: eth0 10.0.0.2 mtu 1500
 *
 * Both guests advertise MSS 1460, so TCP sends segments that cannot cross
 * once encapsulated. vm1's (TSO super-frames through our TAP) are answered by
 * vtep with ICMP "fragmentation needed" carrying the usable MTU (1450 over
 * IPv4, 1430 over IPv6: VXLAN's 50 or 70 bytes); vm2's by the kernel's VXLAN
 * (bridged PMTU, Linux 5.9+, which needs vx0 at the guests' MTU). Both
 * guests learn the path MTU, and 100 MB cross each way with matching sha256,
 * with no outer fragment on the underlay.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { fromConfig } from '../../src/dataplane/fromconfig.js';
import { Netns, skipWithoutNetns } from '../helpers/netns.js';
import { attachTap, hostOnBridge, kernelVtep, noIpv6, ping, tcpTransfer } from './topo.js';

const VNI = 42;
const VM1 = { mac: '02:00:0a:00:00:01', ip: '10.0.0.1' };
const VM2 = { mac: '02:00:0a:00:00:02', ip: '10.0.0.2' };
const BYTES = 100 * 1024 * 1024;

const FAMILIES = [
  { family: 4, local: '198.18.0.1', peer: '198.18.0.2', plen: 24, room: 1450 },
  { family: 6, local: '2001:db8:18::1', peer: '2001:db8:18::2', plen: 64, room: 1430 },
] as const;

if (!skipWithoutNetns('e2e pmtu')) {
  for (const f of FAMILIES) {
    test(`IPv${f.family} underlay: guests at MTU 1500 learn the path MTU (${f.room}) and move 100 MB of TCP each way`, async () => {
      const made: Netns[] = [];
      let dp: Dataplane | undefined;
      try {
        for (const p of ['pv', 'pk', 'p1', 'p2']) made.push(Netns.create(`${p}${f.family}`));
        const [nsV, nsK, h1, h2] = made as [Netns, Netns, Netns, Netns];
        for (const ns of [h1, h2]) noIpv6(ns);
        if (f.family === 4) for (const ns of [nsV, nsK]) noIpv6(ns);
        nsV.ip('link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u0', 'netns', nsK.name);
        nsV.ip('addr', 'add', `${f.local}/${f.plen}`, 'dev', 'u0', ...(f.family === 6 ? ['nodad'] : []));
        nsK.ip('addr', 'add', `${f.peer}/${f.plen}`, 'dev', 'u0', ...(f.family === 6 ? ['nodad'] : []));
        nsV.ip('link', 'set', 'u0', 'up');
        nsK.ip('link', 'set', 'u0', 'up');
        kernelVtep(nsK, { dev: undefined, local: f.peer, flood: [f.local], vni: VNI });
        // The kernel's bridged PMTU check runs in vxlan_xmit: vx0 must take the guests' 1500 bytes.
        nsK.ip('link', 'set', 'vx0', 'mtu', '1500');
        hostOnBridge(nsK, 'vm2p', 'br0', h2, { addr: `${VM2.ip}/24`, mac: VM2.mac });
        dp = fromConfig({
          underlay: { address: f.local, netns: nsV.name },
          bridges: [{ vni: VNI, ports: [{ tap: 'vm1tap', netns: nsV.name, mac: VM1.mac }], flood: [f.peer] }],
        });
        dp.start();
        attachTap(nsV, 'vm1tap', h1, { addr: `${VM1.ip}/24` });
        assert.is(h1.exec(['cat', '/sys/class/net/vm1tap/mtu']).trim(), '1500', 'the guest is left at 1500');
        const p = await ping(h1, VM2.ip, 3);
        assert.ok(p.received > 0, p.output);

        const a = await tcpTransfer(h1, h2, VM2.ip, BYTES, 60_000);
        assert.is(a.received, BYTES, JSON.stringify(a));
        assert.is(a.receivedSha, a.sentSha);
        const b = await tcpTransfer(h2, h1, VM1.ip, BYTES, 60_000, 5002);
        assert.is(b.received, BYTES, JSON.stringify(b));
        assert.is(b.receivedSha, b.sentSha);

        // vm1 was told the usable MTU by vtep, and its kernel keeps it for vm2.
        const s = dp.stats();
        assert.ok((s.nodes['tunnel-encap']!.drops['too-big'] ?? 0) > 0, JSON.stringify(s.nodes['tunnel-encap']));
        assert.ok((s.nodes['icmp-error']!.next.tx ?? 0) > 0, JSON.stringify(s.nodes['icmp-error']));
        const route = h1.exec(['ip', 'route', 'get', VM2.ip]);
        assert.match(route, new RegExp(`mtu ${f.room}`), route);
        // No outer fragments: what crossed the underlay was never cut by IP.
        const frags = nsK.exec(['cat', f.family === 4 ? '/proc/net/snmp' : '/proc/net/snmp6']);
        const reasm = f.family === 4 ? /Ip: (?:\d+ ){13}(\d+)/.exec(frags.split('\n').filter((l) => l.startsWith('Ip:'))[1] ?? '') : /Ip6ReasmReqds\s+(\d+)/.exec(frags);
        assert.is(Number(reasm?.[1] ?? 0), 0, 'no reassembly requests on the kernel VTEP');
        console.log(`  e2e pmtu IPv${f.family}: 100 MB vm1 -> vm2 ${a.gbps.toFixed(2)} Gbit/s, vm2 -> vm1 ${b.gbps.toFixed(2)} Gbit/s; vtep sent ${s.nodes['icmp-error']!.next.tx} ICMP too-big`);
      } finally {
        dp?.close();
        for (const ns of made) ns.delete();
      }
    });
  }
}

test.run();
