// charts/zt-authz/values.schema.json: generated from the service's configuration schema (no
// hand-kept copy), up to date, and enforced by real helm: lint and template refuse bad values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSchema } from '../../src/config/schema.js';
import { CHART, ROOT, helm, helmSkip, valuesFile } from '../helpers/helm.js';

const skip = helmSkip() || helmSkip(4);

test('values.schema.json equals the generator output (run: npm run build && node scripts/gen-values-schema.mjs)', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-values-schema.mjs'), '--check'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
});

test('values.schema.json: config and sidecar.config are ConfigSchema minus the keys the chart sets', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
  const full = JSON.parse(JSON.stringify(ConfigSchema));
  const keys = (s: { properties: Record<string, unknown> }) => Object.keys(s.properties).sort();
  const without = (list: string[], ...drop: string[]) => list.filter((k) => !drop.includes(k));
  // tokenIssuer comes from the chart's own tokenIssuer values (they also render its key volume or Secret Role).
  assert.deepEqual(keys(schema.properties.config), without(keys(full), 'webhook', 'tokenIssuer'));
  assert.deepEqual(keys(schema.properties.sidecar.properties.config), without(keys(full), 'webhook', 'kubernetes', 'tokenIssuer'));
  assert.deepEqual(keys(schema.properties.config.properties.server), without(keys(full.properties.server), 'grpc', 'http', 'admin', 'tls'));
  // Everything else is the same schema, e.g. the policy and issuer definitions.
  assert.deepEqual(schema.properties.config.properties.policies, full.properties.policies);
  assert.deepEqual(schema.properties.config.properties.issuers, full.properties.issuers);
  assert.equal(schema.properties.config.additionalProperties, false);
});

test('helm lint and helm template reject bad values, naming the field', { skip }, () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown mode', { mode: 'mesh' }, /at '\/mode': value must be one of 'central', 'sidecar'/],
    ['port out of range', { ports: { grpc: 70000 } }, /at '\/ports\/grpc': maximum: got 70,000, want 65,535/],
    ['port not a number', { ports: { admin: 'ninety' } }, /at '\/ports\/admin': got string, want integer/],
    [
      'listener set in config (the chart sets it)',
      { config: { server: { grpc: '0.0.0.0:1' } } },
      /at '\/config\/server': additional properties 'grpc' not allowed/,
    ],
    ['unknown config key', { config: { polices: [] } }, /at '\/config': additional properties 'polices' not allowed/],
    [
      'config value out of range',
      { config: { issuers: [{ issuer: 'https://idp', jwksUri: 'https://idp/jwks', audiences: ['orders'], clockSkewSeconds: 5000 }] } },
      /at '\/config\/issuers\/0\/clockSkewSeconds': maximum: got 5,000, want 600/,
    ],
    ['bad policy action', { config: { policies: [{ name: 'p', action: 'PERMIT' }] } }, /at '\/config\/policies\/0\/action'/],
    [
      'webhook block in config (the chart sets it)',
      { config: { webhook: { enabled: true } } },
      /at '\/config': additional properties 'webhook' not allowed/,
    ],
    [
      'kubernetes in the sidecar config',
      { sidecar: { config: { kubernetes: { enabled: true } } } },
      /at '\/sidecar\/config': additional properties 'kubernetes' not allowed/,
    ],
    ['bad failurePolicy', { webhook: { failurePolicy: 'Open' } }, /at '\/webhook\/failurePolicy'/],
    [
      'bad sidecar memory quantity',
      { sidecar: { resources: { limits: { memory: 'lots' } } } },
      /at '\/sidecar\/resources\/limits\/memory'/,
    ],
    ['bad Istio timeout', { istio: { extensionProvider: { timeout: 'fast' } } }, /at '\/istio\/extensionProvider\/timeout'/],
    [
      'AuthorizationPolicy without namespace',
      { istio: { authorizationPolicies: [{ name: 'x' }] } },
      /at '\/istio\/authorizationPolicies\/0': missing property 'namespace'/,
    ],
    ['bad image digest', { image: { digest: 'latest' } }, /at '\/image\/digest'/],
    ['bad serviceMonitor switch', { metrics: { serviceMonitor: { enabled: 'sometimes' } } }, /at '\/metrics\/serviceMonitor\/enabled'/],
    ['unknown top-level key', { replicas: 3 }, /additional properties 'replicas' not allowed/],
    // An empty or missing `from` would admit every source to the authz ports.
    ['NetworkPolicy authzFrom empty', { networkPolicy: { authzFrom: [] } }, /at '\/networkPolicy\/authzFrom': minItems: got 0, want 1/],
    [
      'NetworkPolicy authzFrom null (helm drops the key)',
      { networkPolicy: { authzFrom: null } },
      /at '\/networkPolicy': missing property 'authzFrom'/,
    ],
    [
      'NetworkPolicy peer that is empty',
      { networkPolicy: { authzFrom: [{}] } },
      /at '\/networkPolicy\/authzFrom\/0': minProperties: got 0, want 1/,
    ],
    [
      'NetworkPolicy peer that is not a peer',
      { networkPolicy: { metricsFrom: [{ namespace: 'monitoring' }] } },
      /at '\/networkPolicy\/metricsFrom\/0': additional properties 'namespace' not allowed/,
    ],
    [
      'NetworkPolicy ipBlock without cidr',
      { networkPolicy: { authzFrom: [{ ipBlock: { except: ['10.0.0.0/8'] } }] } },
      /at '\/networkPolicy\/authzFrom\/0\/ipBlock': missing property 'cidr'/,
    ],
    // Sidecar mode: the webhook's scope and the sidecar ConfigMaps come from sidecar.namespaces.
    ['sidecar mode without namespaces', { mode: 'sidecar' }, /at '\/sidecar\/namespaces': minItems: got 0, want 1/],
    [
      'sidecar mode with namespaces null',
      { mode: 'sidecar', sidecar: { namespaces: null } },
      /at '\/sidecar': missing property 'namespaces'/,
    ],
    [
      'mesh excludeInboundPorts not a list of ports',
      { istio: { meshExcludeInboundPorts: '15090,8081' } },
      /at '\/istio\/meshExcludeInboundPorts': got string, want array/,
    ],
    [
      'mesh excludeInboundPorts port out of range',
      { istio: { meshExcludeInboundPorts: [0] } },
      /at '\/istio\/meshExcludeInboundPorts\/0': minimum: got 0, want 1/,
    ],
    [
      'rbac.secrets not a boolean (deprecated, still typed)',
      { rbac: { secrets: 'sometimes' } },
      /at '\/rbac\/secrets': got string, want boolean/,
    ],
    [
      'duplicate sidecar namespace',
      { mode: 'sidecar', sidecar: { namespaces: ['shop', 'shop'] } },
      /at '\/sidecar\/namespaces': items at 0 and 1 are equal/,
    ],
  ];
  // Helm 3 (since 3.18) and Helm 4 validate with the same JSON-schema library, so with the same words.
  for (const [what, values, message] of cases) {
    const file = valuesFile(values);
    for (const [major, cmd] of [
      [3, ['lint', CHART, '-f', file]],
      [3, ['template', 'zt-authz', CHART, '-f', file]],
      [4, ['template', 'zt-authz', CHART, '-f', file]],
    ] as const) {
      const r = helm([...cmd], major);
      assert.notEqual(r.status, 0, `helm ${major} ${cmd[0]} accepts ${what}`);
      assert.match(`${r.stdout}\n${r.stderr}`, message, `helm ${major} ${cmd[0]}, ${what}`);
    }
  }
});

test(
  'the schema accepts what it should: every peer kind, no authzFrom when the NetworkPolicy is off, central mode without sidecar namespaces',
  { skip },
  () => {
    const ok: unknown[] = [
      {
        networkPolicy: {
          authzFrom: [
            { podSelector: { matchLabels: { app: 'envoy' } } },
            {
              namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['edge'] }] },
              podSelector: { matchLabels: { app: 'gw' } },
            },
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
          ],
        },
      },
      { networkPolicy: { enabled: false, authzFrom: [] } },
      { mode: 'central', sidecar: { namespaces: [] } },
      { mode: 'sidecar', sidecar: { namespaces: ['shop'] } },
    ];
    for (const values of ok) {
      const r = helm(['lint', '--strict', CHART, '-f', valuesFile(values)]);
      assert.equal(r.status, 0, `helm lint ${JSON.stringify(values)}:\n${r.stdout}\n${r.stderr}`);
    }
  },
);

test('upgrade from earlier values: the removed rbac.secrets is accepted (deprecated, ignored) and changes nothing', { skip }, () => {
  const issuers = 'config.issuers[0].issuer=https://a.example,config.issuers[0].jwksSecret.name=keys-a';
  const base = helm(['template', 'zt-authz', CHART, '-n', 'zt-authz', '--set', issuers]);
  assert.equal(base.status, 0, base.stderr);
  for (const v of ['false', 'true']) {
    const r = helm(['template', 'zt-authz', CHART, '-n', 'zt-authz', '--set', issuers, '--set', `rbac.secrets=${v}`]);
    assert.equal(r.status, 0, `--set rbac.secrets=${v}: ${r.stderr}`);
    assert.equal(r.stdout, base.stdout, `rbac.secrets=${v} is ignored: the Secret Role still follows issuers[].jwksSecret`);
    const lint = helm(['lint', '--strict', CHART, '--set', `rbac.secrets=${v}`]);
    assert.equal(lint.status, 0, lint.stdout);
  }
  assert.match(base.stdout, /resourceNames: \["keys-a"\]/);
});

test(
  'without the schema (helm --skip-schema-validation) the templates still refuse an open NetworkPolicy and sidecar mode without namespaces',
  { skip },
  () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['authzFrom empty', { networkPolicy: { authzFrom: [] } }, /networkPolicy\.authzFrom must list at least one peer/],
      ['authzFrom null', { networkPolicy: { authzFrom: null } }, /networkPolicy\.authzFrom must list at least one peer/],
      ['sidecar without namespaces', { mode: 'sidecar' }, /sidecar\.namespaces must list at least one namespace in sidecar mode/],
    ];
    for (const [what, values, message] of cases) {
      const r = helm(['template', 'zt-authz', CHART, '--skip-schema-validation', '-f', valuesFile(values)]);
      assert.notEqual(r.status, 0, `helm template --skip-schema-validation accepts ${what}`);
      assert.match(r.stderr, message, what);
    }
    // The same switch with valid values renders: the failures above are the checks, not the flag.
    assert.equal(
      helm([
        'template',
        'zt-authz',
        CHART,
        '--skip-schema-validation',
        '-f',
        valuesFile({ networkPolicy: { enabled: false, authzFrom: [] } }),
      ]).status,
      0,
    );
  },
);
