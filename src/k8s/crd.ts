// The ZeroTrustPolicy CustomResourceDefinition, generated from the policy schema
// (src/config/policy-schema.ts): the spec is the policy model minus `name` and `namespace`, which come
// from metadata. `scripts/gen-crd.mjs` writes deploy/crds/zero-trust-policy.yaml from this, and a
// test keeps the checked-in file equal to the generator's output.
//
// Kubernetes wants a *structural* schema: every node typed, no `additionalProperties: false`
// next to `properties` (the API server prunes unknown fields instead; `kubectl apply` with the
// default strict field validation rejects them), and `additionalProperties: <schema>` instead of
// `patternProperties`. The conversion below does exactly that and nothing else.
import { Type } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { PolicySchema } from '../config/policy-schema.js';
import { InternalError } from '../errors.js';
import { CRD } from './policies.js';

type Json = Record<string, unknown>;

/** JSON Schema (TypeBox output) → Kubernetes structural schema. */
export function structural(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(structural);
  if (!schema || typeof schema !== 'object') return schema;
  const s = schema as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$id' || k === '$schema') continue;
    if (k === 'additionalProperties' && v === false) continue;
    if (k === 'patternProperties') {
      const values = Object.values(v as Json);
      if (values.length !== 1) throw new InternalError('patternProperties with more than one pattern cannot be expressed in a CRD');
      out.additionalProperties = structural(values[0]);
      continue;
    }
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, ps]) => [p, structural(ps)])) : structural(v);
  }
  return out;
}

export function specSchema(): Json {
  const spec = structural(JSON.parse(JSON.stringify(Type.Omit(PolicySchema, ['name', 'namespace'])))) as Json;
  return {
    ...spec,
    description:
      'Istio AuthorizationPolicy vocabulary (see docs/policies.md); the policy namespace is metadata.namespace, its name "<namespace>/<metadata.name>"',
  };
}

const conditionSchema = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string', description: 'Accepted' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string', description: 'Accepted | Invalid' },
    message: { type: 'string', description: 'validation problems with field paths (Invalid)' },
    observedGeneration: { type: 'integer', format: 'int64' },
    lastTransitionTime: { type: 'string', format: 'date-time' },
  },
};

export function crdManifest(): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${CRD.plural}.${CRD.group}`, labels: { 'app.kubernetes.io/name': 'zt-authz' } },
    spec: {
      group: CRD.group,
      scope: 'Namespaced',
      names: { kind: CRD.kind, listKind: `${CRD.kind}List`, plural: CRD.plural, singular: CRD.singular, shortNames: [...CRD.shortNames] },
      versions: [
        {
          name: CRD.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Action', type: 'string', jsonPath: '.spec.action' },
            { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].reason' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A zt-authz authorization policy, applied to requests whose destination is in this namespace',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(),
                status: {
                  type: 'object',
                  properties: {
                    observedGeneration: { type: 'integer', format: 'int64' },
                    conditions: {
                      type: 'array',
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['type'],
                      items: conditionSchema,
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

export const CRD_HEADER = '# Generated from src/config/policy-schema.ts by scripts/gen-crd.mjs (after npm run build). Do not edit.\n';

export function renderCrdYaml(): string {
  return CRD_HEADER + stringify(crdManifest(), { lineWidth: 0 });
}
