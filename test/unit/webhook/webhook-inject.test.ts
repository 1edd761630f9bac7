// Sidecar-injection webhook: AdmissionReview fixtures (test/fixtures/admission/) through the
// handler; every patch is applied with an independent RFC 6902 implementation (fast-json-patch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import jsonpatch from 'fast-json-patch';
import { handleAdmissionReview, CONTAINER_NAME, type ReviewResult } from '../../../src/webhook/inject.js';
import type { WebhookConfig } from '../../../src/config/webhook.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import { ConfigError } from '../../../src/config/problems.js';

const FIXTURES = new URL('../../../../test/fixtures/admission/', import.meta.url);
type Obj = Record<string, any>;

const fixture = (name: string): Obj => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as Obj;

const IMAGE = 'ghcr.io/example/zt-authz:0.1.0';
const cfg = (over: Partial<WebhookConfig> = {}): WebhookConfig => ({
  ...checkConfig({ webhook: { enabled: true, certFile: '/x/tls.crt', keyFile: '/x/tls.key', inject: { image: IMAGE } } }).config.webhook,
  ...over,
});

function response(r: ReviewResult): Obj {
  assert.equal(r.status, 200, `HTTP status (${r.detail ?? ''})`);
  const body = r.body as Obj;
  assert.equal(body.apiVersion, 'admission.k8s.io/v1');
  assert.equal(body.kind, 'AdmissionReview');
  return body.response as Obj;
}

/** Decodes the base64 patch of a response, checks it is valid JSONPatch for `pod`, and applies it. */
function applyResponse(pod: Obj, resp: Obj): Obj {
  assert.equal(resp.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(resp.patch as string, 'base64').toString('utf8')) as jsonpatch.Operation[];
  assert.ok(Array.isArray(ops) && ops.length > 0);
  const err = jsonpatch.validate(ops, structuredClone(pod));
  assert.equal(err, undefined, `patch validates against the pod: ${String(err)}`);
  return jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
}

/** The same review, for the pod as the API server would see it after our patch. */
function reviewOf(review: Obj, pod: Obj): Obj {
  const r = structuredClone(review);
  r.request.object = pod;
  r.request.uid = `${String(review.request.uid)}-again`;
  return r;
}

test('annotated pod: a valid JSONPatch adds the hardened zt-authz container, its config volume and an annotation', () => {
  const review = fixture('pod-annotated.json');
  const pod = review.request.object as Obj;
  const r = handleAdmissionReview(review, cfg());
  assert.equal(r.outcome, 'injected');
  const resp = response(r);
  assert.equal(resp.uid, review.request.uid);
  assert.equal(resp.allowed, true);
  const out = applyResponse(pod, resp);

  // Everything the pod had is untouched; one container and one volume were appended.
  assert.deepEqual(out.spec.containers[0], pod.spec.containers[0]);
  assert.equal(out.spec.containers.length, 2);
  assert.deepEqual(out.spec.volumes[0], pod.spec.volumes[0]);
  assert.equal(out.spec.volumes.length, 2);
  assert.equal(out.metadata.annotations['zt-authz.io/inject'], 'true');
  assert.equal(out.metadata.annotations['zt-authz.io/policy'], 'orders-api');
  assert.equal(out.metadata.annotations['zt-authz.io/injected'], IMAGE);
  assert.deepEqual(out.metadata.labels, { ...pod.metadata.labels, 'zt-authz.io/injected': 'true' }, 'a label for the PodMonitor');

  const c = out.spec.containers[1] as Obj;
  assert.equal(c.name, CONTAINER_NAME);
  assert.equal(c.image, IMAGE);
  assert.deepEqual(c.args, ['--config', '/etc/zt-authz/config.yaml']);
  assert.deepEqual(c.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 9090, scheme: 'HTTP' });
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 9090, scheme: 'HTTP' });
  assert.deepEqual(c.ports, [{ name: 'ztauthz-admin', containerPort: 9090, protocol: 'TCP' }]);
  assert.deepEqual(c.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
  // Downward API: pod name and namespace.
  const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  assert.equal(env.POD_NAME, 'metadata.name');
  assert.equal(env.POD_NAMESPACE, 'metadata.namespace');
  // Configuration: the ConfigMap of the pod's namespace, read-only.
  assert.deepEqual(c.volumeMounts, [{ name: 'zt-authz-config', mountPath: '/etc/zt-authz', readOnly: true }]);
  assert.deepEqual(out.spec.volumes[1], {
    name: 'zt-authz-config',
    configMap: { name: 'zt-authz-sidecar', items: [{ key: 'config.yaml', path: 'config.yaml' }] },
  });
});

test('idempotent: the patched pod, reviewed again, gets no patch', () => {
  for (const name of ['pod-annotated.json', 'pod-annotated-no-volumes.json']) {
    const review = fixture(name);
    const patched = applyResponse(review.request.object as Obj, response(handleAdmissionReview(review, cfg())));
    const again = handleAdmissionReview(reviewOf(review, patched), cfg());
    assert.equal(again.outcome, 'already_injected', name);
    const resp = response(again);
    assert.equal(resp.allowed, true);
    assert.equal(resp.patch, undefined, `${name}: no second patch`);
    assert.equal(resp.patchType, undefined);
  }
});

test('pod without volumes or other annotations: the patch creates the lists it appends to', () => {
  const review = fixture('pod-annotated-no-volumes.json');
  const r = handleAdmissionReview(review, cfg());
  const ops = r.patch!.map((o) => `${o.op} ${o.path}`);
  assert.deepEqual(ops, [
    'add /spec/containers/-',
    'add /spec/volumes',
    'add /metadata/annotations/zt-authz.io~1injected',
    'add /metadata/annotations/traffic.sidecar.istio.io~1excludeInboundPorts',
    'add /metadata/labels',
  ]);
  const out = applyResponse(review.request.object as Obj, response(r));
  assert.deepEqual(
    out.spec.volumes.map((v: Obj) => v.name),
    ['zt-authz-config'],
  );
  assert.deepEqual(
    out.spec.containers.map((c: Obj) => c.name),
    ['job', 'zt-authz'],
  );
  assert.deepEqual(out.metadata.labels, { 'zt-authz.io/injected': 'true' });
});

test('unannotated, inject "false", and an unknown value: admitted unchanged (the last with a warning)', () => {
  for (const name of ['pod-unannotated.json', 'pod-annotated-false.json']) {
    const r = handleAdmissionReview(fixture(name), cfg());
    assert.equal(r.outcome, 'not_requested', name);
    const resp = response(r);
    assert.deepEqual(Object.keys(resp).sort(), ['allowed', 'uid'], name);
    assert.equal(resp.allowed, true);
  }
  const resp = response(handleAdmissionReview(fixture('pod-annotated-invalid-value.json'), cfg()));
  assert.equal(resp.allowed, true);
  assert.equal(resp.patch, undefined);
  assert.match(resp.warnings[0], /zt-authz\.io\/inject: "yes" is neither "true" nor "false"/);
});

test('already-injected pod (e.g. webhook re-invocation): no patch', () => {
  const r = handleAdmissionReview(fixture('pod-already-injected.json'), cfg());
  assert.equal(r.outcome, 'already_injected');
  assert.equal(response(r).patch, undefined);
});

test('not a pod CREATE (a Deployment, a pod UPDATE): allowed, untouched', () => {
  for (const name of ['deployment-create.json', 'pod-update.json']) {
    const r = handleAdmissionReview(fixture(name), cfg());
    assert.equal(r.outcome, 'ignored', name);
    assert.deepEqual(response(r), { uid: fixture(name).request.uid, allowed: true });
  }
});

test('injection impossible: failurePolicy Fail rejects the pod with the reason, Ignore admits it unchanged with a warning', () => {
  const cases: Array<[string, RegExp]> = [
    ['pod-port-conflict.json', /container "orders" uses port 9090, which the zt-authz sidecar needs \(admin\)/],
    ['pod-host-network.json', /hostNetwork pods share the node's 127\.0\.0\.1/],
    ['pod-broken-spec.json', /spec\.containers must be a list of named containers/],
  ];
  for (const [name, why] of cases) {
    const review = fixture(name);
    const closed = handleAdmissionReview(review, cfg({ failurePolicy: 'Fail' }));
    assert.equal(closed.outcome, 'rejected', name);
    const c = response(closed);
    assert.equal(c.uid, review.request.uid);
    assert.equal(c.allowed, false);
    assert.equal(c.status.code, 400);
    assert.match(c.status.message, /^zt-authz sidecar injection failed: /);
    assert.match(c.status.message, why);
    assert.equal(c.patch, undefined);

    const open = handleAdmissionReview(review, cfg({ failurePolicy: 'Ignore' }));
    assert.equal(open.outcome, 'failed_open', name);
    const o = response(open);
    assert.equal(o.allowed, true);
    assert.equal(o.patch, undefined);
    assert.match(o.warnings[0], why);
  }
});

test('ports are configurable: moving the sidecar admin port resolves the conflict', () => {
  const base = cfg();
  const moved = { ...base, inject: { ...base.inject, adminPort: 15990 } };
  const review = fixture('pod-port-conflict.json');
  const out = applyResponse(review.request.object as Obj, response(handleAdmissionReview(review, moved)));
  const c = out.spec.containers.at(-1) as Obj;
  assert.equal(c.readinessProbe.httpGet.port, 15990);
  assert.equal(c.ports[0].containerPort, 15990);
});

test('malformed reviews get HTTP 400 with a JSON error saying what is wrong', () => {
  const cases: Array<[unknown, RegExp]> = [
    [
      fixture('malformed-v1beta1.json'),
      /expected apiVersion admission\.k8s\.io\/v1, kind AdmissionReview; got admission\.k8s\.io\/v1beta1/,
    ],
    [fixture('malformed-no-uid.json'), /request has no uid/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /has no request/],
    [[1, 2], /JSON AdmissionReview object/],
    ['text', /JSON AdmissionReview object/],
  ];
  for (const [body, why] of cases) {
    const r = handleAdmissionReview(body, cfg());
    assert.equal(r.status, 400);
    assert.equal(r.outcome, 'malformed');
    assert.equal((r.body as Obj).error, 'malformed_admission_review');
    assert.match((r.body as Obj).message, why);
  }
});

test('config: webhook.enabled needs certFile, keyFile and inject.image; sidecar ports must differ', () => {
  assert.throws(
    () => checkConfig({ webhook: { enabled: true, inject: { adminPort: 9191 } } }).config,
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.problems.map((p) => p.path);
      assert.deepEqual(paths, ['webhook.certFile', 'webhook.keyFile', 'webhook.inject.image', 'webhook.inject.adminPort']);
      return true;
    },
  );
  assert.throws(() => checkConfig({ webhook: { failurePolicy: 'Open' } }).config, /webhook\.failurePolicy: must be one of Fail, Ignore/);
  assert.throws(
    () => checkConfig({ webhook: { inject: { resources: { limits: { memory: 'lots' } } } } }).config,
    /webhook\.inject\.resources\.limits\.memory/,
  );
  const c = checkConfig({}).config;
  assert.equal(c.webhook.enabled, false);
  assert.equal(c.webhook.failurePolicy, 'Fail');
  assert.equal(c.webhook.address, '0.0.0.0:9443');
});

// --- Istio -----------------------------------------------------------------------------------

const EXCLUDE = 'traffic.sidecar.istio.io/excludeInboundPorts';
const envOf = (c: Obj, name: string): string | undefined => (c.env as Obj[] | undefined)?.find((e) => e.name === name)?.value;
const proxyOf = (pod: Obj): Obj => [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c: Obj) => c.name === 'istio-proxy');
const sidecarOf = (pod: Obj): Obj => pod.spec.containers.find((c: Obj) => c.name === CONTAINER_NAME);
const withPod = (review: Obj, edit: (pod: Obj) => void): Obj => {
  const r = structuredClone(review);
  edit(r.request.object);
  return r;
};

/**
 * What Istio's agent does with a probe the kubelet sends to its status port: look the path up in
 * ISTIO_KUBE_APP_PROBERS and probe that target. Returns the target the kubelet's probe reaches.
 */
function agentTarget(pod: Obj, probe: Obj): { port: number; path: string; via: 'agent' | 'direct' } {
  const get = probe.httpGet as Obj;
  if (get.port !== 15020) return { port: get.port, path: get.path, via: 'direct' };
  const probers = JSON.parse(envOf(proxyOf(pod), 'ISTIO_KUBE_APP_PROBERS') ?? '{}') as Obj;
  const target = probers[get.path]?.httpGet;
  assert.ok(target, `istio-proxy knows ${get.path as string}`);
  return { port: target.port, path: target.path, via: 'agent' };
}

test('no istio-proxy yet: the admin port is excluded from Istio inbound capture (merged into an existing list), probes stay direct', () => {
  const review = fixture('pod-annotated.json');
  let out = applyResponse(review.request.object as Obj, response(handleAdmissionReview(review, cfg())));
  assert.equal(
    out.metadata.annotations[EXCLUDE],
    '9090',
    'Istio, running after us (or istio-cni at pod start), leaves the admin port alone',
  );
  assert.deepEqual(agentTarget(out, sidecarOf(out).readinessProbe), { port: 9090, path: '/readyz', via: 'direct' });

  out = applyResponse(
    review.request.object as Obj,
    response(
      handleAdmissionReview(
        withPod(review, (p) => (p.metadata.annotations[EXCLUDE] = '8081, 9000')),
        cfg(),
      ),
    ),
  );
  assert.equal(out.metadata.annotations[EXCLUDE], '8081, 9000,9090', "the workload's own exclusions are kept");
  const r = handleAdmissionReview(
    withPod(review, (p) => (p.metadata.annotations[EXCLUDE] = '9000,9090')),
    cfg(),
  );
  assert.ok(!r.patch!.some((o) => o.path.endsWith('excludeInboundPorts')), 'already listed: left as it is');
});

test('Istio injected first (istio-proxy present): zt-authz probes go through the Istio agent and are registered with it', () => {
  const review = fixture('pod-istio-injected.json');
  const pod = review.request.object as Obj;
  const r = handleAdmissionReview(review, cfg());
  assert.equal(r.outcome, 'injected');
  const out = applyResponse(pod, response(r));

  // The kubelet probes the agent's status port (not captured, plain HTTP), which probes zt-authz.
  const c = sidecarOf(out);
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/app-health/zt-authz/readyz', port: 15020, scheme: 'HTTP' });
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/app-health/zt-authz/livez', port: 15020, scheme: 'HTTP' });
  assert.equal(c.readinessProbe.periodSeconds, 5, 'timing is kept');
  assert.deepEqual(agentTarget(out, c.readinessProbe), { port: 9090, path: '/readyz', via: 'agent' });
  assert.deepEqual(agentTarget(out, c.livenessProbe), { port: 9090, path: '/healthz', via: 'agent' });
  const probers = JSON.parse(envOf(proxyOf(out), 'ISTIO_KUBE_APP_PROBERS')!);
  assert.deepEqual(probers['/app-health/zt-authz/readyz'], { httpGet: { path: '/readyz', port: 9090, scheme: 'HTTP' }, timeoutSeconds: 2 });
  assert.deepEqual(
    probers['/app-health/orders/readyz'],
    JSON.parse(envOf(proxyOf(pod), 'ISTIO_KUBE_APP_PROBERS')!)['/app-health/orders/readyz'],
    "the app's probe stays registered",
  );

  // Nothing else of Istio's or the app's changes; the exclusion is added for istio-cni.
  assert.deepEqual(out.spec.containers[0], pod.spec.containers[0]);
  assert.deepEqual(out.spec.initContainers, pod.spec.initContainers);
  const { env: _e1, ...proxyRest } = proxyOf(out);
  const { env: _e2, ...proxyBefore } = proxyOf(pod);
  assert.deepEqual(proxyRest, proxyBefore);
  assert.equal(proxyOf(out).env.length, proxyOf(pod).env.length, 'the probers variable is replaced, not duplicated');
  assert.equal(out.metadata.annotations[EXCLUDE], '9090');
  assert.equal(out.metadata.annotations['prometheus.io/port'], '15020', "Istio's metrics merge stays");
  assert.equal(envOf(proxyOf(out), 'ISTIO_PROMETHEUS_ANNOTATIONS'), undefined, 'prometheusAnnotations off: not merged');

  // Re-invocation (ours, or Istio's with reinvocationPolicy IfNeeded): nothing more from us.
  assert.equal(handleAdmissionReview(reviewOf(review, out), cfg()).outcome, 'already_injected');
});

test('Istio injected first, variants: native sidecar, no env, custom status port, rewrite opted out, metrics merge', () => {
  const review = fixture('pod-istio-injected.json');
  const inject = (r: Obj, c = cfg()) => applyResponse(r.request.object as Obj, response(handleAdmissionReview(r, c)));

  // istio-proxy as a native sidecar (init container, restartPolicy Always), without the probers variable.
  let r = withPod(review, (p) => {
    const proxy = p.spec.containers.pop();
    proxy.restartPolicy = 'Always';
    proxy.env = proxy.env.filter((e: Obj) => e.name !== 'ISTIO_KUBE_APP_PROBERS');
    p.spec.initContainers.push(proxy);
  });
  let out = inject(r);
  assert.deepEqual(agentTarget(out, sidecarOf(out).readinessProbe), { port: 9090, path: '/readyz', via: 'agent' });
  assert.deepEqual(Object.keys(JSON.parse(envOf(proxyOf(out), 'ISTIO_KUBE_APP_PROBERS')!)).sort(), [
    '/app-health/zt-authz/livez',
    '/app-health/zt-authz/readyz',
  ]);

  // istio-proxy with no env list at all.
  out = inject(withPod(review, (p) => delete proxyOf(p).env));
  assert.deepEqual(
    proxyOf(out).env.map((e: Obj) => e.name),
    ['ISTIO_KUBE_APP_PROBERS'],
  );

  // status.sidecar.istio.io/port moves the agent.
  out = inject(withPod(review, (p) => (p.metadata.annotations['status.sidecar.istio.io/port'] = '15999')));
  assert.equal(sidecarOf(out).readinessProbe.httpGet.port, 15999);

  // The pod owner turned probe rewriting off, or the agent has no status port: probes stay direct.
  for (const [key, value] of [
    ['sidecar.istio.io/rewriteAppHTTPProbers', 'false'],
    ['status.sidecar.istio.io/port', '0'],
  ]) {
    r = withPod(review, (p) => (p.metadata.annotations[key!] = value));
    out = inject(r);
    assert.deepEqual(sidecarOf(out).readinessProbe.httpGet, { path: '/readyz', port: 9090, scheme: 'HTTP' }, `${key}: ${value}`);
    assert.equal(
      envOf(proxyOf(out), 'ISTIO_KUBE_APP_PROBERS'),
      envOf(proxyOf(r.request.object), 'ISTIO_KUBE_APP_PROBERS'),
      `${key}: ${value}: istio-proxy untouched`,
    );
  }

  // prometheusAnnotations: Istio's merge (prometheus.io/port = its agent) also serves zt-authz's metrics.
  const scrape = cfg();
  scrape.inject = { ...scrape.inject, prometheusAnnotations: true };
  out = inject(review, scrape);
  assert.deepEqual(JSON.parse(envOf(proxyOf(out), 'ISTIO_PROMETHEUS_ANNOTATIONS')!), { scrape: 'true', port: '9090', path: '/metrics' });
  assert.equal(out.metadata.annotations['prometheus.io/port'], '15020');
  // …unless Istio already merges the app's own metrics (or scraping is off).
  for (const edit of [
    (p: Obj) => proxyOf(p).env.push({ name: 'ISTIO_PROMETHEUS_ANNOTATIONS', value: '{"scrape":"true","port":"8080","path":"/metrics"}' }),
    (p: Obj) => (p.metadata.annotations['prometheus.io/scrape'] = 'false'),
  ]) {
    r = withPod(review, edit);
    out = inject(r, scrape);
    assert.equal(envOf(proxyOf(out), 'ISTIO_PROMETHEUS_ANNOTATIONS'), envOf(proxyOf(r.request.object), 'ISTIO_PROMETHEUS_ANNOTATIONS'));
  }
});

test('Istio injected first, istio-proxy without env: the probers and the metrics registration both land in one new env list', () => {
  const review = fixture('pod-istio-injected.json');
  const scrape = cfg();
  scrape.inject = { ...scrape.inject, prometheusAnnotations: true };
  const r = withPod(review, (p) => delete proxyOf(p).env);
  assert.equal(r.request.object.metadata.annotations['prometheus.io/port'], '15020', "the fixture carries Istio's metrics merge");
  const out = applyResponse(r.request.object as Obj, response(handleAdmissionReview(r, scrape)));
  // Two `add …/env` of one item each would leave only the second: the probers would be lost and the pod never Ready.
  assert.deepEqual(
    proxyOf(out).env.map((e: Obj) => e.name),
    ['ISTIO_KUBE_APP_PROBERS', 'ISTIO_PROMETHEUS_ANNOTATIONS'],
  );
  assert.deepEqual(agentTarget(out, sidecarOf(out).readinessProbe), { port: 9090, path: '/readyz', via: 'agent' });
  assert.deepEqual(agentTarget(out, sidecarOf(out).livenessProbe), { port: 9090, path: '/healthz', via: 'agent' });
  assert.deepEqual(JSON.parse(envOf(proxyOf(out), 'ISTIO_PROMETHEUS_ANNOTATIONS')!), { scrape: 'true', port: '9090', path: '/metrics' });

  // An env list without either variable: both appended, nothing else touched.
  const r2 = withPod(review, (p) => (proxyOf(p).env = proxyOf(p).env.filter((e: Obj) => e.name !== 'ISTIO_KUBE_APP_PROBERS')));
  const out2 = applyResponse(r2.request.object as Obj, response(handleAdmissionReview(r2, scrape)));
  assert.deepEqual(proxyOf(out2).env.slice(0, -2), proxyOf(r2.request.object).env);
  assert.deepEqual(
    proxyOf(out2)
      .env.slice(-2)
      .map((e: Obj) => e.name),
    ['ISTIO_KUBE_APP_PROBERS', 'ISTIO_PROMETHEUS_ANNOTATIONS'],
  );

  // An entry with neither value nor valueFrom is "" to Kubernetes: ours is set there, not refused.
  const r3 = withPod(review, (p) => delete proxyOf(p).env.find((e: Obj) => e.name === 'ISTIO_KUBE_APP_PROBERS').value);
  const out3 = applyResponse(r3.request.object as Obj, response(handleAdmissionReview(r3, cfg())));
  assert.equal(proxyOf(out3).env.length, proxyOf(r3.request.object).env.length);
  assert.deepEqual(agentTarget(out3, sidecarOf(out3).readinessProbe), { port: 9090, path: '/readyz', via: 'agent' });
});

test('sidecar.istio.io/rewriteAppHTTPProbers is read as Istio reads it (Go ParseBool; unparsable: the mesh default, rewrite)', () => {
  const review = fixture('pod-istio-injected.json');
  const viaAgent = (value: string): boolean => {
    const r = withPod(review, (p) => (p.metadata.annotations['sidecar.istio.io/rewriteAppHTTPProbers'] = value));
    const out = applyResponse(r.request.object as Obj, response(handleAdmissionReview(r, cfg())));
    const via = agentTarget(out, sidecarOf(out).readinessProbe).via;
    const probersChanged = envOf(proxyOf(out), 'ISTIO_KUBE_APP_PROBERS') !== envOf(proxyOf(r.request.object), 'ISTIO_KUBE_APP_PROBERS');
    assert.equal(probersChanged, via === 'agent', `${value}: istio-proxy registration matches the probe`);
    return via === 'agent';
  };
  for (const v of ['false', 'False', 'FALSE', 'f', 'F', '0']) assert.equal(viaAgent(v), false, `"${v}" opts out`);
  for (const v of ['true', 'True', 'TRUE', 't', 'T', '1']) assert.equal(viaAgent(v), true, `"${v}" keeps the rewrite`);
  // strconv.ParseBool fails on these; Istio then uses sidecarInjectorWebhook.rewriteAppHTTPProbe (default true).
  for (const v of ['no', 'off', 'yes', '', ' false']) assert.equal(viaAgent(v), true, `"${v}" is not a Go bool: mesh default`);
});

test('excludeInboundPorts: a pod without the annotation starts from the mesh default (webhook.inject.istioExcludeInboundPorts); its own annotation replaces it, as in Istio', () => {
  const review = fixture('pod-annotated.json');
  const mesh = cfg();
  mesh.inject = { ...mesh.inject, istioExcludeInboundPorts: [15090, 8081] };
  const excluded = (c: WebhookConfig, own?: string): string | undefined => {
    const r = withPod(review, (p) =>
      own === undefined ? delete p.metadata.annotations[EXCLUDE] : (p.metadata.annotations[EXCLUDE] = own),
    );
    return applyResponse(r.request.object as Obj, response(handleAdmissionReview(r, c))).metadata.annotations[EXCLUDE];
  };
  assert.equal(excluded(mesh), '15090,8081,9090', 'the mesh exclusions stay in force once the pod has an annotation');
  assert.equal(excluded(mesh, '7000'), '7000,9090', "the pod's own list wins over the mesh value in Istio, so only ours is added");
  assert.equal(excluded(mesh, ''), '9090', 'an empty annotation is the pod saying "none" (Istio reads it so)');
  const withAdmin = cfg();
  withAdmin.inject = { ...withAdmin.inject, istioExcludeInboundPorts: [9090, 8081] };
  assert.equal(excluded(withAdmin), '9090,8081');
  assert.equal(excluded(cfg()), '9090', 'no mesh default configured');

  // Through the configuration file: the key is validated and resolved.
  const w = checkConfig({
    webhook: { enabled: true, certFile: '/c', keyFile: '/k', inject: { image: IMAGE, istioExcludeInboundPorts: [15090, 8081] } },
  }).config.webhook;
  assert.equal(excluded(w), '15090,8081,9090');
  assert.deepEqual(checkConfig({}).config.webhook.inject.istioExcludeInboundPorts, []);
  assert.throws(
    () => checkConfig({ webhook: { inject: { istioExcludeInboundPorts: [0] } } }).config,
    /webhook\.inject\.istioExcludeInboundPorts/,
  );
  assert.throws(
    () => checkConfig({ webhook: { inject: { istioExcludeInboundPorts: '15090' } } }).config,
    /webhook\.inject\.istioExcludeInboundPorts/,
  );
});

test('Istio injected first but its probers variable cannot be merged: failurePolicy decides (Fail rejects, Ignore admits unchanged)', () => {
  for (const value of [{ value: 'not json' }, { value: '[1]' }, { valueFrom: { configMapKeyRef: { name: 'x', key: 'y' } } }]) {
    const review = withPod(fixture('pod-istio-injected.json'), (p) => {
      const e = proxyOf(p).env.find((x: Obj) => x.name === 'ISTIO_KUBE_APP_PROBERS');
      delete e.value;
      Object.assign(e, value);
    });
    const closed = response(handleAdmissionReview(review, cfg({ failurePolicy: 'Fail' })));
    assert.equal(closed.allowed, false, JSON.stringify(value));
    assert.match(closed.status.message, /istio-proxy env ISTIO_KUBE_APP_PROBERS/);
    const open = response(handleAdmissionReview(review, cfg({ failurePolicy: 'Ignore' })));
    assert.equal(open.allowed, true);
    assert.equal(open.patch, undefined);
  }
});

test('prometheusAnnotations: scrape annotations for the admin port on pods without any; a pod with its own (any spelling) keeps them', () => {
  const review = fixture('pod-annotated.json');
  const on = cfg();
  on.inject = { ...on.inject, prometheusAnnotations: true, adminPort: 19090 };
  let out = applyResponse(review.request.object as Obj, response(handleAdmissionReview(review, on)));
  assert.equal(out.metadata.annotations['prometheus.io/scrape'], 'true');
  assert.equal(out.metadata.annotations['prometheus.io/port'], '19090');
  assert.equal(out.metadata.annotations['prometheus.io/path'], '/metrics');

  for (const key of ['prometheus.io/scrape', 'prometheus.io.scrape', 'prometheus-io/port', 'prometheus_io_path']) {
    const r = withPod(review, (p) => (p.metadata.annotations[key] = key.endsWith('scrape') ? 'false' : '8080'));
    out = applyResponse(r.request.object as Obj, response(handleAdmissionReview(r, on)));
    assert.deepEqual(
      Object.keys(out.metadata.annotations).filter((k) => /^prometheus/.test(k)),
      [key],
      `${key}: nothing added beside the workload's own`,
    );
  }
  out = applyResponse(review.request.object as Obj, response(handleAdmissionReview(review, cfg())));
  assert.ok(!Object.keys(out.metadata.annotations).some((k) => k.startsWith('prometheus.io/')), 'off by default');
});
