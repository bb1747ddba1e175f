import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  parseIPv4, formatIPv4, parseIPv6, formatIPv6, parseCidr, parseMac, formatMac, readMac, writeMac, isGroupMac,
} from '../../src/util/addr.js';

test('IPv4 round trip in network order', () => {
  assert.is(parseIPv4('198.18.0.1'), 0xc6120001);
  assert.is(formatIPv4(0xc6120001), '198.18.0.1');
  assert.throws(() => parseIPv4('198.18.0'), /198\.18\.0/);
});

test('IPv6 round trip as four words', () => {
  const w = parseIPv6('2001:db8:18::1');
  assert.equal([...w], [0x20010db8, 0x00180000, 0, 1]);
  assert.is(formatIPv6(w), '2001:db8:18::1');
});

test('CIDR: host bits rejected unless allowed', () => {
  assert.is(parseCidr('10.0.0.0/8').length, 8);
  assert.throws(() => parseCidr('10.0.0.1/8'), /host bits/);
  assert.is(parseCidr('10.1.0.1/24', 'gateway', true).length, 24);
  assert.is(parseCidr('::/0').length, 0);
  assert.throws(() => parseCidr('10.0.0.0/33'), /length/);
});

test('MAC as a 48-bit number', () => {
  const m = parseMac('02:fc:18:00:00:01');
  assert.is(m, 0x02fc18000001);
  assert.is(formatMac(m), '02:fc:18:00:00:01');
  const u8 = new Uint8Array(8);
  writeMac(u8, 1, 0xffffffffffff);
  assert.is(readMac(u8, 1), 0xffffffffffff);
  assert.ok(isGroupMac(0xffffffffffff));
  assert.ok(isGroupMac(0x01005e000001));
  assert.not.ok(isGroupMac(m));
});

test.run();
