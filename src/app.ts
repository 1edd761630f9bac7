// Process wiring: config → snapshot, listeners (gRPC, admin), JWKS managers, metrics, audit,
// readiness and graceful drain. The request path is App.check → decide → toCheckResponse.
import type { Logger } from 'pino';
import { withTlsConfigErrors, type Config } from './config/load.js';
import type { ResolvedIssuer } from './config/load.js';
import { SnapshotManager } from './config/reload.js';
import { KubernetesSync } from './k8s/index.js';
import type { Snapshot } from './decision/snapshot.js';
import { decide, deny, failClosedDecision, observeAsSent } from './decision/decide.js';
import { withoutQueryRemoval } from './decision/removable.js';
import type { CheckInput, Decision } from './decision/types.js';
import type { Normalized } from './decision/normalize.js';
import { buildIssuerKeys, type IssuerKeys } from './authn/key-resolvers.js';
import type { JwksClock } from './authn/jwks/clock.js';
import { Metrics } from './observe/metrics.js';
import { AuditLog } from './observe/audit.js';
import { createAuditLogger, createLogger, stdoutDestination, type DropListener } from './observe/log.js';
import { HealthState } from './transport/grpc/health.js';
import { startGrpcServer, type GrpcListener } from './transport/grpc/server.js';
import { normalizeCheckRequest } from './transport/grpc/normalize.js';
import { toCheckResponse } from './transport/grpc/response.js';
import type { CheckRequest, CheckResponse } from './transport/grpc/messages.js';
import { startAdminServer, type AdminListener, type Route } from './transport/admin/server.js';
import { startHttpAuthzServer, type HttpAuthzListener } from './transport/http/server.js';
import { startWebhookServer, type WebhookListener } from './webhook/server.js';
import { InFlightGate } from './transport/inflight.js';
import { TlsReloader, type TlsReloadEvent } from './transport/tls/reloader.js';

/** Load shedding is logged at most this often (with the count since the last line), never per Check. */
const SHED_LOG_INTERVAL_MS = 10_000;

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
  private readonly audit: AuditLog;
  private readonly health: HealthState;
  private readonly keys = new Map<string, IssuerKeys>();
  /** Issuer → its resolved config (JSON), to reuse key managers across reloads. */
  private readonly keyConfigs = new Map<string, string>();
  private jwksStarted = false;
  private snapshot!: Snapshot;
  private manager?: SnapshotManager;
  private k8s?: KubernetesSync;
  private draining = false;
  private grpc?: GrpcListener;
  private httpAuthz?: HttpAuthzListener;
  private admin?: AdminListener;
  /** Sidecar-injection admission webhook (HTTPS), when webhook.enabled. */
  private webhook?: WebhookListener;
  private shutdownPromise?: Promise<void>;
  /** limits.maxInFlight across both authz listeners (reloadable). */
  readonly gate: InFlightGate;
  private shedLoggedAt = 0;
  private shedSinceLog = 0;
  /** server.tls material shared by both authz listeners, when configured. */
  private tls?: TlsReloader;

  private constructor(private readonly opts: AppOptions) {
    // One bounded stdout for both loggers; lines it cannot hold are counted, not buffered.
    const onDrop: DropListener = (log, reason) => this.metrics.logDropped.inc({ log, reason });
    const out = opts.logger && opts.auditLogger ? undefined : stdoutDestination({ maxBufferBytes: opts.config.log.maxBufferBytes, onDrop });
    this.logger = opts.logger ?? createLogger(opts.config.log.level, out, { onDrop });
    this.audit = new AuditLog(opts.auditLogger ?? createAuditLogger(out), opts.config.audit);
    this.health = new HealthState(() => this.ready);
    this.gate = new InFlightGate(opts.config.limits.maxInFlight, (transport) => this.onShed(transport));
    this.metrics.inFlightSource = () => this.gate.inFlight;
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

  /** Key resolvers for `issuers`, reusing unchanged ones; commit() retires the replaced ones. */
  private keysFor(issuers: readonly ResolvedIssuer[]): { keys: ReadonlyMap<string, IssuerKeys>; commit: () => void } {
    const next = new Map<string, IssuerKeys>();
    const configs = new Map<string, string>();
    const created: IssuerKeys[] = [];
    for (const iss of issuers) {
      const fp = JSON.stringify(iss);
      const cur = this.keys.get(iss.issuer);
      configs.set(iss.issuer, fp);
      if (cur && this.keyConfigs.get(iss.issuer) === fp) {
        // Same settings, but the HMAC secret files may hold other secrets now: a reload re-reads them.
        cur.recheck();
        next.set(iss.issuer, cur);
      } else {
        const k = this.issuerKeys(iss);
        created.push(k);
        next.set(iss.issuer, k);
      }
    }
    return {
      keys: next,
      commit: () => {
        for (const [issuer, k] of this.keys) if (next.get(issuer) !== k) k.stop();
        this.keys.clear();
        this.keyConfigs.clear();
        for (const [issuer, k] of next) this.keys.set(issuer, k);
        for (const [issuer, fp] of configs) this.keyConfigs.set(issuer, fp);
        if (this.jwksStarted) for (const k of created) k.start();
      },
    };
  }

  private issuerKeys(iss: ResolvedIssuer): IssuerKeys {
    // kubernetes.* is restart-only: a reload cannot add the API client a jwksSecret issuer needs.
    if (iss.keySource.kind === 'secret' && !this.k8s) throw new Error(`issuer ${iss.issuer}: jwksSecret needs kubernetes.enabled at start (restart to apply)`);
    const keys = buildIssuerKeys(iss, {
      ...(this.k8s ? { secrets: this.k8s.secrets } : {}),
      onFetch: (e) => {
        this.metrics.jwksRefresh.inc({ issuer: e.issuer, result: e.result, trigger: e.trigger });
        this.metrics.jwksFetchDuration.observe({ issuer: e.issuer }, e.durationMs / 1000);
        this.metrics.jwksKeys.set({ issuer: e.issuer }, e.keys);
        if (e.result === 'error') {
          const what = e.trigger === 'watch' ? 'JWKS Secret update rejected' : 'JWKS fetch failed';
          this.logger.warn({ issuer: e.issuer, trigger: e.trigger, error: e.error }, `${what}; keeping last-known-good keys`);
        }
        else this.logger.debug({ issuer: e.issuer, trigger: e.trigger, keys: e.keys }, 'JWKS fetched');
        this.health.update();
      },
      onKeysChanged: (kids, unchanged) => {
        // Only kids whose keys did not change keep their cached verifications (revocation by new material under the same kid included).
        this.snapshot?.authenticator.onKeysChanged(iss.issuer, unchanged);
        this.logger.info({ issuer: iss.issuer, keys: kids.size }, 'issuer key set changed');
      },
      onKeysDropped: (drops) => {
        const byReason: Record<string, number> = {};
        for (const d of drops) {
          this.metrics.keysDropped.inc({ issuer: iss.issuer, reason: d.reason });
          byReason[d.reason] = (byReason[d.reason] ?? 0) + 1;
        }
        // kids and file names are public; key material and secrets never appear here.
        const kids = drops.flatMap((d) => (d.kid !== undefined ? [d.kid.slice(0, 64)] : [])).slice(0, 16);
        const files = drops.flatMap((d) => (d.file !== undefined ? [d.file] : []));
        this.logger.warn({ issuer: iss.issuer, dropped: byReason, ...(kids.length ? { kids } : {}), ...(files.length ? { files } : {}) }, 'verification keys dropped: they must not verify tokens');
      },
      onHmacSecretsChanged: (e) => {
        if (e.removed) this.snapshot?.authenticator.onHmacSecretsRemoved(iss.issuer);
        const msg = e.secrets ? 'issuer HMAC secrets changed' : 'issuer HMAC secrets changed: none usable, HS* tokens are denied (jwks_unavailable)';
        (e.secrets ? this.logger.info.bind(this.logger) : this.logger.error.bind(this.logger))({ issuer: iss.issuer, secrets: e.secrets, added: e.added, removed: e.removed }, msg);
        // An issuer without a usable secret is not ready (and ready again once one is back).
        this.health.update();
        if (this.jwksStarted) this.metrics.ready.set(this.ready ? 1 : 0);
      },
      watch: {
        debounceMs: this.opts.config.reload.debounceMs,
        pollSeconds: this.opts.config.reload.pollSeconds,
        onWatchError: (dir, error) => this.logger.warn({ issuer: iss.issuer, dir, error }, 'cannot watch the HMAC secret directory; polling only'),
      },
      ...(this.opts.jwksClock ? { clock: this.opts.jwksClock } : {}),
    });
    if (keys.jwks && iss.keySource.kind === 'inline') this.metrics.jwksKeys.set({ issuer: iss.issuer }, keys.jwks.keyCount);
    return keys;
  }

  private async init(): Promise<void> {
    const { config } = this.opts;
    const manager = new SnapshotManager({
      logger: this.logger,
      metrics: this.metrics,
      config,
      keysFor: (issuers) => this.keysFor(issuers),
      hooks: { cacheHit: () => this.metrics.tokenCacheHits.inc(), cacheMiss: () => this.metrics.tokenCacheMisses.inc() },
      publish: (snap) => {
        this.snapshot = snap; // the one reference assignment a reload makes
        this.audit.configure(snap.config.audit); // audit settings are hot-reloaded with the snapshot
        this.gate.setMax(snap.config.limits.maxInFlight);
        this.health.update();
        if (this.jwksStarted) this.metrics.ready.set(this.ready ? 1 : 0);
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
          this.health.update();
          this.metrics.ready.set(this.ready ? 1 : 0);
          if (this.ready) this.logger.info('ready: issuer keys, policies and Kubernetes resources loaded');
        },
      });
      manager.attachKubernetes(this.k8s);
      const workloads = this.k8s.workloads;
      if (workloads) this.metrics.dryRunPodsSource = () => workloads.dryRunPods();
    }
    manager.initial();

    if (config.server.tls) this.tls = this.startTls(config.server.tls);
    this.admin = await startAdminServer(config.server.admin, this.metrics.registry, () => this.ready, this.opts.adminRoutes);
    this.grpc = await startGrpcServer(config.server.grpc, (req, transport) => this.check(req, transport), this.health, {
      gate: this.gate,
      maxReceiveBytes: config.server.grpcMaxReceiveBytes,
      ...(this.tls ? { tls: this.tls } : {}),
    });
    // HTTP mode cannot remove query parameters: a credential sent in one is denied, not forwarded.
    const httpDecide = async (normalize: Parameters<App['decideUnrecorded']>[1]) => {
      const r = await this.decideUnrecorded('http', normalize);
      return { ...r, decision: withoutQueryRemoval(r.decision, r.input, this.snapshot) };
    };
    this.httpAuthz = await startHttpAuthzServer(config.server.http, () => this.snapshot.config.http, httpDecide, {
      gate: this.gate,
      // A misconfigured proxy fails every request: warn with the setting to fix (rate-limited per message).
      warn: (facts, message) => this.logger.warn(facts, message),
      ...(this.tls ? { tls: this.tls } : {}),
    });
    this.tls?.start();
    if (config.webhook.enabled) this.webhook = await startWebhookServer(config.webhook, { logger: this.logger, registry: this.metrics.registry });
    for (const k of this.keys.values()) k.start();
    this.jwksStarted = true;
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
    this.watchReadiness(config.server.readyTimeoutSeconds * 1000);
  }

  /**
   * Load server.tls (a bad file is a start-up error naming the field and file) and report every
   * later reload: metric, log, expiry gauge. A rejected reload keeps the last good material.
   */
  private startTls(settings: NonNullable<Config['server']['tls']>): TlsReloader {
    const report = (e: TlsReloadEvent): void => {
      this.metrics.tlsReload.inc({ result: e.result });
      if (e.result === 'error') {
        this.logger.error({ field: `server.tls.${e.field}`, file: e.file, error: e.error }, 'TLS reload rejected; keeping the last good certificate');
        return;
      }
      this.describeCertificate(e.material, 'TLS certificate reloaded');
    };
    const tls = withTlsConfigErrors(
      this.opts.config.file ?? 'config',
      () =>
        new TlsReloader(settings, {
          onReload: report,
          onWatchError: (dir, error) => this.logger.warn({ dir, error }, 'cannot watch the TLS files; polling only'),
        }),
    );
    this.metrics.tlsReload.inc({ result: 'success' }, 0);
    this.metrics.tlsReload.inc({ result: 'error' }, 0);
    this.describeCertificate(tls.current, 'TLS certificate loaded');
    return tls;
  }

  private describeCertificate(m: TlsReloader['current'], msg: string): void {
    this.metrics.tlsCertNotAfter.set(Math.floor(m.notAfter.getTime() / 1000));
    const facts = { serial: m.serial, fingerprint256: m.fingerprint256, subject: m.subject, notAfter: m.notAfter.toISOString(), mtls: this.opts.config.server.tls?.clientCaFile !== undefined };
    if (m.notAfter.getTime() <= Date.now()) this.logger.warn(facts, `${msg}: the certificate has EXPIRED; clients will refuse it`);
    else this.logger.info(facts, msg);
  }

  /** A Check refused by the in-flight gate: counted always, logged at most every SHED_LOG_INTERVAL_MS. */
  private onShed(transport: string): void {
    this.metrics.shed.inc({ transport });
    this.shedSinceLog++;
    const now = Date.now();
    if (now - this.shedLoggedAt < SHED_LOG_INTERVAL_MS) return;
    this.logger.warn(
      { shed: this.shedSinceLog, maxInFlight: this.gate.limit, transport, intervalSeconds: SHED_LOG_INTERVAL_MS / 1000 },
      'load shedding: Checks refused because limits.maxInFlight are in flight (logged at most once per interval)',
    );
    this.shedLoggedAt = now;
    this.shedSinceLog = 0;
  }

  /**
   * Log once when keys are not there after readyTimeoutSeconds, then keep watching quietly
   * (the JWKS managers retry with backoff on their own; this only reports).
   */
  private watchReadiness(timeoutMs: number, warned = false): void {
    const waits = [...this.keys.values()].map((k) => (k.jwks ? k.jwks.waitReady(timeoutMs) : Promise.resolve(true)));
    void Promise.all(waits).then(() => {
      this.health.update();
      this.metrics.ready.set(this.ready ? 1 : 0);
      if (this.draining) return;
      if (this.ready) {
        this.logger.info('ready: issuer keys and policies loaded');
        return;
      }
      if (this.k8s && !this.k8s.synced && [...this.keys.values()].every((k) => k.ready)) return; // onSynced reports readiness
      if (!warned) {
        const missing = [...this.keys.entries()].filter(([, k]) => !k.ready).map(([i]) => i);
        this.logger.warn({ issuers: missing, waitedMs: timeoutMs }, 'not ready: issuer keys not loaded yet; still retrying in the background');
      }
      this.watchReadiness(Math.max(timeoutMs, 5000), true);
    });
  }

  /**
   * gRPC adapter entry: never rejects, never returns OK on error. Metrics and audit record the
   * decision the returned response carries (a fail-closed deny if the allow could not be built).
   */
  async check(req: CheckRequest, transport: string): Promise<CheckResponse> {
    const { input, decision, record } = await this.decideUnrecorded(transport, (limits) => normalizeCheckRequest(req, limits));
    // v2 has no headers_to_remove: pass the request headers so removals become blank overwrites.
    const v2Headers = transport === 'grpc-v2' ? (input?.headers ?? {}) : undefined;
    // v2 cannot remove query parameters either: a credential sent in one is denied, not forwarded.
    let answered = v2Headers ? withoutQueryRemoval(decision, input, this.snapshot) : decision;
    let response: CheckResponse;
    try {
      response = toCheckResponse(answered, input?.requestId, v2Headers);
    } catch {
      answered = failClosedDecision(decision, `the ${transport} response could not be built`);
      response = toCheckResponse(answered, input?.requestId);
    }
    record(answered);
    return response;
  }

  /**
   * Transport-neutral entry (tests, tools): normalize with the active snapshot's limits, decide,
   * record metrics + audit. Never rejects; any error is an internal_error deny.
   */
  async decideRequest(transport: string, normalize: (limits: Config['limits']) => Normalized): Promise<{ input: CheckInput | undefined; decision: Decision }> {
    const { input, decision, record } = await this.decideUnrecorded(transport, normalize);
    record(decision);
    return { input, decision };
  }

  /**
   * decideRequest for an adapter that builds and sends the response itself (gRPC, HTTP): `record`
   * must be called once with the decision actually answered, which differs from `decision` when
   * the response could not be built or written and a fail-closed deny went out instead.
   */
  async decideUnrecorded(
    transport: string,
    normalize: (limits: Config['limits']) => Normalized,
  ): Promise<{ input: CheckInput | undefined; decision: Decision; record: (answered: Decision) => void }> {
    const started = process.hrtime.bigint();
    const snap = this.snapshot;
    let input: CheckInput | undefined;
    let decision: Decision;
    try {
      const norm = normalize(snap.config.limits);
      if (norm.ok) {
        input = norm.input;
        decision = await decide(input, snap);
      } else {
        decision = deny('malformed_request', norm.detail, snap);
        // Observe mode lets a path it would refuse through (and records the would-be deny).
        const observed = norm.asSent ? await observeAsSent(norm.asSent, norm.detail, snap) : undefined;
        if (observed) {
          input = norm.asSent;
          decision = observed;
        }
      }
    } catch {
      decision = deny('internal_error', `unexpected error in the ${transport} adapter`, snap);
    }
    let recorded = false;
    const record = (answered: Decision): void => {
      if (recorded) return;
      recorded = true;
      this.observe(transport, input, answered, Number(process.hrtime.bigint() - started) / 1e9);
    };
    return { input, decision, record };
  }

  /** Metrics + audit for one decision, shared by every transport. */
  observe(transport: string, input: CheckInput | undefined, d: Decision, seconds: number): void {
    try {
      this.metrics.decisions.inc({ decision: d.allow ? 'allow' : 'deny', reason: d.reason, policy: d.policy ?? '' });
      // Would-be outcomes never change the response, but are counted apart from real ones.
      if (d.wouldDecide) this.metrics.decisions.inc({ decision: 'would_deny', reason: d.wouldDecide.reason, policy: d.wouldDecide.policy ?? '' });
      if (d.dryRun) this.metrics.decisions.inc({ decision: d.dryRun.allow ? 'dry_run_allow' : 'dry_run_deny', reason: d.dryRun.reason, policy: d.dryRun.policy ?? '' });
      if (d.audits) for (const a of d.audits) if (a.action === 'AUDIT') this.metrics.decisions.inc({ decision: 'audit', reason: d.reason, policy: a.policy });
      this.metrics.checkDuration.observe({ transport }, seconds);
      this.audit.record(transport, input, d, seconds);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'failed to record decision');
    }
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
      for (const k of this.keys.values()) k.stop();
      await this.webhook?.close();
      await this.admin?.close();
    })();
    return this.shutdownPromise;
  }
}
