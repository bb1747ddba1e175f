/** `vtep run` with a control section: bad fields are one line naming the field, exit 2. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/io/native.js';
import { tempDir } from '../helpers/tools.js';

const VTEP = path.join(PACKAGE_ROOT, 'bin', 'vtep.js');

test('vtep run: a bad control section is one line naming the field, exit 2', () => {
  const { dir, done } = tempDir('run-control');
  try {
    const cfg = path.join(dir, 'v.json');
    writeFileSync(cfg, JSON.stringify({ underlay: { address: '198.18.0.1' }, control: { etcd: { endpoints: ['http://198.18.0.254:2379'], leaseTtl: 0 } } }));
    const r = spawnSync(process.execPath, [VTEP, 'run', '--config', cfg], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 2);
    assert.is(r.stderr.trim(), `vtep run: ${cfg}: control.etcd.leaseTtl: 0 is not an integer in 2..3600`);
  } finally {
    done();
  }
});

test.run();
