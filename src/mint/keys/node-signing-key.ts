// Signing with node:crypto, synchronously. jose's SignJWT (and WebCrypto's subtle.sign under it)
// only returns a promise, which would make every decision that mints a token asynchronous: the
// engine answers a cache hit and a cache miss synchronously, and one await per Check costs more
// than the signature itself on the cached path. node:crypto's sign() is a synchronous call into
// OpenSSL with the same result (ES256 asks for the JWS form, r||s, with dsaEncoding ieee-p1363).
//
// Cost of one signature over a 400-byte signing input, `node dist/bench/sign-micro.js` (p50 of
// blocks of 200; three runs), Node 20.20.2 on the shared 2-core development machine under a load
// average of 13-16, so read them as upper bounds: ES256 32-67 µs, EdDSA 75-102 µs, RS256 (2048
// bits) 0.62-1.05 ms per signature. jose SignJWT (a whole token, awaited) measured alongside:
// ES256 160-333 µs, EdDSA 82-273 µs, RS256 0.32-0.87 ms; what it saves on RS256 on this busy
// machine it pays back as a promise per decision. The minted-token cache (src/mint/) keeps
// signatures off most Checks whatever the algorithm.
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
