// SigningKeyLoader: loads and watches the token issuer's signing keys for one process (the keys
// themselves implement SigningKey, signing-key.ts): the key ring, fed by the keysDir files (watched
// like the config file) or by the keysSecret Secret (the same narrowed Secret watch issuers'
// jwksSecret uses), the load metric and logs, and the admin routes that publish the JWKS and the
// discovery document. Long-lived like the issuers' key registry: tokenIssuer is read at start.
//
// At start-up with keysDir, any unusable file or no usable key is an error: zt-authz does not
// start. With keysSecret the Secret arrives later: not ready until it holds a usable key. After
// that, a bad file, a bad Secret update, an unreadable directory or a deleted Secret keeps the last
// good keys and is logged and counted (zt_authz_signing_keys_reload_total{result="error"}).
import type { Logger } from 'pino';
import type { TokenIssuerConfig } from '../../config/token-issuer-schema.js';
import { watchFiles, type FileWatch } from '../../config/file-watch.js';
import { KeyError } from '../../errors.js';
import type { Metrics } from '../../observe/metrics.js';
import type { JwksPush, JwksPushFeed } from '../../authn/jwks/options.js';
import type { Route } from '../../transport/admin/server.js';
import { KeyRing, type RingInput } from './key-ring.js';
import { loadKeysDir, loadSecretDocument } from './sources.js';
import { publishRoutes } from './publish.js';

/** What the Secret path needs from the Kubernetes watchers (k8s/secrets.ts SecretFeeds). */
export interface SigningKeySecretFeeds {
  readonly defaultNamespace: string | undefined;
  feed(ref: { namespace: string; name: string; key: string }): JwksPushFeed;
}

export interface SigningKeyLoaderOptions {
  config: TokenIssuerConfig;
  metrics: Metrics;
  logger: Logger;
  /** keysSecret: the Kubernetes Secret watchers, once they exist. */
  secrets?: () => SigningKeySecretFeeds | undefined;
  /** The loaded key set changed (readiness input). */
  onChange?: () => void;
  /** Milliseconds since 1970 (tests move it). */
  now?: () => number;
  /** keysDir: debounce of file events (default 100 ms). */
  debounceMs?: number;
}

export class SigningKeyLoader {
  readonly ring: KeyRing;
  private readonly cfg: TokenIssuerConfig;
  /** keysDir: the last good key of each file name. */
  private lastGood = new Map<string, RingInput>();
  private lastLoadFacts = '';
  private chain: Promise<void> = Promise.resolve();
  private watch?: FileWatch;
  private unsubscribe?: () => void;
  private stopped = false;

  private constructor(private readonly opts: SigningKeyLoaderOptions) {
    this.cfg = opts.config;
    const log = opts.logger;
    this.ring = new KeyRing({
      algorithm: this.cfg.algorithm,
      ttlSeconds: this.cfg.ttlSeconds,
      publishLeadSeconds: this.cfg.publishLeadSeconds,
      clockSkewSeconds: this.cfg.clockSkewSeconds,
      ...(opts.now ? { now: opts.now } : {}),
      onSignerChange: (kid, early) =>
        early
          ? log.info({ kid }, 'token issuer: signing with this key before its publish lead has passed (no other key can sign)')
          : log.info({ kid }, 'token issuer: signing with this key'),
    });
    opts.metrics.signingKeysSource = () => ({ signing: this.ring.presentKids.length, published: this.ring.jwks().keys.length });
  }

  /** With keysDir the keys are loaded here, and any problem throws (KeyError listing them). */
  static async create(opts: SigningKeyLoaderOptions): Promise<SigningKeyLoader> {
    const keys = new SigningKeyLoader(opts);
    if (opts.config.keysDir !== undefined) await keys.loadDir(true);
    return keys;
  }

  /** A key is loaded: minting can sign (readiness). */
  get loaded(): boolean {
    return this.ring.loaded;
  }

  /** The JWKS and discovery routes for the admin listener. */
  routes(): Record<string, Route> {
    return publishRoutes(this.cfg.issuer, this.ring, this.cfg.publishLeadSeconds);
  }

  /** Start watching the key source (after the Kubernetes watchers exist, for keysSecret). */
  start(): void {
    if (this.stopped) return;
    const dir = this.cfg.keysDir;
    if (dir !== undefined) {
      this.watch = watchFiles([`${dir}/*.json`], {
        debounceMs: this.opts.debounceMs ?? 100,
        pollSeconds: this.cfg.pollSeconds,
        onChange: () => void this.reload(),
        onWatchError: (d, error) => this.opts.logger.warn({ dir: d, error }, 'token issuer: cannot watch the keys directory; polling only'),
      });
      return;
    }
    const ref = this.cfg.keysSecret!;
    const feeds = this.opts.secrets?.();
    const namespace = ref.namespace ?? feeds?.defaultNamespace;
    if (!feeds || namespace === undefined) {
      this.failed([`tokenIssuer.keysSecret ${ref.name}: no namespace known (set keysSecret.namespace or POD_NAMESPACE)`]);
      return;
    }
    const origin = `Secret ${namespace}/${ref.name} key ${ref.key}`;
    this.unsubscribe = feeds
      .feed({ namespace, name: ref.name, key: ref.key })
      .subscribe((u) => void this.enqueue(() => this.applySecret(u, origin)));
  }

  /** Re-read the keys directory now (file events and polls call this). */
  reload(): Promise<void> {
    return this.enqueue(() => this.loadDir(false));
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    this.unsubscribe?.();
  }

  /** Loads run one at a time, in order (a slow read never overwrites a newer one). */
  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(fn).catch((err: unknown) => this.failed([err instanceof Error ? err.message : 'unknown error']));
    return this.chain;
  }

  private async loadDir(initial: boolean): Promise<void> {
    if (this.stopped) return;
    const dir = this.cfg.keysDir!;
    const load = await loadKeysDir(dir, this.cfg.algorithm);
    for (const [name, input] of load.files) {
      if (!this.ring.conflict(input.key)) continue;
      load.files.delete(name);
      load.bad.add(name);
      load.problems.push(`${dir}/${name}: kid ${input.key.kid} already names a different key; a new key needs a new kid`);
    }
    if (initial) {
      if (load.files.size === 0 && load.problems.length === 0) load.problems.push(`tokenIssuer.keysDir ${dir}: no *.json key file`);
      if (load.problems.length) throw new KeyError(`token issuer signing keys: ${load.problems.join('; ')}`);
    }
    const next = new Map(load.files);
    if (!load.dirError) for (const name of load.bad) if (this.lastGood.has(name)) next.set(name, this.lastGood.get(name)!);
    const facts = JSON.stringify([
      [...next].map(([n, i]) => [n, i.key.fingerprint, i.key.createdMs ?? i.fallbackCreatedMs]),
      load.problems,
    ]);
    if (facts === this.lastLoadFacts) return; // a poll that found nothing new
    this.lastLoadFacts = facts;
    if (load.dirError || next.size === 0) {
      this.failed(load.problems.length ? load.problems : [`tokenIssuer.keysDir ${dir}: no usable key file`]);
      return;
    }
    this.apply([...next.values()], load.problems);
    this.lastGood = next;
  }

  private async applySecret(u: JwksPush, origin: string): Promise<void> {
    if (this.stopped) return;
    if (u.kind === 'error') {
      this.failed([`${origin}: ${u.error}`]);
      return;
    }
    const { keys, problems } = await loadSecretDocument(u.bytes, this.cfg.algorithm, origin);
    for (const key of keys)
      if (this.ring.conflict(key)) problems.push(`${origin}: kid ${key.kid} already names a different key; a new key needs a new kid`);
    if (problems.length) {
      this.failed(problems);
      return;
    }
    this.apply(
      keys.map((key) => ({ key })),
      [],
    );
  }

  private apply(keys: RingInput[], problems: string[]): void {
    const before = this.ring.presentKids.join(',');
    this.ring.update(keys);
    const { logger, metrics } = this.opts;
    metrics.signingKeysReload.inc({ result: problems.length ? 'error' : 'success' });
    for (const p of problems) logger.warn({ error: p }, 'token issuer: a signing key was refused; its last good version (if any) stays');
    const kids = this.ring.presentKids;
    if (kids.join(',') !== before) logger.info({ kids, schedule: this.ring.describe() }, 'token issuer: signing keys loaded');
    this.opts.onChange?.();
  }

  private failed(problems: string[]): void {
    this.opts.metrics.signingKeysReload.inc({ result: 'error' });
    for (const p of problems) this.opts.logger.warn({ error: p }, 'token issuer: signing keys not updated; the last good keys stay');
    this.opts.onChange?.();
  }
}
