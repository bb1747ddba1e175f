/**
 * Interop with the Linux kernel's VXLAN driver, in namespaces:
 *
 *   h1: vm1tap 10.0.0.1 ─TAP─ [nsV: vtep, u0 198.18.0.1] ─veth─ [nsK: u0 198.18.0.2, vx0 VNI 42 + br0] ─veth─ h2: eth0 10.0.0.2
 *
 * The dataplane runs in this process with its TAP and sockets created in nsV;
 * the TAP is moved into h1 after start (how a VM is attached). ARP goes
 * through the flood lists on both sides (ours: 198.18.0.2; the kernel's:
 * 00:00:00:00:00:00 dst 198.18.0.1), pings go both ways, 100 MB cross by TCP
 * each way with a sha256 of both ends, and `vtep run` does the same as a
 * child process (SIGUSR1 prints counters, SIGTERM ends it with the TAP gone).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { fromConfig } from '../../src/dataplane/fromconfig.js';
import type { VswitchConfigInput } from '../../src/dataplane/config-types.js';
import { FDB_REMOTE } from '../../src/table/fdb.js';
import { formatMac } from '../../src/util/addr.js';
import { Netns, veth, canUseNetns, skipWithoutNetns, waitExit, PACKAGE_DIR } from '../helpers/netns.js';
import { tempDir, needTool } from '../helpers/tools.js';
import { splitUdpGso } from './gso-split.js';
import { attachTap, capture, hostOnBridge, kernelVtep, kernelVxlanFdb, noIpv6, ping, sleep, tcpTransfer, tsharkFields, until, waitLine } from './topo.js';

const VNI = 42;
const MTU = 1450; // 1500 on the underlay minus 50 bytes of VXLAN over IPv4
const VM1 = { mac: '02:00:0a:00:00:01', ip: '10.0.0.1' };
const VM2 = { mac: '02:00:0a:00:00:02', ip: '10.0.0.2' };
const BYTES = 100 * 1024 * 1024;
/** The underlay header checks of the first test need tshark; the pings run without. */
const SHARK = canUseNetns() && needTool('tshark', 'e2e kernel-vxlan underlay check');

interface World {
  nsV: Netns;
  nsK: Netns;
  h1: Netns;
  h2: Netns;
  tmp: { dir: string; done: () => void };
  dp: Dataplane | undefined;
  /** 'learned' events of dp.fdb: [bridge, MAC text, value]. */
  learned: [number, string, number][];
}

/** The vSwitch config of our side (also written to a file for `vtep run`). */
function config(nsV: Netns): VswitchConfigInput {
  return {
    underlay: { address: '198.18.0.1', netns: nsV.name },
    bridges: [{ vni: VNI, ports: [{ tap: 'vm1tap', netns: nsV.name, mtu: MTU, mac: VM1.mac }], flood: ['198.18.0.2'] }],
  };
}

/** Namespaces, the underlay veth, the kernel VTEP and vm2; nothing of ours yet. */
function build(): World {
  const made: Netns[] = [];
  const tmp = tempDir('e2e-kvx');
  try {
    for (const p of ['kv', 'kk', 'k1', 'k2']) made.push(Netns.create(p));
    const [nsV, nsK, h1, h2] = made as [Netns, Netns, Netns, Netns];
    for (const ns of made) noIpv6(ns);
    veth(nsV, 'u0', '198.18.0.1/24', nsK, 'u0', '198.18.0.2/24');
    kernelVtep(nsK, { dev: 'u0', local: '198.18.0.2', flood: ['198.18.0.1'], vni: VNI });
    // Every veth keeps the kernel's default offloads (vm2's TCP leaves its kernel VTEP as
    // super-frames with partial checksums).
    hostOnBridge(nsK, 'vm2p', 'br0', h2, { addr: `${VM2.ip}/24`, mac: VM2.mac, mtu: MTU });
    return { nsV, nsK, h1, h2, tmp, dp: undefined, learned: [] };
  } catch (err) {
    for (const ns of made) ns.delete();
    tmp.done();
    throw err;
  }
}

/** Our dataplane from the config, started, its TAP moved into h1 and addressed there. */
function startVtep(w: World): Dataplane {
  const dp = fromConfig(config(w.nsV));
  w.dp = dp;
  dp.fdb.on('learned', (bd, mac, value) => w.learned.push([bd, formatMac(mac), value]));
  dp.start();
  attachTap(w.nsV, 'vm1tap', w.h1, { addr: `${VM1.ip}/24` });
  return dp;
}

let w: World | undefined;
const world = (): World => {
  if (w === undefined) throw new Error('topology not built');
  return w;
};

if (!skipWithoutNetns('e2e kernel-vxlan')) {
  test.before(() => {
    w = build();
  });

  test.after(() => {
    if (w === undefined) return;
    w.dp?.close();
    for (const ns of [w.h1, w.h2, w.nsV, w.nsK]) ns.delete();
    w.tmp.done();
  });

  test('vm1 -> vm2: ARP floods to the kernel VTEP, pings answered, the kernel learned vm1 at 198.18.0.1', async () => {
    const { nsV, nsK, h1, tmp } = world();
    const dp = startVtep(world());
    const file = path.join(tmp.dir, 'vm1-vm2.pcap');
    const cap = SHARK ? await capture(nsV, 'u0', file, { seconds: 15, filter: 'udp port 4789' }) : undefined;
    const r = await ping(h1, VM2.ip, 3);
    await cap?.stop();
    assert.is(r.received, 3, r.output);
    // The kernel bridge learned vm1's MAC behind our VTEP from the flooded ARP request.
    assert.is(kernelVxlanFdb(nsK).get(VM1.mac), '198.18.0.1');
    const t = dp.stats().tunnels[`vxlan 198.18.0.2`];
    assert.ok(t !== undefined && t.txPackets >= 4 && t.rxPackets >= 4, JSON.stringify(t));
    if (cap !== undefined) {
      // tshark: the ARP request left as VXLAN VNI 42 from 198.18.0.1 to 198.18.0.2 with vm1's addresses.
      const arp = tsharkFields(file, 'vxlan && arp.opcode == 1', ['ip.src', 'ip.dst', 'vxlan.vni', 'arp.src.hw_mac', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4']);
      if (arp.length === 0) assert.unreachable(`no ARP request in VXLAN on the underlay; captured: ${JSON.stringify(tsharkFields(file, '', ['frame.protocols', 'ip.src', 'ip.dst']))}`);
      assert.equal(arp[0], ['198.18.0.1', '198.18.0.2', String(VNI), VM1.mac, VM1.ip, VM2.ip]);
      // Echo replies: outer 198.18.0.2 -> 198.18.0.1, inner vm2 -> vm1 (tshark lists outer, inner).
      const echo = tsharkFields(file, 'vxlan && icmp.type == 0', ['ip.src', 'ip.dst', 'vxlan.vni', 'eth.src']);
      assert.is(echo.length, 3, 'three echo replies from the kernel VTEP');
      for (const e of echo) {
        assert.equal(e.slice(0, 3), ['198.18.0.2,10.0.0.2', '198.18.0.1,10.0.0.1', String(VNI)]);
        assert.is(e[3]!.split(',')[1], VM2.mac);
      }
    }
  });

  test('vm2 -> vm1: the kernel floods vm2\'s ARP to us, pings answered; learned MACs in stats() and events', async () => {
    const { h1, h2 } = world();
    const dp = world().dp!;
    h1.ip('neigh', 'flush', 'all');
    h2.ip('neigh', 'flush', 'all');
    const rxBefore = dp.stats().tunnels['vxlan 198.18.0.2']!.rxPackets;
    const r = await ping(h2, VM1.ip, 3);
    assert.is(r.received, 3, r.output);
    const s = dp.stats();
    assert.ok(s.tunnels['vxlan 198.18.0.2']!.rxPackets >= rxBefore + 4, 'ARP request and echo requests came in by VXLAN');
    // vm1 on the TAP, vm2 at the kernel VTEP: in the FDB, its counters and its events.
    const tapId = dp.portId('vm1tap');
    assert.is(dp.fdb.get(0, VM1.mac), tapId);
    const remote = dp.fdb.get(0, VM2.mac);
    assert.ok(remote >= 0 && (remote & FDB_REMOTE) !== 0, 'vm2 learned at a remote VTEP');
    assert.is(dp.remotes.address(remote & (FDB_REMOTE - 1)), '198.18.0.2');
    assert.ok(s.fdb.learned >= 2 && s.fdb.entries >= 2, JSON.stringify(s.fdb));
    const ev = world().learned;
    assert.ok(ev.some(([bd, mac, v]) => bd === 0 && mac === VM1.mac && v === tapId), 'learned event for vm1');
    assert.ok(ev.some(([bd, mac, v]) => bd === 0 && mac === VM2.mac && v === remote), 'learned event for vm2');
    assert.is(s.drops['tx-error'] ?? 0, 0);
    assert.is(s.pool.free, s.pool.slots, 'every slot back in the pool');
  });

  test('ARP suppression: vm1 asks for vm2 again, the dataplane answers, nothing floods', async () => {
    const { h1 } = world();
    const dp = world().dp!;
    h1.ip('neigh', 'flush', 'all');
    const before = dp.stats().arp.suppressed;
    const r = await ping(h1, VM2.ip, 1);
    assert.is(r.received, 1, r.output);
    assert.ok(dp.stats().arp.suppressed > before, 'the request was answered locally');
  });

  test(`${BYTES >> 20} MB TCP vm1 -> vm2: what arrived hashes to what was sent`, async () => {
    const { h1, h2 } = world();
    const t = await tcpTransfer(h1, h2, VM2.ip, BYTES, 90_000);
    assert.is(t.received, BYTES, JSON.stringify(t));
    assert.is(t.receivedSha, t.sentSha);
    console.log(`  e2e kernel-vxlan: ${BYTES >> 20} MB vm1 -> vm2 in ${t.seconds.toFixed(2)} s (${t.gbps.toFixed(2)} Gbit/s)`);
  });

  test(`${BYTES >> 20} MB TCP vm2 -> vm1: what arrived hashes to what was sent`, async () => {
    const { h1, h2 } = world();
    const t = await tcpTransfer(h2, h1, VM1.ip, BYTES, 90_000);
    assert.is(t.received, BYTES, JSON.stringify(t));
    assert.is(t.receivedSha, t.sentSha);
    console.log(`  e2e kernel-vxlan: ${BYTES >> 20} MB vm2 -> vm1 in ${t.seconds.toFixed(2)} s (${t.gbps.toFixed(2)} Gbit/s)`);
    const s = world().dp!.stats();
    assert.is(s.pool.free, s.pool.slots, 'every slot back in the pool');
  });

  test('4 MB TCP each way under tshark: no bad outer or inner checksum, nothing above the MTU', async () => {
    if (!SHARK) return;
    const { nsV, h1, h2 } = world();
    const file = path.join(world().tmp.dir, 'tcp.pcap');
    const cap = await capture(nsV, 'u0', file, { seconds: 30, count: 200_000, filter: 'udp port 4789' });
    const a = await tcpTransfer(h1, h2, VM2.ip, 4 << 20, 30_000, 5002);
    const b = await tcpTransfer(h2, h1, VM1.ip, 4 << 20, 30_000, 5003);
    await cap.stop();
    assert.is(a.receivedSha, a.sentSha);
    assert.is(b.receivedSha, b.sentSha);
    // Our packets (outer source 198.18.0.1), as the capture has them: outer IPv4 checksums.
    const prefs = ['ip.check_checksum:TRUE', 'udp.check_checksum:TRUE', 'tcp.check_checksum:TRUE'];
    const raw = tsharkFields(file, 'ip.src == 198.18.0.1 && vxlan', ['ip.checksum.status'], [], prefs);
    assert.ok(raw.length > 0, 'our VXLAN packets captured');
    for (const r of raw) assert.is(r[0]!.split(',')[0], '1', `outer IPv4 checksum: ${r.join('|')}`);
    // The veth holds UDP GSO messages whole; cut them as the wire would, then check every datagram.
    const wire = path.join(world().tmp.dir, 'wire.pcap');
    const cut = splitUdpGso(file, wire, 1500);
    const rows = tsharkFields(wire, 'ip.src == 198.18.0.1 && vxlan', ['frame.len', 'ip.checksum.status', 'tcp.checksum.status', 'tcp.len', 'eth.dst'], [], prefs);
    let tcp = 0;
    for (const r of rows) {
      assert.ok(Number(r[0]) <= 14 + 1500, `a datagram of ${r[0]} bytes above the 1500-byte underlay MTU`);
      assert.equal(r[1]!.split(','), ['1', '1'], `outer and inner IPv4 checksums: ${r.join('|')}`);
      if (r[2] !== '') {
        assert.is(r[2], '1', `inner TCP checksum: ${r.join('|')}`);
        tcp++;
      }
    }
    assert.ok(tcp > 2000, `${tcp} TCP segments checked`);
    // vm1's TCP crossed the TAP as super-frames and left as UDP GSO messages.
    const st = world().dp!.stats();
    const off = st.ports.vm1tap!.offloads!;
    assert.ok(off.csum === true && off.tso4 === true && off.tso6 === true, `granted offloads in stats(): ${JSON.stringify(off)}`);
    const g = st.nodes['gso-segment']!;
    assert.ok(g.counters!.superFrames! > 0 && g.counters!.segments! > 2 * g.counters!.superFrames!, JSON.stringify(g));
    assert.ok(cut.superPackets > 0, 'UDP GSO on the underlay');
    console.log(`  e2e kernel-vxlan: tshark checked ${rows.length} datagrams (${tcp} TCP), cut from ${cut.superPackets} UDP GSO messages; ${g.counters!.superFrames} guest super-frames -> ${g.counters!.segments} segments`);
  });

  test('vtep run: ping through it, SIGUSR1 prints one JSON stats line, SIGTERM exits 0 and the TAP is gone', async () => {
    const { nsV, h1, tmp } = world();
    // The in-process dataplane goes (and its TAP with it); the CLI takes its place.
    world().dp?.close();
    world().dp = undefined;
    assert.ok(await until(() => !h1.hasLink('vm1tap')), 'closing the dataplane removed its TAP');
    const file = path.join(tmp.dir, 'vswitch.json');
    writeFileSync(file, JSON.stringify(config(nsV)));
    const child = spawn(process.execPath, [path.join(PACKAGE_DIR, 'bin', 'vtep.js'), 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = waitExit(child, 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      assert.ok(await until(() => stderr.includes('running with'), 15_000), `vtep run did not start: ${stderr}`);
      assert.ok(nsV.hasLink('vm1tap'), 'vtep run created its TAP in the namespace of the config');
      attachTap(nsV, 'vm1tap', h1, { addr: `${VM1.ip}/24` });
      h1.ip('neigh', 'flush', 'all');
      const r = await ping(h1, VM2.ip, 3);
      assert.is(r.received, 3, r.output);
      assert.is(stdout, '', 'no output before SIGUSR1');
      const line = waitLine(child, /\n/, 5000);
      child.kill('SIGUSR1');
      assert.ok(await line, 'a stats line after SIGUSR1');
      await sleep(300); // nothing more should come
      const lines = stdout.trim().split('\n');
      assert.is(lines.length, 1, stdout);
      const s = JSON.parse(lines[0]!) as ReturnType<Dataplane['stats']> & { time: string };
      assert.type(s.time, 'string');
      assert.ok(s.ports.vm1tap!.rxPackets >= 4 && s.ports.vm1tap!.txPackets >= 4, JSON.stringify(s.ports.vm1tap));
      assert.ok(s.tunnels['vxlan 198.18.0.2']!.txPackets >= 4);
      assert.ok(s.fdb.learned >= 2);
      child.kill('SIGTERM');
      const { code } = await exited;
      assert.is(code, 0, stderr);
      assert.ok(!h1.hasLink('vm1tap') && !nsV.hasLink('vm1tap'), 'the TAP is gone after SIGTERM');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}

test.run();
