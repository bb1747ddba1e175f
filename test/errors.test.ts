/**
 * Error messages echo a short form of the value (ECHO_LIMIT characters, then
 * "…" and its size), however large the value: a 50 MB string in a config or
 * an API argument gives a one-line message, not a 50-million-character one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describe, ECHO_LIMIT, VtepError } from '../src/errors.js';
import { parseVswitchConfig } from '../src/dataplane/config.js';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { SimHost } from '../src/dataplane/simhost.js';
import { Decapsulator, MemoryPort, TapDevice, Tunnel, Vrfs } from '../src/index.js';

const HUGE = 'x'.repeat(50 << 20);
/** Longest message accepted: the field path, the cut value, the expectation. */
const MAX_MESSAGE = 400;

function short(fn: () => unknown, code?: string): VtepError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.instance(caught, VtepError, 'a VtepError');
  const e = caught as VtepError;
  if (code !== undefined) assert.is(e.code, code);
  assert.ok(e.message.length <= MAX_MESSAGE, `message of ${e.message.length} characters: ${e.message.slice(0, 200)}`);
  return e;
}

test('describe: strings, arrays and objects are cut to ECHO_LIMIT with an ellipsis and their size', () => {
  assert.is(describe('eth0'), '"eth0"');
  assert.is(describe(42), '42');
  assert.is(describe(undefined), 'undefined');
  assert.is(describe({ a: 1, b: [2, 3] }), '{"a":1,"b":[2,3]}');
  const s = describe(HUGE);
  assert.ok(s.length < ECHO_LIMIT + 40, s);
  assert.ok(s.startsWith('"xxxx'));
  assert.match(s, `… (${HUGE.length} characters)`);
  const a = describe(new Array(1_000_000).fill(7));
  assert.ok(a.length < ECHO_LIMIT + 40, a);
  assert.match(a, '… (1000000 items)');
  const o = describe({ name: HUGE, more: HUGE });
  assert.ok(o.length <= ECHO_LIMIT + 1, o);
  assert.ok(describe(new Uint8Array(1 << 20)).length < ECHO_LIMIT + 20);
  // Objects that JSON cannot print, or should not: a short tag.
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.ok(describe(cyclic).length <= ECHO_LIMIT + 1);
  assert.is(describe(new Map()), '[Map]');
});

test('a 50 MB string anywhere in a vSwitch config: a short message naming the field', () => {
  let e = short(() => parseVswitchConfig({ underlay: { address: HUGE } }), 'ERR_INVALID_CONFIG');
  assert.match(e.message, /^underlay\.address: "x+…/);
  e = short(() => parseVswitchConfig({ underlay: { address: '198.18.0.1' }, bridges: [{ vni: 1, ports: [{ tap: HUGE }] }] }));
  assert.match(e.message, /^bridges\[0\]\.ports\[0\]\.tap: /);
  e = short(() => parseVswitchConfig({ underlay: { address: '198.18.0.1' }, vrfs: [{ name: HUGE }] }));
  assert.match(e.message, /^vrfs\[0\]\.name: /);
  // An unknown key of 50 MB: the key is cut in the field path too.
  short(() => parseVswitchConfig({ underlay: { address: '198.18.0.1' }, [HUGE]: 1 }));
  short(() => parseVswitchConfig({ underlay: { address: '198.18.0.1' }, bridges: [{ vni: 1, flood: [HUGE] }] }));
  short(() => parseVswitchConfig({ underlay: { address: '198.18.0.1' }, vrfs: [{ name: 'red', routes: [{ prefix: HUGE, drop: true }] }] }));
  short(() => parseVswitchConfig({ underlay: { address: '198.18.0.1' }, bridges: [{ vni: 1, encap: HUGE }] }));
});

test('a 50 MB string as an API argument: a short message', () => {
  short(() => new Tunnel({ proto: 'vxlan', vni: 1, src: HUGE, dst: '198.18.0.2' }), 'ERR_INVALID_ARG');
  short(() => new Tunnel({ proto: HUGE as 'vxlan', vni: 1, src: '198.18.0.1', dst: '198.18.0.2' }));
  short(() => new Decapsulator({ local: ['198.18.0.1'], mpls: { labels: { [HUGE]: 'ethernet' } } }));
  short(() => new Decapsulator({ local: [HUGE] }));
  short(() => TapDevice.open({ name: 'ok', netns: HUGE }), 'ERR_INVALID_ARG');
  short(() => TapDevice.open({ name: HUGE }), 'ERR_INVALID_ARG');
  short(() => new SimHost({ name: 'h', mac: '02:00:00:00:00:01', ip: HUGE }));
  const vrfs = new Vrfs();
  short(() => vrfs.require(HUGE), 'ERR_NOT_FOUND');
  const dp = new Dataplane({ pool: { slots: 64 } });
  try {
    const [wire] = MemoryPort.pair();
    short(() => dp.setUnderlay({ address: HUGE, port: wire }));
    dp.setUnderlay({ address: '198.18.0.1', port: wire, mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' });
    short(() => dp.addBridge({ vni: 1, flood: [HUGE] }));
    short(() => dp.addVrf({ name: HUGE }));
    dp.addVrf({ name: 'red' });
    short(() => dp.addRoute('red', HUGE, []));
    short(() => dp.addRoute('red', '10.0.0.0/8', [{ remote: HUGE, encap: 'mplsoudp', label: 100 }]));
  } finally {
    dp.close();
  }
});

test.run();
