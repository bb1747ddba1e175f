/** IPv6: an IPv6 underlay, and IPv6 on a VRF gateway (ND, echo, routing both ways). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort, Tunnel, encapInPlace, Decapsulator, parseIPv6 } from '../../src/index.js';
import { fromHex, toHex, put16, put32 } from '../../src/wire/bytes.js';
import { fillIcmp6Checksum, icmp6ChecksumOk } from '../../src/wire/icmpv6.js';

test('VXLAN bridge over an IPv6 underlay: pings both ways, UDP checksums valid', async () => {
  const [wa, wb] = MemoryPort.pair({ name: 'ua' }, { name: 'ub' });
  const frames: Uint8Array[] = [];
  wa.onTransmit((u8, s, l) => frames.push(u8.slice(s, s + l)));
  const a = new Dataplane({ pool: { slots: 256 } });
  const b = new Dataplane({ pool: { slots: 256 } });
  a.setUnderlay({ address: '2001:db8:18::1', port: wa, mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' });
  b.setUnderlay({ address: '2001:db8:18::2', port: wb, mac: '02:fc:18:00:00:02', nextHopMac: '02:fc:18:00:00:01' });
  const h1 = new SimHost({ name: 'vm1', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
  const h2 = new SimHost({ name: 'vm2', mac: '02:00:0a:00:00:02', ip: '10.0.0.2/24' });
  a.addBridgePort(a.addBridge({ vni: 4096, flood: ['2001:db8:18::2'] }), h1.port);
  b.addBridgePort(b.addBridge({ vni: 4096, flood: ['2001:db8:18::1'] }), h2.port);
  a.start();
  b.start();
  try {
    assert.is((await h1.pingAndWait('10.0.0.2', 1)).from, '10.0.0.2');
    assert.is((await h2.pingAndWait('10.0.0.1', 2)).from, '10.0.0.1');
    const d = new Decapsulator({ local: ['2001:db8:18::2'], peers: ['2001:db8:18::1'], vxlan: { vnis: [4096] } }); // zero checksums refused
    assert.ok(frames.length >= 3);
    for (const f of frames) {
      assert.is(toHex(f, 12, 2), '86dd');
      assert.is(d.frame(f, 0, f.length), 0, 'a valid, non-zero IPv6 UDP checksum');
    }
  } finally {
    a.close();
    b.close();
    h1.close();
    h2.close();
  }
});

const GW6 = '2001:db8:1::1';
const HOST6 = '2001:db8:1::2';
const HOST_MAC = '02000a010002';

/** Ethernet[IPv6[ICMPv6 ...]] from the host, with the ICMPv6 checksum filled. */
function icmp6Frame(dstMac: string, dstIp: string, hopLimit: number, icmp: string, srcIp = HOST6): Uint8Array {
  const body = fromHex(icmp);
  const f = new Uint8Array(14 + 40 + body.length);
  f.set(fromHex(dstMac + HOST_MAC + '86dd'));
  put32(f, 14, 0x60000000);
  put16(f, 18, body.length);
  f[20] = 58;
  f[21] = hopLimit;
  const src = parseIPv6(srcIp);
  const dst = parseIPv6(dstIp);
  for (let k = 0; k < 4; k++) {
    put32(f, 22 + 4 * k, src[k]!);
    put32(f, 38 + 4 * k, dst[k]!);
  }
  f.set(body, 54);
  fillIcmp6Checksum(f, 14, 54, body.length);
  return f;
}

test('VRF gateway over IPv6: ND for the gateway, echo, routing to and from an MPLS-over-UDP tunnel', async () => {
  const [wa, sink] = MemoryPort.pair({ name: 'u' }, { name: 'sink' });
  const underlay: Uint8Array[] = [];
  wa.onTransmit((u8, s, l) => underlay.push(u8.slice(s, s + l)));
  const [vmPort, vm] = MemoryPort.pair({ name: 'vm6' }, { name: 'vm6-nic' });
  const toHost: Uint8Array[] = [];
  vmPort.onTransmit((u8, s, l) => toHost.push(u8.slice(s, s + l)));
  const a = new Dataplane({ pool: { slots: 256 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' });
  a.addVrf({ name: 'red', label: 100 });
  const p = a.addVrfPort('red', vmPort, { gateway6: `${GW6}/64` });
  const rmac = a.routerMac(p).toString(16).padStart(12, '0');
  a.addRoute('red', '2001:db8:2::/48', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }]);
  a.start();
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
  // What the host sends arrives on the dataplane's end of its wire.
  const send = (f: Uint8Array): void => void vmPort.inject(f);
  try {
    // NS for the gateway (to its solicited-node address) -> NA with router flag and our MAC.
    send(icmp6Frame('3333ff000001', 'ff02::1:ff00:1', 255, `87000000 00000000 20010db8000100000000000000000001 0101${HOST_MAC}`));
    await settle();
    const na = toHost.find((f) => f[54] === 136);
    assert.ok(na !== undefined, 'a neighbor advertisement came back');
    assert.is(toHex(na!, 6, 6), rmac, 'from the router MAC');
    assert.is(na![58]! & 0xe0, 0xe0, 'router, solicited, override');
    assert.ok(icmp6ChecksumOk(na!, 14, 54, 32));
    // Echo to the gateway -> reply.
    send(icmp6Frame(rmac, GW6, 64, '80000000 12340001 6162636465666768'));
    await settle();
    const reply = toHost.find((f) => f[54] === 129);
    assert.ok(reply !== undefined, 'an echo reply came back');
    // Routed: to 2001:db8:2::5 -> MPLS-over-UDP label 200, hop limit down by one.
    send(icmp6Frame(rmac, '2001:db8:2::5', 64, '80000000 12340002 6162636465666768'));
    await settle();
    const out = underlay.find((f) => f.length > 46 && f[42 + 4]! >>> 4 === 6);
    assert.ok(out !== undefined, 'the packet went into the tunnel');
    assert.is(((out![42]! << 12) | (out![43]! << 4) | (out![44]! >>> 4)), 200);
    assert.is(out![46 + 7], 63, 'hop limit 63');
    // From the tunnel: label 100 (our VRF) with an IPv6 packet for ::3, a neighbor not yet known
    // (::2 was learned from its solicitation above): held while the gateway solicits ::3, then
    // delivered when ::3 advertises itself.
    const t = new Tunnel({ proto: 'mplsoudp', label: 100, payload: 'ip', src: '198.18.0.2', dst: '198.18.0.1', srcMac: '02:fc:18:00:00:02', dstMac: '02:fc:18:00:00:01' });
    const inner = icmp6Frame('000000000000', '2001:db8:1::3', 64, '81000000 12340003 6162636465666768', '2001:db8:2::5').subarray(14);
    const buf = new Uint8Array(inner.length + 200);
    buf.set(inner, 150);
    const ns = encapInPlace(t, buf, 150, inner.length, 0);
    wa.inject(buf, ns, 150 + inner.length - ns);
    await settle();
    const solicit = toHost.filter((f) => f[54] === 135);
    assert.is(solicit.length, 1, 'the gateway solicited the host');
    assert.is(toHex(solicit[0]!, 14 + 40 + 8, 16), '20010db8000100000000000000000003');
    assert.is(toHex(solicit[0]!, 38, 16), 'ff0200000000000000000001ff000003', 'to the solicited-node address');
    assert.is(toHost.filter((f) => f[54] === 129 && f.length === 62 + 8).length, 1, 'only the earlier echo reply so far');
    // The host answers with an NA carrying its MAC: the held packet goes out.
    send(icmp6Frame(rmac, GW6, 255, `88000000 60000000 20010db8000100000000000000000003 0201${HOST_MAC}`, '2001:db8:1::3'));
    await settle();
    const delivered = toHost.filter((f) => toHex(f, 0, 6) === HOST_MAC && f[54] === 129 && toHex(f, 22, 16) === '20010db8000200000000000000000005');
    // (echo reply type 129 from 2001:db8:2::5: the packet that came through the tunnel)
    assert.is(delivered.length, 1, 'the held packet was delivered');
    assert.is(delivered[0]![21], 63);
    assert.equal(a.stats().drops, {});
  } finally {
    a.close();
    sink.close();
    vm.close();
  }
});

test.run();
