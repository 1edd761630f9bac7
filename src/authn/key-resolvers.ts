// Build each issuer's KeyResolver: a JWKS manager (remote, discovery, file, inline, kubernetes,
// secret) and/or a local HMAC secret. HS* keys are only ever the configured secret, never JWKS
// material.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import type { ResolvedIssuer } from '../config/load.js';
import type { KeyResolver } from './authenticator.js';
import { JwksManager, type JwksOptions, type JwksPushFeed } from './jwks.js';
import { kubernetesFetch } from '../k8s/sa-issuer.js';

export const MIN_HMAC_SECRET_BYTES = 32;

export interface IssuerKeys extends KeyResolver {
  readonly jwks: JwksManager | undefined;
}

/** Pushed key sets of `jwksSecret` issuers (src/k8s/secrets.ts, when Kubernetes is enabled). */
export interface SecretKeyFeeds {
  /** Where a jwksSecret without a namespace is: the namespace zt-authz runs in, if known. */
  readonly defaultNamespace: string | undefined;
  feed(ref: { namespace: string; name: string; key: string }): JwksPushFeed;
}

export function buildIssuerKeys(
  cfg: ResolvedIssuer,
  hooks: Pick<JwksOptions, 'onFetch' | 'onKeysChanged' | 'clock'> & { secrets?: SecretKeyFeeds },
): IssuerKeys {
  let hmac: KeyObject | undefined;
  if (cfg.hmacSecretFile) {
    const secret = readFileSync(cfg.hmacSecretFile);
    // Trailing newline from `echo > file` is not part of the secret.
    const trimmed = secret.subarray(0, secret.length - (secret.at(-1) === 0x0a ? 1 : 0));
    if (trimmed.length < MIN_HMAC_SECRET_BYTES) {
      throw new Error(`issuer ${cfg.issuer}: hmacSecretFile holds ${trimmed.length} bytes, need at least ${MIN_HMAC_SECRET_BYTES}`);
    }
    hmac = createSecretKey(trimmed);
  }
  const { secrets, ...jwksHooks } = hooks;
  let src = cfg.keySource;
  // Without a feed (offline `zt-authz check`, tests) a secret-sourced issuer never holds keys:
  // its tokens fail with jwks_unavailable, never verify against anything else.
  let feed: JwksPushFeed | undefined;
  if (src.kind === 'secret' && secrets) {
    const namespace = src.namespace ?? secrets.defaultNamespace;
    if (!namespace) {
      throw new Error(`issuer ${cfg.issuer}: jwksSecret.namespace is not set and the namespace zt-authz runs in is unknown (no POD_NAMESPACE, no namespace in the Kubernetes context)`);
    }
    src = { ...src, namespace };
    feed = secrets.feed({ ...src, namespace });
  }
  const jwks =
    src.kind === 'none'
      ? undefined
      : new JwksManager({
          issuer: cfg.issuer,
          source: src.kind === 'inline' ? { kind: 'inline', jwks: src.jwks as unknown as JSONWebKeySet } : src,
          refreshIntervalMs: cfg.jwksRefreshSeconds * 1000,
          cooldownMs: cfg.jwksCooldownSeconds * 1000,
          timeoutMs: cfg.jwksTimeoutMs,
          maxBytes: cfg.jwksMaxBytes,
          ...(src.kind === 'kubernetes' ? { fetch: kubernetesFetch(src) } : {}),
          ...(feed ? { feed } : {}),
          ...jwksHooks,
        });
  const getKey: JWTVerifyGetKey = (header, token) => {
    if (header.alg?.startsWith('HS')) {
      if (!hmac) throw Object.assign(new Error('HMAC algorithm without a configured secret'), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
      return hmac;
    }
    if (!jwks) throw Object.assign(new Error('no JWKS configured'), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    return jwks.getKey(header, token);
  };
  return {
    jwks,
    getKey,
    get ready() {
      return jwks ? jwks.ready : true;
    },
  };
}
