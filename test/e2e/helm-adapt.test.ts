// A chart platform teams adapt without forking it: the escape hatches (extraEnv, extraArgs,
// extraVolumes, extraVolumeMounts, extraObjects, commonLabels, podSecurityContext,
// containerSecurityContext), the CRDs as upgradable templates (crds.enabled, crds.keep), the chart
// metadata, and the same chart checked with Helm 3 and Helm 4 (lint --strict and template of the
// defaults and of a full-featured values set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART, ROOT, SIDECAR, helm, helmSkip, one, ofKind, render, valuesFile, type HelmMajor, type K8sObject } from '../helpers/helm.js';

const skip = helmSkip() || helmSkip(4);
const MAJORS: HelmMajor[] = [3, 4];

/** Every hatch at once, on top of sidecar mode with Istio, TLS and a ServiceMonitor: the most objects the chart renders. */
const FULL = {
  ...SIDECAR,
  sidecar: { ...SIDECAR.sidecar, extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' }] },
  istio: {
    enabled: true,
    authorizationPolicies: [{ name: 'orders', namespace: 'shop', selector: { matchLabels: { app: 'orders' } } }],
  },
  metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } },
  tls: { enabled: true, secretName: 'zt-authz-tls', clientCa: { enabled: true } },
  autoscaling: { enabled: false },
  replicaCount: 3,
  commonLabels: { team: 'platform', 'example.com/cost-center': '1234' },
  extraEnv: [
    { name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' },
    { name: 'TEAM', valueFrom: { configMapKeyRef: { name: 'team-info', key: 'team' } } },
  ],
  extraArgs: ['--log-level', 'debug'],
  extraVolumes: [{ name: 'corp-ca', configMap: { name: 'corp-ca' } }],
  extraVolumeMounts: [{ name: 'corp-ca', mountPath: '/etc/corp-ca', readOnly: true }],
  extraObjects: [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ include "zt-authz.fullname" . }}-corp-ca' }, data: { 'ca.crt': 'x' } },
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-from-a-string\n  namespace: {{ .Release.Namespace }}\n',
  ],
  podSecurityContext: { fsGroupChangePolicy: 'OnRootMismatch' },
  containerSecurityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } },
};

const API_VERSIONS = ['monitoring.coreos.com/v1', 'security.istio.io/v1', 'networking.istio.io/v1'];

/** The security contexts the chart hard-coded before they became values: the defaults must stay exactly these. */
const HARDENED_POD = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
};
const HARDENED_CONTAINER = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

const deploymentOf = (objs: K8sObject[]): K8sObject => one(objs, 'Deployment');
const containerOf = (objs: K8sObject[]): K8sObject => deploymentOf(objs).spec.template.spec.containers[0];

test('defaults: the pod and container security contexts are exactly the hardened ones (nothing weaker by default)', { skip }, () => {
  for (const helmMajor of MAJORS) {
    for (const values of [{}, SIDECAR]) {
      const objs = render(values, { helm: helmMajor });
      assert.deepEqual(deploymentOf(objs).spec.template.spec.securityContext, HARDENED_POD, `helm ${helmMajor} pod`);
      assert.deepEqual(containerOf(objs).securityContext, HARDENED_CONTAINER, `helm ${helmMajor} container`);
      // Nothing extra by default.
      const c = containerOf(objs);
      assert.deepEqual(c.args, ['--config', '/etc/zt-authz/config.yaml']);
      assert.deepEqual(
        c.env.map((e: K8sObject) => e.name),
        ['POD_NAME', 'POD_NAMESPACE'],
      );
      assert.equal(ofKind(objs, 'ConfigMap').filter((o) => /corp-ca|from-a-string/.test(o.metadata.name)).length, 0);
    }
  }
});

test(
  'security contexts: a key given is merged over the hardened defaults; runAsUser feeds the ids; a default set to null is removed',
  { skip },
  () => {
    const objs = render({ runAsUser: 10001, ...FULL }, { apiVersions: API_VERSIONS });
    assert.deepEqual(deploymentOf(objs).spec.template.spec.securityContext, {
      ...HARDENED_POD,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      fsGroupChangePolicy: 'OnRootMismatch',
    });
    assert.deepEqual(containerOf(objs).securityContext, {
      ...HARDENED_CONTAINER,
      runAsUser: 10001,
      runAsGroup: 10001,
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    });
    const own = render({
      podSecurityContext: { runAsUser: 2000, seccompProfile: null },
      containerSecurityContext: { readOnlyRootFilesystem: null },
    });
    const pod = deploymentOf(own).spec.template.spec.securityContext;
    assert.equal(pod.runAsUser, 2000, 'a key set in podSecurityContext wins over runAsUser');
    assert.equal(pod.seccompProfile, undefined, 'null removes a default');
    assert.equal(containerOf(own).securityContext.readOnlyRootFilesystem, undefined);
    assert.equal(containerOf(own).securityContext.allowPrivilegeEscalation, false, 'the other defaults stay');
  },
);

test(
  'escape hatches on the Deployment: env, args, volumes and mounts appended to the chart own; extraObjects rendered through tpl',
  { skip },
  () => {
    for (const helmMajor of MAJORS) {
      const objs = render(FULL, { helm: helmMajor, apiVersions: API_VERSIONS, release: 'edge', namespace: 'authz' });
      const c = containerOf(objs);
      const spec = deploymentOf(objs).spec.template.spec;
      assert.deepEqual(c.args, ['--config', '/etc/zt-authz/config.yaml', '--log-level', 'debug'], `helm ${helmMajor}`);
      assert.deepEqual(
        c.env.map((e: K8sObject) => e.name),
        ['POD_NAME', 'POD_NAMESPACE', 'HTTPS_PROXY', 'TEAM'],
      );
      assert.deepEqual(c.env[3].valueFrom, { configMapKeyRef: { name: 'team-info', key: 'team' } });
      const mounts = c.volumeMounts.map((m: K8sObject) => m.name);
      assert.deepEqual(mounts.slice(0, 1), ['config'], "the chart's mounts first");
      assert.deepEqual(c.volumeMounts.at(-1), { name: 'corp-ca', mountPath: '/etc/corp-ca', readOnly: true });
      assert.ok(mounts.includes('webhook-tls') && mounts.includes('authz-tls'));
      assert.deepEqual(spec.volumes.at(-1), { name: 'corp-ca', configMap: { name: 'corp-ca' } });
      // Every mount names a volume of the pod.
      for (const m of mounts)
        assert.ok(
          spec.volumes.some((v: K8sObject) => v.name === m),
          `volume for mount ${m}`,
        );
      const a = one(objs, 'ConfigMap', 'edge-zt-authz-corp-ca');
      assert.deepEqual(a.data, { 'ca.crt': 'x' });
      const b = one(objs, 'ConfigMap', 'edge-from-a-string');
      assert.equal(b.metadata.namespace, 'authz');
      // The injected sidecar takes sidecar.extraEnv through the webhook's configuration (webhook.inject.env).
      const config = parse(one(objs, 'ConfigMap', 'edge-zt-authz').data['config.yaml']) as K8sObject;
      assert.deepEqual(config.webhook.inject.env, [{ name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' }]);
    }
  },
);

test(
  'commonLabels: on every object the chart renders (CRDs, hooks, per-namespace ConfigMaps) and on the pod template; never on selectors',
  { skip },
  () => {
    for (const helmMajor of MAJORS) {
      const objs = render(FULL, { helm: helmMajor, apiVersions: API_VERSIONS });
      const chartObjects = objs.filter((o) => !/corp-ca|from-a-string/.test(o.metadata.name));
      assert.ok(chartObjects.length >= 20, `${chartObjects.length} objects`);
      for (const kind of [
        'CustomResourceDefinition',
        'MutatingWebhookConfiguration',
        'Secret',
        'ServiceMonitor',
        'PrometheusRule',
        'Pod',
        'AuthorizationPolicy',
      ]) {
        assert.ok(ofKind(chartObjects, kind).length > 0, `FULL renders a ${kind}`);
      }
      for (const o of chartObjects) {
        assert.equal(o.metadata.labels?.team, 'platform', `helm ${helmMajor}: ${o.kind} ${o.metadata.name} has commonLabels`);
        assert.equal(o.metadata.labels?.['example.com/cost-center'], '1234');
      }
      const dep = deploymentOf(objs);
      assert.equal(dep.spec.template.metadata.labels.team, 'platform', 'pod template');
      assert.equal(dep.spec.selector.matchLabels.team, undefined, 'not in the (immutable) selector');
      assert.equal(one(objs, 'Service').spec.selector.team, undefined);
    }
  },
);

test("commonLabels may not redefine the chart's own labels: the schema and the template name the key", { skip }, () => {
  const r = helm(['template', 'zt-authz', CHART, '-f', valuesFile({ commonLabels: { 'app.kubernetes.io/name': 'other' } })]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /invalid propertyName 'app\.kubernetes\.io\/name'/);
  // The template's own check (a chart installed with --skip-schema-validation still refuses it).
  const t = helm(['template', 'zt-authz', CHART, '--skip-schema-validation', '-f', valuesFile({ commonLabels: { 'helm.sh/chart': 'x' } })]);
  assert.notEqual(t.status, 0);
  assert.match(t.stderr, /commonLabels: helm\.sh\/chart is one of the chart's own labels/);
  for (const bad of [
    { extraEnv: [{ value: 'x' }] },
    { extraVolumeMounts: [{ name: 'v' }] },
    { extraVolumes: [{ configMap: { name: 'x' } }] },
  ]) {
    const s = helm(['template', 'zt-authz', CHART, '-f', valuesFile(bad)]);
    assert.notEqual(s.status, 0, JSON.stringify(bad));
    assert.match(s.stderr, /missing propert/);
  }
});

test(
  'CRDs are templates: rendered by default with helm.sh/resource-policy keep; crds.keep false drops the annotation; crds.enabled false drops them',
  { skip },
  () => {
    for (const helmMajor of MAJORS) {
      const names = (objs: K8sObject[]): string[] =>
        ofKind(objs, 'CustomResourceDefinition')
          .map((c) => c.metadata.name)
          .sort();
      const def = render({}, { helm: helmMajor });
      assert.deepEqual(names(def), ['tokenrevocations.zt-authz.io', 'zerotrustpolicies.zt-authz.io'], `helm ${helmMajor}`);
      for (const crd of ofKind(def, 'CustomResourceDefinition')) {
        assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
        assert.equal(crd.metadata.labels['app.kubernetes.io/managed-by'], 'Helm');
        // The rendered CRD is the generated manifest plus the chart's labels and annotation.
        const file = crd.metadata.name.startsWith('zerotrust') ? 'zero-trust-policy.yaml' : 'token-revocation.yaml';
        const plain = parse(readFileSync(join(ROOT, 'deploy', 'crds', file), 'utf8')) as K8sObject;
        assert.deepEqual(crd.spec, plain.spec, `${file}: same spec as deploy/crds/`);
      }
      const noKeep = render({ crds: { keep: false } }, { helm: helmMajor });
      assert.deepEqual(names(noKeep), names(def));
      for (const crd of ofKind(noKeep, 'CustomResourceDefinition')) assert.equal(crd.metadata.annotations, undefined);
      assert.deepEqual(names(render({ crds: { enabled: false } }, { helm: helmMajor })), []);
    }
    // No crds/ directory: helm would install it once and never upgrade it.
    assert.throws(() => readFileSync(join(CHART, 'crds', 'zero-trust-policy.yaml')), /ENOENT/);
  },
);

test(
  'Helm 3 and Helm 4: lint --strict passes and template renders the same objects, for the defaults and the full-featured values',
  { skip },
  () => {
    for (const values of [{}, FULL]) {
      const file = valuesFile(values);
      for (const helmMajor of MAJORS) {
        const r = helm(['lint', '--strict', CHART, '-f', file], helmMajor);
        assert.equal(r.status, 0, `helm ${helmMajor} lint:\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        assert.doesNotMatch(r.stdout, /\[(WARNING|INFO)\]/, `helm ${helmMajor} lint has nothing to say (icon set, no deprecated API)`);
      }
      // The webhook TLS Secret and caBundle are generated per render (genCA); everything else is deterministic.
      // Helm 4 orders the objects of one kind differently: compare them by kind, namespace and name.
      const key = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      const strip = (objs: K8sObject[]): K8sObject[] =>
        [...objs]
          .sort((x, y) => key(x).localeCompare(key(y)))
          .map((o) => {
            const c = structuredClone(o);
            if (c.kind === 'Secret' && c.metadata.name.endsWith('-webhook-tls')) c.data = '<generated>';
            if (c.kind === 'MutatingWebhookConfiguration') for (const w of c.webhooks) w.clientConfig.caBundle = '<generated>';
            return c;
          });
      const h3 = strip(render(values, { apiVersions: API_VERSIONS }));
      const h4 = strip(render(values, { apiVersions: API_VERSIONS, helm: 4 }));
      assert.deepEqual(h4, h3, 'Helm 4 renders what Helm 3 renders');
    }
  },
);

test('Chart.yaml: home, sources, an inline icon, Artifact Hub annotations naming both CRDs', () => {
  const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as K8sObject;
  assert.match(chart.home, /^https:\/\//);
  assert.ok(Array.isArray(chart.sources) && chart.sources.every((s: string) => /^https:\/\//.test(s)));
  // A data: URI, so nothing is fetched to show it; it decodes to an SVG.
  const icon = /^data:image\/svg\+xml;base64,(.+)$/.exec(chart.icon as string);
  assert.ok(icon, 'icon is an inline SVG');
  assert.match(Buffer.from(icon[1]!, 'base64').toString(), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal(chart.annotations['artifacthub.io/license'], 'Apache-2.0');
  assert.equal(chart.annotations['artifacthub.io/category'], 'security');
  const crds = parse(chart.annotations['artifacthub.io/crds'] as string) as K8sObject[];
  assert.deepEqual(crds.map((c) => c.name).sort(), ['tokenrevocations.zt-authz.io', 'zerotrustpolicies.zt-authz.io']);
});

test('docs "Adapting the chart": the private-CA and proxy example renders as the page says, on Helm 3 and Helm 4', { skip }, () => {
  const page = readFileSync(join(ROOT, 'docs', 'kubernetes-helm.md'), 'utf8');
  const start = page.indexOf('\n### Adapting the chart\n');
  assert.ok(start >= 0, 'docs/kubernetes-helm.md has "### Adapting the chart"');
  const section = page.slice(start, page.indexOf('\n### ', start + 1));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'a yaml block');
  const values = parse(block[1]!) as K8sObject;
  for (const helmMajor of MAJORS) {
    const objs = render(values, { helm: helmMajor, release: 'zt-authz', namespace: 'zt-authz' });
    const spec = deploymentOf(objs).spec.template.spec;
    const c = containerOf(objs);
    // The volume's ConfigMap is the one extraObjects rendered, and the env points into its mount.
    const volume = spec.volumes.find((v: K8sObject) => v.name === 'corp-ca');
    const cm = one(objs, 'ConfigMap', volume.configMap.name);
    assert.match(cm.data['ca.crt'], /BEGIN CERTIFICATE/);
    const mount = c.volumeMounts.find((m: K8sObject) => m.name === 'corp-ca');
    const env = Object.fromEntries(c.env.map((e: K8sObject) => [e.name, e.value]));
    assert.equal(env.NODE_EXTRA_CA_CERTS, `${mount.mountPath}/ca.crt`, `helm ${helmMajor}`);
    assert.equal(env.NODE_USE_ENV_PROXY, '1');
    assert.match(env.HTTPS_PROXY, /^http:\/\//);
    assert.match(env.NO_PROXY, /\.svc/);
    assert.equal(deploymentOf(objs).metadata.labels.team, 'platform');
  }
});
