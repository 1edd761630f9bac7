// Config → immutable Snapshot (compiled policies, authenticator, precomputed header names).
// Policy problems are collected and thrown as one ConfigError so `validate` reports them all.
import { ConfigError, precompiledPolicies, type Config, type ConfigProblem } from './load.js';
import type { Snapshot } from '../decision/snapshot.js';
import { Authenticator, type AuthenticatorHooks, type KeyResolver } from '../authn/authenticator.js';
import { compilePolicies } from '../policy/compile.js';
import type { PolicyIndex } from '../policy/index.js';
import { whenKeyClaimPaths } from '../policy/attributes.js';

/** Compile policies (resolveConfig already reported their problems; this re-checks). */
export function checkPolicies(config: Config, source = 'config'): PolicyIndex {
  const ready = precompiledPolicies(config);
  if (ready) return ready;
  const problems: ConfigProblem[] = [];
  const compiled = compilePolicies(config.policies, problems, config.authorization);
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
 * Kubernetes service-account mapping (`kubernetes.io`). claimAt tries the whole path as a key
 * first, then its first segment, so both are kept.
 */
export function claimsUsed(config: Config): Set<string> {
  const paths = ['kubernetes.io', 'azp', 'acr', 'amr', config.authorization.rolesClaim, ...config.audit.claims];
  for (const p of config.policies) {
    for (const r of p.rules ?? []) for (const w of r.when ?? []) paths.push(...whenKeyClaimPaths(w.key, config.authorization));
  }
  const keep = new Set<string>();
  for (const path of paths) {
    keep.add(path);
    keep.add(path.split('.')[0]!);
  }
  return keep;
}

function identityHeaderNames(config: Config): string[] {
  const r = config.response;
  const names = new Set([r.subjectHeader, r.issuerHeader, r.scopesHeader]);
  for (const iss of config.issuers) for (const h of iss.outputClaimToHeaders) names.add(h.header);
  return [...names];
}
