// Admin HTTP listener: /metrics (Prometheus), /healthz (process alive), /readyz (can decide).
// Extra routes (the demo JWKS; the demo's introspection endpoint, which RFC 7662 has answer POST)
// can be mounted by the caller.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { listenOn } from '../address.js';

/** `acceptsPost`: the route answers POST too (every other route answers GET and HEAD only). */
export type Route = ((req: IncomingMessage, res: ServerResponse) => void) & { acceptsPost?: true };

export interface AdminListener {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startAdminServer(
  address: string,
  registry: Registry,
  ready: () => boolean,
  extraRoutes: Record<string, Route> = {},
): Promise<AdminListener> {
  const routes: Record<string, Route> = {
    '/metrics': (_req, res) => {
      registry.metrics().then(
        (body) => send(res, 200, registry.contentType, body),
        () => send(res, 500, 'text/plain', 'metrics unavailable\n'),
      );
    },
    '/healthz': (_req, res) => send(res, 200, 'text/plain', 'ok\n'),
    '/readyz': (_req, res) => (ready() ? send(res, 200, 'text/plain', 'ready\n') : send(res, 503, 'text/plain', 'not ready\n')),
    ...extraRoutes,
  };
  const server = createServer((req, res) => {
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
      const postOk = req.method === 'POST' && route?.acceptsPost === true;
      if (req.method !== 'GET' && req.method !== 'HEAD' && !postOk) return send(res, 405, 'text/plain', 'method not allowed\n');
      if (!route) return send(res, 404, 'text/plain', 'not found\n');
      route(req, res);
    } catch {
      send(res, 500, 'text/plain', 'internal error\n');
    }
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 10000;
  const boundPort = await listenOn(server, address);
  return {
    server,
    port: boundPort,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
