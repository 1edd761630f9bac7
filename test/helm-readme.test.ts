// The README's "Install on a cluster", "Use with Envoy" and "Use with Istio" snippets are what
// the chart renders (release zt-authz in namespace zt-authz), so the docs cannot drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT, helmSkip, one, render, type K8sObject } from './helpers/helm.js';

const skip = helmSkip();
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The fenced blocks of one `## ` section, by language. */
function blocks(heading: string, lang: string): string[] {
  const start = README.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has "## ${heading}"`);
  const next = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

const yamlDocs = (heading: string): K8sObject[] =>
  blocks(heading, 'yaml').flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as K8sObject));

const sidecarValues = { mode: 'sidecar', sidecar: { namespaces: ['shop'] }, istio: { enabled: true } };

test('README "Use with Istio": the provider snippets, AuthorizationPolicy and ServiceEntry are the chart output', { skip }, () => {
  const docs = yamlDocs('Use with Istio');
  const providers = docs.filter((d) => d.meshConfig);
  assert.equal(providers.length, 2, 'central and sidecar provider snippets');
  const central = render({ istio: { enabled: true, authorizationPolicies: [{ name: 'orders', namespace: 'shop', selector: { matchLabels: { app: 'orders' } } }] } });
  assert.deepEqual(providers[0], parse(one(central, 'ConfigMap', 'zt-authz-istio-extension-provider').data['values.yaml']), 'central provider');
  const ap = one(central, 'AuthorizationPolicy');
  const readmeAp = one(docs, 'AuthorizationPolicy');
  assert.deepEqual([readmeAp.metadata.name, readmeAp.metadata.namespace, readmeAp.apiVersion], [ap.metadata.name, ap.metadata.namespace, ap.apiVersion]);
  assert.deepEqual(readmeAp.spec, ap.spec);

  const sidecar = render(sidecarValues);
  assert.deepEqual(providers[1], parse(one(sidecar, 'ConfigMap', 'zt-authz-istio-extension-provider').data['values.yaml']), 'sidecar provider');
  const se = one(sidecar, 'ServiceEntry');
  const readmeSe = one(docs, 'ServiceEntry');
  assert.deepEqual([readmeSe.metadata.name, readmeSe.metadata.namespace, readmeSe.apiVersion], [se.metadata.name, se.metadata.namespace, se.apiVersion]);
  assert.deepEqual(readmeSe.spec, se.spec);

  const cmd = blocks('Use with Istio', 'sh').join('\n');
  assert.ok(cmd.includes(`configmap ${one(central, 'ConfigMap', 'zt-authz-istio-extension-provider').metadata.name} `), 'the command names the ConfigMap');
});

test('README "Use with Envoy": central cluster = the chart Service gRPC port, sidecar cluster = the injected listener', { skip }, () => {
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
});

test('README "Install on a cluster": the commands use the chart, its annotation and its object names', { skip }, () => {
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
});
