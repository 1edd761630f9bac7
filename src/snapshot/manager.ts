// Hot reload: the configuration file (including Kubernetes ConfigMap updates, which swap the
// `..data` symlink) and Kubernetes resources both lead here. Every snapshot is built completely
// off the request path (compilation is synchronous, so no decision runs mid-build) and then
// published with one reference assignment; a request keeps the snapshot it started with.
// An invalid change keeps the last-known-good snapshot, counts
// zt_authz_policy_reload_total{result="error"} and logs why.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/problems.js';
import { parseConfigText } from '../config/parse.js';
import { configWarnings } from '../config/warnings.js';
import type { Config, ResolvedIssuer } from '../config/types.js';
import { watchFiles, type FileWatch } from '../config/file-watch.js';
import type { Snapshot } from '../decision/snapshot.js';
import type { AuthenticatorHooks, KeyResolver } from '../authn/authenticator.js';
import type { PolicyIndex } from '../policy/policy-index.js';
import type { Metrics } from '../observe/metrics.js';
import { buildSnapshot } from './builder.js';
import { checkConfig } from './checked-config.js';
import type { SnapshotContributor } from './contributor.js';
import type { RevocationCheck } from '../authn/revocation/list.js';
import type { ApiKeyStores } from '../authn/apikeys/registry.js';
import type { SigningKeySource } from '../mint/keys/signing-key.js';

export interface SnapshotManagerOptions {
  logger: Logger;
  metrics: Metrics;
  config: Config;
  /** config.policies, compiled when the configuration was checked (checkConfig); else compiled by the first build. */
  policies?: PolicyIndex;
  /** Cluster state added to every snapshot (the Kubernetes integration); none: the file configuration alone. */
  contributor?: SnapshotContributor;
  /** Key resolvers for these issuers (reusing unchanged ones); `commit` retires the rest. */
  keysFor: (issuers: readonly ResolvedIssuer[]) => { keys: ReadonlyMap<string, KeyResolver>; commit: () => void };
  hooks: AuthenticatorHooks;
  /** The revocation list, handed to every snapshot's authenticator. */
  revocation?: RevocationCheck;
  /** The key stores of these API-key sources (reusing unchanged ones); `commit` retires the rest. */
  apiKeysFor?: ApiKeyStores;
  /** tokenIssuer's signing keys (long-lived, like the issuer keys): every snapshot's minter signs with them. */
  signingKeys?: SigningKeySource;
  /** Publish a snapshot (one reference assignment). */
  publish: (snap: Snapshot) => void;
}

/** Sections that only take effect at start: a reload keeps the running values and says so. */
const RESTART_ONLY = ['server', 'kubernetes', 'reload', 'log', 'webhook', 'revocation', 'tokenIssuer'] as const;

/** Minimum gap between two rebuilds triggered by Kubernetes events: a burst becomes one build. */
const MIN_REBUILD_INTERVAL_MS = 20;
/** Under churn, a rebuild waits this many times the last build's duration (capped), so compiling
 * a large policy set takes at most ~1/(1+factor) of the event loop and Checks keep flowing. */
const REBUILD_BACKOFF_FACTOR = 3;
const MAX_REBUILD_INTERVAL_MS = 5_000;

/** Delay before a requested rebuild: ≥ 20 ms after the last one, and ≥ 3× its duration after it. */
export function rebuildDelayMs(sinceLastBuildMs: number, lastBuildMs: number): number {
  const gap = Math.min(MAX_REBUILD_INTERVAL_MS, Math.max(MIN_REBUILD_INTERVAL_MS, REBUILD_BACKOFF_FACTOR * lastBuildMs));
  return Math.max(0, gap - sinceLastBuildMs);
}

export class SnapshotManager {
  private fileConfig: Config;
  /** opts.policies for opts.config, until the first build. */
  private firstPolicies: { config: Config; index: PolicyIndex } | undefined;
  private generation = 0;
  private current: Snapshot | undefined;
  /** The config whose warnings were last checked, and the warnings then logged (warnOnChange). */
  private warnedFor: Config | undefined;
  private warnedKey = '';
  private rebuildTimer: NodeJS.Timeout | undefined;
  private lastBuildAt = 0;
  private lastBuildMs = 0;
  private watch: FileWatch | undefined;
  private fileHash: string | undefined;
  private stopped = false;

  constructor(private readonly opts: SnapshotManagerOptions) {
    this.fileConfig = opts.config;
    if (opts.policies) this.firstPolicies = { config: opts.config, index: opts.policies };
  }

  get snapshot(): Snapshot | undefined {
    return this.current;
  }

  /** The running file configuration (last valid one). */
  get config(): Config {
    return this.fileConfig;
  }

  /** Build and publish. Throws on an invalid configuration (used at start, where that is fatal). */
  initial(): Snapshot {
    try {
      const snap = this.build(this.fileConfig);
      this.publish(snap, 'start');
      return snap;
    } catch (err) {
      this.opts.metrics.policyReload.inc({ result: 'error' });
      throw err;
    }
  }

  /** Rebuild from the current file config and Kubernetes state; on error keep the old snapshot. */
  rebuild(why: string): boolean {
    if (this.rebuildTimer) {
      clearTimeout(this.rebuildTimer);
      this.rebuildTimer = undefined;
    }
    const t0 = performance.now();
    try {
      const snap = this.build(this.fileConfig);
      this.publish(snap, why, performance.now() - t0);
      return true;
    } catch (err) {
      this.failed(why, err);
      return false;
    } finally {
      // Failed builds count too: an invalid resource under churn must not rebuild back to back.
      this.lastBuildMs = performance.now() - t0;
      this.lastBuildAt = Date.now();
    }
  }

  /** Coalesced rebuild for bursts of Kubernetes events (spacing: rebuildDelayMs). */
  requestRebuild(why: string): void {
    if (this.rebuildTimer || this.stopped) return;
    const delay = rebuildDelayMs(Date.now() - this.lastBuildAt, this.lastBuildMs);
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = undefined;
      if (!this.stopped) this.rebuild(why);
    }, delay);
  }

  /** A rejected ZeroTrustPolicy generation (the rest keeps working). */
  rejected(): void {
    this.opts.metrics.policyReload.inc({ result: 'error' });
  }

  /**
   * Re-read the config file. Returns true when a new snapshot was published, false when the file
   * is unchanged or invalid (then the last-known-good snapshot stays).
   */
  reloadFile(file = this.fileConfig.file, force = false): boolean {
    if (!file) return false;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      this.failed(
        'config file changed',
        new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]),
      );
      return false;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (!force && hash === this.fileHash) return false;
    this.fileHash = hash;
    let next: Config;
    let policies: PolicyIndex;
    try {
      const checked = checkConfig(parseConfigText(text, file), file);
      next = { ...checked.config, file };
      policies = checked.policies;
    } catch (err) {
      this.failed('config file changed', err);
      return false;
    }
    return this.applyConfig(next, 'config file changed', policies);
  }

  /**
   * Apply a validated configuration (from the file, or handed in by the embedding code): build
   * off the request path, publish with one assignment; on error keep the last-known-good snapshot.
   */
  applyConfig(next: Config, why = 'configuration changed', policies?: PolicyIndex): boolean {
    const kept = RESTART_ONLY.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(this.fileConfig[k]));
    if (kept.length) {
      this.opts.logger.warn({ sections: kept }, 'config reload: these sections take effect only on restart; keeping the running values');
      next = { ...next, ...Object.fromEntries(kept.map((k) => [k, this.fileConfig[k]])) };
    }
    if (this.fileConfig.file && !next.file) next = { ...next, file: this.fileConfig.file };
    try {
      const snap = this.build(next, policies);
      this.fileConfig = next;
      this.publish(snap, why);
      return true;
    } catch (err) {
      this.failed(why, err);
      return false;
    }
  }

  /**
   * Watch the config file. The directory is watched, not the file: a ConfigMap volume updates by
   * renaming a new `..data` symlink into place, which a watch on the old file never sees. Events
   * are debounced, the content is hashed (no rebuild when unchanged), and the file is also
   * polled every `pollSeconds` in case the platform drops events.
   */
  watchFile(file: string, debounceMs: number, pollSeconds: number): void {
    const path = resolve(file);
    try {
      this.fileHash = createHash('sha256').update(readFileSync(path, 'utf8')).digest('hex');
    } catch {
      this.fileHash = undefined;
    }
    this.watch = watchFiles([path], {
      debounceMs,
      pollSeconds,
      namedOnly: true,
      onChange: () => this.reloadFile(path),
      onWatchError: (dir, err, atStart) =>
        this.opts.logger.warn(
          { dir, err },
          atStart ? 'cannot watch the config directory; polling only' : 'config directory watch failed; polling only',
        ),
    });
    this.opts.logger.info({ file: path, debounceMs, pollSeconds }, 'watching the config file for changes');
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    if (this.rebuildTimer) clearTimeout(this.rebuildTimer);
  }

  /**
   * The snapshot for a file configuration plus what the contributor adds (with Kubernetes:
   * ZeroTrustPolicy resources, copies of policies bound by pod annotations, and the workload
   * hooks; until every informer has listed once, no policies, so everything is denied and
   * readiness stays false). `policies`: config.policies already compiled.
   */
  private build(config: Config, policies?: PolicyIndex): Snapshot {
    const contributed = this.opts.contributor?.policies(config);
    const effective = contributed ? { ...config, policies: contributed } : config;
    const { keys, commit } = this.opts.keysFor(effective.issuers);
    // config.policies compiled already (checked, or handed in at construction) unless the contributor changed them.
    const first = this.firstPolicies;
    this.firstPolicies = undefined;
    const known = contributed ? undefined : (policies ?? (first?.config === config ? first.index : undefined));
    const apiKeys = this.opts.apiKeysFor?.(effective.apiKeys);
    const revocation = {
      ...(this.opts.revocation ? { revocation: this.opts.revocation } : {}),
      ...(apiKeys ? { apiKeyStores: apiKeys.stores } : {}),
      ...(this.opts.signingKeys ? { signingKeys: this.opts.signingKeys } : {}),
    };
    let snap = buildSnapshot(
      effective,
      keys,
      this.opts.hooks,
      this.generation + 1,
      known ? { policies: known, ...revocation } : revocation,
    );
    const prev = this.current;
    // Same issuers, keys and cache settings: keep the authenticator, and with it the warm
    // verified-token cache (policy changes do not re-verify every token).
    if (prev && sameAuthn(prev, snap)) snap = Object.freeze({ ...snap, authenticator: prev.authenticator });
    // Same for the minter: minted tokens stay reusable across a reload that does not change them.
    if (prev?.minter && snap.minter && prev.minter.sameAs(snap.minter)) snap = Object.freeze({ ...snap, minter: prev.minter });
    const extra = this.opts.contributor?.fields(effective) ?? {};
    if (Object.keys(extra).length) snap = Object.freeze({ ...snap, ...extra });
    commit();
    apiKeys?.commit();
    return snap;
  }

  private publish(snap: Snapshot, why: string, buildMs?: number): void {
    this.generation = snap.generation;
    this.current = snap;
    this.lastBuildAt = Date.now();
    this.opts.publish(snap); // the single reference assignment
    this.opts.metrics.policyReload.inc({ result: 'success' });
    this.opts.metrics.policiesLoaded.set(snap.policies.size);
    if (why !== 'start')
      this.opts.logger.info(
        {
          generation: snap.generation,
          policies: snap.policies.size,
          why,
          ...(buildMs !== undefined ? { build_ms: Math.round(buildMs) } : {}),
        },
        'snapshot reloaded',
      );
    this.warnOnChange(snap.config);
  }

  /** Weakened checks (configWarnings) are logged at start and whenever the set of them changes. */
  private warnOnChange(config: Config): void {
    if (config === this.warnedFor) return;
    this.warnedFor = config;
    const warnings = configWarnings(config).map((w) => `${w.path}: ${w.message}`);
    const key = warnings.join('\n');
    if (key === this.warnedKey) return;
    this.warnedKey = key;
    for (const w of warnings) this.opts.logger.warn({ setting: w.slice(0, w.indexOf(':')) }, `configuration weakens a check: ${w}`);
  }

  private failed(why: string, err: unknown): void {
    this.opts.metrics.policyReload.inc({ result: 'error' });
    const message = err instanceof ConfigError ? err.problems.map((p) => `${p.path || '(root)'}: ${p.message}`) : [(err as Error).message];
    this.opts.logger.error(
      { why, problems: message, generation: this.current?.generation },
      'reload rejected; keeping the last-known-good snapshot',
    );
  }
}

function sameAuthn(a: Snapshot, b: Snapshot): boolean {
  // The claims an authenticator keeps (its projection, applied to fresh tokens and cache entries
  // alike) are part of it: a reload whose policies or audit read a new claim needs a new one, or
  // a DENY on that claim would never see it.
  const pick = (s: Snapshot) =>
    JSON.stringify([
      s.config.issuers,
      s.config.limits.maxTokenBytes,
      s.config.tokenCache,
      s.config.apiKeys,
      s.config.authorization.rolesClaim,
    ]);
  return pick(a) === pick(b) && sameSet(a.authenticator.keptClaims, b.authenticator.keptClaims);
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
