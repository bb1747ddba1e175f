/**
 * Two dataplanes joined by a memory underlay (whole frames, as on a wire),
 * a simulated host behind each: the bridge path end to end, no root needed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort, Decapsulator, PROTO_NAMES, parseIPv4 } from '../../src/index.js';
import type { TunnelProtoName } from '../../src/tunnel/tunnel.js';

const MAC_A = '02:fc:18:00:00:01';
const MAC_B = '02:fc:18:00:00:02';

interface Pair {
  a: Dataplane;
  b: Dataplane;
  ha: SimHost;
  hb: SimHost;
  wireA: MemoryPort;
  frames: Uint8Array[];
  close(): void;
}

function pair(encap: TunnelProtoName, id: number, opts: { suppress?: boolean } = {}): Pair {
  const [wa, wb] = MemoryPort.pair({ name: 'underlay-a' }, { name: 'underlay-b' });
  const frames: Uint8Array[] = [];
  wa.onTransmit((u8, s, l) => frames.push(u8.slice(s, s + l)));
  wb.onTransmit((u8, s, l) => frames.push(u8.slice(s, s + l)));
  const a = new Dataplane({ pool: { slots: 1024 } });
  const b = new Dataplane({ pool: { slots: 1024 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: MAC_A, nextHopMac: MAC_B });
  b.setUnderlay({ address: '198.18.0.2', port: wb, mac: MAC_B, nextHopMac: MAC_A });
  const idOpt = encap === 'vxlan' ? { vni: id } : encap === 'gre' ? { key: id } : { label: id };
  const ba = a.addBridge({ encap, ...idOpt, flood: ['198.18.0.2'], arpSuppress: opts.suppress ?? true });
  const bb = b.addBridge({ encap, ...idOpt, flood: ['198.18.0.1'], arpSuppress: opts.suppress ?? true });
  const ha = new SimHost({ name: 'vm1', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
  const hb = new SimHost({ name: 'vm2', mac: '02:00:0a:00:00:02', ip: '10.0.0.2/24' });
  a.addBridgePort(ba, ha.port);
  b.addBridgePort(bb, hb.port);
  a.start();
  b.start();
  return { a, b, ha, hb, wireA: wa, frames, close: () => { a.close(); b.close(); ha.close(); hb.close(); wa.close(); wb.close(); } };
}

for (const [encap, id] of [['vxlan', 42], ['gre', 5], ['mplsoudp', 200], ['mplsogre', 300]] as [TunnelProtoName, number][]) {
  test(`${encap}: ARP through the flood list, then pings both ways; learned MACs at the remote`, async () => {
    const p = pair(encap, id);
    try {
      const r1 = await p.ha.pingAndWait('10.0.0.2', 1);
      assert.is(r1.from, '10.0.0.2');
      assert.is(r1.ttl, 64, 'bridged: TTL untouched');
      const r2 = await p.hb.pingAndWait('10.0.0.1', 2);
      assert.is(r2.from, '10.0.0.1');
      // Each side learned the other host's MAC at the other VTEP.
      assert.ok(p.a.fdb.get(0, '02:00:0a:00:00:02') >= 0x40000000, 'A: vm2 at a remote');
      assert.ok(p.b.fdb.get(0, '02:00:0a:00:00:01') >= 0x40000000, 'B: vm1 at a remote');
      assert.is(p.a.fdb.get(0, '02:00:0a:00:00:01'), p.a.portId('vm1'), 'A: vm1 on its local port');
      const sa = p.a.stats();
      assert.ok(sa.tunnels[`${encap} 198.18.0.2`]!.txPackets >= 2);
      assert.ok(sa.tunnels[`${encap} 198.18.0.2`]!.rxPackets >= 2);
      assert.is(sa.pool.free, sa.pool.slots, 'every slot back in the pool');
      // Every underlay frame is a valid tunnel packet for an independent decapsulator.
      const d = new Decapsulator({ local: ['198.18.0.1', '198.18.0.2'], peers: ['198.18.0.1', '198.18.0.2'], vxlan: { vnis: [42] }, gre: { keys: [5] }, mpls: { labels: { '200': 'ethernet', '300': 'ethernet' } } });
      assert.ok(p.frames.length >= 4);
      for (const f of p.frames) {
        assert.is(d.frame(f, 0, f.length), 0);
        assert.is(PROTO_NAMES[d.proto], encap);
        assert.is(d.id, id);
      }
    } finally {
      p.close();
    }
  });
}

test('ARP suppression: a request for a known address is answered locally, never flooded', async () => {
  const p = pair('vxlan', 42);
  try {
    await p.ha.pingAndWait('10.0.0.2', 1); // A snoops vm2's ARP reply from the remote
    const before = p.frames.length;
    p.ha.arp.clear();
    await p.ha.pingAndWait('10.0.0.2', 2); // vm1 asks again: A answers
    const s = p.a.stats();
    assert.is(s.arp.suppressed, 1);
    const arpOnWire = p.frames.slice(before).filter((f) => f[50 + 12] === 0x08 && f[50 + 13] === 0x06).length;
    assert.is(arpOnWire, 0, 'no ARP crossed the underlay the second time');
  } finally {
    p.close();
  }
});

test('without suppression the same request crosses the underlay', async () => {
  const p = pair('vxlan', 42, { suppress: false });
  try {
    await p.ha.pingAndWait('10.0.0.2', 1);
    const before = p.frames.length;
    p.ha.arp.clear();
    await p.ha.pingAndWait('10.0.0.2', 2);
    assert.is(p.a.stats().arp.suppressed, 0);
    assert.ok(p.frames.slice(before).some((f) => f[50 + 12] === 0x08 && f[50 + 13] === 0x06));
  } finally {
    p.close();
  }
});

test('head-end replication: a broadcast goes to every remote of the flood list, one copy each', async () => {
  const [wa, sink] = MemoryPort.pair({ name: 'u' }, { name: 'sink' });
  const out: Uint8Array[] = [];
  wa.onTransmit((u8, s, l) => out.push(u8.slice(s, s + l)));
  const a = new Dataplane({ pool: { slots: 256 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: MAC_A, nextHopMac: MAC_B });
  const br = a.addBridge({ vni: 7, flood: ['198.18.0.2', '198.18.0.3', '198.18.0.4'] });
  const h = new SimHost({ name: 'vm1', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
  const h2 = new SimHost({ name: 'vm9', mac: '02:00:0a:00:00:09', ip: '10.0.0.9/24' });
  a.addBridgePort(br, h.port);
  a.addBridgePort(br, h2.port);
  a.start();
  try {
    h.arpRequest(parseIPv4('10.0.0.99'));
    await new Promise((r) => setTimeout(r, 50));
    const dsts = out.map((f) => `${f[30]}.${f[31]}.${f[32]}.${f[33]}`).sort();
    assert.equal(dsts, ['198.18.0.2', '198.18.0.3', '198.18.0.4']);
    assert.is(a.stats().ports.vm9!.txPackets, 1, 'and to the other local port');
    assert.is(a.stats().pool.free, 256);
  } finally {
    a.close();
    h.close();
    h2.close();
    sink.close();
  }
});

test.run();
