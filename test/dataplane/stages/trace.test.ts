/**
 * dp.trace(n): the path of the next n packets through the stages, each step
 * with the stage's name, where the packet went and what the stage looked at.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject } from '../../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]]: vm1 (02:00:0a:00:00:01, 10.0.0.1) -> vm2 (02:00:0a:00:00:02, 10.0.0.2)
const UDP_1_TO_2 = hex(`
  02000a000002 02000a000001 0800
  4500 0020 0000 4000 4011 26cb 0a000001 0a000002
  03e8 07d0 000c 0000 70696e67`);

test('trace(1): one bridged packet, stage by stage, then nothing more is traced', async () => {
  const { dp } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm2' });
  const traced = dp.trace(1);
  inject(dp, 'vm1', UDP_1_TO_2, UDP_1_TO_2);
  const t = await traced;
  assert.is(t.length, 1, 'only the first packet of the batch');
  assert.is(t[0]!.seq, 1);
  assert.is(t[0]!.port, 'vm1');
  assert.is(t[0]!.len, 46);
  assert.equal(t[0]!.steps, [
    { stage: 'port-input', next: 'l2-fwd', info: '46 bytes on vm1' },
    { stage: 'l2-fwd', next: 'tx', info: 'bridge br src 02:00:0a:00:00:01 at port vm1, dst 02:00:0a:00:00:02 -> port vm2' },
  ]);
  dp.close();
});

test('trace(1): a dropped packet ends with the drop and its reason by name', async () => {
  const { dp } = bridgeNet();
  dp.addFdb('br', '02:00:0a:00:00:02', { port: 'vm1' });
  const traced = dp.trace(1);
  inject(dp, 'vm1', UDP_1_TO_2);
  const [t] = await traced;
  assert.equal(t!.steps.map((s) => [s.stage, s.next, s.reason]), [
    ['port-input', 'l2-fwd', undefined],
    ['l2-fwd', 'drop', 'loop'],
  ]);
  assert.is(t!.steps[1]!.info, 'bridge br src 02:00:0a:00:00:01 at port vm1, dst 02:00:0a:00:00:02 -> port vm1');
  dp.close();
});

test.run();
