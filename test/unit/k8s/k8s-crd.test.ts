// The ZeroTrustPolicy CRD is generated from the policy schema: the checked-in manifest must equal
// the generator's output, be a structural schema Kubernetes accepts, and accept exactly the
// policy model (minus name/namespace, which come from metadata).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { crdManifest, renderCrdYaml, specSchema } from '../../../src/k8s/crd.js';
import { PolicySchema } from '../../../src/config/policy-schema.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const FILE = `${root}deploy/crds/zero-trust-policy.yaml`;

test('deploy/crds/zero-trust-policy.yaml equals the generator output (run: npm run build && node scripts/gen-crd.mjs)', () => {
  assert.equal(readFileSync(FILE, 'utf8'), renderCrdYaml());
  assert.deepEqual(parse(readFileSync(FILE, 'utf8')), crdManifest());
});

test('the CRD schema is structural: typed nodes, no additionalProperties:false, no patternProperties', () => {
  const problems: string[] = [];
  const walk = (s: Record<string, unknown>, at: string): void => {
    if (typeof s.type !== 'string') problems.push(`${at}: no type`);
    if (s.additionalProperties === false) problems.push(`${at}: additionalProperties: false`);
    if (s.patternProperties) problems.push(`${at}: patternProperties`);
    if (s.properties && s.additionalProperties) problems.push(`${at}: properties and additionalProperties`);
    for (const k of ['anyOf', 'oneOf', 'allOf', '$ref']) if (k in s) problems.push(`${at}: ${k}`);
    for (const [p, v] of Object.entries((s.properties as Record<string, Record<string, unknown>> | undefined) ?? {})) walk(v, `${at}.${p}`);
    if (s.items) walk(s.items as Record<string, unknown>, `${at}[]`);
    if (s.additionalProperties && typeof s.additionalProperties === 'object')
      walk(s.additionalProperties as Record<string, unknown>, `${at}{}`);
  };
  const version = (
    crdManifest().spec as { versions: Array<{ schema: { openAPIV3Schema: Record<string, unknown> }; subresources: unknown }> }
  ).versions[0]!;
  walk(version.schema.openAPIV3Schema, 'openAPIV3Schema');
  assert.deepEqual(problems, []);
  assert.deepEqual(version.subresources, { status: {} }, 'status is a subresource (RBAC: update on zerotrustpolicies/status only)');
});

test('the spec schema is the policy model without name and namespace', () => {
  const spec = specSchema();
  const want = Object.keys(PolicySchema.properties)
    .filter((k) => k !== 'name' && k !== 'namespace')
    .sort();
  assert.deepEqual(Object.keys(spec.properties as object).sort(), want);
  const ajv = new Ajv({ strict: false });
  const validate = ajv.compile(spec);
  const good = {
    selector: { matchLabels: { app: 'orders' } },
    action: 'ALLOW',
    rules: [
      {
        from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'], requestPrincipals: ['https://idp.example.com/*'] } }],
        to: [{ operation: { methods: ['GET'], paths: ['/orders', '/orders/{*}'] } }],
        when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }],
      },
    ],
  };
  assert.equal(validate(good), true, JSON.stringify(validate.errors));
  assert.equal(validate({ action: 'MAYBE' }), false);
  assert.equal(validate({ rules: [{ when: [{ values: ['x'] }] }] }), false, 'when[].key is required');
  assert.equal(validate({ selector: { matchLabels: { app: 7 } } }), false);
});
