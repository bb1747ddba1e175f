/** The `vtep encap` and `vtep decap` commands, run as a user runs them, against the fixtures. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/io/native.js';
import { readCaptureBuffer, LinkType, entropyPort, flowHash } from '../../src/index.js';
import { toHex } from '../../src/wire/bytes.js';
import { FIXTURES, fixtureJson, pcapFrames, type DecapFixture, type EncapFixture } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tools.js';

const VTEP = path.join(PACKAGE_ROOT, 'bin', 'vtep.js');
const E = fixtureJson<EncapFixture>('encap.json');
const D = fixtureJson<DecapFixture>('decap.json');

function vtep(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VTEP, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('vtep encap: every parameter set of encap.json, byte for byte outside the masks', () => {
  const { dir, done } = tempDir('cli');
  const inner = pcapFrames('inner.pcap');
  try {
    for (const set of E.sets) {
      const p = set.params;
      const v6 = p.underlay === 'ipv6';
      const id = p.proto === 'vxlan' ? ['--vni', String(p.vni)] : p.proto === 'gre' ? ['--key', String(p.key)] : ['--label', String(p.label)];
      const out = path.join(dir, `${p.name}.pcap`);
      const r = vtep('encap', '--proto', p.proto, ...id, '--src', v6 ? E.local6 : E.local4, '--dst', v6 ? E.remote6 : E.remote4,
        '--src-mac', E.srcMac, '--dst-mac', E.dstMac, '--ttl', String(E.ttl), path.join(FIXTURES, 'inner.pcap'), '-o', out);
      assert.is(r.status, 0, r.stderr);
      const recs = [...readCaptureBuffer(readFileSync(out))].length;
      assert.is(recs, set.expected.length);
      let i = 0;
      for (const rec of readCaptureBuffer(readFileSync(out))) {
        const ex = set.expected[i]!;
        const got = rec.data;
        const want = Buffer.from(ex.hex, 'hex');
        assert.is(rec.linkType, LinkType.ETHERNET);
        assert.is(got.length, want.length, `${p.name}/${ex.frame}: length`);
        const masked = new Set<number>();
        for (const m of ex.masks) for (let k = 0; k < m.length; k++) masked.add(m.offset + k);
        for (let k = 0; k < want.length; k++) if (!masked.has(k)) assert.is(got[k], want[k], `${p.name}/${ex.frame}: byte ${k}`);
        for (const m of ex.masks) {
          if (m.rule.startsWith('udp-source-port')) {
            assert.is((got[m.offset]! << 8) | got[m.offset + 1]!, entropyPort(flowHash(inner[i]!, 0, inner[i]!.length)));
          } else {
            assert.ok(((got[m.offset]! << 8) | got[m.offset + 1]!) !== 0, 'IPv6 UDP checksum non-zero');
          }
        }
        i++;
      }
    }
  } finally {
    done();
  }
});

test('vtep decap --json: all 41 cases, one line each in the contract form', () => {
  const r = vtep('decap', '--config', path.join(FIXTURES, 'decap.json'), path.join(FIXTURES, 'decap.pcap'), '--json');
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 41);
  lines.forEach((line, i) => {
    const o = JSON.parse(line) as Record<string, unknown>;
    const c = D.cases[i]!;
    assert.is(o.i, i);
    assert.is(o.verdict, c.verdict, `${c.name}`);
    if (c.verdict === 'deliver') {
      assert.equal(Object.keys(o), ['i', 'verdict', 'proto', 'id', 'inner']);
      assert.equal([o.proto, o.id, o.inner], [c.proto, c.id, c.inner], c.name);
    } else {
      assert.equal(Object.keys(o), ['i', 'verdict', 'reason']);
      assert.type(o.reason, 'string');
    }
  });
});

test('vtep decap -o: delivered payloads; pcapng puts IP payloads on a raw-IP interface', () => {
  const { dir, done } = tempDir('cli');
  try {
    const cfg = path.join(dir, 'config.json');
    writeFileSync(cfg, JSON.stringify(D.config)); // a bare config, as users write it
    for (const ext of ['pcap', 'pcapng']) {
      const out = path.join(dir, `inner.${ext}`);
      const r = vtep('decap', '--config', cfg, path.join(FIXTURES, 'decap.pcap'), '-o', out);
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stdout, /^41 packets: 17 delivered, 24 dropped/);
      // The reader reuses one record object: take what is needed while iterating.
      const recs: { lt: number; hex: string }[] = [];
      for (const x of readCaptureBuffer(readFileSync(out))) recs.push({ lt: x.linkType, hex: toHex(x.data) });
      const delivered = D.cases.filter((c) => c.verdict === 'deliver');
      assert.is(recs.length, delivered.length);
      recs.forEach((rec, k) => {
        const c = delivered[k]!;
        const isIp = c.inner!.startsWith('45');
        if (ext === 'pcapng') {
          assert.is(rec.lt, isIp ? LinkType.RAW : LinkType.ETHERNET);
          assert.is(rec.hex, c.inner);
        } else {
          assert.is(rec.hex, isIp ? '000000000000000000000000' + '0800' + c.inner : c.inner);
        }
      });
    }
  } finally {
    done();
  }
});

test('bad arguments: one clear line on stderr and exit code 2', () => {
  const inner = path.join(FIXTURES, 'inner.pcap');
  const cases: [string[], RegExp][] = [
    [['encap', inner, '-o', '/tmp/x.pcap'], /--proto is required/],
    [['encap', '--proto', 'ipip', inner], /--proto ipip is not one of/],
    [['encap', '--proto', 'vxlan', '--vni', '16777216', '--src', '198.18.0.1', '--dst', '198.18.0.2', '--src-mac', '02:00:00:00:00:01', '--dst-mac', '02:00:00:00:00:02', inner, '-o', '/tmp/x.pcap'], /--vni 16777216 is not an integer in 0\.\.16777215/],
    [['encap', '--proto', 'vxlan', '--key', '5', inner], /--key does not go with --proto vxlan/],
    [['encap', '--proto', 'gre', '--key', '5', '--src', '198.18.0.1', '--dst', '2001:db8::1', '--src-mac', '02:00:00:00:00:01', '--dst-mac', '02:00:00:00:00:02', inner, '-o', '/tmp/x.pcap'], /vtep encap: --dst: "2001:db8::1"/],
    [['encap', '--proto', 'gre', '--key', '5', '--src', '198.18.0.1', '--dst', '198.18.0.2', '--src-mac', 'zz', '--dst-mac', '02:00:00:00:00:02', inner, '-o', '/tmp/x.pcap'], /vtep encap: --src-mac: "zz"/],
    [['encap', '--bogus'], /Unknown option '--bogus'/],
    [['decap', inner], /--config CONFIG\.json is required/],
    [['decap', '--config', path.join(FIXTURES, 'README.md'), inner], /not JSON/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [args, re] of cases) {
    const r = vtep(...args);
    assert.is(r.status, 2, `${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

test('bad config names the field and value (exit 2); a missing input file exits 1', () => {
  const { dir, done } = tempDir('cli');
  try {
    const cfg = path.join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ local: ['198.18.0.1'], vxlan: { vnis: [42, -1] } }));
    const r = vtep('decap', '--config', cfg, path.join(FIXTURES, 'decap.pcap'));
    assert.is(r.status, 2);
    assert.match(r.stderr, /vxlan\.vnis\[1\]: -1/);
    const m = vtep('decap', '--config', path.join(FIXTURES, 'decap.json'), path.join(dir, 'missing.pcap'));
    assert.is(m.status, 1);
    assert.match(m.stderr, /missing\.pcap/);
  } finally {
    done();
  }
});

test('--help for each command exits 0', () => {
  for (const cmd of ['encap', 'decap']) {
    const r = vtep(cmd, '--help');
    assert.is(r.status, 0);
    assert.match(r.stdout, new RegExp(`^Usage: vtep ${cmd}`));
  }
  assert.is(vtep('--help').status, 0);
  assert.is(vtep().status, 2);
});

test.run();
