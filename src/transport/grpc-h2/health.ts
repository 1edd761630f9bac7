// grpc.health.v1.Health over node:http2: Check (unary) and Watch (server streaming), answering
// from the same HealthState as the grpc-js server, so both report the same status and a drain
// ends both servers' watches.
import type { ServerHttp2Stream } from 'node:http2';
import type protobuf from 'protobufjs';
import { protoRoot } from '../grpc/protos.js';
import { HEALTH_SERVICES, type HealthState, type HealthStatus } from '../grpc/health.js';
import { GrpcStatus, endOk, frameMessage, sendMessageHeaders, sendUnary, writable, type GrpcError } from './status.js';

/** grpc.health.v1.HealthCheckResponse.ServingStatus numbers. */
const SERVING_STATUS = { SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

let types: { req: protobuf.Type; res: protobuf.Type } | undefined;
function healthTypes(): { req: protobuf.Type; res: protobuf.Type } {
  types ??= {
    req: protoRoot().lookupType('grpc.health.v1.HealthCheckRequest'),
    res: protoRoot().lookupType('grpc.health.v1.HealthCheckResponse'),
  };
  return types;
}

/** The requested service name; throws on bytes that are not a HealthCheckRequest. */
function serviceOf(message: Buffer): string {
  const req = healthTypes().req.decode(message) as unknown as { service?: string };
  return req.service ?? '';
}

function encodeStatus(status: keyof typeof SERVING_STATUS): Uint8Array {
  const { res } = healthTypes();
  return res.encode(res.create({ status: SERVING_STATUS[status] })).finish();
}

export function healthCheck(stream: ServerHttp2Stream, message: Buffer, health: HealthState): GrpcError | undefined {
  const service = serviceOf(message);
  if (!HEALTH_SERVICES.has(service)) return { code: GrpcStatus.NOT_FOUND, message: `unknown service ${service}` };
  sendUnary(stream, encodeStatus(health.status));
  return undefined;
}

/**
 * Watch: the current status now and each change after it; the stream stays open (for an unknown
 * service too, per the health protocol) until the client cancels or the drain ends it with OK.
 */
export function healthWatch(stream: ServerHttp2Stream, message: Buffer, health: HealthState): void {
  const service = serviceOf(message);
  sendMessageHeaders(stream);
  const write = (s: keyof typeof SERVING_STATUS): void => {
    if (writable(stream)) stream.write(frameMessage(encodeStatus(s)));
  };
  const known = HEALTH_SERVICES.has(service);
  let last: HealthStatus = health.status;
  write(known ? last : 'SERVICE_UNKNOWN');
  const unsubscribe = health.subscribe(
    (s) => {
      if (!known || s === last) return;
      last = s;
      write(s);
    },
    // The drain: end the watch (an unknown service's too) so it does not hold the drain open.
    () => {
      unsubscribe();
      endOk(stream);
    },
  );
  stream.once('close', unsubscribe);
}
