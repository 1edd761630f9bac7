// Readiness: serving means a valid snapshot whose issuers all hold keys, Kubernetes resources
// listed once (when enabled), and not draining. Every input change re-evaluates the gRPC health
// service and the zt_authz_ready gauge. At start-up, a log line once when issuer keys are still
// missing after server.readyTimeoutSeconds, then quiet watching: the JWKS managers retry with
// backoff on their own; this only reports (log line, ready gauge, gRPC health).
import type { Logger } from 'pino';
import type { IssuerKeys } from '../authn/key-resolvers.js';
import type { Snapshot } from '../decision/snapshot.js';
import type { HealthState } from '../transport/grpc/health.js';
import type { Metrics } from './metrics.js';

export interface ReadinessInputs {
  snapshot: () => Snapshot | undefined;
  /** The Kubernetes watchers, when enabled. */
  kubernetes: () => { readonly synced: boolean } | undefined;
  /** The current issuers' key resolvers (they change on reload). */
  keys: () => Iterable<[string, IssuerKeys]>;
  /** The key resolvers have started: until then start-up owns the gauge (0 once listening). */
  keysRunning: () => boolean;
  /** tokenIssuer: a signing key is loaded (true when zt-authz mints no tokens). */
  signingKeys?: () => boolean;
}

export class Readiness {
  private draining = false;

  constructor(
    private readonly inputs: ReadinessInputs,
    private readonly health: HealthState,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  get ready(): boolean {
    const snap = this.inputs.snapshot();
    return (
      !this.draining &&
      snap !== undefined &&
      snap.authenticator.keysReady &&
      (this.inputs.kubernetes()?.synced ?? true) &&
      (this.inputs.signingKeys?.() ?? true)
    );
  }

  /** Re-evaluate gRPC health and the gauge. */
  changed(): void {
    this.health.update();
    this.metrics.ready.set(this.ready ? 1 : 0);
  }

  /** A snapshot was published or issuer keys changed: health now; the gauge once keys run (and `gauge`). */
  inputChanged(gauge = true): void {
    this.health.update();
    if (gauge && this.inputs.keysRunning()) this.metrics.ready.set(this.ready ? 1 : 0);
  }

  /** Start-up: report when keys (and Kubernetes resources) are loaded, or warn after `timeoutMs`. */
  watch(timeoutMs: number): void {
    const k8s = this.inputs.kubernetes();
    watchReadiness(
      {
        logger: this.logger,
        keys: this.inputs.keys,
        ready: () => this.ready,
        draining: () => this.draining,
        awaitingKubernetes: () => k8s !== undefined && !k8s.synced,
        signingKeys: () => this.inputs.signingKeys?.() ?? true,
        update: () => this.changed(),
      },
      timeoutMs,
    );
  }

  /** Shutdown: not ready from now on; gRPC health watchers are told NOT_SERVING and their streams end. */
  drain(): void {
    this.draining = true;
    this.health.update();
    this.health.endWatches();
    this.metrics.ready.set(0);
  }
}

interface ReadinessWatch {
  logger: Logger;
  /** The current issuers' key resolvers (they change on reload). */
  keys: () => Iterable<[string, IssuerKeys]>;
  ready: () => boolean;
  draining: () => boolean;
  /** Kubernetes resources still being listed: their onSynced reports readiness instead. */
  awaitingKubernetes: () => boolean;
  /** tokenIssuer's signing keys are loaded (or not configured). */
  signingKeys: () => boolean;
  /** Re-evaluate health and the ready gauge. */
  update: () => void;
}

function watchReadiness(w: ReadinessWatch, timeoutMs: number, warned = false): void {
  const keys = [...w.keys()];
  const waits = keys.map(([, k]) => (k.jwks ? k.jwks.waitReady(timeoutMs) : Promise.resolve(true)));
  void Promise.all(waits).then(() => {
    w.update();
    if (w.draining()) return;
    if (w.ready()) {
      w.logger.info('ready: issuer keys and policies loaded');
      return;
    }
    const current = [...w.keys()];
    if (w.awaitingKubernetes() && current.every(([, k]) => k.ready)) return;
    if (!warned) {
      const missing = current.filter(([, k]) => !k.ready).map(([i]) => i);
      const signing = w.signingKeys() ? {} : { signingKeys: 'tokenIssuer has no usable signing key yet' };
      w.logger.warn(
        { issuers: missing, ...signing, waitedMs: timeoutMs },
        'not ready: issuer or signing keys not loaded yet; still retrying in the background',
      );
    }
    const next = (): void => watchReadiness(w, Math.max(timeoutMs, 5000), true);
    // With every issuer's keys loaded there is nothing to wait on (the waits above settle at once):
    // what is missing (a signing key from a Secret not there yet) must not make this a busy loop
    // that starves the event loop, so poll it once a second instead.
    if (current.every(([, k]) => k.ready)) setTimeout(next, 1000).unref();
    else next();
  });
}
