// `response.internalToken`: on allow, zt-authz mints a short-lived JWT of its own (signed with the
// `tokenIssuer` keys) and hands it to the upstream instead of the external credential (the
// phantom-token pattern; src/mint/). A policy's `internalToken` switch overrides `enabled` for
// the requests it allows. The cross-field rules that need other blocks are here too.
import { Type } from '@sinclair/typebox';
import { StringEnum } from './schema-parts.js';
import type { ConfigProblem } from './problems.js';

/**
 * Claims the minter always sets itself (iss, sub, aud, exp, iat, jti, act) or must never copy
 * (nbf: a copied "not before" could make the fresh token unusable): a copy would contradict them.
 */
export const UNCOPYABLE_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'act']);

/** Hop-by-hop and framing headers: a token there would break the request instead of carrying it. */
const FRAMING_HEADERS = new Set(['host', 'cookie', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade', 'keep-alive']);

const HEADER_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export const InternalTokenSchema = Type.Object(
  {
    enabled: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "on allow, set a JWT minted by zt-authz (tokenIssuer) upstream in place of the external credential; a policy's internalToken overrides this for the requests it allows",
      }),
    ),
    header: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'authorization',
        description:
          'upstream header that carries the minted token as "Bearer <jwt>" (set with overwrite; when the credential came in this header it is overwritten, not removed)',
      }),
    ),
    audience: Type.Optional(
      StringEnum(['destination', 'host'] as const, {
        default: 'destination',
        description:
          "aud of the minted token: destination = the destination workload's SPIFFE ID when known (Envoy's destination principal, or the pod map), else the request host; host = always the request host",
      }),
    ),
    claims: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description:
          'top-level claims copied from the verified credential when present (scope as a space-separated string); iss, sub, aud, iat, exp, jti, act and zt_cred_hash are always set by zt-authz',
      }),
    ),
    cacheMaxEntries: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: 10000,
        description:
          'minted tokens kept for reuse (same credential, audience, claims and caller) until half their lifetime has passed; 0 mints on every allow',
      }),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'the internal token (phantom token) minted on allow; needs tokenIssuer',
  },
);

export interface InternalTokenConfig {
  enabled: boolean;
  /** Lower case. */
  header: string;
  audience: 'destination' | 'host';
  claims: string[];
  cacheMaxEntries: number;
}

export function resolveInternalToken(t: {
  enabled?: boolean;
  header?: string;
  audience?: 'destination' | 'host';
  claims?: string[];
  cacheMaxEntries?: number;
}): InternalTokenConfig {
  return {
    enabled: t.enabled ?? false,
    header: (t.header ?? 'authorization').toLowerCase(),
    audience: t.audience ?? 'destination',
    claims: [...new Set(t.claims ?? [])],
    cacheMaxEntries: t.cacheMaxEntries ?? 10000,
  };
}

export interface InternalTokenContext {
  /** tokenIssuer is configured. */
  hasIssuer: boolean;
  /** Policy paths (`policies[3]`) whose internalToken is true. */
  policiesOn: string[];
  /** Headers zt-authz itself sets upstream (response.*Header, outputClaimToHeaders), lower case. */
  identityHeaders: ReadonlySet<string>;
}

export function internalTokenProblems(t: InternalTokenConfig, ctx: InternalTokenContext): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const fix = 'add a tokenIssuer block (issuer, keysDir or keysSecret, algorithm, ttlSeconds) so zt-authz has keys to sign with';
  if (!ctx.hasIssuer) {
    if (t.enabled) out.push({ path: 'response.internalToken.enabled', message: `needs tokenIssuer: ${fix}` });
    for (const p of ctx.policiesOn) out.push({ path: `${p}.internalToken`, message: `needs tokenIssuer: ${fix}` });
  }
  // The header matters only where a token may be minted (the default must not clash otherwise).
  if (t.enabled || ctx.policiesOn.length) out.push(...headerProblems(t.header, ctx));
  t.claims.forEach((c, i) => {
    if (UNCOPYABLE_CLAIMS.has(c) || c === MINT_HASH_CLAIM)
      out.push({
        path: `response.internalToken.claims[${i}]`,
        message: `"${c}" is set by zt-authz on every minted token and cannot be copied`,
      });
  });
  return out;
}

function headerProblems(h: string, ctx: InternalTokenContext): ConfigProblem[] {
  const path = 'response.internalToken.header';
  if (h.startsWith(':')) return [{ path, message: `"${h}" is a pseudo-header` }];
  if (!HEADER_TOKEN.test(h)) return [{ path, message: `"${h}" is not a valid header name` }];
  if (FRAMING_HEADERS.has(h)) return [{ path, message: `"${h}" is a routing or framing header; use authorization or an x- header` }];
  // Envoy's own namespace: HTTP mode answers x-envoy-auth-headers-to-remove itself, which would
  // replace the token (an allow without it) or hand the token to Envoy as a list of header names.
  if (h.startsWith('x-envoy-'))
    return [{ path, message: `"${h}" is reserved by Envoy (x-envoy-*); use authorization or another x- header` }];
  if (ctx.identityHeaders.has(h)) return [{ path, message: `"${h}" is an identity header zt-authz already sets` }];
  return [];
}

/**
 * The claim of a minted token that links it to the original credential: the first 12 hex digits
 * of the credential's SHA-256 (the audit record's token_hash), never the credential.
 */
export const MINT_HASH_CLAIM = 'zt_cred_hash';
