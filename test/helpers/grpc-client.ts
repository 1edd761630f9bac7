// gRPC clients built from proto/ (the same definitions the server loads) plus a builder for the
// CheckRequest shape Envoy sends.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AuthV2Client, AuthV3Client, HealthClient } from '../../src/transport/grpc/protos.js';
import type { CheckRequest, CheckResponse, HealthCheckResponse } from '../../src/transport/grpc/messages.js';

type UnaryCallback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;
type Unary<Req, Res> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, cb: UnaryCallback<Res>) => grpc.ClientUnaryCall;

export interface AuthClient extends grpc.Client {
  Check: Unary<CheckRequest, CheckResponse>;
}

export interface HealthCheckClient extends grpc.Client {
  Check: Unary<{ service?: string }, HealthCheckResponse>;
  Watch(req: { service?: string }, options?: grpc.CallOptions): grpc.ClientReadableStream<HealthCheckResponse>;
}

const target = (port: number): string => `127.0.0.1:${port}`;

export function authV3Client(port: number): AuthClient {
  const Ctor = AuthV3Client();
  return new Ctor(target(port), grpc.credentials.createInsecure()) as unknown as AuthClient;
}

export function authV2Client(port: number): AuthClient {
  const Ctor = AuthV2Client();
  return new Ctor(target(port), grpc.credentials.createInsecure()) as unknown as AuthClient;
}

export function healthClient(port: number): HealthCheckClient {
  const Ctor = HealthClient();
  return new Ctor(target(port), grpc.credentials.createInsecure()) as unknown as HealthCheckClient;
}

const deadline = (ms: number): grpc.CallOptions => ({ deadline: new Date(Date.now() + ms) });

/** Authorization/Check (v3 or v2, depending on the client). Rejects with the grpc.ServiceError. */
export function check(client: AuthClient, request: CheckRequest, timeoutMs = 5000): Promise<CheckResponse> {
  return new Promise((resolve, reject) => {
    client.Check(request, new grpc.Metadata(), deadline(timeoutMs), (err, res) => (err ? reject(err) : resolve(res ?? {})));
  });
}

export function healthCheck(client: HealthCheckClient, service = '', timeoutMs = 5000): Promise<HealthCheckResponse> {
  return new Promise((resolve, reject) => {
    client.Check({ service }, new grpc.Metadata(), deadline(timeoutMs), (err, res) => (err ? reject(err) : resolve(res ?? {})));
  });
}

export interface HealthWatch {
  /** Every status received so far, in order. */
  readonly statuses: string[];
  /** Resolves when a status equal to `status` has been received (already or later). */
  waitFor(status: string, timeoutMs?: number): Promise<void>;
  /** Cancel the stream (the server sees the call end). */
  cancel(): void;
}

/** Open a Watch stream and record the statuses it delivers. */
export function healthWatch(client: HealthCheckClient, service = ''): HealthWatch {
  const statuses: string[] = [];
  const waiters = new Set<() => void>();
  const call = client.Watch({ service });
  call.on('data', (m: HealthCheckResponse) => {
    statuses.push(String(m.status));
    for (const w of [...waiters]) w();
  });
  call.on('error', () => undefined); // CANCELLED on cancel(), UNAVAILABLE on server shutdown
  return {
    statuses,
    waitFor(status, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): boolean => {
          if (!statuses.includes(status)) return false;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`health Watch: no ${status} within ${timeoutMs} ms (got ${statuses.join(', ') || 'nothing'})`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    cancel() {
      call.cancel();
    },
  };
}

export interface CheckRequestOptions {
  method?: string;
  /** Path including the query string, as Envoy sends it. */
  path?: string;
  host?: string;
  /** Request headers (names are lower-cased). Set `authorization` here, or use `token`. */
  headers?: Record<string, string>;
  /** Shortcut for `authorization: Bearer <token>`. */
  token?: string;
  /**
   * encode_raw_headers: send `headerMap` entries (repeats allowed) instead of the `headers` map.
   * Pseudo-headers are added as in the map form.
   */
  headerMap?: Array<[string, string]>;
  /** x-request-id header; a random one by default (pass '' to omit). */
  requestId?: string;
  /** Envoy's internal stream id (`http.id`). */
  id?: string;
  protocol?: string;
  scheme?: string;
  sourcePrincipal?: string;
  sourceAddress?: string;
  sourcePort?: number;
  destinationPrincipal?: string;
  destinationAddress?: string;
  destinationPort?: number;
  contextExtensions?: Record<string, string>;
}

export function randomRequestId(): string {
  return randomBytes(8).toString('hex');
}

/** A CheckRequest shaped like Envoy's (attributes.source/destination/request.http). */
export function checkRequest(o: CheckRequestOptions = {}): CheckRequest {
  const method = o.method ?? 'GET';
  const path = o.path ?? '/orders/42?view=full';
  const host = o.host ?? 'orders.shop.svc.cluster.local';
  const requestId = o.requestId ?? randomRequestId();
  const pseudo: Array<[string, string]> = [
    [':method', method],
    [':path', path],
    [':authority', host],
    [':scheme', o.scheme ?? 'http'],
  ];
  const extra: Array<[string, string]> = [
    ['user-agent', 'zt-authz-test'],
    ...(requestId ? ([['x-request-id', requestId]] as Array<[string, string]>) : []),
    ...(o.token !== undefined ? ([['authorization', `Bearer ${o.token}`]] as Array<[string, string]>) : []),
  ];
  const http: NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']> = {
    id: o.id ?? String(Math.floor(Math.random() * 1e15)),
    method,
    path,
    host,
    scheme: o.scheme ?? 'http',
    protocol: o.protocol ?? 'HTTP/1.1',
    size: -1,
  };
  if (o.headerMap) {
    const entries = [...pseudo, ...extra, ...o.headerMap.map(([k, v]) => [k.toLowerCase(), v] as [string, string])];
    http.headerMap = { headers: entries.map(([key, value]) => ({ key, rawValue: Buffer.from(value, 'utf8') })) };
  } else {
    const headers: Record<string, string> = {};
    for (const [k, v] of [...pseudo, ...extra]) headers[k] = v;
    for (const [k, v] of Object.entries(o.headers ?? {})) headers[k.toLowerCase()] = v;
    http.headers = headers;
  }
  return {
    attributes: {
      source: {
        address: { socketAddress: { address: o.sourceAddress ?? '10.1.2.3', portValue: o.sourcePort ?? 45678 } },
        ...(o.sourcePrincipal ? { principal: o.sourcePrincipal } : {}),
      },
      destination: {
        address: { socketAddress: { address: o.destinationAddress ?? '10.4.5.6', portValue: o.destinationPort ?? 8080 } },
        ...(o.destinationPrincipal ? { principal: o.destinationPrincipal } : {}),
      },
      request: { time: { seconds: Math.floor(Date.now() / 1000), nanos: 0 }, http },
      contextExtensions: o.contextExtensions ?? {},
    },
  };
}

/** Header value from a HeaderValueOption list (first match, case-insensitive). */
export function headerValue(
  headers: Array<{ header?: { key?: string; value?: string } | null }> | undefined,
  name: string,
): string | undefined {
  const h = (headers ?? []).find((x) => x.header?.key?.toLowerCase() === name.toLowerCase());
  return h?.header?.value;
}

export function closeAll(...clients: grpc.Client[]): void {
  for (const c of clients) c.close();
}
