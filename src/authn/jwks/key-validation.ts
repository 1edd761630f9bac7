/**
 * Key-set validation (applies to every source): the document must be a JSON object with a `keys`
 * array of objects. A set that contains private or symmetric key material (`d`, `priv`, `kty:
 * "oct"`) is rejected as a whole (that material must be considered compromised). Entries that are
 * not usable signature-verification public keys are dropped: unknown `kty`, `use` other than `sig`,
 * `key_ops` without `verify`, an `alg` that is not an asymmetric JWS algorithm for the key's
 * type/curve (`RSA-OAEP`, `ECDH-ES`, `HS256`, `ES256` on an RSA key …), a type/curve no JWS
 * algorithm uses (X25519, secp256k1), a key node:crypto cannot import, RSA under 2048 bits, and
 * RSA keys that import but must never verify (weak-keys.ts: public exponent below 65537 or even,
 * a ROCA modulus). If no usable key remains the set is rejected ("no usable signing keys"). The
 * filter mirrors jose's own key selection, so a set jose could never verify with cannot replace a
 * working one. Every dropped entry is reported (onKeysDropped) with its reason, once per load.
 */
import { createPublicKey, type AsymmetricKeyDetails, type JsonWebKey } from 'node:crypto';
import { createLocalJWKSet, type LocalJWKSet } from 'jose';
import { jwkUint, rsaWeakness, type KeyDrop, type KeyDropReason } from '../weak-keys.js';
import { JwksFetchError } from './errors.js';

const MIN_RSA_BITS = 2048;

/** A validated key set as the manager holds it. */
export interface HeldSet {
  local: LocalJWKSet;
  kids: ReadonlySet<string>;
  count: number;
  fingerprint: string;
  /** kid → fingerprint of the key(s) with that kid: tells a kid whose key material changed. */
  byKid: ReadonlyMap<string, string>;
}

/**
 * Asymmetric JWS algorithms (jose's table) → the key type, and curve, they need. A JWK is only
 * usable if its `alg` (when present) is one of these and fits it; without `alg`, some entry must
 * fit its kty/crv. jose's key selection applies the same rules, so keys outside this table could
 * never verify a token anyway.
 */
const SIG_ALGS: Readonly<Record<string, { kty: string; crv?: string }>> = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
  'ML-DSA-44': { kty: 'AKP' },
  'ML-DSA-65': { kty: 'AKP' },
  'ML-DSA-87': { kty: 'AKP' },
};

function fitsAlg(jwk: Record<string, unknown>, alg: string): boolean {
  const need = Object.hasOwn(SIG_ALGS, alg) ? SIG_ALGS[alg] : undefined;
  return need !== undefined && need.kty === jwk.kty && (need.crv === undefined || need.crv === jwk.crv);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Why this JWK is not a usable public signature-verification key (undefined: it is usable).
 * Never throws, never reports key data.
 */
function keyDropReason(jwk: Record<string, unknown>): KeyDropReason | undefined {
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'not_for_signing';
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return 'not_for_signing';
  const ops = jwk.key_ops;
  if (ops !== undefined) {
    // jose: an array of distinct strings that includes "verify".
    if (!Array.isArray(ops) || !ops.includes('verify') || new Set(ops).size !== ops.length || !ops.every((o) => typeof o === 'string'))
      return 'not_for_signing';
  }
  if (jwk.ext !== undefined && typeof jwk.ext !== 'boolean') return 'not_for_signing';
  if (jwk.alg !== undefined ? typeof jwk.alg !== 'string' || !fitsAlg(jwk, jwk.alg) : !Object.keys(SIG_ALGS).some((a) => fitsAlg(jwk, a))) {
    return 'not_for_signing';
  }
  switch (jwk.kty) {
    case 'RSA':
    case 'EC':
    case 'OKP': {
      let details: AsymmetricKeyDetails | undefined;
      try {
        details = createPublicKey({ key: jwk as unknown as JsonWebKey, format: 'jwk' }).asymmetricKeyDetails;
      } catch {
        return 'unimportable';
      }
      if (jwk.kty === 'RSA') {
        const bits = details?.modulusLength;
        if (bits === undefined || bits < MIN_RSA_BITS) return 'rsa_too_small';
        // node:crypto imported n and e, so both are well-formed; a missing detail fails closed.
        const n = jwkUint(jwk.n);
        const e = details?.publicExponent;
        if (n === undefined || e === undefined) return 'unimportable';
        return rsaWeakness(n, e);
      }
      return undefined;
    }
    case 'AKP':
      // ML-DSA public keys: node 20's crypto cannot import them; keep them for jose (WebCrypto).
      // jose only selects an AKP key that names its alg.
      return typeof jwk.alg === 'string' && typeof jwk.pub === 'string' ? undefined : 'not_for_signing';
    default:
      return 'not_for_signing';
  }
}

function fingerprintOf(keys: readonly Record<string, unknown>[]): string {
  const canon = keys.map((k) =>
    JSON.stringify(
      Object.keys(k)
        .sort()
        .map((name) => [name, k[name]]),
    ),
  );
  canon.sort();
  return JSON.stringify(canon);
}

/**
 * Validate an untrusted parsed JWKS document and build the held set. Throws JwksFetchError with
 * a safe message. Entries dropped as unusable are appended to `drops` (even when the set is then
 * rejected for having no usable key).
 */
export function buildSet(doc: unknown, drops: KeyDrop[]): HeldSet {
  if (!isPlainObject(doc)) throw new JwksFetchError('invalid JWKS: not a JSON object');
  const keys = doc.keys;
  if (!Array.isArray(keys)) throw new JwksFetchError('invalid JWKS: "keys" must be an array');
  const usable: Record<string, unknown>[] = [];
  for (const k of keys) {
    if (!isPlainObject(k)) throw new JwksFetchError('invalid JWKS: "keys" entries must be objects');
    if (k.d !== undefined || k.priv !== undefined || k.kty === 'oct' || k.k !== undefined) {
      drops.length = 0; // the whole set is rejected: its entries were not dropped one by one
      throw new JwksFetchError('invalid JWKS: contains private or symmetric key material');
    }
    const reason = keyDropReason(k);
    if (reason === undefined) usable.push(k);
    else drops.push(typeof k.kid === 'string' ? { reason, kid: k.kid } : { reason });
  }
  if (usable.length === 0) throw new JwksFetchError('invalid JWKS: no usable signing keys');
  let local: LocalJWKSet;
  try {
    local = createLocalJWKSet({ keys: usable });
  } catch {
    throw new JwksFetchError('invalid JWKS: malformed key set');
  }
  const kids = new Set<string>();
  for (const k of usable) if (typeof k.kid === 'string') kids.add(k.kid);
  const byKid = new Map([...kids].map((kid) => [kid, fingerprintOf(usable.filter((k) => k.kid === kid))]));
  return { local, kids, count: usable.length, fingerprint: fingerprintOf(usable), byKid };
}
