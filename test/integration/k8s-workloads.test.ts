// The pod informer against a real kube-apiserver (the ports of test/unit/k8s/k8s-workloads.test.ts), with
// zt-authz authenticated by a TokenRequest token of the chart's ServiceAccount and authorized only
// by the cluster-wide RBAC the chart renders: destination from the pod IP (Envoy's data wins), the
// zt-authz.io/mode, /audience and /policy annotations (root-namespace policies too), pod IP reuse,
// kubernetes.dryRunAnnotationNamespaces and the opt-in pod-IP source.
// There is no kubelet, so a pod's IP and phase are set with a status write, and a terminating pod
// is one held by a finalizer after its DELETE (deletionTimestamp set, object kept).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, eventually as poll, startKube, tokenRequest, yamlObjects, type Obj } from './helpers/kube.js';
import { render } from '../helpers/helm.js';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../helpers/app.js';
import { TestIdp } from '../helpers/idp.js';
import { checkRequest, type CheckRequestOptions } from '../helpers/grpc-client.js';
import { normalizeCheckRequest } from '../../src/transport/grpc/normalize.js';
import type { Decision } from '../../src/decision/decision.js';

const started = await startKube();
const skip = 'skip' in started ? started.skip : false;
const kube = 'skip' in started ? undefined! : started;

const RELEASE_NS = 'zt-authz';
const NAMESPACES = ['shop', 'billing', 'web', 'mesh', 'sandbox'];
const HOLD = 'zt-authz.test/hold';
let tokenFile = '';

const ztpPath = (ns: string, name = '') => `/apis/zt-authz.io/v1alpha1/namespaces/${ns}/zerotrustpolicies${name ? `/${name}` : ''}`;
const podPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/pods${name ? `/${name}` : ''}`;

async function ztp(name: string, namespace: string, spec: Obj): Promise<void> {
  await kube.apply({ apiVersion: 'zt-authz.io/v1alpha1', kind: 'ZeroTrustPolicy', metadata: { name, namespace }, spec });
}

async function ensure(path: string, obj: Obj): Promise<void> {
  const r = await kube.api('POST', path, obj);
  if (r.status !== 201 && r.status !== 409) throw new Error(`POST ${path}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
}

const merge = { contentType: 'application/merge-patch+json' };

/**
 * What the fake's apply('pods', …) does, through the real API: the pod (and its ServiceAccount,
 * which the ServiceAccount admission plugin requires) is created or its labels/annotations
 * replaced, then its IP and phase are written to the status subresource; `deleting` adds a
 * finalizer and DELETEs it, so it stays terminating.
 */
async function putPod(
  name: string,
  namespace: string,
  ip: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
  extra: { sa?: string; phase?: string; deleting?: boolean; hostNetwork?: boolean } = {},
): Promise<void> {
  const sa = extra.sa ?? name;
  await ensure(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: sa, namespace },
  });
  const existing = await kube.api<Obj>('GET', podPath(namespace, name));
  if (existing.status === 404) {
    await kube.ok('POST', podPath(namespace), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels, annotations },
      spec: {
        serviceAccountName: sa,
        automountServiceAccountToken: false,
        containers: [{ name: 'app', image: 'example.test/app' }],
        ...(extra.hostNetwork ? { hostNetwork: true } : {}),
      },
    });
  } else {
    const cur = existing.body;
    await kube.ok('PUT', podPath(namespace, name), { ...cur, metadata: { ...cur.metadata, labels, annotations } });
  }
  await kube.ok(
    'PATCH',
    podPath(namespace, name) + '/status',
    { status: { phase: extra.phase ?? 'Running', podIP: ip, podIPs: [{ ip }] } },
    merge,
  );
  if (extra.deleting) {
    await kube.ok('PATCH', podPath(namespace, name), { metadata: { finalizers: [HOLD] } }, merge);
    await kube.ok('DELETE', podPath(namespace, name));
    const after = await kube.ok<Obj>('GET', podPath(namespace, name));
    assert.ok(after.metadata.deletionTimestamp, 'held by the finalizer: terminating, not gone');
  }
}

/** Deletes a pod for good (its finalizer, if any, released first). */
async function removePod(namespace: string, name: string): Promise<void> {
  const r = await kube.api<Obj>('GET', podPath(namespace, name));
  if (r.status === 404) return;
  if (r.body.metadata?.finalizers?.length) await kube.ok('PATCH', podPath(namespace, name), { metadata: { finalizers: null } }, merge);
  const d = await kube.api('DELETE', `${podPath(namespace, name)}?gracePeriodSeconds=0`);
  if (d.status !== 200 && d.status !== 404) throw new Error(`DELETE pod ${namespace}/${name}: HTTP ${d.status}`);
  await poll(async () => (await kube.api('GET', podPath(namespace, name))).status === 404, 10_000, `pod ${namespace}/${name} gone`);
}

/** Every test starts from the same objects: the shop/orders policy and the orders-1 pod. */
async function reset(): Promise<void> {
  for (const ns of NAMESPACES) {
    const pods = await kube.ok<Obj>('GET', podPath(ns));
    for (const p of pods.items as Obj[]) await removePod(ns, p.metadata.name);
    const ztps = await kube.ok<Obj>('GET', ztpPath(ns));
    for (const z of ztps.items as Obj[]) await kube.ok('DELETE', ztpPath(ns, z.metadata.name));
  }
}

async function decide(t: TestApp, o: CheckRequestOptions = {}): Promise<Decision> {
  const req = checkRequest({ path: '/orders', destinationAddress: '10.4.5.6', ...o });
  return (await t.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision;
}

async function eventually(t: TestApp, o: CheckRequestOptions, pred: (d: Decision) => boolean, what: string): Promise<Decision> {
  const end = Date.now() + 10_000;
  for (;;) {
    const d = await decide(t, o);
    if (pred(d)) return d;
    if (Date.now() > end) throw new Error(`${what}: last decision ${d.verdict.reason} (${d.verdict.detail ?? ''})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(extra: Record<string, unknown> = {}, k8s: Record<string, unknown> = {}): Promise<TestApp> {
  await reset();
  await ztp('orders', 'shop', { selector: { matchLabels: { app: 'orders' } }, rules: [{ to: [{ operation: { paths: ['/orders'] } }] }] });
  await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' });
  const t = await startTestApp({
    kubernetes: { enabled: true, apiServer: kube.apiUrl, caFile: kube.caFile, tokenFile, backoffMinMs: 20, backoffMaxMs: 200, ...k8s },
    ...extra,
  });
  await waitUntil(() => t.app.ready, 15_000, 'ready');
  return t;
}

before(async () => {
  if (skip) return;
  // The chart's CRDs (ZeroTrustPolicy, TokenRevocation): zt-authz is ready once both kinds are listed.
  for (const file of ['zero-trust-policy.yaml', 'token-revocation.yaml']) {
    const crd = yamlObjects(readFileSync(join(ROOT, 'deploy', 'crds', file), 'utf8'))[0]!;
    await kube.ok('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  }
  for (const ns of [RELEASE_NS, ...NAMESPACES]) {
    await kube.ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    // No controller-manager creates it; the ServiceAccount admission plugin wants it.
    await ensure(`/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default', namespace: ns },
    });
  }
  // The chart's ServiceAccount and cluster-wide RBAC (no kubernetes.namespaces), as helm renders them.
  const rbac = render({ config: { kubernetes: { enabled: true } } }, { namespace: RELEASE_NS }).filter((o) =>
    ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind),
  );
  assert.deepEqual(rbac.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ServiceAccount']);
  for (const o of rbac) await ensure(kube.pathOf({ ...o, metadata: { namespace: o.metadata.namespace } }), o);
  const saToken = await tokenRequest(kube, RELEASE_NS, 'zt-authz', [kube.saIssuer]);
  tokenFile = join(kube.tmpDir, 'token');
  writeFileSync(tokenFile, saToken, { mode: 0o600 });
  // Discovery answers before the new resource's storage is ready (a list gets 429 until then).
  await poll(async () => (await kube.api('GET', ztpPath('shop'))).status === 200, 30_000, 'CRD served');
});

after(async () => {
  await kube?.stop();
});

test('destination from the pod IP when Envoy gives none; Envoy data wins when present', { skip, timeout: 60_000 }, async () => {
  const t = await setup();
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
    assert.equal((await decide(t, { destinationAddress: '::ffff:10.4.5.6' })).verdict.allow, true);
    await removePod('shop', 'orders-1');
    await eventually(t, {}, (x) => !x.verdict.allow, 'pod deleted');
  } finally {
    await t.stop();
  }
});

test('zt-authz.io/mode: dry-run allows and records the would-be deny; enforce denies', { skip, timeout: 60_000 }, async () => {
  const t = await setup();
  try {
    assert.equal((await decide(t, { path: '/nope' })).verdict.allow, false);
    await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/mode': 'dry-run' });
    const d = await eventually(t, { path: '/nope' }, (x) => x.verdict.allow, 'dry-run annotation');
    assert.equal(d.verdict.reason, 'observed');
    assert.equal(d.evidence.wouldDecide?.reason, 'no_policy_matched');
    await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/mode': 'enforce' });
    await eventually(t, { path: '/nope' }, (x) => !x.verdict.allow, 'enforce annotation');
    await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/mode': 'sometimes' });
    await waitUntil(
      () => t.records().some((r) => typeof r.msg === 'string' && r.msg.includes('zt-authz.io/mode: unknown value "sometimes"')),
      10_000,
      'warning',
    );
    assert.equal((await decide(t, { path: '/nope' })).verdict.allow, false, 'an unknown mode value is ignored (enforce)');
  } finally {
    await t.stop();
  }
});

test(
  'zt-authz.io/audience: tokens for this workload must carry its audience (401 audience_mismatch)',
  { skip, timeout: 60_000 },
  async () => {
    const idp = await TestIdp.start({ audience: 'orders' });
    const t = await setup({ issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, anyAudience: true }] });
    try {
      const forPayments = await idp.sign({ aud: 'payments' });
      const forOrders = await idp.sign({ aud: ['orders', 'x'] });
      assert.equal(
        (await decide(t, { token: forPayments })).verdict.allow,
        true,
        'no annotation: issuer-level audiences only (anyAudience here)',
      );
      await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/audience': 'orders, orders.shop' });
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
      await idp.close();
    }
  },
);

test('zt-authz.io/policy binds named policies to a pod (same namespace only)', { skip, timeout: 60_000 }, async () => {
  const t = await setup({
    policies: [
      { name: 'file-extra', rules: [{ to: [{ operation: { paths: ['/file-bound'] } }] }], selector: { matchLabels: { nobody: 'x' } } },
    ],
  });
  try {
    await ztp('extra', 'shop', { selector: { matchLabels: { app: 'nobody' } }, rules: [{ to: [{ operation: { paths: ['/bound'] } }] }] });
    await ztp('no-debug', 'shop', {
      action: 'DENY',
      selector: { matchLabels: { app: 'nobody' } },
      rules: [{ to: [{ operation: { paths: ['/orders'] } }] }],
    });
    await ztp('foreign', 'billing', { rules: [{}] });
    await putPod('cart-1', 'shop', '10.4.5.8', { app: 'cart' }, { 'zt-authz.io/policy': 'extra' });
    await eventually(t, { path: '/bound', destinationAddress: '10.4.5.8' }, (x) => x.verdict.allow, 'bound ALLOW');
    const d = await decide(t, { path: '/bound', destinationAddress: '10.4.5.8' });
    assert.equal(d.verdict.policy, 'shop/extra', 'decisions name the bound policy');
    assert.equal((await decide(t, { path: '/bound' })).verdict.allow, false, 'a pod without the annotation is not affected');

    await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, { 'zt-authz.io/policy': 'no-debug, file-extra, billing/foreign' });
    await eventually(t, {}, (x) => x.verdict.reason === 'policy_denied', 'bound DENY');
    assert.equal((await decide(t, { path: '/file-bound' })).verdict.allow, true, 'file policies can be bound by name');
    assert.equal((await decide(t, { path: '/anything' })).verdict.allow, false, 'billing/foreign (allow-all) is not bound');
    assert.ok(
      t.records().some((r) => typeof r.msg === 'string' && r.msg.includes('cannot bind policies of another namespace: billing/foreign')),
    );
    await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' });
    await eventually(t, {}, (x) => x.verdict.allow, 'unbound');
  } finally {
    await t.stop();
  }
});

test('pod IP reuse: ambiguous IPs resolve to nothing, terminating and finished pods lose their IP', { skip, timeout: 60_000 }, async () => {
  const t = await setup();
  try {
    await ztp('billing', 'billing', { rules: [{ to: [{ operation: { paths: ['/orders'] } }] }] });
    // A new pod in billing gets 10.4.5.6 while orders-1 still holds it: ambiguous → no workload.
    await putPod('invoice-1', 'billing', '10.4.5.6', { app: 'invoice' });
    await eventually(t, {}, (x) => !x.verdict.allow, 'ambiguous IP');
    // orders-1 is terminating (deleted, held by a finalizer): the live pod wins.
    await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, {}, { deleting: true });
    let d = await eventually(t, {}, (x) => x.verdict.allow, 'live pod wins');
    assert.equal(d.verdict.policy, 'billing/billing');
    // orders-1 finally goes: invoice-1 stays.
    await removePod('shop', 'orders-1');
    await new Promise((r) => setTimeout(r, 200));
    d = await decide(t);
    assert.equal(d.verdict.policy, 'billing/billing');
    // A finished pod releases its IP; hostNetwork pods are never indexed.
    await putPod('invoice-1', 'billing', '10.4.5.6', { app: 'invoice' }, {}, { phase: 'Succeeded' });
    await eventually(t, {}, (x) => !x.verdict.allow, 'finished pod');
    await putPod('node-agent', 'shop', '10.4.5.6', { app: 'orders' }, {}, { hostNetwork: true });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await decide(t)).verdict.allow, false);
    await putPod('orders-2', 'shop', '10.4.5.6', { app: 'orders' });
    await eventually(t, {}, (x) => x.verdict.allow && x.verdict.policy === 'shop/orders', 'reused by a new orders pod');
  } finally {
    await t.stop();
  }
});

test('source from the caller pod IP only with kubernetes.podIpSource (weaker, opt-in)', { skip, timeout: 90_000 }, async () => {
  for (const podIpSource of [false, true]) {
    const t = await setup({}, { podIpSource });
    try {
      await ztp('from-frontend', 'shop', {
        selector: { matchLabels: { app: 'orders' } },
        rules: [{ from: [{ source: { serviceAccounts: ['web/frontend'] } }], to: [{ operation: { paths: ['/cart'] } }] }],
      });
      await putPod('frontend-1', 'web', '10.1.2.3', { app: 'frontend' }, {}, { sa: 'frontend' });
      // Both objects seen: the policy applies to an mTLS caller of that identity.
      await eventually(
        t,
        { path: '/cart', sourcePrincipal: 'spiffe://cluster.local/ns/web/sa/frontend' },
        (x) => x.verdict.allow,
        'policy applied',
      );
      if (podIpSource) await eventually(t, { path: '/cart', sourceAddress: '10.1.2.3' }, (x) => x.verdict.allow, 'caller pod seen');
      else await new Promise((r) => setTimeout(r, 300));
      const d = await decide(t, { path: '/cart', sourceAddress: '10.1.2.3' });
      assert.equal(d.verdict.allow, podIpSource, `podIpSource=${podIpSource}: ${d.verdict.reason}`);
      const m = await decide(t, { path: '/cart', sourceAddress: '10.1.2.3', sourcePrincipal: 'spiffe://cluster.local/ns/web/sa/other' });
      assert.equal(m.verdict.allow, false);
    } finally {
      await t.stop();
    }
  }
});

test(
  'zt-authz.io/mode: dry-run only in kubernetes.dryRunAnnotationNamespaces; elsewhere platform DENY policies stay enforced',
  { skip, timeout: 120_000 },
  async () => {
    const guardrails = {
      policies: [{ name: 'no-debug', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/debug'] } }] }] }],
      mode: { namespaces: { web: 'observe' } },
    };
    const dryRun = { 'zt-authz.io/mode': 'dry-run' };
    for (const allowed of [undefined, ['sandbox'], []] as const) {
      await reset();
      await ztp('no-admin', 'mesh', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] });
      await putPod('orders-1', 'shop', '10.4.5.6', { app: 'orders' }, dryRun);
      await putPod('orders-2', 'shop', '10.4.5.7', { app: 'orders' }, dryRun);
      await putPod('box-1', 'sandbox', '10.4.5.9', { app: 'box' }, dryRun);
      await putPod('old-1', 'shop', '10.4.6.1', { app: 'orders' }, dryRun, { phase: 'Succeeded' }); // no IP any more: not counted
      await putPod('api-1', 'web', '10.4.5.10', { app: 'api' }, { 'zt-authz.io/mode': 'enforce' });
      await putPod('api-2', 'web', '10.4.5.11', { app: 'api' });
      const k8s = { rootNamespace: 'mesh', ...(allowed ? { dryRunAnnotationNamespaces: allowed } : {}) };
      const t = await startTestApp({
        kubernetes: { enabled: true, apiServer: kube.apiUrl, caFile: kube.caFile, tokenFile, backoffMinMs: 20, backoffMaxMs: 200, ...k8s },
        ...guardrails,
      });
      const what = `dryRunAnnotationNamespaces=${JSON.stringify(allowed ?? 'default')}`;
      try {
        await waitUntil(() => t.app.ready, 15_000, 'ready');
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
              assert.equal(d.verdict.reason, 'observed', `${what}: ${ns} ${path}`);
              assert.equal(d.evidence.wouldDecide?.policy, policy);
            } else {
              assert.equal(d.verdict.reason, 'policy_denied', `${what}: ${ns} ${path} (${d.verdict.detail ?? ''})`);
              assert.equal(d.verdict.policy, policy);
            }
          }
          assert.equal((await decide(t, { ...dest, path: '/nope' })).verdict.allow, honouredIn(ns), `${what}: ${ns} default deny`);
        }
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
        const warnings = (ns: string) =>
          t.records().filter((r) => typeof r.msg === 'string' && r.msg.includes(`dry-run ignored, namespace "${ns}"`)).length;
        assert.equal(warnings('shop'), honouredIn('shop') ? 0 : 1, `${what}: shop warnings`);
        assert.equal(warnings('sandbox'), honouredIn('sandbox') ? 0 : 1, `${what}: sandbox warnings`);
        if (allowed === undefined) {
          await removePod('shop', 'orders-2');
          await waitUntil(
            async () => (await readMetric(t.adminPort, 'zt_authz_dry_run_pods', { annotation: 'honoured' })) === 2,
            10_000,
            'gauge follows deletes',
          );
        }
      } finally {
        await t.stop();
      }
    }
  },
);

test(
  'zt-authz.io/policy: <rootNamespace>/<name> binds a root-namespace policy to pods of any namespace',
  { skip, timeout: 60_000 },
  async () => {
    const t = await setup({}, { rootNamespace: 'mesh' });
    try {
      await ztp('debug-access', 'mesh', {
        selector: { matchLabels: { app: 'nobody' } },
        rules: [{ to: [{ operation: { paths: ['/debug'] } }] }],
      });
      // ledger-1 first: one cluster-wide pod watch delivers in order, so once invoice-1 is bound, ledger-1 has been seen.
      await putPod('ledger-1', 'billing', '10.4.7.2', { app: 'invoice' }, { 'zt-authz.io/policy': 'debug-access' });
      await putPod('cart-1', 'shop', '10.4.5.8', { app: 'cart' }, { 'zt-authz.io/policy': 'mesh/debug-access' });
      await putPod('invoice-1', 'billing', '10.4.7.1', { app: 'invoice' }, { 'zt-authz.io/policy': 'mesh/debug-access' });
      const d = await eventually(
        t,
        { path: '/debug', destinationAddress: '10.4.5.8' },
        (x) => x.verdict.allow,
        'root policy bound in shop',
      );
      assert.equal(d.verdict.policy, 'mesh/debug-access');
      await eventually(
        t,
        { path: '/debug', destinationAddress: '10.4.7.1' },
        (x) => x.verdict.policy === 'mesh/debug-access',
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
    }
  },
);
