// TokenRevocation resources (zt-authz.io/v1alpha1): each one's spec is one revocation entry, of
// the same shape and checked by the same validator as an entry of the revocation file
// (src/authn/revocation/entries.ts). They feed the shared RevocationList directly, not the
// snapshot: a revocation takes effect on the next request, with no rebuild.
//
// An invalid resource is logged and counted; if an earlier generation of it was valid, that one
// keeps applying (a broken edit must not un-revoke a token), otherwise it revokes nothing.
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import { parseEntry, describeEntry, type RevocationEntry } from '../authn/revocation/entries.js';
import type { RevocationList } from '../authn/revocation/list.js';
import type { InformerEvent, KubeObject } from './informer.js';

export const REVOCATION_CRD = {
  group: 'zt-authz.io',
  version: 'v1alpha1',
  plural: 'tokenrevocations',
  kind: 'TokenRevocation',
  singular: 'tokenrevocation',
  shortNames: ['ztrev'],
} as const;

export interface RevocationObject extends KubeObject {
  spec?: unknown;
}

export interface RevocationSetOptions {
  list: RevocationList;
  logger: Logger;
  /** A resource was rejected (counted as zt_authz_revocation_reload_total{source="kubernetes",result="error"}). */
  onRejected: (key: string) => void;
  onApplied: () => void;
}

export class RevocationSet {
  /** The entry each resource applies (its last valid generation). */
  private readonly applied = new Map<string, RevocationEntry>();

  constructor(private readonly o: RevocationSetOptions) {}

  get size(): number {
    return this.applied.size;
  }

  apply(type: InformerEvent, obj: RevocationObject): void {
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const source = `TokenRevocation ${key}`;
    if (type === 'delete') {
      if (this.applied.delete(key)) this.o.list.set(source, []);
      return;
    }
    const r = parseEntry(obj.spec, 'spec');
    if ('problems' in r) {
      const keeping = this.applied.get(key);
      this.o.logger.warn(
        { revocation: key, generation: obj.metadata.generation, keeping: keeping ? 'last valid generation' : 'nothing' },
        `TokenRevocation ${key} rejected: ${r.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      );
      this.o.onRejected(key);
      return;
    }
    // Metadata-only updates (labels, resync) change nothing: no reindex, no cache scan.
    if (JSON.stringify(this.applied.get(key)) === JSON.stringify(r.entry)) return;
    this.applied.set(key, r.entry);
    this.o.list.set(source, [r.entry]);
    this.o.logger.info(
      { revocation: key, ...describeEntry(r.entry) },
      type === 'add' ? 'TokenRevocation applied' : 'TokenRevocation updated',
    );
    this.o.onApplied();
  }
}

const time = (description: string) => ({ type: 'string', format: 'date-time', description });

/** The CRD, written to deploy/crds/token-revocation.yaml by scripts/gen-crd.mjs. */
export function revocationCrdManifest(): Record<string, unknown> {
  const c = REVOCATION_CRD;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.${c.group}`, labels: { 'app.kubernetes.io/name': 'zt-authz' } },
    spec: {
      group: c.group,
      scope: 'Namespaced',
      names: { kind: c.kind, listKind: `${c.kind}List`, plural: c.plural, singular: c.singular, shortNames: [...c.shortNames] },
      versions: [
        {
          name: c.version,
          served: true,
          storage: true,
          additionalPrinterColumns: [
            { name: 'Issuer', type: 'string', jsonPath: '.spec.issuer' },
            { name: 'Subject', type: 'string', jsonPath: '.spec.subject' },
            { name: 'Expires', type: 'string', jsonPath: '.spec.expiresAt' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'A revoked JWT (issuer + jti), every token of a subject issued before notBefore, or an API key (apiKey: its sha256); see docs/credentials.md',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  description: 'one entry: {issuer, jti, expiresAt?} | {issuer, subject, notBefore, expiresAt?} | {apiKey, expiresAt?}',
                  properties: {
                    issuer: { type: 'string', minLength: 1, maxLength: 1024, description: "the issuer's iss, exactly as configured" },
                    jti: { type: 'string', minLength: 1, maxLength: 1024, description: 'the revoked token’s jti' },
                    subject: {
                      type: 'string',
                      minLength: 1,
                      maxLength: 1024,
                      description: 'sub whose tokens issued before notBefore are revoked',
                    },
                    notBefore: time('tokens of the subject with iat before this (or without iat) are revoked'),
                    expiresAt: time('the entry is dropped after this time (the token’s exp); absent: kept until deleted'),
                    apiKey: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'hex SHA-256 of the whole API key' },
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

export const REVOCATION_CRD_HEADER = '# Generated from src/k8s/revocations.ts by scripts/gen-crd.mjs (after npm run build). Do not edit.\n';

export function renderRevocationCrdYaml(): string {
  return REVOCATION_CRD_HEADER + stringify(revocationCrdManifest(), { lineWidth: 0 });
}
