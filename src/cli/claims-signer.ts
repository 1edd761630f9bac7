// Claims signed offline for `zt-authz check` and `zt-authz test`: users write the claims a token
// would carry instead of fetching a real token. A throwaway key per algorithm, made for this run
// and never written anywhere, signs them, and stands in for the issuer's configured key source
// (JWKS URL, discovery, file, Secret), so no IdP is needed while the issuer's audience, expiry,
// algorithm and required-claim checks still run on the token.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type { Config, ResolvedIssuer } from '../config/types.js';
import { InvalidArgumentError } from '../errors.js';

/** The algorithm claims are signed with for an issuer: its first one that is not HMAC (none: cannot sign for it). */
export function signingAlg(issuer: ResolvedIssuer): string | undefined {
  return issuer.algorithms.find((a) => !a.startsWith('HS'));
}

export class ClaimsSigner {
  private readonly keys = new Map<string, Promise<{ privateKey: CryptoKey; jwk: JWK }>>();

  private key(alg: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
    let k = this.keys.get(alg);
    if (!k) {
      k = (async () => {
        const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
        return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: `zt-authz-test-${alg.toLowerCase()}`, alg, use: 'sig' } };
      })();
      this.keys.set(alg, k);
    }
    return k;
  }

  /** The public JWK that verifies what this signer signs with `alg`. */
  async publicJwk(alg: string): Promise<Record<string, unknown>> {
    return { ...(await this.key(alg)).jwk };
  }

  /**
   * A token for `issuer` (which must have a signingAlg) carrying `claims`. Defaults: `sub: user`,
   * `iat` now, `exp` in five minutes, `aud` the issuer's first audience; a claim given as null is
   * left out. `iss` is always the issuer's.
   */
  async sign(issuer: ResolvedIssuer, claims: Record<string, unknown>): Promise<string> {
    const alg = signingAlg(issuer);
    if (!alg)
      throw new InvalidArgumentError(`issuer ${issuer.issuer} accepts only HMAC algorithms; claims cannot be signed for it (give a token)`);
    const { privateKey, jwk } = await this.key(alg);
    const now = Math.floor(Date.now() / 1000);
    const aud = issuer.audiences[0];
    const payload: Record<string, unknown> = {
      sub: 'user',
      iat: now,
      exp: now + 300,
      ...(aud !== undefined ? { aud } : {}),
      ...claims,
      iss: issuer.issuer,
    };
    for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
    return new SignJWT(payload).setProtectedHeader({ alg, kid: jwk.kid!, ...(issuer.typ ? { typ: issuer.typ } : {}) }).sign(privateKey);
  }

  /** `config` with the issuers named in `issuers` verifying with this signer's public key instead of their own key source. */
  async standIn(config: Config, issuers: ReadonlySet<string>): Promise<Config> {
    const out: ResolvedIssuer[] = [];
    for (const i of config.issuers) {
      const alg = signingAlg(i);
      if (!issuers.has(i.issuer) || !alg) out.push(i);
      else out.push({ ...i, keySource: { kind: 'inline', jwks: { keys: [await this.publicJwk(alg)] } }, hmacSecretFiles: undefined });
    }
    return { ...config, issuers: out };
  }
}
