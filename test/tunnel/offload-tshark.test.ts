/**
 * tshark as a second, independent oracle for the offload building blocks: our
 * segments (every fixture, complete checksums), our completed checksums, and
 * our merged GRO super-frames once their NEEDS_CSUM is finished (what the
 * guest's kernel will do) are written to a pcap and dissected with IPv4, TCP
 * and UDP checksum validation on. Every checksum must be "good" and no frame
 * may draw a malformed mark.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { PcapWriter, LinkType } from '../../src/index.js';
import { segment, Segments, SegFlag } from '../../src/tunnel/segment.js';
import { completeChecksum, finishPartial, CsumStatus } from '../../src/tunnel/csum.js';
import { Coalescer } from '../../src/tunnel/coalesce.js';
import { PacketPool } from '../../src/packet/pool.js';
import { Batch } from '../../src/packet/batch.js';
import { fromHex } from '../../src/wire/bytes.js';
import { fixtureJson, type OffloadFixture } from '../helpers/fixtures.js';
import { haveTshark, tempDir, run } from '../helpers/tools.js';

const F = fixtureJson<OffloadFixture>('offload.json');

if (!haveTshark()) {
  console.log('skip: tunnel/offload-tshark tests need tshark (Debian package tshark)');
} else {
  test('tshark validates the checksums of our segments, completions and merged frames', async () => {
    const { dir, done } = tempDir('offload-tshark');
    try {
      const file = path.join(dir, 'offload.pcap');
      const w = new PcapWriter(file, { linkType: LinkType.ETHERNET });
      const what: string[] = [];
      const dst = new Uint8Array(64 * 2048);
      const starts = new Uint32Array(64).map((_, k) => 64 + k * 2048);
      const out = new Segments(64);
      for (const c of F.segment) {
        const f = fromHex(c.frame);
        const n = segment(f, 0, f.length, c.gsoSize, dst, starts, out, SegFlag.COPY_PAYLOAD);
        for (let k = 0; k < n; k++) {
          w.write(dst, out.start[k]!, out.len[k]!);
          what.push(`${c.name} segment ${k}`);
        }
      }
      for (const c of F.csum) {
        if (c.status !== CsumStatus.COMPLETED) continue;
        const f = fromHex(c.frame);
        completeChecksum(f, 0, f.length);
        w.write(f, 0, f.length);
        what.push(`${c.name} completed`);
      }
      const pool = new PacketPool({ slots: 300 });
      const g = new Coalescer({ capacity: 256 });
      const big = new Uint8Array(1 << 17);
      for (const c of F.coalesce) {
        const b = new Batch(pool, 256);
        for (const h of c.frames) b.pushCopy(fromHex(h));
        const n = g.coalesce(b);
        for (let k = 0; k < n; k++) {
          if (g.segs[k]! < 2) continue;
          const len = g.gather(b, k, big, 0);
          assert.ok(finishPartial(big, 0, len, g.csumStart[k]!, g.csumOffset[k]!));
          w.write(big, 0, len);
          what.push(`${c.name} merged ${k}`);
        }
        b.release();
      }
      await w.close();
      const lines = run('tshark', [
        '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
        '-T', 'fields', '-E', 'occurrence=f', '-E', 'separator=|',
        '-e', 'frame.number', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status', '-e', '_ws.malformed',
      ]).trim().split('\n');
      assert.is(lines.length, what.length, 'tshark read every frame');
      lines.forEach((line, i) => {
        const [, ip, tcp, udp, malformed] = line.split('|');
        const where = what[i]!;
        if (ip !== '') assert.is(ip, '1', `${where}: IPv4 header checksum`);
        assert.ok(tcp === '1' || udp === '1', `${where}: TCP/UDP checksum good (tcp ${tcp} udp ${udp})`);
        assert.is(malformed, '', `${where}: malformed`);
      });
    } finally {
      done();
    }
  });
}

test.run();
