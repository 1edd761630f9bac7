// V8 heap growth step for serve (src/cli/heap.ts): default, override, opt-out and bad values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HEAP_GROWING_PERCENT, tuneHeap } from '../../../src/cli/heap.js';

test('tuneHeap: default step, env override, 0 = V8 default, NODE_OPTIONS wins, bad values rejected', () => {
  assert.equal(tuneHeap({}), DEFAULT_HEAP_GROWING_PERCENT);
  assert.equal(tuneHeap({ ZT_AUTHZ_HEAP_GROWING_PERCENT: '35' }), 35);
  assert.equal(tuneHeap({ ZT_AUTHZ_HEAP_GROWING_PERCENT: '0' }), 0);
  assert.equal(tuneHeap({ NODE_OPTIONS: '--heap-growing-percent=50' }), 0);
  for (const bad of ['x', '-1', '2.5', '5000'])
    assert.throws(() => tuneHeap({ ZT_AUTHZ_HEAP_GROWING_PERCENT: bad }), /ZT_AUTHZ_HEAP_GROWING_PERCENT/);
  // Leave the test process on the default step.
  tuneHeap({});
});
