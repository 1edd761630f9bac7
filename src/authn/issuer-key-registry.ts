// The key resolvers of every configured issuer (JWKS managers, HMAC secret files, Kubernetes
// Secrets), kept across reloads: an issuer whose settings did not change keeps its manager, so a
// reload neither refetches its JWKS nor forgets its cached verifications. Fetch results, key
// changes and dropped keys are reported to metrics and the ops log here.
import type { Logger } from 'pino';
import type { ResolvedIssuer } from '../config/types.js';
import type { Authenticator } from './authenticator.js';
import type { JwksClock } from './jwks/clock.js';
import { buildIssuerKeys, type IssuerKeys, type SecretKeyFeeds } from './key-resolvers.js';
import type { Metrics } from '../observe/metrics.js';
import { InvalidArgumentError } from '../errors.js';

export interface IssuerKeyRegistryOptions {
  metrics: Metrics;
  logger: Logger;
  /** Kubernetes Secret feeds (jwksSecret issuers): present when kubernetes.enabled at start. */
  secrets: () => SecretKeyFeeds | undefined;
  /** The authenticator of the current snapshot: its verification caches follow key changes. */
  authenticator: () => Authenticator | undefined;
  /**
   * Readiness may have changed: after every fetch (`fetch`), and when an issuer's HMAC secrets
   * changed (`secrets`; an issuer without a usable secret is not ready).
   */
  onReadinessInput: (why: 'fetch' | 'secrets') => void;
  /** reload.debounceMs / reload.pollSeconds: how the HMAC secret directories are watched. */
  watch: { debounceMs: number; pollSeconds: number };
  /** Time source of the JWKS managers (cooldowns, refresh timers); tests simulate hours with it. */
  clock?: JwksClock;
}

export class IssuerKeyRegistry {
  private readonly keys = new Map<string, IssuerKeys>();
  /** Issuer → its resolved config (JSON), to reuse key managers across reloads. */
  private readonly configs = new Map<string, string>();
  private started = false;

  constructor(private readonly opts: IssuerKeyRegistryOptions) {}

  /** Whether `start` ran: resolvers created later start at once. */
  get running(): boolean {
    return this.started;
  }

  entries(): IterableIterator<[string, IssuerKeys]> {
    return this.keys.entries();
  }

  values(): IterableIterator<IssuerKeys> {
    return this.keys.values();
  }

  /** Key resolvers for `issuers`, reusing unchanged ones; commit() retires the replaced ones. */
  keysFor(issuers: readonly ResolvedIssuer[]): { keys: ReadonlyMap<string, IssuerKeys>; commit: () => void } {
    const next = new Map<string, IssuerKeys>();
    const configs = new Map<string, string>();
    const created: IssuerKeys[] = [];
    for (const iss of issuers) {
      const fp = JSON.stringify(iss);
      const cur = this.keys.get(iss.issuer);
      configs.set(iss.issuer, fp);
      if (cur && this.configs.get(iss.issuer) === fp) {
        // Same settings, but the HMAC secret files may hold other secrets now: a reload re-reads them.
        cur.recheck();
        next.set(iss.issuer, cur);
      } else {
        const k = this.create(iss);
        created.push(k);
        next.set(iss.issuer, k);
      }
    }
    return {
      keys: next,
      commit: () => {
        for (const [issuer, k] of this.keys) if (next.get(issuer) !== k) k.stop();
        this.keys.clear();
        this.configs.clear();
        for (const [issuer, k] of next) this.keys.set(issuer, k);
        for (const [issuer, fp] of configs) this.configs.set(issuer, fp);
        if (this.started) for (const k of created) k.start();
      },
    };
  }

  start(): void {
    for (const k of this.keys.values()) k.start();
    this.started = true;
  }

  stop(): void {
    for (const k of this.keys.values()) k.stop();
  }

  private create(iss: ResolvedIssuer): IssuerKeys {
    const { metrics, logger } = this.opts;
    const secrets = this.opts.secrets();
    // kubernetes.* is restart-only: a reload cannot add the API client a jwksSecret issuer needs.
    if (iss.keySource.kind === 'secret' && !secrets)
      throw new InvalidArgumentError(`issuer ${iss.issuer}: jwksSecret needs kubernetes.enabled at start (restart to apply)`);
    // An endpoint that is down fails every request: one line per 10 s with the count, not one per request.
    let lastLog = 0;
    let suppressed = 0;
    const onIntrospectionUnavailable = (error: string): void => {
      const now = Date.now();
      if (now - lastLog < 10_000) {
        suppressed++;
        return;
      }
      logger.warn(
        { issuer: iss.issuer, error, ...(suppressed ? { suppressed } : {}) },
        'token introspection failed; denying (introspection_unavailable)',
      );
      lastLog = now;
      suppressed = 0;
    };
    const keys = buildIssuerKeys(iss, {
      ...(secrets ? { secrets } : {}),
      onIntrospectionUnavailable,
      onFetch: (e) => {
        metrics.jwksRefresh.inc({ issuer: e.issuer, result: e.result, trigger: e.trigger });
        metrics.jwksFetchDuration.observe({ issuer: e.issuer }, e.durationMs / 1000);
        metrics.jwksKeys.set({ issuer: e.issuer }, e.keys);
        if (e.result === 'error') {
          const what = e.trigger === 'watch' ? 'JWKS Secret update rejected' : 'JWKS fetch failed';
          logger.warn({ issuer: e.issuer, trigger: e.trigger, error: e.error }, `${what}; keeping last-known-good keys`);
        } else logger.debug({ issuer: e.issuer, trigger: e.trigger, keys: e.keys }, 'JWKS fetched');
        this.opts.onReadinessInput('fetch');
      },
      onKeysChanged: (kids, unchanged) => {
        // Only kids whose keys did not change keep their cached verifications (revocation by new material under the same kid included).
        this.opts.authenticator()?.onKeysChanged(iss.issuer, unchanged);
        logger.info({ issuer: iss.issuer, keys: kids.size }, 'issuer key set changed');
      },
      onKeysDropped: (drops) => {
        const byReason: Record<string, number> = {};
        for (const d of drops) {
          metrics.keysDropped.inc({ issuer: iss.issuer, reason: d.reason });
          byReason[d.reason] = (byReason[d.reason] ?? 0) + 1;
        }
        // kids and file names are public; key material and secrets never appear here.
        const kids = drops.flatMap((d) => (d.kid !== undefined ? [d.kid.slice(0, 64)] : [])).slice(0, 16);
        const files = drops.flatMap((d) => (d.file !== undefined ? [d.file] : []));
        logger.warn(
          { issuer: iss.issuer, dropped: byReason, ...(kids.length ? { kids } : {}), ...(files.length ? { files } : {}) },
          'verification keys dropped: they must not verify tokens',
        );
      },
      onHmacSecretsChanged: (e) => {
        if (e.removed) this.opts.authenticator()?.onHmacSecretsRemoved(iss.issuer);
        const msg = e.secrets
          ? 'issuer HMAC secrets changed'
          : 'issuer HMAC secrets changed: none usable, HS* tokens are denied (jwks_unavailable)';
        (e.secrets ? logger.info.bind(logger) : logger.error.bind(logger))(
          { issuer: iss.issuer, secrets: e.secrets, added: e.added, removed: e.removed },
          msg,
        );
        this.opts.onReadinessInput('secrets');
      },
      watch: {
        debounceMs: this.opts.watch.debounceMs,
        pollSeconds: this.opts.watch.pollSeconds,
        onWatchError: (dir, error) =>
          logger.warn({ issuer: iss.issuer, dir, error }, 'cannot watch the HMAC secret directory; polling only'),
      },
      ...(this.opts.clock ? { clock: this.opts.clock } : {}),
    });
    if (keys.jwks && iss.keySource.kind === 'inline') metrics.jwksKeys.set({ issuer: iss.issuer }, keys.jwks.keyCount);
    return keys;
  }
}
