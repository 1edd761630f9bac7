// Reading claims for policy and headers. Only ever applied to *verified* payloads.
import type { JWTPayload } from 'jose';

/** OAuth2 scopes: `scope` (space-separated string, RFC 8693/9068) or `scp` (string or array). */
export function scopesOf(payload: JWTPayload): string[] {
  const out = new Set<string>();
  for (const claim of [payload.scope, payload.scp]) {
    if (typeof claim === 'string') claim.split(' ').forEach((s) => s && out.add(s));
    else if (Array.isArray(claim)) claim.forEach((s) => typeof s === 'string' && s && out.add(s));
  }
  return [...out];
}

/**
 * Value at a dotted configuration path (authorization.rolesClaim, outputClaimToHeaders[].claim,
 * audit.claims): the exact top-level key wins, so namespaced claim names that contain dots
 * (Auth0's `https://example.com/roles`) work; otherwise each dot-separated part is one level
 * (`realm_access.roles`). Only for paths an operator wrote in config: policy keys use
 * claimAtSegments, whose nesting is explicit.
 */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  return claimAtSegments(payload, path.split('.'));
}

/**
 * Value at an explicit nesting path: `request.auth.claims[a][b]` is ['a', 'b'], and each part
 * is one literal key, dots included (`[a.b]` is the top-level claim "a.b"), as Istio reads them.
 * No dotted-key fallback: a token holding both {"account":{"status":"suspended"}} and
 * {"account.status":"active"} must not let the second answer for `[account][status]`.
 */
export function claimAtSegments(payload: JWTPayload, segments: readonly string[]): unknown {
  let cur: unknown = payload;
  for (const seg of segments) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

// Header values must not carry control characters (header injection, Envoy rejects them) nor
// lone UTF-16 surrogates: a JSON claim may hold "\ud800", which has no UTF-8 form, so protobuf
// would put invalid UTF-8 on the wire (Envoy then fails the whole Check) and HTTP mode would
// fail closed. Found by test/unit/decision/fuzz-decide.test.ts.
const UNSAFE = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Field-value rule for client-supplied values passed back upstream (HTAB allowed, RFC 9110 §5.5). */
const UNSAFE_FIELD = /[\u0000-\u0008\u000a-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** String/number/bool claims (and arrays of them, comma-joined) as a header value; else undefined. */
export function claimAsHeaderValue(payload: JWTPayload, path: string): string | undefined {
  const v = claimAt(payload, path);
  let s: string | undefined;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else if (Array.isArray(v) && v.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) s = v.join(',');
  if (s === undefined || s === '' || UNSAFE.test(s) || s.length > 4096) return undefined;
  return s;
}

export function isSafeHeaderValue(s: string): boolean {
  return s !== '' && !UNSAFE.test(s) && s.length <= 4096;
}

/** A client-sent header value (any length) that may be re-emitted upstream as is. */
export function isSafeFieldValue(s: string): boolean {
  return !UNSAFE_FIELD.test(s);
}
