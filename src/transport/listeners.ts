// Every port zt-authz listens on, started and stopped together: the admin endpoint, the two authz
// listeners (gRPC ext_authz, HTTP/nginx) sharing the server.tls material and the in-flight gate,
// and the sidecar-injection webhook. The server.tls files are loaded first, so a bad file fails
// start-up before any port opens; on shutdown the authz listeners drain first and the admin
// endpoint closes last, so metrics and probes keep answering during the drain.
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { DecisionEngine } from '../decision/engine.js';
import type { Metrics } from '../observe/metrics.js';
import type { DecisionTracing } from '../observe/tracing/decision-tracing.js';
import type { HealthState } from './grpc/health.js';
import type { InFlightGate } from './inflight.js';
import { startGrpcServer } from './grpc/server.js';
import { startH2GrpcServer, type AuthzGrpcListener } from './grpc-h2/server.js';
import { grpcCheckHandler } from './grpc/check-adapter.js';
import { startAdminServer, type AdminListener, type Route } from './admin/server.js';
import { startHttpAuthzServer, type HttpAuthzListener } from './http/server.js';
import { startReportedTls } from './tls/report.js';
import type { TlsReloader } from './tls/reloader.js';
import { startWebhookServer, type WebhookListener } from '../webhook/server.js';

export interface ListenerWiring {
  /** The start-up configuration: server.* and webhook.* are restart-only. */
  config: Config;
  metrics: Metrics;
  logger: Logger;
  health: HealthState;
  /** limits.maxInFlight across both authz listeners. */
  gate: InFlightGate;
  engine: DecisionEngine;
  /** One span per decision when `tracing` is configured (hot-reloaded). */
  tracing?: DecisionTracing;
  /** Readiness for the admin /ready endpoint. */
  ready: () => boolean;
  /** The running snapshot's `http` settings (hot-reloaded). */
  http: () => Config['http'];
  /** Extra GET routes on the admin port (the demo serves its JWKS there). */
  adminRoutes?: Record<string, Route> | undefined;
}

export class Listeners {
  /** server.grpcImplementation: node:http2 (grpc-h2/, the default) or grpc-js; same interface. */
  private grpc?: AuthzGrpcListener;
  private httpAuthz?: HttpAuthzListener;
  private admin?: AdminListener;
  /** Sidecar-injection admission webhook (HTTPS), when webhook.enabled. */
  private webhook?: WebhookListener;
  /** server.tls material shared by both authz listeners, when configured. */
  private tls?: TlsReloader;

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

  /**
   * Start every listener, in order. A failure leaves the ones already started in place: the
   * caller's shutdown (drain, stopTls, close) stops them.
   */
  async start(w: ListenerWiring): Promise<void> {
    const { config } = w;
    if (config.server.tls) this.tls = startReportedTls(config, config.server.tls, w.metrics, w.logger);
    const tls = this.tls ? { tls: this.tls } : {};
    this.admin = await startAdminServer(config.server.admin, w.metrics.registry, w.ready, w.adminRoutes);
    const startGrpc = config.server.grpcImplementation === 'grpc-js' ? startGrpcServer : startH2GrpcServer;
    this.grpc = await startGrpc(config.server.grpc, grpcCheckHandler(w.engine, w.tracing), w.health, {
      gate: w.gate,
      maxReceiveBytes: config.server.grpcMaxReceiveBytes,
      ...tls,
    });
    this.httpAuthz = await startHttpAuthzServer(config.server.http, w.http, w.engine, {
      gate: w.gate,
      // A misconfigured proxy fails every request: warn with the setting to fix (rate-limited per message).
      warn: (facts, message) => w.logger.warn(facts, message),
      ...(w.tracing ? { tracing: w.tracing } : {}),
      ...tls,
    });
    this.tls?.start();
    if (config.webhook.enabled) this.webhook = await startWebhookServer(config.webhook, { logger: w.logger, registry: w.metrics.registry });
  }

  /** The ports and TLS mode, for the "zt-authz listening" line. */
  describe(): { grpc: number; http: number; admin: number; webhook?: number; tls: 'mtls' | 'tls' | 'off' } {
    return {
      grpc: this.grpcPort,
      http: this.httpPort,
      admin: this.adminPort,
      ...(this.webhook ? { webhook: this.webhook.port } : {}),
      tls: this.tls ? (this.tls.mutualTls ? 'mtls' : 'tls') : 'off',
    };
  }

  /**
   * Both authz listeners drain at once, within the same deadline: no new calls, in-flight ones
   * finish, the rest are cancelled at the deadline.
   */
  async drainAuthz(deadlineMs: number, logger: Logger): Promise<void> {
    await Promise.all([
      this.grpc?.drain(deadlineMs).then((how) => logger.info({ how }, 'gRPC server drained')),
      this.httpAuthz?.close(deadlineMs).then((how) => logger.info({ how }, 'HTTP authz server drained')),
    ]);
  }

  /** Stop watching the server.tls files. */
  stopTls(): void {
    this.tls?.stop();
  }

  /** Close the webhook and, last, the admin endpoint. */
  async close(): Promise<void> {
    await this.webhook?.close();
    await this.admin?.close();
  }
}
