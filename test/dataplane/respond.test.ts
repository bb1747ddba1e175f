import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { arpReply, arpRequestTarget, nsTarget, ndAdvert, echoReply4, echoReply6 } from '../../src/dataplane/respond.js';
import { parseArp } from '../../src/wire/arp.js';
import { parseIPv4, parseIPv6, formatIPv6, PcapWriter, LinkType } from '../../src/index.js';
import { icmp6ChecksumOk, fillIcmp6Checksum } from '../../src/wire/icmpv6.js';
import { verifies } from '../../src/wire/checksum.js';
import { toHex, fromHex } from '../../src/wire/bytes.js';
import { pcapFrames } from '../helpers/fixtures.js';
import { needTool, tempDir, run } from '../helpers/tools.js';

const frames = pcapFrames('inner.pcap');
const GW = 0x02fe00000001;

/** A frame copied into a roomy buffer (replies may grow up to 86 bytes). */
function roomy(f: Uint8Array): Uint8Array {
  const b = new Uint8Array(256);
  b.set(f);
  return b;
}

test('ARP request -> reply from the answered MAC, back to the requester', () => {
  const b = roomy(frames[0]!); // Ethernet[ARP who-has 10.42.0.2 tell 10.42.0.1]
  assert.is(arpRequestTarget(b, 14, 42), parseIPv4('10.42.0.2'));
  assert.is(arpReply(b, 0, 14, 42, GW), 42);
  assert.is(toHex(b, 0, 14), '02000a2a0001' + '02fe00000001' + '0806');
  assert.equal(parseArp(b, 14, 42), { op: 2, senderMac: GW, senderIp: parseIPv4('10.42.0.2'), targetMac: 0x02000a2a0001, targetIp: parseIPv4('10.42.0.1') });
  assert.is(arpReply(b, 0, 14, 42, GW), 0, 'a reply is not answered');
  const grat = roomy(frames[0]!);
  grat.set(fromHex('0a2a0002'), 28); // sender IP = target IP: gratuitous
  assert.is(arpReply(grat, 0, 14, 42, GW), 0);
});

test('neighbor solicitation -> solicited advertisement with the target link-layer address', () => {
  const b = roomy(frames[4]!); // Ethernet[IPv6[ICMPv6 NS for fe80::2 from fe80::1]]
  const target = new Uint32Array(4);
  assert.ok(nsTarget(b, 14, 86, target));
  assert.is(formatIPv6(target), 'fe80::2');
  const len = ndAdvert(b, 0, 14, 86, GW, false, 256);
  assert.is(len, 86);
  assert.is(toHex(b, 0, 6), '02000a2a0001', 'to the solicitor');
  assert.is(toHex(b, 14 + 8, 16), 'fe800000000000000000000000000002', 'from the target');
  assert.is(toHex(b, 14 + 24, 16), 'fe800000000000000000000000000001');
  assert.is(b[14 + 40], 136);
  assert.is(b[14 + 44], 0x60, 'solicited + override');
  assert.ok(icmp6ChecksumOk(b, 14, 54, 32));
  const bad = roomy(frames[4]!);
  bad[14 + 7] = 64; // hop limit not 255: may have been forwarded
  assert.not.ok(nsTarget(bad, 14, 86, target));
});

test('ICMP echo to the gateway address -> reply; other addresses are not answered', () => {
  const b = roomy(frames[1]!); // Ethernet[IPv4[ICMP echo 10.42.0.1 -> 10.42.0.2]]
  assert.is(echoReply4(b, 0, 14, 98, parseIPv4('10.42.0.9')), 0);
  assert.is(echoReply4(b, 0, 14, 98, parseIPv4('10.42.0.2')), 98);
  assert.is(toHex(b, 26, 8), '0a2a0002' + '0a2a0001');
  assert.is(b[34], 0, 'echo reply');
  assert.ok(verifies(b, 14, 20) && verifies(b, 34, 64));
  assert.is(toHex(b, 0, 12), '02000a2a0001' + '02000a2a0002', 'MACs swapped');
});

test('ICMPv6 echo to the gateway -> reply', () => {
  // Ethernet[IPv6[ICMPv6 echo request 2001:db8:1::2 -> 2001:db8:1::1, 8 data bytes]]
  const b = new Uint8Array(256);
  b.set(fromHex('02fe00000001 02000a2a0001 86dd 6000000000103a40 20010db8000100000000000000000002 20010db8000100000000000000000001 8000 0000 1234 0001 6162636465666768'));
  fillIcmp6Checksum(b, 14, 54, 16);
  assert.is(echoReply6(b, 0, 14, 70, parseIPv6('2001:db8:1::9')), 0, 'not our address');
  assert.is(echoReply6(b, 0, 14, 70, parseIPv6('2001:db8:1::1')), 70);
  assert.is(b[54], 129);
  assert.ok(icmp6ChecksumOk(b, 14, 54, 16));
  assert.is(toHex(b, 22, 32), '20010db8000100000000000000000001' + '20010db8000100000000000000000002');
});

if (needTool('tshark', 'dataplane/respond tshark check')) {
  test('tshark reads our replies as ARP reply, NA, echo reply with no warnings', async () => {
    const { dir, done } = tempDir('respond');
    try {
      const arp = roomy(frames[0]!);
      const na = roomy(frames[4]!);
      const echo = roomy(frames[1]!);
      const file = path.join(dir, 'replies.pcap');
      const w = new PcapWriter(file, { linkType: LinkType.ETHERNET });
      w.write(arp, 0, arpReply(arp, 0, 14, 42, GW));
      w.write(na, 0, ndAdvert(na, 0, 14, 86, GW, true, 256));
      w.write(echo, 0, echoReply4(echo, 0, 14, 98, parseIPv4('10.42.0.2')));
      await w.close();
      const out = run('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', '-e', 'arp.opcode', '-e', 'icmpv6.type', '-e', 'icmpv6.checksum.status', '-e', 'icmp.type', '-e', 'icmp.checksum.status', '-e', '_ws.expert.severity']);
      const lines = out.trim().split('\n').map((l) => l.split('|'));
      assert.is(lines[0]![0], '2', 'ARP reply');
      assert.is(lines[1]![1], '136', 'neighbor advertisement');
      assert.is(lines[1]![2], '1', 'ICMPv6 checksum good');
      assert.is(lines[2]![3], '0', 'echo reply');
      assert.is(lines[2]![4], '1', 'ICMP checksum good');
      for (const l of lines) assert.ok(l[5] === '' || Number(l[5]) < 0x600000, `expert ${l[5]}`);
    } finally {
      done();
    }
  });
}

test.run();
