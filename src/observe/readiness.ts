// Start-up readiness reporting: log once when issuer keys are still missing after
// server.readyTimeoutSeconds, then keep watching quietly. The JWKS managers retry with backoff on
// their own; this only reports (log line, ready gauge, gRPC health).
import type { Logger } from 'pino';
import type { IssuerKeys } from '../authn/key-resolvers.js';

export interface ReadinessWatch {
  logger: Logger;
  /** The current issuers' key resolvers (they change on reload). */
  keys: () => Iterable<[string, IssuerKeys]>;
  ready: () => boolean;
  draining: () => boolean;
  /** Kubernetes resources still being listed: their onSynced reports readiness instead. */
  awaitingKubernetes: () => boolean;
  /** Re-evaluate health and the ready gauge. */
  update: () => void;
}

export function watchReadiness(w: ReadinessWatch, timeoutMs: number, warned = false): void {
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
      w.logger.warn({ issuers: missing, waitedMs: timeoutMs }, 'not ready: issuer keys not loaded yet; still retrying in the background');
    }
    watchReadiness(w, Math.max(timeoutMs, 5000), true);
  });
}
