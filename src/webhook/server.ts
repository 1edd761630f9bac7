// HTTPS listener of the sidecar-injection webhook (webhook.address). The API server only calls
// admission webhooks over TLS; the certificate and key come from files (a Kubernetes Secret
// volume) and are re-read periodically, so a rotated Secret is picked up without a restart.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { listenOn } from '../transport/address.js';
import { KeyError } from '../errors.js';
import type { WebhookConfig } from '../config/webhook.js';
import { handleAdmissionReview, podRef } from './inject.js';

/** The API server caps request objects at 3 MiB; an AdmissionReview carries up to two of them. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface WebhookListener {
  server: Server;
  port: number;
  /** Re-read the certificate files now (also done every reloadMs). */
  reloadCert(): boolean;
  close(): Promise<void>;
}

export interface WebhookServerOptions {
  logger: Logger;
  registry?: Registry;
  /** How often the certificate files are re-read; default 30 s. */
  reloadMs?: number;
}

function readPair(cfg: WebhookConfig): { cert: string; key: string } {
  return { cert: readFileSync(cfg.certFile, 'utf8'), key: readFileSync(cfg.keyFile, 'utf8') };
}

export async function startWebhookServer(cfg: WebhookConfig, opts: WebhookServerOptions): Promise<WebhookListener> {
  const { logger } = opts;
  const reviews = new Counter({
    name: 'zt_authz_webhook_reviews_total',
    help: 'Sidecar-injection admission reviews by outcome (injected, not_requested, already_injected, ignored, rejected, failed_open, malformed)',
    labelNames: ['outcome'] as const,
    registers: opts.registry ? [opts.registry] : [],
  });
  let current: { cert: string; key: string };
  try {
    current = readPair(cfg);
  } catch (err) {
    throw new KeyError(`webhook: cannot read certFile/keyFile: ${(err as Error).message}`);
  }

  const server = createServer({ ...current, minVersion: 'TLSv1.2' }, (req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== cfg.path) return send(res, 404, { error: 'not_found', message: `the webhook is served at ${cfg.path}` });
    if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed', message: 'POST an AdmissionReview' });
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) {
          reviews.inc({ outcome: 'malformed' });
          res.setHeader('connection', 'close');
          return send(res, 413, { error: 'malformed_admission_review', message: `body larger than ${MAX_BODY_BYTES} bytes` });
        }
        chunks.push(chunk as Buffer);
      }
    } catch {
      return; // client went away
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      reviews.inc({ outcome: 'malformed' });
      logger.warn({ err: (err as Error).message }, 'webhook: body is not JSON');
      return send(res, 400, { error: 'malformed_admission_review', message: `body is not JSON: ${(err as Error).message}` });
    }
    let result;
    try {
      result = handleAdmissionReview(parsed, cfg);
    } catch (err) {
      // handleAdmissionReview does not throw; this is a last line of defence. A 500 makes the
      // API server apply the MutatingWebhookConfiguration failurePolicy.
      logger.error({ err: (err as Error).message }, 'webhook: unexpected error');
      return send(res, 500, { error: 'internal_error', message: 'unexpected error in the webhook' });
    }
    reviews.inc({ outcome: result.outcome });
    const fields = { pod: podRef(parsed), outcome: result.outcome, ...(result.detail ? { detail: result.detail } : {}) };
    if (result.outcome === 'injected') logger.info(fields, 'webhook: zt-authz sidecar injected');
    else if (result.outcome === 'rejected' || result.outcome === 'failed_open' || result.outcome === 'malformed')
      logger.warn(fields, 'webhook: injection not possible');
    else logger.debug(fields, 'webhook: no injection');
    send(res, result.status, result.body);
  }

  const reloadCert = (): boolean => {
    let next: { cert: string; key: string };
    try {
      next = readPair(cfg);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'webhook: cannot re-read the certificate; keeping the current one');
      return false;
    }
    if (next.cert === current.cert && next.key === current.key) return false;
    try {
      server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'webhook: new certificate/key rejected; keeping the current one');
      return false;
    }
    current = next;
    logger.info('webhook: certificate reloaded');
    return true;
  };
  const timer = setInterval(reloadCert, opts.reloadMs ?? 30_000);
  timer.unref();

  const boundPort = await listenOn(server, cfg.address).catch((err: unknown) => {
    clearInterval(timer);
    throw err;
  });
  return {
    server,
    port: boundPort,
    reloadCert,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.close(() => resolve());
        server.closeIdleConnections();
        // The API server keeps connections alive; do not let them hold shutdown.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}
