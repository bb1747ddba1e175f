/**
 * FDB entries a control plane installs (`addFdb(..., { remote, learnable: true })`):
 * static until the MAC shows up on a local port, which takes it over at once
 * (Linux's extern_learn), so that traffic follows a VM that moved here. A
 * plain static entry does not move.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bridgeNet, hex, inject } from '../helpers/dp.js';

// Ethernet[IPv4[UDP "ping"]] 02:00:0a:00:00:02 (vm2's MAC, now behind local port vm2) -> 02:00:0a:00:00:01
const FROM_VM2 = hex(`
  02000a000001 02000a000002 0800
  4500 0020 0000 4000 4011 26cb 0a000002 0a000001
  07d0 03e8 000c 0000 70696e67`);

test('a learnable remote entry is taken over by local learning; a static one is not', () => {
  for (const learnable of [true, false]) {
    const { dp } = bridgeNet();
    dp.addFdb('br', '02:00:0a:00:00:02', { remote: '198.18.0.2', learnable });
    const moved: string[] = [];
    dp.on('moved', (e) => moved.push(`${e.mac} ${'port' in e ? e.port : e.remote}`));
    inject(dp, 'vm2', FROM_VM2);
    const e = dp.fdbEntries('br').find((x) => x.mac === '02:00:0a:00:00:02')!;
    if (learnable) {
      assert.equal([e.port, e.static], ['vm2', false], 'learned on vm2 now');
      assert.equal(moved, ['02:00:0a:00:00:02 vm2']);
    } else {
      assert.equal([e.remote, e.static], ['198.18.0.2', true], 'a static entry stays');
      assert.equal(moved, []);
    }
    dp.close();
  }
});

test.run();
