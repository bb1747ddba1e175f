/**
 * ARP suppression of 802.1Q-tagged requests: the EtherType is read after the
 * VLAN tags, so a tagged request for a known address is answered, tagged, on
 * the port it came from and never flooded to the remote VTEPs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { MemoryPort } from '../../src/io/memory.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { macBytes, ipBytes } from '../helpers/frames.js';

const VM1 = { mac: 0x02000a000001, ip: parseIPv4('10.0.0.1') };
const VM2 = { mac: 0x02000a000002, ip: parseIPv4('10.0.0.2') };

/** Ethernet[802.1Q vid 7[ARP who-has 10.0.0.2 tell 10.0.0.1]] */
function taggedRequest(): Uint8Array {
  return Uint8Array.from([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...macBytes(VM1.mac), 0x81, 0x00, 0x00, 0x07, 0x08, 0x06,
    0, 1, 8, 0, 6, 4, 0, 1, ...macBytes(VM1.mac), ...ipBytes(VM1.ip), 0, 0, 0, 0, 0, 0, ...ipBytes(VM2.ip),
  ]);
}

test('a tagged ARP request for a known address is answered tagged on its port and not flooded', () => {
  const [wa] = MemoryPort.pair({ name: 'ua' }, { name: 'ub' });
  const underlay: Uint8Array[] = [];
  wa.onTransmit((u8, s, l) => underlay.push(u8.slice(s, s + l)));
  const dp = new Dataplane({ pool: { slots: 256 } });
  dp.setUnderlay({ address: '198.18.0.1', port: wa, mac: '02:fc:18:00:00:01' });
  const bd = dp.addBridge({ vni: 42, flood: ['198.18.0.2'] });
  const [side] = MemoryPort.pair({ name: 'vm1' }, { name: 'vm1-nic' });
  const got: Uint8Array[] = [];
  side.onTransmit((u8, s, l) => got.push(u8.slice(s, s + l)));
  dp.addBridgePort(bd, side);
  dp.addArp(bd, '10.0.0.2', VM2.mac);
  try {
    side.inject(taggedRequest());
    dp.poll();
    assert.is(got.length, 1, 'one answer to vm1');
    const r = got[0]!;
    assert.equal([...r.subarray(0, 6)], macBytes(VM1.mac), 'to the requester');
    assert.equal([...r.subarray(6, 12)], macBytes(VM2.mac), 'from the owner of 10.0.0.2');
    assert.equal([...r.subarray(12, 18)], [0x81, 0x00, 0x00, 0x07, 0x08, 0x06], 'still tagged, VLAN 7, ARP');
    assert.is(r[18 + 7], 2, 'an ARP reply');
    assert.equal([...r.subarray(18 + 8, 18 + 14)], macBytes(VM2.mac), 'sender MAC: the owner');
    assert.equal([...r.subarray(18 + 14, 18 + 18)], ipBytes(VM2.ip), 'sender IP: the target asked for');
    assert.is(underlay.length, 0, 'nothing flooded to the remote');
    const s = dp.stats();
    assert.is(s.arp.suppressed, 1);
    assert.is(s.nodes['arp-term']!.next['tx'], 1);
    assert.equal(dp.arpEntries('vxlan-42').map((e) => [e.ip, e.mac, e.port]).sort(), [
      ['10.0.0.1', '02:00:0a:00:00:01', 'vm1'],
      ['10.0.0.2', '02:00:0a:00:00:02', undefined],
    ]);
  } finally {
    dp.close();
  }
});

test.run();
