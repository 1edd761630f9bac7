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

/** Value at a dotted path (`realm_access.roles`); an exact top-level key wins over the path. */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let cur: unknown = payload;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

// Header values must not carry control characters (header injection, Envoy rejects them).
const UNSAFE = /[\u0000-\u001f\u007f]/;

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
