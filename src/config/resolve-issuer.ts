// One issuers[] entry → ResolvedIssuer: the key source, the credential locations and the checks
// that span its fields. Input: validated, schema defaults filled in (read with `!`); what stays
// here are values derived from other fields (algorithms, fromHeaders, the kubernetes preset).
import { ASYMMETRIC_ALGS, HMAC_ALGS, type IntrospectionInput, type IssuerConfig } from './issuer-schema.js';
import { kubernetesIssuerPreset } from './schema-check.js';
import { K8S_DEFAULT_ISSUER } from './defaults.js';
import type { ConfigProblem } from './problems.js';
import type { ResolvedIntrospection, ResolvedIssuer } from './types.js';

const HMAC = new Set<string>(HMAC_ALGS);

export function resolveIssuer(input: IssuerConfig, at: string, problems: ConfigProblem[], kubernetesEnabled: boolean): ResolvedIssuer {
  const k8s = input.kubernetes === true ? kubernetesIssuerPreset() : input.kubernetes === false ? undefined : input.kubernetes;
  if (input.issuer === undefined && !k8s) problems.push({ path: `${at}.issuer`, message: 'is required' });
  // The preset names the in-cluster issuer when none is given.
  const iss = { ...input, issuer: input.issuer ?? K8S_DEFAULT_ISSUER };
  const sources = (['jwksUri', 'jwks', 'jwksFile', 'jwksSecret', 'discovery', 'kubernetes'] as const).filter(
    (k) => iss[k] !== undefined && iss[k] !== false,
  );
  if (sources.length > 1)
    problems.push({
      path: at,
      message: `set only one of jwksUri, jwks, jwksFile, jwksSecret, discovery, kubernetes (found ${sources.join(', ')})`,
    });
  const hmacFiles = iss.hmacSecretFiles ?? (iss.hmacSecretFile !== undefined ? [iss.hmacSecretFile] : []);
  if (iss.hmacSecretFile !== undefined && iss.hmacSecretFiles !== undefined) {
    problems.push({ path: `${at}.hmacSecretFiles`, message: 'set either hmacSecretFile or hmacSecretFiles, not both' });
  }
  // An introspection-only issuer has no local keys: every token it is offered is introspected.
  if (sources.length === 0 && !hmacFiles.length && !iss.introspection) {
    problems.push({
      path: at,
      message: 'needs a key source: jwksUri, jwks, jwksFile, jwksSecret, discovery: true, hmacSecretFile, or introspection',
    });
  }
  const introspection = iss.introspection
    ? resolveIntrospection(iss.introspection, iss.issuer, `${at}.introspection`, problems)
    : undefined;
  // The Secret is read through the Kubernetes API client; without it the issuer could never get keys.
  if (iss.jwksSecret && !kubernetesEnabled) {
    problems.push({
      path: `${at}.jwksSecret`,
      message: 'needs kubernetes.enabled: true (the Secret is watched through the Kubernetes API); or mount the Secret and use jwksFile',
    });
  }
  // Not a schema default: an HMAC-only issuer defaults to HS256, every other to asymmetric only.
  const algorithms = iss.algorithms ?? (hmacFiles.length && sources.length === 0 ? ['HS256'] : [...ASYMMETRIC_ALGS]);
  const hmacAlgs = algorithms.filter((a) => HMAC.has(a));
  if (hmacAlgs.length && !hmacFiles.length) {
    problems.push({
      path: `${at}.algorithms`,
      message: `${hmacAlgs.join(', ')} allowed only with hmacSecretFile (a public JWKS key must never be used as an HMAC secret)`,
    });
  }
  if (hmacFiles.length && !hmacAlgs.length) {
    problems.push({
      path: `${at}.${iss.hmacSecretFiles ? 'hmacSecretFiles' : 'hmacSecretFile'}`,
      message: 'set, but algorithms lists no HS* algorithm',
    });
  }
  // RFC 8725 §3.9: a token minted for another service must not be accepted here. Leaving the
  // audience unchecked has to be an explicit choice, never the default. A kubernetes issuer
  // without audiences is already audience-bound per destination (zt-authz.io/audience).
  if (iss.anyAudience === true) {
    if (iss.audiences) problems.push({ path: `${at}.anyAudience`, message: 'cannot be combined with audiences: remove one of them' });
    if (k8s)
      problems.push({
        path: `${at}.anyAudience`,
        message:
          'not allowed for a kubernetes issuer: service-account tokens must be audience-bound (issuers[].audiences or the zt-authz.io/audience annotation)',
      });
  } else if (!iss.audiences && !k8s) {
    problems.push({
      path: `${at}.audiences`,
      message:
        'is required: list the audiences tokens for this service are minted for (`aud`, RFC 8725 §3.9), or set anyAudience: true to accept tokens minted for any service',
    });
  }
  if (iss.discovery && !/^https?:\/\//.test(iss.issuer)) {
    problems.push({ path: `${at}.discovery`, message: 'discovery needs an http(s) issuer URL' });
  }
  // Only the credential locations not given keep the Authorization: Bearer default.
  const headers = iss.fromHeaders ?? (iss.fromParams || iss.fromCookies ? [] : [{ name: 'authorization', prefix: 'Bearer ' }]);
  return {
    issuer: iss.issuer,
    keySource: keySourceOf(iss, k8s, at, problems),
    ...(k8s ? { kubernetes: true as const } : {}),
    ...(hmacFiles.length ? { hmacSecretFiles: hmacFiles } : {}),
    // Absent audiences (a kubernetes issuer or anyAudience) stay distinguishable until here.
    audiences: iss.audiences ?? [],
    anyAudience: iss.anyAudience === true,
    algorithms,
    fromHeaders: headers.map((h) => ({ name: h.name.toLowerCase(), prefix: h.prefix! })),
    fromParams: iss.fromParams ?? [],
    fromCookies: iss.fromCookies ?? [],
    clockSkewSeconds: iss.clockSkewSeconds!,
    ...(iss.maxTokenAgeSeconds !== undefined ? { maxTokenAgeSeconds: iss.maxTokenAgeSeconds } : {}),
    ...(iss.typ !== undefined ? { typ: iss.typ } : {}),
    requiredClaims: [...new Set(['exp', ...iss.requiredClaims!])],
    outputClaimToHeaders: iss.outputClaimToHeaders!.map((h) => ({ header: h.header.toLowerCase(), claim: h.claim })),
    forwardOriginalToken: iss.forwardOriginalToken!,
    jwksRefreshSeconds: iss.jwksRefreshSeconds!,
    jwksCooldownSeconds: iss.jwksCooldownSeconds!,
    jwksTimeoutMs: iss.jwksTimeoutMs!,
    jwksMaxBytes: iss.jwksMaxBytes!,
    spaceDelimitedClaims: [...new Set([...iss.spaceDelimitedClaims!, 'permission', 'scope'])].sort(),
    ...(introspection ? { introspection } : {}),
  };
}

function resolveIntrospection(input: IntrospectionInput, issuer: string, at: string, problems: ConfigProblem[]): ResolvedIntrospection {
  // Without an endpoint it comes from the issuer's discovery document, which needs an http(s) issuer.
  if (input.endpoint === undefined && !/^https?:\/\//.test(issuer)) {
    problems.push({ path: `${at}.endpoint`, message: 'is required when the issuer is not an http(s) URL (no OIDC discovery to find it)' });
  }
  return {
    ...(input.endpoint !== undefined ? { endpoint: input.endpoint } : {}),
    clientId: input.clientId,
    clientSecretFile: input.clientSecretFile,
    cacheSeconds: input.cacheSeconds!,
    negativeCacheSeconds: input.negativeCacheSeconds!,
    timeoutMs: input.timeoutMs!,
    maxInFlight: input.maxInFlight!,
    maxResponseBytes: input.maxResponseBytes!,
  };
}

function keySourceOf(
  iss: IssuerConfig & { issuer: string },
  k8s: ReturnType<typeof kubernetesIssuerPreset> | undefined,
  at: string,
  problems: ConfigProblem[],
): ResolvedIssuer['keySource'] {
  if (k8s)
    return {
      kind: 'kubernetes',
      issuer: iss.issuer,
      apiServer: k8s.apiServer!.replace(/\/+$/, ''),
      caFile: k8s.caFile!,
      tokenFile: k8s.tokenFile!,
    };
  if (iss.jwksUri) return { kind: 'remote', uri: iss.jwksUri };
  if (iss.discovery) return { kind: 'discovery', issuer: iss.issuer };
  if (iss.jwksFile) return { kind: 'file', path: iss.jwksFile };
  if (iss.jwksSecret) {
    const { namespace, name, key } = iss.jwksSecret;
    return { kind: 'secret', ...(namespace ? { namespace } : {}), name, key: key! };
  }
  if (iss.jwks !== undefined) {
    let jwks: unknown = iss.jwks;
    if (typeof jwks === 'string') {
      try {
        jwks = JSON.parse(jwks);
      } catch {
        problems.push({ path: `${at}.jwks`, message: 'is not valid JSON' });
      }
    }
    if (!jwks || typeof jwks !== 'object' || !Array.isArray((jwks as { keys?: unknown }).keys)) {
      problems.push({ path: `${at}.jwks`, message: 'must be a JWK Set: {"keys": [...]}' });
      return { kind: 'none' };
    }
    return { kind: 'inline', jwks: jwks as { keys: Record<string, unknown>[] } };
  }
  return { kind: 'none' };
}

/**
 * An opaque token names no issuer, so it goes to the one introspection issuer that reads the
 * location it was found in. Two such issuers on one location would leave the choice to config
 * order, and sending a token to the wrong IdP's endpoint discloses it: refused instead.
 */
export function introspectionLocationProblems(issuers: readonly ResolvedIssuer[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const owner = new Map<string, number>();
  issuers.forEach((iss, i) => {
    if (!iss.introspection) return;
    const locations = [
      ...iss.fromHeaders.map((h) => `header ${h.name}`),
      ...iss.fromParams.map((p) => `param ${p}`),
      ...iss.fromCookies.map((c) => `cookie ${c}`),
    ];
    for (const loc of new Set(locations)) {
      const prev = owner.get(loc);
      if (prev !== undefined) {
        problems.push({
          path: `issuers[${i}].introspection`,
          message: `issuers[${prev}] also introspects tokens from ${loc}: an opaque token names no issuer, give each introspection issuer its own credential location`,
        });
      } else owner.set(loc, i);
    }
  });
  return problems;
}
