/**
 * Every drop reason a stage declares has a case, by name, in that stage's
 * test file (test/dataplane/stages/<stage>.test.ts): a reason added to a
 * stage without a test fails here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Dataplane } from '../../../src/dataplane/dataplane.js';
import { REASON_NAMES } from '../../../src/packet/reasons.js';
import type { Runtime } from '../../../src/dataplane/runtime.js';
import type { Stage } from '../../../src/dataplane/stage.js';
import { PortInputStage } from '../../../src/dataplane/stages/port-input.js';
import { UnderlayInputStage } from '../../../src/dataplane/stages/underlay-input.js';
import { ArpTermStage } from '../../../src/dataplane/stages/arp-term.js';
import { L2FwdStage } from '../../../src/dataplane/stages/l2-fwd.js';
import { L2FloodStage } from '../../../src/dataplane/stages/l2-flood.js';
import { IpGatewayStage } from '../../../src/dataplane/stages/ip-gateway.js';
import { IpRouteStage } from '../../../src/dataplane/stages/ip-route.js';
import { IpRewriteStage } from '../../../src/dataplane/stages/ip-rewrite.js';
import { NeighHoldStage } from '../../../src/dataplane/stages/neigh-hold.js';
import { IcmpErrorStage } from '../../../src/dataplane/stages/icmp-error.js';
import { TunnelEncapStage } from '../../../src/dataplane/stages/tunnel-encap.js';
import { GsoSegmentStage } from '../../../src/dataplane/stages/gso-segment.js';
import { TxStage } from '../../../src/dataplane/stages/tx.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Only the declarations are read: a bare runtime is enough to construct a stage.
const rt = { capacity: 1 } as unknown as Runtime;
const stages: Stage[] = [
  new PortInputStage(rt), new UnderlayInputStage(rt), new L2FwdStage(rt), new ArpTermStage(rt),
  new L2FloodStage(rt), new IpGatewayStage(rt), new IpRouteStage(rt), new IpRewriteStage(rt), new NeighHoldStage(rt),
  new IcmpErrorStage(rt), new TunnelEncapStage(rt), new GsoSegmentStage(rt), new TxStage(rt),
];

test('the list above holds every stage of the graph', () => {
  const dp = new Dataplane({ pool: { slots: 8 } });
  assert.equal(stages.map((s) => s.name).sort(), Object.keys(dp.stats().nodes).sort());
  dp.close();
});

for (const s of stages) {
  test(`${s.name}: a test file that names each of its reasons`, () => {
    const file = path.join(here, `${s.name}.test.js`);
    assert.ok(existsSync(file), `${s.name}.test.ts exists`);
    const text = readFileSync(file, 'utf8');
    for (const r of s.reasons) {
      const name = REASON_NAMES[r]!;
      assert.ok(text.includes(`'${name}'`) || text.includes(`${name}:`), `${s.name}.test.ts asserts ${name}`);
    }
  });
}

test.run();
