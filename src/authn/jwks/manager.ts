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
 *    failed fetch, garbage, an empty set or an invalid set never drops the current keys
 *    (validation: key-validation.ts).
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
 *  - Bounded fetches (sources.ts): a timeout per HTTP request, a byte cap, no redirects.
 *  - No key material (and no response body text) ever appears in errors or events.
 *  - Pushed sources (`secret`: a Kubernetes Secret, src/k8s/secrets.ts): the key set arrives from
 *    a watch through `feed` instead of being fetched. Each pushed document goes through the same
 *    validation and counts as one attempt (trigger "watch"); a bad one never replaces the held
 *    set. Nothing is fetched on demand: an unknown `kid` fails at once (token_unknown_key), and
 *    until a first valid set arrives every verification fails with JwksUnavailableError.
 */
import { errors as joseErrors } from 'jose';
import type { CryptoKey, FlattenedJWSInput, JWSHeaderParameters, JWTVerifyGetKey } from 'jose';
import { KeyError } from '../../errors.js';
import type { KeyDrop } from '../weak-keys.js';
import { callObserver } from '../call-observer.js';
import { REAL_CLOCK, type JwksClock } from './clock.js';
import { JwksFetchError, JwksUnavailableError } from './errors.js';
import { buildSet, type HeldSet } from './key-validation.js';
import type { JwksFetchEvent, JwksOptions, JwksPush, JwksPushFeed, JwksSource } from './options.js';
import { checkSource, describeFetchError, JwksSourceLoader, parsePushedDocument } from './sources.js';

const DEFAULTS = {
  refreshIntervalMs: 300_000,
  cooldownMs: 30_000,
  unknownKidFetches: 4,
  timeoutMs: 2_000,
  maxBytes: 1024 * 1024,
  retryMinMs: 1_000,
} as const;

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new TypeError(`JwksOptions.${name} must be a positive finite number`);
  }
  return v;
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
  private readonly loader: JwksSourceLoader;

  private held: HeldSet | undefined;
  private pending: Promise<boolean> | undefined;
  private lastAttemptAt: number | undefined;
  /** Start times of the unknown-kid fetches of the last cooldownMs (never more than unknownKidFetches). */
  private unknownKidStarts: number[] = [];
  private lastError: string | undefined;

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
    this.feed = opts.feed;

    const src = opts.source as JwksSource | undefined;
    checkSource(src);
    if (src?.kind === 'inline') {
      try {
        this.held = this.validate(src.jwks);
      } catch (err) {
        const msg = err instanceof JwksFetchError ? err.message : 'invalid JWKS';
        throw new KeyError(`inline JWKS for issuer ${JSON.stringify(this.issuer)} rejected: ${msg}`);
      }
    }
    this.loader = new JwksSourceLoader(this.source, this.timeoutMs, this.maxBytes, opts.fetch ?? fetch);
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
      if (this.held !== before) return this.held.local(protectedHeader, token);
      const p = this.onDemand(false);
      if (!p) throw err;
      await p;
      return this.held.local(protectedHeader, token); // a held set is replaced, never cleared
    }
  }

  private async runFetch(trigger: JwksFetchEvent['trigger']): Promise<boolean> {
    const t0 = this.now();
    this.lastAttemptAt = t0;
    let error: string | undefined;
    try {
      this.install(this.validate(await this.loader.load(trigger)));
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
      this.install(this.validate(parsePushedDocument(update, this.maxBytes)));
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
}
