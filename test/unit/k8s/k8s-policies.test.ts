// Stays on the fake API server: dropped watches, injected 500s, an unreachable server, bookmarks on demand and exact list/watch counts (real-server policies: test/integration/k8s-policies.test.ts).
// ZeroTrustPolicy resources through @kubernetes/client-node against the in-process fake API
// server: policy added/changed/deleted → decisions change within 1 s (latency measured), a bad
// policy → status Invalid and its last valid version kept, fail-closed DENY, dropped watch
// streams, 410 Gone, bookmarks, an unreachable API server, and readiness until the first sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { startTestApp, waitUntil, readMetric, adminGet, type TestApp } from '../../helpers/app.js';
import { checkRequest, type CheckRequestOptions } from '../../helpers/grpc-client.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import type { Decision } from '../../../src/decision/decision.js';
import type { Informer } from '../../../src/k8s/informer.js';

const ZTP = 'zerotrustpolicies';

async function decide(t: TestApp, o: CheckRequestOptions = {}): Promise<Decision> {
  const req = checkRequest({ path: '/orders', contextExtensions: { namespace: 'shop', app: 'orders' }, ...o });
  return (await t.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision;
}

function policy(name: string, spec: Record<string, unknown>, namespace = 'shop') {
  return { metadata: { name, namespace }, spec };
}

const allowPaths = (...paths: string[]) => ({ selector: { matchLabels: { app: 'orders' } }, rules: [{ to: [{ operation: { paths } }] }] });

async function start(fake: FakeApiServer, extra: Record<string, unknown> = {}, k8s: Record<string, unknown> = {}): Promise<TestApp> {
  return startTestApp({
    kubernetes: { enabled: true, apiServer: fake.url, watchPods: false, backoffMinMs: 20, backoffMaxMs: 200, ...k8s },
    ...extra,
  });
}

/** Poll decisions until `pred` holds; returns the milliseconds it took. */
async function until(
  t: TestApp,
  o: CheckRequestOptions,
  pred: (d: Decision) => boolean,
  timeoutMs = 1000,
  what = 'decision',
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (pred(await decide(t, o))) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function informers(t: TestApp): Array<Informer<never>> {
  return t.app.kubernetes!.informers as unknown as Array<Informer<never>>;
}

test('ZeroTrustPolicy added, changed, deleted → decisions change within 1 s (latency measured)', { timeout: 20000 }, async () => {
  const fake = await FakeApiServer.start();
  const t = await start(fake);
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    assert.equal((await decide(t)).verdict.reason, 'no_policy_matched');
    const latencies: number[] = [];
    // 7 × (add, change, delete) = 21 changes, for the p50/max in docs/configuration.md "Hot reload".
    for (let i = 0; i < 7; i++) {
      fake.apply(ZTP, policy('orders', allowPaths('/orders')));
      latencies.push(await until(t, {}, (d) => d.verdict.allow, 1000, 'added'));
      const d = await decide(t);
      assert.equal(d.verdict.policy, 'shop/orders', 'CRD policies are named <namespace>/<name>');

      fake.apply(ZTP, policy('orders', allowPaths('/other')));
      latencies.push(await until(t, {}, (d) => !d.verdict.allow, 1000, 'changed'));
      assert.equal((await decide(t, { path: '/other' })).verdict.allow, true);

      fake.remove(ZTP, 'shop', 'orders');
      latencies.push(await until(t, { path: '/other' }, (d) => !d.verdict.allow, 1000, 'deleted'));
    }
    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor((latencies.length - 1) / 2)]!;
    const max = latencies.at(-1)!;
    console.log(
      `# reload latency (ZeroTrustPolicy change → decisions change): p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${latencies.length} changes`,
    );
    assert.ok(max < 1000);
    // Namespaced: a policy in another namespace does not apply to shop.
    fake.apply(ZTP, policy('orders', allowPaths('/orders'), 'billing'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await decide(t)).verdict.allow, false);
    // Valid policies get status Accepted=True through the status subresource.
    await waitUntil(
      () =>
        (fake.get(ZTP, 'billing', 'orders')?.status as { conditions?: Array<{ status: string }> } | undefined)?.conditions?.[0]?.status ===
        'True',
      2000,
      'Accepted status',
    );
    assert.ok(fake.requests.some((r) => r.method === 'PUT' && r.path.endsWith('/billing/zerotrustpolicies/orders/status')));
    assert.ok((await readMetric(t.adminPort, 'zt_authz_policy_reload_total', { result: 'success' })) >= 15);
  } finally {
    await t.stop();
    await fake.close();
  }
});

test(
  'file and CRD policies merge; a bad ZeroTrustPolicy gets status Invalid and its last valid version keeps applying',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    fake.apply(ZTP, policy('orders', allowPaths('/orders')));
    fake.apply(ZTP, policy('payments', { selector: { matchLabels: { app: 'payments' } }, rules: [{}] }));
    const t = await start(fake, { policies: [{ name: 'health', rules: [{ to: [{ operation: { paths: ['/healthz'] } }] }] }] });
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      assert.equal((await decide(t)).verdict.policy, 'shop/orders');
      assert.equal((await decide(t, { path: '/healthz' })).verdict.policy, 'health', 'file policies still apply');
      const errorsBefore = await readMetric(t.adminPort, 'zt_authz_policy_reload_total', { result: 'error' });

      // Generation 2 is invalid: a bad path template and an unknown field.
      fake.apply(
        ZTP,
        policy('orders', { selector: { matchLabels: { app: 'orders' } }, rules: [{ to: [{ operation: { paths: ['/a/{**}/{*}'] } }] }] }),
      );
      await waitUntil(
        () => {
          const c = (fake.get(ZTP, 'shop', 'orders')?.status as { conditions?: Array<Record<string, unknown>> } | undefined)
            ?.conditions?.[0];
          return c?.status === 'False' && c.reason === 'Invalid' && c.observedGeneration === 2;
        },
        2000,
        'status Invalid',
      );
      const cond = (fake.get(ZTP, 'shop', 'orders')!.status as { conditions: Array<Record<string, string>> }).conditions[0]!;
      assert.match(cond.message!, /spec\.rules\[0\]\.to\[0\]\.operation\.paths\[0\]: .*\{\*\*\}.*last/);
      assert.match(cond.message!, /still enforcing generation 1/);
      assert.equal(cond.type, 'Accepted');
      assert.ok(cond.lastTransitionTime);
      assert.equal((await decide(t)).verdict.allow, true, 'generation 1 keeps applying');
      assert.equal(
        (await decide(t, { contextExtensions: { namespace: 'shop', app: 'payments' } })).verdict.allow,
        true,
        'other policies unaffected',
      );
      assert.equal(await readMetric(t.adminPort, 'zt_authz_policy_reload_total', { result: 'error' }), errorsBefore + 1);
      assert.ok(t.records().some((r) => typeof r.msg === 'string' && r.msg.includes('ZeroTrustPolicy shop/orders rejected')));

      // Unknown fields and spec.namespace are rejected with a field path.
      fake.apply(ZTP, policy('typo', { action: 'ALLOW', rulez: [] }));
      fake.apply(ZTP, policy('sneaky', { namespace: 'billing', rules: [{}] }));
      await waitUntil(() => !!fake.get(ZTP, 'shop', 'typo')?.status && !!fake.get(ZTP, 'shop', 'sneaky')?.status, 2000, 'statuses');
      const msg = (n: string) => (fake.get(ZTP, 'shop', n)!.status as { conditions: Array<{ message: string }> }).conditions[0]!.message;
      assert.match(msg('typo'), /^spec\.rulez: unknown field/);
      assert.match(msg('typo'), /not applied/);
      assert.match(msg('sneaky'), /^spec\.namespace: unknown field \(the policy namespace is metadata\.namespace\)/);

      // Fixed → Accepted again, new version applies.
      fake.apply(ZTP, policy('orders', allowPaths('/orders/{*}')));
      await until(t, {}, (d) => !d.verdict.allow, 1000, 'fixed version applies');
      assert.equal((await decide(t, { path: '/orders/7' })).verdict.allow, true);
      await waitUntil(
        () => (fake.get(ZTP, 'shop', 'orders')?.status as { conditions?: Array<{ status: string }> }).conditions?.[0]?.status === 'True',
        2000,
        'Accepted again',
      );

      // Status writes converge: no write loop (each write is followed by a MODIFIED event).
      const writes = fake.statusWrites.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(fake.statusWrites.length, writes, 'no further status writes once converged');
    } finally {
      await t.stop();
      await fake.close();
    }
  },
);

test('an invalid DENY policy with no valid earlier version fails closed in its scope', { timeout: 20000 }, async () => {
  const fake = await FakeApiServer.start();
  fake.apply(ZTP, policy('allow-all', { rules: [{}] }));
  fake.apply(
    ZTP,
    policy('deny-admin', {
      action: 'DENY',
      selector: { matchLabels: { app: 'orders' } },
      rules: [{ to: [{ operation: { paths: ['/admin/{**}/{*}'] } }] }],
    }),
  );
  const t = await start(fake);
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    const d = await decide(t);
    assert.equal(d.verdict.allow, false);
    assert.equal(d.verdict.reason, 'policy_denied');
    assert.equal(d.verdict.policy, 'shop/deny-admin');
    assert.equal(
      (await decide(t, { contextExtensions: { namespace: 'shop', app: 'cart' } })).verdict.allow,
      true,
      'outside its selector: unaffected',
    );
    await waitUntil(
      () => /denies every request in its scope/.test(JSON.stringify(fake.get(ZTP, 'shop', 'deny-admin')?.status ?? '')),
      2000,
      'status explains fail-closed',
    );
    // dryRun DENY never fails closed.
    fake.apply(
      ZTP,
      policy('deny-admin', {
        action: 'DENY',
        dryRun: true,
        selector: { matchLabels: { app: 'orders' } },
        rules: [{ to: [{ operation: { paths: ['/admin/{**}/{*}'] } }] }],
      }),
    );
    await until(t, {}, (x) => x.verdict.allow, 1000, 'dry-run invalid DENY ignored');
  } finally {
    await t.stop();
    await fake.close();
  }
});

test(
  'an invalid DENY whose selector is what is invalid fails closed namespace-wide, and never blocks other policy changes',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    fake.apply(ZTP, policy('allow-all', { rules: [{}] }));
    fake.apply(ZTP, policy('allow-all', { rules: [{}] }, 'billing'));
    // Present at start: the first build after the sync must succeed.
    fake.apply(ZTP, policy('deny-bad', { action: 'DENY', selector: { matchLabels: { app: '*' } }, rules: [{}] }));
    const t = await start(fake);
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const errorsBefore = await readMetric(t.adminPort, 'zt_authz_policy_reload_total', { result: 'error' });
      for (const app of ['orders', 'cart']) {
        const d = await decide(t, { contextExtensions: { namespace: 'shop', app } });
        assert.equal(d.verdict.reason, 'policy_denied', `shop/${app}: the stand-in covers the namespace (its selector is unusable)`);
        assert.equal(d.verdict.policy, 'shop/deny-bad');
      }
      const billing = { contextExtensions: { namespace: 'billing', app: 'orders' } };
      assert.equal((await decide(t, billing)).verdict.allow, true);
      // Another namespace's change still lands (rebuilds do not fail on the stand-in).
      fake.apply(ZTP, policy('deny-all', { action: 'DENY', rules: [{}] }, 'billing'));
      await until(
        t,
        billing,
        (d) => d.verdict.reason === 'policy_denied' && d.verdict.policy === 'billing/deny-all',
        2000,
        'billing DENY applied',
      );
      assert.equal(await readMetric(t.adminPort, 'zt_authz_policy_reload_total', { result: 'error' }), errorsBefore, 'no rebuild failed');
    } finally {
      await t.stop();
      await fake.close();
    }
  },
);

test(
  'dropped watch streams reconnect and catch up; 410 Gone relists; bookmarks advance the resourceVersion',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const t = await start(fake, {}, { watchPods: true });
    try {
      // Three watches: ZeroTrustPolicies, pods and TokenRevocations.
      await waitUntil(() => t.app.ready && fake.activeWatches === 3, 5000, 'ready and watching');
      const [pol] = informers(t);

      // 1. Stream cut: events written meanwhile are replayed from the last resourceVersion.
      fake.dropWatches();
      fake.apply(ZTP, policy('orders', allowPaths('/orders')));
      await until(t, {}, (d) => d.verdict.allow, 2000, 'caught up after reconnect');
      const listsAfterDrop = fake.listRequests(ZTP);
      assert.equal(listsAfterDrop, 1, 'a dropped stream resumes without relisting');

      // 2. 410 Gone (ERROR event) → relist; a delete that happened while away is noticed.
      fake.dropWatches();
      fake.remove(ZTP, 'shop', 'orders');
      fake.apply(ZTP, policy('other', allowPaths('/other')));
      fake.compact();
      await until(t, {}, (d) => !d.verdict.allow, 2000, 'delete seen through the relist');
      assert.equal((await decide(t, { path: '/other' })).verdict.allow, true);
      assert.ok(pol!.stats.gone >= 1);
      assert.equal(fake.listRequests(ZTP), 2);

      // 3. 410 as an HTTP status on the watch request → relist as well.
      fake.goneAsHttpStatus = true;
      fake.dropWatches();
      fake.apply(ZTP, policy('orders', allowPaths('/orders')));
      fake.compact();
      await until(t, {}, (d) => d.verdict.allow, 2000, 'HTTP 410 relist');
      assert.equal(fake.listRequests(ZTP), 3);
      fake.goneAsHttpStatus = false;

      // 4. Bookmarks: pod churn advances the cluster resourceVersion; the policy watch sees only a
      // bookmark, yet after compaction + reconnect it resumes without 410.
      await waitUntil(() => fake.activeWatches === 3, 2000, 'watches back');
      const goneBefore = pol!.stats.gone;
      for (let i = 0; i < 3; i++)
        fake.apply('pods', {
          metadata: { name: `p${i}`, namespace: 'shop' },
          spec: {},
          status: { podIP: `10.9.0.${i}`, phase: 'Running' },
        });
      fake.bookmark();
      await waitUntil(() => pol!.stats.bookmarks >= 1, 2000, 'bookmark received');
      fake.compact();
      fake.dropWatches();
      await waitUntil(() => fake.activeWatches === 3, 2000, 'reconnected');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(pol!.stats.gone, goneBefore, 'the bookmarked resourceVersion is still valid');
      assert.equal(fake.listRequests(ZTP), 3);
    } finally {
      await t.stop();
      await fake.close();
    }
  },
);

test(
  'API server unreachable: backoff, last-known policies keep applying, recovery catches up; resync relists',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    fake.apply(ZTP, policy('orders', allowPaths('/orders')));
    const t = await start(fake, {}, { resyncSeconds: 1 });
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      fake.down();
      await new Promise((r) => setTimeout(r, 400));
      const [pol] = informers(t);
      assert.ok(pol!.stats.failures >= 2, `retries while down (${pol!.stats.failures})`);
      const watchesWhileDown = fake.watchRequests(ZTP);
      assert.ok(watchesWhileDown < 40, `backoff bounds the retries (${watchesWhileDown})`);
      assert.equal((await decide(t)).verdict.allow, true, 'last-known policies still apply');
      assert.equal(t.app.ready, true, 'readiness keeps the last-known state');
      fake.up();
      fake.apply(ZTP, policy('orders', allowPaths('/v2')));
      await until(t, { path: '/v2' }, (d) => d.verdict.allow, 2000, 'caught up after recovery');
      // resyncSeconds: 1 → periodic relists.
      const lists = fake.listRequests(ZTP);
      await waitUntil(() => fake.listRequests(ZTP) > lists, 3000, 'periodic resync relist');
      assert.ok(t.records().some((r) => r.msg === 'Kubernetes watch failed; keeping last-known state and retrying'));
    } finally {
      await t.stop();
      await fake.close();
    }
  },
);

test('not ready and deny-all until the first list succeeds (a DENY policy must not be missing)', { timeout: 20000 }, async () => {
  const fake = await FakeApiServer.start();
  fake.apply(ZTP, policy('deny-orders', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/orders'] } }] }] }));
  fake.failNext(3, 500, (r) => !r.watch);
  const t = await start(fake, { policies: [{ name: 'allow-all', rules: [{}] }] });
  try {
    assert.equal(t.app.ready, false);
    const early = await decide(t);
    assert.equal(early.verdict.allow, false, 'deny-all before sync');
    assert.equal(early.verdict.reason, 'no_policy_matched');
    assert.equal((await adminGet(t.adminPort, '/readyz')).status, 503);
    await waitUntil(() => t.app.ready, 5000, 'ready after retries');
    assert.equal((await adminGet(t.adminPort, '/readyz')).status, 200);
    assert.equal((await decide(t)).verdict.reason, 'policy_denied');
    assert.equal((await decide(t, { path: '/x' })).verdict.allow, true);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_ready'), 1);
  } finally {
    await t.stop();
    await fake.close();
  }
});

test('status writer: a hung status write times out and is retried; later writes are not stalled', async () => {
  const { StatusWriter } = await import('../../../src/k8s/policies.js');
  const { pino } = await import('pino');
  const calls: string[] = [];
  const api = {
    replaceNamespacedCustomObjectStatus(req: { name: string }) {
      calls.push(req.name);
      // The first write never answers (a hung API server connection); the rest succeed.
      return calls.length === 1 ? new Promise(() => undefined) : Promise.resolve({});
    },
  };
  const writer = new StatusWriter(api as never, pino({ level: 'silent' }), 20, 100);
  const obj = (name: string) => ({
    apiVersion: 'zt-authz.io/v1alpha1',
    kind: 'ZeroTrustPolicy',
    metadata: { namespace: 'shop', name, generation: 1 },
    spec: {},
  });
  const cond = { type: 'Accepted', status: 'True', reason: 'Valid', message: 'ok', observedGeneration: 1 };
  writer.update(obj('a'), cond as never);
  writer.update(obj('b'), cond as never);
  const deadline = Date.now() + 5000;
  while (writer.stats.writes < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  writer.stop();
  assert.equal(writer.stats.writes, 2, `both written after the hung one timed out (calls: ${calls.join(',')})`);
  assert.equal(writer.stats.errors, 1, 'the timeout counted as one failed write');
  assert.deepEqual(calls.slice(0, 2), ['a', 'b']);
  assert.ok(calls.includes('a', 1), 'the timed-out write was retried');
});

test(
  'kubernetes.namespaces scopes every API request; rootNamespace policies apply to the watched namespaces',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    fake.apply(ZTP, policy('orders', allowPaths('/orders')));
    fake.apply(ZTP, policy('mesh-wide', allowPaths('/mesh-wide'), 'mesh'));
    fake.apply(ZTP, policy('open', { rules: [{}] }, 'billing'));
    fake.apply('pods', {
      metadata: { name: 'invoice-1', namespace: 'billing', annotations: { 'zt-authz.io/mode': 'dry-run' } },
      spec: {},
      status: { podIP: '10.4.7.1', phase: 'Running' },
    });
    const t = await start(fake, {}, { namespaces: ['shop', 'mesh'], rootNamespace: 'mesh', watchPods: true });
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const d = await decide(t, { path: '/mesh-wide' });
      assert.equal(d.verdict.allow, true, `${d.verdict.reason} ${d.verdict.detail ?? ''}`);
      assert.equal(d.verdict.policy, 'mesh/mesh-wide', 'a root-namespace policy applies to shop');
      assert.equal(
        (await decide(t, { path: '/mesh-wide', contextExtensions: { namespace: 'web', app: 'orders' } })).verdict.allow,
        true,
        '…and to any namespace',
      );
      const billing = { contextExtensions: { namespace: 'billing', app: 'invoice' } };
      assert.equal((await decide(t, billing)).verdict.allow, false, 'billing/open (allow-all) was never seen');

      // Changes while running: the mesh change arrives, the billing one never does.
      fake.apply(ZTP, policy('open-too', { rules: [{}] }, 'billing'));
      fake.apply(ZTP, policy('mesh-wide', allowPaths('/mesh-wide', '/mesh-v2'), 'mesh'));
      await until(t, { path: '/mesh-v2' }, (x) => x.verdict.allow, 2000, 'mesh change');
      assert.equal((await decide(t, billing)).verdict.allow, false);
      assert.equal(
        (await decide(t, { ...billing, destinationAddress: '10.4.7.1', contextExtensions: {} })).verdict.allow,
        false,
        'billing pods are not in the workload map (this one would be in dry-run)',
      );
      assert.equal(t.app.kubernetes!.policies.size, 2, 'only shop/orders and mesh/mesh-wide');
      await waitUntil(() => fake.get(ZTP, 'mesh', 'mesh-wide')?.status !== undefined, 2000, 'mesh status written');
      assert.equal(fake.get(ZTP, 'billing', 'open')?.status, undefined, 'no status written outside the watched namespaces');

      // Every request (lists, watches, status writes) stayed inside the two namespaces.
      assert.ok(fake.requests.length >= 4);
      const outside = fake.requests.filter((r) => !/\/namespaces\/(shop|mesh)\//.test(r.path));
      assert.deepEqual(outside, [], 'no request outside /namespaces/shop|mesh/');
      for (const ns of ['shop', 'mesh']) {
        for (const kind of [ZTP, 'pods'])
          assert.ok(
            fake.requests.some((r) => r.watch && r.path.includes(`/namespaces/${ns}/${kind}`)),
            `watches ${ns}/${kind}`,
          );
      }
    } finally {
      await t.stop();
      await fake.close();
    }
  },
);
