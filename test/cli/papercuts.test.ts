/**
 * The CLI as a new user meets it: --help/-h everywhere (bench runs nothing),
 * exit codes, errors that name the flag and the namespace, encap saying what
 * it wrote, vtep run on SIGHUP (reload) and SIGTERM (prompt exit), and
 * namespaces removed on Ctrl-C.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/io/native.js';
import { canUseNetns, waitExit } from '../../src/util/netns.js';
import { until } from '../../src/util/topo.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tools.js';

const VTEP = path.join(PACKAGE_ROOT, 'bin', 'vtep.js');
function vtep(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VTEP, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('every subcommand answers --help and -h on stdout with exit 0', () => {
  for (const cmd of ['encap', 'decap', 'run', 'demo', 'ctl', 'bench']) {
    for (const flag of ['--help', '-h']) {
      const r = vtep(cmd, flag);
      assert.is(r.status, 0, `${cmd} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: vtep ${cmd}`), `${cmd} ${flag}`);
    }
  }
  assert.match(vtep('help', 'bench').stdout, /^Usage: vtep bench/);
  assert.match(vtep('help', 'ctl').stdout, /^Usage: vtep ctl/);
});

test('vtep bench --help runs no suite; an unknown option is refused, not taken for a suite', () => {
  const r = vtep('bench', '--help');
  assert.is(r.stderr, '', 'no suite progress');
  assert.not.match(r.stdout, /^(encap|pipeline|pcap|lpm|fdb|io|e2e|metrics): /m, 'no suite result');
  const bad = vtep('bench', '-x');
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^vtep bench: unknown option '-x'/);
  const unknown = vtep('bench', 'nosuch');
  assert.is(unknown.status, 2);
  assert.match(unknown.stderr, /unknown suite nosuch/);
});

test('an input that cannot be read exits 1 everywhere, naming the file', () => {
  const missing = '/nonexistent/vtep-input';
  const cases: string[][] = [
    ['encap', '--proto', 'vxlan', '--vni', '1', '--src', '198.18.0.1', '--dst', '198.18.0.2', '--src-mac', '02:00:00:00:00:01', '--dst-mac', '02:00:00:00:00:02', `${missing}.pcap`, '-o', '/tmp/vtep-x.pcap'],
    ['decap', '--config', `${missing}.json`, path.join(FIXTURES, 'decap.pcap')],
    ['decap', '--config', path.join(FIXTURES, 'decap.json'), `${missing}.pcap`],
    ['run', '--config', `${missing}.json`],
  ];
  for (const args of cases) {
    const r = vtep(...args);
    assert.is(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /vtep-input\.(pcap|json)/);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('errors name the flag as typed (--src-mac, --dst), not the option (srcMac)', () => {
  const base = ['encap', '--proto', 'gre', '--key', '5', '--src', '198.18.0.1', '--dst-mac', '02:00:00:00:00:02', path.join(FIXTURES, 'inner.pcap'), '-o', '/tmp/vtep-x.pcap'];
  let r = vtep(...base, '--dst', '198.18.0.2', '--src-mac', '02:zz');
  assert.is(r.status, 2);
  assert.match(r.stderr, /^vtep encap: --src-mac: "02:zz" is not/);
  r = vtep(...base, '--dst', '2001:db8::2', '--src-mac', '02:00:00:00:00:01');
  assert.match(r.stderr, /^vtep encap: --dst: "2001:db8::2"/);
  assert.not.match(r.stderr, /srcMac|dstMac/);
});

test('vtep encap says what it wrote, on stderr', () => {
  const { dir, done } = tempDir('cli');
  try {
    const out = path.join(dir, 'out.pcap');
    const r = vtep('encap', '--proto', 'vxlan', '--vni', '7', '--src', '198.18.0.1', '--dst', '198.18.0.2', '--src-mac', '02:00:00:00:00:01', '--dst-mac', '02:00:00:00:00:02', path.join(FIXTURES, 'inner.pcap'), '-o', out);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^vtep encap: wrote \\d+ packets to ${out.replace(/[.]/g, '\\.')}\\n$`));
  } finally {
    done();
  }
});

test('vtep run: a missing namespace is named with its field (exit 1); a bad config exits 2', () => {
  const { dir, done } = tempDir('cli');
  try {
    const file = path.join(dir, 'v.json');
    writeFileSync(file, JSON.stringify({ underlay: { address: '198.18.0.1' }, bridges: [{ vni: 1, ports: [{ tap: 'x1', netns: 'vtep-no-such-ns' }] }] }));
    let r = vtep('run', '--config', file, '--socket', path.join(dir, 's.sock'));
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr, 'vtep run: bridges[0].ports[0].netns: "vtep-no-such-ns" is not a network namespace (no /var/run/netns/vtep-no-such-ns)\n');
    writeFileSync(file, JSON.stringify({ underlay: { address: '198.18.0.1', netns: 'vtep-no-such-ns' } }));
    r = vtep('run', '--config', file);
    assert.match(r.stderr, /^vtep run: underlay\.netns: "vtep-no-such-ns" is not a network namespace/);
    writeFileSync(file, JSON.stringify({ underlay: { address: '198.18.0.1' }, metrics: { listen: 'localhost' } }));
    r = vtep('run', '--config', file);
    assert.is(r.status, 2);
    assert.match(r.stderr, /metrics\.listen: "localhost" is not an address:port/);
  } finally {
    done();
  }
});

test('vtep run: SIGHUP reloads (it does not kill), SIGTERM exits 0 at once, the socket file goes', async () => {
  // No device and no namespace: an underlay on loopback with ports of its own (nothing else listens there).
  const { dir, done } = tempDir('cli');
  const base = 20000 + (process.pid % 20000);
  const file = path.join(dir, 'v.json');
  const sock = path.join(dir, 'ctl.sock');
  writeFileSync(file, JSON.stringify({ underlay: { address: '127.0.0.1', vxlanPort: base, mplsPort: base + 1 } }));
  const child = spawn(process.execPath, [VTEP, 'run', '--config', file, '--socket', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += String(d)));
  const exited = waitExit(child, 20_000);
  try {
    assert.ok(await until(() => err.includes('running with'), 15_000), err);
    child.kill('SIGHUP');
    assert.ok(await until(() => err.includes('reload: no change'), 5000), err);
    writeFileSync(file, '{ not json');
    child.kill('SIGHUP');
    assert.ok(await until(() => err.includes('reload refused'), 5000), err);
    assert.match(err, /reload refused: .*not JSON/);
    assert.is(child.exitCode, null, 'still running after two SIGHUPs');
    child.kill('SIGTERM');
    const r = await exited;
    assert.is(r.code, 0, err);
    assert.match(err, /SIGTERM: stopping/);
    assert.is(spawnSync('test', ['-e', sock]).status, 1, 'socket removed');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    done();
  }
});

test('Ctrl-C removes the namespaces a run made (bench suites, tests, demos share Netns)', async () => {
  if (!canUseNetns()) {
    console.log('skip: the Ctrl-C namespace test needs root and iproute2 (Debian package iproute2)');
    return;
  }
  const mod = path.join(PACKAGE_ROOT, 'dist', 'src', 'util', 'netns.js');
  const script = `import(${JSON.stringify(mod)}).then(({ Netns }) => { const a = Netns.create('ci'); const b = Netns.create('ci'); console.log(a.name + ' ' + b.name); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  const exited = waitExit(child, 20_000);
  const list = (): string => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  let names: string[] = [];
  try {
    assert.ok(await until(() => out.includes('\n'), 10_000), 'namespaces made');
    names = out.trim().split(' ');
    assert.ok(names.every((n) => list().includes(n)));
    child.kill('SIGINT');
    const r = await exited;
    assert.is(r.code, null, 'ended by the signal, as without the hook');
    for (const n of names) assert.not.ok(list().split('\n').some((l) => l.split(' ')[0] === n), `${n} removed`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const n of names) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  }
});

test.run();
