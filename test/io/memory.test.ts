import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { MemoryPort, PcapPort, PacketPool, Batch, readCaptureBuffer } from '../../src/index.js';
import { toHex } from '../../src/wire/bytes.js';
import { FIXTURES, pcapFrames } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tools.js';

const frames = pcapFrames('inner.pcap');

test('a memory pair is a wire: frames written on one end are read on the other, in order', async () => {
  const [a, b] = MemoryPort.pair({ name: 'a' }, { name: 'b' });
  const pool = new PacketPool({ slots: 64, slotSize: 16384 });
  const tx = new Batch(pool, 16);
  for (const f of frames) tx.pushCopy(f);
  const seen: string[] = [];
  a.onTransmit((u8, s, l) => seen.push(toHex(u8, s, l)));
  const woke = new Promise<void>((resolve) => b.onReadable(resolve));
  assert.is(a.writeBatch(tx), frames.length);
  tx.release();
  await woke;
  const rx = new Batch(pool, 16);
  assert.is(b.readBatch(rx), frames.length);
  frames.forEach((f, i) => assert.is(toHex(rx.packet(i)), toHex(f)));
  assert.equal(seen, frames.map((f) => toHex(f)), 'observers saw every frame');
  rx.release();
  assert.is(pool.available, 64, 'no slot leaked');
  assert.is(a.stats.txPackets, frames.length);
  assert.is(b.stats.rxPackets, frames.length);
  a.close();
  b.close();
});

test('ports without a link are always up', () => {
  const [a, b] = MemoryPort.pair();
  const p = new PcapPort({});
  assert.is(a.linkUp, true);
  assert.is(p.linkUp, true);
  a.close();
  b.close();
  p.close();
});

test('a full ring drops and counts; frames larger than the pool room are dropped on read', () => {
  const p = new MemoryPort({ frames: 2, frameSize: 9216 });
  assert.ok(p.inject(frames[0]!));
  assert.ok(p.inject(frames[6]!)); // the 8.9 kB jumbo frame
  assert.not.ok(p.inject(frames[1]!));
  assert.is(p.rxDropped, 1);
  const pool = new PacketPool({ slots: 4 }); // 2048-byte slots: the jumbo frame does not fit
  const rx = new Batch(pool, 4);
  assert.is(p.readBatch(rx), 1);
  assert.is(p.stats.rxTruncated, 1);
  rx.release();
  assert.is(pool.available, 4);
});

test('a pcap port replays a capture and records what it sends', async () => {
  const { dir, done } = tempDir('pcapport');
  try {
    const out = path.join(dir, 'out.pcap');
    const port = new PcapPort({ input: path.join(FIXTURES, 'inner.pcap'), output: out });
    const pool = new PacketPool({ slots: 32, slotSize: 16384 });
    const rx = new Batch(pool, 4);
    let got = 0;
    await new Promise<void>((resolve) => {
      port.on('end', resolve);
      port.onReadable(() => {
        for (let n; (n = port.readBatch(rx)) > 0; ) {
          got += n;
          port.writeBatch(rx);
          rx.release();
        }
      });
    });
    port.close();
    await port.finished;
    assert.is(got, frames.length);
    const back: string[] = [];
    for (const r of readCaptureBuffer(readFileSync(out))) back.push(toHex(r.data));
    assert.equal(back, frames.map((f) => toHex(f)));
    assert.is(pool.available, 32);
  } finally {
    done();
  }
});

test.run();
