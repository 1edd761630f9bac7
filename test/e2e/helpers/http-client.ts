// Raw HTTP/1.1 helpers for the HTTP-transport tests: arbitrary methods, Host and repeated headers
// (fetch forbids several of these), and a replay of Envoy's ext_authz `http_service` behaviour.
import { request } from 'node:http';
import { connect } from 'node:net';
import { matches, type EnvoyHttpService } from './docs-snippets.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface SendOptions {
  method?: string;
  path: string;
  /** Sent in this order; repeats allowed. Include `host` to override it. */
  headers?: Array<[string, string]>;
  body?: string | Buffer;
  timeoutMs?: number;
}

export function send(port: number, o: SendOptions): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const flat: string[] = [];
    const headers = o.headers ?? [];
    if (!headers.some(([k]) => k.toLowerCase() === 'host')) flat.push('host', `127.0.0.1:${port}`);
    for (const [k, v] of headers) flat.push(k, v);
    const req = request(
      { host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers: flat, agent: false, timeout: o.timeoutMs ?? 10000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode ?? 0, headers: h, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Write raw bytes, return everything the server sends until it closes (or timeoutMs). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const sock = connect(port, '127.0.0.1', () => sock.write(data));
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (out += d));
    sock.on('error', () => undefined);
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

export interface ClientRequest {
  method: string;
  path: string;
  host: string;
  headers: Record<string, string>;
}

export type EnvoyOutcome =
  | { kind: 'allow'; authStatus: number; upstreamHeaders: Record<string, string> }
  | { kind: 'deny'; authStatus: number; status: number; clientHeaders: Record<string, string>; body: string }
  | { kind: 'error'; authStatus: number; allowedByFailureMode: boolean };

/**
 * What Envoy's ext_authz filter does in `http_service` mode (Envoy's ext_authz filter docs, "HTTP (non-gRPC)
 * ext_authz mode"): it sends the original method and path_prefix + path with Host, Content-Length,
 * Authorization and the allowed_headers matches; exactly 200 allows (allowed_upstream_headers are
 * copied, x-envoy-auth-headers-to-remove are removed); 5xx is an error; anything else denies.
 */
export async function envoyCheck(cfg: EnvoyHttpService, ztPort: number, req: ClientRequest): Promise<EnvoyOutcome> {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) lower[k.toLowerCase()] = v;
  const sent: Array<[string, string]> = [
    ['host', req.host],
    ['content-length', '0'],
  ];
  if (lower.authorization !== undefined) sent.push(['authorization', lower.authorization]);
  for (const [k, v] of Object.entries(lower)) {
    if (k === 'authorization' || k === 'host' || k === 'content-length') continue;
    if (cfg.allowedHeaders.some((m) => matches(m, k))) sent.push([k, v]);
  }
  const res = await send(ztPort, { method: req.method, path: `${cfg.pathPrefix}${req.path}`, headers: sent, body: '' });
  if (res.status >= 500) return { kind: 'error', authStatus: res.status, allowedByFailureMode: cfg.failureModeAllow };
  if (res.status !== 200) {
    const clientHeaders = { ...res.headers };
    delete clientHeaders.host;
    return { kind: 'deny', authStatus: res.status, status: res.status, clientHeaders, body: res.body };
  }
  const upstream: Record<string, string> = { ...lower, host: req.host };
  for (const [k, v] of Object.entries(res.headers)) if (cfg.allowedUpstreamHeaders.some((m) => matches(m, k))) upstream[k] = v;
  for (const name of (res.headers['x-envoy-auth-headers-to-remove'] ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)) {
    delete upstream[name];
  }
  return { kind: 'allow', authStatus: res.status, upstreamHeaders: upstream };
}
