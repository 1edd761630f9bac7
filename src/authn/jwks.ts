/**
 * JWKS manager: our own replacement for jose's `createRemoteJWKSet`.
 *
 * Why not createRemoteJWKSet (its behaviour as of jose v6):
 *  (a) once its cache ages out while the IdP is down, every verification (including of valid
 *      tokens) blocks on a fetch and fails;
 *  (b) failed fetches start no cooldown, so an unknown-`kid` storm hammers a down IdP.
 *
 * Guarantees of this module:
 *  - Last-known-good: a held key set is only ever replaced by a newer *valid, non-empty* set. A
 *    failed fetch, garbage, an empty set or an invalid set never drops the current keys.
 *  - Background refresh (timers unref'd): next at `refreshIntervalMs` after a success; after a
 *    failure exponential backoff from `retryMinMs` doubling up to `refreshIntervalMs`.
 *  - The request path only ever waits on a fetch in two bounded cases: no keys yet, or an
 *    unknown `kid`. Both are deduped (one in-flight fetch shared by all callers) and start only
 *    once the last attempt of any kind (failed ones too) is `min(retryMinMs, cooldownMs)` old.
 *    No keys: nothing more, so a Check brings the issuer back about a second after its IdP
 *    (the background backoff may be minutes away). Unknown `kid`: at most `unknownKidFetches`
 *    per sliding `cooldownMs` window, the k-th in a window after a gap doubling from
 *    `retryMinMs`, so the first new kids after a quiet period (a rotation without overlap) are
 *    fetched at once while a flood of random kids costs no more than that bound.
 *  - Bounded fetches: `AbortSignal.timeout(timeoutMs)` per HTTP request (covers the body too),
 *    body streamed with a byte cap, redirects never followed.
 *  - No key material (and no response body text) ever appears in errors or events.
 *  - Pushed sources (`secret`: a Kubernetes Secret, src/k8s/secrets.ts): the key set arrives from
 *    a watch through `feed` instead of being fetched. Each pushed document goes through the same
 *    validation and counts as one attempt (trigger "watch"); a bad one never replaces the held
 *    set. Nothing is fetched on demand: an unknown `kid` fails at once (token_unknown_key), and
 *    until a first valid set arrives every verification fails with JwksUnavailableError.
 *
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
import { createPublicKey } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { jwkUint, rsaWeakness, type KeyDrop, type KeyDropReason } from './weak-keys.js';
import type {
  CryptoKey,
  FlattenedJWSInput,
  JSONWebKeySet,
  JWK,
  JWSHeaderParameters,
  JWTVerifyGetKey,
  JWTVerifyOptions,
  JWTVerifyResult,
  JWTPayload,
  LocalJWKSet,
} from 'jose';

export type JwksSource =
  | { kind: 'remote'; uri: string } // jwksUri
  | { kind: 'discovery'; issuer: string } // {issuer}/.well-known/openid-configuration → jwks_uri
  | { kind: 'inline'; jwks: JSONWebKeySet }
  | { kind: 'file'; path: string }
  // Kubernetes service-account issuer: discovery at {apiServer}/.well-known/openid-configuration
  // (its issuer must equal `issuer`), keys from {apiServer}/openid/v1/jwks. The discovery
  // document's jwks_uri often names the API server's external address, unreachable from pods.
  | { kind: 'kubernetes'; issuer: string; apiServer: string }
  // Pushed: data[key] of a Kubernetes Secret, delivered by JwksOptions.feed (never fetched).
  // The namespace only labels messages (absent: unresolved, e.g. offline `zt-authz check`).
  | { kind: 'secret'; namespace?: string; name: string; key: string };

export type JwksFetchResult = 'success' | 'error';

/**
 * One pushed update: the raw JWKS document bytes, or why there is none (a safe message, never
 * content: "the Secret does not exist", "the Secret has no such data key"; the manager prefixes
 * the source's name).
 */
export type JwksPush = { kind: 'document'; bytes: Uint8Array } | { kind: 'error'; error: string };

/** Where a pushed source's updates come from. */
export interface JwksPushFeed {
  /**
   * Register for updates; replays the current state synchronously (if any is known), so a manager
   * created by a config reload holds the keys before its snapshot is published. Returns the
   * unsubscribe function.
   */
  subscribe(listener: (update: JwksPush) => void): () => void;
}

export interface JwksFetchEvent {
  issuer: string;
  /** 'watch': a pushed update (secret source). */
  trigger: 'initial' | 'scheduled' | 'unknown_kid' | 'manual' | 'watch';
  result: JwksFetchResult;
  durationMs: number;
  /** Number of keys held after the attempt (on error: the last-known-good count). */
  keys: number;
  error?: string;
}

export interface JwksOptions {
  /** Label only (metrics/logs); never used to pick keys from a token. */
  issuer: string;
  source: JwksSource;
  /** Background refresh interval, default 300_000. */
  refreshIntervalMs?: number;
  /**
   * Window of the unknown-kid refetch bound (`unknownKidFetches` per sliding window; failed
   * attempts count too), and the upper limit of the gap between on-demand fetches. Default 30_000.
   */
  cooldownMs?: number;
  /** Unknown-kid refetches allowed per sliding `cooldownMs` window. Default 4. */
  unknownKidFetches?: number;
  /** Per HTTP request (headers + body), default 2_000. */
  timeoutMs?: number;
  /** Max response body / file size, default 1 MiB. */
  maxBytes?: number;
  /** First retry after a failed background fetch, default 1_000, doubling up to refreshIntervalMs. */
  retryMinMs?: number;
  onFetch?: (e: JwksFetchEvent) => void;
  /**
   * After a successful fetch (or push) that changed the key set (kids or key material); for cache
   * invalidation. `unchanged`: the kids whose keys are identical in the old and the new set. Cached
   * verifications under any other kid (removed, or new material under the same kid: a revocation
   * that reuses the kid) must be dropped.
   */
  onKeysChanged?: (kids: ReadonlySet<string>, unchanged: ReadonlySet<string>) => void;
  /**
   * After each load (fetch, push, or the inline set at construction) that dropped entries: which
   * and why. Called per load, so a weak key an IdP keeps publishing is reported at every refresh.
   */
  onKeysDropped?: (drops: readonly KeyDrop[]) => void;
  /** Injectable clock for tests (cooldown bookkeeping and durations); wins over `clock.now`. */
  now?: () => number;
  /**
   * Time source for cooldowns *and* the background refresh timer (default: real time, timers
   * unref'd). Tests pass a manual clock to run an hour of refresh cycles in milliseconds.
   */
  clock?: JwksClock;
  /** HTTP client (default: global fetch); the kubernetes source brings one with the cluster CA and a bearer token. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Updates of a pushed (`secret`) source; subscribed from start() to stop(). Without one the manager never gets keys. */
  feed?: JwksPushFeed;
}

/** What the manager needs from time: a reading and a one-shot timer. */
export interface JwksClock {
  now(): number;
  /** Run `fn` once after `ms`; returns a cancel function. Must not keep the process alive. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** Real time; timers are unref'd so an idle manager never holds the process open. */
export const REAL_CLOCK: JwksClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

export class JwksUnavailableError extends Error {
  readonly code = 'ERR_ZT_JWKS_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'JwksUnavailableError';
  }
}

/** Internal: a fetch/validation failure with a message that is safe to log. */
class JwksFetchError extends Error {}

const DEFAULTS = {
  refreshIntervalMs: 300_000,
  cooldownMs: 30_000,
  unknownKidFetches: 4,
  timeoutMs: 2_000,
  maxBytes: 1024 * 1024,
  retryMinMs: 1_000,
} as const;

const ACCEPT_JWKS = 'application/jwk-set+json, application/json';
const ACCEPT_DISCOVERY = 'application/json';
const MIN_RSA_BITS = 2048;

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

interface HeldSet {
  local: LocalJWKSet;
  kids: ReadonlySet<string>;
  count: number;
  fingerprint: string;
  /** kid → fingerprint of the key(s) with that kid: tells a kid whose key material changed. */
  byKid: ReadonlyMap<string, string>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new TypeError(`JwksOptions.${name} must be a positive finite number`);
  }
  return v;
}

function httpUrl(s: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new TypeError(`${what} is not a valid URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TypeError(`${what} must be an http(s) URL`);
  return u;
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
    if (!Array.isArray(ops) || !ops.includes('verify') || new Set(ops).size !== ops.length || !ops.every((o) => typeof o === 'string')) return 'not_for_signing';
  }
  if (jwk.ext !== undefined && typeof jwk.ext !== 'boolean') return 'not_for_signing';
  if (jwk.alg !== undefined ? typeof jwk.alg !== 'string' || !fitsAlg(jwk, jwk.alg) : !Object.keys(SIG_ALGS).some((a) => fitsAlg(jwk, a))) {
    return 'not_for_signing';
  }
  switch (jwk.kty) {
    case 'RSA':
    case 'EC':
    case 'OKP': {
      let details: import('node:crypto').AsymmetricKeyDetails | undefined;
      try {
        details = createPublicKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' }).asymmetricKeyDetails;
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
function buildSet(doc: unknown, drops: KeyDrop[]): HeldSet {
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
    local = createLocalJWKSet({ keys: usable as unknown as JWK[] });
  } catch {
    throw new JwksFetchError('invalid JWKS: malformed key set');
  }
  const kids = new Set<string>();
  for (const k of usable) if (typeof k.kid === 'string') kids.add(k.kid);
  const byKid = new Map([...kids].map((kid) => [kid, fingerprintOf(usable.filter((k) => k.kid === kid))]));
  return { local, kids, count: usable.length, fingerprint: fingerprintOf(usable), byKid };
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof JwksFetchError) return err.message;
  const e = err as { name?: unknown; cause?: unknown; message?: unknown };
  if (e?.name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'aborted';
  const cause = e?.cause as { code?: unknown; message?: unknown; name?: unknown } | undefined;
  if (cause?.name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  const cmsg = typeof cause?.message === 'string' ? cause.message : '';
  if (/redirect/i.test(cmsg)) return 'redirect not allowed';
  if (typeof cause?.code === 'string') return `network error (${cause.code})`;
  if (typeof e?.name === 'string' && e.name === 'TypeError') return 'network error';
  return 'network error';
}

export class JwksManager {
  readonly issuer: string;
  private readonly source: JwksSource;
  private readonly refreshIntervalMs: number;
  private readonly cooldownMs: number;
  private readonly unknownKidFetches: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly retryMinMs: number;
  private readonly onFetch: ((e: JwksFetchEvent) => void) | undefined;
  private readonly onKeysChanged: ((kids: ReadonlySet<string>, unchanged: ReadonlySet<string>) => void) | undefined;
  private readonly onKeysDropped: ((drops: readonly KeyDrop[]) => void) | undefined;
  private readonly now: () => number;
  private readonly setTimer: JwksClock['setTimer'];
  private readonly fetchImpl: (url: string, init: RequestInit) => Promise<Response>;

  private held: HeldSet | undefined;
  private pending: Promise<boolean> | undefined;
  private lastAttemptAt: number | undefined;
  /** Start times of the unknown-kid fetches of the last cooldownMs (never more than unknownKidFetches). */
  private unknownKidStarts: number[] = [];
  private lastError: string | undefined;
  private discoveredJwksUri: string | undefined;

  private started = false;
  private generation = 0;
  /** Cancels the pending background refresh, if one is scheduled. */
  private cancelTimer: (() => void) | undefined;
  private bgFailures = 0;
  private readyWaiters = new Set<(ok: boolean) => void>();
  private readonly feed: JwksPushFeed | undefined;
  private unsubscribe: (() => void) | undefined;

  /** Bound key resolver; pass straight to `jwtVerify(token, mgr.getKey, opts)`. */
  readonly getKey: JWTVerifyGetKey;

  constructor(opts: JwksOptions) {
    if (!opts || typeof opts.issuer !== 'string') throw new TypeError('JwksOptions.issuer must be a string');
    this.issuer = opts.issuer;
    this.source = opts.source;
    this.refreshIntervalMs = positive('refreshIntervalMs', opts.refreshIntervalMs, DEFAULTS.refreshIntervalMs);
    this.cooldownMs = positive('cooldownMs', opts.cooldownMs, DEFAULTS.cooldownMs);
    this.unknownKidFetches = positive('unknownKidFetches', opts.unknownKidFetches, DEFAULTS.unknownKidFetches);
    this.timeoutMs = positive('timeoutMs', opts.timeoutMs, DEFAULTS.timeoutMs);
    this.maxBytes = positive('maxBytes', opts.maxBytes, DEFAULTS.maxBytes);
    this.retryMinMs = positive('retryMinMs', opts.retryMinMs, DEFAULTS.retryMinMs);
    this.onFetch = opts.onFetch;
    this.onKeysChanged = opts.onKeysChanged;
    this.onKeysDropped = opts.onKeysDropped;
    const clock = opts.clock ?? REAL_CLOCK;
    this.now = opts.now ?? (() => clock.now());
    this.setTimer = (fn, ms) => clock.setTimer(fn, ms);
    this.fetchImpl = opts.fetch ?? fetch;
    this.feed = opts.feed;

    const src = opts.source as JwksSource | undefined;
    switch (src?.kind) {
      case 'inline':
        try {
          this.held = this.validate(src.jwks);
        } catch (err) {
          const msg = err instanceof JwksFetchError ? err.message : 'invalid JWKS';
          throw new Error(`inline JWKS for issuer ${JSON.stringify(this.issuer)} rejected: ${msg}`);
        }
        break;
      case 'remote':
        httpUrl(src.uri, 'JWKS uri');
        break;
      case 'discovery':
        httpUrl(src.issuer, 'discovery issuer');
        break;
      case 'kubernetes':
        httpUrl(src.apiServer, 'kubernetes apiServer');
        break;
      case 'file':
        if (typeof src.path !== 'string' || src.path === '') throw new TypeError('JWKS file path must be a non-empty string');
        break;
      case 'secret':
        for (const f of ['name', 'key'] as const) {
          if (typeof src[f] !== 'string' || src[f] === '') throw new TypeError(`JWKS secret ${f} must be a non-empty string`);
        }
        break;
      default:
        throw new TypeError('JwksOptions.source.kind must be one of remote, discovery, inline, file, kubernetes, secret');
    }
    this.getKey = this.resolveKey.bind(this);
  }

  /**
   * Initial load + background refresh (timers unref'd). Idempotent. No-op for inline sources;
   * a pushed source subscribes to its feed (no timers, no fetches).
   */
  start(): void {
    if (this.started || this.source.kind === 'inline') return;
    this.started = true;
    const gen = ++this.generation;
    if (this.source.kind === 'secret') {
      this.unsubscribe = this.feed?.subscribe((u) => {
        if (this.started && gen === this.generation) this.onPush(u);
      });
      return;
    }
    void this.refresh('initial').then((ok) => this.scheduleNext(gen, ok));
  }

  /** Clears timers; safe to call twice. Pending waitReady() calls resolve with the current state. */
  stop(): void {
    this.started = false;
    this.generation++;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const ok = this.ready;
    for (const w of [...this.readyWaiters]) w(ok);
  }

  get ready(): boolean {
    return this.held !== undefined;
  }

  get keyCount(): number {
    return this.held?.count ?? 0;
  }

  get kids(): ReadonlySet<string> {
    return this.held?.kids ?? new Set<string>();
  }

  /** Resolves true as soon as a valid key set is held, false after timeoutMs. Does not start(). */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(t);
        this.readyWaiters.delete(done);
        resolve(ok);
      };
      const t = setTimeout(() => done(this.ready), Math.max(0, timeoutMs));
      this.readyWaiters.add(done);
    });
  }

  /**
   * Fetch now (bypasses the cooldown). Deduped: concurrent callers share one in-flight fetch
   * (and its trigger label). Never throws; returns whether that fetch succeeded.
   */
  refresh(trigger: JwksFetchEvent['trigger'] = 'manual'): Promise<boolean> {
    if (this.source.kind === 'inline') return Promise.resolve(true);
    if (this.source.kind === 'secret') return Promise.resolve(this.ready); // pushed: nothing to fetch
    if (this.pending) return this.pending;
    const p = this.runFetch(trigger).finally(() => {
      if (this.pending === p) this.pending = undefined;
    });
    this.pending = p;
    return p;
  }

  // ---------------------------------------------------------------------------------------------

  private scheduleNext(gen: number, ok: boolean): void {
    if (!this.started || gen !== this.generation) return;
    let delay: number;
    if (ok) {
      this.bgFailures = 0;
      delay = this.refreshIntervalMs;
    } else {
      this.bgFailures++;
      delay = Math.min(this.retryMinMs * 2 ** Math.min(this.bgFailures - 1, 30), this.refreshIntervalMs);
    }
    this.cancelTimer?.();
    this.cancelTimer = this.setTimer(() => {
      this.cancelTimer = undefined;
      void this.refresh('scheduled').then((r) => this.scheduleNext(gen, r));
    }, delay);
  }

  /**
   * May a Check start a fetch now? Every on-demand fetch waits `base` after the last attempt of
   * any kind, so a stream of Checks never becomes a stream of fetches. With no keys nothing
   * else applies: every Check fails until a fetch succeeds, and the background backoff alone
   * kept an issuer down for many seconds after its IdP was back. An unknown kid is also bounded
   * per sliding window (a flood of random kids costs at most `unknownKidFetches` per
   * cooldownMs), and from the second on the fetches of a window wait base, 2 base, 4 base …
   * after the last attempt: the first kids after a quiet period are fetched at once, one the IdP
   * has still not published ever less often.
   */
  private onDemandAllowed(noKeys: boolean): boolean {
    if (this.lastAttemptAt === undefined) return true;
    const now = this.now();
    const since = now - this.lastAttemptAt;
    const base = Math.min(this.retryMinMs, this.cooldownMs);
    if (noKeys) return since >= base;
    this.unknownKidStarts = this.unknownKidStarts.filter((t) => now - t < this.cooldownMs);
    const inWindow = this.unknownKidStarts.length;
    if (inWindow >= this.unknownKidFetches) return false;
    return since >= base * 2 ** Math.max(0, inWindow - 1);
  }

  /** Bounded on-demand fetch: join an in-flight fetch, else fetch if onDemandAllowed. */
  private onDemand(noKeys: boolean): Promise<boolean> | undefined {
    if (this.pending) return this.pending;
    // Inline keys never change; pushed ones arrive by the watch. Nothing to fetch.
    if (this.source.kind === 'inline' || this.source.kind === 'secret') return undefined;
    if (!this.onDemandAllowed(noKeys)) return undefined;
    if (!noKeys) this.unknownKidStarts.push(this.now());
    const gen = this.generation;
    const p = this.refresh(this.lastAttemptAt === undefined ? 'initial' : 'unknown_kid');
    // A success while the background refresh is backing off: back to the normal interval (the
    // pending retry would only fetch the same set again).
    void p.then((ok) => {
      if (ok && this.bgFailures > 0) this.scheduleNext(gen, true);
    });
    return p;
  }

  private async resolveKey(protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    if (!this.held) {
      const p = this.onDemand(true);
      if (p) await p;
      const held = this.held as HeldSet | undefined;
      if (!held) {
        throw new JwksUnavailableError(
          `no JWKS keys available for issuer ${JSON.stringify(this.issuer)}` + (this.lastError ? `: ${this.lastError}` : ''),
        );
      }
      return held.local(protectedHeader, token);
    }
    const before = this.held;
    try {
      return await before.local(protectedHeader, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      // A fetch may have completed while we were selecting: retry on the newer set without fetching.
      if (this.held !== before) return (this.held as HeldSet).local(protectedHeader, token);
      const p = this.onDemand(false);
      if (!p) throw err;
      await p;
      return (this.held as HeldSet).local(protectedHeader, token);
    }
  }

  private async runFetch(trigger: JwksFetchEvent['trigger']): Promise<boolean> {
    const t0 = this.now();
    this.lastAttemptAt = t0;
    let error: string | undefined;
    try {
      this.install(this.validate(await this.load(trigger)));
    } catch (err) {
      error = describeFetchError(err, this.timeoutMs);
      if (!/^(JWKS|discovery|invalid JWKS|OIDC)/.test(error)) error = `JWKS fetch failed: ${error}`;
    }
    this.lastAttemptAt = this.now();
    return this.settle(trigger, t0, error);
  }

  /** A pushed update: the same validation as a fetched document, the same event and last-known-good rule. */
  private onPush(update: JwksPush): void {
    const t0 = this.now();
    const src = this.source as Extract<JwksSource, { kind: 'secret' }>;
    const where = `JWKS Secret ${src.namespace ? `${src.namespace}/` : ''}${src.name} key ${src.key}`;
    let error: string | undefined;
    try {
      if (update.kind === 'error') throw new JwksFetchError(update.error);
      if (update.bytes.byteLength > this.maxBytes) throw new JwksFetchError(`body exceeds ${this.maxBytes} bytes`);
      let doc: unknown;
      try {
        doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(update.bytes)) as unknown;
      } catch {
        throw new JwksFetchError('invalid JSON');
      }
      this.install(this.validate(doc));
    } catch (err) {
      error = `${where}: ${err instanceof JwksFetchError ? err.message : 'invalid JWKS'}`;
    }
    this.settle('watch', t0, error);
  }

  /** buildSet, reporting the entries it dropped (also when it then rejects the whole set). */
  private validate(doc: unknown): HeldSet {
    const drops: KeyDrop[] = [];
    try {
      return buildSet(doc, drops);
    } finally {
      if (drops.length) callObserver(() => this.onKeysDropped?.(drops));
    }
  }

  /** Hold a validated set (keeping the old selector, and jose's imported keys, when it is identical). */
  private install(next: HeldSet): void {
    const prev = this.held;
    if (prev && prev.fingerprint === next.fingerprint) return;
    this.held = next;
    if (prev) {
      const unchanged = new Set([...next.kids].filter((kid) => prev.byKid.get(kid) === next.byKid.get(kid)));
      callObserver(() => this.onKeysChanged?.(next.kids, unchanged));
    }
  }

  /** Record one attempt's outcome: lastError, the event, ready waiters. Returns success. */
  private settle(trigger: JwksFetchEvent['trigger'], t0: number, error: string | undefined): boolean {
    const ok = error === undefined;
    this.lastError = error;
    const end = this.now();
    const ev: JwksFetchEvent = {
      issuer: this.issuer,
      trigger,
      result: ok ? 'success' : 'error',
      durationMs: Math.max(0, end - t0),
      keys: this.keyCount,
    };
    if (error !== undefined) ev.error = error;
    callObserver(() => this.onFetch?.(ev));
    if (this.held) for (const w of [...this.readyWaiters]) w(true);
    return ok;
  }

  /** Load the raw JWKS document from the configured source. */
  private async load(trigger: JwksFetchEvent['trigger']): Promise<unknown> {
    const src = this.source;
    switch (src.kind) {
      case 'remote':
        return this.fetchJson(src.uri, ACCEPT_JWKS, 'JWKS fetch failed');
      case 'file':
        return this.readFileJson(src.path);
      case 'discovery':
        return this.loadViaDiscovery(src.issuer, trigger);
      case 'kubernetes': {
        const base = src.apiServer.replace(/\/+$/, '');
        await this.discover(src.issuer, base);
        return this.fetchJson(`${base}/openid/v1/jwks`, ACCEPT_JWKS, 'JWKS fetch failed');
      }
      case 'inline':
        return src.jwks;
      case 'secret':
        throw new JwksFetchError('JWKS Secret: pushed by a watch, never fetched'); // refresh() never gets here
    }
  }

  private async loadViaDiscovery(issuer: string, trigger: JwksFetchEvent['trigger']): Promise<unknown> {
    const cached = this.discoveredJwksUri;
    if (cached === undefined || trigger !== 'unknown_kid') {
      // Re-discover on first use and on every scheduled/initial/manual refresh. If discovery
      // fails but a previously validated jwks_uri is cached, fall back to it.
      let uri: string;
      try {
        uri = await this.discover(issuer);
      } catch (err) {
        if (cached === undefined) throw err;
        uri = cached;
      }
      this.discoveredJwksUri = uri;
      return this.fetchJson(uri, ACCEPT_JWKS, 'JWKS fetch failed');
    }
    try {
      return await this.fetchJson(cached, ACCEPT_JWKS, 'JWKS fetch failed');
    } catch (err) {
      // The JWKS fetch failed: re-discover; if jwks_uri moved, follow it once.
      const uri = await this.discover(issuer).catch(() => undefined);
      if (uri === undefined || uri === cached) throw err;
      this.discoveredJwksUri = uri;
      return this.fetchJson(uri, ACCEPT_JWKS, 'JWKS fetch failed');
    }
  }

  private async discover(issuer: string, base = issuer): Promise<string> {
    const url = base.replace(/\/+$/, '') + '/.well-known/openid-configuration';
    const doc = await this.fetchJson(url, ACCEPT_DISCOVERY, 'discovery fetch failed');
    if (!isPlainObject(doc)) throw new JwksFetchError('discovery document is not a JSON object');
    // OIDC Discovery 1.0 §4.3: the returned issuer MUST be identical to the configured one.
    if (doc.issuer !== issuer) {
      // A cluster names its own service-account issuer (public information): say which, so the
      // operator can fix `issuers[].issuer`.
      if (this.source.kind === 'kubernetes' && typeof doc.issuer === 'string' && doc.issuer.length < 512) {
        throw new JwksFetchError(`discovery issuer mismatch: the cluster's service-account issuer is ${JSON.stringify(doc.issuer)}`);
      }
      throw new JwksFetchError('discovery issuer mismatch');
    }
    const jwksUri = doc.jwks_uri;
    if (typeof jwksUri !== 'string') throw new JwksFetchError('discovery jwks_uri missing');
    let u: URL;
    try {
      u = httpUrl(jwksUri, 'jwks_uri');
    } catch {
      throw new JwksFetchError('discovery jwks_uri is not an http(s) URL');
    }
    // No scheme downgrade: an https issuer must publish an https jwks_uri.
    if (new URL(issuer).protocol === 'https:' && u.protocol !== 'https:') {
      throw new JwksFetchError('discovery jwks_uri must be https for an https issuer');
    }
    return u.href;
  }

  /** GET url with timeout, no redirects, 200-only and a streamed byte cap; returns parsed JSON. */
  private async fetchJson(url: string, accept: string, label: string): Promise<unknown> {
    const fail = (msg: string): JwksFetchError => new JwksFetchError(`${label}: ${msg}`);
    let text: string;
    try {
      const res = await this.fetchImpl(url, {
        method: 'GET',
        headers: { accept },
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw fail(`HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length'));
      if (Number.isFinite(declared) && declared > this.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw fail(`body exceeds ${this.maxBytes} bytes`);
      }
      const bytes = await this.readCapped(res, fail);
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw fail('invalid JSON');
      }
    } catch (err) {
      if (err instanceof JwksFetchError) throw err;
      throw fail(describeFetchError(err, this.timeoutMs));
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw fail('invalid JSON');
    }
  }

  private async readCapped(res: Response, fail: (m: string) => JwksFetchError): Promise<Uint8Array> {
    if (!res.body) return new Uint8Array(0);
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > this.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw fail(`body exceeds ${this.maxBytes} bytes`);
      }
      chunks.push(value);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }

  private async readFileJson(path: string): Promise<unknown> {
    const fail = (msg: string): JwksFetchError => new JwksFetchError(`JWKS file read failed: ${msg}`);
    let buf: Buffer;
    let fh: import('node:fs/promises').FileHandle | undefined;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      if (!st.isFile()) throw fail('not a regular file');
      if (st.size > this.maxBytes) throw fail(`body exceeds ${this.maxBytes} bytes`);
      buf = Buffer.alloc(this.maxBytes + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n > this.maxBytes) throw fail(`body exceeds ${this.maxBytes} bytes`);
      }
      buf = buf.subarray(0, n);
    } catch (err) {
      if (err instanceof JwksFetchError) throw err;
      const code = (err as { code?: unknown })?.code;
      throw fail(typeof code === 'string' ? code : 'I/O error');
    } finally {
      await fh?.close().catch(() => undefined);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      return JSON.parse(text) as unknown;
    } catch {
      throw fail('invalid JSON');
    }
  }
}

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
    let lastSigError: unknown;
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

/**
 * Calls an observer hook (metrics, logs, weak-key reports), here and in key-resolvers.ts: the
 * hook's error is dropped, since an observer must never break key management.
 */
export function callObserver(fn: () => void): void {
  try {
    fn();
  } catch {
    // dropped on purpose (see above)
  }
}
