// The credential material a zt-authz process keeps across reloads, created together with the
// metrics and logs that report on it: issuer keys (JWKS, HMAC secrets, introspection clients),
// API-key sources, and the revocation list every snapshot's authenticator consults. App wires
// this one object; snapshots take what they need from it (keysFor, apiKeysFor, the list).
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { Metrics } from '../observe/metrics.js';
import type { Authenticator } from './authenticator.js';
import type { JwksClock } from './jwks/clock.js';
import type { SecretKeyFeeds } from './key-resolvers.js';
import { IssuerKeyRegistry } from './issuer-key-registry.js';
import { ApiKeyRegistry, type ApiKeySecretFeed } from './apikeys/registry.js';
import { RevocationRuntime } from './revocation/runtime.js';

export interface CredentialSourcesOptions {
  config: Config;
  metrics: Metrics;
  logger: Logger;
  /** Kubernetes Secret feeds (kubernetes.* is restart-only: they exist from start or not at all). */
  issuerSecrets: () => SecretKeyFeeds | undefined;
  apiKeySecrets: () => ApiKeySecretFeed | undefined;
  /** The authenticator of the current snapshot: its caches follow key changes and revocations. */
  authenticator: () => Authenticator | undefined;
  /** Readiness may have changed; `secrets` when an issuer's HMAC secrets changed. */
  onReadinessInput: (secrets: boolean) => void;
  /** Time source of the JWKS managers (tests simulate hours with it). Default: real time. */
  jwksClock?: JwksClock;
}

export class CredentialSources {
  readonly keys: IssuerKeyRegistry;
  readonly apiKeys: ApiKeyRegistry;
  readonly revocation: RevocationRuntime;

  constructor(o: CredentialSourcesOptions) {
    const { config, metrics, logger } = o;
    const watch = { debounceMs: config.reload.debounceMs, pollSeconds: config.reload.pollSeconds };
    this.keys = new IssuerKeyRegistry({
      metrics,
      logger,
      secrets: o.issuerSecrets,
      authenticator: o.authenticator,
      // An issuer without a usable HMAC secret is not ready (and ready again once one is back).
      onReadinessInput: (why) => o.onReadinessInput(why === 'secrets'),
      watch,
      ...(o.jwksClock ? { clock: o.jwksClock } : {}),
    });
    this.apiKeys = new ApiKeyRegistry({
      logger,
      onLoad: (source, result, n) => {
        metrics.apiKeysReload.inc({ source, result });
        metrics.apiKeys.set({ source }, n);
      },
      watch,
      secrets: o.apiKeySecrets,
    });
    const revocation = new RevocationRuntime(config, {
      logger,
      onFileLoad: (result) => metrics.revocationReload.inc({ source: 'file', result }),
    });
    this.revocation = revocation;
    metrics.revocationEntriesSource = () => revocation.list.size;
    // A revoked token must not stay in the verified-token cache (each hit is checked too).
    revocation.list.onChange(() => void o.authenticator()?.evictRevoked());
  }

  /** A new snapshot's configuration (revocation settings follow it). */
  configure(config: Config): void {
    this.revocation.configure(config);
  }

  start(): void {
    this.keys.start();
    this.apiKeys.start();
    this.revocation.start();
  }

  stop(): void {
    this.keys.stop();
    this.apiKeys.stop();
    this.revocation.stop();
  }
}
