// What a JwksManager is built from (its source of keys, limits and observer hooks) and what it
// reports (fetch events). The manager itself is in manager.ts.
import type { JSONWebKeySet } from 'jose';
import type { KeyDrop } from '../weak-keys.js';
import type { JwksClock } from './clock.js';

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

/** The HTTP client a manager fetches with. */
export type JwksFetch = (url: string, init: RequestInit) => Promise<Response>;

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
  fetch?: JwksFetch;
  /** Updates of a pushed (`secret`) source; subscribed from start() to stop(). Without one the manager never gets keys. */
  feed?: JwksPushFeed;
}
