// Sidecar-injection webhook: AdmissionReview fixtures (test/fixtures/admission/) through the
// handler; every patch is applied with an independent RFC 6902 implementation (fast-json-patch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import jsonpatch from 'fast-json-patch';
import { handleAdmissionReview, CONTAINER_NAME, type ReviewResult } from '../src/webhook/inject.js';
import { resolveWebhook, type WebhookConfig } from '../src/webhook/config.js';
import { resolveConfig, ConfigError } from '../src/config/load.js';

const FIXTURES = new URL('../../test/fixtures/admission/', import.meta.url);
type Obj = Record<string, any>;

const fixture = (name: string): Obj => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as Obj;

const IMAGE = 'ghcr.io/example/zt-authz:0.1.0';
const cfg = (over: Partial<WebhookConfig> = {}): WebhookConfig => ({
  ...resolveWebhook({ enabled: true, certFile: '/x/tls.crt', keyFile: '/x/tls.key', inject: { image: IMAGE } }),
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
  return jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument as Obj;
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
  assert.deepEqual(out.spec.volumes[1], { name: 'zt-authz-config', configMap: { name: 'zt-authz-sidecar', items: [{ key: 'config.yaml', path: 'config.yaml' }] } });
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
  assert.deepEqual(ops, ['add /spec/containers/-', 'add /spec/volumes', 'add /metadata/annotations/zt-authz.io~1injected', 'add /metadata/labels']);
  const out = applyResponse(review.request.object as Obj, response(r));
  assert.deepEqual(out.spec.volumes.map((v: Obj) => v.name), ['zt-authz-config']);
  assert.deepEqual(out.spec.containers.map((c: Obj) => c.name), ['job', 'zt-authz']);
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
    [fixture('malformed-v1beta1.json'), /expected apiVersion admission\.k8s\.io\/v1, kind AdmissionReview; got admission\.k8s\.io\/v1beta1/],
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
    () => resolveConfig({ webhook: { enabled: true, inject: { adminPort: 9191 } } }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.problems.map((p) => p.path);
      assert.deepEqual(paths, ['webhook.certFile', 'webhook.keyFile', 'webhook.inject.image', 'webhook.inject.adminPort']);
      return true;
    },
  );
  assert.throws(() => resolveConfig({ webhook: { failurePolicy: 'Open' } }), /webhook\.failurePolicy: must be one of Fail, Ignore/);
  assert.throws(() => resolveConfig({ webhook: { inject: { resources: { limits: { memory: 'lots' } } } } }), /webhook\.inject\.resources\.limits\.memory/);
  const c = resolveConfig({});
  assert.equal(c.webhook.enabled, false);
  assert.equal(c.webhook.failurePolicy, 'Fail');
  assert.equal(c.webhook.address, '0.0.0.0:9443');
});
