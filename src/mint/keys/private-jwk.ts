// One private signing key from its JWK: checked against tokenIssuer.algorithm, imported with jose
// into a node KeyObject, and proven to be a key pair (a signature made with the private part
// verifies with the public members that will be published), so a JWK whose `d` does not belong to
// its `x`/`y`/`n` can never mint tokens nobody can verify. Errors name the origin (file or Secret)
// and the kid, never key material.
import { KeyObject, createPublicKey, verify } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { KeyError } from '../../errors.js';
import type { MintAlgorithm } from './signing-key.js';
import { signWith } from './node-signing-key.js';

/** A validated private signing key, as the key ring holds it. */
export interface LoadedKey {
  kid: string;
  alg: MintAlgorithm;
  privateKey: KeyObject;
  /** Only the public members (whitelisted), plus kid, alg and use: what the JWKS publishes. */
  publicJwk: Readonly<Record<string, string>>;
  /** The `created` member (Unix seconds) in milliseconds, when the JWK carries one. */
  createdMs?: number;
  /** Same kid, same key: the public members, canonical (tells a changed key under an old kid). */
  fingerprint: string;
}

/** The JWK member that records when `zt-authz keys new` created the key (Unix seconds): the start of its schedule. */
export const CREATED_MEMBER = 'created';

const PUBLIC_MEMBERS: Readonly<Record<MintAlgorithm, readonly string[]>> = {
  ES256: ['kty', 'crv', 'x', 'y'],
  EdDSA: ['kty', 'crv', 'x'],
  RS256: ['kty', 'n', 'e'],
};

const KEY_TYPE: Readonly<Record<MintAlgorithm, { kty: string; crv?: string; what: string }>> = {
  ES256: { kty: 'EC', crv: 'P-256', what: 'an EC P-256 key (kty EC, crv P-256)' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', what: 'an Ed25519 key (kty OKP, crv Ed25519)' },
  RS256: { kty: 'RSA', what: 'an RSA key of 2048 bits or more (kty RSA)' },
};

export const MIN_RSA_BITS = 2048;

const KID = /^[\x21-\x7e]{1,128}$/;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Validate and import one private JWK. Throws KeyError naming `origin` (and the kid once known). */
export async function importPrivateJwk(value: unknown, alg: MintAlgorithm, origin: string): Promise<LoadedKey> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new KeyError(`${origin}: not a JSON object (a JWK)`);
  const jwk = value as Record<string, unknown>;
  const kid = str(jwk.kid);
  if (kid === undefined || kid === '') throw new KeyError(`${origin}: the key has no kid (every signing key needs a unique kid)`);
  if (!KID.test(kid)) throw new KeyError(`${origin}: the kid must be 1 to 128 printable ASCII characters without spaces`);
  const where = `${origin} (kid ${kid})`;
  const want = KEY_TYPE[alg];
  if (jwk.kty !== want.kty || (want.crv !== undefined && jwk.crv !== want.crv)) {
    const got = `kty ${str(jwk.kty) ?? '?'}${jwk.crv !== undefined ? `, crv ${str(jwk.crv) ?? '?'}` : ''}`;
    throw new KeyError(`${where}: tokenIssuer.algorithm ${alg} needs ${want.what}, this is ${got}`);
  }
  if (jwk.alg !== undefined && jwk.alg !== alg)
    throw new KeyError(`${where}: its alg ${str(jwk.alg) ?? typeof jwk.alg} is not tokenIssuer.algorithm ${alg}`);
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new KeyError(`${where}: its use must be sig`);
  if (jwk.d === undefined) throw new KeyError(`${where}: a public key; a signing key needs its private part (d)`);
  let createdMs: number | undefined;
  if (jwk[CREATED_MEMBER] !== undefined) {
    const c = jwk[CREATED_MEMBER];
    if (typeof c !== 'number' || !Number.isSafeInteger(c) || c <= 0)
      throw new KeyError(`${where}: "${CREATED_MEMBER}" must be the key's creation time in whole seconds since 1970`);
    createdMs = c * 1000;
  }
  const publicMembers = Object.fromEntries(
    PUBLIC_MEMBERS[alg].map((m) => {
      const v = str(jwk[m]);
      if (v === undefined || v === '') throw new KeyError(`${where}: member ${m} is missing`);
      return [m, v];
    }),
  );
  let privateKey: KeyObject;
  try {
    // jose checks the members against the algorithm; node:crypto signs with a KeyObject.
    const imported = await importJWK(jwk as JWK, alg);
    if (imported instanceof Uint8Array) throw new Error('a symmetric key');
    privateKey = KeyObject.from(imported);
  } catch {
    // Node 24's OpenSSL also refuses here an RSA private part that does not match `n` (Node 20
    // imports it, and assertKeyPair below refuses it): the message covers both.
    throw new KeyError(`${where}: cannot be imported as a private ${alg} key (a member is malformed, or the members are not one key pair)`);
  }
  if (privateKey.type !== 'private') throw new KeyError(`${where}: a public key; a signing key needs its private part`);
  if (alg === 'RS256') {
    const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new KeyError(`${where}: an RSA key of ${bits} bits; RS256 signing keys need at least ${MIN_RSA_BITS}`);
  }
  assertKeyPair(privateKey, publicMembers, alg, where);
  const publicJwk = Object.freeze({ ...publicMembers, kid, alg, use: 'sig' });
  return {
    kid,
    alg,
    privateKey,
    publicJwk,
    ...(createdMs !== undefined ? { createdMs } : {}),
    fingerprint: JSON.stringify(publicMembers),
  };
}

function assertKeyPair(privateKey: KeyObject, publicMembers: Record<string, string>, alg: MintAlgorithm, where: string): void {
  const probe = Buffer.from('zt-authz signing key self-test');
  let ok: boolean;
  try {
    const pub = createPublicKey({ key: publicMembers, format: 'jwk' });
    const sig = signWith(alg, privateKey, probe);
    ok = verify(alg === 'EdDSA' ? null : 'sha256', probe, alg === 'ES256' ? { key: pub, dsaEncoding: 'ieee-p1363' } : pub, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw new KeyError(`${where}: the private part does not belong to the public members (not a key pair)`);
}
