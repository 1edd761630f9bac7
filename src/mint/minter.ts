// The internal-token minter (phantom token): on allow, a short-lived JWT zt-authz signs itself,
// standing for the verified external credential, so the services behind it verify offline against
// zt-authz's published JWKS and never see the credential.
//
// The JWS is serialised here by hand over the key ring's synchronous SigningKey.sign instead of
// with jose's SignJWT: jose signs through WebCrypto, which is asynchronous, and a cache miss would
// then turn every decision that mints into a promise (the decision path is synchronous on a
// verified-token cache hit, and stays so). The format is small and fixed: base64url(JSON header)
// "." base64url(JSON payload) "." base64url(signature), RFC 7515 §7.1; tests verify the result
// with jose's jwtVerify.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Identity } from '../decision/types.js';
import { MINT_HASH_CLAIM } from '../config/internal-token-schema.js';
import type { SigningKey, SigningKeySource } from './keys/signing-key.js';
import { copiedClaims } from './claims.js';

/**
 * The largest "Bearer <jwt>" value minted: Envoy's default limit for all request headers is
 * 60 KiB and many upstreams allow 8 KiB per header line, so a token that does not fit here is
 * not minted (the request is denied, never sent on without it).
 */
export const MAX_MINTED_HEADER_BYTES = 8192;

/**
 * The JOSE header `typ`: `at+jwt` (RFC 9068 §2.1). The minted token is an access token for the
 * upstream, and explicit typing (RFC 8725 §3.11) keeps it from being taken for an ID token or any
 * other JWT by a consumer that checks `typ`.
 */
export const MINTED_TYP = 'at+jwt';

export interface MintSettings {
  /** iss of every minted token (tokenIssuer.issuer). */
  readonly issuer: string;
  readonly ttlSeconds: number;
  /** Claims copied from the credential (response.internalToken.claims). */
  readonly claims: readonly string[];
  /** Minted tokens kept for reuse; 0: none. */
  readonly cacheMaxEntries: number;
}

export interface MintRequest {
  readonly identity: Identity;
  /** aud: the destination workload's SPIFFE ID, or the request host. */
  readonly audience: string;
  /** act.sub: the calling workload's principal, when one is known. */
  readonly actor?: string;
}

export type MintResult =
  | { readonly ok: true; readonly value: string; readonly jti: string; readonly kid: string }
  | { readonly ok: false; readonly detail: string };

interface Cached {
  readonly result: MintResult & { ok: true };
  readonly kid: string;
  /** iat in milliseconds: a clock that went back before it mints anew (see `mint`). */
  readonly issuedMs: number;
  /** Half the token's lifetime after iat: reused until then, minted anew after. */
  readonly reuseUntilMs: number;
  /** The identity it was minted for: the verified-token cache hands back this same object. */
  identity: Identity;
  /** iss, sub and the copied claims, to tell another credential with the same hash prefix apart. */
  readonly content: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

export class TokenMinter {
  private readonly cache: LRUCache<string, Cached> | undefined;
  /** base64url(header) per alg and kid: the header of one key never changes. */
  private readonly headers = new Map<string, string>();

  constructor(
    readonly settings: MintSettings,
    private readonly keys: SigningKeySource,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = settings.cacheMaxEntries > 0 ? new LRUCache({ max: settings.cacheMaxEntries }) : undefined;
  }

  /** True when `other` mints exactly as this one does: a new snapshot may keep this one (and its cache). */
  sameAs(other: TokenMinter): boolean {
    const a = this.settings;
    const b = other.settings;
    return (
      this.keys === other.keys &&
      a.issuer === b.issuer &&
      a.ttlSeconds === b.ttlSeconds &&
      a.cacheMaxEntries === b.cacheMaxEntries &&
      a.claims.join('\n') === b.claims.join('\n')
    );
  }

  /** The "Bearer <jwt>" for `req`, reused from the cache when it may be; never throws (a failure is `ok: false`). */
  mint(req: MintRequest): MintResult {
    const nowMs = this.now();
    let key: SigningKey | undefined;
    try {
      key = this.keys.signingKey(nowMs);
    } catch {
      key = undefined;
    }
    if (!key) return { ok: false, detail: 'no signing key is loaded' };
    const { identity } = req;
    const cacheKey = this.cache ? `${identity.tokenHash}\n${req.audience}\n${req.actor ?? ''}` : '';
    const hit = this.cache?.get(cacheKey);
    // A rotation (another current kid) mints anew, so the retiring key stops signing at once. A
    // clock stepped back before the cached iat mints anew too: that token was issued "in the
    // future" (verifiers that check iat refuse it) and would be reused for as long as the step.
    const fresh = hit !== undefined && hit.kid === key.kid && nowMs >= hit.issuedMs && nowMs < hit.reuseUntilMs;
    // The verified-token and API-key caches return the same Identity object for the same
    // credential: then the token is its own. Otherwise (the credential re-verified, or another
    // one whose 12-hex-digit hash collides) it is reused only for the same content.
    if (fresh && hit.identity === identity) return hit.result;
    const copied = copiedClaims(identity, this.settings.claims);
    if (copied.problem) return { ok: false, detail: copied.problem };
    const content = this.cache ? JSON.stringify([identity.issuer, identity.subject, identity.claims.exp, copied.claims]) : '';
    if (fresh && hit.content === content) {
      hit.identity = identity;
      return hit.result;
    }
    const iat = Math.floor(nowMs / 1000);
    // Never outlive the credential the token stands for.
    const credExp = identity.claims.exp;
    let exp = iat + this.settings.ttlSeconds;
    if (typeof credExp === 'number' && Number.isFinite(credExp) && credExp < exp) exp = Math.max(iat + 1, Math.floor(credExp));
    const jti = randomUUID();
    const payload: Record<string, unknown> = {
      ...copied.claims,
      iss: this.settings.issuer,
      sub: identity.subject,
      aud: req.audience,
      iat,
      exp,
      jti,
      [MINT_HASH_CLAIM]: identity.tokenHash,
    };
    if (req.actor) payload.act = { sub: req.actor };
    let signingInput: string;
    try {
      signingInput = `${this.header(key)}.${b64(JSON.stringify(payload))}`;
    } catch {
      return { ok: false, detail: 'a copied claim cannot be serialised' };
    }
    // Already too large without the signature: refuse before signing.
    if ('Bearer '.length + signingInput.length > MAX_MINTED_HEADER_BYTES)
      return { ok: false, detail: `the token would exceed ${MAX_MINTED_HEADER_BYTES} bytes (copied claims too large)` };
    let signature: Buffer;
    try {
      signature = key.sign(Buffer.from(signingInput, 'ascii'));
    } catch {
      return { ok: false, detail: `signing with key ${key.kid} failed` };
    }
    // An empty signature would make an unsigned-looking "a.b." token: refuse it, whatever the key
    // implementation (a KMS client that swallowed an error) returned.
    if (!Buffer.isBuffer(signature) || signature.length === 0)
      return { ok: false, detail: `signing with key ${key.kid} returned no signature` };
    const value = `Bearer ${signingInput}.${signature.toString('base64url')}`;
    if (value.length > MAX_MINTED_HEADER_BYTES)
      return { ok: false, detail: `the token would exceed ${MAX_MINTED_HEADER_BYTES} bytes (copied claims too large)` };
    const result = { ok: true as const, value, jti, kid: key.kid };
    if (this.cache)
      this.cache.set(cacheKey, {
        result,
        kid: key.kid,
        issuedMs: iat * 1000,
        reuseUntilMs: iat * 1000 + ((exp - iat) * 1000) / 2,
        identity,
        content,
      });
    return result;
  }

  private header(key: SigningKey): string {
    const id = `${key.alg} ${key.kid}`;
    let h = this.headers.get(id);
    if (h === undefined) {
      h = b64(JSON.stringify({ alg: key.alg, kid: key.kid, typ: MINTED_TYP }));
      if (this.headers.size >= 64) this.headers.clear(); // keys rotate: keep the map small
      this.headers.set(id, h);
    }
    return h;
  }
}
