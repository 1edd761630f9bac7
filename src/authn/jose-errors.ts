// Map jose (and our JWKS) errors to reason codes. jose's errors are recognised by their classes
// (the ones jose documents), ours by their ZtAuthzError code. Only claim names and jose's failure
// reason are read: jose's claim errors carry the decoded payload, which must never reach a log line.
import { errors as jose } from 'jose';
import type { Reason } from '../decision/reasons.js';
import { hasCode } from '../errors.js';

export function reasonForVerifyError(err: unknown): { reason: Reason; detail: string } {
  // JWTExpired is not a subclass of JWTClaimValidationFailed (both extend JOSEError): each is
  // checked on its own.
  if (err instanceof jose.JWTExpired) {
    return err.claim === 'iat'
      ? { reason: 'token_expired', detail: 'token is older than maxTokenAgeSeconds' }
      : { reason: 'token_expired', detail: 'exp is in the past (beyond clock skew)' };
  }
  if (err instanceof jose.JWTClaimValidationFailed) return claimFailure(err.claim, err.reason);
  if (err instanceof jose.JWSSignatureVerificationFailed) {
    return { reason: 'token_invalid_signature', detail: 'signature verification failed' };
  }
  if (err instanceof jose.JOSEAlgNotAllowed) return { reason: 'token_alg_not_allowed', detail: 'alg is not in the issuer allow-list' };
  if (err instanceof jose.JWKSNoMatchingKey) return { reason: 'token_unknown_key', detail: 'no key in the issuer JWKS matches kid/alg' };
  if (err instanceof jose.JWKSMultipleMatchingKeys) {
    return { reason: 'token_invalid_signature', detail: 'no candidate key verifies the signature' };
  }
  if (err instanceof jose.JWSInvalid || err instanceof jose.JWTInvalid)
    return { reason: 'token_malformed', detail: 'token is not a valid JWS/JWT' };
  if (err instanceof jose.JOSENotSupported) {
    return { reason: 'token_malformed', detail: 'token uses an unsupported header, crit extension or algorithm' };
  }
  if (err instanceof jose.JWKSTimeout || hasCode(err, 'ERR_ZT_JWKS_UNAVAILABLE')) {
    return { reason: 'jwks_unavailable', detail: 'issuer keys are not available' };
  }
  if (err instanceof jose.JWKSInvalid) return { reason: 'jwks_unavailable', detail: 'issuer key set is invalid' };
  // A key whose type does not fit the algorithm surfaces as a TypeError from WebCrypto:
  // the token cannot verify with this key, which is a signature failure, not our fault.
  if (err instanceof TypeError) return { reason: 'token_invalid_signature', detail: 'key is not usable for this algorithm' };
  // Anything else (JWKInvalid, JWE errors, our own bugs) fails closed as an internal error.
  return { reason: 'internal_error', detail: 'unexpected verification error' };
}

/** A JWTClaimValidationFailed: which claim, and whether it was missing or failed its check. */
function claimFailure(claim: string, why: string): { reason: Reason; detail: string } {
  switch (claim) {
    case 'nbf':
      return { reason: 'token_not_yet_valid', detail: 'nbf is in the future (beyond clock skew)' };
    case 'iat':
      return why === 'missing'
        ? { reason: 'token_claims_invalid', detail: 'iat is required (maxTokenAgeSeconds is set)' }
        : { reason: 'token_not_yet_valid', detail: 'iat is in the future (beyond clock skew)' };
    case 'aud':
      return why === 'missing'
        ? { reason: 'audience_mismatch', detail: 'aud claim is missing' }
        : { reason: 'audience_mismatch', detail: 'aud does not contain an accepted audience' };
    case 'iss':
      return { reason: 'issuer_unknown', detail: 'iss does not match the issuer' };
    case 'typ':
      return { reason: 'token_claims_invalid', detail: 'typ header is not the required type' };
    default:
      return {
        reason: 'token_claims_invalid',
        detail: why === 'missing' ? `required claim "${safeName(claim)}" is missing` : `claim "${safeName(claim)}" is invalid`,
      };
  }
}

function safeName(s: string | undefined): string {
  return (s ?? '?').replace(/[^A-Za-z0-9_.:-]/g, '?').slice(0, 64);
}
