// Stage 3: authenticate. Select the issuer from the static configuration (by the token's
// unverified `iss`, which is then *required* to match exactly), verify with jose using that
// issuer's alg allow-list/audiences/skew, and remember verified tokens in a bounded cache.
// A present-but-invalid credential always fails: it is never treated as anonymous.
import { hash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { LRUCache } from 'lru-cache';
import type { ResolvedIssuer } from '../config/types.js';
import type { AuthResult, CheckInput, CredentialLocation, Identity } from '../decision/types.js';
import { extractCredential, type LocationSpec } from './credentials.js';
import { reasonForVerifyError } from './jose-errors.js';
import { claimAsHeaderValue, scopesOf } from './claims.js';
import { splitSpaceDelimited } from './space-delimited.js';
import { verifyWithJwks } from './jwks/verify.js';
import { InternalError } from '../errors.js';
import type { Introspector, IntrospectionOutcome } from './introspection/introspector.js';
import { checkIntrospectedClaims } from './introspection/claims.js';
import type { RevocationCheck } from './revocation/list.js';
import type { ApiKeyAuthenticator } from './apikeys/authenticate.js';

/** Where an issuer's verification keys come from (JWKS manager or a local HMAC secret). */
export interface KeyResolver {
  readonly ready: boolean;
  readonly getKey: JWTVerifyGetKey;
  /** Whether JWTs can be verified here (a JWKS source or HMAC secrets); false for an introspection-only issuer. */
  readonly localKeys?: boolean;
  /** Set for an issuer with `introspection`: opaque tokens are sent to its endpoint. */
  readonly introspector?: Introspector;
}

export interface AuthenticatorHooks {
  cacheHit(): void;
  cacheMiss(): void;
}

interface IssuerRuntime {
  cfg: ResolvedIssuer;
  keys: KeyResolver;
  verifyOptions: JWTVerifyOptions;
  allowedAlgs: ReadonlySet<string>;
  accepts(location: CredentialLocation): boolean;
  introspector: Introspector | undefined;
}

interface CacheEntry {
  issuer: IssuerRuntime;
  identity: Identity;
  claimHeaders: Array<[string, string]>;
  /** The JWKS kid the token named, or HMAC_KEY for HS* tokens (verified with a local secret). */
  kid: string | typeof HMAC_KEY | typeof INTROSPECTED | undefined;
  /** Epoch ms window in which the token stays valid (exp/nbf/max age with skew applied). */
  validFrom: number;
  validUntil: number;
  /** Read by the revocation check on every hit (kept even when policies do not read these claims). */
  jti: string | undefined;
  iat: number | undefined;
}

export interface AuthenticatorOptions {
  maxTokenBytes: number;
  cacheMaxEntries: number;
  cacheMaxTtlSeconds: number;
  /**
   * Claim names kept in `identity.claims` (see claimsUsed in snapshot/builder.ts): what
   * this snapshot's policies, audit records and identity mapping can read. Absent: every claim.
   * The snapshot (and this cache) is rebuilt on every reload, so the set is always current.
   */
  keepClaims?: ReadonlySet<string>;
  /** The revocation list (src/authn/revocation/), shared by every snapshot's authenticator. */
  revocation?: RevocationCheck;
  /** API-key sources (src/authn/apikeys/): a request presenting a key is decided there. */
  apiKeys?: ApiKeyAuthenticator;
  now?: () => number;
}

/**
 * Marks cache entries verified with an HMAC secret: a symbol, so no JWKS kid can equal it. A JWKS
 * change leaves them alone; an HMAC secret removal drops them (which secret verified one is not
 * recorded, so all of the issuer's HS* entries go; they re-verify once).
 */
const HMAC_KEY: unique symbol = Symbol('hmac');
/** Marks cache entries of introspected tokens: no key verified them, so key changes leave them alone. */
const INTROSPECTED: unique symbol = Symbol('introspected');

/** Distinct scope sets / audience lists / claim-header lists shared between cache entries. */
const MAX_SHARED_VALUES = 4096;
const NO_HEADERS: Array<[string, string]> = [];
const NO_CLAIMS: JWTPayload = Object.freeze({});

export class Authenticator {
  readonly locations: LocationSpec;
  private readonly byIssuer = new Map<string, IssuerRuntime>();
  private readonly opaqueAt: ReadonlyMap<string, IssuerRuntime>;
  private readonly cache: LRUCache<string, CacheEntry> | null;
  private readonly now: () => number;
  /**
   * Most tokens of a deployment carry the same few scope strings, audiences, kids and claim
   * header values; sharing one frozen copy keeps a cache entry small, which matters with 100k
   * cached tokens. Bounded: past MAX_SHARED_VALUES new values are simply not shared.
   */
  private readonly shared = new Map<string, unknown>();

  constructor(
    issuers: readonly ResolvedIssuer[],
    keyResolvers: ReadonlyMap<string, KeyResolver>,
    private readonly opts: AuthenticatorOptions,
    private readonly hooks: AuthenticatorHooks,
  ) {
    this.now = opts.now ?? Date.now;
    const headers = new Map<string, string[]>();
    const params = new Set<string>();
    const cookies = new Set<string>();
    // Location → the one introspection issuer reading it (config validation keeps it to one).
    const opaqueAt = new Map<string, IssuerRuntime>();
    for (const cfg of issuers) {
      const keys = keyResolvers.get(cfg.issuer);
      if (!keys) throw new InternalError(`no key resolver for issuer ${cfg.issuer}`);
      for (const h of cfg.fromHeaders) {
        const list = headers.get(h.name) ?? [];
        if (!list.includes(h.prefix)) list.push(h.prefix);
        // Longest prefix first so "Bearer " wins over "" when both are configured.
        list.sort((a, b) => b.length - a.length);
        headers.set(h.name, list);
      }
      cfg.fromParams.forEach((p) => params.add(p));
      cfg.fromCookies.forEach((c) => cookies.add(c));
      const headerNames = new Set(cfg.fromHeaders.map((h) => h.name));
      const paramNames = new Set(cfg.fromParams);
      const cookieNames = new Set(cfg.fromCookies);
      this.byIssuer.set(cfg.issuer, {
        cfg,
        keys,
        allowedAlgs: new Set(cfg.algorithms),
        verifyOptions: {
          algorithms: cfg.algorithms,
          issuer: cfg.issuer,
          ...(cfg.audiences.length ? { audience: cfg.audiences } : {}),
          requiredClaims: cfg.requiredClaims,
          clockTolerance: cfg.clockSkewSeconds,
          ...(cfg.maxTokenAgeSeconds !== undefined ? { maxTokenAge: cfg.maxTokenAgeSeconds } : {}),
          ...(cfg.typ !== undefined ? { typ: cfg.typ } : {}),
        },
        accepts: (loc) =>
          loc.type === 'header' ? headerNames.has(loc.name) : loc.type === 'param' ? paramNames.has(loc.name) : cookieNames.has(loc.name),
        introspector: cfg.introspection ? (keys.introspector ?? missingIntrospector(cfg.issuer)) : undefined,
      });
      if (cfg.introspection) {
        const rt = this.byIssuer.get(cfg.issuer)!;
        // A header by name and prefix: another issuer may read the same header with another prefix.
        for (const h of cfg.fromHeaders) opaqueAt.set(opaqueKey({ type: 'header', name: h.name }, h.prefix), rt);
        for (const p of paramNames) opaqueAt.set(opaqueKey({ type: 'param', name: p }, undefined), rt);
        for (const c of cookieNames) opaqueAt.set(opaqueKey({ type: 'cookie', name: c }, undefined), rt);
      }
    }
    this.opaqueAt = opaqueAt;
    this.locations = {
      headers,
      params,
      cookies,
      ...(opaqueAt.size ? { opaque: (loc: CredentialLocation, prefix: string | undefined) => opaqueAt.has(opaqueKey(loc, prefix)) } : {}),
    };
    this.cache = opts.cacheMaxEntries > 0 ? new LRUCache<string, CacheEntry>({ max: opts.cacheMaxEntries }) : null;
  }

  /** The claims verified tokens keep (undefined: all); a snapshot needing others needs a new authenticator. */
  get keptClaims(): ReadonlySet<string> | undefined {
    return this.opts.keepClaims;
  }

  get issuerCount(): number {
    return this.byIssuer.size;
  }

  /** True when every issuer has usable keys (health/readiness). */
  get keysReady(): boolean {
    for (const iss of this.byIssuer.values()) if (!iss.keys.ready) return false;
    return true;
  }

  /**
   * Per issuer, how many key-set changes have happened: a verification that started before a
   * change (it picked the old key before awaiting) must not be cached after the change dropped
   * that key's entries, or a revoked key would keep a token valid for cacheMaxTtlSeconds.
   */
  private readonly keyEpochs = new Map<string, number>();

  /** Drop cached tokens signed by keys that left the issuer's key set (rotation/revocation). */
  onKeysChanged(issuer: string, kids: ReadonlySet<string>): void {
    this.dropCached(issuer, (kid) => kid !== HMAC_KEY && kid !== INTROSPECTED && (kid === undefined || !kids.has(kid)));
  }

  /**
   * An HMAC secret of this issuer was removed (rotated out of its file): drop the cached HS*
   * verifications, and (through the epoch) any verification in flight when it happened.
   */
  onHmacSecretsRemoved(issuer: string): void {
    this.dropCached(issuer, (kid) => kid === HMAC_KEY);
  }

  private dropCached(issuer: string, drop: (kid: CacheEntry['kid']) => boolean): void {
    this.keyEpochs.set(issuer, (this.keyEpochs.get(issuer) ?? 0) + 1);
    if (!this.cache) return;
    for (const [key, entry] of this.cache.entries()) {
      if (entry.issuer.cfg.issuer === issuer && drop(entry.kid)) this.cache.delete(key);
    }
  }

  /**
   * The revocation list changed: drop the cached tokens it now revokes, so none outlives its
   * revocation in the cache (every hit is checked as well; this frees the entries at once).
   */
  evictRevoked(): number {
    const rev = this.opts.revocation;
    if (!this.cache || !rev || rev.empty) return 0;
    let n = 0;
    for (const [key, e] of this.cache.entries()) {
      if (rev.tokenRevoked(e.identity.issuer, e.jti, e.identity.subject, e.iat)) {
        this.cache.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Where API keys are looked for (observe mode strips them from requests it lets through). */
  get apiKeyLocations(): LocationSpec | undefined {
    return this.opts.apiKeys?.locations;
  }

  authenticate(input: CheckInput): AuthResult | Promise<AuthResult> {
    if (this.opts.apiKeys) {
      const key = this.opts.apiKeys.authenticate(input, this.locations, this.opts.revocation);
      if (key) return key;
    }
    const found = extractCredential(input, this.locations, this.opts.maxTokenBytes);
    if (found.kind === 'none') return { kind: 'anonymous' };
    if (found.kind === 'error') return { kind: 'failed', reason: found.reason, detail: found.detail };

    const { token, location } = found;
    // One-shot crypto.hash (Node >= 20.12): ~1.1 µs against ~1.7 µs for createHash().update().digest(),
    // which was ~3 % of the cached-token path when profiled (Hash/update/digest).
    // Binary digest (32 one-byte chars) as the cache key: 48 bytes a key against 80 for hex.
    const digest = hash('sha256', token, 'binary');
    const now = this.now();

    const hit = this.cache?.get(digest);
    if (hit) {
      if (hit.issuer.accepts(location) && now >= hit.validFrom && now <= hit.validUntil) {
        const rev = this.opts.revocation;
        if (rev && !rev.empty && rev.tokenRevoked(hit.identity.issuer, hit.jti, hit.identity.subject, hit.iat)) {
          this.cache!.delete(digest);
          return revoked(Buffer.from(digest.slice(0, 6), 'latin1').toString('hex'));
        }
        this.hooks.cacheHit();
        return this.success(hit.issuer, hit.identity, hit.claimHeaders, location);
      }
      this.cache!.delete(digest); // aged out, or offered from a location that issuer does not use
    }
    this.hooks.cacheMiss();
    const tokenHash = Buffer.from(digest.slice(0, 6), 'latin1').toString('hex');
    if (found.opaque) {
      const issuer = this.opaqueAt.get(opaqueKey(location, found.prefix))!;
      return this.introspect(issuer, issuer.introspector!, token, digest, tokenHash, location);
    }
    return this.verify(token, digest, tokenHash, location, now);
  }

  /** Opaque tokens, and JWTs of an issuer without local keys: the issuer's introspection endpoint decides. */
  private introspect(
    issuer: IssuerRuntime,
    introspector: Introspector,
    token: string,
    digest: string,
    tokenHash: string,
    location: CredentialLocation,
  ): AuthResult | Promise<AuthResult> {
    const outcome = introspector.introspect(token, digest);
    if (outcome instanceof Promise) return outcome.then((o) => this.introspected(issuer, o, digest, tokenHash, location));
    return this.introspected(issuer, outcome, digest, tokenHash, location);
  }

  private introspected(
    issuer: IssuerRuntime,
    outcome: IntrospectionOutcome,
    digest: string,
    tokenHash: string,
    location: CredentialLocation,
  ): AuthResult {
    if (outcome.kind === 'unavailable') return { kind: 'failed', reason: 'introspection_unavailable', detail: outcome.detail, tokenHash };
    if (outcome.kind === 'inactive')
      return { kind: 'failed', reason: 'token_inactive', detail: 'the issuer reports the token inactive', tokenHash };
    const now = this.now();
    const checked = checkIntrospectedClaims(outcome.claims, issuer.cfg, now);
    if (!checked.ok) return { kind: 'failed', reason: checked.reason, detail: checked.detail, tokenHash };
    const { payload, subject } = checked;
    const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
    const iat = typeof payload.iat === 'number' ? payload.iat : undefined;
    const rev = this.opts.revocation;
    if (rev && !rev.empty && rev.tokenRevoked(issuer.cfg.issuer, jti, subject, iat)) return revoked(tokenHash);
    const { identity, claimHeaders } = this.identityOf(issuer, payload, subject, tokenHash);
    // Reused at most cacheSeconds and never past exp (outcome.until), nor past the token cache's own bound,
    // nor past maxTokenAgeSeconds (checked above, so iat is a number then).
    let validUntil = Math.min(outcome.until, now + this.opts.cacheMaxTtlSeconds * 1000);
    const maxAge = issuer.cfg.maxTokenAgeSeconds;
    if (maxAge !== undefined && iat !== undefined)
      validUntil = Math.min(validUntil, (iat + maxAge) * 1000 + issuer.cfg.clockSkewSeconds * 1000);
    if (this.cache && validUntil > now) {
      this.cache.set(digest, { issuer, identity, claimHeaders, kid: INTROSPECTED, validFrom: 0, validUntil, jti, iat });
    }
    return this.success(issuer, identity, claimHeaders, location);
  }

  /** One frozen instance per distinct value (keyed by its JSON), for values cache entries repeat. */
  private share<T>(kind: string, key: unknown, make: () => T): T {
    const k = kind + JSON.stringify(key ?? null);
    const hit = this.shared.get(k);
    if (hit !== undefined) return hit as T;
    const v = make();
    if (this.shared.size < MAX_SHARED_VALUES && k.length <= 1024) this.shared.set(k, Object.freeze(v));
    return v;
  }

  /** The verified payload reduced to the claims this snapshot can read (all when unrestricted). */
  private projectClaims(payload: JWTPayload): JWTPayload {
    const keep = this.opts.keepClaims;
    if (!keep) return payload;
    let out: JWTPayload | undefined;
    for (const name of keep) if (Object.hasOwn(payload, name)) (out ??= {})[name] = payload[name];
    return out ?? NO_CLAIMS;
  }

  /** The Identity (and claim headers) of verified claims: a JWT's payload or an active introspection response. */
  private identityOf(
    issuer: IssuerRuntime,
    payload: JWTPayload,
    subject: string,
    tokenHash: string,
  ): { identity: Identity; claimHeaders: Array<[string, string]> } {
    const identity: Identity = {
      issuer: issuer.cfg.issuer,
      subject,
      requestPrincipal: `${issuer.cfg.issuer}/${subject}`,
      audiences: this.share('a', payload.aud, () =>
        typeof payload.aud === 'string'
          ? [payload.aud]
          : Array.isArray(payload.aud)
            ? payload.aud.filter((a) => typeof a === 'string')
            : [],
      ),
      scopes: this.share('s', [payload.scope, payload.scp], () => scopesOf(payload)),
      // Space-delimited claims (permission, scope, the issuer's spaceDelimitedClaims) as lists.
      claims: splitSpaceDelimited(this.projectClaims(payload), issuer.cfg.spaceDelimitedClaims),
      tokenHash,
    };
    let claimHeaders = NO_HEADERS;
    for (const { header, claim } of issuer.cfg.outputClaimToHeaders) {
      const value = claimAsHeaderValue(payload, claim);
      if (value !== undefined) claimHeaders = claimHeaders === NO_HEADERS ? [[header, value]] : [...claimHeaders, [header, value]];
    }
    if (claimHeaders !== NO_HEADERS) claimHeaders = this.share('h', claimHeaders, () => claimHeaders);
    return { identity, claimHeaders };
  }

  private success(
    issuer: IssuerRuntime,
    identity: Identity,
    claimHeaders: Array<[string, string]>,
    location: CredentialLocation,
  ): AuthResult {
    return { kind: 'authenticated', identity, location, forwardToken: issuer.cfg.forwardOriginalToken, claimHeaders };
  }

  private async verify(token: string, digest: string, tokenHash: string, location: CredentialLocation, now: number): Promise<AuthResult> {
    // Unverified pre-filters: they may only ever reject, never accept.
    let alg: string | undefined;
    let kid: string | undefined;
    let iss: unknown;
    try {
      const header = decodeProtectedHeader(token);
      alg = header.alg;
      kid = typeof header.kid === 'string' ? header.kid : undefined;
      iss = decodeJwt(token).iss;
    } catch {
      return { kind: 'failed', reason: 'token_malformed', detail: 'token header or payload is not valid base64url JSON', tokenHash };
    }
    if (typeof iss !== 'string') return { kind: 'failed', reason: 'issuer_unknown', detail: 'token has no iss claim', tokenHash };
    const issuer = this.byIssuer.get(iss);
    if (!issuer) return { kind: 'failed', reason: 'issuer_unknown', detail: 'token issuer is not configured', tokenHash };
    if (!issuer.accepts(location)) {
      return {
        kind: 'failed',
        reason: 'issuer_unknown',
        detail: `issuer does not accept credentials from ${location.type} ${location.name}`,
        tokenHash,
      };
    }
    // No local keys: a JWT of this issuer can only be introspected.
    if (issuer.introspector && issuer.keys.localKeys === false)
      return this.introspect(issuer, issuer.introspector, token, digest, tokenHash, location);
    if (!alg || !issuer.allowedAlgs.has(alg)) {
      return { kind: 'failed', reason: 'token_alg_not_allowed', detail: `alg ${sanitize(alg)} is not allowed for this issuer`, tokenHash };
    }

    const epoch = this.keyEpochs.get(issuer.cfg.issuer) ?? 0;
    let payload: JWTPayload;
    try {
      ({ payload } = await verifyWithJwks(token, issuer.keys, { ...issuer.verifyOptions, currentDate: new Date(now) }));
    } catch (err) {
      const { reason, detail } = reasonForVerifyError(err);
      return { kind: 'failed', reason, detail, tokenHash };
    }
    const skewMs = issuer.cfg.clockSkewSeconds * 1000;
    // jose checks iat only with maxTokenAge; a token minted in the future is suspicious either way.
    if (typeof payload.iat === 'number' && payload.iat * 1000 > now + skewMs) {
      return { kind: 'failed', reason: 'token_not_yet_valid', detail: 'iat is in the future (beyond clock skew)', tokenHash };
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      return { kind: 'failed', reason: 'token_claims_invalid', detail: 'sub claim is missing or not a string', tokenHash };
    }
    const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
    const iat = typeof payload.iat === 'number' ? payload.iat : undefined;
    const rev = this.opts.revocation;
    if (rev && !rev.empty && rev.tokenRevoked(issuer.cfg.issuer, jti, payload.sub, iat)) return revoked(tokenHash);

    const { identity, claimHeaders } = this.identityOf(issuer, payload, payload.sub, tokenHash);
    if (kid !== undefined) kid = this.share('k', kid, () => kid);
    const keyRef: CacheEntry['kid'] = alg.startsWith('HS') ? HMAC_KEY : kid;

    if (this.cache) {
      const exp = (payload.exp as number) * 1000; // required claim: jose guarantees a number
      let validUntil = Math.min(exp + skewMs, now + this.opts.cacheMaxTtlSeconds * 1000);
      if (issuer.cfg.maxTokenAgeSeconds !== undefined && typeof payload.iat === 'number') {
        validUntil = Math.min(validUntil, (payload.iat + issuer.cfg.maxTokenAgeSeconds) * 1000 + skewMs);
      }
      const validFrom = typeof payload.nbf === 'number' ? payload.nbf * 1000 - skewMs : 0;
      const keysUnchanged = (this.keyEpochs.get(issuer.cfg.issuer) ?? 0) === epoch;
      if (validUntil > now && keysUnchanged)
        this.cache.set(digest, { issuer, identity, claimHeaders, kid: keyRef, validFrom, validUntil, jti, iat });
    }
    return this.success(issuer, identity, claimHeaders, location);
  }
}

/** Where an introspection issuer reads opaque tokens: a parameter or cookie by name, a header by name and prefix. */
function opaqueKey(loc: CredentialLocation, prefix: string | undefined): string {
  return loc.type === 'header' ? `header ${loc.name}\n${prefix ?? ''}` : `${loc.type} ${loc.name}`;
}

function revoked(tokenHash: string): AuthResult {
  return { kind: 'failed', reason: 'token_revoked', detail: 'the token is on the revocation list', tokenHash };
}

function missingIntrospector(issuer: string): never {
  throw new InternalError(`issuer ${issuer} has introspection but its key resolver holds no introspector`);
}

function sanitize(s: string | undefined): string {
  return (s ?? 'missing').replace(/[^A-Za-z0-9_+-]/g, '?').slice(0, 16);
}
