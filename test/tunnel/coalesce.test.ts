/**
 * GRO against scapy-built expectations (test/fixtures/offload.json): each case
 * is a batch of decapsulated frames and the outputs Linux's rules give (which
 * segments merge is written in the case, the merged super-frame is scapy's):
 * out-of-order, flags, flows, PSH, options, IPv4 id, TTL/TOS, sizes, 64 KB.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Coalescer } from '../../src/tunnel/coalesce.js';
import { PacketPool } from '../../src/packet/pool.js';
import { Batch } from '../../src/packet/batch.js';
import { fromHex, toHex } from '../../src/wire/bytes.js';
import { VnetFlag, VnetGso, parseVnet } from '../../src/wire/virtio.js';
import { fixtureJson, type OffloadFixture, type GroCase } from '../helpers/fixtures.js';

const F = fixtureJson<OffloadFixture>('offload.json');
const pool = new PacketPool({ slots: 512 });
const big = new Uint8Array(1 << 17);

function load(c: GroCase): Batch {
  const b = new Batch(pool, 256);
  for (const h of c.frames) b.pushCopy(fromHex(h));
  return b;
}

for (const c of F.coalesce) {
  test(`${c.name}: ${c.groups.map((g) => `[${g.join(',')}]`).join(' ')}${c.why ? ` (${c.why})` : ''}`, () => {
    const b = load(c);
    const g = new Coalescer({ capacity: 256 });
    try {
      const n = g.coalesce(b);
      assert.is(n, c.outputs.length, 'outputs');
      const offs = new Uint32Array(64);
      const lens = new Uint32Array(64);
      for (let k = 0; k < n; k++) {
        const want = c.outputs[k]!;
        const group = c.groups[k]!;
        assert.is(g.head[k], group[0], `output ${k}: first segment`);
        assert.is(g.segs[k], want.segs, `output ${k}: segments`);
        // Members in order along next[].
        const members: number[] = [];
        for (let i = g.head[k]!; i >= 0; i = g.next[i]!) members.push(i);
        assert.equal(members, group, `output ${k}: members`);
        // Copied whole, and as iovecs: both give scapy's frame.
        const len = g.gather(b, k, big, 10);
        assert.is(len, g.len[k]);
        assert.is(toHex(big, 10, len), want.frame, `output ${k}: bytes`);
        const m = g.iovecs(b, k, offs, lens, 0);
        assert.is(m, want.segs);
        let hex = '';
        for (let j = 0; j < m; j++) hex += toHex(pool.u8, offs[j]!, lens[j]!);
        assert.is(hex, want.frame, `output ${k}: iovecs`);
        const vh = new Uint8Array(12);
        g.writeVnetFor(k, vh, 0, 12);
        const v = parseVnet(vh, 0, 12, 12)!;
        if (want.segs > 1) {
          assert.is(v.flags, VnetFlag.NEEDS_CSUM);
          assert.is(v.gsoType, want.gsoType);
          assert.is(v.gsoSize, want.gsoSize);
          assert.is(v.hdrLen, want.hdrLen);
          assert.is(v.csumStart, want.csumStart);
          assert.is(v.csumOffset, 16);
        } else {
          assert.is(v.gsoType, VnetGso.NONE);
        }
        assert.is(v.numBuffers, 1);
      }
    } finally {
      b.release();
    }
  });
}

test('a single frame with a partial checksum passes unchanged with NEEDS_CSUM', () => {
  const c = F.coalesce.find((x) => x.name.startsWith('partial'))!;
  const b = new Batch(pool, 4);
  b.pushCopy(fromHex(c.frames[0]!));
  b.pushCopy(fromHex(F.coalesce[0]!.frames[0]!)); // another flow's first segment, complete checksum
  const g = new Coalescer({ capacity: 4 });
  assert.is(g.coalesce(b), 2);
  assert.is(toHex(b.packet(0)), c.frames[0]);
  assert.is(g.vnetFlags[0], VnetFlag.NEEDS_CSUM);
  assert.is(g.csumStart[0], 34);
  assert.is(g.csumOffset[0], 16);
  assert.is(g.vnetFlags[1], 0);
  b.release();
});

test('dropped entries are skipped; non-TCP frames pass; counters count merges', () => {
  const c = F.coalesce[0]!; // 5 segments that merge
  const b = new Batch(pool, 8);
  for (const h of c.frames) b.pushCopy(fromHex(h));
  b.pushCopy(fromHex(F.csum.find((x) => x.name === 'ipv4 udp correct')!.frame));
  b.reason[2] = 1; // dropped earlier: a hole in the run
  const g = new Coalescer({ capacity: 8 });
  // [0,1], then a sequence gap: [3,4] (4 is short and has PSH), the UDP frame alone.
  assert.is(g.coalesce(b), 3);
  assert.equal([...g.segs.subarray(0, 3)], [2, 2, 1]);
  assert.equal([...g.head.subarray(0, 3)], [0, 3, 5]);
  assert.is(g.merged, 2);
  assert.is(g.frames, 2);
  b.release();
});

test('more flows than maxFlows: the oldest run is closed, nothing lost or reordered within a flow', () => {
  const c = F.coalesce.find((x) => x.name === 'two flows interleaved')!;
  const b = load(c);
  const g = new Coalescer({ capacity: 256, maxFlows: 1 });
  const n = g.coalesce(b);
  let total = 0;
  for (let k = 0; k < n; k++) total += g.segs[k]!;
  assert.is(total, c.frames.length);
  b.release();
});

test('segments bound for different ports are never merged', () => {
  const c = F.coalesce[0]!;
  const b = load(c);
  b.port[1] = 3;
  const g = new Coalescer({ capacity: 256 });
  assert.is(g.coalesce(b), 3); // [0], [1] for port 3, then [2,3,4] (a new run for port 0)
  assert.equal([...g.segs.subarray(0, 3)], [1, 1, 3]);
  b.release();
});

test('misuse throws VtepError naming the field', () => {
  assert.throws(() => new Coalescer({ maxFlows: 0 }), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && /maxFlows/.test(e.message));
  const b = load(F.coalesce[0]!);
  assert.throws(() => new Coalescer({ capacity: 2 }).coalesce(b), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && /batch/.test(e.message));
  b.release();
});

test.run();
