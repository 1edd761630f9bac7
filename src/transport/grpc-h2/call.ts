// One gRPC call on one HTTP/2 stream: the request headers checked in the order grpc servers
// check them (method, content-type, path, te, grpc-encoding, grpc-timeout), the one request
// message read (framing.ts), the handler run, and the stream's resources released however it
// ends: answered, reset by the client mid-message, past its deadline, or never finished.
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { checkCodec, type CheckCodec } from '../grpc/codec.js';
import { AUTH_V2_SERVICE, AUTH_V3_SERVICE } from '../grpc/protos.js';
import { SHED_MESSAGE, type CheckHandler } from '../grpc/server.js';
import type { HealthState } from '../grpc/health.js';
import type { InFlightGate } from '../inflight.js';
import { parseGrpcTimeout } from './deadline.js';
import { MessageReader, type ByteBudget } from './framing.js';
import { healthCheck, healthWatch } from './health.js';
import { GrpcStatus, sendHttpStatus, sendStatus, sendUnary, writable, type GrpcError } from './status.js';

type Route = { kind: 'check'; transport: 'grpc-v3' | 'grpc-v2'; codec: CheckCodec } | { kind: 'health-check' } | { kind: 'health-watch' };

export interface CallContext {
  check: CheckHandler;
  health: HealthState;
  gate: InFlightGate | undefined;
  maxReceiveBytes: number;
  /** A call without grpc-timeout must have sent its whole request within this. */
  requestTimeoutMs: number;
  routes: ReadonlyMap<string, Route>;
}

export function buildRoutes(): ReadonlyMap<string, Route> {
  return new Map<string, Route>([
    [`/${AUTH_V3_SERVICE}/Check`, { kind: 'check', transport: 'grpc-v3', codec: checkCodec('v3') }],
    [`/${AUTH_V2_SERVICE}/Check`, { kind: 'check', transport: 'grpc-v2', codec: checkCodec('v2') }],
    ['/grpc.health.v1.Health/Check', { kind: 'health-check' }],
    ['/grpc.health.v1.Health/Watch', { kind: 'health-watch' }],
  ]);
}

/** What a shed Check gets: the grpc-js server's status and message, so Envoy's error path applies. */
const SHED: GrpcError = Object.freeze({ code: GrpcStatus.RESOURCE_EXHAUSTED, message: SHED_MESSAGE });
export const INTERNAL: GrpcError = Object.freeze({ code: GrpcStatus.INTERNAL, message: 'internal error' });
const DEADLINE: GrpcError = Object.freeze({ code: GrpcStatus.DEADLINE_EXCEEDED, message: 'Deadline exceeded' });
const ENCODINGS = Object.freeze({ 'grpc-accept-encoding': 'identity' });

/** application/grpc and application/grpc+proto, with or without parameters. */
const CONTENT_TYPE = /^application\/grpc(\+proto)?\s*(;|$)/i;

/** The first error in the request headers, or the call's timeout in ms. */
function checkHeaders(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  ctx: CallContext,
): { route: Route; timeoutMs: number; deadline: boolean } | undefined {
  if (headers[':method'] !== 'POST') return void sendHttpStatus(stream, 405);
  // grpc servers answer a non-gRPC content-type at the HTTP level: no gRPC status applies.
  if (!CONTENT_TYPE.test(headers['content-type'] ?? '')) return void sendHttpStatus(stream, 415);
  const path = headers[':path'] ?? '';
  const route = ctx.routes.get(path);
  // grpc-js's wording for the same answer.
  if (!route)
    return void sendStatus(stream, { code: GrpcStatus.UNIMPLEMENTED, message: `The server does not implement the method ${path}` });
  // te: trailers tells the server that trailers (where grpc-status travels) reach the client.
  if (headers.te !== 'trailers') return void sendStatus(stream, { code: GrpcStatus.INTERNAL, message: 'te: trailers header missing' });
  const encoding = headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    return void sendStatus(stream, {
      code: GrpcStatus.UNIMPLEMENTED,
      message: `grpc-encoding ${String(encoding)} is not supported`,
      headers: ENCODINGS,
    });
  }
  const timeout = headers['grpc-timeout'];
  if (timeout === undefined) return { route, timeoutMs: ctx.requestTimeoutMs, deadline: false };
  const ms = typeof timeout === 'string' ? parseGrpcTimeout(timeout) : undefined;
  if (ms === undefined)
    return void sendStatus(stream, { code: GrpcStatus.INTERNAL, message: `Invalid grpc-timeout value "${String(timeout)}"` });
  return { route, timeoutMs: ms, deadline: true };
}

/**
 * The listener every stream's 'error' gets: a stream error (a reset, a session torn down) is
 * followed by 'close', which cleans up. One shared function, not a closure per call: a closure
 * would hold the call's whole scope (reader, timer, finish) for as long as the stream lives.
 */
function ignoreStreamError(): void {}

export function serveStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  ctx: CallContext,
  budgets: readonly ByteBudget[],
): void {
  stream.on('error', ignoreStreamError);
  const call = checkHeaders(stream, headers, ctx);
  if (!call) return;
  const { route, deadline } = call;
  const reader = new MessageReader(ctx.maxReceiveBytes, budgets);
  /** Set once the call has answered, failed or closed: nothing more is sent. */
  let done = false;
  const finish = (err?: GrpcError): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    reader.release();
    if (err) sendStatus(stream, err);
  };
  // The deadline bounds the whole call (a Watch included); without one, the request must arrive
  // within requestTimeoutMs, so a stream that never ends is answered and released, not kept. A
  // decision still running at the deadline has its answer dropped (done); the in-flight slot
  // it holds is given back when it completes.
  const timer = setTimeout(
    () =>
      finish(
        deadline ? DEADLINE : { code: GrpcStatus.DEADLINE_EXCEEDED, message: `request not received within ${ctx.requestTimeoutMs} ms` },
      ),
    call.timeoutMs,
  );
  const onData = (chunk: Buffer): void => {
    if (done) return;
    const err = reader.push(chunk);
    if (err) finish(err);
  };
  const onEnd = (): void => {
    if (done) return;
    const message = reader.finish();
    if (!Buffer.isBuffer(message)) return finish(message);
    if (!deadline) clearTimeout(timer);
    try {
      dispatch(stream, headers, route, message, ctx, () => done, finish);
    } catch {
      // Any exception in a handler (a message that does not decode included) is an INTERNAL
      // status: never OK, never a crash.
      finish(INTERNAL);
    }
    reader.release();
  };
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('close', () => {
    clearTimeout(timer);
    done = true;
    reader.release();
    // Node keeps a closed stream whose last frames were still being written to the socket until
    // a full GC (V8's scavenges treat that handle as a root), which is most of them under load:
    // each one is promoted to old space with whatever it references. So a closed stream must not
    // reference this call: with these listeners gone, only Node's own state is promoted, not the
    // reader, the timer and the closures (docs/performance.md, Garbage collection).
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
  });
}

function dispatch(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  route: Route,
  message: Buffer,
  ctx: CallContext,
  isDone: () => boolean,
  finish: (err?: GrpcError) => void,
): void {
  switch (route.kind) {
    case 'health-check': {
      const err = healthCheck(stream, message, ctx.health);
      return finish(err);
    }
    case 'health-watch':
      // Open until the client cancels, the deadline passes or the drain ends it.
      return healthWatch(stream, message, ctx.health);
    case 'check':
      return runCheck(stream, headers, route, message, ctx, isDone, finish);
  }
}

function runCheck(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  route: Extract<Route, { kind: 'check' }>,
  message: Buffer,
  ctx: CallContext,
  isDone: () => boolean,
  finish: (err?: GrpcError) => void,
): void {
  let request: unknown;
  try {
    request = route.codec.deserialize(message);
  } catch {
    // grpc-js's answer for a message that does not parse.
    return finish({ code: GrpcStatus.INTERNAL, message: 'Error deserializing request' });
  }
  const { gate } = ctx;
  if (gate && !gate.enter(route.transport)) return finish(SHED);
  let pending: Promise<unknown>;
  try {
    // The request headers are the call's metadata (its trace context, read only with tracing on,
    // and held no longer than the decision is).
    pending = ctx.check(request as Parameters<CheckHandler>[0], route.transport, headers);
  } catch {
    // A handler that throws before returning its promise holds no slot after this.
    gate?.leave();
    return finish(INTERNAL);
  }
  pending.then(
    (res) => {
      gate?.leave();
      if (isDone() || !writable(stream)) return;
      let payload: Uint8Array;
      try {
        payload = route.codec.serialize(res);
      } catch {
        return finish(INTERNAL);
      }
      finish();
      sendUnary(stream, payload);
    },
    // check() never rejects by contract; if it does, an RPC error (never OK) reaches Envoy.
    () => {
      gate?.leave();
      finish(INTERNAL);
    },
  );
}
