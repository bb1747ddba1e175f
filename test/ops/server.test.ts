/**
 * The control socket against a fake dataplane: every command through the
 * client, the protocol's errors, streams and cancel, the capture queue, and
 * the socket's access rules. No root needed (the non-owner test runs as root only).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { statSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { CtlServer } from '../../src/ops/server.js';
import { CtlClient } from '../../src/ops/client.js';
import { CaptureQueue } from '../../src/ops/capture.js';
import { defaultSocketPath } from '../../src/ops/protocol.js';
import type { CtlContext } from '../../src/ops/commands.js';
import { MemoryPort } from '../../src/io/memory.js';
import { PACKAGE_ROOT } from '../../src/io/native.js';
import { readCaptureBuffer } from '../../src/index.js';
import { VtepError } from '../../src/errors.js';
import { FakeDataplane } from '../helpers/fakedp.js';
import { tempDir } from '../helpers/tools.js';

const VTEP = path.join(PACKAGE_ROOT, 'bin', 'vtep.js');

async function setup(extra: Partial<CtlContext> = {}) {
  const { dir, done } = tempDir('ctl');
  const dp = new FakeDataplane();
  dp.addBridge({ vni: 42, flood: ['198.18.0.2'] });
  dp.addVrf({ name: 'red', label: 100 });
  dp.addBridgePort('vxlan-42', new MemoryPort({ name: 'vm1' }));
  const opened: string[] = [];
  const ctx: CtlContext = { dp, openTap: (o) => (opened.push(JSON.stringify(o)), new MemoryPort({ name: o.name })), ...extra };
  const sock = path.join(dir, 'run', 'vtep.sock');
  const server = await CtlServer.listen(ctx, { path: sock });
  const client = await CtlClient.connect(sock);
  return {
    dp, dir, sock, server, client, opened,
    async close() {
      client.close();
      await server.close();
      done();
    },
  };
}

function vtep(...args: string[]): Promise<{ status: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [VTEP, ...args]);
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += String(d)));
    p.on('close', (code) => resolve({ status: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
  });
}

test('the socket file is 0600 in a 0700 directory; a stale one is replaced, a live one refused', async () => {
  const s = await setup();
  try {
    assert.is(statSync(s.sock).mode & 0o777, 0o600);
    assert.is(statSync(path.dirname(s.sock)).mode & 0o777, 0o700);
    try {
      await CtlServer.listen({ dp: s.dp, openTap: () => { throw new Error('no'); } }, { path: s.sock });
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /another vtep run is listening/);
    }
  } finally {
    await s.close();
  }
  const { dir, done } = tempDir('ctl');
  try {
    // A socket file left by a process that died: nobody listens, so it is replaced.
    const stale = path.join(dir, 'stale.sock');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(stale, r));
    await new Promise<void>((r) => {
      // Close the listener but keep the file (as a killed process would leave it).
      (srv as unknown as { _handle: { close(): void } })._handle.close();
      r();
    });
    const dp = new FakeDataplane();
    const server = await CtlServer.listen({ dp, openTap: () => { throw new Error('no'); } }, { path: stale });
    const c = await CtlClient.connect(stale);
    assert.equal(((await c.request('hello')) as { protocol: number }).protocol, 1);
    c.close();
    await server.close();
    writeFileSync(path.join(dir, 'plain'), 'x');
    try {
      await CtlServer.listen({ dp, openTap: () => { throw new Error('no'); } }, { path: path.join(dir, 'plain') });
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /exists and is not a socket/);
    }
  } finally {
    done();
  }
});

test('the default path: /run/vtep for root, XDG_RUNTIME_DIR, else /tmp/vtep-UID', () => {
  assert.is(defaultSocketPath({}, 0), '/run/vtep/vtep.sock');
  assert.is(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/vtep.sock');
  assert.is(defaultSocketPath({}, 1000), '/tmp/vtep-1000/vtep.sock');
});

test('a non-owner cannot connect (root only: the client runs as nobody)', async () => {
  if (process.getuid?.() !== 0) {
    console.log('skip: the non-owner socket test needs root (to run a client as another uid)');
    return;
  }
  const s = await setup();
  try {
    // Even with the directory opened up, the 0600 socket refuses another uid.
    chmodSync(path.dirname(s.dir), 0o755);
    chmodSync(s.dir, 0o755);
    chmodSync(path.dirname(s.sock), 0o755);
    const code = `require('net').connect(${JSON.stringify(s.sock)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(3)})`;
    const r = spawnSync(process.execPath, ['-e', code], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.is(r.stdout.trim(), 'EACCES');
    assert.is(r.status, 3);
  } finally {
    await s.close();
  }
});

test('commands change the fake through the facade and show it', async () => {
  const s = await setup();
  const c = s.client;
  try {
    await c.request('fdb.add', { bridge: 'vxlan-42', mac: '02:00:00:00:00:02', remote: '198.18.0.2' });
    await c.request('fdb.add', { bridge: 'vxlan-42', mac: '02:00:00:00:00:03', port: 'vm1' });
    assert.equal(await c.request('fdb.show', { bridge: 'vxlan-42' }), [
      { bridge: 'vxlan-42', mac: '02:00:00:00:00:02', static: true, remote: '198.18.0.2' },
      { bridge: 'vxlan-42', mac: '02:00:00:00:00:03', static: true, port: 'vm1' },
    ]);
    await c.request('fdb.del', { bridge: 'vxlan-42', mac: '02:00:00:00:00:02' });
    assert.is(s.dp.fdb.size, 1);
    await c.request('arp.add', { bridge: 'vxlan-42', ip: '10.0.0.2', mac: '02:00:00:00:00:02' });
    assert.equal((await c.request('arp.show')) as object, { arp: [{ owner: 'vxlan-42', ip: '10.0.0.2', mac: '02:00:00:00:00:02' }], neighbors: [] });
    await c.request('arp.del', { bridge: 'vxlan-42', ip: '10.0.0.2' });
    await c.request('flood.add', { bridge: 'vxlan-42', remote: '198.18.0.3' });
    await c.request('flood.del', { bridge: 'vxlan-42', remote: '198.18.0.2' });
    assert.equal(s.dp.bridges.get('vxlan-42')!.flood, ['198.18.0.3']);
    const nh = [{ remote: '198.18.0.3', encap: 'mplsoudp', label: 200 }, { remote: '198.18.0.4', encap: 'mplsoudp', label: 201 }];
    await c.request('route.add', { vrf: 'red', prefix: '10.2.0.0/16', nexthops: nh });
    assert.equal(await c.request('route.show', { vrf: 'red' }), [{ vrf: 'red', prefix: '10.2.0.0/16', nexthops: nh }]);
    const load = await c.request('route.load', { vrf: 'red', routes: [{ prefix: '10.3.0.0/16', nexthops: nh }, { prefix: '10.4.0.0/16', nexthops: [] }] });
    assert.equal(load, { added: 2, failed: 0, errors: [] });
    await c.request('route.del', { vrf: 'red', prefix: '10.2.0.0/16' });
    assert.is(s.dp.routes('red').length, 2);
    const added = await c.request('port.add', { name: 'vm9', bridge: 'vxlan-42', netns: 'ns1', mtu: 9000 });
    assert.equal(s.opened, ['{"name":"vm9","netns":"ns1","mtu":9000}']);
    assert.is((added as { port: string }).port, 'vm9');
    await c.request('port.add', { name: 'r9', vrf: 'red', gateway: '10.9.0.1/24' });
    const show = (await c.request('show')) as { ports: { name: string; role: string; owner: string }[]; bridges: { ports: string[] }[] };
    assert.equal(show.ports.map((p) => [p.name, p.role, p.owner]), [['vm1', 'bridge', 'vxlan-42'], ['vm9', 'bridge', 'vxlan-42'], ['r9', 'router', 'red']]);
    await c.request('port.del', { name: 'vm9' });
    assert.equal(s.dp.bridges.get('vxlan-42')!.ports, ['vm1']);
    const st = (await c.request('stats')) as { pool: { slots: number } };
    assert.is(st.pool.slots, 16384);
  } finally {
    await s.close();
  }
});

test('errors: code and message naming the argument; unknown command; not-found deletes; a bad line', async () => {
  const s = await setup();
  const c = s.client;
  const err = async (cmd: string, args: Record<string, unknown>): Promise<VtepError> => {
    try {
      await c.request(cmd, args);
    } catch (e) {
      return e as VtepError;
    }
    throw new Error(`${cmd} did not fail`);
  };
  try {
    let e = await err('fdb.add', { bridge: 'vxlan-42', mac: '02:00:00:00:00:02' });
    assert.is(e.code, 'ERR_INVALID_ARG');
    assert.match(e.message, /^remote: undefined is not given, or port/);
    e = await err('fdb.del', { bridge: 'vxlan-42', mac: '02:00:00:00:00:77' });
    assert.is(e.code, 'ERR_NOT_FOUND');
    assert.match(e.message, /^mac: "02:00:00:00:00:77" is not in the FDB of bridge vxlan-42/);
    e = await err('route.add', { vrf: 'blue', prefix: '10.0.0.0/8', nexthops: [] });
    assert.is(e.code, 'ERR_NOT_FOUND');
    e = await err('frob', {});
    assert.match(e.message, /^cmd: "frob" is not a command \(hello, show, /);
    e = await err('port.add', { name: 'x', bridge: 'vxlan-42', vrf: 'red' });
    assert.match(e.message, /^bridge: "vxlan-42" is not given, or vrf, but not both/);
    e = await err('reload', {});
    assert.is(e.code, 'ERR_UNSUPPORTED');
    // A line that is not a request gets an answer with id 0, and the connection goes on.
    const raw = net.connect(s.sock);
    const lines: string[] = [];
    raw.on('data', (d) => lines.push(...String(d).trim().split('\n')));
    raw.write('not json\n{"id":5,"cmd":"hello"}\n');
    await new Promise((r) => setTimeout(r, 200));
    raw.destroy();
    assert.match(lines[0]!, /^\{"id":0,"ok":false,"error":\{"code":"ERR_INVALID_ARG","message":"request: /);
    assert.match(lines[1]!, /^\{"id":5,"ok":true,"result":\{"protocol":1,/);
  } finally {
    await s.close();
  }
});

test('stats watch streams until cancel; trace streams each packet', async () => {
  const s = await setup();
  try {
    const items: unknown[] = [];
    const p = s.client.request('stats', { watch: 1 }, (d) => items.push(d));
    await new Promise((r) => setTimeout(r, 100));
    s.client.cancel(p.id);
    assert.equal(await p, {});
    assert.is(items.length, 1);
    s.dp.traces = [{ seq: 1, port: 'vm1', time: 0, len: 60, steps: [{ stage: 'l2-fwd', next: 'tx', info: 'dst x -> port vm2' }] }];
    const t: unknown[] = [];
    assert.equal(await s.client.request('trace', { n: 1 }, (d) => t.push(d)), { traced: 1 });
    assert.equal(t, s.dp.traces);
  } finally {
    await s.close();
  }
});

test('capture: frames in order with direction and length; -c ends it; closing the client stops the capture', async () => {
  const s = await setup();
  try {
    const got: { dir: string; len: number; data: string }[] = [];
    const p = s.client.request('capture', { port: 'vm1', direction: 'both', count: 3 }, (d) => got.push(d as never));
    await new Promise((r) => setTimeout(r, 50));
    assert.is(s.dp.captures.size, 1);
    for (let i = 0; i < 5; i++) s.dp.feed('vm1', i % 2 === 0 ? 'rx' : 'tx', new Uint8Array(60 + i).fill(i));
    const r = await p;
    assert.equal(r, { frames: 3, seen: 3, dropped: 0 });
    assert.equal(got.shift(), { listening: 'vm1', direction: 'both', snaplen: 65535 } as never);
    assert.equal(got.map((f) => [f.dir, f.len, Buffer.from(f.data, 'base64')[0]]), [['rx', 60, 0], ['tx', 61, 1], ['rx', 62, 2]]);
    assert.is(s.dp.captures.size, 0);
    // rx only; a client that goes away ends the capture on the server.
    const c2 = await CtlClient.connect(s.sock);
    void c2.request('capture', { port: 'vm1', direction: 'rx' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    assert.is([...s.dp.captures][0]!.dir, 'rx');
    c2.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.is(s.dp.captures.size, 0);
  } finally {
    await s.close();
  }
});

test('capture: a reader that does not read loses frames, counted; the feeding side never waits', async () => {
  const s = await setup({ captureQueue: { bytes: 65536, frames: 64 } });
  try {
    // A raw client that sends the request and then never reads.
    const raw = net.connect(s.sock);
    await new Promise((r) => raw.once('connect', r));
    raw.pause();
    raw.write('{"id":1,"cmd":"capture","args":{"port":"vm1"}}\n');
    await new Promise((r) => setTimeout(r, 50));
    const frame = new Uint8Array(1500).fill(7);
    const t0 = performance.now();
    for (let i = 0; i < 20000; i++) s.dp.feed('vm1', 'rx', frame);
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 20000; i++) s.dp.feed('vm1', 'rx', frame);
    // Not a timing assertion: just proof that 40,000 frames went through without waiting for the reader.
    assert.ok(ms < 60000);
    raw.resume();
    raw.write('{"id":2,"cmd":"cancel","args":{"id":1}}\n');
    let text = '';
    await new Promise<void>((resolve) => {
      raw.on('data', (d) => {
        text += String(d);
        if (/"id":1,"ok":true/.test(text)) resolve();
      });
    });
    raw.destroy();
    const final = JSON.parse(text.split('\n').find((l) => l.startsWith('{"id":1,"ok":true'))!) as { result: { frames: number; seen: number; dropped: number } };
    assert.is(final.result.seen, 40000);
    assert.ok(final.result.dropped > 0, 'frames were dropped');
    assert.is(final.result.frames + final.result.dropped, 40000);
    const lines = text.split('\n').filter((l) => l.startsWith('{"id":1,"data":{"dir"')).length;
    assert.is(lines, final.result.frames);
  } finally {
    await s.close();
  }
});

test('CaptureQueue: wraps its byte ring, keeps order, cuts to snaplen, counts what does not fit', () => {
  const q = new CaptureQueue({ bytes: 4096, frames: 8, snaplen: 1000 });
  const rec = { start: 0, len: 0, origLen: 0, tx: false, timeMs: 0 };
  const f = (n: number, v: number) => new Uint8Array(n).fill(v);
  assert.ok(q.push(false, f(1500, 1), 0, 1500, 1));
  assert.ok(q.push(true, f(1000, 2), 0, 1000, 2));
  assert.ok(q.push(false, f(1000, 3), 0, 1000, 3));
  assert.ok(q.push(false, f(1000, 4), 0, 1000, 4));
  assert.not.ok(q.push(false, f(1000, 5), 0, 1000, 5), 'no room: 4000 bytes used');
  assert.is(q.dropped, 1);
  assert.ok(q.peek(rec));
  assert.equal([rec.len, rec.origLen, rec.tx, q.ring[rec.start]], [1000, 1500, false, 1]);
  q.shift();
  q.shift();
  assert.ok(q.push(false, f(900, 6), 0, 900, 6), 'wraps to the start');
  const order: number[] = [];
  while (q.peek(rec)) {
    order.push(q.ring[rec.start]!);
    q.shift();
  }
  assert.equal(order, [3, 4, 6]);
  for (let i = 0; i < 8; i++) q.push(false, f(10, i), 0, 10, 0);
  assert.not.ok(q.push(false, f(10, 9), 0, 10, 0), 'frames limit');
  assert.is(q.offered, 15);
});

test('vtep ctl: tables, --json, usage errors before connecting, exit 1 when nothing listens', async () => {
  const s = await setup();
  try {
    await s.client.request('fdb.add', { bridge: 'vxlan-42', mac: '02:00:00:00:00:02', remote: '198.18.0.2' });
    let r = await vtep('ctl', '--socket', s.sock, 'fdb', 'show');
    assert.is(r.status, 0, r.stderr);
    assert.equal(String(r.stdout).trim().split('\n'), ['BRIDGE    MAC                TYPE    WHERE', 'vxlan-42  02:00:00:00:00:02  static  remote 198.18.0.2']);
    r = await vtep('ctl', '--socket', s.sock, '--json', 'fdb', 'show');
    assert.equal(JSON.parse(String(r.stdout)), [{ bridge: 'vxlan-42', mac: '02:00:00:00:00:02', static: true, remote: '198.18.0.2' }]);
    r = await vtep('ctl', '--socket', s.sock, 'route', 'add', 'red', '10.2.0.0/16', 'remote=198.18.0.3,label=200', 'remote=198.18.0.4,label=201,weight=3');
    assert.is(r.status, 0, r.stderr);
    r = await vtep('ctl', '--socket', s.sock, 'route', 'show', 'red');
    assert.match(String(r.stdout), /red\s+10\.2\.0\.0\/16\s+mplsoudp 198\.18\.0\.3 label 200 mplsoudp 198\.18\.0\.4 label 201 weight 3/);
    r = await vtep('ctl', '--socket', s.sock, 'show');
    assert.match(String(r.stdout), /^Ports\nNAME\s+KIND\s+ROLE\s+IN\s+LINK/);
    r = await vtep('ctl', '--socket', s.sock, 'fdb', 'del', 'vxlan-42', '02:00:00:00:00:99');
    assert.is(r.status, 1);
    assert.match(r.stderr, /^vtep ctl: mac: "02:00:00:00:00:99" is not in the FDB of bridge vxlan-42\n$/);
    r = await vtep('ctl', '--socket', s.sock, 'route', 'add', 'red', '10.2.0.0/16', 'remote=198.18.0.3,lable=200');
    assert.is(r.status, 2);
    assert.match(r.stderr, /"lable=200" is not KEY=VALUE/);
    r = await vtep('ctl', '--socket', path.join(s.dir, 'none.sock'), 'show');
    assert.is(r.status, 1);
    assert.match(r.stderr, /none\.sock: ENOENT \(is vtep run running with this --socket\?\)/);
    r = await vtep('ctl', '--socket', path.join(s.dir, 'none.sock'), 'fdb', 'add', 'vxlan-42');
    assert.is(r.status, 2);
    assert.match(r.stderr, /vtep ctl fdb add: expected BRIDGE MAC remote\|port IP\|NAME/);
    r = await vtep('ctl', '--help');
    assert.is(r.status, 0);
  } finally {
    await s.close();
  }
});

test('vtep ctl route load: a file with a default next hop and a progress line; refused lines counted (exit 1)', async () => {
  const s = await setup();
  try {
    const file = path.join(s.dir, 'routes.txt');
    const lines = ['# a table', ...Array.from({ length: 25000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`), '10.200.0.0/16 port=vm1,via=10.1.0.9', '10.201.0.0/16 drop'];
    writeFileSync(file, lines.join('\n') + '\n');
    const r = await vtep('ctl', '--socket', s.sock, 'route', 'load', 'red', file, '--nexthop', 'remote=198.18.0.3,label=200');
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /route load: 25002 routes in red \(\d+\/s\)\n$/);
    assert.is(s.dp.routes('red').length, 25002);
    assert.equal(s.dp.routeTable.get('red 10.200.0.0/16')!.nexthops, [{ port: 'vm1', via: '10.1.0.9' }]);
    const bad = await vtep('ctl', '--socket', s.sock, 'route', 'load', 'red', file);
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /routes\.txt:2: 10\.0\.0\.0\/24 has no next hop/);
  } finally {
    await s.close();
  }
});

test('vtep ctl capture -w FILE: a pcapng with the frames, direction flags, and the summary line', async () => {
  const s = await setup();
  try {
    const file = path.join(s.dir, 'cap.pcapng');
    const run = vtep('ctl', '--socket', s.sock, 'capture', 'vm1', '-w', file, '-c', '4');
    for (let i = 0; i < 500 && s.dp.captures.size === 0; i++) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 4; i++) s.dp.feed('vm1', i < 2 ? 'rx' : 'tx', new Uint8Array(64).fill(i + 1));
    const r = await run;
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr, `capture: listening on vm1 (both), snaplen 65535; Ctrl-C stops\ncapture: 4 frames of vm1 written to ${file}\n`);
    const { readFileSync } = await import('node:fs');
    const recs: [number, number][] = [];
    for (const rec of readCaptureBuffer(readFileSync(file))) recs.push([rec.data[0]!, rec.data.length]);
    assert.equal(recs, [[1, 64], [2, 64], [3, 64], [4, 64]]);
  } finally {
    await s.close();
  }
});

test.run();
