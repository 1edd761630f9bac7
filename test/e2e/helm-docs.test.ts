// The "Install on a cluster" (docs/kubernetes-helm.md), "Use with Envoy" and "Use with Istio"
// (docs/envoy-istio.md) snippets are what the chart renders (release zt-authz in namespace
// zt-authz), so the docs cannot drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ISTIO } from '../../src/webhook/istio.js';
import { CHART, ROOT, helm, helmSkip, one, render, type K8sObject } from '../helpers/helm.js';

const skip = helmSkip();
/** The page of docs/ that holds each `## ` section these tests read. */
const PAGE: Record<string, string> = {
  'Install on a cluster': 'docs/kubernetes-helm.md',
  'Use with Envoy': 'docs/envoy-istio.md',
  'Use with Istio': 'docs/envoy-istio.md',
};

/** One `## ` section, up to the next one (its `### ` subsections included). */
function section(heading: string): string {
  const page = PAGE[heading]!;
  const text = readFileSync(join(ROOT, page), 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `${page} has "## ${heading}"`);
  const next = text.indexOf('\n## ', start + 1);
  return text.slice(start, next < 0 ? undefined : next);
}

/** The fenced blocks of one `## ` section, by language. */
function blocks(heading: string, lang: string): string[] {
  return [...section(heading).matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

const yamlDocs = (heading: string): K8sObject[] =>
  blocks(heading, 'yaml').flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as K8sObject));

const sidecarValues = { mode: 'sidecar', sidecar: { namespaces: ['shop'] }, istio: { enabled: true } };

test('docs "Use with Istio": the provider snippets, AuthorizationPolicy and ServiceEntry are the chart output', { skip }, () => {
  const docs = yamlDocs('Use with Istio');
  const providers = docs.filter((d) => d.meshConfig);
  assert.equal(providers.length, 2, 'central and sidecar provider snippets');
  const central = render({
    istio: { enabled: true, authorizationPolicies: [{ name: 'orders', namespace: 'shop', selector: { matchLabels: { app: 'orders' } } }] },
  });
  assert.deepEqual(
    providers[0],
    parse(one(central, 'ConfigMap', 'zt-authz-istio-extension-provider').data['values.yaml']),
    'central provider',
  );
  const ap = one(central, 'AuthorizationPolicy');
  const docAp = one(docs, 'AuthorizationPolicy');
  assert.deepEqual(
    [docAp.metadata.name, docAp.metadata.namespace, docAp.apiVersion],
    [ap.metadata.name, ap.metadata.namespace, ap.apiVersion],
  );
  assert.deepEqual(docAp.spec, ap.spec);

  const sidecar = render(sidecarValues);
  assert.deepEqual(
    providers[1],
    parse(one(sidecar, 'ConfigMap', 'zt-authz-istio-extension-provider').data['values.yaml']),
    'sidecar provider',
  );
  const se = one(sidecar, 'ServiceEntry');
  const docSe = one(docs, 'ServiceEntry');
  assert.deepEqual(
    [docSe.metadata.name, docSe.metadata.namespace, docSe.apiVersion],
    [se.metadata.name, se.metadata.namespace, se.apiVersion],
  );
  assert.deepEqual(docSe.spec, se.spec);

  // The PeerAuthentication for STRICT mTLS: the chart's, for the sidecar namespace shop.
  const pa = one(sidecar, 'PeerAuthentication');
  const docPa = one(docs, 'PeerAuthentication');
  assert.deepEqual(
    [docPa.metadata.name, docPa.metadata.namespace, docPa.apiVersion],
    [pa.metadata.name, pa.metadata.namespace, pa.apiVersion],
  );
  assert.deepEqual(docPa.spec, pa.spec);

  const cmd = blocks('Use with Istio', 'sh').join('\n');
  assert.ok(
    cmd.includes(`configmap ${one(central, 'ConfigMap', 'zt-authz-istio-extension-provider').metadata.name} `),
    'the command names the ConfigMap',
  );
});

test('docs "Use with Envoy": central cluster = the chart Service gRPC port, sidecar cluster = the injected listener', { skip }, () => {
  const docs = yamlDocs('Use with Envoy');
  const addr = (doc: K8sObject) => doc.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  const central = render({});
  const svc = one(central, 'Service');
  const grpc = (svc.spec.ports as K8sObject[]).find((p) => p.name === 'grpc')!;
  assert.deepEqual(addr(docs[0]!), { address: `${svc.metadata.name}.${svc.metadata.namespace}.svc`, port_value: grpc.port });
  assert.equal(docs[0]!.http_filters[0].typed_config.failure_mode_allow, false);
  const sidecarCm = render(sidecarValues).find((o) => o.kind === 'ConfigMap' && o.metadata.namespace === 'shop')!;
  const listen = parse(sidecarCm.data['config.yaml']).server.grpc as string;
  const local = addr(docs[1]!);
  assert.equal(`${local.address}:${local.port_value}`, listen);

  // The complete static configuration uses the same filter and cluster as the fragments above.
  const full = docs.find((d) => d.static_resources)!.static_resources;
  const hcm = full.listeners[0].filter_chains[0].filters[0].typed_config;
  assert.deepEqual(hcm.http_filters[0], docs[0]!.http_filters[0], 'the ext_authz filter of the fragment');
  assert.equal(hcm.http_filters.at(-1).name, 'envoy.filters.http.router', 'the router is the last filter');
  const clusters = full.clusters as K8sObject[];
  assert.deepEqual(
    clusters.find((c) => c.name === 'zt-authz'),
    docs[0]!.clusters[0],
  );
  const routed = hcm.route_config.virtual_hosts[0].routes[0].route.cluster;
  assert.ok(
    clusters.some((c) => c.name === routed),
    `the route's cluster ${routed} is defined`,
  );
  assert.equal(hcm.http_filters[0].typed_config.grpc_service.envoy_grpc.cluster_name, 'zt-authz');
});

test('docs "Use with Istio": the Istio annotations and variables it names are the ones the webhook uses', { skip }, () => {
  const istio = section('Use with Istio');
  for (const name of [
    ISTIO.excludeInboundPorts,
    ISTIO.rewriteProbes,
    ISTIO.statusPortAnnotation,
    ISTIO.probersEnv,
    ISTIO.prometheusEnv,
    `:${ISTIO.statusPort}/app-health/`,
  ]) {
    assert.ok(istio.includes(name), `mentions ${name}`);
  }
  // Its premise: the chart's webhook configuration sorts after Istio's injector.
  const mwc = one(render(sidecarValues), 'MutatingWebhookConfiguration').metadata.name as string;
  assert.ok(istio.includes(`\`${mwc}\``), `names ${mwc}`);
  assert.ok('istio-sidecar-injector' < mwc);
});

test('docs "Install on a cluster": the commands use the chart, its annotation and its object names', { skip }, () => {
  const sh = blocks('Install on a cluster', 'sh').join('\n');
  assert.match(sh, /helm install zt-authz charts\/zt-authz -n zt-authz --create-namespace/);
  assert.match(sh, /helm test zt-authz -n zt-authz/);
  assert.match(sh, /"zt-authz\.io\/inject":"true"/);
  const central = render({}, { apiVersions: ['monitoring.coreos.com/v1'] });
  assert.ok(sh.includes(`get servicemonitor ${one(central, 'ServiceMonitor').metadata.name}`));
  assert.ok(sh.includes(`port-forward svc/${one(central, 'Service').metadata.name} 9090`));
  // The values example is valid for the chart.
  const values = blocks('Install on a cluster', 'yaml')[0]!;
  const objs = render(parse(values));
  assert.equal(one(objs, 'Deployment').spec.template.spec.containers[0].image, 'registry.example.com/zt-authz:0.1.0');

  // The sidecar-mode install, with its --set flags as written (run through real helm).
  const install = sh
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .find((l) => l.includes('--set mode=sidecar'));
  assert.ok(install, 'a sidecar-mode helm install');
  const sets = [...install.matchAll(/--set '?([^' ]+)'?/g)].flatMap((m) => ['--set', m[1]!]);
  const r = helm(['template', 'zt-authz', CHART, '-n', 'zt-authz', ...sets]);
  assert.equal(r.status, 0, r.stderr);
  const sidecar = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject)
    .filter(Boolean);
  const image = 'registry.example.com/zt-authz:0.1.0';
  assert.equal(one(sidecar, 'Deployment').spec.template.spec.containers[0].image, image, 'the pushed image, not the chart default');
  const config = parse(one(sidecar, 'ConfigMap', 'zt-authz').data['config.yaml']);
  assert.equal(config.webhook.inject.image, image, 'the injected container uses it too');
  assert.ok(
    sidecar.some((o) => o.kind === 'ConfigMap' && o.metadata.namespace === 'shop'),
    'the sidecar ConfigMap in shop',
  );
});
