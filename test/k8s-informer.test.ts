// Informer edge cases without an API server: a list or a watch that never answers is abandoned
// after requestTimeoutMs and retried with backoff, so a hung API server cannot hang the informer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Watch } from '@kubernetes/client-node';
import { Informer, type KubeObject } from '../src/k8s/informer.js';
import { createLogger } from '../src/observe/log.js';
import { captureStream, waitUntil } from './helpers/app.js';

test('a hung list and a hung watch are abandoned and retried', { timeout: 10000 }, async () => {
  const lines: string[] = [];
  let lists = 0;
  let watches = 0;
  const events: string[] = [];
  const fakeWatch = {
    watch: (_path: string, _q: unknown, cb: (type: string, obj: unknown) => void) => {
      watches++;
      if (watches === 1) return new Promise<AbortController>(() => {}); // never answers
      const ctrl = new AbortController();
      setTimeout(() => cb('ADDED', { metadata: { name: 'b', namespace: 'x', resourceVersion: '3' } }), 5);
      return Promise.resolve(ctrl);
    },
  } as unknown as Watch;
  const inf = new Informer<KubeObject>({
    name: 'test',
    watch: fakeWatch,
    path: '/api/v1/pods',
    list: () => {
      lists++;
      if (lists === 1) return new Promise(() => {}); // never answers
      return Promise.resolve({ items: [{ metadata: { name: 'a', namespace: 'x', resourceVersion: '2' } }], metadata: { resourceVersion: '2' } });
    },
    resyncMs: 60_000,
    backoffMinMs: 10,
    backoffMaxMs: 50,
    requestTimeoutMs: 100,
    logger: createLogger('debug', captureStream(lines)),
    onEvent: (type, obj) => events.push(`${type} ${obj.metadata.name}`),
  });
  inf.start();
  try {
    await waitUntil(() => inf.hasSynced, 2000, 'synced after the hung list');
    await waitUntil(() => events.includes('add b'), 2000, 'watch event after the hung watch');
    assert.equal(lists, 2);
    assert.equal(watches, 2);
    assert.deepEqual(events, ['add a', 'add b']);
    assert.ok(lines.some((l) => l.includes('list timed out after 100 ms')));
    assert.ok(lines.some((l) => l.includes('watch not answered within 100 ms')));
  } finally {
    await inf.stop();
  }
});
