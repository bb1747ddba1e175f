/**
 * Checksum completion against scapy-built frames (test/fixtures/offload.json):
 * a partial checksum (the pseudo-header sum a kernel VTEP leaves) is finished
 * into scapy's value, a correct one is never touched, a corrupt one stays
 * corrupt; IPv4/IPv6, TCP/UDP, with and without a VLAN tag.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { completeChecksum, finishPartial, CsumStatus, CSUM_STATUS_NAMES } from '../../src/tunnel/csum.js';
import { PacketPool } from '../../src/packet/pool.js';
import { fromHex, toHex, put16 } from '../../src/wire/bytes.js';
import { fixtureJson, type OffloadFixture } from '../helpers/fixtures.js';

const F = fixtureJson<OffloadFixture>('offload.json');

for (const c of F.csum) {
  test(`${c.name}: ${CSUM_STATUS_NAMES[c.status]}`, () => {
    const f = fromHex(c.frame);
    assert.is(completeChecksum(f, 0, f.length), c.status);
    assert.is(toHex(f), c.expected);
    // Again through the pool's word view at an odd-by-two offset: same answer.
    const pool = new PacketPool({ slots: 1 });
    const s = pool.dataStart(0);
    pool.u8.set(fromHex(c.frame), s);
    assert.is(completeChecksum(pool.u8, s, f.length, pool.u32), c.status);
    assert.is(toHex(pool.u8, s, f.length), c.expected);
    // A completed checksum now verifies: a second pass leaves it alone.
    if (c.status === CsumStatus.COMPLETED) assert.is(completeChecksum(f, 0, f.length), CsumStatus.OK);
  });
}

test('finishPartial (NEEDS_CSUM from a TAP) turns every partial case into scapy\'s frame', () => {
  let n = 0;
  for (const c of F.csum) {
    if (c.status !== CsumStatus.COMPLETED) continue;
    const f = fromHex(c.frame);
    // csum_start: the L4 header; TCP and UDP fixtures carry 777 payload bytes.
    const tcp = c.name.includes('tcp');
    const l4len = 777 + (tcp ? 32 : 8);
    const start = f.length - l4len;
    assert.ok(finishPartial(f, 0, f.length, start, tcp ? 16 : 6));
    assert.is(toHex(f), c.expected, c.name);
    n++;
  }
  assert.is(n, 8);
});

test('finishPartial refuses offsets past the frame, and writes 0xffff for a zero UDP result', () => {
  const f = new Uint8Array(20);
  assert.not.ok(finishPartial(f, 0, 20, 14, 6));
  // A UDP header whose words sum to 0xffff: the checksum computes to 0.
  const u = new Uint8Array(8);
  put16(u, 0, 0xfff0);
  put16(u, 2, 0x000f);
  assert.ok(finishPartial(u, 0, 8, 0, 6));
  assert.is(toHex(u, 6, 2), 'ffff');
});

test.run();
