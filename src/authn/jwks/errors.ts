// The errors of JWKS key management. Their messages are safe to log: they never hold key material
// or response body text.
import { ZtAuthzError, type ErrorCode } from '../../errors.js';

/**
 * No verification keys are held for an issuer (never fetched yet, every source failed, a pushed
 * source without its first valid set, an HMAC issuer whose secret files hold no usable secret).
 * Thrown from a key resolver while jose verifies, so a token fails closed as jwks_unavailable.
 */
export class JwksUnavailableError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_ZT_JWKS_UNAVAILABLE';
}

/** One fetch, read or validation of a key set failed; the message says why and is safe to log. */
export class JwksFetchError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_JWKS_FETCH';
}
