// Config → immutable Snapshot (compiled policies, authenticator, precomputed header names).
// The one place a Snapshot is assembled: `check`, replay and the SnapshotManager all build here.
// Policy problems are thrown as one ConfigError so `validate` reports them all.
import type { Config } from '../config/types.js';
import type { Snapshot } from '../decision/snapshot.js';
import { Authenticator, type AuthenticatorHooks, type KeyResolver } from '../authn/authenticator.js';
import type { PolicyIndex } from '../policy/policy-index.js';
import { whenKeyClaimNames } from '../policy/attributes.js';
import { compileConfigPolicies } from './checked-config.js';
import type { RevocationCheck } from '../authn/revocation/list.js';
import { ApiKeyAuthenticator } from '../authn/apikeys/authenticate.js';
import { loadApiKeyStoresOnce } from '../authn/apikeys/registry.js';
import type { ApiKeyStore } from '../authn/apikeys/store.js';
import type { SigningKeySource } from '../mint/keys/signing-key.js';
import { TokenMinter } from '../mint/minter.js';

export interface BuildOptions {
  /** Clock of the authenticator (tests). */
  now?: () => number;
  /** `config.policies` already compiled (checkConfig did): not compiled again. */
  policies?: PolicyIndex;
  /** The revocation list every authenticator consults (kept across snapshots by the App). */
  revocation?: RevocationCheck;
  /**
   * The live key stores of config.apiKeys (the App's registry, watched). Absent: each source's
   * keysFile is read once (tools such as `zt-authz check`; Secrets are not read then).
   */
  apiKeyStores?: ReadonlyMap<string, ApiKeyStore>;
  /**
   * The signing keys of tokenIssuer (the App's key ring, long-lived): with them the snapshot
   * mints internal tokens. Absent: none is minted, and an allow that needs one is denied.
   */
  signingKeys?: SigningKeySource;
}

export function buildSnapshot(
  config: Config,
  keys: ReadonlyMap<string, KeyResolver>,
  hooks: AuthenticatorHooks,
  generation: number,
  options: BuildOptions = {},
): Snapshot {
  const policies = options.policies ?? compileConfigPolicies(config);
  const authenticator = new Authenticator(
    config.issuers,
    keys,
    {
      maxTokenBytes: config.limits.maxTokenBytes,
      cacheMaxEntries: config.tokenCache.maxEntries,
      cacheMaxTtlSeconds: config.tokenCache.maxTtlSeconds,
      keepClaims: claimsUsed(config),
      ...(options.revocation ? { revocation: options.revocation } : {}),
      ...(config.apiKeys.length
        ? {
            apiKeys: new ApiKeyAuthenticator(config.apiKeys, options.apiKeyStores ?? loadApiKeyStoresOnce(config.apiKeys), {
              maxKeyBytes: config.limits.maxTokenBytes,
              rolesClaim: config.authorization.rolesClaim,
              ...(options.now ? { now: options.now } : {}),
            }),
          }
        : {}),
      ...(options.now ? { now: options.now } : {}),
    },
    hooks,
  );
  const issuer = config.tokenIssuer;
  const t = config.response.internalToken;
  const minter =
    issuer && options.signingKeys
      ? new TokenMinter(
          { issuer: issuer.issuer, ttlSeconds: issuer.ttlSeconds, claims: t.claims, cacheMaxEntries: t.cacheMaxEntries },
          options.signingKeys,
          options.now,
        )
      : undefined;
  return Object.freeze({
    generation,
    config,
    authenticator,
    policies,
    identityHeaderNames: identityHeaderNames(config),
    realm: config.response.realm,
    ...(minter ? { minter } : {}),
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
  // Minted internal tokens copy response.internalToken.claims and never outlive the credential (exp).
  const minted = config.tokenIssuer ? ['exp', ...config.response.internalToken.claims] : [];
  for (const path of ['kubernetes.io', 'azp', 'acr', 'amr', config.authorization.rolesClaim, ...config.audit.claims, ...minted]) {
    keep.add(path);
    keep.add(path.split('.')[0]!);
  }
  for (const p of config.policies) {
    for (const r of p.rules ?? [])
      for (const w of r.when ?? []) for (const name of whenKeyClaimNames(w.key, config.authorization)) keep.add(name);
  }
  return keep;
}

function identityHeaderNames(config: Config): string[] {
  const r = config.response;
  const names = new Set([r.subjectHeader, r.issuerHeader, r.scopesHeader]);
  for (const iss of config.issuers) for (const h of iss.outputClaimToHeaders) names.add(h.header);
  // The internal token's header, wherever one may be minted: a client-sent copy never passes
  // (an anonymous allow, a policy that turns minting off) unless it is a forwarded credential.
  const t = config.response.internalToken;
  if (t.enabled || config.policies.some((p) => p.internalToken)) names.add(t.header);
  return [...names];
}
