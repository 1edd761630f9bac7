// HTTP authorization listener (server.http): Envoy `http_service` and nginx `auth_request` /
// ingress-nginx `auth-url`. A thin adapter: request → normalizeHttpRequest → the decision engine
// → toHttpResponse. Bounded: header bytes, body bytes (read and
// discarded, never used), header and request timeouts. Every path ends in a response that is
// not an allow unless decide() allowed; protocol errors get a 4xx, never a 5xx (see response.ts).
// With server.tls it is an HTTPS server whose certificate follows the reloader (setSecureContext).
// Past limits.maxInFlight a request gets 429 without being decided (see ../inflight.ts).
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Decision } from '../../decision/decision.js';
import type { CheckEngine, NormalizeStep } from '../../decision/engine.js';
import { withoutQueryRemoval } from '../../decision/removable.js';
import { listenOn } from '../address.js';
import {
  normalizeHttpRequest,
  requestMode,
  type HttpMode,
  type HttpOptions,
  type HttpRequestView,
  type MisconfigWarn,
} from './normalize.js';
import { failClosed, toHttpResponse, type HttpAuthzResponse } from './response.js';
import type { InFlightGate } from '../inflight.js';
import type { DecisionTracing } from '../../observe/tracing/decision-tracing.js';
import { HEADERS_GETTER } from '../../observe/tracing/propagation.js';
import type { TlsReloader } from '../tls/reloader.js';
import type { TlsMaterial } from '../tls/files.js';

export interface HttpAuthzListener {
  server: Server;
  port: number;
  /** Stop accepting, let in-flight requests finish, force-close after `deadlineMs`. */
  close(deadlineMs: number): Promise<'graceful' | 'forced'>;
}

/** Request line + headers. Covers a maximal token (8 KiB) plus a maximal path twice (URI + URL headers). */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Bodies are never used (do not configure Envoy `with_request_body`); up to this much is discarded. */
export const MAX_BODY_BYTES = 64 * 1024;
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/** Longer than nginx's (60 s) and typical Envoy upstream idle timeouts, so the proxy closes first. */
export const KEEP_ALIVE_TIMEOUT_MS = 75_000;
/** TLS handshake deadline (Node's default is 120 s): a silent client cannot hold a socket longer. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface HttpAuthzServerOptions {
  /** HTTPS (and mTLS when the reloader has a client CA); plain HTTP when absent. */
  tls?: TlsReloader;
  /** In-flight bound shared with the gRPC listener (limits.maxInFlight). */
  gate?: InFlightGate;
  /** Denies that name a proxy setting to fix (the App's rate-limited ops logger). */
  warn?: MisconfigWarn;
  /** One span per decision when tracing is on; the trace context is in the request's own headers. */
  tracing?: DecisionTracing;
}

/**
 * A shed request. 429, not 503: Envoy's http_service treats a 5xx as an authorization *error*,
 * which `failure_mode_allow: true` would turn into an allow; 429 is a deny under every Envoy
 * setting and tells the client to retry. (nginx auth_request turns any status but 2xx/401/403
 * into a 500 for the client: still denied, and visible in nginx's error log.)
 */
const SHED_BODY = JSON.stringify({ error: 'overloaded', message: 'too many authorization checks in flight; retry later' });
const SHED_HEADERS: Readonly<Record<string, string | number>> = Object.freeze({
  'cache-control': 'no-store',
  'content-type': 'application/json',
  'retry-after': '1',
  'content-length': Buffer.byteLength(SHED_BODY),
});

/**
 * `engine` decides under the `http` transport label; the listener calls `record` exactly once
 * with the decision it actually answered (after writing the response), so metrics and audit never
 * say allow for a request that got a fail-closed deny.
 */
export async function startHttpAuthzServer(
  address: string,
  options: () => HttpOptions,
  engine: CheckEngine,
  extra: HttpAuthzServerOptions = {},
): Promise<HttpAuthzListener> {
  let draining = false;
  const { gate, tls, warn, tracing } = extra;

  const authorize = async (
    view: HttpRequestView,
    rejectDetail?: string,
    headers?: IncomingHttpHeaders,
  ): Promise<{ mode: HttpMode; requestId: string | undefined; response: HttpAuthzResponse; record: (answered: Decision) => void }> => {
    const opts = options();
    const mode = requestMode(view.url, opts);
    const normalize: NormalizeStep = (limits) =>
      rejectDetail ? { ok: false, detail: rejectDetail } : normalizeHttpRequest(view, opts, limits, mode, warn);
    const pending = await (tracing?.enabled
      ? tracing.check(engine, 'http', normalize, headers, HEADERS_GETTER)
      : engine.check('http', normalize));
    const { input, record } = pending;
    // HTTP mode cannot remove query parameters: a credential sent in one is denied, not forwarded.
    const decision = withoutQueryRemoval(pending.decision, engine.snapshot);
    let response: HttpAuthzResponse;
    try {
      response = toHttpResponse(decision, mode, input?.requestId, input?.headers.cookie);
    } catch {
      response = failClosed(decision, mode, input?.requestId, 'the HTTP response could not be built');
    }
    return { mode, requestId: input?.requestId, response, record };
  };

  const httpOptions: ServerOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    noDelay: true,
    // Node would answer an HTTP/1.1 request without Host with its own bare 400, which is neither
    // shaped (reason code, JSON body) nor counted nor audited; normalize denies it instead.
    requireHostHeader: false,
  };
  const server: Server = tls
    ? createHttpsServer(
        {
          ...httpOptions,
          ...secureContextOptions(tls.current),
          // mTLS: a client certificate is required and must chain to clientCaFile.
          requestCert: tls.mutualTls,
          rejectUnauthorized: tls.mutualTls,
          handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
        },
        (req, res) => handle(req, res),
      )
    : createServer(httpOptions, (req, res) => handle(req, res));
  if (tls) {
    const https = server as HttpsServer;
    tls.onChange((m) => https.setSecureContext(secureContextOptions(m)));
    // Failed handshakes (no or untrusted client certificate, plaintext on the TLS port): the
    // socket is closed by Node; nothing to answer.
    https.on('tlsClientError', (_err, socket) => socket.destroy());
  }
  // Node drops headers beyond maxHeadersCount silently, which could hide a second credential.
  // Unlimited here: maxHeaderSize bounds the count, and normalize enforces limits.maxHeaders.
  server.maxHeadersCount = 0;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const view: HttpRequestView = {
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      httpVersion: req.httpVersion,
    };
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return void reply(req, res, view, `request body over ${MAX_BODY_BYTES} bytes`, true);
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES && !over) {
        over = true;
        req.pause();
        void reply(req, res, view, `request body over ${MAX_BODY_BYTES} bytes`, true);
      }
    });
    req.on('end', () => {
      if (!over) void reply(req, res, view, undefined, false);
    });
  }

  async function reply(
    req: IncomingMessage,
    res: ServerResponse,
    view: HttpRequestView,
    rejectDetail: string | undefined,
    close: boolean,
  ): Promise<void> {
    if (gate && !gate.enter('http')) return shed(req, res, close);
    let authorized: Awaited<ReturnType<typeof authorize>>;
    try {
      authorized = await authorize(view, rejectDetail, req.headers);
    } finally {
      gate?.leave();
    }
    const { mode, requestId, record } = authorized;
    let response = authorized.response;
    if (res.headersSent || res.destroyed) return record(response.decision); // the client left: nothing was answered
    if (!write(req, res, response, close)) {
      // Node refused the response (a header value it cannot send). Answer the fail-closed deny
      // instead, and record that: it is what the proxy got. If even that fails, the connection
      // is dropped, which the proxy treats as a denied check (failure_mode_allow: false).
      response = failClosed(response.decision, mode, requestId, 'the HTTP response could not be written');
      if (!write(req, res, response, close)) res.destroy();
    }
    record(response.decision);
    if (close) res.once('finish', () => req.socket.destroySoon());
  }

  /** Writes one response; false when Node refused it before sending anything. */
  function write(req: IncomingMessage, res: ServerResponse, response: HttpAuthzResponse, close: boolean): boolean {
    const headers: Record<string, string | number> = { ...response.headers, 'content-length': Buffer.byteLength(response.body) };
    if (close || draining) headers.connection = 'close';
    try {
      res.writeHead(response.status, headers);
    } catch {
      return false;
    }
    res.end(req.method === 'HEAD' ? undefined : response.body);
    return true;
  }

  function shed(req: IncomingMessage, res: ServerResponse, close: boolean): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(429, close || draining ? { ...SHED_HEADERS, connection: 'close' } : SHED_HEADERS);
    res.end(SHED_BODY);
    if (close) res.once('finish', () => req.socket.destroySoon());
  }

  // CONNECT has no origin-form path: deny it as malformed instead of Node's silent close.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    void authorize({ method: req.method ?? 'CONNECT', url: req.url ?? '', rawHeaders: req.rawHeaders }, undefined, req.headers).then(
      ({ response, record }) => {
        writeRaw(socket, response);
        record(response.decision);
      },
    );
  });

  // Parse errors and oversized headers: record a malformed_request deny, answer 4xx, close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    socket.on('error', () => undefined);
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
      return void socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    const detail = err.code === 'HPE_HEADER_OVERFLOW' ? `request headers over ${MAX_HEADER_BYTES} bytes` : 'unparsable HTTP request';
    void authorize({ method: '', url: '', rawHeaders: [] }, detail).then(({ response, record }) => {
      writeRaw(socket, response);
      record(response.decision);
    });
  });

  const boundPort = await listenOn(server, address);
  return {
    server,
    port: boundPort,
    close: (deadlineMs) =>
      new Promise((resolve) => {
        draining = true;
        let forced = false;
        const idle = setInterval(() => server.closeIdleConnections(), 100);
        const timer = setTimeout(() => {
          forced = true;
          server.closeAllConnections();
        }, deadlineMs);
        server.close(() => {
          clearInterval(idle);
          clearTimeout(timer);
          resolve(forced ? 'forced' : 'graceful');
        });
        server.closeIdleConnections();
      }),
  };
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden' };

function writeRaw(socket: Duplex, r: HttpAuthzResponse): void {
  if (!socket.writable) return void socket.destroy();
  const lines = [`HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Denied'}`];
  for (const [k, v] of Object.entries(r.headers)) lines.push(`${k}: ${v}`);
  lines.push(`content-length: ${Buffer.byteLength(r.body)}`, 'connection: close');
  socket.end(`${lines.join('\r\n')}\r\n\r\n${r.body}`);
}

function secureContextOptions(m: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer } {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
}
