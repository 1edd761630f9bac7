// Process wiring: config → snapshot, listeners (gRPC, admin), JWKS managers, metrics, audit,
// readiness and graceful drain. The request path is App.check → decide → toCheckResponse.
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import { buildSnapshot } from './config/snapshot-builder.js';
import type { Snapshot } from './decision/snapshot.js';
import { decide, deny } from './decision/decide.js';
import type { CheckInput, Decision } from './decision/types.js';
import type { Normalized } from './decision/normalize.js';
import { buildIssuerKeys, type IssuerKeys } from './authn/key-resolvers.js';
import { Metrics } from './observe/metrics.js';
import { AuditLog } from './observe/audit.js';
import { createAuditLogger, createLogger } from './observe/log.js';
import { HealthState } from './transport/grpc/health.js';
import { startGrpcServer, type GrpcListener } from './transport/grpc/server.js';
import { normalizeCheckRequest } from './transport/grpc/normalize.js';
import { toCheckResponse } from './transport/grpc/response.js';
import type { CheckRequest, CheckResponse } from './transport/grpc/messages.js';
import { startAdminServer, type AdminListener, type Route } from './transport/admin/server.js';
import { startHttpAuthzServer, type HttpAuthzListener } from './transport/http/server.js';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  auditLogger?: Logger;
  /** Extra GET routes on the admin port (the demo serves its JWKS there). */
  adminRoutes?: Record<string, Route>;
}

export class App {
  readonly metrics = new Metrics();
  readonly logger: Logger;
  private readonly audit: AuditLog;
  private readonly health: HealthState;
  private readonly keys = new Map<string, IssuerKeys>();
  private snapshot!: Snapshot;
  private draining = false;
  private grpc?: GrpcListener;
  private httpAuthz?: HttpAuthzListener;
  private admin?: AdminListener;
  private shutdownPromise?: Promise<void>;

  private constructor(private readonly opts: AppOptions) {
    this.logger = opts.logger ?? createLogger(opts.config.log.level);
    this.audit = new AuditLog(opts.auditLogger ?? createAuditLogger(), opts.config.audit);
    this.health = new HealthState(() => this.ready);
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

  get currentSnapshot(): Snapshot {
    return this.snapshot;
  }

  /** Serving = a snapshot whose issuers all hold keys, and not draining. */
  get ready(): boolean {
    return !this.draining && this.snapshot !== undefined && this.snapshot.authenticator.keysReady;
  }

  private async init(): Promise<void> {
    const { config } = this.opts;
    for (const iss of config.issuers) {
      const keys = buildIssuerKeys(iss, {
        onFetch: (e) => {
          this.metrics.jwksRefresh.inc({ issuer: e.issuer, result: e.result, trigger: e.trigger });
          this.metrics.jwksFetchDuration.observe({ issuer: e.issuer }, e.durationMs / 1000);
          this.metrics.jwksKeys.set({ issuer: e.issuer }, e.keys);
          if (e.result === 'error') this.logger.warn({ issuer: e.issuer, trigger: e.trigger, error: e.error }, 'JWKS fetch failed; keeping last-known-good keys');
          else this.logger.debug({ issuer: e.issuer, trigger: e.trigger, keys: e.keys }, 'JWKS fetched');
          this.health.update();
        },
        onKeysChanged: (kids) => {
          this.snapshot?.authenticator.onKeysChanged(iss.issuer, kids);
          this.logger.info({ issuer: iss.issuer, keys: kids.size }, 'issuer key set changed');
        },
      });
      this.keys.set(iss.issuer, keys);
      if (keys.jwks && iss.keySource.kind === 'inline') this.metrics.jwksKeys.set({ issuer: iss.issuer }, keys.jwks.keyCount);
    }
    try {
      this.snapshot = buildSnapshot(config, this.keys, {
        cacheHit: () => this.metrics.tokenCacheHits.inc(),
        cacheMiss: () => this.metrics.tokenCacheMisses.inc(),
      }, 1);
      this.metrics.policyReload.inc({ result: 'success' });
    } catch (err) {
      this.metrics.policyReload.inc({ result: 'error' });
      throw err;
    }
    this.metrics.policiesLoaded.set(this.snapshot.policies.size);

    this.admin = await startAdminServer(config.server.admin, this.metrics.registry, () => this.ready, this.opts.adminRoutes);
    this.grpc = await startGrpcServer(config.server.grpc, (req, transport) => this.check(req, transport), this.health);
    this.httpAuthz = await startHttpAuthzServer(config.server.http, () => this.snapshot.config.http, (normalize) => this.decideRequest('http', normalize));
    for (const k of this.keys.values()) k.jwks?.start();
    this.metrics.ready.set(0);
    this.logger.info(
      { grpc: this.grpc.port, http: this.httpAuthz.port, admin: this.admin.port, issuers: config.issuers.length, policies: this.snapshot.policies.size },
      'zt-authz listening',
    );
    this.watchReadiness(config.server.readyTimeoutSeconds * 1000);
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
      if (!warned) {
        const missing = [...this.keys.entries()].filter(([, k]) => !k.ready).map(([i]) => i);
        this.logger.warn({ issuers: missing, waitedMs: timeoutMs }, 'not ready: issuer keys not loaded yet; still retrying in the background');
      }
      this.watchReadiness(Math.max(timeoutMs, 5000), true);
    });
  }

  /** gRPC adapter entry: never rejects, never returns OK on error. */
  async check(req: CheckRequest, transport: string): Promise<CheckResponse> {
    const { input, decision } = await this.decideRequest(transport, (limits) => normalizeCheckRequest(req, limits));
    return toCheckResponse(decision, input?.requestId);
  }

  /**
   * Transport-neutral entry for every adapter (gRPC, HTTP): normalize with the active snapshot's
   * limits, decide, record metrics + audit. Never rejects; any error is an internal_error deny.
   */
  async decideRequest(transport: string, normalize: (limits: Config['limits']) => Normalized): Promise<{ input: CheckInput | undefined; decision: Decision }> {
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
      }
    } catch {
      decision = deny('internal_error', `unexpected error in the ${transport} adapter`, snap);
    }
    this.observe(transport, input, decision, Number(process.hrtime.bigint() - started) / 1e9);
    return { input, decision };
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
      for (const k of this.keys.values()) k.jwks?.stop();
      await this.admin?.close();
    })();
    return this.shutdownPromise;
  }
}
