// Request files for `zt-authz check` (and the conformance suite, which uses the same format):
// either an Envoy CheckRequest in protobuf JSON (camelCase or snake_case field names) or a short
// form that reads like a request:
//   method: GET
//   path: /orders/42?x=1
//   host: orders.shop.svc
//   headers: { x-env: prod }
//   source: { principal: spiffe://cluster.local/ns/shop/sa/frontend, address: 10.0.0.7 }
//   destination: { principal: spiffe://cluster.local/ns/shop/sa/orders, port: 8080, labels: { app: orders } }
//   contextExtensions: { namespace: shop }
//   sni: orders.shop.svc
import type { CheckRequest } from '../transport/grpc/messages.js';
import { InvalidArgumentError } from '../errors.js';

export interface ShortPeer {
  principal?: string;
  address?: string;
  port?: number;
  labels?: Record<string, string>;
}

export interface ShortRequest {
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  source?: ShortPeer;
  destination?: ShortPeer;
  contextExtensions?: Record<string, string>;
  sni?: string;
}

/** Map keys whose *contents* are data (header names, labels), never field names. */
const DATA_MAPS = new Set(['headers', 'labels', 'contextExtensions', 'context_extensions', 'filterMetadata', 'filter_metadata']);

function camel(obj: unknown): unknown {
  if (Array.isArray(obj)) return obj.map(camel);
  if (!obj || typeof obj !== 'object') return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    out[key] = DATA_MAPS.has(k) ? v : camel(v);
  }
  return out;
}

/** Either form → the CheckRequest object shape the gRPC adapter receives. */
export function toCheckRequest(doc: unknown, token?: string): CheckRequest {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidArgumentError('request file must be a mapping');
  let req: CheckRequest;
  if ('attributes' in doc) {
    req = camel(doc) as CheckRequest;
  } else {
    const s = doc as ShortRequest;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.headers ?? {})) headers[k.toLowerCase()] = String(v);
    const peer = (p: ShortPeer | undefined) => ({
      ...(p?.address || p?.port ? { address: { socketAddress: { address: p.address ?? '', portValue: p.port ?? 0 } } } : {}),
      ...(p?.principal ? { principal: p.principal } : {}),
      labels: p?.labels ?? {},
    });
    req = {
      attributes: {
        source: peer(s.source),
        destination: peer(s.destination),
        request: { http: { method: s.method ?? 'GET', path: s.path ?? '/', host: s.host ?? '', headers } },
        contextExtensions: s.contextExtensions ?? {},
        ...(s.sni ? { tlsSession: { sni: s.sni } } : {}),
      },
    };
  }
  if (token !== undefined) {
    const http = req.attributes?.request?.http;
    if (!http) throw new InvalidArgumentError('request has no attributes.request.http to add the token to');
    http.headers = { ...(http.headers ?? {}), authorization: `Bearer ${token}` };
  }
  return req;
}
