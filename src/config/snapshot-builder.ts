// Config → immutable Snapshot (compiled policies, authenticator, precomputed header names).
// Policy problems are collected and thrown as one ConfigError so `validate` reports them all.
import { ConfigError, precompiledPolicies, type Config, type ConfigProblem } from './load.js';
import type { Snapshot } from '../decision/snapshot.js';
import { Authenticator, type AuthenticatorHooks, type KeyResolver } from '../authn/authenticator.js';
import { compilePolicies } from '../policy/compile.js';
import type { PolicyIndex } from '../policy/index.js';
import { whenKeyClaimNames } from '../policy/attributes.js';

/** Compile policies (resolveConfig already reported their problems; this re-checks). */
export function checkPolicies(config: Config, source = 'config'): PolicyIndex {
  const ready = precompiledPolicies(config);
  if (ready) return ready;
  const problems: ConfigProblem[] = [];
  const compiled = compilePolicies(config.policies, problems, { ...config.authorization, trustDomains: config.identity.trustDomains });
  if (problems.length) throw new ConfigError(source, problems);
  return compiled;
}

export function buildSnapshot(
  config: Config,
  keys: ReadonlyMap<string, KeyResolver>,
  hooks: AuthenticatorHooks,
  generation: number,
  now?: () => number,
): Snapshot {
  const policies = checkPolicies(config);
  const authenticator = new Authenticator(
    config.issuers,
    keys,
    {
      maxTokenBytes: config.limits.maxTokenBytes,
      cacheMaxEntries: config.tokenCache.maxEntries,
      cacheMaxTtlSeconds: config.tokenCache.maxTtlSeconds,
      keepClaims: claimsUsed(config),
      ...(now ? { now } : {}),
    },
    hooks,
  );
  return Object.freeze({
    generation,
    config,
    authenticator,
    policies,
    identityHeaderNames: identityHeaderNames(config),
    realm: config.response.realm,
  });
}

/**
 * Top-level claim names anything downstream of authentication can read: policy `when` keys
 * (request.auth.claims[..], presenter, roles, acr, amr — step-up challenges read acr/amr too),
 * audit records (audit.claims, which include azp, acr, amr and the roles claim) and the
 * Kubernetes service-account mapping (`kubernetes.io`). Dotted config paths (claimAt) try the
 * whole path as a key first, then walk from its first part, so both are kept; `when` keys name
 * their top-level claims exactly (whenKeyClaimNames).
 */
export function claimsUsed(config: Config): Set<string> {
  const keep = new Set<string>();
  for (const path of ['kubernetes.io', 'azp', 'acr', 'amr', config.authorization.rolesClaim, ...config.audit.claims]) {
    keep.add(path);
    keep.add(path.split('.')[0]!);
  }
  for (const p of config.policies) {
    for (const r of p.rules ?? []) for (const w of r.when ?? []) for (const name of whenKeyClaimNames(w.key, config.authorization)) keep.add(name);
  }
  return keep;
}

function identityHeaderNames(config: Config): string[] {
  const r = config.response;
  const names = new Set([r.subjectHeader, r.issuerHeader, r.scopesHeader]);
  for (const iss of config.issuers) for (const h of iss.outputClaimToHeaders) names.add(h.header);
  return [...names];
}
