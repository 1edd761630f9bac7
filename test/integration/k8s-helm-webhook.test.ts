// The chart and the injection webhook against a real kube-apiserver: `helm install` / `helm
// uninstall` in central and sidecar modes (objects stored as rendered, then removed), and a Pod
// created through the real admission chain reaching zt-authz's own webhook, with the chart's
// rules, namespaceSelector and matchConditions, then the documented failurePolicy when the webhook
// is down. There is no kubelet or controller-manager: Deployments are stored and never run, so
// nothing here waits for pods (`helm install --wait` would hang), and the ServiceAccounts that
// the ServiceAccount admission plugin requires are created by the test.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { handleAdmissionReview } from '../../src/webhook/inject.js';
import { fetchMetrics, metricValue, startTestApp, type TestApp } from '../helpers/app.js';
import { TestCa } from '../helpers/certs.js';
import { CHART, ROOT, SIDECAR, helm, helmSkip, one, render, valuesFile, type HelmMajor } from '../helpers/helm.js';
import { eventually, startKube, yamlObjects, type Obj } from './helpers/kube.js';

const helmMissing = helmSkip() || helmSkip(4);
const started = helmMissing ? { skip: helmMissing } : await startKube();
const skip = 'skip' in started ? started.skip : false;
const kube = 'skip' in started ? undefined! : started;
let app: TestApp | undefined;
after(async () => {
  await app?.stop();
  await kube?.stop();
});

const NS = 'zt-authz';

// Kinds the chart renders that kube.pathOf has no plural for.
const PLURALS: Record<string, string> = {
  NetworkPolicy: 'networkpolicies',
  PodDisruptionBudget: 'poddisruptionbudgets',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
};
const pathOf = (o: Obj): string =>
  kube.pathOf({ ...o, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? NS } }, PLURALS[o.kind as string]);

/** helm (3 unless `major` says 4) against the test API server (never --wait: nothing would ever become ready). */
function helmK(args: string[], major: HelmMajor = 3): string {
  const r = helm([...args, '--kubeconfig', kube.kubeconfig], major);
  assert.equal(r.status, 0, `helm ${major} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const KEEP = (o: Obj): boolean => o.metadata.annotations?.['helm.sh/resource-policy'] === 'keep';
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** Namespaces and their `default` ServiceAccount (no controller-manager creates it here). */
async function namespaces(...names: string[]): Promise<void> {
  for (const name of names) {
    await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    await kube.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } });
  }
}

/** install → every manifest object stored as rendered → uninstall → every one gone. */
async function installAndUninstall(values: unknown, check: (stored: Map<string, Obj>) => void, major: HelmMajor = 3): Promise<void> {
  const file = valuesFile(values);
  helmK(['install', 'zt-authz', CHART, '--namespace', NS, '--create-namespace', '-f', file], major);
  const status = JSON.parse(helmK(['status', 'zt-authz', '--namespace', NS, '-o', 'json'], major)) as Obj;
  assert.equal(status.info.status, 'deployed');
  const manifest = yamlObjects(helmK(['get', 'manifest', 'zt-authz', '--namespace', NS], major));
  assert.ok(manifest.length >= 8, `release manifest has ${manifest.length} objects`);
  const stored = new Map<string, Obj>();
  for (const o of manifest) {
    const got = await kube.ok<Obj>('GET', pathOf(o));
    assert.equal(got.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${o.kind} ${o.metadata.name} managed by Helm`);
    assert.equal(got.metadata.annotations?.['meta.helm.sh/release-name'], 'zt-authz');
    stored.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, got);
  }
  // The helm test Pod is a hook: stored only by `helm test`, never by install.
  assert.equal((await kube.api('GET', `/api/v1/namespaces/${NS}/pods/zt-authz-test-readyz`)).status, 404);
  check(stored);

  assert.deepEqual(
    manifest.filter(KEEP).map((o) => o.kind),
    ['CustomResourceDefinition', 'CustomResourceDefinition'],
    'the CRDs are in the release',
  );

  helmK(['uninstall', 'zt-authz', '--namespace', NS], major);
  for (const o of manifest.filter((m) => !KEEP(m))) {
    await eventually(async () => (await kube.api('GET', pathOf(o))).status === 404, 10_000, `${o.kind} ${o.metadata.name} deleted`);
  }
  const releases = await kube.ok<Obj>('GET', `/api/v1/namespaces/${NS}/secrets?labelSelector=owner%3Dhelm`);
  assert.deepEqual(releases.items, [], 'no release record left');
  // The CRDs carry helm.sh/resource-policy: keep (crds.keep): uninstall would otherwise delete every ZeroTrustPolicy.
  await kube.ok('GET', `${CRD_PATH}/zerotrustpolicies.zt-authz.io`);
  await kube.ok('GET', `${CRD_PATH}/tokenrevocations.zt-authz.io`);
}

const get = (m: Map<string, Obj>, key: string): Obj => {
  const o = m.get(key);
  assert.ok(o, `${key} stored (have ${[...m.keys()].join(', ')})`);
  return o;
};

test(
  'helm install in central mode: the release and its objects are stored; helm uninstall removes them',
  { skip, timeout: 60_000 },
  async () => {
    console.log(`# kube-apiserver ${kube.version} up in ${kube.startSeconds.toFixed(1)} s`);
    await installAndUninstall({}, (stored) => {
      const dep = get(stored, `Deployment/${NS}/zt-authz`);
      assert.equal(dep.spec.template.spec.serviceAccountName, 'zt-authz');
      // The configuration the chart wrote survives the round trip through the API server.
      const cfg = parse(get(stored, `ConfigMap/${NS}/zt-authz`).data['config.yaml']) as Obj;
      assert.ok(cfg.server, 'config.yaml stored');
      get(stored, 'ClusterRole//zt-authz');
      get(stored, 'ClusterRoleBinding//zt-authz');
      get(stored, `HorizontalPodAutoscaler/${NS}/zt-authz`);
      assert.equal([...stored.keys()].filter((k) => k.startsWith('MutatingWebhookConfiguration/')).length, 0, 'no webhook in central mode');
    });
  },
);

test(
  'helm install in sidecar mode: webhook configuration, its TLS Secret and per-namespace ConfigMaps stored; helm uninstall removes them',
  { skip, timeout: 60_000 },
  async () => {
    await namespaces('shop', 'payments');
    await installAndUninstall(SIDECAR, (stored) => {
      const mwc = get(stored, 'MutatingWebhookConfiguration//zt-authz-inject');
      const wh = mwc.webhooks[0];
      assert.equal(wh.failurePolicy, 'Fail');
      // helm used the real server's version (1.34): the matchConditions filter is rendered and accepted.
      assert.match(wh.matchConditions?.[0]?.expression ?? '', /zt-authz\.io\/inject/);
      const secret = get(stored, `Secret/${NS}/zt-authz-webhook-tls`);
      assert.equal(wh.clientConfig.caBundle, secret.data['ca.crt'], 'caBundle is the CA helm generated and stored');
      for (const ns of ['shop', 'payments']) get(stored, `ConfigMap/${ns}/zt-authz-sidecar`);
    });
  },
);

test('Helm 4: helm install and uninstall in central mode against the same API server', { skip, timeout: 60_000 }, async () => {
  await installAndUninstall(
    {},
    (stored) => {
      get(stored, `Deployment/${NS}/zt-authz`);
      get(stored, 'CustomResourceDefinition//zerotrustpolicies.zt-authz.io');
    },
    4,
  );
});

/** A copy of the chart in the test's temp dir, changed by `edit` (an earlier or a later chart version). */
function chartCopy(name: string, edit: (dir: string) => void): string {
  const dir = join(kube.tmpDir, name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(CHART, dir, { recursive: true });
  edit(dir);
  return dir;
}

const DRY_RUN = /\n( +)dryRun:\n\1 {2}description: [^\n]*\n\1 {2}type: boolean\n/;
const policyCrd = (): Promise<Obj> => kube.ok<Obj>('GET', `${CRD_PATH}/zerotrustpolicies.zt-authz.io`);
const specProps = (crd: Obj): Obj => crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties;

async function deleteCrds(): Promise<void> {
  for (const name of ['zerotrustpolicies.zt-authz.io', 'tokenrevocations.zt-authz.io']) {
    await kube.api('DELETE', `${CRD_PATH}/${name}`);
    await eventually(async () => (await kube.api('GET', `${CRD_PATH}/${name}`)).status === 404, 20_000, `CRD ${name} deleted`);
  }
}

test(
  'CRD upgrades: from a chart with crds/ (adopted as docs/kubernetes-helm.md says) and between template versions, with Helm 3 and Helm 4; uninstall keeps them',
  { skip, timeout: 120_000 },
  async () => {
    await deleteCrds(); // kept by the tests above
    // The chart before the CRDs became templates: crds/ with the plain manifests, here an older
    // ZeroTrustPolicy schema without spec.dryRun.
    const previous = chartCopy('chart-previous', (dir) => {
      rmSync(join(dir, 'templates', 'crds'), { recursive: true });
      cpSync(join(ROOT, 'deploy', 'crds'), join(dir, 'crds'), { recursive: true });
      const file = join(dir, 'crds', 'zero-trust-policy.yaml');
      const text = readFileSync(file, 'utf8');
      assert.match(text, DRY_RUN);
      writeFileSync(file, text.replace(DRY_RUN, '\n'));
    });
    helmK(['install', 'zt-authz', previous, '--namespace', NS, '--create-namespace']);
    let crd = await policyCrd();
    assert.equal(specProps(crd).dryRun, undefined, 'the previous schema');
    assert.equal(crd.metadata.annotations?.['meta.helm.sh/release-name'], undefined, 'crds/ objects are not part of the release');

    // helm refuses to take over an object it did not create...
    const refused = helm(['upgrade', 'zt-authz', CHART, '--namespace', NS, '--kubeconfig', kube.kubeconfig]);
    assert.notEqual(refused.status, 0, 'upgrade without adopting the CRDs');
    assert.match(
      refused.stderr,
      /CustomResourceDefinition "(zerotrustpolicies|tokenrevocations)\.zt-authz\.io" .*exists and cannot be imported into the current release: invalid ownership metadata/,
    );
    // ...until the CRDs carry the release's ownership metadata (the kubectl label/annotate step of the docs).
    for (const name of ['zerotrustpolicies.zt-authz.io', 'tokenrevocations.zt-authz.io']) {
      await kube.ok(
        'PATCH',
        `${CRD_PATH}/${name}`,
        {
          metadata: {
            labels: { 'app.kubernetes.io/managed-by': 'Helm' },
            annotations: { 'meta.helm.sh/release-name': 'zt-authz', 'meta.helm.sh/release-namespace': NS },
          },
        },
        { contentType: 'application/merge-patch+json' },
      );
    }
    helmK(['upgrade', 'zt-authz', CHART, '--namespace', NS]);
    crd = await policyCrd();
    assert.equal(specProps(crd).dryRun?.type, 'boolean', 'helm upgrade brought the new schema');
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');

    // A later chart version changes the CRD again; Helm 4 upgrades the release Helm 3 made.
    const next = chartCopy('chart-next', (dir) => {
      const file = join(dir, 'templates', 'crds', 'zero-trust-policy.yaml');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(DRY_RUN, (m) => m.replace(/description: [^\n]*/, 'description: changed by the next chart')),
      );
    });
    helmK(['upgrade', 'zt-authz', next, '--namespace', NS], 4);
    assert.equal(specProps(await policyCrd()).dryRun?.description, 'changed by the next chart');

    helmK(['uninstall', 'zt-authz', '--namespace', NS], 4);
    await eventually(
      async () => (await kube.api('GET', `/api/v1/namespaces/${NS}/configmaps/zt-authz`)).status === 404,
      10_000,
      'release gone',
    );
    assert.equal(specProps(await policyCrd()).dryRun?.description, 'changed by the next chart', 'helm.sh/resource-policy: keep');
  },
);

test(
  'the injection webhook through the real admission chain: an annotated Pod is stored with the sidecar; failurePolicy Fail and Ignore when the webhook is down',
  { skip, timeout: 90_000 },
  async () => {
    await namespaces('shop', 'elsewhere');
    // The chart's webhook shape, rendered for this server's version; only clientConfig changes, to a
    // URL on loopback with a certificate for 127.0.0.1 (the API server cannot reach a Service here).
    const objs = render(SIDECAR, { kubeVersion: kube.version });
    const chartConfig = parse(one(objs, 'ConfigMap', 'zt-authz').data['config.yaml']) as Obj;
    const ca = new TestCa(join(kube.tmpDir, 'webhook-pki'), 'zt-webhook-test-ca');
    const pem = ca.issue('server', 'zt-authz-webhook');
    const certFile = join(kube.tmpDir, 'webhook.crt');
    const keyFile = join(kube.tmpDir, 'webhook.key');
    writeFileSync(certFile, pem.cert);
    writeFileSync(keyFile, pem.key);
    app = await startTestApp({
      ...chartConfig,
      kubernetes: { enabled: false },
      webhook: { ...chartConfig.webhook, address: '127.0.0.1:0', certFile, keyFile },
    });
    const mwc = structuredClone(one(objs, 'MutatingWebhookConfiguration'));
    const wh = mwc.webhooks[0];
    assert.equal(wh.failurePolicy, 'Fail', 'the chart default');
    assert.ok(wh.matchConditions, 'rendered for ≥ 1.28');
    wh.clientConfig = {
      url: `https://127.0.0.1:${app.app.webhookPort}${wh.clientConfig.service.path}`,
      caBundle: Buffer.from(ca.cert).toString('base64'),
    };
    await kube.ok('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', mwc);

    let n = 0;
    const pod = (ns: string, annotated: boolean): Obj => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `orders-${++n}`, namespace: ns, ...(annotated ? { annotations: { 'zt-authz.io/inject': 'true' } } : {}) },
      spec: { containers: [{ name: 'orders', image: 'registry.example/orders:1', ports: [{ containerPort: 8080 }] }] },
    });
    const create = (p: Obj) => kube.api<Obj>('POST', `/api/v1/namespaces/${p.metadata.namespace}/pods`, p);
    const names = (p: Obj): string[] => (p.spec.containers as Obj[]).map((c) => c.name as string);

    // The API server picks a new webhook configuration up a moment after it is stored: until then
    // pods are admitted unmutated, so each try is a fresh pod.
    let sent: Obj | undefined;
    const stored = await eventually(
      async () => {
        sent = pod('shop', true);
        const r = await create(sent);
        assert.equal(r.status, 201, r.text.slice(0, 500));
        return names(r.body).includes('zt-authz') ? r.body : undefined;
      },
      20_000,
      'an annotated pod mutated by the webhook',
    );
    // Stored, not only answered: a fresh GET shows the sidecar as the webhook builds it.
    const got = await kube.ok<Obj>('GET', `/api/v1/namespaces/shop/pods/${stored.metadata.name}`);
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: 'shop',
        operation: 'CREATE',
        object: sent,
      },
    };
    const ops = JSON.parse(
      Buffer.from((handleAdmissionReview(review, app.config.webhook).body as Obj).response.patch as string, 'base64').toString(),
    ) as Obj[];
    const expected = ops.find((o) => o.path === '/spec/containers/-')!.value as Obj;
    const sidecar = (got.spec.containers as Obj[]).find((c) => c.name === 'zt-authz')!;
    assertSubset(expected, sidecar, 'zt-authz container');
    assert.equal(sidecar.image, 'registry.example/zt-authz:0.1.0', 'the image the chart configured');
    // A pod without volumes gets the whole list (path /spec/volumes), otherwise an append.
    const volOp = ops.find((o) => String(o.path).startsWith('/spec/volumes'))!;
    const volume = (Array.isArray(volOp.value) ? volOp.value[0] : volOp.value) as Obj;
    assertSubset(
      volume,
      (got.spec.volumes as Obj[]).find((v) => v.name === volume.name),
      'sidecar config volume',
    );
    assert.equal(volume.configMap.name, 'zt-authz-sidecar');

    // The chart's filters act in the API server: the webhook never sees an unannotated pod or a
    // namespace outside sidecar.namespaces.
    const metric = async (): Promise<number> =>
      metricValue(await fetchMetrics(app!.adminPort), 'zt_authz_webhook_reviews_total', { outcome: 'injected' }) ?? 0;
    const injected = await metric();
    assert.ok(injected >= 1);
    for (const p of [pod('shop', false), pod('elsewhere', true)]) {
      const r = await create(p);
      assert.equal(r.status, 201, r.text.slice(0, 500));
      assert.deepEqual(names(r.body), ['orders'], `${p.metadata.namespace}/${p.metadata.name} not mutated`);
    }
    assert.equal(await metric(), injected, 'no review sent for them');

    // Webhook down, failurePolicy Fail (the default): an annotated pod is refused and not stored;
    // the matchConditions keep the outage away from every other pod.
    await app.stop();
    app = undefined;
    const refused = pod('shop', true);
    const r = await create(refused);
    assert.ok(r.status >= 500, `refused: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    assert.match(r.body.message as string, /failed calling webhook "inject\.zt-authz\.io"/);
    assert.equal((await kube.api('GET', `/api/v1/namespaces/shop/pods/${refused.metadata.name}`)).status, 404, 'not stored');
    const plain = await create(pod('shop', false));
    assert.equal(plain.status, 201, 'an unannotated pod is unaffected by the outage');

    // failurePolicy Ignore, as the chart renders it: the pod is admitted unchanged (its Envoy then fails closed).
    const ignoring = one(
      render({ ...SIDECAR, webhook: { failurePolicy: 'Ignore' } }, { kubeVersion: kube.version }),
      'MutatingWebhookConfiguration',
    ).webhooks[0].failurePolicy;
    assert.equal(ignoring, 'Ignore');
    const current = await kube.ok<Obj>('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${mwc.metadata.name}`);
    current.webhooks[0].failurePolicy = ignoring;
    await kube.ok('PUT', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${mwc.metadata.name}`, current);
    const admitted = await eventually(
      async () => {
        const res = await create(pod('shop', true));
        return res.status === 201 ? res.body : undefined;
      },
      20_000,
      'an annotated pod admitted with failurePolicy Ignore',
    );
    assert.deepEqual(names(admitted), ['orders'], 'admitted unchanged');
  },
);

/**
 * Every field `expected` sets has that value in `actual`. The API server adds defaults, and lists
 * may grow after the webhook's entries: the reinvoked ServiceAccount plugin appends its token
 * volumeMount to the injected container too.
 */
function assertSubset(expected: unknown, actual: unknown, at: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length >= expected.length, `${at}: array of at least ${expected.length}`);
    expected.forEach((e, i) => assertSubset(e, (actual as unknown[])[i], `${at}[${i}]`));
  } else if (expected && typeof expected === 'object') {
    assert.ok(actual && typeof actual === 'object', `${at}: object`);
    for (const [k, v] of Object.entries(expected)) assertSubset(v, (actual as Obj)[k], `${at}.${k}`);
  } else {
    assert.equal(actual, expected, at);
  }
}
