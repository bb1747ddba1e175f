/**
 * The inner-checksum step of underlay-input (src/dataplane/stages/inner-csum.ts): a decapsulated TCP segment whose checksum field holds only the
 * pseudo-header sum (what a Linux VTEP sends when its socket left the
 * checksum to the device) is finished; a correct checksum is left alone; a
 * corrupt one stays corrupt. Bridged frames and routed IP packets alike.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, inject, node, toHex } from '../../helpers/dp.js';
import { ethHeader, ipv4Header, inetChecksum } from '../../helpers/frames.js';
import { Tunnel } from '../../../src/tunnel/tunnel.js';
import { encapInPlace } from '../../../src/tunnel/encap.js';

const VM2 = 0x02000a000002;
const SRC = 0x0a000009;
const DST = 0x0a000002;
const PAYLOAD = [...'hello, tcp!'].map((c) => c.charCodeAt(0));

/** The folded pseudo-header sum of TCP from SRC to DST over `len` bytes: what CHECKSUM_PARTIAL leaves in the field. */
function pseudoFold(len: number): number {
  let s = (SRC >>> 16) + (SRC & 0xffff) + (DST >>> 16) + (DST & 0xffff) + 6 + len;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Ethernet[IPv4[TCP "hello, tcp!"]] to vm2 with the TCP checksum field set by `field` (given the correct value). */
function innerTcp(field: (correct: number, partial: number) => number): Uint8Array {
  const tcp = [0x9c, 0x40, 0x13, 0x89, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0, ...PAYLOAD];
  const len = tcp.length;
  // The correct checksum: the complement of pseudo-header + segment.
  const pseudo = Uint8Array.from([SRC >>> 24, (SRC >>> 16) & 255, (SRC >>> 8) & 255, SRC & 255, DST >>> 24, (DST >>> 16) & 255, (DST >>> 8) & 255, DST & 255, 0, 6, len >>> 8, len & 255, ...tcp]);
  const correct = inetChecksum(pseudo);
  const v = field(correct, pseudoFold(len));
  tcp[16] = v >>> 8;
  tcp[17] = v & 255;
  return Uint8Array.from([...ethHeader(VM2, 0x02000a000009, 0x0800), ...ipv4Header({ src: SRC, dst: DST, protocol: 6, payloadLen: len }), ...tcp]);
}

/** Ethernet[IPv4[UDP 4789[VXLAN 42[inner]]]] from 198.18.0.2 to us. */
function vxlan(inner: Uint8Array): Uint8Array {
  const t = new Tunnel({ proto: 'vxlan', vni: 42, src: '198.18.0.2', dst: '198.18.0.1', srcMac: '02:fc:18:00:00:02', dstMac: '02:fc:18:00:00:01' });
  const buf = new Uint8Array(128 + inner.length);
  buf.set(inner, 128);
  const s = encapInPlace(t, buf, 128, inner.length, 0);
  return buf.slice(s);
}

function tcpVerifies(frame: Uint8Array): boolean {
  const tcp = frame.subarray(34);
  const pseudo = Uint8Array.from([...frame.subarray(26, 34), 0, 6, tcp.length >>> 8, tcp.length & 255, ...tcp]);
  return inetChecksum(pseudo) === 0;
}

test('a partial checksum from a kernel VTEP is finished; the frame reaches vm2 valid', () => {
  const { dp, vm2 } = bridgeNet();
  dp.addFdb('br', VM2, { port: 'vm2' });
  const inner = innerTcp((_, partial) => partial);
  assert.not.ok(tcpVerifies(inner), 'sent with only the pseudo-header sum');
  inject(dp, 'wire', vxlan(inner));
  assert.is(vm2.frames.length, 1);
  assert.ok(tcpVerifies(vm2.frames[0]!), 'delivered with a complete checksum');
  const n = node(dp, 'underlay-input');
  assert.equal(n.next, { 'l2-fwd': 1 });
  assert.equal(n.counters, { completed: 1, superFrames: 0 });
  dp.close();
});

test('a correct checksum is not changed, a corrupt one is not made valid', () => {
  const { dp, vm2 } = bridgeNet();
  dp.addFdb('br', VM2, { port: 'vm2' });
  const good = innerTcp((correct) => correct);
  const bad = innerTcp((correct) => correct ^ 0x0101);
  inject(dp, 'wire', vxlan(good));
  inject(dp, 'wire', vxlan(bad));
  assert.is(vm2.frames.length, 2);
  assert.is(toHex(vm2.frames[0]!), toHex(good), 'byte for byte as sent');
  assert.is(toHex(vm2.frames[1]!), toHex(bad), 'still corrupt: the receiver drops it');
  assert.equal(node(dp, 'underlay-input').counters, { completed: 0, superFrames: 0 });
  dp.close();
});

test.run();
