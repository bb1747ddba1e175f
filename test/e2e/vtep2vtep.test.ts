/**
 * GRE and MPLS between two vtep instances (two Dataplanes in this process,
 * each with its TAPs and sockets in its own namespace), joined by a veth
 * underlay; hosts in their own namespaces behind the TAPs. This kernel has
 * no GRE or MPLS, so the raw GRE socket and the MPLS code are ours on both
 * ends; tshark on the underlay is the independent judge of the headers.
 *
 *   hosts ─TAP─ [nsA: vtep A, u0 198.18.1.1] ─veth─ [nsB: vtep B, u0 198.18.1.2] ─TAP─ hosts
 *
 *   bridge GRE key 5000         ga1 10.0.5.1/24    <->  gb1 10.0.5.2/24
 *   bridge MPLS-over-UDP 300    ma1 10.0.6.1/24    <->  mb1 10.0.6.2/24
 *   VRF red, MPLS-over-UDP      ra1 10.1.0.2 (gw 10.1.0.1, label 100)  <->  rb1 10.2.0.2 (gw 10.2.0.1, label 200)
 *   VRF blue, MPLS-over-GRE     ba1 10.3.0.2 (gw 10.3.0.1, label 110)  <->  bb1 10.4.0.2 (gw 10.4.0.1, label 210)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { fromConfig } from '../../src/dataplane/fromconfig.js';
import type { VswitchConfigInput } from '../../src/dataplane/config-types.js';
import { Netns, veth, canUseNetns, skipWithoutNetns } from '../helpers/netns.js';
import { tempDir, needTool } from '../helpers/tools.js';
import { attachTap, capture, noIpv6, ping, tsharkFields, type Capture } from './topo.js';

const A = '198.18.1.1';
const B = '198.18.1.2';
const MTU = 1400;
const GRE_KEY = 5000;
const BRIDGE_LABEL = 300;
/** The underlay header checks need tshark; the pings run without. */
const SHARK = canUseNetns() && needTool('tshark', 'e2e vtep2vtep underlay check');

interface Side {
  ns: Netns;
  dp: Dataplane | undefined;
  hosts: Map<string, Netns>;
}

/** One side's vSwitch config: local and remote underlay addresses, VRF labels and subnets. */
function config(ns: Netns, me: string, peer: string, side: 'a' | 'b'): VswitchConfigInput {
  const tap = (name: string, mac: string) => ({ tap: `${name}${side}1`, netns: ns.name, mtu: MTU, mac });
  const [red, redPeer, blue, bluePeer] = side === 'a' ? [1, 2, 3, 4] : [2, 1, 4, 3];
  const n = side === 'a' ? 1 : 2;
  return {
    underlay: { address: me, netns: ns.name },
    bridges: [
      { encap: 'gre', key: GRE_KEY, ports: [tap('g', `02:00:0a:05:00:0${n}`)], flood: [peer] },
      { encap: 'mplsoudp', label: BRIDGE_LABEL, ports: [tap('m', `02:00:0a:06:00:0${n}`)], flood: [peer] },
    ],
    vrfs: [
      {
        name: 'red', label: side === 'a' ? 100 : 200,
        ports: [{ ...tap('r', `02:00:0a:0${red}:00:02`), gateway: `10.${red}.0.1/24` }],
        routes: [{ prefix: `10.${redPeer}.0.0/16`, remote: peer, encap: 'mplsoudp', label: side === 'a' ? 200 : 100 }],
      },
      {
        name: 'blue', label: side === 'a' ? 110 : 210,
        ports: [{ ...tap('b', `02:00:0a:0${blue}:00:02`), gateway: `10.${blue}.0.1/24` }],
        routes: [{ prefix: `10.${bluePeer}.0.0/16`, remote: peer, encap: 'mplsogre', label: side === 'a' ? 210 : 110 }],
      },
    ],
  };
}

/** Host addresses per TAP: [address/len, gateway]. */
const HOSTS: Record<string, [string, string | undefined]> = {
  ga1: ['10.0.5.1/24', undefined], gb1: ['10.0.5.2/24', undefined],
  ma1: ['10.0.6.1/24', undefined], mb1: ['10.0.6.2/24', undefined],
  ra1: ['10.1.0.2/24', '10.1.0.1'], rb1: ['10.2.0.2/24', '10.2.0.1'],
  ba1: ['10.3.0.2/24', '10.3.0.1'], bb1: ['10.4.0.2/24', '10.4.0.1'],
};

let sides: { a: Side; b: Side; tmp: { dir: string; done: () => void } } | undefined;

function build(): NonNullable<typeof sides> {
  const tmp = tempDir('e2e-v2v');
  const all: Netns[] = [];
  const make = (p: string): Netns => {
    const ns = Netns.create(p);
    all.push(ns);
    noIpv6(ns);
    return ns;
  };
  const a: Side = { ns: make('va'), dp: undefined, hosts: new Map() };
  const b: Side = { ns: make('vb'), dp: undefined, hosts: new Map() };
  try {
    veth(a.ns, 'u0', `${A}/24`, b.ns, 'u0', `${B}/24`);
    for (const [s, me, peer, side] of [[a, A, B, 'a'], [b, B, A, 'b']] as const) {
      s.dp = fromConfig(config(s.ns, me, peer, side));
      s.dp.start();
    }
    for (const [tap, [addr, gateway]] of Object.entries(HOSTS)) {
      const s = tap[1] === 'a' ? a : b;
      const h = make(`h${tap}`);
      s.hosts.set(tap, h);
      attachTap(s.ns, tap, h, gateway === undefined ? { addr } : { addr, gateway });
    }
    return { a, b, tmp };
  } catch (err) {
    a.dp?.close();
    b.dp?.close();
    for (const ns of all) ns.delete();
    tmp.done();
    throw err;
  }
}

const host = (tap: string): Netns => {
  const s = tap[1] === 'a' ? sides!.a : sides!.b;
  return s.hosts.get(tap)!;
};

/** Runs traffic with tshark on A's underlay (when tshark is here); returns the capture file or undefined. */
async function captured(name: string, traffic: () => Promise<void>): Promise<string | undefined> {
  const file = path.join(sides!.tmp.dir, `${name}.pcap`);
  let cap: Capture | undefined;
  if (SHARK) cap = await capture(sides!.a.ns, 'u0', file, { seconds: 20, filter: 'not arp' });
  try {
    await traffic();
  } finally {
    await cap?.stop();
  }
  return cap === undefined ? undefined : file;
}

async function pingOk(from: string, dst: string, count = 3): Promise<string> {
  const r = await ping(host(from), dst, count);
  assert.is(r.received, count, `${from} -> ${dst}: ${r.output}`);
  return r.output;
}

if (!skipWithoutNetns('e2e vtep2vtep')) {
  test.before(() => {
    sides = build();
  });

  test.after(() => {
    if (sides === undefined) return;
    const { a, b, tmp } = sides;
    a.dp?.close();
    b.dp?.close();
    for (const s of [a, b]) {
      for (const h of s.hosts.values()) h.delete();
      s.ns.delete();
    }
    tmp.done();
  });

  test(`GRE bridge (key ${GRE_KEY}): ARP and pings both ways; tshark sees GRE 0x6558 with the key and the hosts inside`, async () => {
    const file = await captured('gre', async () => {
      await pingOk('ga1', '10.0.5.2');
      await pingOk('gb1', '10.0.5.1');
    });
    const s = sides!.a.dp!.stats();
    assert.ok(s.tunnels[`gre ${B}`]!.txPackets >= 4 && s.tunnels[`gre ${B}`]!.rxPackets >= 4, JSON.stringify(s.tunnels));
    if (file === undefined) return;
    const rows = tsharkFields(file, 'gre', ['ip.src', 'ip.dst', 'ip.proto', 'gre.proto', 'gre.flags.key', 'gre.key', 'eth.type', 'arp.opcode', 'icmp.type']);
    const arps = rows.filter((r) => r[7] !== '');
    const echoes = rows.filter((r) => r[8] !== '');
    assert.ok(arps.length >= 2, `ARP request and reply in GRE: ${JSON.stringify(rows)}`);
    assert.is(echoes.length, 12, 'six echo requests and six replies');
    for (const r of rows) {
      const outer = r[0]!.split(',')[0];
      assert.ok(outer === A || outer === B, r.join('|'));
      assert.is(r[2]!.split(',')[0], '47', 'IP protocol GRE');
      assert.is(r[3], '0x6558', 'transparent Ethernet bridging');
      assert.is(r[4], '1', 'the key flag');
      assert.is(Number(r[5]), GRE_KEY, 'the key (tshark prints it in hex)');
    }
    // Inner addresses: the hosts', after the outer ones.
    const first = echoes.find((r) => r[8] === '8')!;
    assert.equal([first[0], first[1]], [`${A},10.0.5.1`, `${B},10.0.5.2`]);
    assert.is(first[6], '0x0800,0x0800', 'the outer Ethernet, then an inner Ethernet frame with IPv4');
  });

  test(`MPLS-over-UDP bridge (label ${BRIDGE_LABEL}): pings both ways; tshark sees UDP 6635, one label, an Ethernet frame inside`, async () => {
    const file = await captured('mplsoudp-bridge', async () => {
      await pingOk('ma1', '10.0.6.2');
      await pingOk('mb1', '10.0.6.1');
    });
    const s = sides!.b.dp!.stats();
    assert.ok(s.tunnels[`mplsoudp ${A}`]!.rxPackets >= 4, JSON.stringify(s.tunnels));
    if (file === undefined) return;
    // Decode UDP 6635 as MPLS; the payload after the label is an Ethernet frame without a control word.
    const rows = tsharkFields(file, 'mpls', ['ip.src', 'ip.dst', 'udp.dstport', 'mpls.label', 'mpls.bottom', 'mpls.ttl', 'eth.src', 'icmp.type', 'arp.opcode'], ['udp.port==6635,mpls', `mpls.label==${BRIDGE_LABEL},pwethnocw`]);
    assert.ok(rows.length >= 14, `ARP and 12 echoes: ${JSON.stringify(rows)}`);
    for (const r of rows) {
      assert.is(r[2], '6635');
      assert.is(r[3], String(BRIDGE_LABEL));
      assert.is(r[4], '1', 'bottom of stack');
      assert.is(r[5], '64', 'MPLS TTL');
    }
    const req = rows.find((r) => r[7] === '8')!;
    assert.equal([req[0], req[1]], [`${A},10.0.6.1`, `${B},10.0.6.2`]);
    assert.ok(req[6]!.split(',').includes('02:00:0a:06:00:01'), 'inner source MAC: host ma1');
    assert.ok(rows.some((r) => r[8] === '1'), 'an ARP request carried in the label');
  });

  for (const [vrf, encap, fromA, toB, labelA, labelB] of [
    ['red', 'mplsoudp', 'ra1', 'rb1', 100, 200],
    ['blue', 'mplsogre', 'ba1', 'bb1', 110, 210],
  ] as const) {
    test(`VRF ${vrf} over ${encap} (labels ${labelA}/${labelB}): hosts ping across two gateways; tshark sees the far VRF's label and the inner IPv4`, async () => {
      const [aAddr, aGw] = HOSTS[fromA]!;
      const [bAddr, bGw] = HOSTS[toB]!;
      const ipA = aAddr.split('/')[0]!;
      const ipB = bAddr.split('/')[0]!;
      // Each host pings its gateway first: the gateway answers, and learns the host as a neighbor.
      await pingOk(fromA, aGw!, 1);
      await pingOk(toB, bGw!, 1);
      let out = '';
      const file = await captured(`${vrf}`, async () => {
        out = await pingOk(fromA, ipB);
        await pingOk(toB, ipA);
      });
      assert.match(out, /3 received/);
      const single = await ping(host(fromA), ipB, 1);
      assert.match(single.output, /ttl=62/, 'TTL 64 less one per router');
      const s = sides!.a.dp!.stats();
      assert.ok(s.tunnels[`${encap} ${B}`]!.txPackets >= 3 && s.tunnels[`${encap} ${B}`]!.rxPackets >= 3, JSON.stringify(s.tunnels));
      assert.ok(s.arp.gatewayReplies >= 1);
      if (file === undefined) return;
      const decode = encap === 'mplsoudp' ? ['udp.port==6635,mpls'] : [];
      const rows = tsharkFields(file, 'mpls && icmp', ['ip.src', 'ip.dst', 'ip.proto', 'mpls.label', 'mpls.bottom', 'ip.ttl', 'icmp.type', 'eth.type'], decode);
      assert.is(rows.length, 12, JSON.stringify(rows));
      for (const r of rows) {
        const toward = r[1]!.split(',')[0];
        // The label names the VRF at the receiving end.
        assert.is(r[3], String(toward === B ? labelB : labelA), r.join('|'));
        assert.is(r[4], '1');
        assert.is(r[2]!.split(',')[0], encap === 'mplsoudp' ? '17' : '47');
        assert.is(r[7], '0x0800', 'no inner Ethernet: one EtherType, the outer one');
        assert.is(r[5]!.split(',')[1], '63', 'inner TTL: decremented once by the sending gateway');
      }
      const req = rows.find((r) => r[6] === '8')!;
      assert.equal([req[0], req[1]], [`${A},${ipA}`, `${B},${ipB}`]);
    });
  }
}

test.run();
