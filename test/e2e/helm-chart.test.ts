// charts/zt-authz with real Helm 3 (built from its Go module by scripts/helm.mjs): lint, then template in central and sidecar modes and with
// the Istio / ServiceMonitor toggles; the rendered objects are parsed and checked (security
// contexts, probes, least-privilege RBAC, ports, selectors, and the configuration the chart
// writes passes zt-authz's own validation). The sidecar-mode certificate the chart generates is
// used to serve the webhook for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import jsonpatch from 'fast-json-patch';
import { checkConfig } from '../../src/snapshot/checked-config.js';
import type { Config } from '../../src/config/types.js';
import { handleAdmissionReview } from '../../src/webhook/inject.js';
import { App } from '../../src/app.js';
import { createLogger } from '../../src/observe/log.js';
import { CHART, SIDECAR, helm, helmSkip, one, ofKind, render, selects, valuesFile, type K8sObject } from '../helpers/helm.js';

const skip = helmSkip();
const NS = 'zt-authz';

/** The zt-authz configuration a ConfigMap holds, validated as `zt-authz serve` would. */
function configOf(cm: K8sObject): Config {
  const text = cm.data?.['config.yaml'];
  assert.equal(typeof text, 'string', `${cm.metadata.name}: data.config.yaml`);
  return checkConfig(parse(text as string), `ConfigMap ${cm.metadata.namespace}/${cm.metadata.name}`).config;
}

const portOf = (addr: string): number => Number(addr.slice(addr.lastIndexOf(':') + 1));

/** Every pod template / pod in the render, with where it came from. */
function podSpecs(objs: K8sObject[]): Array<{ where: string; spec: K8sObject; labels: Record<string, string> }> {
  return objs.flatMap((o) => {
    if (o.kind === 'Pod') return [{ where: `Pod ${o.metadata.name}`, spec: o.spec, labels: o.metadata.labels }];
    if (o.spec?.template?.spec)
      return [{ where: `${o.kind} ${o.metadata.name}`, spec: o.spec.template.spec, labels: o.spec.template.metadata.labels }];
    return [];
  });
}

function assertHardened(objs: K8sObject[]): void {
  const pods = podSpecs(objs);
  assert.ok(pods.length >= 2, 'the Deployment and the helm test pod');
  for (const { where, spec } of pods) {
    assert.equal(spec.securityContext?.runAsNonRoot, true, `${where}: pod runAsNonRoot`);
    assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: pod seccomp`);
    assert.ok(!spec.hostNetwork && !spec.hostPID && !spec.hostIPC, `${where}: no host namespaces`);
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as K8sObject[]) {
      const sc = c.securityContext ?? {};
      const at = `${where} container ${c.name}`;
      assert.equal(sc.runAsNonRoot, true, `${at}: runAsNonRoot`);
      assert.ok(Number(sc.runAsUser ?? spec.securityContext.runAsUser) > 0, `${at}: non-root UID`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${at}: readOnlyRootFilesystem`);
      assert.equal(sc.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation`);
      assert.notEqual(sc.privileged, true, `${at}: not privileged`);
      assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${at}: drop ALL`);
      assert.equal(sc.capabilities?.add, undefined, `${at}: adds no capability`);
      assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', `${at}: seccomp`);
      for (const k of ['requests', 'limits']) {
        assert.ok(c.resources?.[k]?.cpu && c.resources?.[k]?.memory, `${at}: resources.${k} cpu and memory`);
      }
    }
  }
}

/** The zt-authz container of the Deployment, with probes checked against the admin listener. */
function authzContainer(objs: K8sObject[]): { container: K8sObject; deployment: K8sObject; config: Config } {
  const deployment = one(objs, 'Deployment');
  const container = (deployment.spec.template.spec.containers as K8sObject[]).find((c) => c.name === 'zt-authz')!;
  const cmName = (deployment.spec.template.spec.volumes as K8sObject[]).find((v) => v.name === 'config')!.configMap.name;
  const config = configOf(one(objs, 'ConfigMap', cmName));
  assert.deepEqual(container.args, ['--config', '/etc/zt-authz/config.yaml']);
  const mount = (container.volumeMounts as K8sObject[]).find((m) => m.name === 'config')!;
  assert.equal(mount.mountPath, '/etc/zt-authz');
  assert.equal(mount.readOnly, true);
  const ports = Object.fromEntries((container.ports as K8sObject[]).map((p) => [p.name, p.containerPort]));
  assert.equal(ports.grpc, portOf(config.server.grpc), 'container grpc port = config server.grpc');
  assert.equal(ports.http, portOf(config.server.http), 'container http port = config server.http');
  assert.equal(ports.admin, portOf(config.server.admin), 'container admin port = config server.admin');
  for (const [probe, path] of [
    ['readinessProbe', '/readyz'],
    ['livenessProbe', '/healthz'],
  ] as const) {
    const get = container[probe]?.httpGet;
    assert.equal(get?.path, path, `${probe} path`);
    const port = typeof get.port === 'string' ? ports[get.port] : get.port;
    assert.equal(port, ports.admin, `${probe} on the admin port`);
  }
  const env = Object.fromEntries((container.env as K8sObject[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  assert.equal(env.POD_NAME, 'metadata.name');
  assert.equal(env.POD_NAMESPACE, 'metadata.namespace');
  return { container, deployment, config };
}

function assertSelectorsMatch(objs: K8sObject[]): void {
  const deployment = one(objs, 'Deployment');
  const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
  assert.ok(selects(deployment.spec.selector.matchLabels, podLabels), 'Deployment selector matches its pod labels');
  const svc = one(objs, 'Service');
  assert.ok(selects(svc.spec.selector, podLabels), 'Service selector matches the pod labels');
  for (const kind of ['PodDisruptionBudget', 'ServiceMonitor']) {
    for (const o of ofKind(objs, kind))
      assert.ok(selects(o.spec.selector.matchLabels, kind === 'ServiceMonitor' ? svc.metadata.labels : podLabels), `${kind} selector`);
  }
  for (const np of ofKind(objs, 'NetworkPolicy'))
    assert.ok(selects(np.spec.podSelector.matchLabels, podLabels), 'NetworkPolicy podSelector');
  for (const t of deployment.spec.template.spec.topologySpreadConstraints ?? [])
    assert.ok(selects(t.labelSelector.matchLabels, podLabels), 'topology spread selector');
  for (const hpa of ofKind(objs, 'HorizontalPodAutoscaler')) assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  // Service ports point at named container ports that exist.
  const container = deployment.spec.template.spec.containers[0];
  const names = new Set((container.ports as K8sObject[]).map((p) => p.name));
  for (const p of svc.spec.ports as K8sObject[])
    assert.ok(names.has(p.targetPort), `Service port ${p.name} → container port ${p.targetPort}`);
  // The helm test pod is not one of the Service's endpoints.
  for (const pod of ofKind(objs, 'Pod'))
    assert.ok(!selects(svc.spec.selector, pod.metadata.labels), `${pod.metadata.name} is not selected by the Service`);
}

function assertLeastPrivilegeRbac(objs: K8sObject[]): K8sObject[] {
  const roles = [...ofKind(objs, 'ClusterRole'), ...ofKind(objs, 'Role')];
  const rules = roles.flatMap((r) => r.rules as K8sObject[]);
  for (const r of rules) {
    for (const field of ['apiGroups', 'resources', 'verbs'])
      assert.ok(!(r[field] as string[]).includes('*'), `no * in ${field}: ${JSON.stringify(r)}`);
    // Secrets only by name (issuers[].jwksSecret); every other rule covers its whole kind.
    if ((r.resources as string[]).includes('secrets')) {
      assert.deepEqual(r.resources, ['secrets'], 'secrets in a rule of their own');
      assert.ok(Array.isArray(r.resourceNames) && r.resourceNames.length > 0, `secrets only with resourceNames: ${JSON.stringify(r)}`);
    } else assert.equal(r.resourceNames, undefined);
    assert.equal(r.nonResourceURLs, undefined);
    for (const verb of r.verbs as string[]) {
      if (verb === 'update') assert.deepEqual(r.resources, ['zerotrustpolicies/status'], 'the only write: ZeroTrustPolicy status');
      else assert.ok(['get', 'list', 'watch'].includes(verb), `read-only verb, got ${verb}`);
    }
  }
  const sa = one(objs, 'ServiceAccount');
  for (const b of [...ofKind(objs, 'ClusterRoleBinding'), ...ofKind(objs, 'RoleBinding')]) {
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: NS }]);
    assert.ok(
      roles.some(
        (r) =>
          r.kind === b.roleRef.kind &&
          r.metadata.name === b.roleRef.name &&
          (r.kind === 'ClusterRole' || r.metadata.namespace === b.metadata.namespace),
      ),
      'binding refers to a rendered role',
    );
  }
  return rules;
}

test('helm lint passes: defaults, sidecar mode, Istio and ServiceMonitor on', { skip }, () => {
  for (const values of [
    {},
    SIDECAR,
    {
      istio: {
        enabled: true,
        authorizationPolicies: [{ name: 'orders', namespace: 'shop', selector: { matchLabels: { app: 'orders' } } }],
      },
      metrics: { serviceMonitor: { enabled: true } },
    },
  ]) {
    const r = helm(['lint', '--strict', CHART, '-f', valuesFile(values)]);
    assert.equal(r.status, 0, `helm lint ${JSON.stringify(values).slice(0, 80)}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('central mode: the objects, hardened pods, probes, ports, selectors, least-privilege RBAC, valid config', { skip }, () => {
  const objs = render({}, { includeCrds: true });
  const kinds = new Set(objs.map((o) => o.kind));
  for (const k of [
    'CustomResourceDefinition',
    'ServiceAccount',
    'ConfigMap',
    'ClusterRole',
    'ClusterRoleBinding',
    'Service',
    'Deployment',
    'HorizontalPodAutoscaler',
    'PodDisruptionBudget',
    'NetworkPolicy',
    'Pod',
  ]) {
    assert.ok(kinds.has(k), `renders a ${k}`);
  }
  for (const k of ['MutatingWebhookConfiguration', 'ServiceMonitor', 'ServiceEntry', 'AuthorizationPolicy', 'Secret'])
    assert.ok(!kinds.has(k), `no ${k} by default`);
  assert.deepEqual(
    ofKind(objs, 'CustomResourceDefinition')
      .map((c) => c.metadata.name)
      .sort(),
    ['tokenrevocations.zt-authz.io', 'zerotrustpolicies.zt-authz.io'],
  );

  assertHardened(objs);
  assertSelectorsMatch(objs);
  const { deployment, config } = authzContainer(objs);
  assert.equal(config.kubernetes.enabled, true);
  assert.equal(config.webhook.enabled, false);
  assert.equal(deployment.spec.replicas, undefined, 'the HPA owns the replica count');
  assert.equal(deployment.spec.template.spec.automountServiceAccountToken, true, 'API token for the informers');
  assert.equal(one(objs, 'ServiceAccount').automountServiceAccountToken, false);
  assert.equal(
    deployment.spec.template.metadata.annotations['prometheus.io/scrape'],
    'true',
    'scrape annotations without a ServiceMonitor',
  );
  assert.equal(deployment.spec.template.metadata.annotations['prometheus.io/port'], '9090');
  assert.ok(deployment.spec.template.spec.terminationGracePeriodSeconds > config.server.drainSeconds, 'grace period covers the drain');
  assert.deepEqual(
    deployment.spec.template.spec.topologySpreadConstraints.map((t: K8sObject) => t.topologyKey),
    ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'],
  );

  // Service: gRPC with appProtocol grpc, HTTP authz, admin.
  const svc = one(objs, 'Service');
  assert.equal(svc.metadata.name, 'zt-authz');
  assert.deepEqual(
    (svc.spec.ports as K8sObject[]).map((p) => [p.name, p.port, p.appProtocol]),
    [
      ['grpc', 9191, 'grpc'],
      ['http', 9192, 'http'],
      ['admin', 9090, 'http'],
    ],
  );

  // RBAC: read ZeroTrustPolicies, TokenRevocations and Pods, update status only, no Secrets by default.
  const rules = assertLeastPrivilegeRbac(objs);
  assert.deepEqual(
    rules.map((r) => [r.apiGroups.join(), r.resources.join(), r.verbs.join()]),
    [
      ['zt-authz.io', 'zerotrustpolicies', 'get,list,watch'],
      ['zt-authz.io', 'zerotrustpolicies/status', 'update'],
      ['zt-authz.io', 'tokenrevocations', 'get,list,watch'],
      ['', 'pods', 'get,list,watch'],
    ],
  );

  // NetworkPolicy: authz ports only from the mesh / ingress namespaces, admin from monitoring and the test pod.
  const np = one(objs, 'NetworkPolicy');
  assert.deepEqual(np.spec.policyTypes, ['Ingress']);
  const ingress = np.spec.ingress as K8sObject[];
  const byPorts = Object.fromEntries(ingress.map((r) => [(r.ports as K8sObject[]).map((p) => p.port).join(','), r.from]));
  assert.deepEqual(Object.keys(byPorts), ['grpc,http', 'admin']);
  const authzNs = (byPorts['grpc,http'] as K8sObject[]).map((f) => JSON.stringify(f.namespaceSelector));
  assert.ok(
    authzNs.every((s) => s !== undefined && s !== '{}'),
    'every authz source is a namespace selector, none empty',
  );
  assert.ok(
    authzNs.some((s) => s.includes('istio-system')) &&
      authzNs.some((s) => s.includes('ingress-nginx')) &&
      authzNs.some((s) => s.includes('istio-injection')),
  );
  const testPod = one(objs, 'Pod');
  assert.ok(
    (byPorts.admin as K8sObject[]).some((f) => f.podSelector && selects(f.podSelector.matchLabels, testPod.metadata.labels)),
    'the helm test pod may reach /readyz',
  );

  // helm test: curl /readyz through the Service's admin port.
  assert.equal(testPod.metadata.annotations['helm.sh/hook'], 'test');
  assert.match(testPod.spec.containers[0].image, /^curlimages\/curl:/);
  assert.deepEqual(testPod.spec.containers[0].command, ['curl']);
  assert.equal(testPod.spec.containers[0].args.at(-1), 'http://zt-authz.zt-authz.svc.cluster.local:9090/readyz');
  assert.equal(testPod.spec.restartPolicy, 'Never');
});

test(
  'central mode variants: fixed replicas (no PDB for one), namespaced Roles, Secrets only by name, no Kubernetes integration',
  { skip },
  () => {
    let objs = render({ autoscaling: { enabled: false }, replicaCount: 1 });
    assert.equal(one(objs, 'Deployment').spec.replicas, 1);
    assert.equal(ofKind(objs, 'HorizontalPodAutoscaler').length, 0);
    assert.equal(ofKind(objs, 'PodDisruptionBudget').length, 0, 'a PDB on one replica would block node drains');
    objs = render({ autoscaling: { enabled: false }, replicaCount: 3 });
    assert.equal(one(objs, 'PodDisruptionBudget').spec.maxUnavailable, 1);

    objs = render({ config: { kubernetes: { enabled: true, namespaces: ['shop', 'payments'] } } });
    assert.equal(ofKind(objs, 'ClusterRole').length, 0, 'namespaced: no ClusterRole');
    assert.deepEqual(
      ofKind(objs, 'Role').map((r) => r.metadata.namespace),
      ['shop', 'payments'],
    );
    assert.deepEqual(
      ofKind(objs, 'RoleBinding').map((r) => r.metadata.namespace),
      ['shop', 'payments'],
    );
    assert.ok(!assertLeastPrivilegeRbac(objs).some((r) => r.resources.includes('secrets')), 'no Secret access unless an issuer names one');
    configOf(one(objs, 'ConfigMap'));

    // issuers[].jwksSecret: a Role per Secret namespace (default: the release namespace) naming only those Secrets.
    const secretIssuers = [
      { issuer: 'https://a.example', jwksSecret: { name: 'a-keys' }, audiences: ['orders'] },
      { issuer: 'https://b.example', jwksSecret: { name: 'b-keys', namespace: 'idp', key: 'keys' }, audiences: ['orders'] },
      { issuer: 'https://c.example', jwksSecret: { name: 'a-keys', key: 'other' }, audiences: ['orders'] },
      { issuer: 'https://d.example', jwksUri: 'https://d.example/jwks', audiences: ['orders'] },
    ];
    objs = render({ config: { kubernetes: { enabled: true }, issuers: secretIssuers } });
    const rules = assertLeastPrivilegeRbac(objs);
    const secretRoles = ofKind(objs, 'Role').filter((r) => (r.rules as K8sObject[]).some((x) => x.resources.includes('secrets')));
    assert.deepEqual(
      secretRoles.map((r) => [r.metadata.namespace, r.rules]),
      [
        ['idp', [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['b-keys'], verbs: ['get', 'list', 'watch'] }]],
        [NS, [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['a-keys'], verbs: ['get', 'list', 'watch'] }]],
      ],
    );
    assert.deepEqual(
      ofKind(objs, 'RoleBinding').map((b) => [b.metadata.namespace, b.roleRef.name]),
      secretRoles.map((r) => [r.metadata.namespace, r.metadata.name]),
    );
    assert.equal(rules.filter((r) => r.resources.includes('secrets')).length, 2);
    assert.ok(
      !(one(objs, 'ClusterRole').rules as K8sObject[]).some((r) => r.resources.includes('secrets')),
      'no cluster-wide Secret access',
    );
    configOf(one(objs, 'ConfigMap'));

    objs = render({ config: { kubernetes: { enabled: true, watchPods: false, writeStatus: false } } });
    assert.deepEqual(
      assertLeastPrivilegeRbac(objs).map((r) => r.resources.join()),
      ['zerotrustpolicies', 'tokenrevocations'],
      'no pods, no status write when off',
    );
    objs = render({ config: { kubernetes: { enabled: true, watchPods: false, writeStatus: false }, revocation: { kubernetes: false } } });
    assert.deepEqual(
      assertLeastPrivilegeRbac(objs).map((r) => r.resources.join()),
      ['zerotrustpolicies'],
      'no TokenRevocation access when revocation.kubernetes is false',
    );

    objs = render({ config: { kubernetes: { enabled: false } } });
    assert.equal(ofKind(objs, 'ClusterRole').length + ofKind(objs, 'Role').length, 0, 'no RBAC without the Kubernetes integration');
    assert.equal(one(objs, 'Deployment').spec.template.spec.automountServiceAccountToken, false, 'no API token mounted');
    objs = render({ config: { kubernetes: { enabled: false }, issuers: [{ kubernetes: true, audiences: ['zt-authz'] }] } });
    assert.equal(
      one(objs, 'Deployment').spec.template.spec.automountServiceAccountToken,
      true,
      'service-account token issuer needs the API token',
    );
    configOf(one(objs, 'ConfigMap'));
  },
);

test(
  'ServiceMonitor: auto when the Prometheus Operator API exists, forced on or off by value; scrape annotations otherwise',
  { skip },
  () => {
    const PROM = ['monitoring.coreos.com/v1'];
    const cases: Array<[unknown, string[], boolean]> = [
      [{}, [], false],
      [{}, PROM, true],
      [{ metrics: { serviceMonitor: { enabled: false } } }, PROM, false],
      [{ metrics: { serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kube-prometheus-stack' } } } }, [], true],
    ];
    for (const [values, apiVersions, expected] of cases) {
      const objs = render(values, { apiVersions });
      const sms = ofKind(objs, 'ServiceMonitor');
      const ann = one(objs, 'Deployment').spec.template.metadata.annotations ?? {};
      const what = `${JSON.stringify(values)} with ${apiVersions.join() || 'no Prometheus Operator'}`;
      assert.equal(sms.length, expected ? 1 : 0, `ServiceMonitor: ${what}`);
      assert.equal(ann['prometheus.io/scrape'], expected ? undefined : 'true', `scrape annotations: ${what}`);
      if (expected) {
        assertSelectorsMatch(objs);
        const svc = one(objs, 'Service');
        assert.deepEqual(
          sms[0]!.spec.endpoints.map((e: K8sObject) => [e.port, e.path]),
          [['admin', '/metrics']],
        );
        assert.ok((svc.spec.ports as K8sObject[]).some((p) => p.name === 'admin'));
        assert.deepEqual(sms[0]!.spec.namespaceSelector.matchNames, [NS]);
      }
    }
    const sm = one(
      render({ metrics: { serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kube-prometheus-stack' } } } }),
      'ServiceMonitor',
    );
    assert.equal(sm.metadata.labels.release, 'kube-prometheus-stack');
    assert.equal(sm.spec.endpoints[0].interval, '15s');
  },
);

test('Istio: extension provider snippet and CUSTOM AuthorizationPolicies address the rendered Service', { skip }, () => {
  const objs = render({
    istio: {
      enabled: true,
      extensionProvider: { timeout: '0.5s' },
      authorizationPolicies: [
        { name: 'orders', namespace: 'shop', selector: { matchLabels: { app: 'orders' } } },
        { name: 'admin-paths', namespace: 'shop', rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] },
      ],
    },
  });
  const cm = one(objs, 'ConfigMap', 'zt-authz-istio-extension-provider');
  const provider = parse(cm.data['values.yaml']).meshConfig.extensionProviders[0];
  const svc = one(objs, 'Service');
  assert.deepEqual(provider, {
    name: 'zt-authz',
    envoyExtAuthzGrpc: {
      service: `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`,
      port: 9191,
      timeout: '0.5s',
      failOpen: false,
    },
  });
  assert.equal((svc.spec.ports as K8sObject[]).find((p) => p.port === provider.envoyExtAuthzGrpc.port)?.appProtocol, 'grpc');
  const aps = ofKind(objs, 'AuthorizationPolicy');
  assert.deepEqual(
    aps.map((a) => [a.apiVersion, a.metadata.namespace, a.metadata.name, a.spec.action, a.spec.provider.name]),
    [
      ['security.istio.io/v1', 'shop', 'orders', 'CUSTOM', 'zt-authz'],
      ['security.istio.io/v1', 'shop', 'admin-paths', 'CUSTOM', 'zt-authz'],
    ],
  );
  assert.deepEqual(aps[0]!.spec.rules, [{}], 'default: every request of the selected workloads');
  assert.deepEqual(aps[0]!.spec.selector, { matchLabels: { app: 'orders' } });
  assert.equal(aps[1]!.spec.selector, undefined);
  assert.equal(ofKind(objs, 'ServiceEntry').length, 0, 'central mode needs no ServiceEntry');
});

test('sidecar mode: webhook configuration, certificate chain, per-namespace sidecar config, Istio ServiceEntry', { skip }, () => {
  const objs = render({ ...SIDECAR, istio: { enabled: true } });
  assertHardened(objs);
  assertSelectorsMatch(objs);
  const { deployment, config, container } = authzContainer(objs);
  const svc = one(objs, 'Service');

  // The Deployment serves the webhook, configured by the chart.
  assert.equal(config.webhook.enabled, true);
  assert.equal(config.webhook.failurePolicy, 'Fail');
  assert.equal(config.webhook.inject.image, container.image);
  assert.equal(container.image, 'registry.example/zt-authz:0.1.0');
  assert.deepEqual([config.webhook.inject.grpcPort, config.webhook.inject.httpPort, config.webhook.inject.adminPort], [9191, 9192, 9090]);
  const webhookPort = (container.ports as K8sObject[]).find((p) => p.name === 'webhook')!.containerPort;
  assert.equal(webhookPort, portOf(config.webhook.address));
  const tlsMount = (container.volumeMounts as K8sObject[]).find((m) => m.name === 'webhook-tls')!;
  assert.ok(config.webhook.certFile.startsWith(`${tlsMount.mountPath}/`) && config.webhook.keyFile.startsWith(`${tlsMount.mountPath}/`));
  const secretName = (deployment.spec.template.spec.volumes as K8sObject[]).find((v) => v.name === 'webhook-tls')!.secret.secretName;

  // MutatingWebhookConfiguration → the Service's webhook port → the container's webhook port.
  const mwc = one(objs, 'MutatingWebhookConfiguration');
  assert.equal(mwc.webhooks.length, 1);
  const wh = mwc.webhooks[0];
  assert.deepEqual(wh.admissionReviewVersions, ['v1']);
  assert.equal(wh.sideEffects, 'None');
  assert.equal(wh.failurePolicy, config.webhook.failurePolicy);
  assert.equal(wh.reinvocationPolicy, 'IfNeeded');
  assert.deepEqual(wh.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
  assert.equal(wh.clientConfig.service.name, svc.metadata.name);
  assert.equal(wh.clientConfig.service.namespace, NS);
  assert.equal(wh.clientConfig.service.path, config.webhook.path);
  const svcPort = (svc.spec.ports as K8sObject[]).find((p) => p.port === wh.clientConfig.service.port)!;
  assert.equal(svcPort.targetPort, 'webhook');
  const exprs = wh.namespaceSelector.matchExpressions as K8sObject[];
  assert.ok(
    exprs.some((e) => e.operator === 'NotIn' && e.values.includes(NS) && e.values.includes('kube-system')),
    'never its own namespace',
  );
  assert.ok(
    exprs.some((e) => e.operator === 'In' && e.values.join() === 'shop,payments'),
    'only the sidecar namespaces',
  );
  assert.match(wh.matchConditions[0].expression, /'zt-authz\.io\/inject'\] == 'true'/);

  // Certificate: the caBundle is a CA that signed the serving certificate for the Service name.
  const secret = one(objs, 'Secret', secretName);
  assert.equal(secret.type, 'kubernetes.io/tls');
  const ca = new X509Certificate(Buffer.from(wh.clientConfig.caBundle, 'base64'));
  const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
  assert.ok(ca.ca, 'caBundle is a CA certificate');
  assert.ok(cert.verify(ca.publicKey), 'serving certificate signed by the caBundle CA');
  assert.ok(cert.checkHost(`${svc.metadata.name}.${NS}.svc`), `certificate names ${svc.metadata.name}.${NS}.svc`);
  assert.ok(new Date(cert.validTo).getTime() > Date.now() + 365 * 86400_000);

  // Sidecar configuration: one ConfigMap per namespace, loopback listeners, no Kubernetes API.
  const sidecarCms = objs.filter((o) => o.kind === 'ConfigMap' && o.metadata.name === config.webhook.inject.configMap);
  assert.deepEqual(
    sidecarCms.map((c) => c.metadata.namespace),
    ['shop', 'payments'],
  );
  for (const cm of sidecarCms) {
    const sc = configOf(cm);
    assert.equal(sc.server.grpc, `127.0.0.1:${config.webhook.inject.grpcPort}`);
    assert.equal(sc.server.http, `127.0.0.1:${config.webhook.inject.httpPort}`);
    assert.equal(portOf(sc.server.admin), config.webhook.inject.adminPort, 'probes use the admin port the config listens on');
    assert.equal(sc.kubernetes.enabled, false);
    assert.equal(sc.webhook.enabled, false);
    assert.equal(sc.issuers[0]!.issuer, 'https://idp.example.com');
    assert.equal(sc.policies[0]!.name, 'orders-read');
  }

  // Istio: the provider points at the local address through the ServiceEntry.
  const se = one(objs, 'ServiceEntry');
  const provider = parse(one(objs, 'ConfigMap', 'zt-authz-istio-extension-provider').data['values.yaml']).meshConfig.extensionProviders[0];
  assert.deepEqual(se.spec.hosts, [provider.envoyExtAuthzGrpc.service]);
  assert.deepEqual(se.spec.endpoints, [{ address: '127.0.0.1' }]);
  assert.deepEqual(se.spec.ports, [{ name: 'grpc', number: provider.envoyExtAuthzGrpc.port, protocol: 'GRPC' }]);
  assert.equal(provider.envoyExtAuthzGrpc.port, config.webhook.inject.grpcPort);
  assert.equal(se.spec.resolution, 'STATIC');
  assert.equal(provider.envoyExtAuthzGrpc.failOpen, false);
});

test('sidecar mode with the Prometheus Operator: a PodMonitor selects injected pods and their admin port', { skip }, () => {
  let objs = render(SIDECAR, { apiVersions: ['monitoring.coreos.com/v1'] });
  const pm = one(objs, 'PodMonitor');
  assert.deepEqual(pm.spec.namespaceSelector.matchNames, ['shop', 'payments']);
  // Inject a pod with the configuration the chart wrote, then check the PodMonitor would scrape it.
  const { config } = authzContainer(objs);
  const review = JSON.parse(
    readFileSync(new URL('../../../test/fixtures/admission/pod-annotated.json', import.meta.url), 'utf8'),
  ) as K8sObject;
  const resp = (handleAdmissionReview(review, config.webhook).body as K8sObject).response;
  const ops = JSON.parse(Buffer.from(resp.patch, 'base64').toString()) as jsonpatch.Operation[];
  const pod = jsonpatch.applyPatch(structuredClone(review.request.object), ops, true, false).newDocument as K8sObject;
  assert.ok(selects(pm.spec.selector.matchLabels, pod.metadata.labels), 'PodMonitor selects the injected pod');
  const sidecar = (pod.spec.containers as K8sObject[]).find((c) => c.name === 'zt-authz')!;
  const port = (sidecar.ports as K8sObject[]).find((p) => p.name === pm.spec.podMetricsEndpoints[0].port);
  assert.equal(port?.containerPort, 9090, 'the PodMonitor port is the sidecar admin port');
  assert.equal(pm.spec.podMetricsEndpoints[0].path, '/metrics');
  objs = render(SIDECAR);
  assert.equal(ofKind(objs, 'PodMonitor').length, 0, 'no PodMonitor without the Prometheus Operator');
});

test('sidecar mode: failurePolicy, TLS from an existing Secret or from values, older clusters without matchConditions', { skip }, () => {
  let objs = render({ ...SIDECAR, webhook: { failurePolicy: 'Ignore' } });
  assert.equal(one(objs, 'MutatingWebhookConfiguration').webhooks[0].failurePolicy, 'Ignore');
  assert.equal(authzContainer(objs).config.webhook.failurePolicy, 'Ignore');

  const r = helm([
    'template',
    'zt-authz',
    CHART,
    '-n',
    NS,
    '-f',
    valuesFile({ ...SIDECAR, webhook: { tls: { existingSecret: 'my-cert' } } }),
  ]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /webhook\.tls\.caBundle .* is required/);

  const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
  objs = render({ ...SIDECAR, webhook: { tls: { existingSecret: 'my-cert', caBundle } } });
  assert.equal(ofKind(objs, 'Secret').length, 0, 'the existing Secret is used, none rendered');
  assert.equal(one(objs, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle, caBundle);
  assert.equal(
    (one(objs, 'Deployment').spec.template.spec.volumes as K8sObject[]).find((v) => v.name === 'webhook-tls')!.secret.secretName,
    'my-cert',
  );

  objs = render({ ...SIDECAR, webhook: { tls: { cert: 'CERT-PEM', key: 'KEY-PEM' } } });
  const secret = one(objs, 'Secret');
  assert.equal(Buffer.from(secret.data['tls.key'], 'base64').toString(), 'KEY-PEM');
  assert.equal(one(objs, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle, secret.data['tls.crt']);

  objs = render(SIDECAR, { kubeVersion: '1.27.0' });
  assert.equal(one(objs, 'MutatingWebhookConfiguration').webhooks[0].matchConditions, undefined, 'matchConditions needs Kubernetes 1.28');
});

test(
  'sidecar mode end to end: zt-authz serves the webhook with the certificate and configuration the chart generated',
  { skip, timeout: 30_000 },
  async () => {
    const objs = render({ ...SIDECAR, sidecar: { ...SIDECAR.sidecar, ports: { grpc: 19191, http: 19192, admin: 19090 } } });
    const { config } = authzContainer(objs);
    const wh = one(objs, 'MutatingWebhookConfiguration').webhooks[0];
    const secret = one(objs, 'Secret');
    const dir = mkdtempSync(join(tmpdir(), 'zt-chart-webhook-'));
    let app: App | undefined;
    try {
      writeFileSync(join(dir, 'tls.crt'), Buffer.from(secret.data['tls.crt'], 'base64'));
      writeFileSync(join(dir, 'tls.key'), Buffer.from(secret.data['tls.key'], 'base64'));
      // The chart's configuration, on loopback ports and with the certificate where this test put it.
      const local = checkConfig({
        ...parse(one(objs, 'ConfigMap', 'zt-authz').data['config.yaml']),
        server: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
        kubernetes: { enabled: false },
        webhook: {
          ...parse(one(objs, 'ConfigMap', 'zt-authz').data['config.yaml']).webhook,
          address: '127.0.0.1:0',
          certFile: join(dir, 'tls.crt'),
          keyFile: join(dir, 'tls.key'),
        },
      }).config;
      app = await App.start({ config: local, logger: createLogger('silent') });
      const review = readFileSync(new URL('../../../test/fixtures/admission/pod-annotated.json', import.meta.url), 'utf8');
      // The API server's view: trust only caBundle, check the name of the Service it calls.
      const servername = `${wh.clientConfig.service.name}.${wh.clientConfig.service.namespace}.svc`;
      const body = await new Promise<K8sObject>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: app!.webhookPort,
            servername,
            path: wh.clientConfig.service.path,
            method: 'POST',
            ca: Buffer.from(wh.clientConfig.caBundle, 'base64'),
            agent: false,
            timeout: 5000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              res.statusCode === 200
                ? resolve(JSON.parse(Buffer.concat(chunks).toString()) as K8sObject)
                : reject(new Error(`HTTP ${res.statusCode}`)),
            );
          },
        );
        req.on('error', reject);
        req.end(review);
      });
      assert.equal(body.response.allowed, true);
      const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString()) as K8sObject[];
      const container = ops.find((o) => o.path === '/spec/containers/-')!.value;
      assert.equal(container.image, config.webhook.inject.image);
      assert.equal(container.readinessProbe.httpGet.port, 19090, 'probes on the sidecar admin port from the chart values');
      const volume = ops.find((o) => o.path === '/spec/volumes/-')!.value;
      assert.equal(volume.configMap.name, 'zt-authz-sidecar', 'the ConfigMap the chart renders in each sidecar namespace');
    } finally {
      await app?.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/** The pod-template annotation that rolls the Deployment when start-only settings change. */
const restartChecksum = (values: unknown): string => {
  const sum = one(render(values), 'Deployment').spec.template.metadata.annotations?.['checksum/restart-config'];
  assert.match(String(sum), /^[0-9a-f]{64}$/, 'checksum/restart-config is a sha256');
  return sum as string;
};

test(
  'checksum/restart-config: helm upgrade rolls the pods for start-only settings, not for hot-reloaded issuers and policies',
  { skip },
  () => {
    const base = SIDECAR;
    const before = restartChecksum(base);
    assert.equal(restartChecksum(base), before, 'deterministic (the generated webhook certificate is not part of it)');
    const withConfig = (config: Record<string, unknown>) => ({ ...base, config: { kubernetes: { enabled: true }, ...config } });

    // One case per section zt-authz keeps until restart. The list is read from the reload code, so
    // a section added there without a case here fails this test.
    const reloadSrc = readFileSync(new URL('../../../src/snapshot/manager.ts', import.meta.url), 'utf8');
    const restartOnly = [...(reloadSrc.match(/const RESTART_ONLY = \[([^\]]*)\]/)?.[1] ?? '').matchAll(/'([a-z]+)'/g)].map((m) => m[1]!);
    assert.ok(
      restartOnly.includes('server') && restartOnly.includes('webhook'),
      `RESTART_ONLY parsed from src/snapshot/manager.ts: ${restartOnly.join()}`,
    );
    const changes: Record<string, Array<[string, unknown]>> = {
      server: [
        ['config.server.drainSeconds', withConfig({ server: { drainSeconds: 20 } })],
        ['ports.grpc', { ...base, ports: { grpc: 9291 } }],
        ['tls.enabled', { ...base, tls: { enabled: true, secretName: 'authz-tls' } }],
      ],
      kubernetes: [['config.kubernetes.namespaces', withConfig({ kubernetes: { enabled: true, namespaces: ['shop'] } })]],
      reload: [['config.reload.debounceMs', withConfig({ reload: { debounceMs: 500 } })]],
      log: [['config.log.level', withConfig({ log: { level: 'debug' } })]],
      revocation: [['config.revocation.file', withConfig({ revocation: { file: '/etc/zt-authz/revoked/revoked.json' } })]],
      webhook: [
        ['sidecar.ports', { ...base, sidecar: { ...base.sidecar, ports: { grpc: 19191, http: 19192, admin: 19090 } } }],
        ['webhook.failurePolicy', { ...base, webhook: { failurePolicy: 'Ignore' } }],
        ['image.tag (the injected image)', { ...base, image: { ...base.image, tag: '0.2.0' } }],
        ['sidecar.resources', { ...base, sidecar: { ...base.sidecar, resources: { limits: { memory: '384Mi' } } } }],
        ['sidecar.configMapName', { ...base, sidecar: { ...base.sidecar, configMapName: 'authz-sidecar' } }],
      ],
    };
    for (const section of restartOnly) assert.ok(changes[section], `a checksum case for the restart-only section "${section}"`);
    for (const [section, cases] of Object.entries(changes)) {
      for (const [what, values] of cases) assert.notEqual(restartChecksum(values), before, `${section}: changing ${what} rolls the pods`);
    }

    // Hot-reloaded (or not read by the Deployment's pods): the running pods pick these up without a restart.
    const same: Array<[string, unknown]> = [
      [
        'config.policies',
        withConfig({ policies: [{ name: 'p', action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }] }),
      ],
      [
        'config.issuers',
        withConfig({ issuers: [{ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audiences: ['orders'] }] }),
      ],
      ['config.audit (applied with each snapshot)', withConfig({ audit: { allowSampleRate: 0.5 } })],
      ["sidecar.config (the namespaces' ConfigMaps)", { ...base, sidecar: { ...base.sidecar, config: { policies: [] } } }],
      ['replicaCount', { ...base, autoscaling: { enabled: false }, replicaCount: 3 }],
    ];
    for (const [what, values] of same) assert.equal(restartChecksum(values), before, `changing only ${what} keeps the pods`);

    // Central mode has the annotation too.
    assert.notEqual(restartChecksum({ config: { log: { level: 'warn' } } }), restartChecksum({}));
  },
);

test('NetworkPolicy: the authz peers are rendered as written, and the authz rule always has sources', { skip }, () => {
  const authzFrom = [
    { ipBlock: { cidr: '10.20.0.0/16', except: ['10.20.9.0/24'] } },
    { namespaceSelector: { matchLabels: { team: 'edge' } }, podSelector: { matchLabels: { app: 'envoy' } } },
  ];
  const np = one(render({ networkPolicy: { authzFrom } }), 'NetworkPolicy');
  const authz = (np.spec.ingress as K8sObject[]).find((r) => (r.ports as K8sObject[]).some((p) => p.port === 'grpc'))!;
  assert.deepEqual(authz.from, authzFrom);
  for (const values of [{}, SIDECAR]) {
    for (const rule of one(render(values), 'NetworkPolicy').spec.ingress as K8sObject[]) {
      if ((rule.ports as K8sObject[]).some((p) => p.port === 'grpc' || p.port === 'http' || p.port === 'admin')) {
        assert.ok(Array.isArray(rule.from) && rule.from.length > 0, `ports ${JSON.stringify(rule.ports)}: from is never empty or missing`);
      }
    }
  }
  assert.equal(ofKind(render({ networkPolicy: { enabled: false, authzFrom: [] } }), 'NetworkPolicy').length, 0);
});

test(
  'sidecar mode without a Prometheus Operator: injected pods get scrape annotations for the sidecar admin port, unless they have their own',
  { skip },
  () => {
    const review = JSON.parse(
      readFileSync(new URL('../../../test/fixtures/admission/pod-annotated.json', import.meta.url), 'utf8'),
    ) as K8sObject;
    const inject = (objs: K8sObject[], pod: K8sObject = review.request.object) => {
      const { config } = authzContainer(objs);
      const r = structuredClone(review);
      r.request.object = pod;
      const resp = (handleAdmissionReview(r, config.webhook).body as K8sObject).response;
      const ops = JSON.parse(Buffer.from(resp.patch, 'base64').toString()) as jsonpatch.Operation[];
      return jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
    };
    const values = { ...SIDECAR, sidecar: { ...SIDECAR.sidecar, ports: { grpc: 19191, http: 19192, admin: 19090 } } };
    let pod = inject(render(values));
    assert.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true');
    assert.equal(pod.metadata.annotations['prometheus.io/port'], '19090', 'the sidecar admin port from the chart values');
    assert.equal(pod.metadata.annotations['prometheus.io/path'], '/metrics');

    const own = structuredClone(review.request.object);
    own.metadata.annotations['prometheus.io/port'] = '8080';
    pod = inject(render(values), own);
    assert.equal(pod.metadata.annotations['prometheus.io/port'], '8080', "the workload's own scrape settings are kept");
    assert.equal(pod.metadata.annotations['prometheus.io/scrape'], undefined, 'and nothing is added beside them');

    // With the Operator (a PodMonitor scrapes them) or scrapeAnnotations off: no annotations.
    for (const [objs, why] of [
      [render(values, { apiVersions: ['monitoring.coreos.com/v1'] }), 'PodMonitor'],
      [render({ ...values, metrics: { scrapeAnnotations: false } }), 'metrics.scrapeAnnotations: false'],
    ] as const) {
      assert.equal(inject(objs).metadata.annotations['prometheus.io/scrape'], undefined, why);
    }
  },
);

test(
  'sidecar mode with Istio: a PeerAuthentication per sidecar namespace makes only the injected admin port PERMISSIVE, on the pods the webhook labels',
  { skip },
  () => {
    const review = JSON.parse(
      readFileSync(new URL('../../../test/fixtures/admission/pod-istio-injected.json', import.meta.url), 'utf8'),
    ) as K8sObject;
    for (const admin of [9090, 19090]) {
      const objs = render({
        ...SIDECAR,
        sidecar: { ...SIDECAR.sidecar, ports: { grpc: 9191, http: 9192, admin } },
        istio: { enabled: true },
      });
      const pas = ofKind(objs, 'PeerAuthentication');
      assert.deepEqual(
        pas.map((p) => [p.apiVersion, p.metadata.namespace]),
        [
          ['security.istio.io/v1', 'shop'],
          ['security.istio.io/v1', 'payments'],
        ],
      );
      // A pod of Istio's injector (run first) injected with the chart's configuration carries the selected label.
      const { config } = authzContainer(objs);
      const resp = (handleAdmissionReview(review, config.webhook).body as K8sObject).response;
      const ops = JSON.parse(Buffer.from(resp.patch, 'base64').toString()) as jsonpatch.Operation[];
      const pod = jsonpatch.applyPatch(structuredClone(review.request.object), ops, true, false).newDocument as K8sObject;
      const sidecar = (pod.spec.containers as K8sObject[]).find((c) => c.name === 'zt-authz')!;
      for (const pa of pas) {
        assert.ok(selects(pa.spec.selector.matchLabels, pod.metadata.labels), 'selects the injected pod');
        assert.ok(!selects(pa.spec.selector.matchLabels, review.request.object.metadata.labels), 'not the pod before injection');
        // Only the admin port (probes, /metrics); everything else inherits the namespace / mesh mode (STRICT stays STRICT).
        assert.equal(pa.spec.mtls?.mode ?? 'UNSET', 'UNSET', 'the workload-wide mode is inherited');
        assert.deepEqual(pa.spec.portLevelMtls, { [admin]: { mode: 'PERMISSIVE' } });
        assert.equal(
          (sidecar.ports as K8sObject[]).find((p) => p.name === 'ztauthz-admin')?.containerPort,
          admin,
          'the container port of the admin listener',
        );
        for (const p of [config.webhook.inject.grpcPort, config.webhook.inject.httpPort])
          assert.ok(!(p in pa.spec.portLevelMtls), `authz port ${p} not relaxed`);
      }
    }
    // Not without Istio, not in central mode, not when turned off.
    assert.equal(ofKind(render(SIDECAR), 'PeerAuthentication').length, 0);
    assert.equal(ofKind(render({ istio: { enabled: true } }), 'PeerAuthentication').length, 0);
    assert.equal(ofKind(render({ ...SIDECAR, istio: { enabled: true, permissiveAdminPort: false } }), 'PeerAuthentication').length, 0);
  },
);

test(
  'istio.meshExcludeInboundPorts reaches the webhook: an injected pod without its own exclusions keeps the mesh ones beside the admin port',
  { skip },
  () => {
    const review = JSON.parse(
      readFileSync(new URL('../../../test/fixtures/admission/pod-annotated.json', import.meta.url), 'utf8'),
    ) as K8sObject;
    const excluded = (values: unknown): string => {
      const { config } = authzContainer(render(values));
      const resp = (handleAdmissionReview(review, config.webhook).body as K8sObject).response;
      const ops = JSON.parse(Buffer.from(resp.patch, 'base64').toString()) as jsonpatch.Operation[];
      return (jsonpatch.applyPatch(structuredClone(review.request.object), ops, true, false).newDocument as K8sObject).metadata.annotations[
        'traffic.sidecar.istio.io/excludeInboundPorts'
      ];
    };
    assert.equal(review.request.object.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts'], undefined);
    assert.equal(excluded({ ...SIDECAR, istio: { meshExcludeInboundPorts: [15090, 8081] } }), '15090,8081,9090');
    assert.equal(excluded(SIDECAR), '9090');
    // Read at start: a change rolls the pods.
    assert.notEqual(restartChecksum({ ...SIDECAR, istio: { meshExcludeInboundPorts: [8081] } }), restartChecksum(SIDECAR));
  },
);

test(
  'tokenIssuer: config.tokenIssuer at the admin Service address, keys from a watched Secret (a Role on that Secret only) or a mounted one, JWKS consumers admitted to the admin port',
  { skip },
  () => {
    const signingRoles = (objs: K8sObject[]): K8sObject[] =>
      ofKind(objs, 'Role').filter((r) => (r.metadata.name as string).endsWith('-signing-keys'));
    const adminFrom = (objs: K8sObject[]): K8sObject[] =>
      (one(objs, 'NetworkPolicy').spec.ingress as K8sObject[]).find((r) => (r.ports as K8sObject[]).some((p) => p.port === 'admin'))!.from;

    // Off by default: no tokenIssuer, no Role, no volume.
    const off = render({});
    assert.equal(authzContainer(off).config.tokenIssuer, undefined);
    assert.equal(signingRoles(off).length, 0);
    assert.ok(!(one(off, 'Deployment').spec.template.spec.volumes as K8sObject[]).some((v) => v.name === 'signing-keys'));

    // Keys in a Secret, watched through the API.
    const objs = render({ tokenIssuer: { enabled: true, keysSecret: { name: 'zt-authz-signing' } } });
    const { config, deployment } = authzContainer(objs); // validated as `zt-authz serve` would
    const svc = one(objs, 'Service');
    const adminPort = (svc.spec.ports as K8sObject[]).find((p) => p.name === 'admin')!;
    const issuer = new URL(config.tokenIssuer!.issuer);
    assert.equal(issuer.protocol, 'http:');
    assert.equal(issuer.hostname, `${svc.metadata.name}.${NS}.svc.cluster.local`, 'the issuer is the Service');
    assert.equal(Number(issuer.port), adminPort.port, 'on the admin port, where the JWKS and discovery are served');
    assert.equal(portOf(config.server.admin), adminPort.port);
    assert.deepEqual(config.tokenIssuer!.keysSecret, { name: 'zt-authz-signing', key: 'signing-keys.json' });
    assert.equal(config.tokenIssuer!.keysDir, undefined);
    assert.equal(config.tokenIssuer!.algorithm, 'ES256');
    const [role] = signingRoles(objs);
    assert.ok(role, 'a Role for the signing-key Secret');
    assert.equal(role.metadata.namespace, NS);
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['zt-authz-signing'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = one(objs, 'RoleBinding', role.metadata.name);
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    assertLeastPrivilegeRbac(objs);
    assert.equal(deployment.spec.template.spec.automountServiceAccountToken, true, 'the API token, to watch the Secret');
    // Services verifying minted tokens reach the admin port; the scrapers and the helm test pod still do.
    const from = adminFrom(objs);
    for (const peer of [
      { namespaceSelector: { matchLabels: { 'istio-injection': 'enabled' } } },
      { namespaceSelector: { matchExpressions: [{ key: 'istio.io/rev', operator: 'Exists' }] } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ])
      assert.ok(
        from.some((f) => JSON.stringify(f) === JSON.stringify(peer)),
        `admin port admits ${JSON.stringify(peer)}`,
      );
    assert.equal(adminFrom(off).length, 2, 'without tokenIssuer: scrapers and the helm test pod only');
    // Read at start: a change rolls the pods.
    assert.notEqual(restartChecksum({ tokenIssuer: { enabled: true, keysSecret: { name: 'zt-authz-signing' } } }), restartChecksum({}));

    // Keys from a mounted Secret, an issuer of one's own, custom JWKS consumers.
    const dirObjs = render({
      tokenIssuer: {
        enabled: true,
        issuer: 'https://zt-authz.zt-system.svc',
        algorithm: 'EdDSA',
        keysDir: { secretName: 'zt-authz-signing' },
        jwksFrom: [{ namespaceSelector: { matchLabels: { team: 'shop' } } }],
      },
    });
    const dir = authzContainer(dirObjs);
    assert.equal(dir.config.tokenIssuer!.issuer, 'https://zt-authz.zt-system.svc');
    assert.equal(dir.config.tokenIssuer!.algorithm, 'EdDSA');
    assert.equal(dir.config.tokenIssuer!.keysDir, '/etc/zt-authz-signing');
    assert.equal(dir.config.tokenIssuer!.keysSecret, undefined);
    const volume = (dir.deployment.spec.template.spec.volumes as K8sObject[]).find((v) => v.name === 'signing-keys');
    assert.equal(volume?.secret?.secretName, 'zt-authz-signing');
    const mount = (dir.container.volumeMounts as K8sObject[]).find((m) => m.name === 'signing-keys');
    assert.equal(mount?.mountPath, dir.config.tokenIssuer!.keysDir, 'mounted where keysDir points');
    assert.equal(mount?.readOnly, true);
    assert.equal(mount?.subPath, undefined, 'a whole-directory mount, so new keys reach the pod');
    assert.equal(signingRoles(dirObjs).length, 0, 'no API access to Secrets for a mounted one');
    assert.ok(adminFrom(dirObjs).some((f) => f.namespaceSelector?.matchLabels?.team === 'shop'));

    // One key source, exactly; a bad issuer is refused at helm time.
    assert.throws(() => render({ tokenIssuer: { enabled: true } }), /tokenIssuer/);
    assert.throws(() => render({ tokenIssuer: { enabled: true, keysSecret: { name: 'a' }, keysDir: { secretName: 'b' } } }), /tokenIssuer/);
    assert.throws(() => render({ tokenIssuer: { enabled: true, keysSecret: { name: 'a' }, ttlSeconds: 901 } }), /ttlSeconds/);
    // config.tokenIssuer is not a value: the chart writes it (with the volume and Role to go with it).
    assert.throws(
      () => render({ config: { kubernetes: { enabled: true }, tokenIssuer: { issuer: 'https://x', keysDir: '/k' } } }),
      /tokenIssuer/,
    );
  },
);
