/**
 * `vtep demo`: the dataplane at work on an embedded default, no root needed.
 * Two dataplanes joined by a memory underlay carry an ARP exchange and pings
 * between two simulated hosts across VXLAN, GRE and MPLS-over-UDP (bridged),
 * then across two VRF gateways (routed, MPLS-over-UDP); the counters are
 * printed and the underlay is written as a pcap. With --netns (root): the
 * same dataplane against the Linux kernel's VXLAN driver, in namespaces.
 */
import { Dataplane } from '../dataplane/dataplane.js';
import { fromConfig } from '../dataplane/fromconfig.js';
import { SimHost } from '../dataplane/simhost.js';
import { MemoryPort } from '../io/memory.js';
import { PcapWriter } from '../pcap/writer.js';
import { LinkType } from '../pcap/format.js';
import type { TunnelProtoName } from '../tunnel/tunnel.js';
import { Netns, veth, canUseNetns } from '../util/netns.js';
import { kernelVtep, hostOnBridge, attachTap, ping, kernelVxlanFdb } from '../util/topo.js';
import { Exit, UsageError, parse, intOpt, strOpt, guard } from './common.js';
import { shortText } from '../errors.js';

export const DEMO_HELP = `Usage: vtep demo [-o UNDERLAY.pcap] [--count N] [--netns]

Two dataplanes joined by a memory underlay, a simulated host behind each:
ARP and pings across VXLAN, GRE and MPLS-over-UDP bridge domains, then
across two VRF gateways over MPLS-over-UDP. Prints what happened and the
counters, and writes every underlay frame to UNDERLAY.pcap (default
vtep-demo.pcap); read it with
  tshark -r vtep-demo.pcap -d udp.port==6635,mpls -d mpls.label==200,pwethnocw
No root needed.

  --count N   pings per scenario (default 3)
  --netns     instead: as root, build network namespaces with a kernel VXLAN
              VTEP (a kernel device of type vxlan, in a bridge) and ping across it
              from a host behind our TAP; everything is deleted afterwards.`;

const UNDERLAY = { a: '198.18.0.1', b: '198.18.0.2', macA: '02:fc:18:00:00:01', macB: '02:fc:18:00:00:02' };

export async function demoCommand(args: string[]): Promise<number> {
  return guard('demo', async () => {
    const { values: v, positionals } = parse('demo', args, {
      output: { type: 'string', short: 'o' },
      count: { type: 'string' },
      netns: { type: 'boolean' },
    });
    if (v.help) {
      console.log(DEMO_HELP);
      return Exit.OK;
    }
    if (positionals.length > 0) throw new UsageError(`vtep demo: unexpected argument ${shortText(positionals[0]!)}`);
    const count = intOpt('demo', 'count', v.count, 1, 1000, 3)!;
    if (v.netns) return netnsDemo(count);
    const out = strOpt(v.output) ?? 'vtep-demo.pcap';
    const cap = new PcapWriter(out, { linkType: LinkType.ETHERNET, nanos: true });
    let ok = true;
    try {
      for (const [encap, id] of [['vxlan', 42], ['gre', 5], ['mplsoudp', 200]] as [TunnelProtoName, number][]) {
        ok = (await bridged(encap, id, count, cap)) && ok;
      }
      ok = (await routed(count, cap)) && ok;
    } finally {
      await cap.close();
    }
    console.log(`\nunderlay capture: ${out}`);
    return ok ? Exit.OK : Exit.FAILED;
  });
}

/** Joins two dataplanes by a memory wire whose frames all go to the capture. */
function wire(cap: PcapWriter): { a: Dataplane; b: Dataplane; close(): void } {
  const [wa, wb] = MemoryPort.pair({ name: 'underlay-a' }, { name: 'underlay-b' });
  const record = (u8: Uint8Array, s: number, l: number): void => {
    const ms = Date.now();
    cap.write(u8, s, l, Math.floor(ms / 1000), (ms % 1000) * 1e6);
  };
  wa.onTransmit(record);
  wb.onTransmit(record);
  const a = new Dataplane({ pool: { slots: 1024 } });
  const b = new Dataplane({ pool: { slots: 1024 } });
  a.setUnderlay({ address: UNDERLAY.a, port: wa, mac: UNDERLAY.macA, nextHopMac: UNDERLAY.macB });
  b.setUnderlay({ address: UNDERLAY.b, port: wb, mac: UNDERLAY.macB, nextHopMac: UNDERLAY.macA });
  return { a, b, close: () => { a.close(); b.close(); wa.close(); wb.close(); } };
}

async function pings(from: SimHost, to: string, count: number): Promise<boolean> {
  let ok = true;
  for (let seq = 1; seq <= count; seq++) {
    try {
      const r = await from.pingAndWait(to, seq);
      console.log(`  ${from.name} -> ${to}: reply from ${r.from} seq=${r.seq} ttl=${r.ttl} time=${r.rtt.toFixed(2)} ms`);
    } catch {
      console.log(`  ${from.name} -> ${to}: seq=${seq} no reply`);
      ok = false;
    }
  }
  return ok;
}

async function bridged(encap: TunnelProtoName, id: number, count: number, cap: PcapWriter): Promise<boolean> {
  const idOpt = encap === 'vxlan' ? { vni: id } : encap === 'gre' ? { key: id } : { label: id };
  console.log(`\n== bridged over ${encap} (${Object.entries(idOpt)[0]!.join(' ')}): vm1 10.0.0.1 on A, vm2 10.0.0.2 on B`);
  const w = wire(cap);
  const vm1 = new SimHost({ name: 'vm1', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
  const vm2 = new SimHost({ name: 'vm2', mac: '02:00:0a:00:00:02', ip: '10.0.0.2/24' });
  try {
    w.a.addBridgePort(w.a.addBridge({ encap, ...idOpt, flood: [UNDERLAY.b] }), vm1.port);
    w.b.addBridgePort(w.b.addBridge({ encap, ...idOpt, flood: [UNDERLAY.a] }), vm2.port);
    w.a.start();
    w.b.start();
    const ok = (await pings(vm1, '10.0.0.2', count)) && (await pings(vm2, '10.0.0.1', 1));
    console.log(`  ARP: vm1 resolved 10.0.0.2 through the flood list (vm2 saw ${vm2.counters.arpRequests} request)`);
    summary('A', w.a);
    summary('B', w.b);
    return ok;
  } finally {
    w.close();
    vm1.close();
    vm2.close();
  }
}

async function routed(count: number, cap: PcapWriter): Promise<boolean> {
  console.log('\n== routed over mplsoudp: vm3 10.1.0.2 behind gateway 10.1.0.1 on A (VRF red, label 100),');
  console.log('   vm4 10.2.0.2 behind gateway 10.2.0.1 on B (VRF red, label 200)');
  const w = wire(cap);
  const vm3 = new SimHost({ name: 'vm3', mac: '02:00:0a:01:00:02', ip: '10.1.0.2/24', gateway: '10.1.0.1' });
  const vm4 = new SimHost({ name: 'vm4', mac: '02:00:0a:02:00:02', ip: '10.2.0.2/24', gateway: '10.2.0.1' });
  try {
    w.a.addVrf({ name: 'red', label: 100 });
    w.b.addVrf({ name: 'red', label: 200 });
    w.a.addVrfPort('red', vm3.port, { gateway: '10.1.0.1/24' });
    w.b.addVrfPort('red', vm4.port, { gateway: '10.2.0.1/24' });
    w.a.addRoute('red', '10.2.0.0/16', [{ remote: UNDERLAY.b, encap: 'mplsoudp', label: 200 }]);
    w.b.addRoute('red', '10.1.0.0/16', [{ remote: UNDERLAY.a, encap: 'mplsoudp', label: 100 }]);
    w.a.start();
    w.b.start();
    const ok = (await pings(vm3, '10.2.0.2', count)) && (await pings(vm4, '10.1.0.2', 1));
    summary('A', w.a);
    summary('B', w.b);
    return ok;
  } finally {
    w.close();
    vm3.close();
    vm4.close();
  }
}

function summary(name: string, dp: Dataplane): void {
  const s = dp.stats();
  const tunnels = Object.entries(s.tunnels).map(([k, t]) => `${k} tx ${t.txPackets} rx ${t.rxPackets}`).join(', ');
  const drops = Object.entries(s.drops).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  console.log(`  ${name}: fdb ${s.fdb.entries} entries (${s.fdb.learned} learned); tunnels: ${tunnels || 'none'}; arp answered ${s.arp.gatewayReplies + s.arp.suppressed}; drops: ${drops}`);
}

/** The same dataplane against the kernel's VXLAN driver, in namespaces that are deleted afterwards. */
async function netnsDemo(count: number): Promise<number> {
  if (!canUseNetns()) throw new UsageError('vtep demo --netns: needs root, /dev/net/tun and iproute2');
  const made: Netns[] = [];
  let dp: Dataplane | undefined;
  try {
    const [nsV, nsK, nsH1, nsH2] = ['dv', 'dk', 'dh', 'dh'].map((p) => {
      const ns = Netns.create(p);
      made.push(ns);
      return ns;
    }) as [Netns, Netns, Netns, Netns];
    console.log(`namespaces: vtep ${nsV.name}, kernel VTEP ${nsK.name}, vm1 ${nsH1.name}, vm2 ${nsH2.name}`);
    veth(nsV, 'u0', '198.18.0.1/24', nsK, 'u0', '198.18.0.2/24');
    kernelVtep(nsK, { dev: 'u0', local: '198.18.0.2', flood: ['198.18.0.1'], vni: 42 });
    hostOnBridge(nsK, 'vm2p', 'br0', nsH2, { addr: '10.0.0.2/24', mac: '02:00:0a:00:00:02', mtu: 1450, txChecksumOff: false });
    dp = fromConfig({
      underlay: { address: '198.18.0.1', netns: nsV.name },
      bridges: [{ vni: 42, ports: [{ tap: 'vm1tap', netns: nsV.name, mtu: 1450 }], flood: ['198.18.0.2'] }],
    });
    dp.start();
    // Attach the "VM": move the TAP into vm1's namespace while the dataplane runs.
    attachTap(nsV, 'vm1tap', nsH1, { addr: '10.0.0.1/24', mtu: 1450 });
    console.log(`vm1 (behind our TAP) pings vm2 (behind the kernel's VXLAN + bridge), ${count} times:`);
    const r = await ping(nsH1, '10.0.0.2', count);
    console.log(r.output.trim().split('\n').map((l) => `  ${l}`).join('\n'));
    const fdb = [...kernelVxlanFdb(nsK)].map(([mac, dst]) => `${mac} dst ${dst}`).join('; ');
    console.log(`kernel VTEP learned: ${fdb || 'nothing'}`);
    summary('vtep', dp);
    return r.received === count ? Exit.OK : Exit.FAILED;
  } finally {
    dp?.close();
    for (const ns of made) ns.delete();
  }
}
