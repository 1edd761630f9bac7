// Rebuilds triggered by Kubernetes events are spaced by the last build's duration: under constant
// ZeroTrustPolicy churn with a large policy set, compiling takes a bounded share of the event loop
// (Checks keep flowing), and the last change still lands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { startTestApp, waitUntil } from '../../helpers/app.js';
import { checkRequest } from '../../helpers/grpc-client.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import { rebuildDelayMs } from '../../../src/snapshot/manager.js';

test('rebuildDelayMs: at least 20 ms apart, 3× the last build under churn, capped at 5 s', () => {
  assert.equal(rebuildDelayMs(0, 1), 20);
  assert.equal(rebuildDelayMs(25, 1), 0);
  assert.equal(rebuildDelayMs(0, 300), 900);
  assert.equal(rebuildDelayMs(400, 300), 500);
  assert.equal(rebuildDelayMs(0, 10_000), 5_000);
});

test(
  'ZeroTrustPolicy churn on 3,000 policies: building takes a bounded share of the time; the last change lands',
  { timeout: 90_000 },
  async () => {
    const fake = await FakeApiServer.start();
    const policies = Array.from({ length: 3000 }, (_, i) => ({
      name: `p${i}`,
      namespace: `ns-${i}`,
      selector: { matchLabels: { app: `app-${i}` } },
      rules: [
        {
          from: [{ source: { namespaces: [`ns-${i}`, 'shop'] } }],
          to: [{ operation: { methods: ['GET', 'POST'], paths: [`/api/v${i % 7}/{*}`, `/items/${i}`] } }],
        },
      ],
    }));
    const t = await startTestApp({
      policies,
      kubernetes: { enabled: true, apiServer: fake.url, watchPods: false, backoffMinMs: 20, backoffMaxMs: 200 },
    });
    try {
      await waitUntil(() => t.app.ready, 20_000, 'ready');
      const builds = () =>
        t.records().filter((r) => r.msg === 'snapshot reloaded' && typeof r.build_ms === 'number') as Array<{
          build_ms: number;
          time: number;
        }>;
      const before = builds().length;
      const t0 = Date.now();
      const CHURN_MS = 4000;
      let n = 0;
      while (Date.now() - t0 < CHURN_MS) {
        fake.apply('zerotrustpolicies', {
          metadata: { name: 'churn', namespace: 'shop' },
          spec: { rules: [{ to: [{ operation: { paths: [`/churn/${n++}`] } }] }] },
        });
        await new Promise((r) => setTimeout(r, 5));
      }
      const elapsed = Date.now() - t0;
      const during = builds().slice(before);
      const busy = during.reduce((s, b) => s + b.build_ms, 0);
      const last = n - 1;
      console.log(
        `# churn: ${n} changes in ${elapsed} ms → ${during.length} rebuilds, ${busy} ms building (${((100 * busy) / elapsed).toFixed(0)} %), mean build ${(busy / Math.max(1, during.length)).toFixed(0)} ms`,
      );
      assert.ok(during.length >= 1, 'churn triggers rebuilds');
      // 3× spacing bounds building to ~25 % of the time (the first build of the burst starts at
      // once); 20 ms spacing alone let it take ~90 % with builds this slow.
      assert.ok(busy <= 0.45 * elapsed, `building took ${busy} of ${elapsed} ms`);
      // The last change lands once the churn stops.
      const req = checkRequest({ path: `/churn/${last}`, contextExtensions: { namespace: 'shop' } });
      await waitUntil(
        async () => (await t.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision.verdict.allow,
        15_000,
        'last change applied',
      );
    } finally {
      await t.stop();
      await fake.close();
    }
  },
);
