// charts/zt-authz/values.schema.json: generated from the service's configuration schema (no
// hand-kept copy), up to date, and enforced by real helm: lint and template refuse bad values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSchema } from '../src/config/schema.js';
import { CHART, ROOT, helm, helmSkip, valuesFile } from './helpers/helm.js';

const skip = helmSkip();

test('values.schema.json equals the generator output (run: npm run build && node scripts/gen-values-schema.mjs)', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-values-schema.mjs'), '--check'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
});

test('values.schema.json: config and sidecar.config are ConfigSchema minus the keys the chart sets', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
  const full = JSON.parse(JSON.stringify(ConfigSchema));
  const keys = (s: { properties: Record<string, unknown> }) => Object.keys(s.properties).sort();
  const without = (list: string[], ...drop: string[]) => list.filter((k) => !drop.includes(k));
  assert.deepEqual(keys(schema.properties.config), without(keys(full), 'webhook'));
  assert.deepEqual(keys(schema.properties.sidecar.properties.config), without(keys(full), 'webhook', 'kubernetes'));
  assert.deepEqual(keys(schema.properties.config.properties.server), without(keys(full.properties.server), 'grpc', 'http', 'admin', 'tls'));
  // Everything else is the same schema, e.g. the policy and issuer definitions.
  assert.deepEqual(schema.properties.config.properties.policies, full.properties.policies);
  assert.deepEqual(schema.properties.config.properties.issuers, full.properties.issuers);
  assert.equal(schema.properties.config.additionalProperties, false);
});

test('helm lint and helm template reject bad values, naming the field', { skip }, () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown mode', { mode: 'mesh' }, /mode: mode must be one of the following: "central", "sidecar"/],
    ['port out of range', { ports: { grpc: 70000 } }, /ports\.grpc: Must be less than or equal to 65535/],
    ['port not a number', { ports: { admin: 'ninety' } }, /ports\.admin: Invalid type/],
    ['listener set in config (the chart sets it)', { config: { server: { grpc: '0.0.0.0:1' } } }, /config\.server: Additional property grpc is not allowed/],
    ['unknown config key', { config: { polices: [] } }, /config: Additional property polices is not allowed/],
    ['config value out of range', { config: { issuers: [{ issuer: 'https://idp', jwksUri: 'https://idp/jwks', clockSkewSeconds: 5000 }] } }, /config\.issuers\.0\.clockSkewSeconds: Must be less than or equal to 600/],
    ['bad policy action', { config: { policies: [{ name: 'p', action: 'PERMIT' }] } }, /config\.policies\.0\.action/],
    ['webhook block in config (the chart sets it)', { config: { webhook: { enabled: true } } }, /config: Additional property webhook is not allowed/],
    ['kubernetes in the sidecar config', { sidecar: { config: { kubernetes: { enabled: true } } } }, /sidecar\.config: Additional property kubernetes is not allowed/],
    ['bad failurePolicy', { webhook: { failurePolicy: 'Open' } }, /webhook\.failurePolicy/],
    ['bad sidecar memory quantity', { sidecar: { resources: { limits: { memory: 'lots' } } } }, /sidecar\.resources\.limits\.memory/],
    ['bad Istio timeout', { istio: { extensionProvider: { timeout: 'fast' } } }, /istio\.extensionProvider\.timeout/],
    ['AuthorizationPolicy without namespace', { istio: { authorizationPolicies: [{ name: 'x' }] } }, /istio\.authorizationPolicies\.0: namespace is required/],
    ['bad image digest', { image: { digest: 'latest' } }, /image\.digest/],
    ['bad serviceMonitor switch', { metrics: { serviceMonitor: { enabled: 'sometimes' } } }, /metrics\.serviceMonitor\.enabled/],
    ['unknown top-level key', { replicas: 3 }, /Additional property replicas is not allowed/],
  ];
  for (const [what, values, message] of cases) {
    const file = valuesFile(values);
    for (const cmd of [['lint', CHART, '-f', file], ['template', 'zt-authz', CHART, '-f', file]]) {
      const r = helm(cmd);
      assert.notEqual(r.status, 0, `helm ${cmd[0]} accepts ${what}`);
      assert.match(`${r.stdout}\n${r.stderr}`, message, `helm ${cmd[0]}, ${what}`);
    }
  }
});
