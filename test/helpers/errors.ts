/** Assertions on refusals: a VtepError with a stable code and a message naming the field. */
import * as assert from 'uvu/assert';
import { VtepError } from '../../src/errors.js';

/** fn throws a VtepError with `code` whose message matches `message`. */
export function throwsCode(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, VtepError);
    assert.is((err as VtepError).code, code);
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected ${code} matching ${message}`);
}
