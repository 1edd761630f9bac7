// The members of an active RFC 7662 introspection response, checked as a verified JWT's claims
// are: `iss` must be the issuer's value (when the response names one), `aud` must hold one of the
// issuer's audiences (unless anyAudience), `exp`/`nbf` with the issuer's clock skew, and the
// issuer's requiredClaims. What passes feeds policy like JWT claims (scope, client_id, sub, ...).
import type { JWTPayload } from 'jose';
import type { ResolvedIssuer } from '../../config/types.js';
import type { Reason } from '../../decision/reasons.js';

export type IntrospectedClaims = { ok: true; payload: JWTPayload; subject: string } | { ok: false; reason: Reason; detail: string };

export function checkIntrospectedClaims(claims: Readonly<Record<string, unknown>>, cfg: ResolvedIssuer, now: number): IntrospectedClaims {
  const fail = (reason: Reason, detail: string): IntrospectedClaims => ({ ok: false, reason, detail: `introspection: ${detail}` });
  const skewMs = cfg.clockSkewSeconds * 1000;
  if (claims.iss !== undefined && claims.iss !== cfg.issuer) return fail('issuer_unknown', 'iss does not match the issuer');
  if (cfg.audiences.length) {
    const aud = claims.aud;
    if (aud === undefined) return fail('audience_mismatch', 'aud is missing');
    const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
    if (!list?.every((a) => typeof a === 'string')) return fail('token_claims_invalid', 'aud is not a string or a list of strings');
    if (!list.some((a) => cfg.audiences.includes(a))) return fail('audience_mismatch', 'aud does not contain an accepted audience');
  }
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'number') return fail('token_claims_invalid', `${name} is not a number`);
  }
  if (typeof claims.exp === 'number' && claims.exp * 1000 + skewMs < now) return fail('token_expired', 'exp is in the past');
  if (typeof claims.nbf === 'number' && claims.nbf * 1000 - skewMs > now) return fail('token_not_yet_valid', 'nbf is in the future');
  // maxTokenAgeSeconds as jose applies it to JWTs (iat required). The revocation list drops a
  // notBefore entry once every token it covers is past this age, so an opaque token exempt from
  // it would be accepted again after its subject's revocation was dropped.
  if (cfg.maxTokenAgeSeconds !== undefined) {
    if (typeof claims.iat !== 'number') return fail('token_claims_invalid', 'iat is required (maxTokenAgeSeconds is set)');
    if (now - claims.iat * 1000 > cfg.maxTokenAgeSeconds * 1000 + skewMs)
      return fail('token_expired', 'token is older than maxTokenAgeSeconds');
  }
  // A token of another kind (a refresh token, a DPoP-bound token whose proof nobody checks here)
  // must not pass as a Bearer access token; IdPs name the kind in token_type (RFC 7662) or typ.
  for (const name of ['token_type', 'typ'] as const) {
    const v = claims[name];
    if (v !== undefined && (typeof v !== 'string' || v.toLowerCase() !== 'bearer')) {
      return fail('token_claims_invalid', `${name} is not Bearer`);
    }
  }
  // exp is optional in RFC 7662 (cacheSeconds bounds the reuse instead); every other required claim is checked.
  for (const name of cfg.requiredClaims) {
    if (name !== 'exp' && claims[name] === undefined) return fail('token_claims_invalid', `required claim "${safeName(name)}" is missing`);
  }
  for (const name of ['scope', 'client_id', 'sub'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') return fail('token_claims_invalid', `${name} is not a string`);
  }
  // A client-credentials token has no user: its client is its subject.
  const subject = (claims.sub as string | undefined) || (claims.client_id as string | undefined);
  if (!subject) return fail('token_claims_invalid', 'neither sub nor client_id is present');
  return { ok: true, payload: claims, subject };
}

/** Claim names are config text, but cap them anyway: details reach logs and audit records. */
function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.:-]/g, '?').slice(0, 64);
}
