/**
 * The signing-key interface between the key ring (src/mint/keys/) and the token minter (src/mint/).
 * Kept to these two small types so a KMS-backed key can be added later without touching the minter.
 */

export type MintAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

/** One private signing key. A KMS implementation can be added later behind the same interface. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: MintAlgorithm;
  /** JWS signature over `data` (the ASCII of base64url(header) + '.' + base64url(payload)), in JWS form
   *  (ES256: raw r||s 64 bytes, not DER). Synchronous (node:crypto sign), so minting on a cache miss
   *  does not make the decision asynchronous. Throws on failure (the caller fails closed). */
  sign(data: Buffer): Buffer;
}

/** What the minter asks for: the key to sign with now, undefined when none is loaded (not ready: fail closed). */
export interface SigningKeySource {
  signingKey(nowMs: number): SigningKey | undefined;
}
