// Config → immutable Snapshot (compiled policies, authenticator, precomputed header names).
// Policy problems are collected and thrown as one ConfigError so `validate` reports them all.
import { ConfigError, type Config, type ConfigProblem } from './load.js';
import type { Snapshot } from '../decision/snapshot.js';
import { Authenticator, type AuthenticatorHooks, type KeyResolver } from '../authn/authenticator.js';
import { compilePolicies, type CompiledPolicies } from '../policy/compile.js';

/** Compile policies alone (no keys needed): used by `zt-authz validate`. */
export function checkPolicies(config: Config, source = 'config'): CompiledPolicies {
  const problems: ConfigProblem[] = [];
  const compiled = compilePolicies(config.policies, problems);
  problems.push(...headerProblems(config));
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

function identityHeaderNames(config: Config): string[] {
  const r = config.response;
  const names = new Set([r.subjectHeader, r.issuerHeader, r.scopesHeader]);
  for (const iss of config.issuers) for (const h of iss.outputClaimToHeaders) names.add(h.header);
  return [...names];
}

// Headers we set upstream must not collide with routing or credential headers.
const RESERVED = new Set(['host', 'authorization', 'cookie', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade']);

function headerProblems(config: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const credentialHeaders = new Set(config.issuers.flatMap((i) => i.fromHeaders.map((h) => h.name)));
  const check = (name: string, path: string) => {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) out.push({ path, message: `"${name}" is not a valid header name` });
    else if (RESERVED.has(name) || credentialHeaders.has(name)) out.push({ path, message: `"${name}" is reserved (routing or credential header)` });
  };
  check(config.response.subjectHeader, 'response.subjectHeader');
  check(config.response.issuerHeader, 'response.issuerHeader');
  check(config.response.scopesHeader, 'response.scopesHeader');
  config.issuers.forEach((iss, i) => iss.outputClaimToHeaders.forEach((h, j) => check(h.header, `issuers[${i}].outputClaimToHeaders[${j}].header`)));
  return out;
}
