// The node:http2 gRPC server (src/transport/grpc-h2/), in process, spoken to with a raw
// node:http2 client so every protocol detail is visible: content-type and method refusals, te,
// grpc-encoding, grpc-timeout deadlines, messages split across DATA frames, the size refused from
// the prefix alone, byte budgets given back when a stream is reset mid-message, a never-ending
// request released, unknown methods, percent-encoded grpc-message, health Check and Watch, the
// in-flight gate, handler failures, drain with GOAWAY, and TLS / mTLS through the TlsReloader.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startH2GrpcServer, type H2GrpcServerOptions, type AuthzGrpcListener } from '../../../src/transport/grpc-h2/server.js';
import { encodeGrpcMessage } from '../../../src/transport/grpc-h2/status.js';
import { parseGrpcTimeout } from '../../../src/transport/grpc-h2/deadline.js';
import { HealthState } from '../../../src/transport/grpc/health.js';
import { protoRoot } from '../../../src/transport/grpc/protos.js';
import type { CheckHandler } from '../../../src/transport/grpc/server.js';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';
import { InFlightGate } from '../../../src/transport/inflight.js';
import { TlsReloader } from '../../../src/transport/tls/reloader.js';
import { encodeCheckRequest } from '../../helpers/protowire.js';
import { TestCa } from '../../helpers/certs.js';
import { sleep, waitUntil } from '../../helpers/app.js';

const V3 = '/envoy.service.auth.v3.Authorization/Check';
const V2 = '/envoy.service.auth.v2.Authorization/Check';
const GRPC_HEADERS = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };
const ALLOW: CheckResponse = { status: { code: 0 }, okResponse: {} };

function frame(payload: Buffer, flag = 0): Buffer {
  const p = Buffer.alloc(5);
  p[0] = flag;
  p.writeUInt32BE(payload.length, 1);
  return Buffer.concat([p, payload]);
}
const prefixOnly = (length: number, flag = 0): Buffer => {
  const p = Buffer.alloc(5);
  p[0] = flag;
  p.writeUInt32BE(length, 1);
  return p;
};
const REQUEST = encodeCheckRequest({ method: 'GET', path: '/orders/1', host: 'orders' });

interface Reply {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  data: Buffer;
  /** The response ended in its HEADERS frame (trailers-only). */
  trailersOnly: boolean;
  rstCode: number;
}

const grpcStatus = (r: Reply): string | undefined => String(r.trailers?.['grpc-status'] ?? r.headers['grpc-status']);
const grpcMessage = (r: Reply): string | undefined => String(r.trailers?.['grpc-message'] ?? r.headers['grpc-message']);

interface CallOptions {
  /** Extra or replaced request headers; null leaves one out. */
  headers?: Record<string, string | number | null>;
  /** Written one write (so one DATA frame) at a time, a tick apart. */
  chunks?: Buffer[];
  /** End the request after the chunks (default true). */
  end?: boolean;
}

function call(
  session: http2.ClientHttp2Session,
  path: string,
  o: CallOptions = {},
): { req: http2.ClientHttp2Stream; reply: Promise<Reply> } {
  const headers: http2.OutgoingHttpHeaders = { ...GRPC_HEADERS, ':path': path };
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    if (v === null) delete headers[k];
    else headers[k] = v;
  }
  const req = session.request(headers, { endStream: false });
  const reply = new Promise<Reply>((resolve) => {
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    let trailersOnly = false;
    const data: Buffer[] = [];
    req.on('response', (h, flags) => {
      headers = h;
      trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d: Buffer) => data.push(d));
    req.on('error', () => undefined);
    req.on('close', () => resolve({ headers, trailers, data: Buffer.concat(data), trailersOnly, rstCode: req.rstCode ?? 0 }));
  });
  void (async () => {
    for (const c of o.chunks ?? [frame(REQUEST)]) {
      if (req.destroyed || req.closed) return;
      req.write(c);
      await new Promise((r) => setImmediate(r));
    }
    if (o.end ?? true) req.end();
  })();
  return { req, reply };
}

/** The messages of a response body. */
function messages(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const len = data.readUInt32BE(at + 1);
    out.push(data.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

const CheckResponseV3 = () => protoRoot().lookupType('envoy.service.auth.v3.CheckResponse');
const HealthResponse = () => protoRoot().lookupType('grpc.health.v1.HealthCheckResponse');
const healthRequest = (service: string) => {
  const T = protoRoot().lookupType('grpc.health.v1.HealthCheckRequest');
  return Buffer.from(T.encode(T.create({ service })).finish());
};
const healthStatuses = (data: Buffer): number[] =>
  messages(data).map((m) => (HealthResponse().decode(m) as unknown as { status: number }).status);

interface Harness {
  listener: AuthzGrpcListener;
  session: http2.ClientHttp2Session;
  seen: Array<{ path: string; transport: string }>;
  close(): Promise<void>;
}

async function start(check: CheckHandler, opts: H2GrpcServerOptions = {}, health = new HealthState(() => true)): Promise<Harness> {
  const listener = await startH2GrpcServer('127.0.0.1:0', check, health, opts);
  const session = http2.connect(`http://127.0.0.1:${listener.port}`);
  session.on('error', () => undefined);
  return {
    listener,
    session,
    seen: [],
    close: async () => {
      session.destroy();
      await listener.drain(200);
    },
  };
}

/** A handler that records what it decoded and allows, after `delayMs`. */
function recording(seen: Array<{ path: string; transport: string }>, delayMs = 0): CheckHandler {
  return async (req, transport) => {
    seen.push({ path: req.attributes?.request?.http?.path ?? '', transport });
    if (delayMs) await sleep(delayMs);
    return ALLOW;
  };
}

describe('grpc-h2: helpers', () => {
  it('grpc-message is percent-encoded UTF-8: non-printable, non-ASCII and % become %XX', () => {
    assert.equal(encodeGrpcMessage('plain text ok'), 'plain text ok');
    assert.equal(encodeGrpcMessage('100% é\n'), '100%25 %C3%A9%0A');
  });
  it('grpc-timeout: at most 8 digits and a unit; anything else is invalid', () => {
    assert.equal(parseGrpcTimeout('250m'), 250);
    assert.equal(parseGrpcTimeout('2S'), 2000);
    assert.equal(parseGrpcTimeout('1H'), 3_600_000);
    assert.equal(parseGrpcTimeout('500u'), 1, 'sub-millisecond rounds up, still expires');
    assert.equal(parseGrpcTimeout('99999999H'), 2 ** 31 - 1, 'capped at the largest timer');
    for (const bad of ['', '1', 'm', '123456789S', '1s', '1.5S', ' 1S', '-1S']) assert.equal(parseGrpcTimeout(bad), undefined, bad);
  });
});

describe('grpc-h2: Check', () => {
  let h: Harness;
  const seen: Array<{ path: string; transport: string }> = [];
  before(async () => {
    h = await start(recording(seen));
  });
  after(() => h.close());

  it('v3 and v2 Check: 200, application/grpc+proto, one message, grpc-status 0 in trailers', async () => {
    for (const [path, transport] of [
      [V3, 'grpc-v3'],
      [V2, 'grpc-v2'],
    ] as const) {
      const r = await call(h.session, path).reply;
      assert.equal(r.headers[':status'], 200);
      assert.equal(r.headers['content-type'], 'application/grpc+proto');
      assert.equal(r.trailersOnly, false);
      assert.equal(r.trailers?.['grpc-status'], '0');
      const msgs = messages(r.data);
      assert.equal(msgs.length, 1);
      const res = CheckResponseV3().decode(msgs[0]!).toJSON() as { status?: { code?: number }; okResponse?: unknown };
      assert.equal(res.status?.code ?? 0, 0);
      assert.ok(res.okResponse, 'the allow the handler returned');
      assert.deepEqual(seen.at(-1), { path: '/orders/1', transport });
    }
  });

  it('HTTP/2 settings are announced and client keepalive PINGs are answered', async () => {
    await call(h.session, V3).reply;
    const remote = h.session.remoteSettings;
    assert.equal(remote.maxConcurrentStreams, 2048);
    assert.equal(remote.initialWindowSize, 1024 * 1024);
    assert.equal(remote.maxHeaderListSize, 64 * 1024);
    const rtt = await new Promise<number>((resolve, reject) => h.session.ping((err, ms) => (err ? reject(err) : resolve(ms))));
    assert.ok(rtt >= 0);
  });

  it('a message split across many DATA frames (the prefix too) is reassembled', async () => {
    const whole = frame(REQUEST);
    const chunks = [
      whole.subarray(0, 2),
      whole.subarray(2, 4),
      whole.subarray(4, 9),
      ...Array.from(whole.subarray(9), (b) => Buffer.from([b])),
    ];
    const r = await call(h.session, V3, { chunks }).reply;
    assert.equal(grpcStatus(r), '0');
    assert.equal(messages(r.data).length, 1);
    assert.equal(seen.at(-1)?.path, '/orders/1');
  });

  it('application/grpc+proto and parameters are accepted; other content types get HTTP 415, other methods 405', async () => {
    assert.equal(grpcStatus(await call(h.session, V3, { headers: { 'content-type': 'application/grpc+proto' } }).reply), '0');
    assert.equal(grpcStatus(await call(h.session, V3, { headers: { 'content-type': 'application/grpc; charset=utf-8' } }).reply), '0');
    for (const ct of ['text/plain', 'application/json', 'application/grpc+json', 'application/grpc-web']) {
      const r = await call(h.session, V3, { headers: { 'content-type': ct } }).reply;
      assert.equal(r.headers[':status'], 415, ct);
      assert.equal(r.headers['grpc-status'], undefined, `${ct}: an HTTP answer, no gRPC status`);
    }
    const r = await call(h.session, V3, { headers: { ':method': 'PUT' } }).reply;
    assert.equal(r.headers[':status'], 405);
  });

  it('te must be trailers: without it the call fails (INTERNAL), never reaching the handler', async () => {
    const n = seen.length;
    // Node's client sends no te other than trailers, so it is left out, as an incompatible proxy would.
    const r = await call(h.session, V3, { headers: { te: null } }).reply;
    assert.equal(grpcStatus(r), '13');
    assert.equal(r.trailersOnly, true);
    assert.equal(seen.length, n);
  });

  it('unknown service or method: UNIMPLEMENTED, trailers-only, grpc-message percent-encoded', async () => {
    const r = await call(h.session, '/envoy.service.auth.v3.Authorization/Check2').reply;
    assert.equal(grpcStatus(r), '12');
    assert.equal(r.trailersOnly, true);
    assert.equal(r.headers[':status'], 200);
    assert.equal(grpcMessage(r), 'The server does not implement the method /envoy.service.auth.v3.Authorization/Check2');
    const pct = await call(h.session, '/no.Such/100%').reply;
    assert.equal(grpcStatus(pct), '12');
    assert.equal(grpcMessage(pct), 'The server does not implement the method /no.Such/100%25');
  });

  it('grpc-encoding other than identity: UNIMPLEMENTED with grpc-accept-encoding; a compressed message under identity: INTERNAL', async () => {
    const r = await call(h.session, V3, { headers: { 'grpc-encoding': 'gzip' } }).reply;
    assert.equal(grpcStatus(r), '12');
    assert.equal(r.headers['grpc-accept-encoding'], 'identity');
    assert.equal(grpcStatus(await call(h.session, V3, { headers: { 'grpc-encoding': 'identity' } }).reply), '0');
    const c = await call(h.session, V3, { chunks: [frame(REQUEST, 1)] }).reply;
    assert.equal(grpcStatus(c), '13');
    assert.match(grpcMessage(c) ?? '', /compressed/);
    assert.equal(grpcStatus(await call(h.session, V3, { chunks: [frame(REQUEST, 7)] }).reply), '13', 'an invalid flag');
  });

  it('one request message exactly: none or two is UNIMPLEMENTED, a truncated one or bad protobuf INTERNAL; never OK', async () => {
    const n = seen.length;
    assert.equal(grpcStatus(await call(h.session, V3, { chunks: [] }).reply), '12', 'no message');
    assert.equal(grpcStatus(await call(h.session, V3, { chunks: [Buffer.concat([frame(REQUEST), frame(REQUEST)])] }).reply), '12', 'two');
    assert.equal(grpcStatus(await call(h.session, V3, { chunks: [frame(REQUEST), frame(REQUEST)] }).reply), '12', 'two frames');
    assert.equal(grpcStatus(await call(h.session, V3, { chunks: [frame(REQUEST).subarray(0, 20)] }).reply), '13', 'truncated');
    assert.equal(grpcStatus(await call(h.session, V3, { chunks: [frame(REQUEST).subarray(0, 3)] }).reply), '13', 'a partial prefix');
    const bad = await call(h.session, V3, { chunks: [frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]))] }).reply;
    assert.equal(grpcStatus(bad), '13');
    assert.equal(grpcMessage(bad), 'Error deserializing request');
    assert.equal(seen.length, n, 'the handler saw none of them');
  });

  it('an invalid grpc-timeout is INTERNAL', async () => {
    const r = await call(h.session, V3, { headers: { 'grpc-timeout': '10 seconds' } }).reply;
    assert.equal(grpcStatus(r), '13');
    assert.equal(grpcMessage(r), 'Invalid grpc-timeout value "10 seconds"');
  });
});

describe('grpc-h2: size, budgets and streams that never end', { timeout: 10_000 }, () => {
  it('the declared length is refused from the 5-byte prefix alone (RESOURCE_EXHAUSTED), before any body is sent', async () => {
    const h = await start(recording([]), { maxReceiveBytes: 4096 });
    try {
      // Only the prefix, and the request left open: the answer cannot have waited for the body.
      const r = await call(h.session, V3, { chunks: [prefixOnly(1 << 30)], end: false }).reply;
      assert.equal(grpcStatus(r), '8');
      assert.equal(grpcMessage(r), 'Received message larger than max (1073741824 vs 4096)');
      assert.equal(grpcStatus(await call(h.session, V3).reply), '0', 'a normal Check still works on the connection');
    } finally {
      await h.close();
    }
  });

  it('bytes reserved by a stream reset mid-message are given back (the connection budget is not leaked)', async () => {
    const h = await start(recording([]), { maxReceiveBytes: 4096, connectionBufferBytes: 5000 });
    try {
      const body = Buffer.alloc(3000, 1);
      const stalled = call(h.session, V3, { chunks: [prefixOnly(3000), body.subarray(0, 100)], end: false });
      await sleep(50);
      // A second 3000-byte message does not fit beside the stalled one.
      const refused = await call(h.session, V3, { chunks: [prefixOnly(3000)], end: false }).reply;
      assert.equal(grpcStatus(refused), '8');
      assert.match(grpcMessage(refused) ?? '', /too many request bytes buffered/);
      stalled.req.close(http2.constants.NGHTTP2_CANCEL);
      await stalled.reply;
      await sleep(20);
      // The reset gave its 3000 bytes back: a message of the same size now fits (and fails to
      // decode as a CheckRequest of zero bytes... it is zeros: field 0 is invalid protobuf).
      const again = await call(h.session, V3, { chunks: [frame(Buffer.concat([REQUEST, Buffer.alloc(3000 - REQUEST.length)]))] }).reply;
      assert.notEqual(grpcStatus(again), '8', `${grpcStatus(again)} ${grpcMessage(again)}`);
    } finally {
      await h.close();
    }
  });

  it('a request that never ends is answered and its stream released after requestTimeoutMs', async () => {
    const h = await start(recording([]), { requestTimeoutMs: 200 });
    try {
      const t0 = Date.now();
      const r = await call(h.session, V3, { chunks: [frame(REQUEST).subarray(0, 10)], end: false }).reply;
      assert.equal(grpcStatus(r), '4');
      assert.match(grpcMessage(r) ?? '', /request not received within 200 ms/);
      assert.ok(Date.now() - t0 >= 190);
      // The stream is closed, not just answered: the server reset the half still sending.
      assert.equal(r.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      await h.close();
    }
  });

  it('past maxOpenStreams a new stream is refused (REFUSED_STREAM); a closed one frees its place', async () => {
    const h = await start(recording([]), { maxOpenStreams: 2 });
    try {
      const idle = [call(h.session, V3, { chunks: [], end: false }), call(h.session, V3, { chunks: [], end: false })];
      await sleep(50);
      const refused = await call(h.session, V3).reply;
      assert.equal(refused.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM);
      idle[0]!.req.close(http2.constants.NGHTTP2_CANCEL);
      await idle[0]!.reply;
      await sleep(20);
      assert.equal(grpcStatus(await call(h.session, V3).reply), '0');
    } finally {
      await h.close();
    }
  });

  it('with grpc-timeout, a stream that never ends gets DEADLINE_EXCEEDED at the deadline', async () => {
    const h = await start(recording([]));
    try {
      const t0 = Date.now();
      const r = await call(h.session, V3, { headers: { 'grpc-timeout': '150m' }, chunks: [prefixOnly(100)], end: false }).reply;
      assert.equal(grpcStatus(r), '4');
      assert.equal(grpcMessage(r), 'Deadline exceeded');
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      await h.close();
    }
  });
});

describe('grpc-h2: deadlines, the in-flight gate and handler failures', { timeout: 10_000 }, () => {
  it('a Check past its deadline gets DEADLINE_EXCEEDED; its late result is dropped and its slot given back', async () => {
    const gate = new InFlightGate(10, () => undefined);
    const seen: Array<{ path: string; transport: string }> = [];
    const h = await start(recording(seen, 300), { gate });
    try {
      const r = await call(h.session, V3, { headers: { 'grpc-timeout': '50m' } }).reply;
      assert.equal(grpcStatus(r), '4');
      assert.equal(r.data.length, 0, 'no response message');
      assert.equal(gate.inFlight, 1, 'the decision is still running');
      await waitUntil(() => gate.inFlight === 0, 2000, 'slot released when the decision completes');
      assert.equal(grpcStatus(await call(h.session, V3, { headers: { 'grpc-timeout': '5S' } }).reply), '0');
    } finally {
      await h.close();
    }
  });

  it('past limits.maxInFlight a Check is shed with RESOURCE_EXHAUSTED and counted', async () => {
    const shed: string[] = [];
    const gate = new InFlightGate(1, (t) => shed.push(t));
    const h = await start(recording([], 200), { gate });
    try {
      const slow = call(h.session, V3);
      await sleep(50);
      const r = await call(h.session, V2).reply;
      assert.equal(grpcStatus(r), '8');
      assert.equal(grpcMessage(r), 'zt-authz overloaded: too many Checks in flight');
      assert.deepEqual(shed, ['grpc-v2']);
      assert.equal(grpcStatus(await slow.reply), '0');
      assert.equal(gate.inFlight, 0);
    } finally {
      await h.close();
    }
  });

  it('a handler that throws, rejects or returns an unencodable response: INTERNAL, never OK, no crash', async () => {
    const handlers: CheckHandler[] = [
      () => {
        throw new Error('sync boom');
      },
      () => Promise.reject(new Error('async boom')),
      () => Promise.resolve({ deniedResponse: { status: { code: 'NoSuchStatus' } } } as unknown as CheckResponse),
    ];
    for (const [i, handler] of handlers.entries()) {
      const gate = new InFlightGate(10, () => undefined);
      const h = await start(handler, { gate });
      try {
        const r = await call(h.session, V3).reply;
        assert.equal(grpcStatus(r), '13', `handler ${i}`);
        assert.equal(r.data.length, 0);
        await waitUntil(() => gate.inFlight === 0, 1000, `handler ${i}: slot released`);
      } finally {
        await h.close();
      }
    }
  });
});

describe('grpc-h2: health', () => {
  it('Check answers the HealthState status; an unknown service is NOT_FOUND', async () => {
    let serving = false;
    const health = new HealthState(() => serving);
    const h = await start(recording([]), {}, health);
    try {
      const ask = async (service: string) =>
        call(h.session, '/grpc.health.v1.Health/Check', { chunks: [frame(healthRequest(service))] }).reply;
      assert.deepEqual(healthStatuses((await ask('')).data), [2]);
      serving = true;
      assert.deepEqual(healthStatuses((await ask('envoy.service.auth.v3.Authorization')).data), [1]);
      const unknown = await ask('no.such.Service');
      assert.equal(grpcStatus(unknown), '5');
    } finally {
      await h.close();
    }
  });

  it('Watch streams the status and each change; the drain ends it with OK; cancelling it unsubscribes', async () => {
    let serving = false;
    const health = new HealthState(() => serving);
    const h = await start(recording([]), {}, health);
    try {
      const w = call(h.session, '/grpc.health.v1.Health/Watch', { chunks: [frame(healthRequest(''))] });
      const got: number[] = [];
      w.req.on('data', (d: Buffer) => got.push(...healthStatuses(d)));
      await waitUntil(() => got.length === 1, 2000, 'first status');
      serving = true;
      health.update();
      await waitUntil(() => got.length === 2, 2000, 'the change');
      const unknown = call(h.session, '/grpc.health.v1.Health/Watch', { chunks: [frame(healthRequest('nope'))] });
      const cancelled = call(h.session, '/grpc.health.v1.Health/Watch', { chunks: [frame(healthRequest(''))] });
      await sleep(50);
      cancelled.req.close(http2.constants.NGHTTP2_CANCEL);
      await cancelled.reply;
      serving = false;
      health.update();
      health.endWatches();
      const r = await w.reply;
      assert.deepEqual(got, [2, 1, 2]);
      assert.equal(r.trailers?.['grpc-status'], '0');
      const u = await unknown.reply;
      assert.deepEqual(healthStatuses(u.data), [3], 'SERVICE_UNKNOWN, no changes');
      assert.equal(u.trailers?.['grpc-status'], '0', 'the drain ends an unknown-service watch too');
      // Every watch unsubscribed: nothing left listening on the health state.
      assert.equal((health as unknown as { events: { listenerCount(e: string): number } }).events.listenerCount('change'), 0);
    } finally {
      await h.close();
    }
  });
});

describe('grpc-h2: drain', { timeout: 10_000 }, () => {
  it('GOAWAY to connected clients, in-flight Checks finish, new streams are refused; drained', async () => {
    const h = await start(recording([], 300));
    try {
      await call(h.session, V3).reply; // the connection is up
      const inFlight = call(h.session, V3);
      await sleep(50);
      let goaway = false;
      h.session.on('goaway', () => (goaway = true));
      const drained = h.listener.drain(5000);
      await waitUntil(() => goaway, 2000, 'GOAWAY received');
      // After GOAWAY the client may open no new stream on this connection, and no new connection is accepted.
      // Node 20's client throws at once; Node 24's hands back a stream that fails. Either way none is served.
      let refused: boolean;
      try {
        const s = h.session.request({ ...GRPC_HEADERS, ':path': V3 });
        refused = await new Promise<boolean>((resolve) => {
          s.once('response', () => resolve(false));
          s.once('error', () => resolve(true));
          s.once('close', () => resolve(true));
          s.end();
        });
      } catch (err) {
        refused = (err as { code?: string }).code === 'ERR_HTTP2_GOAWAY_SESSION';
      }
      assert.ok(refused, 'no new stream is served on the connection after GOAWAY');
      const fresh = http2.connect(`http://127.0.0.1:${h.listener.port}`);
      await new Promise<void>((resolve) => {
        fresh.once('error', () => resolve());
        fresh.once('connect', () => resolve());
      });
      assert.equal(fresh.connecting || fresh.destroyed || fresh.closed, true, 'no new connection during the drain');
      fresh.destroy();
      assert.equal(grpcStatus(await inFlight.reply), '0', 'the in-flight Check finished');
      assert.equal(await drained, 'drained');
    } finally {
      h.session.destroy();
    }
  });

  it('a call still open at the deadline is cancelled: forced', async () => {
    const h = await start(recording([]));
    try {
      const open = call(h.session, V3, { chunks: [prefixOnly(100)], end: false });
      await sleep(50);
      const t0 = Date.now();
      assert.equal(await h.listener.drain(200), 'forced');
      assert.ok(Date.now() - t0 < 2000);
      const r = await open.reply;
      assert.notEqual(grpcStatus(r), '0');
    } finally {
      h.session.destroy();
    }
  });
});

describe('grpc-h2: TLS and mTLS through the TlsReloader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-h2-tls-'));
  const ca = new TestCa(join(dir, 'ca'), 'ca');
  const other = new TestCa(join(dir, 'other'), 'other');
  const server = ca.issue('server', 'zt-authz');
  const client = ca.issue('client', 'ingress');
  const stranger = other.issue('client', 'stranger');
  for (const [n, v] of [
    ['tls.crt', server.cert],
    ['tls.key', server.key],
    ['ca.crt', ca.cert],
    ['r.crt', server.cert],
    ['r.key', server.key],
  ])
    writeFileSync(join(dir, n!), v!);

  const connect = (port: number, opts: http2.SecureClientSessionOptions): Promise<http2.ClientHttp2Session> =>
    new Promise((resolve, reject) => {
      const s = http2.connect(`https://localhost:${port}`, { ca: ca.cert, ...opts });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  /** Mutual TLS failures surface on the first request (TLS 1.3): a call must not succeed. */
  const callFails = async (port: number, opts: http2.SecureClientSessionOptions): Promise<void> => {
    let s: http2.ClientHttp2Session | undefined;
    try {
      s = await connect(port, opts);
      s.on('error', () => undefined);
      const r = await call(s, V3).reply;
      assert.notEqual(grpcStatus(r), '0');
    } catch {
      // refused at the handshake: as good
    } finally {
      s?.destroy();
    }
  };

  it('TLS: h2 over ALPN, Checks answered', async () => {
    const tls = new TlsReloader({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), reloadSeconds: 0 });
    const listener = await startH2GrpcServer('127.0.0.1:0', recording([]), new HealthState(() => true), { tls });
    const s = await connect(listener.port, {});
    try {
      assert.equal((s.socket as unknown as { alpnProtocol: string }).alpnProtocol, 'h2');
      assert.equal(grpcStatus(await call(s, V3).reply), '0');
    } finally {
      s.destroy();
      await listener.drain(200);
    }
  });

  it('mTLS: a client certificate from clientCaFile is required; none or a stranger is refused', async () => {
    const tls = new TlsReloader({
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
      clientCaFile: join(dir, 'ca.crt'),
      reloadSeconds: 0,
    });
    const listener = await startH2GrpcServer('127.0.0.1:0', recording([]), new HealthState(() => true), { tls });
    try {
      const s = await connect(listener.port, { cert: client.cert, key: client.key });
      assert.equal(grpcStatus(await call(s, V3).reply), '0');
      s.destroy();
      await callFails(listener.port, {});
      await callFails(listener.port, { cert: stranger.cert, key: stranger.key });
    } finally {
      await listener.drain(200);
    }
  });

  it('a reloaded certificate is served to new connections (setSecureContext)', async () => {
    const tls = new TlsReloader({ certFile: join(dir, 'r.crt'), keyFile: join(dir, 'r.key'), reloadSeconds: 0 });
    const listener = await startH2GrpcServer('127.0.0.1:0', recording([]), new HealthState(() => true), { tls });
    try {
      const serial = async (): Promise<string> => {
        const s = await connect(listener.port, {});
        const got = (s.socket as unknown as { getPeerCertificate(): { serialNumber: string } }).getPeerCertificate().serialNumber;
        s.destroy();
        return got;
      };
      assert.equal(await serial(), server.serial);
      const next = ca.issue('server', 'zt-authz-2');
      writeFileSync(join(dir, 'r.crt'), next.cert);
      writeFileSync(join(dir, 'r.key'), next.key);
      assert.equal(tls.check(), 'reloaded');
      assert.equal(await serial(), next.serial);
    } finally {
      await listener.drain(200);
    }
  });
});
