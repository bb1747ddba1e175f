/**
 * Tenant ids: one VNI space (bridges and routed-VXLAN VRFs), one GRE key
 * space, one MPLS label space shared by MPLS-over-UDP and MPLS-over-GRE,
 * bridges and VRFs. Every ambiguous binding is refused with ERR_EXISTS naming
 * both owners, and a refusal leaves nothing half-made (issue 9, defect 1).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { fromConfig } from '../../src/dataplane/fromconfig.js';
import type { VswitchConfigInput } from '../../src/dataplane/config-types.js';
import { SimHost } from '../../src/dataplane/simhost.js';
import { MemoryPort } from '../../src/io/memory.js';
import { VtepError } from '../../src/errors.js';

function dataplane(): Dataplane {
  const dp = new Dataplane({ pool: { slots: 256 } });
  dp.setUnderlay({ address: '198.18.0.1', port: new MemoryPort({ name: 'u' }) });
  return dp;
}

/** fn throws a VtepError with `code` whose message matches every pattern. */
function refused(fn: () => unknown, code: string, ...res: RegExp[]): VtepError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.instance(err, VtepError, 'refused with a VtepError');
  const v = err as VtepError;
  assert.is(v.code, code, v.message);
  for (const re of res) assert.match(v.message, re);
  return v;
}

const CASES: { what: string; first: (dp: Dataplane) => unknown; second: (dp: Dataplane) => unknown; owners: [RegExp, RegExp] }[] = [
  {
    what: 'bridge mplsoudp 100 + bridge mplsogre 100',
    first: (dp) => dp.addBridge({ encap: 'mplsoudp', label: 100 }),
    second: (dp) => dp.addBridge({ encap: 'mplsogre', label: 100 }),
    owners: [/bridge mplsogre-100/, /bridge mplsoudp-100/],
  },
  {
    what: 'bridge mplsoudp 100 + VRF label 100',
    first: (dp) => dp.addBridge({ encap: 'mplsoudp', label: 100 }),
    second: (dp) => dp.addVrf({ name: 'red', label: 100 }),
    owners: [/VRF red/, /bridge mplsoudp-100/],
  },
  {
    what: 'bridge vxlan 42 + VRF vni 42',
    first: (dp) => dp.addBridge({ encap: 'vxlan', vni: 42 }),
    second: (dp) => dp.addVrf({ name: 'red', vni: 42 }),
    owners: [/VRF red/, /bridge vxlan-42/],
  },
  {
    what: 'VRF label 100 twice',
    first: (dp) => dp.addVrf({ name: 'red', label: 100 }),
    second: (dp) => dp.addVrf({ name: 'blue', label: 100 }),
    owners: [/VRF blue/, /VRF red/],
  },
  {
    what: 'VRF vni 7 twice',
    first: (dp) => dp.addVrf({ name: 'red', vni: 7 }),
    second: (dp) => dp.addVrf({ name: 'blue', vni: 7 }),
    owners: [/VRF blue/, /VRF red/],
  },
  {
    what: 'VRF label 100 + bridge mplsogre 100',
    first: (dp) => dp.addVrf({ name: 'red', label: 100 }),
    second: (dp) => dp.addBridge({ encap: 'mplsogre', label: 100 }),
    owners: [/bridge mplsogre-100/, /VRF red/],
  },
];

for (const c of CASES) {
  test(`refused: ${c.what} (ERR_EXISTS naming both owners); nothing half-made`, () => {
    const dp = dataplane();
    try {
      c.first(dp);
      refused(() => c.second(dp), 'ERR_EXISTS', ...c.owners);
      // The refused tenant does not exist; the first one is as it was (as on a dataplane that only made it).
      const only = dataplane();
      c.first(only);
      assert.equal(dp.listBridges(), only.listBridges());
      assert.equal(dp.listVrfs(), only.listVrfs());
      only.close();
      // Refused again the same way (the first binding still owns the id).
      refused(() => c.second(dp), 'ERR_EXISTS', ...c.owners);
    } finally {
      dp.close();
    }
  });
}

test('a VRF refused for its vni does not keep its label (nor its name)', () => {
  const dp = dataplane();
  try {
    dp.addBridge({ encap: 'vxlan', vni: 42 });
    refused(() => dp.addVrf({ name: 'red', label: 100, vni: 42 }), 'ERR_EXISTS', /VRF red/, /bridge vxlan-42/);
    assert.equal(dp.listVrfs(), []);
    // Label 100 and the name are free: a bridge may take the label, the VRF its name.
    dp.addBridge({ encap: 'mplsoudp', label: 100 });
    dp.addVrf({ name: 'red', vni: 43 });
    assert.equal(dp.listVrfs().map((v) => [v.name, v.label, v.vni]), [['red', undefined, 43]]);
  } finally {
    dp.close();
  }
});

test('an id freed by removeBridge / removeVrf can be bound again', () => {
  const dp = dataplane();
  try {
    const b = dp.addBridge({ encap: 'mplsoudp', label: 100 });
    dp.removeBridge(b);
    dp.addVrf({ name: 'red', label: 100 });
    dp.removeVrf('red');
    dp.addBridge({ encap: 'mplsogre', label: 100 });
    assert.equal(dp.listBridges().map((x) => x.name), ['mplsogre-100']);
  } finally {
    dp.close();
  }
});

test('after refused bindings the first tenant still carries traffic, and only it', async () => {
  const [wa, wb] = MemoryPort.pair({ name: 'ua' }, { name: 'ub' });
  const a = new Dataplane({ pool: { slots: 512 } });
  const b = new Dataplane({ pool: { slots: 512 } });
  a.setUnderlay({ address: '198.18.0.1', port: wa, mac: '02:fc:18:00:00:01', nextHopMac: '02:fc:18:00:00:02' });
  b.setUnderlay({ address: '198.18.0.2', port: wb, mac: '02:fc:18:00:00:02', nextHopMac: '02:fc:18:00:00:01' });
  const h1 = new SimHost({ name: 'vm1', mac: '02:00:0a:00:00:01', ip: '10.0.0.1/24' });
  const h2 = new SimHost({ name: 'vm2', mac: '02:00:0a:00:00:02', ip: '10.0.0.2/24' });
  // A second tenant with the same addresses, on B only, that must never see vm1's traffic.
  const x2 = new SimHost({ name: 'x2', mac: '02:00:0a:00:00:02', ip: '10.0.0.2/24' });
  const seen: number[] = [];
  x2.port.onTransmit(() => seen.push(1));
  try {
    const ba = a.addBridge({ encap: 'mplsoudp', label: 100, flood: ['198.18.0.2'] });
    const bb = b.addBridge({ encap: 'mplsoudp', label: 100, flood: ['198.18.0.1'] });
    a.addBridgePort(ba, h1.port);
    b.addBridgePort(bb, h2.port);
    // The ambiguous tenants the operator tries to add on B: all refused.
    let other: unknown;
    try {
      other = b.addBridge({ encap: 'mplsogre', label: 100, flood: ['198.18.0.1'] });
    } catch (e) {
      assert.is((e as VtepError).code, 'ERR_EXISTS');
    }
    assert.is(other, undefined, 'bridge mplsogre 100 refused');
    let vrf: unknown;
    try {
      vrf = b.addVrf({ name: 'red', label: 100 });
    } catch (e) {
      assert.is((e as VtepError).code, 'ERR_EXISTS');
    }
    assert.is(vrf, undefined, 'VRF label 100 refused');
    // Had either been made, x2 would sit behind it; it stays on a tenant of its own.
    const bx = b.addBridge({ encap: 'mplsogre', label: 101, flood: ['198.18.0.1'] });
    b.addBridgePort(bx, x2.port);
    a.start();
    b.start();
    for (let seq = 1; seq <= 5; seq++) {
      const r = await h1.pingAndWait('10.0.0.2', seq);
      assert.is(r.from, '10.0.0.2');
    }
    assert.is(h2.counters.echoRequests, 5);
    assert.is(seen.length, 0, 'nothing of bridge mplsoudp-100 reached the other tenant');
    assert.is(x2.counters.echoRequests, 0);
  } finally {
    a.close();
    b.close();
    for (const h of [h1, h2, x2]) h.close();
    wa.close();
    wb.close();
  }
});

// Through fromConfig: the same refusals as ERR_INVALID_CONFIG, naming the config path of both.
const CONFIGS: { what: string; bridges?: object[]; vrfs?: object[]; re: RegExp }[] = [
  { what: 'bridge mplsoudp 100 + bridge mplsogre 100', bridges: [{ encap: 'mplsoudp', label: 100 }, { encap: 'mplsogre', label: 100 }], re: /^bridges\[1\]\.label: 100 is already used by bridges\[0\]\.label$/ },
  { what: 'bridge mplsoudp 100 + VRF label 100', bridges: [{ encap: 'mplsoudp', label: 100 }], vrfs: [{ name: 'red', label: 100 }], re: /^vrfs\[0\]\.label: 100 is already used by bridges\[0\]\.label$/ },
  { what: 'bridge vxlan 42 + VRF vni 42', bridges: [{ vni: 42 }], vrfs: [{ name: 'red', vni: 42 }], re: /^vrfs\[0\]\.vni: 42 is already used by bridges\[0\]\.vni$/ },
  { what: 'VRF label 100 twice', vrfs: [{ name: 'red', label: 100 }, { name: 'blue', label: 100 }], re: /^vrfs\[1\]\.label: 100 is already used by vrfs\[0\]\.label$/ },
  { what: 'VRF vni 7 twice', vrfs: [{ name: 'red', vni: 7 }, { name: 'blue', vni: 7 }], re: /^vrfs\[1\]\.vni: 7 is already used by vrfs\[0\]\.vni$/ },
];

for (const c of CONFIGS) {
  test(`fromConfig refuses ${c.what} (ERR_INVALID_CONFIG naming the paths)`, () => {
    const config = { underlay: { address: '198.18.0.1' }, bridges: c.bridges ?? [], vrfs: c.vrfs ?? [] };
    refused(() => fromConfig(config as VswitchConfigInput), 'ERR_INVALID_CONFIG', c.re);
  });
}

test.run();
