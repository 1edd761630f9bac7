// What a closed stream of the node:http2 gRPC server still references. Node keeps a closed
// ServerHttp2Stream whose last frames were still on the socket until a full GC (V8's scavenges
// treat its handle as a root), so under load nearly every stream is promoted to old space with
// everything it references (docs/performance.md, Garbage collection). The call handling must
// therefore leave nothing of a call on its stream: every listener it leaves is one function
// shared by all calls, none a closure holding the call's reader, timer or payload.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { buildRoutes, serveStream, type CallContext } from '../../../src/transport/grpc-h2/call.js';
import { ByteBudget } from '../../../src/transport/grpc-h2/framing.js';
import { HealthState } from '../../../src/transport/grpc/health.js';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';
import { encodeCheckRequest } from '../../helpers/protowire.js';

const V3 = '/envoy.service.auth.v3.Authorization/Check';
const ALLOW: CheckResponse = { status: { code: 0 }, okResponse: {} };
const REQUEST = encodeCheckRequest({ method: 'GET', path: '/orders/1', host: 'orders' });
/** The events the call handling listens to on an answered or reset call. */
const EVENTS = ['error', 'data', 'end', 'close', 'wantTrailers'] as const;

function frame(payload: Buffer): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(payload.length, 1);
  return Buffer.concat([p, payload]);
}

describe('grpc-h2: a closed stream keeps nothing of its call', () => {
  let server: http2.Http2Server;
  let session: http2.ClientHttp2Session;
  /** Each server stream once closed (its close listeners have run), in arrival order. */
  const closed: Array<Promise<http2.ServerHttp2Stream>> = [];
  const paths: string[] = [];
  const budget = new ByteBudget(1024 * 1024);

  before(async () => {
    const ctx: CallContext = {
      check: (req) => {
        paths.push((req as { attributes?: { request?: { http?: { path?: string } } } }).attributes?.request?.http?.path ?? '');
        return Promise.resolve(ALLOW);
      },
      health: new HealthState(() => true),
      gate: undefined,
      maxReceiveBytes: 64 * 1024,
      requestTimeoutMs: 30_000,
      routes: buildRoutes(),
    };
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      closed.push(new Promise((resolve) => stream.once('close', () => setImmediate(() => resolve(stream)))));
      serveStream(stream, headers, ctx, [budget]);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    session.close();
    await new Promise((r) => server.close(r));
  });

  /** One call; its chunks written one write (one DATA frame) at a time; resolves on the reply's end. */
  async function call(chunks: Buffer[], reset = false): Promise<string | undefined> {
    const req = session.request({ ':method': 'POST', ':path': V3, 'content-type': 'application/grpc', te: 'trailers' });
    let status: string | undefined;
    req.on('trailers', (t) => (status = String(t['grpc-status'])));
    req.on('response', (h) => (status ??= h['grpc-status'] === undefined ? undefined : String(h['grpc-status'])));
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    const ended = new Promise<void>((r) => req.once('close', () => r()));
    for (const c of chunks) {
      await new Promise<void>((r) => req.write(c, () => r()));
      await new Promise((r) => setImmediate(r));
    }
    if (reset) req.close(http2.constants.NGHTTP2_CANCEL);
    else req.end();
    await ended;
    return status;
  }

  it('an answered call, one with its prefix split byte by byte, and one reset mid-message leave only shared listeners', async () => {
    const whole = frame(REQUEST);
    assert.equal(await call([whole]), '0');
    // The 5-byte prefix one byte per DATA frame, then the message in two.
    const split = [...[0, 1, 2, 3, 4].map((i) => whole.subarray(i, i + 1)), whole.subarray(5, 20), whole.subarray(20)];
    assert.equal(await call(split), '0');
    assert.deepEqual(paths, ['/orders/1', '/orders/1'], 'both requests decoded whole');
    // Reset by the client after half of the message: no 'end' ever comes.
    await call([whole.subarray(0, 20)], true);
    const streams = await Promise.all(closed);
    assert.equal(streams.length, 3);
    assert.equal(budget.inUse, 0, 'the reset call gave its reserved bytes back');

    for (const [i, s] of streams.entries()) {
      assert.equal(s.listenerCount('data'), 0, `stream ${i}: no 'data' listener left`);
      assert.equal(s.listenerCount('wantTrailers'), 0, `stream ${i}: no 'wantTrailers' listener left`);
    }
    // Whatever listener is left (Node's own [kMaybeDestroy] on 'end', the shared error listener)
    // is the same function on every stream: none was made for its call.
    for (const event of EVENTS) {
      const first = streams[0]!.rawListeners(event);
      for (const [i, s] of streams.entries()) {
        for (const l of s.rawListeners(event)) {
          assert.ok(first.includes(l), `stream ${i}: its '${event}' listener ${l.name || '(anonymous)'} is its own, not shared`);
        }
      }
    }
  });
});
