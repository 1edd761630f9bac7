// zt-authz (kubernetes.enabled) against a real kube-apiserver, authenticated with a TokenRequest
// token of the chart's ServiceAccount and authorized only by the RBAC the chart renders
// (helm template): ZeroTrustPolicy applies change decisions (latency over 20 changes), Accepted
// status is written back through the status subresource, deletions take effect, the issuer keys
// come from the named Secret, a watch that the API server expires (410 Gone after an etcd
// compaction and an apiserver restart) is recovered, and SubjectAccessReviews prove that the
// chart's rules allow what zt-authz does and nothing more.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { ROOT, eventually, startKube, tokenRequest, yamlObjects, type Obj } from './helpers/kube.js';
import { render } from '../helpers/helm.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { generateTestKey, type TestKey } from '../helpers/idp.js';
import { registerToken } from '../helpers/capture.js';
import { checkRequest, type CheckRequestOptions } from '../helpers/grpc-client.js';
import { normalizeCheckRequest } from '../../src/transport/grpc/normalize.js';
import type { Decision } from '../../src/decision/decision.js';

const started = await startKube();
const skip = 'skip' in started ? started.skip : false;
const kube = 'skip' in started ? undefined! : started;

const RELEASE_NS = 'zt-authz';
const SA = 'zt-authz';
const ISSUER = 'https://idp.secret.test';
const ZTP = '/apis/zt-authz.io/v1alpha1/namespaces/shop/zerotrustpolicies';
// The chart's values for this test: namespaced watching (Roles, not a ClusterRole), and one
// issuer whose keys live in a Secret (the chart adds a Role naming that Secret).
const VALUES = {
  config: {
    kubernetes: { enabled: true, namespaces: ['shop'] },
    issuers: [{ issuer: ISSUER, jwksSecret: { name: 'idp-keys' }, audiences: ['orders'] }],
  },
};

let app: TestApp | undefined;
let saToken = '';
let key: TestKey;

const ztp = (name: string, spec: Obj): Obj => ({
  apiVersion: 'zt-authz.io/v1alpha1',
  kind: 'ZeroTrustPolicy',
  metadata: { name, namespace: 'shop' },
  spec,
});
const allowPaths = (...paths: string[]): Obj => ({
  selector: { matchLabels: { app: 'orders' } },
  rules: [{ to: [{ operation: { paths } }] }],
});

async function decide(o: CheckRequestOptions = {}): Promise<Decision> {
  const req = checkRequest({ path: '/orders', contextExtensions: { namespace: 'shop', app: 'orders' }, ...o });
  return (await app!.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision;
}

/** Milliseconds until decisions satisfy `pred` (polling every 2 ms). */
async function until(o: CheckRequestOptions, pred: (d: Decision) => boolean, what: string, timeoutMs = 5000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (pred(await decide(o))) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function accepted(name: string): Promise<Obj | undefined> {
  const r = await kube.api<Obj>('GET', `${ZTP}/${name}`);
  return r.status === 200 ? ((r.body.status?.conditions ?? []) as Obj[]).find((c) => c.type === 'Accepted') : undefined;
}

before(async () => {
  if (skip) return;
  // The chart's CRDs (ZeroTrustPolicy, TokenRevocation): zt-authz is ready once both kinds are listed.
  for (const file of ['zero-trust-policy.yaml', 'token-revocation.yaml']) {
    const crd = yamlObjects(readFileSync(join(ROOT, 'deploy', 'crds', file), 'utf8'))[0]!;
    await kube.ok('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  }
  for (const ns of [RELEASE_NS, 'shop', 'billing'])
    await kube.ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  // The chart's own ServiceAccount and RBAC, exactly as helm renders them for these values.
  const rendered = render(VALUES, { namespace: RELEASE_NS });
  const rbac = rendered.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
  assert.deepEqual(rbac.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort(), [
    'Role/shop/zt-authz',
    `Role/${RELEASE_NS}/zt-authz-jwks-secrets`,
    'RoleBinding/shop/zt-authz',
    `RoleBinding/${RELEASE_NS}/zt-authz-jwks-secrets`,
    `ServiceAccount/${RELEASE_NS}/zt-authz`,
  ]);
  for (const o of rbac) await kube.ok('POST', kube.pathOf({ ...o, metadata: { namespace: o.metadata.namespace } }), o);
  // The issuer's keys, in the Secret the chart's Role names.
  key = await generateTestKey('k1');
  await kube.ok('POST', `/api/v1/namespaces/${RELEASE_NS}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'idp-keys', namespace: RELEASE_NS },
    stringData: { 'jwks.json': JSON.stringify({ keys: [key.jwk] }) },
  });
  // What the kubelet would mount: a bound token of the chart's ServiceAccount for the API server.
  saToken = await tokenRequest(kube, RELEASE_NS, SA, [kube.saIssuer]);
  const dir = kube.tmpDir;
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, saToken, { mode: 0o600 });
  await eventually(async () => (await kube.api('GET', '/apis/zt-authz.io/v1alpha1')).status === 200, 30_000, 'CRD served');
  app = await startTestApp({
    kubernetes: {
      enabled: true,
      namespaces: ['shop'],
      apiServer: kube.apiUrl,
      caFile: kube.caFile,
      tokenFile,
      backoffMinMs: 20,
      backoffMaxMs: 200,
    },
    issuers: [{ issuer: ISSUER, jwksSecret: { name: 'idp-keys', namespace: RELEASE_NS }, audiences: ['orders'] }],
  });
});

after(async () => {
  await app?.stop();
  await kube?.stop();
});

test(
  'with the chart RBAC: ZeroTrustPolicy applies change decisions (latency), status is written back, deletion takes effect, Secret keys verify',
  { skip, timeout: 180_000 },
  async () => {
    await eventually(async () => app!.app.ready, 30_000, 'zt-authz ready (first list of policies, pods and the Secret)');
    assert.equal((await decide()).verdict.reason, 'no_policy_matched');
    // The JWKS Secret, read through the narrowed watch that the chart's resourceNames Role allows.
    const jwt = registerToken(
      await new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setSubject('alice')
        .setAudience('orders')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key.privateKey),
    );
    const withJwt = { headers: { authorization: `Bearer ${jwt}` } };

    const latencies: number[] = [];
    // 7 × (apply, change, delete) = 21 changes through the real API server and watch.
    for (let i = 0; i < 7; i++) {
      await kube.apply(ztp('orders', allowPaths('/orders')));
      latencies.push(await until({}, (d) => d.verdict.allow, 'applied'));
      assert.equal((await decide()).verdict.policy, 'shop/orders');

      await kube.apply(ztp('orders', allowPaths('/other')));
      latencies.push(await until({}, (d) => !d.verdict.allow, 'changed'));
      assert.equal((await decide({ path: '/other' })).verdict.allow, true);

      await kube.ok('DELETE', `${ZTP}/orders`);
      latencies.push(await until({ path: '/other' }, (d) => !d.verdict.allow, 'deleted'));
    }
    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor((latencies.length - 1) / 2)]!;
    const max = latencies.at(-1)!;
    console.log(
      `# real kube-apiserver: ZeroTrustPolicy change → decisions change: p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${latencies.length} changes`,
    );
    assert.ok(max < 5000);

    // Status: Accepted=True with the generation, written with the chart's status-only rule.
    await kube.apply(
      ztp('orders', {
        ...allowPaths('/orders'),
        rules: [{ from: [{ source: { requestPrincipals: [`${ISSUER}/alice`] } }], to: [{ operation: { paths: ['/orders'] } }] }],
      }),
    );
    const ok = await eventually(
      async () => {
        const c = await accepted('orders');
        return c?.status === 'True' ? c : undefined;
      },
      10_000,
      'Accepted=True',
    );
    assert.equal(ok.reason, 'Accepted');
    assert.equal((await decide()).verdict.allow, false, 'no token: the policy wants alice');
    assert.equal((await decide(withJwt)).verdict.allow, true, 'a token signed with the key from the Secret verifies');

    // An invalid generation (valid for the CRD, refused by zt-authz's validator): status Invalid,
    // generation 1 keeps applying.
    await kube.apply(ztp('orders', allowPaths('/a/{**}/{*}')));
    const bad = await eventually(
      async () => {
        const c = await accepted('orders');
        return c?.status === 'False' ? c : undefined;
      },
      10_000,
      'Accepted=False',
    );
    assert.equal(bad.reason, 'Invalid');
    assert.match(bad.message as string, /spec\.rules\[0\]\.to\[0\]\.operation\.paths\[0\]: .*last.*still enforcing generation/);
    assert.equal((await decide(withJwt)).verdict.allow, true, 'the last valid generation keeps applying');
    await kube.ok('DELETE', `${ZTP}/orders`);
    await until(withJwt, (d) => !d.verdict.allow, 'deleted');

    // A policy outside kubernetes.namespaces is not watched (and the Role could not read it).
    await kube.apply({ ...ztp('orders', allowPaths('/orders')), metadata: { name: 'orders', namespace: 'billing' } });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await decide({ contextExtensions: { namespace: 'billing', app: 'orders' } })).verdict.allow, false);
    // zt-authz never hit an RBAC refusal.
    const refused = app!.records().filter((r) => r.logger !== 'audit' && /forbidden|\b403\b/i.test(JSON.stringify(r)));
    assert.deepEqual(refused, [], 'no 403 from the API server');
  },
);

test('a watch the API server expires (410 Gone after etcd compaction) is recovered by a relist', { skip, timeout: 180_000 }, async () => {
  await kube.apply(ztp('orders', allowPaths('/orders')));
  await kube.apply(ztp('health', allowPaths('/healthz')));
  await until({}, (d) => d.verdict.allow, 'applied');
  await until({ path: '/healthz' }, (d) => d.verdict.allow, 'applied');
  const ztpInformer = (
    app!.app.kubernetes!.informers as unknown as Array<{ name?: string; stats: { gone: number }; opts: { name: string } }>
  ).find((i) => i.opts.name.startsWith('zerotrustpolicies'))!;
  const relisting = () =>
    app!
      .records()
      .filter((r) => r.msg === 'watch: resourceVersion too old (410 Gone), relisting' && String(r.informer).startsWith('zerotrustpolicies'))
      .length;
  const goneBefore = ztpInformer.stats.gone;
  const logsBefore = relisting();
  // An apiserver roll-out drops every watch. Meanwhile one policy disappears from etcd and etcd
  // is compacted, so no watch can replay that deletion: zt-authz re-watches from a
  // resourceVersion that is gone (410), and only its relist can find out.
  await kube.stopApiserver();
  assert.equal(await kube.etcdDelete('/registry/zt-authz.io/zerotrustpolicies/shop/orders'), 1);
  for (let i = 0; i < 3; i++) await kube.etcdPut(`/zt-authz-test/churn-${i}`, 'x');
  await kube.etcdCompact(await kube.etcdRevision());
  await kube.startApiserver();
  await until({}, (d) => !d.verdict.allow, 'the deletion seen through the relist', 30_000);
  assert.equal((await decide({ path: '/healthz' })).verdict.allow, true, 'the surviving policy is kept');
  assert.ok(ztpInformer.stats.gone > goneBefore, '410 counted');
  assert.ok(relisting() > logsBefore, '410 logged');
  // The recovered watch delivers changes again.
  await kube.apply(ztp('orders', allowPaths('/orders')));
  await until({}, (d) => d.verdict.allow, 'applied after the relist', 10_000);
  await kube.ok('DELETE', `${ZTP}/orders`);
  await until({}, (d) => !d.verdict.allow, 'deleted after the relist', 10_000);
  await kube.ok('DELETE', `${ZTP}/health`);
  assert.equal(app!.app.ready, true, 'ready throughout (last-known state kept)');
});

test(
  'RBAC least privilege: SubjectAccessReviews allow what zt-authz does with the chart Role, and deny anything more',
  { skip, timeout: 60_000 },
  async () => {
    const user = `system:serviceaccount:${RELEASE_NS}:${SA}`;
    const sar = async (attrs: Obj): Promise<boolean> => {
      const r = await kube.ok<Obj>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${RELEASE_NS}`, 'system:authenticated'],
          resourceAttributes: attrs,
        },
      });
      return r.status.allowed === true;
    };
    const ztpAttr = (verb: string, extra: Obj = {}) => ({
      group: 'zt-authz.io',
      resource: 'zerotrustpolicies',
      namespace: 'shop',
      verb,
      ...extra,
    });
    const allowed: Array<[string, Obj]> = [
      ['list zerotrustpolicies in shop', ztpAttr('list')],
      ['watch zerotrustpolicies in shop', ztpAttr('watch')],
      ['get a zerotrustpolicy in shop', ztpAttr('get', { name: 'orders' })],
      ['update zerotrustpolicies/status in shop', ztpAttr('update', { subresource: 'status', name: 'orders' })],
      ['list pods in shop', { resource: 'pods', namespace: 'shop', verb: 'list' }],
      ['watch pods in shop', { resource: 'pods', namespace: 'shop', verb: 'watch' }],
      ['get the JWKS Secret', { resource: 'secrets', namespace: RELEASE_NS, name: 'idp-keys', verb: 'get' }],
      ['list the JWKS Secret (fieldSelector name)', { resource: 'secrets', namespace: RELEASE_NS, name: 'idp-keys', verb: 'list' }],
      ['watch the JWKS Secret (fieldSelector name)', { resource: 'secrets', namespace: RELEASE_NS, name: 'idp-keys', verb: 'watch' }],
    ];
    const denied: Array<[string, Obj]> = [
      ['list all Secrets in its namespace', { resource: 'secrets', namespace: RELEASE_NS, verb: 'list' }],
      ['get another Secret', { resource: 'secrets', namespace: RELEASE_NS, name: 'other', verb: 'get' }],
      ['update the JWKS Secret', { resource: 'secrets', namespace: RELEASE_NS, name: 'idp-keys', verb: 'update' }],
      ['get Secrets in shop', { resource: 'secrets', namespace: 'shop', verb: 'get', name: 'idp-keys' }],
      ['create pods', { resource: 'pods', namespace: 'shop', verb: 'create' }],
      ['patch pods', { resource: 'pods', namespace: 'shop', verb: 'patch', name: 'x' }],
      ['delete pods', { resource: 'pods', namespace: 'shop', verb: 'delete', name: 'x' }],
      ['update a zerotrustpolicy spec', ztpAttr('update', { name: 'orders' })],
      ['create zerotrustpolicies', ztpAttr('create')],
      ['delete zerotrustpolicies', ztpAttr('delete', { name: 'orders' })],
      ['list zerotrustpolicies cluster-wide', { group: 'zt-authz.io', resource: 'zerotrustpolicies', verb: 'list' }],
      ['list pods cluster-wide', { resource: 'pods', verb: 'list' }],
      ['list zerotrustpolicies in another namespace', ztpAttr('list', { namespace: 'billing' })],
      ['list pods in another namespace', { resource: 'pods', namespace: 'billing', verb: 'list' }],
      ['create role bindings', { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'shop', verb: 'create' }],
      ['list configmaps', { resource: 'configmaps', namespace: 'shop', verb: 'list' }],
    ];
    for (const [what, a] of allowed) assert.equal(await sar(a), true, `allowed: ${what}`);
    for (const [what, a] of denied) assert.equal(await sar(a), false, `denied: ${what}`);
    // And for real, with the ServiceAccount's own token: listing all Secrets is refused.
    const r = await kube.api('GET', `/api/v1/namespaces/${RELEASE_NS}/secrets`, undefined, { token: saToken });
    assert.equal(r.status, 403);
    const narrowed = await kube.api('GET', `/api/v1/namespaces/${RELEASE_NS}/secrets?fieldSelector=metadata.name%3Didp-keys`, undefined, {
      token: saToken,
    });
    assert.equal(narrowed.status, 200, 'the narrowed list zt-authz makes is allowed');
  },
);
