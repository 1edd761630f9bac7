// Build each issuer's KeyResolver: a JWKS manager (remote, discovery, file, inline) and/or a
// local HMAC secret. HS* keys are only ever the configured secret, never JWKS material.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import type { ResolvedIssuer } from '../config/load.js';
import type { KeyResolver } from './authenticator.js';
import { JwksManager, type JwksOptions } from './jwks.js';
import { kubernetesFetch } from '../k8s/sa-issuer.js';

export const MIN_HMAC_SECRET_BYTES = 32;

export interface IssuerKeys extends KeyResolver {
  readonly jwks: JwksManager | undefined;
}

export function buildIssuerKeys(
  cfg: ResolvedIssuer,
  hooks: Pick<JwksOptions, 'onFetch' | 'onKeysChanged' | 'clock'>,
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
  const src = cfg.keySource;
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
          ...hooks,
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
