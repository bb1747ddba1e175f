/** `vtep demo` and the root-free half of `vtep run`. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/io/native.js';
import { readCaptureBuffer, Decapsulator } from '../../src/index.js';
import { tempDir } from '../helpers/tools.js';

const VTEP = path.join(PACKAGE_ROOT, 'bin', 'vtep.js');

function vtep(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VTEP, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('vtep demo: every ping answered across vxlan, gre, mplsoudp and the VRFs; the capture decapsulates', () => {
  const { dir, done } = tempDir('demo');
  try {
    const out = path.join(dir, 'u.pcap');
    const r = vtep('demo', '--count', '2', '-o', out);
    assert.is(r.status, 0, r.stderr + r.stdout);
    assert.is((r.stdout.match(/reply from/g) ?? []).length, 3 * 3 + 3, 'all pings answered');
    assert.not.match(r.stdout, /no reply/);
    for (const s of ['bridged over vxlan', 'bridged over gre', 'bridged over mplsoudp', 'routed over mplsoudp']) assert.match(r.stdout, s);
    const d = new Decapsulator({ local: ['198.18.0.1', '198.18.0.2'], peers: ['198.18.0.1', '198.18.0.2'], vxlan: { vnis: [42] }, gre: { keys: [5] }, mpls: { labels: { '200': 'ethernet', '100': 'ip' } } });
    let n = 0;
    for (const rec of readCaptureBuffer(readFileSync(out))) {
      const code = d.frame(rec.buf, rec.offset, rec.caplen);
      // Routed packets to B carry label 200 with an IP payload: bound to ethernet here, so count only.
      if (code === 0) n++;
    }
    assert.ok(n >= 20, `${n} underlay frames decapsulated`);
  } finally {
    done();
  }
});

test('vtep run: a bad config is one line naming the field, exit 2', () => {
  const { dir, done } = tempDir('run');
  try {
    const cfg = path.join(dir, 'v.json');
    writeFileSync(cfg, JSON.stringify({ underlay: { address: '198.18.0.1' }, bridges: [{ vni: 42, ports: [{ tap: 'vm1tap' }], flood: ['198.18.0.300'] }] }));
    const r = vtep('run', '--config', cfg);
    assert.is(r.status, 2);
    assert.is(r.stderr.trim(), `vtep run: ${cfg}: bridges[0].flood[0]: "198.18.0.300" is not an IPv4 or IPv6 address`);
    assert.is(vtep('run').status, 2);
    assert.is(vtep('run', '--help').status, 0);
  } finally {
    done();
  }
});

test('vtep run: a bad --busy-poll or busyPollUs is refused naming it, exit 2', () => {
  const { dir, done } = tempDir('run');
  try {
    const cfg = path.join(dir, 'v.json');
    writeFileSync(cfg, JSON.stringify({ underlay: { address: '198.18.0.1' }, bridges: [{ vni: 42, ports: [{ tap: 'vm1tap' }] }] }));
    let r = vtep('run', '--config', cfg, '--busy-poll', 'soon');
    assert.is(r.status, 2);
    assert.is(r.stderr.trim(), 'vtep run: --busy-poll soon is not an integer in 0..1000000');
    writeFileSync(cfg, JSON.stringify({ underlay: { address: '198.18.0.1' }, busyPollUs: -1 }));
    r = vtep('run', '--config', cfg);
    assert.is(r.status, 2);
    assert.match(r.stderr, /busyPollUs: -1 is not an integer in 0\.\.1000000/);
    assert.match(vtep('run', '--help').stdout, /--busy-poll US/);
  } finally {
    done();
  }
});

test.run();
