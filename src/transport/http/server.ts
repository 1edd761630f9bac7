// HTTP authorization listener (server.http): Envoy `http_service` and nginx `auth_request` /
// ingress-nginx `auth-url`. A thin adapter: request → normalizeHttpRequest → the App's
// transport-neutral decideRequest → toHttpResponse. Bounded: header bytes, body bytes (read and
// discarded, never used), header and request timeouts. Every path ends in a response that is
// not an allow unless decide() allowed; protocol errors get a 4xx, never a 5xx (see response.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NormalizeLimits, Normalized } from '../../decision/normalize.js';
import type { CheckInput, Decision } from '../../decision/types.js';
import { listenOn } from '../address.js';
import { normalizeHttpRequest, requestMode, type HttpMode, type HttpOptions, type HttpRequestView } from './normalize.js';
import { toHttpResponse, type HttpAuthzResponse } from './response.js';

/** The App's decideRequest bound to the `http` transport label. */
export type HttpDecide = (normalize: (limits: NormalizeLimits) => Normalized) => Promise<{ input: CheckInput | undefined; decision: Decision }>;

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

export async function startHttpAuthzServer(address: string, options: () => HttpOptions, decide: HttpDecide): Promise<HttpAuthzListener> {
  let draining = false;

  const authorize = async (view: HttpRequestView, rejectDetail?: string): Promise<{ mode: HttpMode; response: HttpAuthzResponse }> => {
    const opts = options();
    const mode = requestMode(view.url, opts);
    const { input, decision } = await decide((limits) => (rejectDetail ? { ok: false, detail: rejectDetail } : normalizeHttpRequest(view, opts, limits, mode)));
    return { mode, response: toHttpResponse(decision, mode, input?.requestId) };
  };

  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      noDelay: true,
    },
    (req, res) => handle(req, res),
  );
  // Node drops headers beyond maxHeadersCount silently, which could hide a second credential.
  // Unlimited here: maxHeaderSize bounds the count, and normalize enforces limits.maxHeaders.
  server.maxHeadersCount = 0;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const view: HttpRequestView = { method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders };
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

  async function reply(req: IncomingMessage, res: ServerResponse, view: HttpRequestView, rejectDetail: string | undefined, close: boolean): Promise<void> {
    const { response } = await authorize(view, rejectDetail);
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = { ...response.headers, 'content-length': Buffer.byteLength(response.body) };
    if (close || draining) headers.connection = 'close';
    try {
      res.writeHead(response.status, headers);
      res.end(req.method === 'HEAD' ? undefined : response.body);
    } catch {
      res.destroy(); // unreachable: response.ts only emits valid header values
    }
    if (close) res.once('finish', () => req.socket.destroySoon());
  }

  // CONNECT has no origin-form path: deny it as malformed instead of Node's silent close.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    void authorize({ method: req.method ?? 'CONNECT', url: req.url ?? '', rawHeaders: req.rawHeaders }).then(({ response }) => writeRaw(socket, response));
  });

  // Parse errors and oversized headers: record a malformed_request deny, answer 4xx, close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    socket.on('error', () => undefined);
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return void socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    const detail = err.code === 'HPE_HEADER_OVERFLOW' ? `request headers over ${MAX_HEADER_BYTES} bytes` : 'unparsable HTTP request';
    void authorize({ method: '', url: '', rawHeaders: [] }, detail).then(({ response }) => writeRaw(socket, response));
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
