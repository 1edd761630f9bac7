// What a rule can look at: the attribute extractors for source and operation fields and `when`
// keys (the evaluation context they read is in context.ts). Every extractor returns the list of values of that attribute
// for this request ([] when absent), so list claims match any element. Each also says, as data,
// which attribute it reads (AttrRead): the one place that maps a `when` key to the claims it
// reads, for the authenticator's cached-claims list and for `policy replay`.
import type { Identity } from '../decision/types.js';
import type { Attr, AttrRead, ConditionRole, PolicyContext } from './context.js';
import { claimAt, claimAtSegments } from '../authn/claims.js';
import { principalKey } from './request-principal.js';
import {
  allScopes,
  looseHosts,
  loosePrincipals,
  methodAsSent,
  methodUpper,
  reportedPrincipal,
  scopeClaimStrict,
  strictHost,
} from './readings.js';

/** How a value list is compared: Istio string forms, path forms, CIDRs, or case-insensitive hosts. */
export type ValueKind =
  | 'string'
  | 'path'
  | 'ip'
  | 'host'
  | 'port'
  | 'header'
  | 'requestPrincipal'
  | 'namespace'
  | 'principal'
  | 'methodLoose'
  | 'hostStrict'
  | 'trustDomain';

export interface AttrSpec {
  attr: Attr;
  kind: ValueKind;
  /**
   * What the field or key names. A loose reading (below) reads the same attribute, except that
   * the loose `claims[scope]` / `[scp]` also reads the other scope claim.
   */
  reads: AttrRead;
  /**
   * What the matchers read, when it differs from `attr` (which traces show): request principals
   * are matched on issuer and subject apart (policy/request-principal.ts).
   */
  match?: Attr;
  role?: ConditionRole;
  /**
   * Namespace / service account of the peer. `attr` gives the strict reading (only from a real
   * SPIFFE ID or a Kubernetes workload); where matching more is the fail-closed side, compile.ts
   * also matches Istio's regex over the reported principal (see identity/spiffe.ts).
   */
  peer?: 'namespace' | 'serviceAccount';
  /**
   * The reading where matching more is the fail-closed side (DENY/AUDIT values, ALLOW not-values):
   * `attr`/`kind`/`match` then describe the strict one (policy/readings.ts).
   */
  loose?: { attr: Attr; kind: ValueKind };
  /** Derived from the verified JWT: an anonymous request can only satisfy it by authenticating. */
  authn?: true;
  /**
   * True when the attribute could not be determined for this request (the remote IP): the
   * condition then takes its fail-closed result, never its plain or negated reading (compile.ts).
   */
  unknown?: (ctx: PolicyContext) => boolean;
}

const NONE: readonly string[] = [];
const one = (v: string | undefined): readonly string[] => (v === undefined || v === '' ? NONE : [v]);

/** Claim values for matching: strings, numbers and booleans, or the elements of a list of them. */
function valuesOf(v: unknown): readonly string[] {
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v)) return v.filter((x) => ['string', 'number', 'boolean'].includes(typeof x)).map(String);
  return NONE;
}

/** Values at a dotted config path (authorization.rolesClaim; claimAt: exact key first). */
function claimValues(identity: Identity | undefined, path: string): readonly string[] {
  return identity ? valuesOf(claimAt(identity.claims, path)) : NONE;
}

/** Values at an explicit nesting path (`request.auth.claims[a][b]` → ['a', 'b']). */
function claimValuesAt(identity: Identity | undefined, segments: readonly string[]): readonly string[] {
  return identity ? valuesOf(claimAtSegments(identity.claims, segments)) : NONE;
}

/** `request.auth.claims[a][b]` → ['a', 'b'] (each bracket one literal key); else undefined. */
function claimKeySegments(key: string): string[] | undefined {
  const claims = /^request\.auth\.claims((?:\[[^\][]+\])+)$/.exec(key);
  return claims ? [...claims[1]!.matchAll(/\[([^\][]+)\]/g)].map((m) => m[1]!) : undefined;
}

export const SOURCE_FIELDS: Record<string, AttrSpec> = {
  // Strict: Istio's "spiffe://" + pattern against the principal as reported (policy/readings.ts).
  principals: {
    attr: (c) => one(c.source?.principal),
    match: reportedPrincipal,
    kind: 'principal',
    reads: { kind: 'peer', field: 'principal' },
    loose: { attr: loosePrincipals, kind: 'string' },
  },
  requestPrincipals: {
    attr: (c) => one(c.identity?.requestPrincipal),
    match: (c) => (c.identity ? [principalKey(c.identity.issuer, c.identity.subject)] : NONE),
    kind: 'requestPrincipal',
    reads: { kind: 'requestPrincipal' },
    authn: true,
  },
  namespaces: { attr: (c) => one(c.source?.namespace), kind: 'namespace', reads: { kind: 'peer', field: 'namespace' }, peer: 'namespace' },
  serviceAccounts: {
    attr: (c) => (c.source?.namespace && c.source.serviceAccount ? [`${c.source.namespace}/${c.source.serviceAccount}`] : NONE),
    kind: 'string',
    reads: { kind: 'peer', field: 'serviceAccount' },
    peer: 'serviceAccount',
  },
  ipBlocks: { attr: (c) => one(c.input.source.address), kind: 'ip', reads: { kind: 'sourceIp' } },
  remoteIpBlocks: { attr: (c) => one(c.remoteIp), kind: 'ip', reads: { kind: 'remoteIp' }, unknown: (c) => c.remoteIp === undefined },
  // Istio's srcTrustDomainGenerator matches the principal as reported (identity/trust-domain.ts).
  trustDomains: { attr: (c) => one(c.source?.reported), kind: 'trustDomain', reads: { kind: 'peer', field: 'trustDomain' } },
};

export const OPERATION_FIELDS: Record<string, AttrSpec> = {
  hosts: { attr: strictHost, kind: 'hostStrict', reads: { kind: 'host' }, loose: { attr: looseHosts, kind: 'host' } },
  ports: { attr: (c) => one(c.input.destination.port?.toString()), kind: 'port', reads: { kind: 'destinationPort' } },
  methods: { attr: methodAsSent, kind: 'string', reads: { kind: 'method' }, loose: { attr: methodUpper, kind: 'methodLoose' } },
  paths: { attr: (c) => one(c.input.path), kind: 'path', reads: { kind: 'path' } },
};

export interface WhenOptions {
  /** Claim path holding roles, e.g. realm_access.roles (for `request.auth.roles`). */
  rolesClaim: string;
  /** identity.trustDomain followed by identity.trustDomainAliases (identity/trust-domain.ts). */
  trustDomains?: readonly string[];
}

/** Resolve a `when` key; undefined for an unknown or unsupported key. */
export function whenAttr(key: string, opts: WhenOptions): AttrSpec | undefined {
  const path = claimKeySegments(key);
  if (path) {
    const name = path.length === 1 ? path[0] : undefined;
    const reads: AttrRead = { kind: 'claim', segments: path };
    if (name === 'scope' || name === 'scp')
      return {
        attr: scopeClaimStrict(name),
        kind: 'string',
        reads,
        role: 'scope',
        authn: true,
        loose: { attr: allScopes, kind: 'string' },
      };
    if (name === 'acr' || name === 'amr')
      return { attr: (c) => claimValuesAt(c.identity, path), kind: 'string', reads, role: name, authn: true };
    return { attr: (c) => claimValuesAt(c.identity, path), kind: 'string', reads, authn: true };
  }
  const header = /^request\.headers\[([^\][]+)\]$/.exec(key);
  if (header) {
    const name = header[1]!.toLowerCase();
    // A header sent empty is present (Istio's "*" is present_match), so '' is kept here.
    return {
      attr: (c) => (c.input.headers[name] === undefined ? NONE : [c.input.headers[name]]),
      kind: 'header',
      reads: { kind: 'header', name },
    };
  }
  switch (key) {
    case 'request.auth.principal':
      return SOURCE_FIELDS.requestPrincipals;
    case 'request.auth.audiences':
      return { attr: (c) => c.identity?.audiences ?? NONE, kind: 'string', reads: { kind: 'audiences' }, authn: true };
    case 'request.auth.presenter':
      // azp is a top-level name without a dot: the dotted rule reads exactly that claim.
      return {
        attr: (c) => one(typeof c.identity?.claims.azp === 'string' ? c.identity.claims.azp : undefined),
        kind: 'string',
        reads: { kind: 'claimPath', path: 'azp' },
        authn: true,
      };
    case 'request.auth.scopes':
      return { attr: (c) => c.identity?.scopes ?? NONE, kind: 'string', reads: { kind: 'scopes' }, role: 'scope', authn: true };
    case 'request.auth.roles':
      return {
        attr: (c) => claimValues(c.identity, opts.rolesClaim),
        kind: 'string',
        reads: { kind: 'claimPath', path: opts.rolesClaim },
        authn: true,
      };
    case 'request.auth.acr':
      return {
        attr: (c) => claimValues(c.identity, 'acr'),
        kind: 'string',
        reads: { kind: 'claimPath', path: 'acr' },
        role: 'acr',
        authn: true,
      };
    case 'request.auth.amr':
      return {
        attr: (c) => claimValues(c.identity, 'amr'),
        kind: 'string',
        reads: { kind: 'claimPath', path: 'amr' },
        role: 'amr',
        authn: true,
      };
    case 'source.principal':
      return SOURCE_FIELDS.principals;
    case 'source.namespace':
      return SOURCE_FIELDS.namespaces;
    case 'source.serviceAccount':
      return SOURCE_FIELDS.serviceAccounts;
    case 'source.ip':
      return SOURCE_FIELDS.ipBlocks;
    case 'remote.ip':
      return SOURCE_FIELDS.remoteIpBlocks;
    case 'source.trustDomain':
      return SOURCE_FIELDS.trustDomains;
    case 'destination.ip':
      return { attr: (c) => one(c.input.destination.address), kind: 'ip', reads: { kind: 'destinationIp' } };
    case 'destination.port':
      return OPERATION_FIELDS.ports;
    case 'connection.sni':
      return { attr: (c) => one(c.input.sni), kind: 'string', reads: { kind: 'sni' } };
    default:
      return undefined;
  }
}

/**
 * Top-level claim names a `when` key reads from identity.claims, so the authenticator can keep
 * just those claims of cached tokens; read off the key's AttrRead, so it covers every claim the
 * attrs whenAttr returns read. `[a][b]` reads only the top-level claim `a`; `[a.b]` only "a.b";
 * a dotted path (request.auth.roles) the exact key, else its first part. Scopes and audiences
 * live outside `claims`.
 */
export function whenKeyClaimNames(key: string, opts: WhenOptions): string[] {
  const reads = whenAttr(key, opts)?.reads;
  if (reads?.kind === 'claim') return [reads.segments[0]!];
  if (reads?.kind === 'claimPath') return [...new Set([reads.path, reads.path.split('.')[0]!])];
  return [];
}

export const WHEN_KEYS = [
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'request.auth.claims[NAME] (nested: [a][b]; [a.b] is the claim "a.b")',
  'request.auth.scopes',
  'request.auth.roles',
  'request.auth.acr',
  'request.auth.amr',
  'source.principal',
  'source.namespace',
  'source.serviceAccount',
  'source.ip',
  'remote.ip',
  'source.trustDomain',
  'destination.ip',
  'destination.port',
  'connection.sni',
  'request.headers[NAME]',
];
