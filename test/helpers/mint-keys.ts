// Signing keys for minting tests, without the key ring: a node:crypto key behind the SigningKey
// interface (src/mint/keys/signing-key.ts), a source the test switches, and the public JWKS that
// jose verifies minted tokens against.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, type JWK } from 'jose';
import type { MintAlgorithm, SigningKey, SigningKeySource } from '../../src/mint/keys/signing-key.js';

export interface TestSigningKey extends SigningKey {
  readonly publicJwk: JWK;
  /** Signatures made so far. */
  signed: number;
  /** Make sign() throw (a KMS outage, a broken key). */
  failing: boolean;
}

export function testSigningKey(kid: string, alg: MintAlgorithm = 'ES256'): TestSigningKey {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKey: KeyObject = pair.privateKey;
  const key: TestSigningKey = {
    kid,
    alg,
    publicJwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' },
    signed: 0,
    failing: false,
    sign(data: Buffer): Buffer {
      if (key.failing) throw new Error('test key failure');
      key.signed++;
      if (alg === 'EdDSA') return sign(null, data, privateKey);
      return sign('sha256', data, alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey);
    },
  };
  return key;
}

/** A SigningKeySource whose current key the test sets (undefined: none loaded). */
export class TestKeySource implements SigningKeySource {
  constructor(public current: SigningKey | undefined) {}
  signingKey(): SigningKey | undefined {
    return this.current;
  }
}

export function jwksOf(...keys: TestSigningKey[]): ReturnType<typeof createLocalJWKSet> {
  return createLocalJWKSet({ keys: keys.map((k) => k.publicJwk) });
}
