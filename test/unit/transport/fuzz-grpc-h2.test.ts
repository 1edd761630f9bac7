// Raw HTTP/2 against the node:http2 gRPC server (server.grpcImplementation: node-http2), from a
// bare node:http2 client that frames gRPC by hand, so it can send what no gRPC library would:
//  a. property: random 5-byte prefixes (compressed flag, declared length off by a little or by
//     gigabytes), truncated or padded bodies, bodies split across DATA frames, grpc-encoding gzip.
//     The allowed request is allowed exactly when its frame is well-formed; anything else is an
//     RPC error or a deny, never an allow, and every call is answered (no hang);
//  b. huge declared lengths are refused from the prefix (RESOURCE_EXHAUSTED before the client ends
//     the stream) and the bytes sent after them are not buffered: the server's RSS stays put;
//  c. streams reset mid-message, streams that never end (released at their grpc-timeout), 2,000
//     idle streams on one connection and 300 connections opened and abandoned: afterwards the
//     server answers a normal Check at once, nothing is left in flight, RSS stays bounded.
// The server is a real `zt-authz serve` process, so its RSS is its own (read from /proc).
// Runs: FUZZ_RUNS / FUZZ_SEED (test/helpers/arbitraries.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { protoRoot } from '../../../src/transport/grpc/protos.js';
import { freePort, readMetric, sleep, waitUntil } from '../../helpers/app.js';
import { captureChild, registerToken } from '../../helpers/capture.js';
import { fuzzParams } from '../../helpers/arbitraries.js';
import { encodeCheckRequest, type RequestSpec } from '../../helpers/protowire.js';

const CLI = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const V3 = '/envoy.service.auth.v3.Authorization/Check';
const ISS = 'https://h2-fuzz.issuer';
const ALLOWED_PATH = '/h2/allowed';
const MAX_RECEIVE = 64 * 1024; // server.grpcMaxReceiveBytes here: small, so "huge" starts low
const MiB = 1024 * 1024;

// ---- the server process ----

let child: ChildProcess;
let grpcPort: number;
let adminPort: number;
let token: string;
const dir = mkdtempSync(join(tmpdir(), 'zt-h2fuzz-'));

function rssBytes(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  assert.ok(m, 'VmRSS readable');
  return Number(m[1]) * 1024;
}

before(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'h2', alg: 'ES256', use: 'sig' };
  token = registerToken(
    await new SignJWT({ iss: ISS, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })
      .setProtectedHeader({ alg: 'ES256', kid: 'h2' })
      .sign(pair.privateKey),
  );
  grpcPort = await freePort();
  adminPort = await freePort();
  const cfg = join(dir, 'config.yaml');
  // JSON is YAML: the whole config in one line of JSON.
  writeFileSync(
    cfg,
    JSON.stringify({
      server: {
        grpc: `127.0.0.1:${grpcPort}`,
        admin: `127.0.0.1:${adminPort}`,
        http: '127.0.0.1:0',
        grpcImplementation: 'node-http2',
        grpcMaxReceiveBytes: MAX_RECEIVE,
        drainSeconds: 1,
      },
      log: { level: 'error' },
      issuers: [{ issuer: ISS, jwks: { keys: [jwk] }, algorithms: ['ES256'], anyAudience: true }],
      policies: [
        {
          name: 'only-this',
          rules: [
            {
              from: [{ source: { requestPrincipals: [`${ISS}/alice`] } }],
              to: [{ operation: { methods: ['GET'], paths: [ALLOWED_PATH] } }],
            },
          ],
        },
      ],
    }),
  );
  child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  captureChild('zt-authz serve (h2 fuzz)', child); // log hygiene
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 200, 20_000, 'ready');
});

after(async () => {
  if (child && child.exitCode === null) {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

// ---- raw calls ----

function allowedSpec(): RequestSpec {
  return {
    method: 'GET',
    path: ALLOWED_PATH,
    host: 'svc.h2',
    id: '1',
    protocol: 'HTTP/1.1',
    headers: [['authorization', `Bearer ${token}`]],
    source: { address: '10.0.0.1', port: 40000 },
    destination: { address: '10.0.0.2', port: 8080 },
  };
}

function prefix(flag: number, length: number): Buffer {
  const p = Buffer.alloc(5);
  p[0] = flag;
  p.writeUInt32BE(length >>> 0, 1);
  return p;
}

interface RawResult {
  status?: number;
  grpcStatus?: string;
  grpcMessage?: string;
  body: Buffer;
  /** The server's answer (headers with grpc-status, or trailers) came before the client ended the stream. */
  answeredBeforeEnd: boolean;
  rstCode?: number;
  hung: boolean;
}

interface RawCall {
  chunks: Buffer[];
  /** End the stream after the chunks (default true). */
  end?: boolean;
  headers?: Record<string, string>;
  /** Client-side limit: no answer by then is a hang. */
  waitMs?: number;
  /** Reset the stream (CANCEL) right after sending the chunks. */
  reset?: boolean;
}

function session(): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${grpcPort}`);
  s.on('error', () => undefined); // resets and GOAWAYs are what some tests provoke
  return s;
}

function rawCall(s: http2.ClientHttp2Session, c: RawCall): Promise<RawResult> {
  return new Promise((resolve) => {
    const out: RawResult = { body: Buffer.alloc(0), answeredBeforeEnd: false, hung: false };
    let ended = false;
    const req = s.request(
      { ':method': 'POST', ':path': V3, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S', ...c.headers },
      { endStream: false },
    );
    const answered = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] === undefined) return;
      out.grpcStatus = String(h['grpc-status']);
      out.grpcMessage = h['grpc-message'] === undefined ? undefined : decodeURIComponent(String(h['grpc-message']));
      if (!ended) out.answeredBeforeEnd = true;
    };
    req.on('response', (h) => {
      out.status = Number(h[':status']);
      answered(h);
    });
    req.on('trailers', answered);
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('error', () => undefined);
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      out.body = Buffer.concat(parts);
      out.rstCode = req.rstCode;
      resolve(out);
    };
    // A client stream whose session went away may never emit 'close': the timer settles it too.
    const timer = setTimeout(() => {
      out.hung = true;
      req.close(http2.constants.NGHTTP2_CANCEL);
      settle();
    }, c.waitMs ?? 10_000);
    req.on('close', settle);
    for (const chunk of c.chunks) if (!req.destroyed) req.write(chunk);
    if (c.reset) req.close(http2.constants.NGHTTP2_CANCEL);
    else if (c.end !== false) {
      ended = true;
      req.end();
    }
  });
}

/** The call was answered OK with a CheckResponse that allows. */
function allowed(r: RawResult): boolean {
  if (r.grpcStatus !== '0') return false;
  assert.ok(r.body.length >= 5, 'an OK answer carries a message');
  const len = r.body.readUInt32BE(1);
  assert.equal(r.body.length, 5 + len, 'one whole response message');
  const res = protoRoot().lookupType('envoy.service.auth.v3.CheckResponse').decode(r.body.subarray(5)) as unknown as {
    status?: { code?: number };
  };
  return (res.status?.code ?? 0) === 0;
}

async function assertServesNormally(what: string): Promise<void> {
  const s = session();
  try {
    const body = encodeCheckRequest(allowedSpec());
    const started = Date.now();
    const r = await rawCall(s, { chunks: [prefix(0, body.length), body], waitMs: 5000 });
    assert.ok(allowed(r), `${what}: a normal Check is allowed (${JSON.stringify({ ...r, body: r.body.length })})`);
    assert.ok(Date.now() - started < 2000, `${what}: answered in ${Date.now() - started} ms`);
  } finally {
    s.close();
  }
  assert.equal(child.exitCode, null, `${what}: the server is still running`);
}

// ---- a. malformed frames ----

interface FrameCase {
  flag: number;
  /** Declared length minus the bytes sent (0: exact). */
  delta: number;
  /** Bytes cut from the end of the body, or junk appended (negative). */
  cut: number;
  /** Number of DATA writes the frame is split into. */
  pieces: number;
  gzip: boolean;
}

const frameCase: fc.Arbitrary<FrameCase> = fc.record({
  flag: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  delta: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: -40, max: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: MAX_RECEIVE, max: 0xffffffff }) },
  ),
  cut: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -30, max: 200 }) }),
  pieces: fc.integer({ min: 1, max: 12 }),
  gzip: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

function frameBytes(c: FrameCase): { bytes: Buffer; wellFormed: boolean } {
  const full = encodeCheckRequest(allowedSpec());
  const body = c.cut >= 0 ? full.subarray(0, Math.max(0, full.length - c.cut)) : Buffer.concat([full, Buffer.alloc(-c.cut, 0x7f)]);
  const declared = Math.max(0, Math.min(0xffffffff, body.length + c.delta));
  const bytes = Buffer.concat([prefix(c.flag, declared), body]);
  return { bytes, wellFormed: c.flag === 0 && declared === body.length && c.cut === 0 && !c.gzip };
}

function split(b: Buffer, pieces: number): Buffer[] {
  const out: Buffer[] = [];
  const size = Math.max(1, Math.ceil(b.length / pieces));
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

describe('raw HTTP/2 fuzz: malformed gRPC frames [node-http2]', () => {
  it('the allowed request is allowed exactly when its frame is well-formed; every call is answered', async (ctx) => {
    const s = session();
    const seen = { allowed: 0, refused: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(frameCase, async (c) => {
          const { bytes, wellFormed } = frameBytes(c);
          const r = await rawCall(s, {
            chunks: split(bytes, c.pieces),
            ...(c.gzip ? { headers: { 'grpc-encoding': 'gzip' } } : {}),
          });
          const show = JSON.stringify({ ...c, result: { ...r, body: r.body.length } });
          assert.equal(r.hung, false, `no answer: ${show}`);
          assert.equal(r.status, 200, `HTTP status: ${show}`);
          assert.ok(r.grpcStatus !== undefined, `grpc-status present: ${show}`);
          const ok = allowed(r);
          assert.equal(ok, wellFormed, `allowed=${ok}, well-formed=${wellFormed}: ${show}`);
          if (ok) seen.allowed++;
          else seen.refused++;
        }),
        fuzzParams(200, 0.5),
      );
    } finally {
      s.close();
    }
    ctx.diagnostic(`outcomes: ${JSON.stringify(seen)}`);
    assert.ok(seen.allowed > 0 && seen.refused > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
    await assertServesNormally('after the frame fuzz');
  });
});

// ---- b, c. resources ----

describe('raw HTTP/2: resource bounds [node-http2]', () => {
  it('huge declared lengths: RESOURCE_EXHAUSTED from the prefix, before the stream ends; what follows is not buffered', async () => {
    await assertServesNormally('baseline');
    const rss0 = rssBytes();
    // 20 streams per connection: the DATA a refused stream still carries arrives on a closed
    // stream, and node:http2 ends a connection that sends too many such frames
    // (ENHANCE_YOUR_CALM), which would refuse the rest before their prefixes are read.
    const sessions = Array.from({ length: 10 }, () => session());
    try {
      const junk = Buffer.alloc(256 * 1024, 0x41);
      const calls = Array.from({ length: 200 }, (_, i) => {
        const declared = i % 2 ? 0xffffffff : MAX_RECEIVE + 1 + i * 7919;
        return rawCall(sessions[i % 10]!, { chunks: [prefix(0, declared), junk], end: false, waitMs: 15_000 });
      });
      const results = await Promise.all(calls);
      for (const r of results) {
        assert.equal(r.hung, false, 'answered');
        assert.equal(r.grpcStatus, '8', `RESOURCE_EXHAUSTED, got ${r.grpcStatus} ${r.grpcMessage}`);
        assert.match(r.grpcMessage ?? '', /larger than max/);
        assert.equal(r.answeredBeforeEnd, true, 'refused from the prefix, without waiting for the message');
      }
      // 200 × 256 KiB = 50 MiB sent after the prefixes: a server that buffered it would show.
      const grown = rssBytes() - rss0;
      assert.ok(grown < 32 * MiB, `server RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
    } finally {
      for (const s of sessions) s.close();
    }
    await assertServesNormally('after the huge-length flood');
  });

  it('streams reset mid-message and streams that never end are released; nothing stays in flight', async () => {
    const body = encodeCheckRequest(allowedSpec());
    const s = session();
    try {
      // Reset after half the message: 500 times.
      const resets = await Promise.all(
        Array.from({ length: 500 }, () =>
          rawCall(s, { chunks: [prefix(0, body.length), body.subarray(0, body.length >> 1)], reset: true }),
        ),
      );
      assert.ok(resets.every((r) => !allowed(r)));
      // Half a message, never ended, with a 300 ms deadline: DEADLINE_EXCEEDED at about that time.
      const started = Date.now();
      const stalled = await Promise.all(
        Array.from({ length: 50 }, () =>
          rawCall(s, {
            chunks: [prefix(0, body.length), body.subarray(0, 10)],
            end: false,
            headers: { 'grpc-timeout': '300m' },
            waitMs: 10_000,
          }),
        ),
      );
      const took = Date.now() - started;
      for (const r of stalled) {
        assert.equal(r.hung, false, 'released by its deadline');
        assert.equal(r.grpcStatus, '4', `DEADLINE_EXCEEDED, got ${r.grpcStatus} ${r.grpcMessage}`);
      }
      assert.ok(took < 5000, `50 stalled streams released after ${took} ms (deadline 300 ms)`);
      // A whole message whose stream is never ended: answered or DEADLINE_EXCEEDED, never left hanging.
      const open = await rawCall(s, {
        chunks: [prefix(0, body.length), body],
        end: false,
        headers: { 'grpc-timeout': '500m' },
        waitMs: 10_000,
      });
      assert.equal(open.hung, false);
      assert.ok(open.grpcStatus === '0' || open.grpcStatus === '4', `got ${open.grpcStatus} ${open.grpcMessage}`);
    } finally {
      s.close();
    }
    await waitUntil(async () => (await readMetric(adminPort, 'zt_authz_checks_in_flight')) === 0, 5000, 'nothing in flight');
    await assertServesNormally('after resets and stalls');
  });

  it('2,000 idle streams on one connection, then 300 connections abandoned: a normal Check still answers, RSS bounded', async () => {
    await assertServesNormally('baseline');
    const rss0 = rssBytes();
    // Headers only, no message, no deadline: the server holds them until its request timeout.
    const idle = session();
    const streams: http2.ClientHttp2Stream[] = [];
    for (let i = 0; i < 2000; i++) {
      const st = idle.request({ ':method': 'POST', ':path': V3, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      st.on('error', () => undefined);
      streams.push(st);
    }
    await waitUntil(() => streams.filter((st) => st.id !== undefined).length >= 2000, 10_000, 'idle streams opened');
    await assertServesNormally('beside 2,000 idle streams');
    idle.destroy(); // abandoned: the socket goes away without GOAWAY or RST_STREAM

    // Connections opened and dropped without a word: HTTP/2 sessions with a stream half sent, and
    // bare TCP connections that send half a preface or nothing.
    const body = encodeCheckRequest(allowedSpec());
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 50 }, () => {
        const s = session();
        const st = s.request({ ':method': 'POST', ':path': V3, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
        st.on('error', () => undefined);
        st.write(Buffer.concat([prefix(0, body.length), body.subarray(0, 20)]));
        return s;
      });
      const sockets = Array.from({ length: 50 }, (_, i) => {
        const sock = netConnect(grpcPort, '127.0.0.1');
        sock.on('error', () => undefined);
        if (i % 2) sock.write('PRI * HTTP/2.0\r\n');
        return sock;
      });
      await sleep(200);
      for (const s of batch) s.destroy();
      for (const sock of sockets) sock.destroy();
    }
    await assertServesNormally('after 300 abandoned connections');
    await waitUntil(async () => (await readMetric(adminPort, 'zt_authz_checks_in_flight')) === 0, 5000, 'nothing in flight');
    const grown = rssBytes() - rss0;
    assert.ok(grown < 48 * MiB, `server RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
  });
});
