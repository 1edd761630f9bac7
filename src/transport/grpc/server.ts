// gRPC listener: envoy.service.auth.v3 and v2 Authorization/Check plus grpc.health.v1.
// The handler only adapts; the decision comes from the injected check function.
import type { IncomingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { authV2Service, authV3Service, healthService } from './protos.js';
import { withLeanCheckCodec } from './codec.js';
import type { CheckRequest, CheckResponse } from './messages.js';
import type { HealthState } from './health.js';
import { formatAddress, parseAddress } from '../address.js';
import type { InFlightGate } from '../inflight.js';
import type { TlsReloader } from '../tls/reloader.js';

/** The call's own metadata, read for the caller's trace context: node:http2 request headers, or grpc-js's Metadata. */
export type CallMetadata = IncomingHttpHeaders | grpc.Metadata;

export type CheckHandler = (req: CheckRequest, transport: 'grpc-v3' | 'grpc-v2', metadata?: CallMetadata) => Promise<CheckResponse>;

export interface GrpcListener {
  server: grpc.Server;
  port: number;
  /** Graceful: stop accepting calls, let in-flight ones finish; force after deadlineMs. */
  drain(deadlineMs: number): Promise<'drained' | 'forced'>;
}

/**
 * grpc-js server options. Channelz (grpc-js's introspection service, on by default) is off: its
 * per-call bookkeeping was ~4 % of the server's CPU (_channelzHandler) when profiling maximum
 * throughput with a cached token (bench/run.ts --scenario 1 --profile), and nothing here exposes
 * channelz. The bench floor uses the same options.
 */
export const GRPC_SERVER_OPTIONS: grpc.ServerOptions = Object.freeze({
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.enable_channelz': 0,
});

export interface GrpcServerOptions {
  /** TLS (and mTLS when the reloader has a client CA); plaintext when absent. */
  tls?: TlsReloader;
  /** grpc max_receive_message_length (server.grpcMaxReceiveBytes). */
  maxReceiveBytes?: number;
  /** In-flight bound shared with the HTTP listener (limits.maxInFlight). */
  gate?: InFlightGate;
}

/** The message of a shed Check's RESOURCE_EXHAUSTED, on both gRPC servers. */
export const SHED_MESSAGE = 'zt-authz overloaded: too many Checks in flight';

/** What Envoy gets for a shed Check: an RPC error, so its error path applies, never OK. */
const SHED: Partial<grpc.StatusObject> = Object.freeze({ code: grpc.status.RESOURCE_EXHAUSTED, details: SHED_MESSAGE });

export async function startGrpcServer(
  address: string,
  check: CheckHandler,
  health: HealthState,
  opts: GrpcServerOptions = {},
): Promise<GrpcListener> {
  const server = new grpc.Server({
    ...GRPC_SERVER_OPTIONS,
    ...(opts.maxReceiveBytes ? { 'grpc.max_receive_message_length': opts.maxReceiveBytes } : {}),
  });
  const gate = opts.gate;
  const unary =
    (transport: 'grpc-v3' | 'grpc-v2') =>
    (call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, cb: grpc.sendUnaryData<CheckResponse>) => {
      if (gate && !gate.enter(transport)) return void cb(SHED);
      check(call.request, transport, call.metadata).then(
        (res) => {
          gate?.leave();
          cb(null, res);
        },
        // check() never rejects by contract; if it does, an RPC error (never OK) reaches Envoy.
        () => {
          gate?.leave();
          cb({ code: grpc.status.INTERNAL, details: 'internal error' });
        },
      );
    };
  // Check requests are handled as protobufjs messages, responses encoded without fromObject
  // (codec.ts); health keeps the stock proto-loader codec.
  server.addService(withLeanCheckCodec(authV3Service(), 'v3'), { Check: unary('grpc-v3') });
  server.addService(withLeanCheckCodec(authV2Service(), 'v2'), { Check: unary('grpc-v2') });
  server.addService(healthService(), health.handlers());

  const { host, port } = parseAddress(address);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(formatAddress(host, port), serverCredentials(opts.tls), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    port: bound,
    drain: (deadlineMs) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve('forced');
        }, deadlineMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve('drained');
        });
      }),
  };
}

/**
 * Reloadable TLS through grpc-js's certificate-provider credentials: every reload reaches the
 * listening http2 server with setSecureContext (new connections get the new certificate,
 * established ones keep theirs). With a client CA, client certificates are required and must
 * verify (rejectUnauthorized). Note the installed grpc-js (1.14) passes the first argument on as
 * the identity provider and the second as the CA provider, whatever its .d.ts names them; the
 * reloader is both, so only the `null` (no client CA) matters.
 */
function serverCredentials(tls: TlsReloader | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.experimental.createCertificateProviderServerCredentials(tls, tls.mutualTls ? tls : null, tls.mutualTls);
}
