import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Vnet, VnetFlag, VnetGso, writeVnet, writeVnetNone, parseVnet, emitVnet, vnetGsoSize, vnetCsumStart } from '../../src/wire/virtio.js';
import { toHex } from '../../src/wire/bytes.js';

test('virtio_net_hdr: 10 bytes, 16-bit fields little-endian (as tun on x86 / with TUNSETVNETLE)', () => {
  const u8 = new Uint8Array(16);
  // A TSO super-frame: NEEDS_CSUM, TCPV4|ECN, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16.
  assert.is(writeVnet(u8, 2, VnetFlag.NEEDS_CSUM, VnetGso.TCPV4 | VnetGso.ECN, 66, 1448, 34, 16), 12);
  assert.is(toHex(u8, 2, 10), '0181' + '4200' + 'a805' + '2200' + '1000');
  assert.is(vnetGsoSize(u8, 2), 1448);
  assert.is(vnetCsumStart(u8, 2), 34);
  assert.equal(parseVnet(u8, 2, 12), { flags: 1, gsoType: 0x81, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  assert.is(parseVnet(u8, 2, 11), null);
});

test('mrg_rxbuf form: 12 bytes with num_buffers', () => {
  const u8 = new Uint8Array(12).fill(0xee);
  assert.is(writeVnetNone(u8, 0, Vnet.MRG_HEADER_LEN), 12);
  assert.is(toHex(u8), '00000000000000000000' + '0100');
  const r = { flags: VnetFlag.DATA_VALID, gsoType: VnetGso.UDP_L4, hdrLen: 42, gsoSize: 1200, csumStart: 34, csumOffset: 6, numBuffers: 3 };
  emitVnet(r, u8, 0, 12);
  assert.equal(parseVnet(u8, 0, 12, 12), r);
});

test('constants match linux/virtio_net.h', () => {
  assert.equal([VnetGso.NONE, VnetGso.TCPV4, VnetGso.UDP, VnetGso.TCPV6, VnetGso.UDP_L4, VnetGso.ECN], [0, 1, 3, 4, 5, 0x80]);
  assert.equal([VnetGso.UDP_TUNNEL_IPV4, VnetGso.UDP_TUNNEL_IPV6, VnetFlag.UDP_TUNNEL_CSUM], [0x20, 0x40, 8]);
  assert.equal([VnetFlag.NEEDS_CSUM, VnetFlag.DATA_VALID], [1, 2]);
});

test.run();
