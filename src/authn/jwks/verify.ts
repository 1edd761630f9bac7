// Token verification against a key resolver that may offer several candidate keys.
import { errors as joseErrors, jwtVerify } from 'jose';
import type { CryptoKey, JWTPayload, JWTVerifyOptions, JWTVerifyResult } from 'jose';
import type { JwksManager } from './manager.js';

/** Max candidate keys tried by verifyWithJwks when the key set has several matches. */
export const DEFAULT_MAX_CANDIDATES = 4;

/**
 * jwtVerify with the manager's key resolver, handling `JWKSMultipleMatchingKeys` deliberately.
 *
 * jose throws JWKSMultipleMatchingKeys when more than one key in the set matches the header
 * (typically a token without `kid`, or an IdP publishing duplicate kids); `jwtVerify` does not try
 * the candidates itself, so passing `mgr.getKey` straight to jwtVerify fails such tokens closed.
 *
 * Behaviour here: try each candidate (in JWKS order, at most `maxCandidates` of them to bound the
 * signature-CPU cost an attacker can cause with kid-less tokens) and return the first result
 * whose signature verifies. Only a *signature* failure moves on to the next candidate: any other
 * error from a candidate whose signature did verify (expired, wrong audience, …) is thrown at
 * once. If no candidate verifies, the last signature-verification failure is thrown (or
 * JWSSignatureVerificationFailed if there were no importable candidates).
 */
export async function verifyWithJwks<P = JWTPayload>(
  token: string | Uint8Array,
  mgr: Pick<JwksManager, 'getKey'>,
  verifyOptions: JWTVerifyOptions = {},
  maxCandidates: number = DEFAULT_MAX_CANDIDATES,
): Promise<JWTVerifyResult<P>> {
  try {
    return await jwtVerify<P>(token, mgr.getKey, verifyOptions);
  } catch (err) {
    if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) throw err;
    let lastSigError: joseErrors.JWSSignatureVerificationFailed | undefined;
    let tried = 0;
    for await (const key of err as AsyncIterable<CryptoKey>) {
      if (tried++ >= maxCandidates) break;
      try {
        return await jwtVerify<P>(token, key, verifyOptions);
      } catch (e) {
        if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
          lastSigError = e;
          continue;
        }
        throw e;
      }
    }
    throw lastSigError ?? new joseErrors.JWSSignatureVerificationFailed();
  }
}
