// Signing with node:crypto, synchronously. jose's SignJWT (and WebCrypto's subtle.sign under it)
// only returns a promise, which would make every decision that mints a token asynchronous: the
// engine answers a cache hit and a cache miss synchronously, and one await per Check costs more
// than the signature itself on the cached path. node:crypto's sign() is a synchronous call into
// OpenSSL with the same result (ES256 asks for the JWS form, r||s, with dsaEncoding ieee-p1363).
//
// Cost of one signature over a typical 400-byte header.payload (node scripts/bench-mint-sign.mjs
// is not kept; the figures come from `node dist/test/unit/mint/sign-cost.js`, see
// test/unit/mint/sign-cost.ts), Node 20.20.2 on the shared 2-core development machine:
//   ES256 ≈ SIGN_FIGURE_ES256, EdDSA ≈ SIGN_FIGURE_EDDSA, RS256 (2048) ≈ SIGN_FIGURE_RS256 per signature.
// RS256 is the slowest by far; the minted-token cache (src/mint/) keeps it off most Checks.
import { sign, type KeyObject } from 'node:crypto';
import type { MintAlgorithm, SigningKey } from './signing-key.js';

/** One JWS signature in its wire form. Throws on failure (the caller fails closed). */
export function signWith(alg: MintAlgorithm, key: KeyObject, data: Buffer): Buffer {
  switch (alg) {
    case 'ES256':
      return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'RS256':
      return sign('sha256', data, key);
    case 'EdDSA':
      return sign(null, data, key);
  }
}

/** A SigningKey over a private KeyObject held in this process. */
export class NodeSigningKey implements SigningKey {
  constructor(
    readonly kid: string,
    readonly alg: MintAlgorithm,
    private readonly key: KeyObject,
  ) {}

  sign(data: Buffer): Buffer {
    return signWith(this.alg, this.key, data);
  }
}
