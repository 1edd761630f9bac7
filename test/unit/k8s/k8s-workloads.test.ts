// Every API-server test here also runs against a real kube-apiserver in test/integration/k8s-workloads.test.ts (IPs and phases by status writes, terminating pods held by a finalizer); this file stays because it runs in a few seconds with no Go toolchain and no apiserver start, so the pod-informer logic is checked on every machine.
// Pods through the informer: the pod IP → workload map for destination selection (weaker than
// Envoy's data, used only for what Envoy leaves out), the zt-authz.io/mode, /audience and /policy
// annotations, pod IP reuse, and the opt-in IP-based source identity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { checkRequest, type CheckRequestOptions } from '../../helpers/grpc-client.js';
import { TestIdp } from '../../helpers/idp.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import type { Decision } from '../../../src/decision/decision.js';

const ZTP = 'zerotrustpolicies';

async function decide(t: TestApp, o: CheckRequestOptions = {}): Promise<Decision> {
  const req = checkRequest({ path: '/orders', destinationAddress: '10.4.5.6', ...o });
  return (await t.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision;
}

function pod(
  name: string,
  namespace: string,
  ip: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
  extra: { sa?: string; phase?: string; deleting?: boolean; hostNetwork?: boolean } = {},
) {
  return {
    metadata: { name, namespace, labels, annotations, ...(extra.deleting ? { deletionTimestamp: new Date().toISOString() } : {}) },
    spec: { serviceAccountName: extra.sa ?? name, ...(extra.hostNetwork ? { hostNetwork: true } : {}) },
    status: { phase: extra.phase ?? 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

async function eventually(t: TestApp, o: CheckRequestOptions, pred: (d: Decision) => boolean, what: string): Promise<Decision> {
  const end = Date.now() + 2000;
  for (;;) {
    const d = await decide(t, o);
    if (pred(d)) return d;
    if (Date.now() > end) throw new Error(`${what}: last decision ${d.verdict.reason} (${d.verdict.detail ?? ''})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(extra: Record<string, unknown> = {}, k8s: Record<string, unknown> = {}): Promise<{ fake: FakeApiServer; t: TestApp }> {
  const fake = await FakeApiServer.start();
  fake.apply(ZTP, {
    metadata: { name: 'orders', namespace: 'shop' },
    spec: { selector: { matchLabels: { app: 'orders' } }, rules: [{ to: [{ operation: { paths: ['/orders'] } }] }] },
  });
  fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }));
  const t = await startTestApp({ kubernetes: { enabled: true, apiServer: fake.url, backoffMinMs: 20, ...k8s }, ...extra });
  await waitUntil(() => t.app.ready, 5000, 'ready');
  return { fake, t };
}

test('destination from the pod IP when Envoy gives none; Envoy data wins when present', { timeout: 20000 }, async () => {
  const { fake, t } = await setup();
  try {
    const d = await decide(t);
    assert.equal(d.verdict.allow, true, `${d.verdict.reason} ${d.verdict.detail}`);
    assert.equal(d.verdict.policy, 'shop/orders');
    assert.equal(
      (await decide(t, { destinationAddress: '10.4.5.7' })).verdict.allow,
      false,
      'unknown IP: no namespace, namespaced policy does not apply',
    );
    assert.equal(
      (await decide(t, { contextExtensions: { namespace: 'billing' } })).verdict.allow,
      false,
      "Envoy's namespace contradicts the pod: the pod map is not used",
    );
    assert.equal(
      (await decide(t, { contextExtensions: { namespace: 'shop', app: 'cart' } })).verdict.allow,
      false,
      "Envoy's labels win over the pod's",
    );
    assert.equal(
      (await decide(t, { contextExtensions: { namespace: 'shop' } })).verdict.allow,
      true,
      'Envoy namespace only: pod labels fill in',
    );
    // IPv4-mapped IPv6 addresses resolve too.
    assert.equal((await decide(t, { destinationAddress: '::ffff:10.4.5.6' })).verdict.allow, true);
    // The pod goes away → its IP no longer resolves.
    fake.remove('pods', 'shop', 'orders-1');
    await eventually(t, {}, (x) => !x.verdict.allow, 'pod deleted');
  } finally {
    await t.stop();
    await fake.close();
  }
});

test('zt-authz.io/mode: dry-run allows and records the would-be deny; enforce denies', { timeout: 20000 }, async () => {
  const { fake, t } = await setup();
  try {
    assert.equal((await decide(t, { path: '/nope' })).verdict.allow, false);
    fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/mode': 'dry-run' }));
    const d = await eventually(t, { path: '/nope' }, (x) => x.verdict.allow, 'dry-run annotation');
    assert.equal(d.verdict.reason, 'observed');
    assert.equal(d.evidence.wouldDecide?.reason, 'no_policy_matched');
    fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/mode': 'enforce' }));
    await eventually(t, { path: '/nope' }, (x) => !x.verdict.allow, 'enforce annotation');
    fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/mode': 'sometimes' }));
    await waitUntil(
      () => t.records().some((r) => typeof r.msg === 'string' && r.msg.includes('zt-authz.io/mode: unknown value "sometimes"')),
      2000,
      'warning',
    );
    assert.equal((await decide(t, { path: '/nope' })).verdict.allow, false, 'an unknown mode value is ignored (enforce)');
  } finally {
    await t.stop();
    await fake.close();
  }
});

test('zt-authz.io/audience: tokens for this workload must carry its audience (401 audience_mismatch)', { timeout: 20000 }, async () => {
  const idp = await TestIdp.start({ audience: 'orders' });
  const { fake, t } = await setup({ issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, anyAudience: true }] });
  try {
    const forPayments = await idp.sign({ aud: 'payments' });
    const forOrders = await idp.sign({ aud: ['orders', 'x'] });
    assert.equal(
      (await decide(t, { token: forPayments })).verdict.allow,
      true,
      'no annotation: issuer-level audiences only (anyAudience here)',
    );
    fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/audience': 'orders, orders.shop' }));
    const d = await eventually(t, { token: forPayments }, (x) => !x.verdict.allow, 'audience annotation');
    assert.equal(d.verdict.reason, 'audience_mismatch');
    assert.equal(d.verdict.status, 401);
    assert.match(d.verdict.detail!, /orders or orders\.shop.*shop\/orders-1/);
    assert.match(d.response.wwwAuthenticate!, /invalid_token/);
    assert.equal((await decide(t, { token: forOrders })).verdict.allow, true);
    assert.equal((await decide(t)).verdict.allow, true, 'anonymous requests are left to the policies');
    assert.equal(
      (await decide(t, { token: forPayments, destinationAddress: '10.4.5.99', contextExtensions: { namespace: 'shop', app: 'orders' } }))
        .verdict.allow,
      true,
      'other workloads unaffected',
    );
  } finally {
    await t.stop();
    await fake.close();
    await idp.close();
  }
});

test('zt-authz.io/policy binds named policies to a pod (same namespace only)', { timeout: 20000 }, async () => {
  const { fake, t } = await setup({
    policies: [
      { name: 'file-extra', rules: [{ to: [{ operation: { paths: ['/file-bound'] } }] }], selector: { matchLabels: { nobody: 'x' } } },
    ],
  });
  try {
    fake.apply(ZTP, {
      metadata: { name: 'extra', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'nobody' } }, rules: [{ to: [{ operation: { paths: ['/bound'] } }] }] },
    });
    fake.apply(ZTP, {
      metadata: { name: 'no-debug', namespace: 'shop' },
      spec: { action: 'DENY', selector: { matchLabels: { app: 'nobody' } }, rules: [{ to: [{ operation: { paths: ['/orders'] } }] }] },
    });
    fake.apply(ZTP, { metadata: { name: 'foreign', namespace: 'billing' }, spec: { rules: [{}] } });
    fake.apply('pods', pod('cart-1', 'shop', '10.4.5.8', { app: 'cart' }, { 'zt-authz.io/policy': 'extra' }));
    await eventually(t, { path: '/bound', destinationAddress: '10.4.5.8' }, (x) => x.verdict.allow, 'bound ALLOW');
    const d = await decide(t, { path: '/bound', destinationAddress: '10.4.5.8' });
    assert.equal(d.verdict.policy, 'shop/extra', 'decisions name the bound policy');
    assert.equal((await decide(t, { path: '/bound' })).verdict.allow, false, 'a pod without the annotation is not affected');

    // A DENY policy bound alongside, a file policy, and a foreign namespace (rejected).
    fake.apply(
      'pods',
      pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/policy': 'no-debug, file-extra, billing/foreign' }),
    );
    await eventually(t, {}, (x) => x.verdict.reason === 'policy_denied', 'bound DENY');
    assert.equal((await decide(t, { path: '/file-bound' })).verdict.allow, true, 'file policies can be bound by name');
    assert.equal((await decide(t, { path: '/anything' })).verdict.allow, false, 'billing/foreign (allow-all) is not bound');
    assert.ok(
      t.records().some((r) => typeof r.msg === 'string' && r.msg.includes('cannot bind policies of another namespace: billing/foreign')),
    );
    // Removing the annotation unbinds.
    fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }));
    await eventually(t, {}, (x) => x.verdict.allow, 'unbound');
  } finally {
    await t.stop();
    await fake.close();
  }
});

test('pod IP reuse: ambiguous IPs resolve to nothing, terminating and finished pods lose their IP', { timeout: 20000 }, async () => {
  const { fake, t } = await setup();
  try {
    fake.apply(ZTP, {
      metadata: { name: 'billing', namespace: 'billing' },
      spec: { rules: [{ to: [{ operation: { paths: ['/orders'] } }] }] },
    });
    // A new pod in billing gets 10.4.5.6 before orders-1's delete has been seen: ambiguous → no workload.
    fake.apply('pods', pod('invoice-1', 'billing', '10.4.5.6', { app: 'invoice' }));
    await eventually(t, {}, (x) => !x.verdict.allow, 'ambiguous IP');
    // orders-1 is terminating: the live pod wins.
    fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, {}, { deleting: true }));
    let d = await eventually(t, {}, (x) => x.verdict.allow, 'live pod wins');
    assert.equal(d.verdict.policy, 'billing/billing');
    // orders-1 finally goes: invoice-1 stays.
    fake.remove('pods', 'shop', 'orders-1');
    await new Promise((r) => setTimeout(r, 50));
    d = await decide(t);
    assert.equal(d.verdict.policy, 'billing/billing');
    // A finished pod releases its IP; hostNetwork pods are never indexed.
    fake.apply('pods', pod('invoice-1', 'billing', '10.4.5.6', { app: 'invoice' }, {}, { phase: 'Succeeded' }));
    await eventually(t, {}, (x) => !x.verdict.allow, 'finished pod');
    fake.apply('pods', pod('node-agent', 'shop', '10.4.5.6', { app: 'orders' }, {}, { hostNetwork: true }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await decide(t)).verdict.allow, false);
    fake.apply('pods', pod('orders-2', 'shop', '10.4.5.6', { app: 'orders' }));
    await eventually(t, {}, (x) => x.verdict.allow && x.verdict.policy === 'shop/orders', 'reused by a new orders pod');
  } finally {
    await t.stop();
    await fake.close();
  }
});

test('source from the caller pod IP only with kubernetes.podIpSource (weaker, opt-in)', { timeout: 20000 }, async () => {
  for (const podIpSource of [false, true]) {
    const { fake, t } = await setup({}, { podIpSource });
    try {
      fake.apply(ZTP, {
        metadata: { name: 'from-frontend', namespace: 'shop' },
        spec: {
          selector: { matchLabels: { app: 'orders' } },
          rules: [{ from: [{ source: { serviceAccounts: ['web/frontend'] } }], to: [{ operation: { paths: ['/cart'] } }] }],
        },
      });
      fake.apply('pods', pod('frontend-1', 'web', '10.1.2.3', { app: 'frontend' }, {}, { sa: 'frontend' }));
      await new Promise((r) => setTimeout(r, 100));
      const d = await decide(t, { path: '/cart', sourceAddress: '10.1.2.3' });
      assert.equal(d.verdict.allow, podIpSource, `podIpSource=${podIpSource}: ${d.verdict.reason}`);
      // mTLS always wins over the pod IP.
      const m = await decide(t, { path: '/cart', sourceAddress: '10.1.2.3', sourcePrincipal: 'spiffe://cluster.local/ns/web/sa/other' });
      assert.equal(m.verdict.allow, false);
    } finally {
      await t.stop();
      await fake.close();
    }
  }
});

test(
  'zt-authz.io/mode: dry-run only in kubernetes.dryRunAnnotationNamespaces; elsewhere platform DENY policies stay enforced',
  { timeout: 30000 },
  async () => {
    // Platform guardrails: a root-namespace DENY (mesh) and a config-file DENY.
    const guardrails = {
      policies: [{ name: 'no-debug', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/debug'] } }] }] }],
      mode: { namespaces: { web: 'observe' } },
    };
    const dryRun = { 'zt-authz.io/mode': 'dry-run' };
    for (const allowed of [undefined, ['sandbox'], []] as const) {
      const fake = await FakeApiServer.start();
      fake.apply(ZTP, {
        metadata: { name: 'no-admin', namespace: 'mesh' },
        spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] },
      });
      fake.apply('pods', pod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, dryRun));
      fake.apply('pods', pod('orders-2', 'shop', '10.4.5.7', { app: 'orders' }, dryRun));
      fake.apply('pods', pod('box-1', 'sandbox', '10.4.5.9', { app: 'box' }, dryRun));
      fake.apply('pods', pod('old-1', 'shop', '10.4.6.1', { app: 'orders' }, dryRun, { phase: 'Succeeded' })); // no IP any more: not counted
      fake.apply('pods', pod('api-1', 'web', '10.4.5.10', { app: 'api' }, { 'zt-authz.io/mode': 'enforce' }));
      fake.apply('pods', pod('api-2', 'web', '10.4.5.11', { app: 'api' }));
      const k8s = { rootNamespace: 'mesh', ...(allowed ? { dryRunAnnotationNamespaces: allowed } : {}) };
      const t = await startTestApp({ kubernetes: { enabled: true, apiServer: fake.url, backoffMinMs: 20, ...k8s }, ...guardrails });
      const what = `dryRunAnnotationNamespaces=${JSON.stringify(allowed ?? 'default')}`;
      try {
        await waitUntil(() => t.app.ready, 5000, 'ready');
        const shop = { destinationAddress: '10.4.5.6' };
        const sandbox = { destinationAddress: '10.4.5.9' };
        const honouredIn = (ns: string) => allowed === undefined || (allowed as readonly string[]).includes(ns);
        for (const [dest, ns] of [
          [shop, 'shop'],
          [sandbox, 'sandbox'],
        ] as const) {
          for (const [path, policy] of [
            ['/admin', 'mesh/no-admin'],
            ['/debug', 'no-debug'],
          ]) {
            const d = await decide(t, { ...dest, path });
            if (honouredIn(ns)) {
              // What the setting guards against: dry-run exempts the pod from the platform's DENY too.
              assert.equal(d.verdict.reason, 'observed', `${what}: ${ns} ${path}`);
              assert.equal(d.evidence.wouldDecide?.policy, policy);
            } else {
              assert.equal(d.verdict.reason, 'policy_denied', `${what}: ${ns} ${path} (${d.verdict.detail ?? ''})`);
              assert.equal(d.verdict.policy, policy);
            }
          }
          assert.equal((await decide(t, { ...dest, path: '/nope' })).verdict.allow, honouredIn(ns), `${what}: ${ns} default deny`);
        }
        // enforce is honoured everywhere (it can only tighten); the namespace mode still applies to others.
        assert.equal(
          (await decide(t, { destinationAddress: '10.4.5.10', path: '/nope' })).verdict.reason,
          'no_policy_matched',
          `${what}: enforce annotation`,
        );
        assert.equal(
          (await decide(t, { destinationAddress: '10.4.5.11', path: '/nope' })).verdict.reason,
          'observed',
          `${what}: mode.namespaces`,
        );

        const honoured = ['shop', 'shop', 'sandbox'].filter(honouredIn).length;
        assert.equal(await readMetric(t.adminPort, 'zt_authz_dry_run_pods', { annotation: 'honoured' }), honoured, what);
        assert.equal(await readMetric(t.adminPort, 'zt_authz_dry_run_pods', { annotation: 'ignored' }), 3 - honoured, what);
        // One warning per namespace (rate-limited), not one per pod.
        const warnings = (ns: string) =>
          t.records().filter((r) => typeof r.msg === 'string' && r.msg.includes(`dry-run ignored, namespace "${ns}"`)).length;
        assert.equal(warnings('shop'), honouredIn('shop') ? 0 : 1, `${what}: shop warnings`);
        assert.equal(warnings('sandbox'), honouredIn('sandbox') ? 0 : 1, `${what}: sandbox warnings`);
        // Live: the gauge follows pods going away.
        if (allowed === undefined) {
          fake.remove('pods', 'shop', 'orders-2');
          await waitUntil(
            async () => (await readMetric(t.adminPort, 'zt_authz_dry_run_pods', { annotation: 'honoured' })) === 2,
            2000,
            'gauge follows deletes',
          );
        }
      } finally {
        await t.stop();
        await fake.close();
      }
    }
  },
);

test('zt-authz.io/policy: <rootNamespace>/<name> binds a root-namespace policy to pods of any namespace', { timeout: 20000 }, async () => {
  const { fake, t } = await setup({}, { rootNamespace: 'mesh' });
  try {
    // Its selector matches no pod: it applies only where it is bound.
    fake.apply(ZTP, {
      metadata: { name: 'debug-access', namespace: 'mesh' },
      spec: { selector: { matchLabels: { app: 'nobody' } }, rules: [{ to: [{ operation: { paths: ['/debug'] } }] }] },
    });
    fake.apply('pods', pod('cart-1', 'shop', '10.4.5.8', { app: 'cart' }, { 'zt-authz.io/policy': 'mesh/debug-access' }));
    fake.apply('pods', pod('invoice-1', 'billing', '10.4.7.1', { app: 'invoice' }, { 'zt-authz.io/policy': 'mesh/debug-access' }));
    fake.apply('pods', pod('ledger-1', 'billing', '10.4.7.2', { app: 'invoice' }, { 'zt-authz.io/policy': 'debug-access' }));
    const d = await eventually(t, { path: '/debug', destinationAddress: '10.4.5.8' }, (x) => x.verdict.allow, 'root policy bound in shop');
    assert.equal(d.verdict.policy, 'mesh/debug-access');
    assert.equal(
      (await decide(t, { path: '/debug', destinationAddress: '10.4.7.1' })).verdict.policy,
      'mesh/debug-access',
      'bound in billing too',
    );
    assert.equal((await decide(t, { path: '/debug' })).verdict.allow, false, 'an unannotated pod is not affected');
    assert.equal(
      (await decide(t, { path: '/debug', destinationAddress: '10.4.7.2' })).verdict.allow,
      false,
      'a bare name means the pod namespace, not the root namespace',
    );
  } finally {
    await t.stop();
    await fake.close();
  }
});

test('kubernetes.dryRunAnnotationNamespaces: default ["*"], namespace names or "*" only', async () => {
  const { checkConfig } = await import('../../../src/snapshot/checked-config.js');
  const { ConfigError } = await import('../../../src/config/problems.js');
  assert.deepEqual(checkConfig({}).config.kubernetes.dryRunAnnotationNamespaces, ['*']);
  assert.deepEqual(checkConfig({ kubernetes: { dryRunAnnotationNamespaces: [] } }).config.kubernetes.dryRunAnnotationNamespaces, []);
  assert.throws(
    () => checkConfig({ kubernetes: { dryRunAnnotationNamespaces: ['Shop'] } }).config,
    (e: unknown) => e instanceof ConfigError && /kubernetes\.dryRunAnnotationNamespaces/.test(e.message),
  );
  assert.throws(() => checkConfig({ kubernetes: { dryRunAnnotationNamespaces: ['shop-*'] } }).config, ConfigError);
});
