import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromHex, toHex } from '../../src/wire/bytes.js';
import { walkL2, newL2Info, parseEthernet, emitEthernet, EtherType } from '../../src/wire/ethernet.js';
import { parseVlan, emitVlan } from '../../src/wire/vlan.js';
import { parseArp, emitArp, ArpOp } from '../../src/wire/arp.js';
import { checkIpv4, parseIpv4, emitIpv4, ipv4IsFragment, ipv4OptionsWellFormed } from '../../src/wire/ipv4.js';
import { parseIpv6, emitIpv6 } from '../../src/wire/ipv6.js';
import { parseUdp, emitUdp, fillUdpChecksum, udpChecksumOk } from '../../src/wire/udp.js';
import { checkGre, newGreInfo, parseGre, emitGre, greHeaderLen, GreFlag } from '../../src/wire/gre.js';
import { emitVxlan, vxlanVni, vxlanHasI } from '../../src/wire/vxlan.js';
import { parseMplsStack, emitMplsStack, makeEntry, entryLabel, entryBos, entryTtl, entryTc } from '../../src/wire/mpls.js';
import { Reason, parseIPv4, parseIPv6 } from '../../src/index.js';

test('Ethernet with 802.1ad + 802.1Q tags: walked to the EtherType', () => {
  // Ethernet[802.1ad vid 100[802.1Q vid 200[IPv4...]]]
  const f = fromHex('ffffffffffff 020000000001 88a8 0064 8100 00c8 0800 4500');
  const l2 = newL2Info();
  assert.ok(walkL2(f, 0, f.length, l2));
  assert.equal([l2.type, l2.l3, l2.tags, l2.vid], [EtherType.IPV4, 22, 2, 100]);
  assert.not.ok(walkL2(f, 0, 13, l2), 'too short');
  assert.not.ok(walkL2(f, 0, 19, l2), 'cut inside the second tag');
  const e = parseEthernet(f, 0, f.length)!;
  const out = new Uint8Array(14);
  emitEthernet(e, out, 0);
  assert.is(toHex(out), toHex(f.subarray(0, 14)));
  assert.equal(parseVlan(f, 12, f.length), { tpid: 0x88a8, pcp: 0, dei: false, vid: 100 });
  const v = new Uint8Array(4);
  emitVlan({ tpid: 0x8100, pcp: 5, dei: true, vid: 4094 }, v, 0);
  assert.equal(parseVlan(v, 0, 4), { tpid: 0x8100, pcp: 5, dei: true, vid: 4094 });
});

test('ARP request round trip', () => {
  const r = { op: ArpOp.REQUEST, senderMac: 0x02000a2a0001, senderIp: parseIPv4('10.42.0.1'), targetMac: 0, targetIp: parseIPv4('10.42.0.2') };
  const b = new Uint8Array(28);
  emitArp(r, b, 0);
  assert.is(toHex(b), '0001080006040001' + '02000a2a0001' + '0a2a0001' + '000000000000' + '0a2a0002');
  assert.equal(parseArp(b, 0, 28), r);
  assert.is(parseArp(b, 0, 27), null);
});

test('IPv4: checks in order, options walked, fragments recognised', () => {
  const h = fromHex('45000086000140003c11b23ec6120002c6120001');
  const pkt = new Uint8Array(0x86);
  pkt.set(h);
  assert.is(checkIpv4(pkt, 0, pkt.length), 0);
  assert.is(checkIpv4(pkt, 0, 19), Reason.truncated);
  assert.is(checkIpv4(pkt, 0, 100), Reason['bad-length'], 'total length past the bytes');
  const v6 = pkt.slice(); v6[0] = 0x65;
  assert.is(checkIpv4(v6, 0, v6.length), Reason['bad-header'], 'version');
  const ihl4 = pkt.slice(); ihl4[0] = 0x44;
  assert.is(checkIpv4(ihl4, 0, ihl4.length), Reason['bad-header'], 'IHL < 5');
  const csum = pkt.slice(); csum[11] = csum[11]! ^ 1;
  assert.is(checkIpv4(csum, 0, csum.length), Reason['bad-checksum']);
  const r = parseIpv4(pkt, 0, pkt.length)!;
  assert.equal([r.df, r.mf, r.ttl, r.proto], [true, false, 60, 17]);
  assert.not.ok(ipv4IsFragment(pkt, 0));
  const out = new Uint8Array(20);
  emitIpv4({ ...r, mf: true }, out, 0);
  assert.ok(ipv4IsFragment(out, 0));
  assert.is(checkIpv4(out, 0, 20, true) === Reason['bad-length'], true, 'our emitter computes the checksum (only the length fails)');
  // Options: NOP, record route (len 7), EOL.
  assert.ok(ipv4OptionsWellFormed(fromHex('01 07 07 04 00000000 00'), 0, 9));
  assert.not.ok(ipv4OptionsWellFormed(fromHex('01 07 09 04 00000000'), 0, 8), 'length runs past the header');
  assert.not.ok(ipv4OptionsWellFormed(fromHex('44 01'), 0, 2), 'length below 2');
  const withOpts = emitIpv4({ ...r, totalLen: 24, options: fromHex('01010100') }, new Uint8Array(24), 0);
  assert.is(withOpts, 24);
});

test('IPv6 header round trip', () => {
  const r = { trafficClass: 0xb8, flowLabel: 0xabcde, payloadLen: 8, nextHeader: 17, hopLimit: 64, src: parseIPv6('2001:db8:18::1'), dst: parseIPv6('2001:db8:18::2') };
  const b = new Uint8Array(40);
  emitIpv6(r, b, 0);
  assert.is(toHex(b, 0, 8), '6b8abcde00081140');
  assert.equal(parseIpv6(b, 0, 40), r);
});

test('UDP checksum over IPv4 and IPv6 pseudo-headers; zero sent as ffff', () => {
  const ip = fromHex('4500001c000040004011 0000 c6120001 c6120002');
  const pkt = new Uint8Array(28);
  pkt.set(ip);
  emitUdp({ srcPort: 1, dstPort: 2, length: 8, checksum: 0 }, pkt, 20);
  fillUdpChecksum(pkt, 0, 20, 8, false);
  assert.ok(udpChecksumOk(pkt, 0, 20, 8, false));
  assert.equal(parseUdp(pkt, 20, 28)!.length, 8);
  const v6 = new Uint8Array(48);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLen: 8, nextHeader: 17, hopLimit: 64, src: parseIPv6('2001:db8::1'), dst: parseIPv6('2001:db8::2') }, v6, 0);
  emitUdp({ srcPort: 1, dstPort: 2, length: 8, checksum: 0 }, v6, 40);
  fillUdpChecksum(v6, 0, 40, 8, true);
  assert.ok(udpChecksumOk(v6, 0, 40, 8, true));
  assert.ok(((v6[46]! << 8) | v6[47]!) !== 0);
});

test('GRE: flags decide the length; version, routing and strict source route dropped', () => {
  assert.is(greHeaderLen(GreFlag.C | GreFlag.K | GreFlag.S), 16);
  const info = newGreInfo();
  const keyed = fromHex('20006558 00000005 ffffffffffff');
  assert.is(checkGre(keyed, 0, keyed.length, info), 0);
  assert.equal([info.key, info.seq, info.protocol, info.payload], [5, -1, 0x6558, 8]);
  assert.is(checkGre(fromHex('20016558 00000005'), 0, 8, info), Reason['bad-header'], 'version 1');
  assert.is(checkGre(fromHex('40006558 00000000'), 0, 8, info), Reason['bad-header'], 'routing');
  assert.is(checkGre(fromHex('08006558'), 0, 4, info), Reason['bad-header'], 'strict source route');
  assert.is(checkGre(fromHex('04006558'), 0, 4, info), Reason['bad-header'], 'recursion bit 5');
  assert.is(checkGre(fromHex('00406558'), 0, 4, info), 0, 'bits 6-12 ignored');
  assert.is(checkGre(fromHex('30006558 00000005'), 0, 8, info), Reason.truncated, 'S announced, absent');
  const b = new Uint8Array(24);
  b.set(fromHex('0102030405060708'), 16);
  const end = emitGre({ protocol: 0x6558, checksum: true, key: 9, seq: 3 }, b, 0, 24);
  assert.is(end, 16);
  assert.is(checkGre(b, 0, 24, info), 0, 'emitted checksum verifies');
  assert.equal(parseGre(b, 0, 24), { protocol: 0x6558, checksum: true, key: 9, seq: 3 });
});

test('VXLAN and MPLS entries', () => {
  const v = new Uint8Array(8);
  emitVxlan(0xabcdef, v, 0);
  assert.is(toHex(v), '08000000abcdef00');
  assert.ok(vxlanHasI(v, 0));
  assert.is(vxlanVni(v, 0), 0xabcdef);
  const e = makeEntry(200, 5, true, 64);
  assert.equal([entryLabel(e), entryTc(e), entryBos(e), entryTtl(e)], [200, 5, true, 64]);
  const s = new Uint8Array(8);
  emitMplsStack([{ label: 16, tc: 0, ttl: 1 }, { label: 1048575, tc: 7, ttl: 255 }], s, 0);
  assert.equal(parseMplsStack(s, 0, 8), [{ label: 16, tc: 0, bos: false, ttl: 1 }, { label: 1048575, tc: 7, bos: true, ttl: 255 }]);
  assert.is(parseMplsStack(s, 0, 4), null, 'no bottom of stack');
});

test.run();
