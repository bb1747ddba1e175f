/**
 * ICMP errors from the router (the icmp-error stage): time exceeded per hop
 * (what traceroute shows through two vtep routers), net and host
 * unreachable, never in answer to an ICMP error, a broadcast or a later
 * fragment, and rate-limited per VRF. Two dataplanes on a memory underlay,
 * MPLS-over-UDP between their VRFs; the sender is a raw memory port whose
 * frames we write and read by hand.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort } from '../../src/io/memory.js';
import { parseIPv4, formatIPv4 } from '../../src/util/addr.js';
import { ethHeader, ipv4Header, inetChecksum, macBytes } from '../helpers/frames.js';

const VM3 = { mac: 0x02000a010002, ip: parseIPv4('10.1.0.2') };

interface Net {
  a: Dataplane;
  b: Dataplane;
  /** Frames the dataplane sent to vm3. */
  got: Uint8Array[];
  send(frame: Uint8Array): void;
  routerMac: number;
  now: { t: number };
  close(): void;
}

function net(icmp?: { rate?: number; burst?: number }): Net {
  const now = { t: 1000 };
  const clock = (): number => now.t;
  const [wa, wb] = MemoryPort.pair({ name: 'ua' }, { name: 'ub' });
  const a = new Dataplane({ pool: { slots: 1024 }, clock, ...(icmp === undefined ? {} : { icmp }) });
  const b = new Dataplane({ pool: { slots: 1024 }, clock });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' });
  b.setUnderlay({ address: '198.18.0.2', port: wb, mac: '02:fc:18:00:00:02', nextHopMac: '02:fc:18:00:00:01' });
  a.addVrf({ name: 'red', label: 100 });
  b.addVrf({ name: 'red', label: 200 });
  const [side, host] = MemoryPort.pair({ name: 'vm3' }, { name: 'vm3-nic' });
  const got: Uint8Array[] = [];
  side.onTransmit((u8, s, l) => got.push(u8.slice(s, s + l)));
  const pa = a.addVrfPort('red', side, { gateway: '10.1.0.1/24' });
  const hd = new SimHost({ name: 'vm4', mac: '02:00:0a:02:00:02', ip: '10.2.0.2/24', gateway: '10.2.0.1' });
  b.addVrfPort('red', hd.port, { gateway: '10.2.0.1/24' });
  a.addRoute('red', '10.2.0.0/16', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }]);
  b.addRoute('red', '10.1.0.0/16', [{ remote: '198.18.0.1', encap: 'mplsoudp', label: 100 }]);
  // vm3 is known to A (as if it had answered ARP), so errors back to it need no resolution.
  side.inject(arpFrom(VM3.mac, VM3.ip, parseIPv4('10.1.0.1')));
  a.poll();
  got.length = 0;
  const pump = (): void => {
    for (let k = 0; k < 4; k++) a.poll() + b.poll();
  };
  return {
    a, b, got, now, routerMac: a.routerMac(pa),
    send(frame) {
      side.inject(frame);
      pump();
    },
    close() {
      a.close();
      b.close();
      hd.close();
      host.close();
    },
  };
}

/** Ethernet[ARP reply] from a host, so that the gateway learns it. */
function arpFrom(mac: number, ip: number, target: number): Uint8Array {
  return Uint8Array.from([
    ...ethHeader(0xffffffffffff, mac, 0x0806),
    0, 1, 8, 0, 6, 4, 0, 2, ...macBytes(mac), ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255,
    0, 0, 0, 0, 0, 0, target >>> 24, (target >>> 16) & 255, (target >>> 8) & 255, target & 255,
  ]);
}

/** Ethernet[IPv4[UDP 8 bytes of payload]] from vm3 to dst with a TTL (to the router's MAC unless dstMac). */
function udpFrom(n: Net, dst: string, ttl: number, o: { dstMac?: number; frag?: number; size?: number; df?: boolean } = {}): Uint8Array {
  const extra = (o.size ?? 44) - 44;
  const ip = ipv4Header({ src: VM3.ip, dst: parseIPv4(dst), protocol: 17, payloadLen: 16 + extra, ttl });
  if (o.df === false) {
    ip[6] = 0;
    ip[10] = ip[11] = 0;
    const c = inetChecksum(Uint8Array.from(ip));
    ip[10] = c >>> 8;
    ip[11] = c & 255;
  }
  if (o.frag !== undefined) {
    ip[6] = (o.frag >>> 8) & 0x1f;
    ip[7] = o.frag & 255;
    ip[10] = ip[11] = 0;
    const c = inetChecksum(Uint8Array.from(ip));
    ip[10] = c >>> 8;
    ip[11] = c & 255;
  }
  return Uint8Array.from([...ethHeader(o.dstMac ?? n.routerMac, VM3.mac, 0x0800), ...ip, 0x80, 0x00, 0x82, 0x9a, (16 + extra) >>> 8, (16 + extra) & 255, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, ...new Array<number>(extra).fill(0)]);
}

/** The ICMP messages vm3 received: source, type, code, TTL, and the quoted destination. */
function icmpOf(frames: Uint8Array[]): { src: string; type: number; code: number; ttl: number; quotedDst: string; ok: boolean; mtu: number }[] {
  return frames
    .filter((f) => f[12] === 0x08 && f[13] === 0x00 && f[23] === 1)
    .map((f) => {
      const mtu = (f[34 + 6]! << 8) | f[34 + 7]!;
      const dv = new DataView(f.buffer, f.byteOffset);
      const total = dv.getUint16(16);
      const icmp = f.subarray(34, 14 + total);
      return {
        src: formatIPv4(dv.getUint32(26)),
        type: f[34]!,
        code: f[35]!,
        ttl: f[22]!,
        quotedDst: formatIPv4(dv.getUint32(34 + 8 + 16)),
        ok: inetChecksum(f, 14, 20) === 0 && inetChecksum(icmp) === 0,
        mtu,
      };
    });
}

test('traceroute through two vtep routers: TTL 1 and 2 give time exceeded from each gateway', () => {
  const n = net();
  try {
    // Ethernet[IPv4 ttl=1[UDP]] -> A: time exceeded from A's gateway.
    n.send(udpFrom(n, '10.2.0.2', 1));
    // Ethernet[IPv4 ttl=2[UDP]] -> A (ttl 1) -> MPLS-over-UDP -> B: time exceeded from B, routed back through A.
    n.send(udpFrom(n, '10.2.0.2', 2));
    const e = icmpOf(n.got);
    assert.equal(e.map((x) => [x.src, x.type, x.code, x.quotedDst, x.ok]), [
      ['10.1.0.1', 11, 0, '10.2.0.2', true],
      ['10.2.0.1', 11, 0, '10.2.0.2', true],
    ]);
    assert.is(e[0]!.ttl, 64, "A's own error: TTL 64");
    assert.is(e[1]!.ttl, 63, "B's error crossed A: one less");
    assert.is(n.a.stats().nodes['ip-route']!.drops['ttl-expired'], 1);
    assert.is(n.b.stats().nodes['ip-route']!.drops['ttl-expired'], 1);
    assert.is(n.a.stats().nodes['icmp-error']!.next['ip-route'], 1);
  } finally {
    n.close();
  }
});

test('no route: net unreachable from the gateway; the drop is no-route at ip-route', () => {
  const n = net();
  try {
    n.send(udpFrom(n, '10.99.0.1', 64));
    const e = icmpOf(n.got);
    assert.equal(e.map((x) => [x.src, x.type, x.code, x.quotedDst, x.ok]), [['10.1.0.1', 3, 0, '10.99.0.1', true]]);
    assert.is(n.a.stats().drops['no-route'], 1);
    assert.is(n.a.stats().ports['vm3']!.drops, 1, 'charged to the port it came in on');
  } finally {
    n.close();
  }
});

test('never answered: an ICMP error, a broadcast destination, a later fragment', () => {
  const n = net();
  try {
    // Ethernet[IPv4 ttl=1[ICMP time exceeded]]: an error about an error is never sent.
    const body = [11, 0, 0, 0, 0, 0, 0, 0, ...ipv4Header({ src: 1, dst: 2, protocol: 17, payloadLen: 8 }), 0, 0, 0, 0, 0, 0, 0, 0];
    const c = inetChecksum(Uint8Array.from(body));
    body[2] = c >>> 8;
    body[3] = c & 255;
    n.send(Uint8Array.from([...ethHeader(n.routerMac, VM3.mac, 0x0800), ...ipv4Header({ src: VM3.ip, dst: parseIPv4('10.2.0.2'), protocol: 1, payloadLen: body.length, ttl: 1 }), ...body]));
    n.send(udpFrom(n, '255.255.255.255', 1));
    n.send(udpFrom(n, '10.2.0.2', 1, { frag: 185 }));
    assert.equal(icmpOf(n.got), []);
    const node = n.a.stats().nodes['icmp-error']!;
    assert.is(node.packets, 3, 'all three expired at ip-route');
    assert.is(node.next['not-sent'], 3);
    assert.is(n.a.stats().drops['ttl-expired'], 3);
  } finally {
    n.close();
  }
});

test('rate limit: a burst of 10, then one per 100 ms, per VRF', () => {
  const n = net({ rate: 10, burst: 10 });
  try {
    for (let k = 0; k < 30; k++) n.send(udpFrom(n, '10.2.0.2', 1));
    assert.is(icmpOf(n.got).length, 10);
    assert.is(n.a.stats().nodes['icmp-error']!.next['rate-limited'], 20);
    n.now.t += 100;
    n.send(udpFrom(n, '10.2.0.2', 1));
    assert.is(icmpOf(n.got).length, 11, 'a token came back after 100 ms');
    assert.is(n.a.stats().drops['ttl-expired'], 31, 'every expired packet is counted, answered or not');
  } finally {
    n.close();
  }
});

test('host unreachable: a neighbor that never answers; held packets dropped as no-neighbor on expiry', () => {
  const n = net();
  try {
    // 10.1.0.9 is in A's connected subnet and never answers ARP.
    n.send(udpFrom(n, '10.1.0.9', 64));
    n.send(udpFrom(n, '10.1.0.9', 64));
    assert.is(n.a.stats().held.packets, 2);
    const arp = n.got.filter((f) => f[12] === 0x08 && f[13] === 0x06);
    assert.is(arp.length, 1, 'one ARP request (at most one a second per destination)');
    n.now.t += 3000;
    n.a.tick();
    const e = icmpOf(n.got);
    assert.equal(e.map((x) => [x.src, x.type, x.code, x.quotedDst, x.ok]), [['10.1.0.1', 3, 1, '10.1.0.9', true]]);
    const s = n.a.stats();
    assert.is(s.held.packets, 0);
    assert.is(s.nodes['neigh-hold']!.drops['no-neighbor'], 2);
    assert.is(s.ports['vm3']!.drops, 2);
  } finally {
    n.close();
  }
});

test('path MTU, routed: a DF packet too big for the tunnel gets "fragmentation needed" with the usable MTU; without DF it is dropped', () => {
  const n = net();
  try {
    // Ethernet[IPv4 DF 1480 bytes[UDP]]: MPLS-over-UDP adds 32 bytes (IPv4 20, UDP 8, label 4): 1512 > 1500.
    n.send(udpFrom(n, '10.2.0.2', 64, { size: 1480 }));
    n.send(udpFrom(n, '10.2.0.2', 64, { size: 1468 }));
    n.send(udpFrom(n, '10.2.0.2', 64, { size: 1480, df: false }));
    const e = icmpOf(n.got);
    assert.equal(e.map((x) => [x.src, x.type, x.code, x.mtu, x.quotedDst, x.ok]), [['10.1.0.1', 3, 4, 1468, '10.2.0.2', true]]);
    const s = n.a.stats();
    assert.is(s.nodes['tunnel-encap']!.drops['too-big'], 2);
    assert.is(s.nodes['tunnel-encap']!.next['icmp-error'], 1);
    assert.is(s.nodes['tunnel-encap']!.next['tx'], 1, 'the 1468-byte packet fits exactly');
  } finally {
    n.close();
  }
});

test('path MTU, bridged: answered at L2 from the destination, as the kernel bridged VXLAN does', () => {
  const [wa] = MemoryPort.pair({ name: 'ua' }, { name: 'ub' });
  const dp = new Dataplane({ pool: { slots: 256 } });
  dp.setUnderlay({ address: '198.18.0.1', port: wa, mac: '02:fc:18:00:00:01' });
  const bd = dp.addBridge({ vni: 42 });
  const [side] = MemoryPort.pair({ name: 'vm1' }, { name: 'vm1-nic' });
  const got: Uint8Array[] = [];
  side.onTransmit((u8, s, l) => got.push(u8.slice(s, s + l)));
  dp.addBridgePort(bd, side);
  const vm2 = 0x02000a000002;
  dp.addFdb(bd, vm2, { remote: '198.18.0.2' });
  try {
    // Ethernet[IPv4 DF 1500 bytes[UDP]] to a MAC behind the remote: VXLAN adds 50 bytes with the inner Ethernet header.
    const ip = ipv4Header({ src: parseIPv4('10.0.0.1'), dst: parseIPv4('10.0.0.2'), protocol: 17, payloadLen: 1480 });
    side.inject(Uint8Array.from([...ethHeader(vm2, 0x02000a000001, 0x0800), ...ip, ...new Array<number>(1480).fill(0)]));
    dp.poll();
    assert.is(got.length, 1);
    const f = got[0]!;
    assert.equal([...f.subarray(0, 12)], [...macBytes(0x02000a000001), ...macBytes(vm2)], 'to vm1, from the destination MAC');
    const e = icmpOf(got)[0]!;
    assert.equal([e.src, e.type, e.code, e.mtu, e.ok], ['10.0.0.2', 3, 4, 1450, true]);
    assert.is(dp.stats().drops['too-big'], 1);
  } finally {
    dp.close();
  }
});

test.run();
