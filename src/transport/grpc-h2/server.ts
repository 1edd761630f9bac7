// The gRPC listener on node:http2 (server.grpcImplementation: node-http2, the default): the
// ext_authz Check services (v3, v2) and grpc.health.v1, framed per gRPC's HTTP/2 protocol
// description straight on Node's HTTP/2 server. The same handler, codec, health state, in-flight
// gate and TLS reloader as the grpc-js listener (src/transport/grpc/server.ts); what differs is
// the cost: an empty Check costs about half the CPU of grpc-js's (docs/envoy-istio.md).
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { CheckHandler, GrpcServerOptions } from '../grpc/server.js';
import type { HealthState } from '../grpc/health.js';
import type { TlsMaterial } from '../tls/files.js';
import { listenOn } from '../address.js';
import { INTERNAL, buildRoutes, serveStream, type CallContext } from './call.js';
import { ByteBudget } from './framing.js';
import { sendStatus } from './status.js';

export interface H2GrpcServerOptions extends GrpcServerOptions {
  /** A call without grpc-timeout must send its whole request within this (default 30 s). */
  requestTimeoutMs?: number;
  /** Request bytes one connection may hold at once (default 4 x maxReceiveBytes). */
  connectionBufferBytes?: number;
  /** Request bytes the whole server may hold at once (default 64 MiB, at least 2 x maxReceiveBytes). */
  serverBufferBytes?: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection (default 2048). */
  maxConcurrentStreams?: number;
  /** Streams open at once across all connections; more are refused (default 16384). */
  maxOpenStreams?: number;
}

/** The listener interface both gRPC implementations give listeners.ts. */
export interface AuthzGrpcListener {
  port: number;
  /** Graceful: stop accepting calls, let in-flight ones finish; force after deadlineMs. */
  drain(deadlineMs: number): Promise<'drained' | 'forced'>;
}

export const DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;
/** Enough for every in-flight Check (~2 KB from Envoy) on a connection, and bounded. */
const MAX_CONCURRENT_STREAMS = 2048;
/** Each open stream costs a timer and a little state: a bound across connections. */
const MAX_OPEN_STREAMS = 16_384;
/** The flow-control window per stream and connection: a ~2 KB Check never waits on a WINDOW_UPDATE. */
const INITIAL_WINDOW_BYTES = 1024 * 1024;
/** Request header block limit (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE), as the HTTP listener's. */
const MAX_HEADER_LIST_BYTES = 64 * 1024;
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export async function startH2GrpcServer(
  address: string,
  check: CheckHandler,
  health: HealthState,
  opts: H2GrpcServerOptions = {},
): Promise<AuthzGrpcListener> {
  const maxReceiveBytes = opts.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES;
  const ctx: CallContext = {
    check,
    health,
    gate: opts.gate,
    maxReceiveBytes,
    requestTimeoutMs: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    routes: buildRoutes(),
  };
  const serverBudget = new ByteBudget(opts.serverBufferBytes ?? Math.max(64 * 1024 * 1024, 2 * maxReceiveBytes));
  const connectionBytes = opts.connectionBufferBytes ?? 4 * maxReceiveBytes;
  const settings: http2.Settings = {
    maxConcurrentStreams: opts.maxConcurrentStreams ?? MAX_CONCURRENT_STREAMS,
    initialWindowSize: INITIAL_WINDOW_BYTES,
    maxHeaderListSize: MAX_HEADER_LIST_BYTES,
  };
  const common: http2.ServerOptions = { settings, maxHeaderListPairs: 1024 };
  const tls = opts.tls;
  const server: http2.Http2Server | http2.Http2SecureServer = tls
    ? http2.createSecureServer({
        ...common,
        ...secureContextOptions(tls.current),
        // mTLS: a client certificate is required and must chain to clientCaFile.
        requestCert: tls.mutualTls,
        rejectUnauthorized: tls.mutualTls,
        ALPNProtocols: ['h2'],
        allowHTTP1: false,
        handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      })
    : http2.createServer(common);
  if (tls) {
    const secure = server as http2.Http2SecureServer;
    // New connections get the new certificate; established ones keep theirs.
    tls.onChange((m) => secure.setSecureContext(secureContextOptions(m)));
    // Failed handshakes (no or untrusted client certificate, plaintext on the TLS port): Node
    // closes the socket; nothing to answer.
    secure.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
  }
  // Each Check is one small request and one small response: Nagle would hold the response back.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));

  const sessions = new Map<http2.ServerHttp2Session, ByteBudget>();
  server.on('session', (session) => {
    sessions.set(session, new ByteBudget(connectionBytes));
    session.on('error', () => undefined);
    session.once('close', () => sessions.delete(session));
  });
  const maxOpenStreams = opts.maxOpenStreams ?? MAX_OPEN_STREAMS;
  let open = 0;
  server.on('stream', (stream, headers) => {
    const budget = sessions.get(stream.session as http2.ServerHttp2Session);
    // A stream always belongs to a session seen above; without one there is nothing to bound it
    // by. Past maxOpenStreams (idle streams from many connections) a new one is refused, which a
    // gRPC client retries or reports as UNAVAILABLE.
    if (!budget || open >= maxOpenStreams) {
      // Closing with an error code makes the stream emit 'error': without a listener, a crash.
      stream.on('error', () => undefined);
      return void stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    }
    open++;
    stream.once('close', () => open--);
    try {
      serveStream(stream, headers, ctx, [budget, serverBudget]);
    } catch {
      // A bug in the call handling must cost one call (INTERNAL), never the process.
      sendStatus(stream, INTERNAL);
    }
  });
  // An HTTP/2 protocol error on a session is Node's to answer (GOAWAY); the server itself
  // must never throw for a client's bytes.
  server.on('sessionError', () => undefined);

  const bound = await listenOn(server, address);

  return {
    port: bound,
    drain: (deadlineMs) => drain(server, sessions, deadlineMs),
  };
}

/**
 * GOAWAY to every connection (no new streams; in-flight calls and open Watches go on) and no new
 * connections; 'drained' when every connection has closed, else at the deadline every remaining
 * one is destroyed (its calls cancelled) and the answer is 'forced'.
 */
function drain(
  server: http2.Http2Server | http2.Http2SecureServer,
  sessions: Map<http2.ServerHttp2Session, unknown>,
  deadlineMs: number,
): Promise<'drained' | 'forced'> {
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      for (const s of sessions.keys()) s.destroy();
      resolve('forced');
    }, deadlineMs);
    server.close(() => {
      if (settled) return;
      clearTimeout(timer);
      resolve('drained');
    });
    for (const s of sessions.keys()) if (!s.closed) s.close();
  });
}

function secureContextOptions(m: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer } {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
}
