/** The Prometheus text: names, labels, escaping, stages when present; the listener; promtool; the config section. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { renderMetrics, labelValue, MetricsServer } from '../../src/ops/metrics.js';
import { parseVswitchConfig } from '../../src/dataplane/config.js';
import { VtepError } from '../../src/errors.js';
import { FakeDataplane } from '../helpers/fakedp.js';
import { haveTool } from '../helpers/tools.js';

function fake(): FakeDataplane {
  const dp = new FakeDataplane();
  dp.addBridge({ vni: 42 });
  dp.addVrf({ name: 'red' });
  dp.fakePort('vm1tap', 'bridge', 'vxlan-42');
  dp.fakePort('udp4789', 'underlay');
  dp.addRoute('red', '10.2.0.0/16', []);
  dp.addArp('vxlan-42', '10.0.0.2', '02:00:00:00:00:02');
  return dp;
}

const sample = (text: string, line: string): boolean => text.split('\n').includes(line);

test('renderMetrics: per-port, per-tunnel, per-reason counters, table sizes, pool, process', () => {
  const dp = fake();
  const t = renderMetrics(dp.stats(), { tables: dp });
  for (const l of [
    '# TYPE vtep_port_rx_packets_total counter',
    'vtep_port_rx_packets_total{port="vm1tap",kind="tap",role="bridge"} 10',
    'vtep_port_tx_bytes_total{port="udp4789",kind="udp",role="underlay"} 2000',
    'vtep_port_drops_total{port="vm1tap",kind="tap",role="bridge"} 1',
    'vtep_port_up{port="vm1tap"} 1',
    'vtep_tunnel_tx_packets_total{encap="vxlan",remote="198.18.0.2"} 5',
    'vtep_drops_total{reason="no-route"} 3',
    'vtep_fdb_learned_total 4',
    'vtep_arp_entries 1',
    'vtep_routes{vrf="red"} 1',
    'vtep_pool_free_slots 16000',
    '# TYPE process_cpu_seconds_total counter',
  ]) assert.ok(sample(t, l), l);
  assert.match(t, /\nprocess_resident_memory_bytes \d+\n/);
  assert.not.match(t, /vtep_stage_/, 'no stages until the dataplane has them');
  assert.not.match(t, /vtep_loop_/, 'no loop counters unless given');
  assert.ok(t.endsWith('\n'));
});

test('renderMetrics: the event loop\'s wake-up counters when given', () => {
  const t = renderMetrics(fake().stats(), { loop: { lingers: 7, callbacks: 900, exitLoop: 4, exitForeign: 2, exitTime: 1, iterations: 30 } });
  for (const l of [
    '# TYPE vtep_loop_iterations_total counter',
    'vtep_loop_iterations_total 30',
    'vtep_loop_linger_wakeups_total 900',
    'vtep_loop_lingers_total{end="loop-work"} 4',
    'vtep_loop_lingers_total{end="other-fd"} 2',
    'vtep_loop_lingers_total{end="time"} 1',
  ]) assert.ok(sample(t, l), l);
});

test('renderMetrics: busy-poll\'s counters when stats() has them, none when it is off', () => {
  const s = fake().stats();
  assert.not.match(renderMetrics(s), /vtep_busy_poll_/);
  const t = renderMetrics({ ...s, busyPoll: { slices: 12, packets: 40, backoffs: 1, spinSeconds: 0.25 } });
  for (const l of [
    '# TYPE vtep_busy_poll_slices_total counter',
    'vtep_busy_poll_slices_total 12',
    'vtep_busy_poll_packets_total 40',
    'vtep_busy_poll_backoffs_total 1',
    'vtep_busy_poll_spin_seconds_total 0.25',
  ]) assert.ok(sample(t, l), l);
});

test('renderMetrics: stage counters when stats() has nodes (packets, drops by reason, next stages, others)', () => {
  const dp = fake();
  dp.nodes = {
    'l2-fwd': { packets: 9, drops: { 'mac-limit': 2 }, next: { 'tunnel-encap': 7 } },
    'ip-route': { packets: 4, drops: {}, next: {}, held: 1 },
  };
  const t = renderMetrics(dp.stats());
  for (const l of [
    'vtep_stage_packets_total{stage="l2-fwd"} 9',
    'vtep_stage_drops_total{stage="l2-fwd",reason="mac-limit"} 2',
    'vtep_stage_next_total{stage="l2-fwd",next="tunnel-encap"} 7',
    'vtep_stage_packets_total{stage="ip-route"} 4',
    'vtep_stage_events_total{stage="ip-route",counter="held"} 1',
  ]) assert.ok(sample(t, l), l);
  assert.not.match(t, /vtep_port_up/, 'link state only with the tables');
});

test('renderMetrics: an underlay frame port beside sockets has its ignored frames counted', () => {
  const s = fake().stats();
  assert.not.match(renderMetrics(s), /vtep_port_ignored_total/);
  s.ports['udp4789']!.ignored = 7;
  const t = renderMetrics(s);
  assert.ok(sample(t, '# TYPE vtep_port_ignored_total counter'));
  assert.ok(sample(t, 'vtep_port_ignored_total{port="udp4789"} 7'));
});

test('label values are escaped', () => {
  assert.is(labelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.is(labelValue('vm1tap'), 'vm1tap');
});

test('the listener: GET /metrics on loopback, 404 elsewhere; promtool check metrics passes', async () => {
  const dp = fake();
  dp.nodes = { 'l2-fwd': { packets: 1, drops: { 'no-port': 1 }, next: { tx: 3 } }, x: { packets: 0, other: 2 } };
  const m = await MetricsServer.listen('127.0.0.1', 0, () => renderMetrics(dp.stats(), { tables: dp, loop: { lingers: 1, callbacks: 2, exitLoop: 1, exitForeign: 0, exitTime: 0, iterations: 5 } }));
  try {
    const r = await fetch(`http://${m.address}/metrics`);
    assert.is(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const body = await r.text();
    assert.match(body, /vtep_port_rx_packets_total\{port="vm1tap"/);
    assert.is((await fetch(`http://${m.address}/`)).status, 404);
    if (!haveTool('promtool')) {
      console.log('skip: promtool check metrics needs promtool (Debian package prometheus)');
      return;
    }
    const p = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    assert.is(p.status, 0, `${p.stdout}${p.stderr}`);
    assert.is(`${p.stdout}${p.stderr}`.trim(), '', 'no lint complaints');
  } finally {
    await m.close();
  }
});

test('a listen address in use is refused naming metrics.listen', async () => {
  const a = await MetricsServer.listen('127.0.0.1', 0, () => '');
  try {
    const port = Number(a.address.split(':').pop());
    try {
      await MetricsServer.listen('127.0.0.1', port, () => '');
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, new RegExp(`^metrics\\.listen: 127\\.0\\.0\\.1:${port}: EADDRINUSE$`));
    }
  } finally {
    await a.close();
  }
});

test('config: "metrics": { "listen" } parsed; mistakes name the field and value', () => {
  const base = { underlay: { address: '198.18.0.1' } };
  assert.equal(parseVswitchConfig({ ...base, metrics: { listen: '127.0.0.1:9310' } }).metrics, { host: '127.0.0.1', port: 9310 });
  assert.equal(parseVswitchConfig({ ...base, metrics: { listen: '[::1]:9310' } }).metrics, { host: '::1', port: 9310 });
  assert.is(parseVswitchConfig(base).metrics, undefined);
  const bad: [unknown, RegExp][] = [
    [{ listen: 9310 }, /^metrics\.listen: 9310 is not an address:port to listen on, like 127\.0\.0\.1:9310/],
    [{ listen: 'localhost:9310' }, /^metrics\.listen: "localhost:9310" is not an address:port/],
    [{ listen: '127.0.0.1:70000' }, /^metrics\.listen: "127\.0\.0\.1:70000"/],
    [{ listen: '::1:9310' }, /^metrics\.listen: "::1:9310"/],
    [{ listen: '127.0.0.1:9310', path: '/m' }, /^metrics\.path: "\/m" is not a known field \(metrics takes listen\)/],
    ['127.0.0.1:9310', /^metrics: "127\.0\.0\.1:9310" is not an object/],
  ];
  for (const [metrics, re] of bad) {
    assert.throws(() => parseVswitchConfig({ ...base, metrics }), (e: unknown) => e instanceof VtepError && e.code === 'ERR_INVALID_CONFIG' && re.test(e.message), String(re));
  }
});

test.run();
