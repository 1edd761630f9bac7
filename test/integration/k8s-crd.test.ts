// The chart's ZeroTrustPolicy CRD against a real kube-apiserver: accepted as a structural schema
// (Established, NamesAccepted), a valid policy stored with the schema's defaults applied, and
// invalid objects rejected by the API server itself where the schema says so (the in-process
// fake in test/k8s-*.test.ts validates nothing).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, eventually, startKube, yamlObjects, type Obj } from './helpers/kube.js';

const started = await startKube();
const skip = 'skip' in started ? started.skip : false;
const kube = 'skip' in started ? undefined! : started;
after(() => kube?.stop());

const CRD = yamlObjects(readFileSync(join(ROOT, 'deploy', 'crds', 'zero-trust-policy.yaml'), 'utf8'))[0]!;
const ZTP = '/apis/zt-authz.io/v1alpha1/namespaces/shop/zerotrustpolicies';

const ztp = (name: string, spec: unknown): Obj => ({
  apiVersion: 'zt-authz.io/v1alpha1',
  kind: 'ZeroTrustPolicy',
  metadata: { name, namespace: 'shop' },
  spec,
});

test(
  'the chart CRD is accepted and established; a valid ZeroTrustPolicy is stored with its defaults',
  { skip, timeout: 120_000 },
  async () => {
    console.log(`# kube-apiserver ${kube.version} up in ${kube.startSeconds.toFixed(1)} s`);
    await kube.ok('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', CRD);
    const crd = await eventually(
      async () => {
        const c = await kube.ok<Obj>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD.metadata.name}`);
        const conds = (c.status?.conditions ?? []) as Obj[];
        const is = (t: string) => conds.some((x) => x.type === t && x.status === 'True');
        return is('Established') && is('NamesAccepted') ? c : undefined;
      },
      30_000,
      'CRD Established',
    );
    // A non-structural schema would show here (and would prune nothing / refuse defaults).
    assert.ok(!(crd.status.conditions as Obj[]).some((c) => c.type === 'NonStructuralSchema'), 'structural schema');
    await kube.ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    // The CRD's short name and printer columns are served.
    const resources = await kube.ok<Obj>('GET', '/apis/zt-authz.io/v1alpha1');
    const r = (resources.resources as Obj[]).find((x) => x.name === 'zerotrustpolicies')!;
    assert.deepEqual(r.shortNames, ['ztp']);

    const created = await eventually(
      async () => {
        const res = await kube.api<Obj>(
          'POST',
          `${ZTP}?fieldValidation=Strict`,
          ztp('orders', {
            selector: { matchLabels: { app: 'orders' } },
            rules: [
              {
                from: [{ source: { serviceAccounts: ['shop/frontend'] } }],
                to: [{ operation: { methods: ['GET'], paths: ['/orders', '/orders/{*}'] } }],
              },
            ],
          }),
        );
        // The new resource type takes a moment to be served after Established.
        return res.status === 201 ? res.body : undefined;
      },
      30_000,
      'ZeroTrustPolicy created',
    );
    assert.equal(created.spec.action, 'ALLOW', 'the schema default for action is applied by the API server');
    assert.equal(created.metadata.generation, 1);
    // A spec change bumps generation, a status write does not: the contract zt-authz's
    // observedGeneration relies on.
    const changed = await kube.ok<Obj>('PUT', `${ZTP}/orders`, { ...created, spec: { ...created.spec, action: 'AUDIT' } });
    assert.equal(changed.metadata.generation, 2);
    const withStatus = await kube.ok<Obj>('PUT', `${ZTP}/orders/status`, {
      ...changed,
      status: {
        conditions: [
          {
            type: 'Accepted',
            status: 'True',
            reason: 'Accepted',
            observedGeneration: 2,
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      },
    });
    assert.equal(withStatus.metadata.generation, 2);
    // The status subresource ignores spec changes, and the main resource ignores status.
    const sneaky = await kube.ok<Obj>('PUT', `${ZTP}/orders/status`, { ...withStatus, spec: { ...withStatus.spec, action: 'DENY' } });
    assert.equal(sneaky.spec.action, 'AUDIT');
  },
);

test('invalid ZeroTrustPolicy objects are rejected by the API server where the schema says so', { skip, timeout: 60_000 }, async () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['action outside the enum', { action: 'MAYBE' }, /spec\.action: Unsupported value: "MAYBE"/],
    ['selector without matchLabels', { selector: {} }, /spec\.selector\.matchLabels: Required value/],
    [
      'a matchLabels value that is not a string',
      { selector: { matchLabels: { app: 7 } } },
      /spec\.selector\.matchLabels\.app: Invalid value: "integer"/,
    ],
    ['when[] without key', { rules: [{ when: [{ values: ['x'] }] }] }, /spec\.rules\[0\]\.when\[0\]\.key: Required value/],
    ['from[] without source', { rules: [{ from: [{}] }] }, /spec\.rules\[0\]\.from\[0\]\.source: Required value/],
    ['rules that is not a list', { rules: { to: [] } }, /spec\.rules: Invalid value: "object"/],
  ];
  for (const [what, spec, re] of cases) {
    const r = await kube.api<Obj>('POST', ZTP, ztp('bad', spec));
    assert.equal(r.status, 422, `${what}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    assert.match(r.body.message as string, re, what);
  }
  // Unknown fields: strict field validation (kubectl's default) refuses them...
  const strict = await kube.api<Obj>('POST', `${ZTP}?fieldValidation=Strict`, ztp('typo', { action: 'ALLOW', rulez: [] }));
  assert.equal(strict.status, 400);
  assert.match(strict.body.message as string, /unknown field "spec\.rulez"/);
  // ...and without it the API server prunes them (what docs/kubernetes-helm.md "Unknown fields" warns about).
  const pruned = await kube.ok<Obj>('POST', ZTP, ztp('typo', { action: 'DENY', rulez: [] }));
  assert.deepEqual(Object.keys(pruned.spec).sort(), ['action']);
  // spec.namespace is not in the CRD (it comes from metadata): pruned, never stored.
  const ns = await kube.ok<Obj>('POST', ZTP, ztp('sneaky', { namespace: 'billing', rules: [{}] }));
  assert.equal(ns.spec.namespace, undefined);
});
