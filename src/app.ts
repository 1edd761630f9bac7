// Process wiring, nothing else: config → snapshots (SnapshotManager), issuer keys, the decision
// engine and its observer (metrics + audit), the listeners (gRPC, HTTP, admin, webhook), hot
// reloads, readiness and graceful drain. The request path is the engine's (decision/engine.ts);
// each transport adapter builds its own response from the Decision.
import type { Logger } from 'pino';
import type { Config } from './config/types.js';
import { SnapshotManager } from './snapshot/manager.js';
import { KubernetesSync } from './k8s/kubernetes-sync.js';
import { kubernetesContributor } from './k8s/snapshot-contributor.js';
import type { Snapshot } from './decision/snapshot.js';
import type { CheckInput } from './decision/types.js';
import type { Decision } from './decision/decision.js';
import { DecisionEngine, type NormalizeStep } from './decision/engine.js';
import { IssuerKeyRegistry } from './authn/issuer-key-registry.js';
import type { JwksClock } from './authn/jwks/clock.js';
import { Metrics } from './observe/metrics.js';
import { AuditLog } from './observe/audit.js';
import { DecisionRecorder } from './observe/decision-observer.js';
import { watchReadiness } from './observe/readiness.js';
import { createAuditLogger, createLogger, stdoutDestination, type DropListener } from './observe/log.js';
import { HealthState } from './transport/grpc/health.js';
import { startGrpcServer, type GrpcListener } from './transport/grpc/server.js';
import { grpcCheckHandler } from './transport/grpc/check-adapter.js';
import { startAdminServer, type AdminListener, type Route } from './transport/admin/server.js';
import { startHttpAuthzServer, type HttpAuthzListener } from './transport/http/server.js';
import { startWebhookServer, type WebhookListener } from './webhook/server.js';
import { InFlightGate } from './transport/inflight.js';
import { shedReporter } from './transport/shed-log.js';
import { startReportedTls } from './transport/tls/report.js';
import type { TlsReloader } from './transport/tls/reloader.js';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  auditLogger?: Logger;
  /** Extra GET routes on the admin port (the demo serves its JWKS there). */
  adminRoutes?: Record<string, Route>;
  /** Time source of the JWKS managers (cooldowns, refresh timers); tests simulate hours with it. Default: real time. */
  jwksClock?: JwksClock;
}

export class App {
  readonly metrics = new Metrics();
  readonly logger: Logger;
  /** limits.maxInFlight across both authz listeners (reloadable). */
  readonly gate: InFlightGate;
  readonly engine: DecisionEngine;
  private readonly audit: AuditLog;
  private readonly health: HealthState;
  private keys!: IssuerKeyRegistry;
  private snapshot!: Snapshot;
  private manager?: SnapshotManager;
  private k8s?: KubernetesSync;
  private draining = false;
  private grpc?: GrpcListener;
  private httpAuthz?: HttpAuthzListener;
  private admin?: AdminListener;
  /** Sidecar-injection admission webhook (HTTPS), when webhook.enabled. */
  private webhook?: WebhookListener;
  /** server.tls material shared by both authz listeners, when configured. */
  private tls?: TlsReloader;
  private shutdownPromise?: Promise<void>;

  private constructor(private readonly opts: AppOptions) {
    // One bounded stdout for both loggers; lines it cannot hold are counted, not buffered.
    const onDrop: DropListener = (log, reason) => this.metrics.logDropped.inc({ log, reason });
    const out = opts.logger && opts.auditLogger ? undefined : stdoutDestination({ maxBufferBytes: opts.config.log.maxBufferBytes, onDrop });
    this.logger = opts.logger ?? createLogger(opts.config.log.level, out, { onDrop });
    this.audit = new AuditLog(opts.auditLogger ?? createAuditLogger(out), opts.config.audit);
    this.health = new HealthState(() => this.ready);
    this.gate = new InFlightGate(opts.config.limits.maxInFlight, shedReporter(this.metrics, this.logger, () => this.gate.limit));
    this.metrics.inFlightSource = () => this.gate.inFlight;
    this.engine = new DecisionEngine(() => this.snapshot, new DecisionRecorder(this.metrics, this.audit, this.logger));
  }

  static async start(opts: AppOptions): Promise<App> {
    const app = new App(opts);
    try {
      await app.init();
    } catch (err) {
      await app.shutdown();
      throw err;
    }
    return app;
  }

  get grpcPort(): number {
    return this.grpc?.port ?? 0;
  }

  get httpPort(): number {
    return this.httpAuthz?.port ?? 0;
  }

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  get webhookPort(): number {
    return this.webhook?.port ?? 0;
  }

  get currentSnapshot(): Snapshot {
    return this.snapshot;
  }

  /** Serving = a valid snapshot whose issuers all hold keys, Kubernetes resources listed once, and not draining. */
  get ready(): boolean {
    return !this.draining && this.snapshot !== undefined && this.snapshot.authenticator.keysReady && (this.k8s?.synced ?? true);
  }

  /** The Kubernetes watchers, when `kubernetes.enabled`. */
  get kubernetes(): KubernetesSync | undefined {
    return this.k8s;
  }

  /**
   * Hot reload entry point: apply `config` (already validated), or re-read the config file.
   * The snapshot is built off the request path and swapped atomically; on error the
   * last-known-good snapshot stays and false is returned.
   */
  reload(config?: Config): boolean {
    if (!this.manager) return false;
    return config ? this.manager.applyConfig(config) : this.manager.reloadFile(undefined, true);
  }

  /** One request through the engine, recorded (tests, tools); see DecisionEngine.decideRequest. */
  decideRequest(transport: string, normalize: NormalizeStep): Promise<{ input: CheckInput | undefined; decision: Decision }> {
    return this.engine.decideRequest(transport, normalize);
  }

  private readinessChanged(): void {
    this.health.update();
    this.metrics.ready.set(this.ready ? 1 : 0);
  }

  private async init(): Promise<void> {
    const { config } = this.opts;
    this.keys = new IssuerKeyRegistry({
      metrics: this.metrics,
      logger: this.logger,
      // kubernetes.* is restart-only: the Secret feeds exist from start or not at all.
      secrets: () => this.k8s?.secrets,
      authenticator: () => this.snapshot?.authenticator,
      onReadinessInput: (why) => {
        this.health.update();
        // An issuer without a usable HMAC secret is not ready (and ready again once one is back).
        if (why === 'secrets' && this.keys.running) this.metrics.ready.set(this.ready ? 1 : 0);
      },
      watch: { debounceMs: config.reload.debounceMs, pollSeconds: config.reload.pollSeconds },
      ...(this.opts.jwksClock ? { clock: this.opts.jwksClock } : {}),
    });
    const manager = new SnapshotManager({
      logger: this.logger,
      metrics: this.metrics,
      config,
      contributor: kubernetesContributor(() => this.k8s),
      keysFor: (issuers) => this.keys.keysFor(issuers),
      hooks: { cacheHit: () => this.metrics.tokenCacheHits.inc(), cacheMiss: () => this.metrics.tokenCacheMisses.inc() },
      publish: (snap) => {
        this.snapshot = snap; // the one reference assignment a reload makes
        this.audit.configure(snap.config.audit); // audit settings are hot-reloaded with the snapshot
        this.gate.setMax(snap.config.limits.maxInFlight);
        this.health.update();
        if (this.keys.running) this.metrics.ready.set(this.ready ? 1 : 0);
      },
    });
    this.manager = manager;
    if (config.kubernetes.enabled) {
      this.k8s = await KubernetesSync.create(config.kubernetes, {
        logger: this.logger,
        rolesClaim: () => manager.config.authorization.rolesClaim,
        onChange: (why) => manager.requestRebuild(why),
        onRejected: () => manager.rejected(),
        onSynced: () => {
          manager.rebuild('Kubernetes resources synced');
          this.readinessChanged();
          if (this.ready) this.logger.info('ready: issuer keys, policies and Kubernetes resources loaded');
        },
      });
      const workloads = this.k8s.workloads;
      if (workloads) this.metrics.dryRunPodsSource = () => workloads.dryRunPods();
    }
    manager.initial();

    if (config.server.tls) this.tls = startReportedTls(config, config.server.tls, this.metrics, this.logger);
    const tls = this.tls ? { tls: this.tls } : {};
    this.admin = await startAdminServer(config.server.admin, this.metrics.registry, () => this.ready, this.opts.adminRoutes);
    this.grpc = await startGrpcServer(config.server.grpc, grpcCheckHandler(this.engine), this.health, { gate: this.gate, maxReceiveBytes: config.server.grpcMaxReceiveBytes, ...tls });
    this.httpAuthz = await startHttpAuthzServer(config.server.http, () => this.snapshot.config.http, this.engine, {
      gate: this.gate,
      // A misconfigured proxy fails every request: warn with the setting to fix (rate-limited per message).
      warn: (facts, message) => this.logger.warn(facts, message),
      ...tls,
    });
    this.tls?.start();
    if (config.webhook.enabled) this.webhook = await startWebhookServer(config.webhook, { logger: this.logger, registry: this.metrics.registry });
    this.keys.start();
    this.k8s?.start();
    if (config.file && config.reload.watchFile) manager.watchFile(config.file, config.reload.debounceMs, config.reload.pollSeconds);
    this.metrics.ready.set(0);
    this.logger.info(
      {
        grpc: this.grpc.port,
        http: this.httpAuthz.port,
        admin: this.admin.port,
        ...(this.webhook ? { webhook: this.webhook.port } : {}),
        tls: this.tls ? (this.tls.mutualTls ? 'mtls' : 'tls') : 'off',
        issuers: config.issuers.length,
        policies: this.snapshot.policies.size,
      },
      'zt-authz listening',
    );
    const k8s = this.k8s;
    watchReadiness(
      {
        logger: this.logger,
        keys: () => this.keys.entries(),
        ready: () => this.ready,
        draining: () => this.draining,
        awaitingKubernetes: () => k8s !== undefined && !k8s.synced,
        update: () => this.readinessChanged(),
      },
      config.server.readyTimeoutSeconds * 1000,
    );
  }

  /**
   * Graceful drain: health flips to NOT_SERVING first, the gRPC server stops taking new calls
   * and lets in-flight Checks finish; after server.drainSeconds remaining calls are cancelled.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.draining = true;
      this.health.update();
      this.health.endWatches();
      this.metrics.ready.set(0);
      const deadline = (this.opts.config.server.drainSeconds ?? 10) * 1000;
      // Both authz listeners drain at once, within the same deadline.
      await Promise.all([
        this.grpc?.drain(deadline).then((how) => this.logger.info({ how }, 'gRPC server drained')),
        this.httpAuthz?.close(deadline).then((how) => this.logger.info({ how }, 'HTTP authz server drained')),
      ]);
      this.manager?.stop();
      this.tls?.stop();
      await this.k8s?.stop();
      this.keys?.stop();
      await this.webhook?.close();
      await this.admin?.close();
    })();
    return this.shutdownPromise;
  }
}
