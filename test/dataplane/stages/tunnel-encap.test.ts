/**
 * tunnel-encap: the outer headers of the packet's tunnel are written into
 * the headroom in front of it (zero-copy) and the packet is queued on the
 * underlay port; a packet too close to its slot start is no-headroom.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject, injectWithHeadroom, node, dropsOf, toHex, Sink } from '../../helpers/dp.js';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { Batch } from '../../../src/packet/batch.js';
import { inetChecksum, ethHeader, ipv4Header } from '../../helpers/frames.js';
import { superFrame, injectSuper, tcpSumOk } from '../../helpers/gso.js';

// Ethernet[IPv4[UDP "ping"]]: vm1 (02:00:0a:00:00:01, 10.0.0.1) -> 02:00:0a:00:00:02 (at VTEP 198.18.0.2)
const UDP_1_TO_2 = hex(`
  02000a000002 02000a000001 0800
  4500 0020 0000 4000 4011 26cb 0a000001 0a000002
  03e8 07d0 000c 0000 70696e67`);

test('VXLAN: Ethernet[IPv4[UDP 4789[VXLAN 42[the frame]]]] to the remote, on the underlay port', () => {
  const { dp, wire } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  inject(dp, 'vm1', UDP_1_TO_2);
  const n = node(dp, 'tunnel-encap');
  assert.is(n.packets, 1);
  assert.equal(n.next, { tx: 1 });
  assert.equal(n.drops, {});
  assert.is(wire.frames.length, 1);
  const f = wire.frames[0]!;
  assert.is(f.length, 50 + 46);
  assert.is(toHex(f.subarray(0, 14)), '02fc1800000202fc180000010800', 'to the next hop MAC, from ours');
  assert.is(toHex(f.subarray(14, 16)), '4500');
  assert.is(toHex(f.subarray(16, 18)), '0052', 'IPv4 total length');
  assert.is(f[22], 64, 'TTL');
  assert.is(f[23], 17, 'UDP');
  assert.is(inetChecksum(f, 14, 20), 0, 'the IPv4 checksum verifies');
  assert.is(toHex(f.subarray(26, 34)), 'c6120001c6120002', '198.18.0.1 -> 198.18.0.2');
  const sport = (f[34]! << 8) | f[35]!;
  assert.ok(sport >= 49152, 'UDP source port from the flow hash (RFC 7348)');
  assert.is(toHex(f.subarray(36, 42)), '12b5003e0000', 'port 4789, length, no checksum');
  assert.is(toHex(f.subarray(42, 50)), '0800000000002a00', 'VXLAN, I flag, VNI 42');
  assert.is(toHex(f.subarray(50)), toHex(UDP_1_TO_2));
  assert.equal(dp.stats().tunnels['vxlan 198.18.0.2'], { txPackets: 1, txBytes: 96, rxPackets: 0, rxBytes: 0 });
  dp.close();
});

test('no-headroom: a frame that starts too close to its slot start for 50 bytes of outer headers', () => {
  const { dp, wire } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  injectWithHeadroom(dp, 'vm1', UDP_1_TO_2, 49);
  const d = dropsOf(dp, 'tunnel-encap', 'vm1');
  assert.equal(d.stage, { 'no-headroom': 1 });
  assert.equal(d.total, { 'no-headroom': 1 });
  assert.is(d.port, 1);
  assert.equal(node(dp, 'tunnel-encap').next, {});
  assert.is(wire.frames.length, 0);
  injectWithHeadroom(dp, 'vm1', UDP_1_TO_2, 50);
  assert.is(wire.frames.length, 1, 'exactly 50 bytes are enough');
  dp.close();
});

/** Ethernet[IPv4 (DF or not) 1451 bytes[UDP]] vm1 -> vm2: 1465 bytes, one more than VXLAN over a 1500-byte underlay carries. */
function big(df: boolean): Uint8Array {
  const ip = ipv4Header({ src: 0x0a000001, dst: 0x0a000002, protocol: 17, payloadLen: 1431 });
  if (!df) {
    ip[6] = 0;
    ip[10] = ip[11] = 0;
    const c = inetChecksum(Uint8Array.from(ip));
    ip[10] = c >>> 8;
    ip[11] = c & 255;
  }
  return Uint8Array.from([...ethHeader(0x02000a000002, 0x02000a000001, 0x0800), ...ip, ...new Array<number>(1431).fill(0)]);
}

test('too-big: over the underlay MTU once encapsulated; DF goes on to icmp-error, no DF is only dropped', () => {
  const { dp, wire, vm1 } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  inject(dp, 'vm1', big(false));
  let d = dropsOf(dp, 'tunnel-encap', 'vm1');
  assert.equal(d.stage, { 'too-big': 1 });
  assert.equal(node(dp, 'tunnel-encap').next, {});
  inject(dp, 'vm1', big(true));
  d = dropsOf(dp, 'tunnel-encap', 'vm1');
  assert.equal(d.stage, { 'too-big': 2 });
  assert.equal(node(dp, 'tunnel-encap').next, { 'icmp-error': 1 });
  assert.is(wire.frames.length, 0, 'nothing reached the underlay');
  assert.is(vm1.frames.length, 1, 'vm1 got "fragmentation needed"');
  const f = vm1.frames[0]!;
  assert.is(f[34], 3);
  assert.is(f[35], 4);
  assert.is((f[40]! << 8) | f[41]!, 1450, 'the usable MTU');
  dp.close();
});

/** A UDP underlay socket stand-in that records the source port asked for each datagram. */
function udpRecorder(): Sink & { localPort: number; family: number; ports: number[] } {
  const p = new Sink('u');
  Object.defineProperty(p, 'kind', { value: 'udp' });
  const ports: number[] = [];
  const write = p.writeBatch.bind(p);
  p.writeBatch = (b: Batch, from = 0, to = b.count): number => {
    for (let i = from; i < to; i++) ports.push(b.srcPort[i]!);
    return write(b, from, to);
  };
  return Object.assign(p, { localPort: 4789, family: 4, ports });
}

test('over a UDP socket, each flow asks for its own source port (from the inner flow hash), the same for the same flow', () => {
  const dp = new Dataplane({ pool: { slots: 256 } });
  dp.setUnderlay({ address: '198.18.0.1' });
  const u = udpRecorder();
  dp.addUnderlaySocket(u);
  dp.addBridge({ name: 'br', vni: 42 });
  dp.addBridgePort('br', new Sink('vm1'));
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  // 64 flows (UDP source ports 1000..1063), each sent twice.
  const frames = [0, 1].flatMap(() =>
    Array.from({ length: 64 }, (_, f) => {
      const x = UDP_1_TO_2.slice();
      x[34] = (1000 + f) >>> 8;
      x[35] = (1000 + f) & 255;
      x[40] = x[41] = 0; // no UDP checksum: the ports changed
      return x;
    }),
  );
  inject(dp, 'vm1', ...frames);
  assert.is(u.ports.length, 128);
  assert.ok(u.ports.every((p) => p !== 0), 'every datagram asks for a port');
  assert.equal(u.ports.slice(64), u.ports.slice(0, 64), 'a flow keeps its port');
  assert.ok(new Set(u.ports.slice(0, 64)).size > 48, `64 flows spread: ${new Set(u.ports).size} distinct`);
  dp.close();
});

test('tunnel-encap: a frame with a partial checksum (NEEDS_CSUM) is finished before it is encapsulated', () => {
  const { dp, wire } = bridgeNet({ dp: { pool: { slots: 64, largeSlots: 2 } } });
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  const f = superFrame(1000);
  const b = new Batch(dp.pool, 1);
  b.pushCopy(f);
  b.vflags[0] = 1;
  b.csumStart[0] = 34;
  b.csumOffset[0] = 16;
  dp.inject('vm1', b);
  assert.is(wire.frames.length, 1);
  assert.ok(tcpSumOk(wire.frames[0]!, 64));
  assert.equal(node(dp, 'tunnel-encap').counters, { completed: 1 });
  dp.close();
});

test('tunnel-encap: too-big when a segment would exceed the underlay MTU (the guest is told the MTU); bad-header when no TCP/UDP headers', () => {
  const { dp, wire, vm1 } = bridgeNet({ dp: { pool: { slots: 64, largeSlots: 2 } } });
  dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2' });
  injectSuper(dp, superFrame(), 1411); // 14 + 20 + 20 + 1411 + 50 = 1515 > 1500
  let d = dropsOf(dp, 'tunnel-encap', 'vm1');
  assert.equal(d.stage, { 'too-big': 1 });
  assert.is(wire.frames.length, 0);
  assert.is(vm1.frames.length, 1, 'ICMP fragmentation needed to the guest');
  const icmp = vm1.frames[0]!;
  assert.is(icmp[14 + 20], 3);
  assert.is(icmp[14 + 21], 4);
  assert.is((icmp[14 + 26]! << 8) | icmp[14 + 27]!, 1450, 'the usable MTU');
  const notTcp = superFrame();
  notTcp[14 + 9] = 1; // ICMP: no segmentation headers to walk
  injectSuper(dp, notTcp);
  d = dropsOf(dp, 'tunnel-encap', 'vm1');
  assert.equal(d.stage, { 'too-big': 1, 'bad-header': 1 });
  dp.close();
});

test.run();
