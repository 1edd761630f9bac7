// Process wiring, nothing else: config → snapshots (SnapshotManager), issuer keys, the decision
// engine and its observer (metrics + audit), the listeners (transport/listeners.ts), the
// Kubernetes watchers (k8s/snapshot-sync.ts), hot reloads, readiness and graceful drain. The
// request path is the engine's (decision/engine.ts); each transport adapter builds its own
// response from the Decision.
import type { Logger } from 'pino';
import type { Config } from './config/types.js';
import { SnapshotManager } from './snapshot/manager.js';
import type { KubernetesSync } from './k8s/kubernetes-sync.js';
import { kubernetesContributor } from './k8s/snapshot-contributor.js';
import { createSnapshotSync } from './k8s/snapshot-sync.js';
import type { Snapshot } from './decision/snapshot.js';
import type { CheckInput } from './decision/types.js';
import type { Decision } from './decision/decision.js';
import { DecisionEngine, type NormalizeStep } from './decision/engine.js';
import type { PolicyIndex } from './policy/policy-index.js';
import { CredentialSources } from './authn/credential-sources.js';
import type { RevocationList } from './authn/revocation/list.js';
import type { JwksClock } from './authn/jwks/clock.js';
import { Metrics } from './observe/metrics.js';
import { AuditLog } from './observe/audit.js';
import { DecisionRecorder } from './observe/decision-observer.js';
import { Readiness } from './observe/readiness.js';
import { DecisionTracing } from './observe/tracing/decision-tracing.js';
import { createAuditLogger, createLogger, stdoutDestination, type DropListener } from './observe/log.js';
import { routeGrpcLogs } from './observe/grpc-log.js';
import { HealthState } from './transport/grpc/health.js';
import type { Route } from './transport/admin/server.js';
import { Listeners } from './transport/listeners.js';
import { InFlightGate } from './transport/inflight.js';
import { SigningKeyLoader } from './mint/keys/key-loader.js';
import { InvalidArgumentError } from './errors.js';
import type { KeyRing } from './mint/keys/key-ring.js';
import { shedReporter } from './transport/shed-log.js';

export interface AppOptions {
  config: Config;
  /** `config.policies` already compiled (checkConfig did, as `serve` does): the first snapshot reuses them. */
  policies?: PolicyIndex;
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
  /** OpenTelemetry spans, one per decision (`tracing`, hot-reloaded; off when absent). */
  readonly tracing: DecisionTracing;
  private readonly audit: AuditLog;
  private readonly health = new HealthState(() => this.ready);
  private readonly readiness: Readiness;
  private readonly listeners = new Listeners();
  private credentials?: CredentialSources;
  /** tokenIssuer's signing keys (long-lived, outside the snapshot). */
  private keyLoader?: SigningKeyLoader;
  private snapshot!: Snapshot;
  private manager?: SnapshotManager;
  private k8s?: KubernetesSync;
  private shutdownPromise?: Promise<void>;

  private constructor(private readonly opts: AppOptions) {
    // One bounded stdout for both loggers; lines it cannot hold are counted, not buffered.
    const onDrop: DropListener = (log, reason) => this.metrics.logDropped.inc({ log, reason });
    const out = opts.logger && opts.auditLogger ? undefined : stdoutDestination({ maxBufferBytes: opts.config.log.maxBufferBytes, onDrop });
    this.logger = opts.logger ?? createLogger(opts.config.log.level, out, { onDrop });
    routeGrpcLogs(this.logger, opts.config.log.level);
    this.audit = new AuditLog(opts.auditLogger ?? createAuditLogger(out), opts.config.audit);
    this.tracing = new DecisionTracing(this.logger);
    const inputs = {
      snapshot: () => this.snapshot,
      kubernetes: () => this.k8s,
      keys: () => this.credentials?.keys.entries() ?? [],
      keysRunning: () => this.credentials?.keys.running ?? false,
      signingKeys: () => this.keyLoader?.loaded ?? true,
    };
    this.readiness = new Readiness(inputs, this.health, this.metrics, this.logger);
    this.gate = new InFlightGate(
      opts.config.limits.maxInFlight,
      shedReporter(this.metrics, this.logger, () => this.gate.limit),
    );
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
    return this.listeners.grpcPort;
  }

  get httpPort(): number {
    return this.listeners.httpPort;
  }

  get adminPort(): number {
    return this.listeners.adminPort;
  }

  get webhookPort(): number {
    return this.listeners.webhookPort;
  }

  get currentSnapshot(): Snapshot {
    return this.snapshot;
  }

  /** Serving = a valid snapshot whose issuers all hold keys, Kubernetes resources listed once, and not draining. */
  get ready(): boolean {
    return this.readiness.ready;
  }

  /** The revocation list (revocation.file and TokenRevocation resources). */
  get revocations(): RevocationList | undefined {
    return this.credentials?.revocation.list;
  }

  /** tokenIssuer's key ring (signs internal tokens, publishes the JWKS), when configured. */
  get keyRing(): KeyRing | undefined {
    return this.keyLoader?.ring;
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

  private async init(): Promise<void> {
    const { config } = this.opts;
    const credentials = new CredentialSources({
      config,
      metrics: this.metrics,
      logger: this.logger,
      issuerSecrets: () => this.k8s?.secrets,
      apiKeySecrets: () => this.k8s?.apiKeySecrets,
      authenticator: () => this.snapshot?.authenticator,
      onReadinessInput: (secrets) => this.readiness.inputChanged(secrets),
      ...(this.opts.jwksClock ? { jwksClock: this.opts.jwksClock } : {}),
    });
    this.credentials = credentials;
    const { keys, apiKeys, revocation } = credentials;
    if (config.tokenIssuer) {
      this.keyLoader = await SigningKeyLoader.create({
        config: config.tokenIssuer,
        metrics: this.metrics,
        logger: this.logger,
        secrets: () => this.k8s?.secrets,
        onChange: () => this.readiness.inputChanged(),
      });
    }
    const manager = new SnapshotManager({
      logger: this.logger,
      metrics: this.metrics,
      config,
      ...(this.opts.policies ? { policies: this.opts.policies } : {}),
      contributor: kubernetesContributor(() => this.k8s),
      keysFor: (issuers) => keys.keysFor(issuers),
      apiKeysFor: apiKeys.storesFor,
      ...(this.keyLoader ? { signingKeys: this.keyLoader.ring } : {}),
      hooks: {
        cacheHit: () => {
          this.metrics.tokenCacheHits.inc();
          this.tracing.tokenCache(true); // the span's cache-hit attribute
        },
        cacheMiss: () => {
          this.metrics.tokenCacheMisses.inc();
          this.tracing.tokenCache(false);
        },
      },
      revocation: revocation.list,
      publish: (snap) => {
        this.snapshot = snap; // the one reference assignment a reload makes
        credentials.configure(snap.config);
        this.audit.configure(snap.config.audit); // audit settings are hot-reloaded with the snapshot
        this.tracing.configure(snap.config.tracing); // so is tracing (a changed block replaces the exporter)
        this.gate.setMax(snap.config.limits.maxInFlight);
        this.readiness.inputChanged();
      },
    });
    this.manager = manager;
    if (config.kubernetes.enabled) {
      const onSynced = (): void => {
        this.readiness.changed();
        if (this.ready) this.logger.info('ready: issuer keys, policies and Kubernetes resources loaded');
      };
      const revocations = config.revocation.kubernetes ? { revocations: revocation.list } : {};
      this.k8s = await createSnapshotSync(config.kubernetes, {
        logger: this.logger,
        metrics: this.metrics,
        manager,
        onSynced,
        ...revocations,
      });
    }
    manager.initial();

    const { metrics, logger, health, gate, engine } = this;
    const wiring = {
      config,
      metrics,
      logger,
      health,
      gate,
      engine,
      tracing: this.tracing,
      adminRoutes: adminRoutes(this.opts.adminRoutes, this.keyLoader),
    };
    await this.listeners.start({ ...wiring, ready: () => this.ready, http: () => this.snapshot.config.http });
    credentials.start();
    this.keyLoader?.start();
    this.k8s?.start();
    if (config.file && config.reload.watchFile) manager.watchFile(config.file, config.reload.debounceMs, config.reload.pollSeconds);
    this.metrics.ready.set(0);
    this.logger.info(
      { ...this.listeners.describe(), issuers: config.issuers.length, policies: this.snapshot.policies.size },
      'zt-authz listening',
    );
    this.readiness.watch(config.server.readyTimeoutSeconds * 1000);
  }

  /**
   * Graceful drain: health flips to NOT_SERVING first, the gRPC server stops taking new calls
   * and lets in-flight Checks finish; after server.drainSeconds remaining calls are cancelled.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.readiness.drain();
      await this.listeners.drainAuthz((this.opts.config.server.drainSeconds ?? 10) * 1000, this.logger);
      this.manager?.stop();
      this.listeners.stopTls();
      await this.k8s?.stop();
      this.credentials?.stop();
      this.keyLoader?.stop();
      await this.tracing.shutdown(); // the spans of the drained Checks are exported, not lost
      await this.listeners.close();
    })();
    return this.shutdownPromise;
  }
}

/** The caller's admin routes and the token issuer's JWKS and discovery; the same path from both is a start-up error. */
function adminRoutes(extra: Record<string, Route> | undefined, signing: SigningKeyLoader | undefined): Record<string, Route> | undefined {
  if (!signing) return extra;
  const own = signing.routes();
  const clash = Object.keys(own).filter((path) => extra && Object.hasOwn(extra, path));
  if (clash.length)
    throw new InvalidArgumentError(`tokenIssuer.issuer: its documents would be served at ${clash.join(', ')}, a path already in use`);
  return { ...own, ...extra };
}
