import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decapsulator, decapBatch, RxDepth, Tunnel, encapInPlace, PacketPool, Batch, PROTO_NAMES, REASON_NAMES, Reason, VtepError, parseIPv4 } from '../../src/index.js';
import { toHex, fromHex, put16 } from '../../src/wire/bytes.js';
import { checksum } from '../../src/wire/checksum.js';
import { fillUdpChecksum } from '../../src/wire/udp.js';

/** Recomputes the IPv4 header checksum of the outer header at 14. */
function fixIpv4Checksum(p: Uint8Array): void {
  put16(p, 24, 0);
  put16(p, 24, checksum(p, 14, 20));
}
import { fixtureJson, pcapFrames, type DecapFixture } from '../helpers/fixtures.js';

const D = fixtureJson<DecapFixture>('decap.json');
const packets = pcapFrames('decap.pcap');
const MACS = { srcMac: '02:fc:18:00:00:01', dstMac: '02:fc:18:00:00:02' };

test('all 41 fixture cases: verdict, proto, id and inner bytes', () => {
  assert.is(packets.length, 41);
  const d = new Decapsulator(D.config);
  D.cases.forEach((c, i) => {
    const p = packets[i]!;
    const r = d.frame(p, 0, p.length);
    assert.is(r === 0 ? 'deliver' : 'drop', c.verdict, `${i} ${c.name}: verdict (${REASON_NAMES[r]})`);
    if (r === 0) {
      assert.is(PROTO_NAMES[d.proto], c.proto, `${c.name}: proto`);
      assert.is(d.id, c.id, `${c.name}: id`);
      assert.is(toHex(p, d.innerStart, d.innerLen), c.inner, `${c.name}: inner`);
    }
  });
});

test('fixture cases through a batch in pool slots: same verdicts, starts move forward', () => {
  const pool = new PacketPool({ slots: 64 });
  const b = new Batch(pool, 64);
  for (const p of packets) b.pushCopy(p);
  const starts = [...b.start.subarray(0, b.count)];
  const d = new Decapsulator(D.config);
  const delivered = decapBatch(d, b, RxDepth.FRAME);
  assert.is(delivered, D.cases.filter((c) => c.verdict === 'deliver').length);
  D.cases.forEach((c, i) => {
    if (c.verdict === 'deliver') {
      assert.is(b.reason[i], 0);
      assert.ok(b.start[i]! > starts[i]!, 'start moved forward');
      assert.is(toHex(b.packet(i)), c.inner);
      assert.is(PROTO_NAMES[b.kind[i]! & 0x0f], c.proto);
    } else {
      assert.ok(b.reason[i]! > 0);
    }
  });
  assert.is(d.counters[0], delivered, 'delivered counted under code 0');
  b.release();
});

// A VXLAN-over-IPv6 packet to mutate: Ethernet[IPv6[UDP[VXLAN[Ethernet[...]]]]]
const inner = packets[0]!.subarray(50); // the ICMP frame inside case 0
function vxlan6(): Uint8Array {
  const t = new Tunnel({ proto: 'vxlan', vni: 42, src: '2001:db8:18::2', dst: '2001:db8:18::1', ...MACS });
  const buf = new Uint8Array(inner.length + 200);
  buf.set(inner, 150);
  const ns = encapInPlace(t, buf, 150, inner.length, 0);
  return buf.slice(ns, 150 + inner.length);
}

/** Inserts extension headers (their own next-header bytes are fixed up) after the IPv6 header. */
function withExt(exts: [number, Uint8Array][]): Uint8Array {
  const p = vxlan6();
  const extBytes = exts.reduce((n, [, b]) => n + b.length, 0);
  const out = new Uint8Array(p.length + extBytes);
  out.set(p.subarray(0, 54));
  let o = 54;
  exts.forEach(([, b], k) => {
    out.set(b, o);
    out[o] = k + 1 < exts.length ? exts[k + 1]![0] : 17; // next header
    o += b.length;
  });
  out.set(p.subarray(54), o);
  out[14 + 6] = exts[0]![0];
  put16(out, 14 + 4, p.length - 54 + extBytes);
  return out;
}

const HBH = 0, ROUTING = 43, FRAG = 44, DSTOPTS = 60;
const padN = fromHex('00 00 01 04 00 00 00 00'); // PadN of 4
const optUnknownSkip = fromHex('00 00 3e 04 00 00 00 00'); // type 0x3e: "skip if unknown"
const optUnknownDiscard = fromHex('00 00 80 04 00 00 00 00'); // type 0x80: "discard"
const srh = (left: number): Uint8Array => fromHex(`00 02 04 ${left.toString(16).padStart(2, '0')} 00 00 00 00  2001 0db8 0018 0000 0000 0000 0000 0001`);
const frag = (offM: number): Uint8Array => { const b = fromHex('00 00 0000 12345678'); put16(b, 2, offM); return b; };

test('IPv6 extension headers: walked, judged, delivered or dropped', () => {
  const d = new Decapsulator(D.config);
  const run = (p: Uint8Array): string => REASON_NAMES[d.frame(p, 0, p.length)] || 'deliver';
  assert.is(run(vxlan6()), 'deliver');
  assert.is(run(withExt([[HBH, padN]])), 'deliver', 'hop-by-hop PadN');
  assert.is(run(withExt([[HBH, padN], [DSTOPTS, optUnknownSkip]])), 'deliver', 'unknown option, skip bits');
  assert.is(run(withExt([[DSTOPTS, optUnknownDiscard]])), 'bad-header', 'unknown option, discard bits');
  assert.is(run(withExt([[DSTOPTS, padN], [HBH, padN]])), 'bad-header', 'hop-by-hop not first');
  assert.is(run(withExt([[ROUTING, srh(0)]])), 'deliver', 'routing header, no segments left');
  assert.is(run(withExt([[ROUTING, srh(1)]])), 'bad-header', 'routing header with segments left');
  assert.is(run(withExt([[FRAG, frag(0)]])), 'deliver', 'atomic fragment');
  assert.is(run(withExt([[FRAG, frag(1)]])), 'fragment', 'first fragment (M)');
  assert.is(run(withExt([[FRAG, frag(8 << 3)]])), 'fragment', 'later fragment');
  assert.is(run(withExt(Array.from({ length: 9 }, () => [DSTOPTS, padN] as [number, Uint8Array]))), 'unsupported', 'too many headers');
  const cut = withExt([[HBH, padN]]);
  cut[14 + 40 + 1] = 200; // Hdr Ext Len far past the payload
  assert.is(run(cut), 'truncated');
});

test('IPv6: zero UDP checksum only when udp6ZeroChecksumRx, payload length checked', () => {
  const p = vxlan6();
  p[60] = 0;
  p[61] = 0;
  assert.is(new Decapsulator(D.config).frame(p, 0, p.length), 0);
  assert.is(new Decapsulator({ ...D.config, udp6ZeroChecksumRx: false }).frame(p, 0, p.length), Reason['bad-checksum']);
  const q = vxlan6();
  put16(q, 18, 2000);
  assert.is(new Decapsulator(D.config).frame(q, 0, q.length), Reason['bad-length']);
});

/** MPLS-over-UDP (IPv4) with the given label stack entries (hex words) before the inner frame. */
function mplsUdp(stackHex: string): Uint8Array {
  const t = new Tunnel({ proto: 'mplsoudp', label: 200, src: '198.18.0.2', dst: '198.18.0.1', ...MACS });
  const stack = fromHex(stackHex);
  const payload = new Uint8Array(stack.length - 4 + inner.length);
  payload.set(stack.subarray(4));
  payload.set(inner, stack.length - 4);
  const buf = new Uint8Array(payload.length + 200);
  buf.set(payload, 150);
  const ns = encapInPlace(t, buf, 150, payload.length, 0);
  buf.set(stack.subarray(0, 4), 150 - 4); // replace the template's single label
  return buf.slice(ns, 150 + payload.length);
}

test('MPLS label stacks: explicit null, entropy pairs, reserved labels, two service labels', () => {
  const d = new Decapsulator(D.config);
  const run = (hex: string): string => { const p = mplsUdp(hex); return REASON_NAMES[d.frame(p, 0, p.length)] || `deliver ${d.id}`; };
  assert.is(run('000c8140'), 'deliver 200');
  assert.is(run('00000040 000c8140'), 'deliver 200', 'IPv4 explicit null above');
  assert.is(run('00007000 0c6cd000 000c8140'), 'deliver 200', 'ELI + EL above');
  assert.is(run('000c8040 00007000 0c6cd140'), 'deliver 200', 'ELI + EL at the bottom');
  assert.is(run('000c8040 00064140'), 'unsupported', 'two service labels');
  assert.is(run('0000d040 000c8140'), 'unsupported', 'GAL');
  assert.is(run('00003040 000c8140'), 'bad-header', 'implicit null on the wire');
  assert.is(run('00007140'), 'bad-header', 'ELI at bottom of stack');
  assert.is(run('00000140'), 'unknown-id', 'explicit null alone names no tenant');
  assert.is(run('0012c140'), 'unknown-id', 'label 300 not configured');
});

test('GRE: IP payload delivered as IP, keyless TEB names no tenant, version 1 dropped', () => {
  const ip = inner.subarray(14);
  const d = new Decapsulator(D.config);
  const t = new Tunnel({ proto: 'gre', key: 5, payload: 'ip', src: '198.18.0.2', dst: '198.18.0.1', ...MACS });
  const buf = new Uint8Array(ip.length + 200);
  buf.set(ip, 150);
  const ns = encapInPlace(t, buf, 150, ip.length, 0);
  const end = 150 + ip.length;
  assert.is(d.frame(buf, ns, end - ns), 0);
  assert.is(d.inner, 1);
  assert.is(toHex(buf, d.innerStart, d.innerLen), toHex(ip));
  // Keyless TEB: clear K and drop the key word.
  const k = packets[8]!.slice();
  const keyless = new Uint8Array(k.length - 4);
  keyless.set(k.subarray(0, 38));
  keyless.set(k.subarray(42), 38);
  keyless[34] = 0x00;
  put16(keyless, 16, ((k[16]! << 8) | k[17]!) - 4);
  fixIpv4Checksum(keyless);
  assert.is(REASON_NAMES[d.frame(keyless, 0, keyless.length)], 'unknown-id');
});

test('UDP-socket entry point: payload plus source address, peer checked', () => {
  const pool = new PacketPool({ slots: 4 });
  const b = new Batch(pool, 4);
  const vx = packets[0]!.subarray(42); // VXLAN header + inner frame
  b.pushCopy(vx);
  b.pushCopy(vx);
  b.addr[0] = parseIPv4('198.18.0.2'); // a peer
  b.addr[4] = parseIPv4('198.18.9.9'); // not a peer
  const d = new Decapsulator(D.config);
  assert.is(decapBatch(d, b, RxDepth.UDP, 4789, 4), 1);
  assert.is(b.reason[0], 0);
  assert.is(b.id[0], 42);
  assert.is(REASON_NAMES[b.reason[1]!], 'unknown-peer');
  b.release();
  const e = new Decapsulator(D.config);
  assert.is(e.udpPayload(vx, 0, vx.length, 9999, 4, [parseIPv4('198.18.0.2')], 0), Reason.unsupported, 'unknown port');
});

test('no peers list: any source is accepted; peerIndex names listed ones', () => {
  const { peers, ...open } = D.config;
  const d = new Decapsulator(open);
  const p = packets[0]!.slice();
  p[26] = 1; // source 1.18.0.2
  fixIpv4Checksum(p);
  fillUdpChecksum(p, 14, 34, p.length - 34, false);
  assert.is(d.frame(p, 0, p.length), 0);
  assert.is(d.peerIndex(), -1);
  const strict = new Decapsulator(D.config);
  assert.is(REASON_NAMES[strict.frame(p, 0, p.length)], 'unknown-peer');
  assert.is(strict.frame(packets[0]!, 0, packets[0]!.length), 0);
  assert.is(strict.peerIndex(), 0);
  assert.ok(peers.length > 0);
});

test('bad config: VtepError ERR_INVALID_CONFIG naming the field and the value', () => {
  const bad = (c: unknown, re: RegExp): void => {
    assert.throws(() => new Decapsulator(c as never), (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_CONFIG' && re.test(e.message));
  };
  bad({}, /^local: undefined/);
  bad({ local: ['198.18.0.300'] }, /local\[0\]: "198\.18\.0\.300"/);
  bad({ local: ['198.18.0.1'], vxlan: { vnis: [1, 16777216] } }, /vxlan\.vnis\[1\]: 16777216/);
  bad({ local: ['198.18.0.1'], mpls: { labels: { '5': 'ip' } } }, /mpls\.labels\["5"\]: 5/);
  bad({ local: ['198.18.0.1'], mpls: { labels: { '100': 'tcp' } } }, /mpls\.labels\["100"\]: "tcp"/);
  bad({ local: ['198.18.0.1'], vxlan: { port: 6635, vnis: [] } }, /mpls\.udpPort: 6635/);
});

test.run();
