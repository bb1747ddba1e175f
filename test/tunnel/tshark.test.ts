/**
 * tshark as an independent oracle for our encapsulation: every fixture frame
 * through every parameter set, written as pcap by us, dissected with checksum
 * checks on. Every frame must carry the right VNI / key / label and draw no
 * warning, error or malformed-packet mark. MPLS-over-UDP needs its port
 * decoded as MPLS (tshark has no default for 6635), and the label as an
 * Ethernet pseudowire without control word: otherwise tshark guesses from the
 * first nibble of the inner MAC and misreads frames whose MAC starts with 0.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { Tunnel, encapInPlace, PcapWriter, LinkType } from '../../src/index.js';
import { fixtureJson, pcapFrames, type EncapFixture } from '../helpers/fixtures.js';
import { needTool, tempDir, run } from '../helpers/tools.js';

const E = fixtureJson<EncapFixture>('encap.json');
const frames = pcapFrames('inner.pcap');
const WARN = 0x600000; // tshark's expert severity: chat 0x200000, note 0x400000, warn 0x600000, error 0x800000

if (needTool('tshark', 'tunnel/tshark dissection')) {
  test('tshark dissects our encapsulation of every fixture frame: right ids, no warnings', async () => {
    const { dir, done } = tempDir('tshark');
    try {
      for (const set of E.sets) {
        const p = set.params;
        const v6 = p.underlay === 'ipv6';
        const t = new Tunnel({ proto: p.proto, vni: p.vni, key: p.key, label: p.label, src: v6 ? E.local6 : E.local4, dst: v6 ? E.remote6 : E.remote4, srcMac: E.srcMac, dstMac: E.dstMac, ttl: E.ttl });
        const file = path.join(dir, `${p.name}.pcap`);
        const w = new PcapWriter(file, { linkType: LinkType.ETHERNET });
        for (const f of frames) {
          const buf = new Uint8Array(f.length + 256);
          buf.set(f, 200);
          const ns = encapInPlace(t, buf, 200, f.length, 0);
          w.write(buf, ns, 200 + f.length - ns);
        }
        await w.close();
        const label = p.label ?? 0;
        const out = run('tshark', [
          '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
          '-d', 'udp.port==6635,mpls', '-d', `mpls.label==${label},pwethnocw`,
          '-T', 'fields', '-E', 'occurrence=f', '-E', 'separator=|',
          '-e', 'frame.number', '-e', 'vxlan.vni', '-e', 'gre.key', '-e', 'mpls.label', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status',
          '-e', '_ws.expert.severity', '-e', '_ws.expert.message', '-e', '_ws.malformed',
        ]);
        const lines = out.trim().split('\n');
        assert.is(lines.length, frames.length, `${p.name}: tshark read every frame`);
        lines.forEach((line, i) => {
          const [, vni, key, mpls, ipCsum, udpCsum, sev, msg, malformed] = line.split('|');
          const where = `${p.name} frame ${i + 1}`;
          if (p.proto === 'vxlan') assert.is(Number(vni), p.vni, `${where}: VNI`);
          if (p.proto === 'gre') assert.is(Number(key), p.key, `${where}: GRE key`);
          if (p.proto.startsWith('mpls')) assert.is(Number(mpls), p.label, `${where}: MPLS label`);
          if (!v6) assert.is(ipCsum, '1', `${where}: outer IPv4 checksum good`);
          if (v6 && p.proto === 'vxlan') assert.is(udpCsum, '1', `${where}: IPv6 UDP checksum good`);
          assert.ok(sev === '' || Number(sev) < WARN, `${where}: expert ${sev} ${msg}`);
          assert.is(malformed, '', `${where}: malformed`);
        });
      }
    } finally {
      done();
    }
  });
}

test.run();
