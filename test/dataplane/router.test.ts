/**
 * The vRouter model: hosts behind gateway ports of VRFs on two dataplanes,
 * routed across MPLS-over-UDP, MPLS-over-GRE or VXLAN (routed, with an inner
 * router MAC), over a memory underlay.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane, type RouteNextHop } from '../../src/dataplane/dataplane.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort } from '../../src/index.js';

interface Net {
  a: Dataplane;
  b: Dataplane;
  hc: SimHost;
  hd: SimHost;
  frames: Uint8Array[];
  close(): void;
}

function net(encap: 'mplsoudp' | 'mplsogre' | 'vxlan'): Net {
  const [wa, wb] = MemoryPort.pair({ name: 'ua' }, { name: 'ub' });
  const frames: Uint8Array[] = [];
  wa.onTransmit((u8, s, l) => frames.push(u8.slice(s, s + l)));
  const a = new Dataplane({ pool: { slots: 512 } });
  const b = new Dataplane({ pool: { slots: 512 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' });
  b.setUnderlay({ address: '198.18.0.2', port: wb, mac: '02:fc:18:00:00:02', nextHopMac: '02:fc:18:00:00:01' });
  const vxlan = encap === 'vxlan';
  a.addVrf({ name: 'red', ...(vxlan ? { vni: 1100 } : { label: 100 }) });
  b.addVrf({ name: 'red', ...(vxlan ? { vni: 1200 } : { label: 200 }) });
  const hc = new SimHost({ name: 'vm3', mac: '02:00:0a:01:00:02', ip: '10.1.0.2/24', gateway: '10.1.0.1' });
  const hd = new SimHost({ name: 'vm4', mac: '02:00:0a:02:00:02', ip: '10.2.0.2/24', gateway: '10.2.0.1' });
  const pa = a.addVrfPort('red', hc.port, { gateway: '10.1.0.1/24' });
  const pb = b.addVrfPort('red', hd.port, { gateway: '10.2.0.1/24' });
  const toB: RouteNextHop = vxlan ? { remote: '198.18.0.2', encap: 'vxlan', vni: 1200, mac: b.routerMac(pb) } : { remote: '198.18.0.2', encap, label: 200 };
  const toA: RouteNextHop = vxlan ? { remote: '198.18.0.1', encap: 'vxlan', vni: 1100, mac: a.routerMac(pa) } : { remote: '198.18.0.1', encap, label: 100 };
  a.addRoute('red', '10.2.0.0/16', [toB]);
  b.addRoute('red', '10.1.0.0/16', [toA]);
  a.start();
  b.start();
  return { a, b, hc, hd, frames, close: () => { a.close(); b.close(); hc.close(); hd.close(); wa.close(); wb.close(); } };
}

/** Waits until `ok()` (checked every 5 ms), at most 5 s: no fixed sleeps, which a loaded machine outruns. */
async function until(ok: () => boolean): Promise<void> {
  for (let t = 0; t < 1000 && !ok(); t++) await new Promise((r) => setTimeout(r, 5));
}

for (const encap of ['mplsoudp', 'mplsogre', 'vxlan'] as const) {
  test(`${encap}: ping across two VRF gateways; TTL down by one per router`, async () => {
    const n = net(encap);
    try {
      // The far gateway holds the first packet while it resolves vm4 by ARP, then sends it.
      const first = await n.hc.pingAndWait('10.2.0.2', 1);
      assert.is(first.from, '10.2.0.2');
      assert.ok(n.b.stats().arp.requestsSent >= 1, 'B asked for vm4 by ARP');
      const r = await n.hc.pingAndWait('10.2.0.2', 2);
      assert.is(r.from, '10.2.0.2');
      assert.is(r.ttl, 62, 'two routers on the way back');
      const back = await n.hd.pingAndWait('10.1.0.2', 3);
      assert.is(back.from, '10.1.0.2');
      assert.ok(n.a.stats().arp.gatewayReplies >= 1, 'A answered ARP for its gateway');
      // On the underlay: MPLS carries the IP packet after one label (no inner Ethernet).
      const f = n.frames.find((x) => x.length > 60)!;
      if (encap === 'mplsoudp') {
        assert.is(f[23], 17, 'UDP');
        assert.is(((f[36]! << 8) | f[37]!), 6635);
        assert.is((f[42]! << 12) | (f[43]! << 4) | (f[44]! >>> 4), 200, 'the far VRF label');
        assert.is(f[46]! >>> 4, 4, 'an IPv4 packet right after the label');
      } else if (encap === 'mplsogre') {
        assert.is(f[23], 47, 'GRE');
        assert.is(((f[36]! << 8) | f[37]!), 0x8847);
        assert.is(f[42]! >>> 4, 4);
      } else {
        assert.is(((f[36]! << 8) | f[37]!), 4789);
      }
    } finally {
      n.close();
    }
  });
}

test('the gateway answers pings; unknown destinations are dropped as no-route', async () => {
  const n = net('mplsoudp');
  try {
    const r = await n.hc.pingAndWait('10.1.0.1', 1);
    assert.is(r.from, '10.1.0.1');
    n.hc.ping('10.9.9.9', 2);
    await until(() => (n.a.stats().drops['no-route'] ?? 0) > 0);
    assert.is(n.a.stats().drops['no-route'], 1);
  } finally {
    n.close();
  }
});

test('ECMP: flows spread over two remotes by the flow hash; a flow stays on its remote', async () => {
  const [wa, sink] = MemoryPort.pair({ name: 'u' }, { name: 's' });
  const out: Uint8Array[] = [];
  wa.onTransmit((u8, s, l) => out.push(u8.slice(s, s + l)));
  const a = new Dataplane({ pool: { slots: 512 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: '02:fc:18:00:00:01' });
  a.addVrf({ name: 'red', label: 100 });
  const h = new SimHost({ name: 'vm', mac: '02:00:0a:01:00:02', ip: '10.1.0.2/24', gateway: '10.1.0.1' });
  a.addVrfPort('red', h.port, { gateway: '10.1.0.1/24' });
  a.addRoute('red', '10.2.0.0/16', [{ remote: '198.18.0.2', encap: 'mplsoudp', label: 200 }, { remote: '198.18.0.3', encap: 'mplsoudp', label: 200 }]);
  a.start();
  try {
    for (let round = 0; round < 2; round++) for (let i = 0; i < 64; i++) h.ping(`10.2.${i}.1`, round * 64 + i);
    await until(() => out.filter((f) => f.length > 60).length >= 128);
    const pkts = out.filter((f) => f.length > 60);
    assert.is(pkts.length, 128);
    // Remote (last byte of the outer destination) per inner destination, in each round.
    const where = pkts.map((f) => `${f[46 + 18]}:${f[33]}`);
    const first = new Map(where.slice(0, 64).map((w) => [w.split(':')[0], w.split(':')[1]]));
    for (const w of where.slice(64)) assert.is(first.get(w.split(':')[0]), w.split(':')[1], 'same flow, same remote');
    const by = new Map<string, number>();
    for (const w of where.slice(0, 64)) by.set(w.split(':')[1]!, (by.get(w.split(':')[1]!) ?? 0) + 1);
    assert.ok((by.get('2') ?? 0) > 16 && (by.get('3') ?? 0) > 16, `spread ${[...by]}`);
  } finally {
    a.close();
    h.close();
    sink.close();
  }
});

test.run();
