/**
 * Randomized tenant isolation (issue 9, defect 1): two dataplanes on a memory
 * underlay, many tenants (bridges over all four encapsulations, VRFs with
 * labels or VNIs) whose ids are drawn from small pools so that ambiguous
 * bindings come up and must be refused; simulated hosts with the same MACs
 * and IPs in every tenant; seeded random pings, ARP, broadcasts and unicasts,
 * plus crafted underlay packets with ids nobody bound and from a peer nobody
 * accepted. Every frame a host's port receives carries its sender's tenant
 * (ICMP sequence numbers, a tag byte in the others): none may be another's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort } from '../../src/io/memory.js';
import { VtepError } from '../../src/errors.js';
import { Tunnel, encapInPlace, type TunnelProtoName } from '../../src/tunnel/index.js';
import { parseMac, writeMac } from '../../src/util/addr.js';
import { u16, put16 } from '../../src/wire/bytes.js';
import { checksum } from '../../src/wire/checksum.js';
import { rng } from '../../src/util/rng.js';

const SEED = 0x9150;
const STEPS = 1200;
/** The tenant tag of crafted packets: no tenant has it. */
const ATTACKER = 60;
const MAC_A = '02:fc:18:00:00:01';
const MAC_B = '02:fc:18:00:00:02';
const EXPERIMENTAL = 0x88b5;

type Spec =
  | { kind: 'bridge'; name: string; encap: TunnelProtoName; id: number }
  | { kind: 'vrf'; name: string; label?: number; vni?: number; encap: TunnelProtoName };

interface Tenant {
  index: number;
  spec: Spec;
  /** Hosts on dataplane A, then on B. */
  a: SimHost[];
  b: SimHost[];
  /** Next ping sequence number within the tenant (tenant * 1000 + n). */
  seq: number;
}

const idOpt = (encap: TunnelProtoName, id: number): { vni?: number; key?: number; label?: number } =>
  encap === 'vxlan' ? { vni: id } : encap === 'gre' ? { key: id } : { label: id };

/** The tenant a frame sent to a host came from, or -1 when the frame carries no tag (ARP). */
function tagOf(u8: Uint8Array, s: number, len: number): number {
  if (len < 15) return -1;
  const type = u16(u8, s + 12);
  if (type === EXPERIMENTAL) return u8[s + 14]!;
  if (type !== 0x0800 || len < 14 + 28) return -1;
  const l3 = s + 14;
  if (u8[l3 + 9] !== 1) return -1;
  const icmp = l3 + ((u8[l3]! & 0x0f) << 2);
  const t = u8[icmp]!;
  if (t === 0 || t === 8) return Math.floor(u16(u8, icmp + 6) / 1000);
  if ((t === 3 || t === 11) && icmp + 8 + 28 <= s + len) {
    const inner = icmp + 8;
    const innerIcmp = inner + ((u8[inner]! & 0x0f) << 2);
    if (u8[inner + 9] === 1 && innerIcmp + 8 <= s + len) return Math.floor(u16(u8, innerIcmp + 6) / 1000);
  }
  return -1;
}

/** A 64-byte frame of the experimental EtherType whose first payload byte is the tenant tag. */
function tagged(dst: number, src: number, tag: number): Uint8Array {
  const f = new Uint8Array(64);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  put16(f, 12, EXPERIMENTAL);
  f[14] = tag;
  return f;
}

/** An IPv4 echo request 10.2.0.2 -> 10.1.0.2 with a sequence number of the attacker's tag. */
function attackerPing(seq: number): Uint8Array {
  const p = new Uint8Array(20 + 8 + 16);
  p[0] = 0x45;
  put16(p, 2, p.length);
  p[8] = 64;
  p[9] = 1;
  p.set([10, 2, 0, 2, 10, 1, 0, 2], 12);
  put16(p, 10, checksum(p, 0, 20));
  p[20] = 8;
  put16(p, 24, 0x4242);
  put16(p, 26, ATTACKER * 1000 + seq);
  put16(p, 22, checksum(p, 20, p.length - 20));
  return p;
}

test('randomized traffic over many tenants with overlapping addresses: no frame reaches another tenant; crafted packets dropped by name', async () => {
  const r = rng(SEED);
  const pick = <T>(a: readonly T[]): T => a[r() % a.length]!;

  // The tenants: one of each kind first, then random ones from small id pools (collisions on purpose).
  const specs: Spec[] = [
    { kind: 'bridge', name: 't0', encap: 'vxlan', id: 42 },
    { kind: 'bridge', name: 't1', encap: 'gre', id: 5 },
    { kind: 'bridge', name: 't2', encap: 'mplsoudp', id: 200 },
    { kind: 'bridge', name: 't3', encap: 'mplsogre', id: 300 },
    { kind: 'vrf', name: 't4', label: 100, encap: 'mplsoudp' },
    { kind: 'vrf', name: 't5', label: 110, encap: 'mplsogre' },
    { kind: 'vrf', name: 't6', vni: 1100, encap: 'vxlan' },
  ];
  const pools: Record<TunnelProtoName, number[]> = { vxlan: [42, 43, 1100], gre: [5, 6], mplsoudp: [100, 200, 201], mplsogre: [110, 300, 301] };
  for (let i = specs.length; i < 16; i++) {
    const name = `t${i}`;
    if (r() % 3 === 0) {
      const encap = pick(['mplsoudp', 'mplsogre', 'vxlan'] as const);
      specs.push(encap === 'vxlan' ? { kind: 'vrf', name, vni: pick(pools.vxlan), encap } : { kind: 'vrf', name, label: pick([...pools.mplsoudp, ...pools.mplsogre]), encap });
    } else {
      const encap = pick(['vxlan', 'gre', 'mplsoudp', 'mplsogre'] as const);
      specs.push({ kind: 'bridge', name, encap, id: pick(encap === 'vxlan' ? pools.vxlan : encap === 'gre' ? pools.gre : [...pools.mplsoudp, ...pools.mplsogre]) });
    }
  }

  const [wa, wb] = MemoryPort.pair({ name: 'ua', frames: 4096 }, { name: 'ub', frames: 4096 });
  const a = new Dataplane({ pool: { slots: 4096 } });
  const b = new Dataplane({ pool: { slots: 4096 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: MAC_A, nextHopMac: MAC_B, peers: ['198.18.0.2'] });
  b.setUnderlay({ address: '198.18.0.2', port: wb, mac: MAC_B, nextHopMac: MAC_A, peers: ['198.18.0.1'] });
  const tenants: Tenant[] = [];
  const hosts: SimHost[] = [];
  let refusals = 0;
  let cross = 0;
  let delivered = 0;
  const crossed: string[] = [];
  const watch = (h: SimHost, t: number): void => {
    h.port.onTransmit((u8, s, l) => {
      const tag = tagOf(u8, s, l);
      if (tag < 0) return;
      delivered++;
      if (tag !== t) {
        cross++;
        if (crossed.length < 5) crossed.push(`${h.name} of tenant ${t} got a frame of tenant ${tag}`);
      }
    });
  };

  try {
    for (const spec of specs) {
      const t = tenants.length;
      const made: boolean[] = [];
      /** What addBridge returned on A and B (the bridge's name). */
      const refs: (string | number)[] = [];
      for (const [dp, peer] of [[a, '198.18.0.2'], [b, '198.18.0.1']] as const) {
        try {
          if (spec.kind === 'bridge') refs.push(dp.addBridge({ name: spec.name, encap: spec.encap, ...idOpt(spec.encap, spec.id), flood: [peer] }));
          else dp.addVrf({ name: spec.name, ...(spec.label === undefined ? {} : { label: spec.label }), ...(spec.vni === undefined ? {} : { vni: spec.vni }) });
          made.push(true);
        } catch (e) {
          assert.instance(e, VtepError);
          assert.is((e as VtepError).code, 'ERR_EXISTS', (e as Error).message);
          made.push(false);
        }
      }
      assert.is(made[0], made[1], `${spec.name}: the same answer on both dataplanes`);
      if (!made[0]) {
        refusals++;
        continue;
      }
      const tenant: Tenant = { index: t, spec, a: [], b: [], seq: 1 };
      const host = (side: 'a' | 'b', n: number, ip: string, gateway?: string): SimHost => {
        const h = new SimHost({ name: `${spec.name}${side}${n}`, mac: `02:00:0a:00:00:0${n}`, ip, ...(gateway === undefined ? {} : { gateway }) });
        hosts.push(h);
        tenant[side].push(h);
        watch(h, t);
        return h;
      };
      if (spec.kind === 'bridge') {
        a.addBridgePort(refs[0]!, host('a', 1, '10.0.0.1/24').port);
        a.addBridgePort(refs[0]!, host('a', 3, '10.0.0.3/24').port);
        b.addBridgePort(refs[1]!, host('b', 2, '10.0.0.2/24').port);
      } else {
        const pa = a.addVrfPort(spec.name, host('a', 1, '10.1.0.2/24', '10.1.0.1').port, { gateway: '10.1.0.1/24' });
        const pb = b.addVrfPort(spec.name, host('b', 2, '10.2.0.2/24', '10.2.0.1').port, { gateway: '10.2.0.1/24' });
        if (spec.vni !== undefined) {
          a.addRoute(spec.name, '10.2.0.0/16', [{ remote: '198.18.0.2', encap: 'vxlan', vni: spec.vni, mac: b.routerMac(pb) }]);
          b.addRoute(spec.name, '10.1.0.0/16', [{ remote: '198.18.0.1', encap: 'vxlan', vni: spec.vni, mac: a.routerMac(pa) }]);
        } else {
          a.addRoute(spec.name, '10.2.0.0/16', [{ remote: '198.18.0.2', encap: spec.encap, label: spec.label! }]);
          b.addRoute(spec.name, '10.1.0.0/16', [{ remote: '198.18.0.1', encap: spec.encap, label: spec.label! }]);
        }
      }
      tenants.push(tenant);
    }
    for (const encap of ['vxlan', 'gre', 'mplsoudp', 'mplsogre']) assert.ok(tenants.some((t) => t.spec.kind === 'bridge' && t.spec.encap === encap), `a ${encap} bridge`);

    // Ids bound somewhere (wrong-peer packets use them) and ids bound nowhere.
    const bound: { encap: TunnelProtoName; id: number; payload: 'ethernet' | 'ip' }[] = [];
    for (const t of tenants) {
      const s = t.spec;
      if (s.kind === 'bridge') bound.push({ encap: s.encap, id: s.id, payload: 'ethernet' });
      else if (s.vni !== undefined) bound.push({ encap: 'vxlan', id: s.vni, payload: 'ethernet' });
      else for (const encap of ['mplsoudp', 'mplsogre'] as const) bound.push({ encap, id: s.label!, payload: 'ip' });
    }
    const unbound: { encap: TunnelProtoName; id: number }[] = [
      { encap: 'vxlan', id: 999 }, { encap: 'vxlan', id: 44 }, { encap: 'gre', id: 999 }, { encap: 'gre', id: 7 },
      { encap: 'mplsoudp', id: 999 }, { encap: 'mplsogre', id: 999 }, { encap: 'mplsogre', id: 202 },
    ];
    const crafted = { a: { id: 0, peer: 0 }, b: { id: 0, peer: 0 } };
    const buf = new Uint8Array(512);
    const craft = (side: 'a' | 'b', wrong: 'id' | 'peer', n: number): void => {
      const target = side === 'a' ? { port: wa, me: '198.18.0.1', peer: '198.18.0.2', mac: MAC_A } : { port: wb, me: '198.18.0.2', peer: '198.18.0.1', mac: MAC_B };
      const which = wrong === 'id' ? { ...pick(unbound), payload: 'ethernet' as const } : pick(bound);
      const tun = new Tunnel({
        proto: which.encap, ...idOpt(which.encap, which.id), payload: which.payload,
        src: wrong === 'peer' ? '198.18.0.9' : target.peer, dst: target.me, srcMac: '02:fc:18:00:00:09', dstMac: target.mac,
      });
      const inner = which.payload === 'ip' ? attackerPing(n) : tagged(r() % 2 === 0 ? 0xffffffffffff : parseMac(`02:00:0a:00:00:0${1 + (r() % 3)}`), 0x02000a000009, ATTACKER);
      buf.set(inner, 256);
      const start = encapInPlace(tun, buf, 256, inner.length, 0);
      assert.ok(target.port.inject(buf, start, 256 + inner.length - start));
      crafted[side][wrong]++;
    };

    a.start();
    b.start();
    let pings = 0;
    for (let step = 0; step < STEPS; step++) {
      const t = pick(tenants);
      const side = t.b.length > 0 && r() % 2 === 0 ? 'b' : 'a';
      const h = pick(t[side]);
      const action = r() % 10;
      if (action < 4 && t.seq < 999) {
        // A ping to a host of the tenant (local or across the underlay) or to the gateway.
        let dst: string;
        if (t.spec.kind === 'bridge') dst = pick(['10.0.0.1', '10.0.0.2', '10.0.0.3'].filter((x) => x !== `10.0.0.${h.mac & 0xff}`));
        else dst = r() % 4 === 0 ? (side === 'a' ? '10.1.0.1' : '10.2.0.1') : side === 'a' ? '10.2.0.2' : '10.1.0.2';
        h.ping(dst, t.index * 1000 + t.seq++);
        pings++;
      } else if (action < 6) {
        h.arpRequest(((10 << 24) | (t.spec.kind === 'bridge' ? 0 : side === 'a' ? 1 << 16 : 2 << 16) | (1 + (r() % 4))) >>> 0);
      } else if (action < 8) {
        h.port.inject(tagged(0xffffffffffff, h.mac, t.index));
      } else {
        h.port.inject(tagged(parseMac(`02:00:0a:00:00:0${1 + (r() % 3)}`), h.mac, t.index));
      }
      if (r() % 8 === 0) craft(r() % 2 === 0 ? 'a' : 'b', r() % 2 === 0 ? 'id' : 'peer', step);
      if (step % 25 === 24) await new Promise((res) => setTimeout(res, 2));
    }
    await new Promise((res) => setTimeout(res, 200));

    assert.is(cross, 0, `cross-tenant deliveries: ${crossed.join('; ')}`);
    assert.ok(refusals >= 3, `the random tenants include ambiguous bindings, all refused (${refusals})`);
    assert.ok(tenants.length >= 10, `${tenants.length} tenants`);
    assert.ok(delivered > 1000, `${delivered} tagged deliveries checked`);
    const replies = hosts.reduce((n, h) => n + h.counters.echoReplies, 0);
    assert.ok(replies >= 0.9 * pings, `${replies} of ${pings} pings answered`);
    for (const t of tenants) assert.ok([...t.a, ...t.b].some((h) => h.counters.echoReplies > 0 || h.counters.echoRequests > 0), `tenant ${t.spec.name} carried pings`);
    for (const [side, dp] of [['a', a], ['b', b]] as const) {
      const d = dp.stats().drops;
      assert.ok(crafted[side].id > 0 && crafted[side].peer > 0);
      assert.is(d['unknown-id'] ?? 0, crafted[side].id, `${side}: every wrong-id packet dropped as unknown-id`);
      assert.is(d['unknown-peer'] ?? 0, crafted[side].peer, `${side}: every wrong-peer packet dropped as unknown-peer`);
    }
  } finally {
    a.close();
    b.close();
    for (const h of hosts) h.close();
    wa.close();
    wb.close();
  }
});

test.run();
