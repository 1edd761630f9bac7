// Map jose (and our JWKS) errors to reason codes. Only error *codes* and claim names are read:
// jose's claim errors carry the decoded payload, which must never reach a log line.
import type { Reason } from '../decision/reasons.js';

export function reasonForVerifyError(err: unknown): { reason: Reason; detail: string } {
  const e = err as { code?: string; claim?: string; reason?: string } | null;
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return e.claim === 'iat'
        ? { reason: 'token_expired', detail: 'token is older than maxTokenAgeSeconds' }
        : { reason: 'token_expired', detail: 'exp is in the past (beyond clock skew)' };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      switch (e.claim) {
        case 'nbf':
          return { reason: 'token_not_yet_valid', detail: 'nbf is in the future (beyond clock skew)' };
        case 'iat':
          return e.reason === 'missing'
            ? { reason: 'token_claims_invalid', detail: 'iat is required (maxTokenAgeSeconds is set)' }
            : { reason: 'token_not_yet_valid', detail: 'iat is in the future (beyond clock skew)' };
        case 'aud':
          return e.reason === 'missing'
            ? { reason: 'audience_mismatch', detail: 'aud claim is missing' }
            : { reason: 'audience_mismatch', detail: 'aud does not contain an accepted audience' };
        case 'iss':
          return { reason: 'issuer_unknown', detail: 'iss does not match the issuer' };
        case 'typ':
          return { reason: 'token_claims_invalid', detail: 'typ header is not the required type' };
        default:
          return {
            reason: 'token_claims_invalid',
            detail: e.reason === 'missing' ? `required claim "${safeName(e.claim)}" is missing` : `claim "${safeName(e.claim)}" is invalid`,
          };
      }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return { reason: 'token_invalid_signature', detail: 'signature verification failed' };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return { reason: 'token_alg_not_allowed', detail: 'alg is not in the issuer allow-list' };
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return { reason: 'token_unknown_key', detail: 'no key in the issuer JWKS matches kid/alg' };
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return { reason: 'token_invalid_signature', detail: 'no candidate key verifies the signature' };
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return { reason: 'token_malformed', detail: 'token is not a valid JWS/JWT' };
    case 'ERR_JOSE_NOT_SUPPORTED':
      return { reason: 'token_malformed', detail: 'token uses an unsupported header, crit extension or algorithm' };
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_ZT_JWKS_UNAVAILABLE':
      return { reason: 'jwks_unavailable', detail: 'issuer keys are not available' };
    case 'ERR_JWKS_INVALID':
      return { reason: 'jwks_unavailable', detail: 'issuer key set is invalid' };
    default:
      // A key whose type does not fit the algorithm surfaces as a TypeError from WebCrypto:
      // the token cannot verify with this key, which is a signature failure, not our fault.
      if (err instanceof TypeError) return { reason: 'token_invalid_signature', detail: 'key is not usable for this algorithm' };
      return { reason: 'internal_error', detail: 'unexpected verification error' };
  }
}

function safeName(s: string | undefined): string {
  return (s ?? '?').replace(/[^A-Za-z0-9_.:-]/g, '?').slice(0, 64);
}
