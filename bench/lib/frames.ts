// Pre-encoded gRPC request frames: a CheckRequest shaped like the one Envoy sends (headers map,
// source/destination peers with SPIFFE principals, request time), encoded once with the
// project's protos (protoRoot()) and wrapped in the 5-byte gRPC length prefix.
import { writeFileSync } from 'node:fs';
import { protoRoot } from '../../src/transport/grpc/protos.js';
import type { CheckRequest } from '../../src/transport/grpc/messages.js';

export const CHECK_PATH_V3 = '/envoy.service.auth.v3.Authorization/Check';

export interface RequestShape {
  token?: string;
  method?: string;
  path?: string;
  host?: string;
  sourcePrincipal?: string;
  requestId?: string;
  /**
   * Envoy's B3 headers with the sampled flag set (default true). Without them, a tracing
   * sampleRatio decides alone: the caller's sampled flag would otherwise win.
   */
  traceHeaders?: boolean;
}

export const DEFAULT_HOST = 'orders.shop.svc.cluster.local';
export const DEFAULT_PATH = '/api/orders/42?view=full';
export const DEFAULT_SOURCE = 'spiffe://cluster.local/ns/shop/sa/frontend';

/** The CheckRequest Envoy sends for one downstream request (v3, `headers` map form). */
export function envoyCheckRequest(s: RequestShape = {}): CheckRequest {
  const method = s.method ?? 'GET';
  const path = s.path ?? DEFAULT_PATH;
  const host = s.host ?? DEFAULT_HOST;
  const requestId = s.requestId ?? '6f1c2b9e-1c8a-4c53-9d61-3f8e2a7b5c10';
  const headers: Record<string, string> = {
    ':authority': host,
    ':method': method,
    ':path': path,
    ':scheme': 'http',
    accept: 'application/json',
    'accept-encoding': 'gzip, deflate, br',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    'x-forwarded-proto': 'http',
    'x-request-id': requestId,
    'x-envoy-attempt-count': '1',
    'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
    'x-b3-spanid': 'e457b5a2e4d86bd1',
    'x-b3-sampled': '1',
    'x-forwarded-client-cert':
      'By=spiffe://cluster.local/ns/shop/sa/orders;Hash=4f1b2c;Subject="";URI=spiffe://cluster.local/ns/shop/sa/frontend',
  };
  if (s.traceHeaders === false) for (const name of Object.keys(headers)) if (name.startsWith('x-b3-')) delete headers[name];
  if (s.token !== undefined) headers.authorization = `Bearer ${s.token}`;
  return {
    attributes: {
      source: {
        address: { socketAddress: { address: '10.244.1.17', portValue: 48732 } },
        principal: s.sourcePrincipal ?? DEFAULT_SOURCE,
      },
      destination: {
        address: { socketAddress: { address: '10.244.2.9', portValue: 8080 } },
        principal: 'spiffe://cluster.local/ns/shop/sa/orders',
        labels: { app: 'orders', version: 'v1', 'security.istio.io/tlsMode': 'istio' },
      },
      request: {
        time: { seconds: Math.floor(Date.now() / 1000), nanos: 123000000 },
        http: { id: '9347569837248693429', method, headers, path, host, scheme: 'http', protocol: 'HTTP/1.1', size: -1 },
      },
      contextExtensions: {},
    },
  };
}

let checkRequestType: ReturnType<ReturnType<typeof protoRoot>['lookupType']> | undefined;

/** Protobuf bytes of a v3 CheckRequest. */
export function encodeCheckRequest(req: CheckRequest): Buffer {
  checkRequestType ??= protoRoot().lookupType('envoy.service.auth.v3.CheckRequest');
  const msg = checkRequestType.fromObject(req);
  return Buffer.from(checkRequestType.encode(msg).finish());
}

/** gRPC length-prefixed message: 1 byte compressed flag (0), 4 bytes big-endian length, message. */
export function grpcFrame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

export function writeFrame(file: string, shape: RequestShape): number {
  const frame = grpcFrame(encodeCheckRequest(envoyCheckRequest(shape)));
  writeFileSync(file, frame);
  return frame.length;
}

/** Many frames back to back in one file (each self-delimited by its length prefix). */
export function writeFrames(file: string, shapes: Iterable<RequestShape>): { count: number; bytes: number } {
  const parts: Buffer[] = [];
  let bytes = 0;
  for (const s of shapes) {
    const f = grpcFrame(encodeCheckRequest(envoyCheckRequest(s)));
    parts.push(f);
    bytes += f.length;
  }
  writeFileSync(file, Buffer.concat(parts, bytes));
  return { count: parts.length, bytes };
}

/** Inverse of writeFrames. */
export function splitFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 5 <= buf.length) {
    const len = buf.readUInt32BE(off + 1);
    out.push(buf.subarray(off, off + 5 + len));
    off += 5 + len;
  }
  return out;
}
