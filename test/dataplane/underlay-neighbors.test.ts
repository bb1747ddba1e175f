/**
 * A frame-mode underlay (underlay.tap) beside sockets: each remote goes to
 * its own MAC once known (setUnderlayNeighbor, or the kernel's neighbor
 * table read by vtep run), through the sockets until then; with a
 * nextHopMac (a router) everything goes through the frame port.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { parseProcNetArp, KernelArpTable } from '../../src/io/kernel-arp.js';
import { Sink, hex, inject, toHex } from '../helpers/dp.js';
import { Netns, canUseNetns } from '../helpers/netns.js';
import { runCommand, type Call } from '../../src/ops/commands.js';
import { asTarget } from '../../src/ops/target.js';

// Ethernet[IPv4[UDP "ping"]]: vm1 (02:00:0a:00:00:01, 10.0.0.1) -> vm2 (02:00:0a:00:00:02, 10.0.0.2)
const UDP_1_TO_2 = hex('02000a00000202000a00000108004500002000004000401126cb0a0000010a00000203e807d0000c000070696e67');
const UDP_1_TO_3 = Uint8Array.from(UDP_1_TO_2);
UDP_1_TO_3[5] = 3; // to 02:00:0a:00:00:03
const PEER2_MAC = '02fc18000002';
const PEER3_MAC = '02fc18000003';

function udpSink(name: string): Sink & { localPort: number; family: number } {
  const p = new Sink(name);
  Object.defineProperty(p, 'kind', { value: 'udp' });
  return Object.assign(p, { localPort: 4789, family: 4 });
}

/** vm1 in bridge vni 42; 02:..:02 behind 198.18.0.2, 02:..:03 behind 198.18.0.3; a frame port `wire` and (unless `sockets` false) a UDP socket `u`. */
function net(o: { nextHopMac?: string; sockets?: boolean } = {}): { dp: Dataplane; wire: Sink; u: Sink } {
  const dp = new Dataplane({ pool: { slots: 64 } });
  const wire = new Sink('wire');
  dp.setUnderlay({ address: '198.18.0.1', port: wire, mac: '02:fc:18:00:00:01', ...(o.nextHopMac !== undefined ? { nextHopMac: o.nextHopMac } : {}) });
  const u = udpSink('u');
  if (o.sockets !== false) dp.addUnderlaySocket(u);
  dp.addBridge({ name: 'br', vni: 42 });
  dp.addBridgePort('br', new Sink('vm1'));
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  dp.addFdb('br', '02:00:0a:00:00:03', { remote: '198.18.0.3' });
  return { dp, wire, u };
}

test('without a next hop: a remote goes through the socket until its MAC is known, then through the frame port to that MAC', () => {
  const { dp, wire, u } = net();
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_3);
  assert.is(wire.frames.length, 0);
  assert.is(u.frames.length, 2, 'both through the socket (the kernel resolves them)');
  assert.is(toHex(u.frames[0]!.subarray(0, 8)), '0800000000002a00', 'the socket is given the VXLAN header on');
  dp.setUnderlayNeighbor('198.18.0.2', '02:fc:18:00:00:02');
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_3);
  assert.is(wire.frames.length, 1);
  // Ethernet[IPv4[UDP 4789[VXLAN 42[the frame]]]] to 198.18.0.2's own MAC.
  const f = wire.frames[0]!;
  assert.is(toHex(f.subarray(0, 14)), `${PEER2_MAC}02fc180000010800`);
  assert.is(toHex(f.subarray(30, 34)), 'c6120002');
  assert.is(toHex(f.subarray(50)), toHex(UDP_1_TO_2));
  assert.is(u.frames.length, 3, '198.18.0.3 still through the socket');
  dp.setUnderlayNeighbor('198.18.0.3', 0x02fc18000003);
  inject(dp, 'vm1', UDP_1_TO_3);
  assert.is(toHex(wire.frames[1]!.subarray(0, 6)), PEER3_MAC);
  assert.equal(dp.underlayNeighbors(), [
    { remote: '198.18.0.2', mac: '02:fc:18:00:00:02' },
    { remote: '198.18.0.3', mac: '02:fc:18:00:00:03' },
  ]);
  dp.setUnderlayNeighbor('198.18.0.2', null);
  inject(dp, 'vm1', UDP_1_TO_2);
  assert.is(u.frames.length, 4, 'forgotten: back through the socket');
  assert.equal(dp.stats().drops, {});
  dp.close();
});

test('with a next hop (a router): every remote through the frame port to it, unless the remote has a MAC of its own', () => {
  const { dp, wire, u } = net({ nextHopMac: '02:fc:18:00:00:fe' });
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_3);
  assert.is(u.frames.length, 0);
  assert.equal(wire.frames.map((f) => toHex(f.subarray(0, 6))), ['02fc180000fe', '02fc180000fe']);
  dp.setUnderlayNeighbor('198.18.0.3', '02:fc:18:00:00:03');
  inject(dp, 'vm1', UDP_1_TO_3);
  assert.is(toHex(wire.frames[2]!.subarray(0, 6)), PEER3_MAC);
  dp.close();
});

test('a frame port alone, no next hop: broadcast, as before', () => {
  const { dp, wire } = net({ sockets: false });
  inject(dp, 'vm1', UDP_1_TO_2);
  assert.is(toHex(wire.frames[0]!.subarray(0, 6)), 'ffffffffffff');
  dp.close();
});

test('tunnels follow the underlay ports: a socket added later takes unresolved remotes, a frame port removed leaves them all to it', () => {
  const { dp, wire, u } = net({ sockets: false });
  dp.setUnderlayNeighbor('198.18.0.3', '02:fc:18:00:00:03');
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_3);
  assert.is(wire.frames.length, 2, 'no socket yet: the frame port (broadcast, and 198.18.0.3 at its MAC)');
  dp.addUnderlaySocket(u);
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_3);
  assert.is(u.frames.length, 1);
  assert.is(wire.frames.length, 3);
  dp.removePort('wire');
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_3);
  assert.is(u.frames.length, 3);
  assert.equal(dp.stats().drops, {});
  dp.close();
});

test('vtep ctl arp show lists the underlay neighbors as owner "underlay"', () => {
  const { dp } = net();
  dp.setUnderlayNeighbor('198.18.0.2', '02:fc:18:00:00:02');
  const call = { id: 1, args: {}, data: () => true, cancelled: false } as unknown as Call;
  const ctx = { dp: asTarget(dp), openTap: () => { throw new Error('no'); } };
  assert.equal(runCommand(ctx, 'arp.show', call), { arp: [], neighbors: [{ owner: 'underlay', ip: '198.18.0.2', mac: '02:fc:18:00:00:02' }] });
  assert.equal(runCommand(ctx, 'arp.show', { ...call, args: { bridge: 'br' } }), { arp: [], neighbors: [] });
  dp.close();
});

test('setUnderlayNeighbor refuses a bad remote or MAC by name', () => {
  const { dp } = net();
  assert.throws(() => dp.setUnderlayNeighbor('198.18.0', '02:fc:18:00:00:02'), /remote/);
  assert.throws(() => dp.setUnderlayNeighbor('198.18.0.2', 'x'), /mac/);
  dp.close();
});

test('parseProcNetArp: complete Ethernet entries only', () => {
  const text = [
    'IP address       HW type     Flags       HW address            Mask     Device',
    '198.18.0.2       0x1         0x2         02:fc:18:00:00:02     *        ub0',
    '198.18.0.3       0x1         0x0         00:00:00:00:00:00     *        ub0',
    '198.18.0.4       0x1         0x6         02:fc:18:00:00:04     *        ub0',
    '198.18.0.5       0x20        0x2         02:fc:18:00:00:05     *        ib0',
    '',
  ].join('\n');
  assert.equal([...parseProcNetArp(text)], [
    ['198.18.0.2', 0x02fc18000002],
    ['198.18.0.4', 0x02fc18000004],
  ]);
});

if (canUseNetns()) {
  test('KernelArpTable: the neighbor table of a namespace, read again after a change', () => {
    const ns = Netns.create('kn');
    try {
      ns.ip('link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
      ns.ip('link', 'set', 'd0', 'up');
      ns.ip('addr', 'add', '198.18.0.1/24', 'dev', 'd0');
      ns.ip('neigh', 'add', '198.18.0.2', 'lladdr', '02:fc:18:00:00:02', 'dev', 'd0', 'nud', 'permanent');
      const t = KernelArpTable.open(ns.name);
      try {
        assert.equal([...t.read()], [['198.18.0.2', 0x02fc18000002]]);
        ns.ip('neigh', 'add', '198.18.0.3', 'lladdr', '02:fc:18:00:00:03', 'dev', 'd0', 'nud', 'permanent');
        assert.equal(t.read().get('198.18.0.3'), 0x02fc18000003);
      } finally {
        t.close();
      }
      assert.is(t.read().size, 0, 'closed');
    } finally {
      ns.delete();
    }
  });
} else console.log('skip: KernelArpTable namespace test needs root and /dev/net/tun');

test.run();
