// Property-based fuzzing of the gRPC adapter against a real App: CheckRequests are
// encoded by hand (test/helpers/protowire.ts) so string fields can hold invalid UTF-8, and
// sent as raw bytes with identity serializers.
//  a. random, well-framed CheckRequests with adversarial fields → the call completes with a
//     well-formed CheckResponse; OK only for the one allowed combination (GET /fuzz/allowed with
//     alice's token), and always OK for that combination under harmless noise;
//  b. random bytes, truncated and spliced messages → an RPC error or a deny, never OK (unless the
//     bytes really decode to the allowed request), and the server keeps serving.
// Runs: FUZZ_RUNS / FUZZ_SEED (test/helpers/arbitraries.ts).
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import type { TestApp } from '../../helpers/app.js';
import { protoRoot } from '../../../src/transport/grpc/protos.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import type { CheckRequest } from '../../../src/transport/grpc/messages.js';
import { bytesOf, encodeCheckRequest, ld, type Bytes, type RequestSpec } from '../../helpers/protowire.js';
import {
  adversarialClaims,
  fuzzParams,
  hugeString,
  invalidUtf8,
  junkToken,
  nastyString,
  oddHeaderValue,
  oddHost,
  oddMethod,
  oddPath,
  withInvalidUtf8,
} from '../../helpers/arbitraries.js';
import { ALLOWED_PATH, FUZZ_ISS, startFuzzApp, type FuzzApp } from '../../helpers/fuzz-app.js';
import { describeGrpc, type GrpcImplementation } from '../../helpers/grpc-impls.js';

const ISS = FUZZ_ISS;
const V3 = '/envoy.service.auth.v3.Authorization/Check';
const V2 = '/envoy.service.auth.v2.Authorization/Check';

// ---- raw calls and response checks ----

type RawOutcome = { kind: 'response'; bytes: Buffer } | { kind: 'error'; code: number; details: string };

function rawCheck(client: grpc.Client, method: string, body: Buffer, timeoutMs = 10_000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      method,
      (b) => b,
      (b) => b,
      body,
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + timeoutMs) },
      (err, res) => resolve(err ? { kind: 'error', code: err.code, details: err.details } : { kind: 'response', bytes: res! }),
    );
  });
}

interface Checked {
  ok: boolean;
  code: number;
  reason: string | undefined;
}

const TOKEN_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const SAFE_VALUE = /^[^\u0000-\u0008\u000a-\u001f\u007f]*$/;
const DENY_CODES = new Map([
  [3, 400],
  [7, 403],
  [16, 401],
]); // google.rpc.Code → HTTP status

/** Decode a CheckResponse and assert it is well-formed; returns whether it is OK. */
function checkResponse(version: 'v3' | 'v2', bytes: Buffer): Checked {
  const Res = protoRoot().lookupType(`envoy.service.auth.${version}.CheckResponse`);
  const msg = Res.decode(bytes);
  // Every string must be valid UTF-8: re-encoding the decoded message gives the same bytes.
  assert.ok(Buffer.from(Res.encode(msg).finish()).equals(bytes), 'CheckResponse holds invalid UTF-8 (re-encoding changes it)');
  const r = Res.toObject(msg, { defaults: false, enums: Number, longs: String }) as {
    status?: { code?: number; message?: string };
    okResponse?: { headers?: Array<{ header?: { key?: string; value?: string } }>; headersToRemove?: string[] };
    deniedResponse?: { status?: { code?: number }; headers?: Array<{ header?: { key?: string; value?: string } }>; body?: string };
    dynamicMetadata?: { fields?: Record<string, { stringValue?: string }> };
  };
  const code = r.status?.code ?? 0;
  const reason = r.dynamicMetadata?.fields?.reason?.stringValue;
  const headerOk = (h: { header?: { key?: string; value?: string } }) => {
    const k = h.header?.key ?? '';
    const v = h.header?.value ?? '';
    assert.match(k, TOKEN_NAME, `header name ${JSON.stringify(k)}`);
    assert.match(v, SAFE_VALUE, `header ${k} value ${JSON.stringify(v.slice(0, 100))}`);
  };
  if (code === 0) {
    assert.ok(r.okResponse, 'OK carries an ok_response');
    assert.equal(r.deniedResponse, undefined);
    if (version === 'v3') assert.ok(reason === 'allowed' || reason === 'observed', `OK with reason ${reason}`); // v2 has no dynamic_metadata
    (r.okResponse.headers ?? []).forEach(headerOk);
    for (const n of r.okResponse.headersToRemove ?? []) assert.match(n, TOKEN_NAME);
    return { ok: true, code, reason };
  }
  assert.ok(
    DENY_CODES.has(code),
    `unexpected gRPC status ${code} (${r.status?.message}); expected OK, INVALID_ARGUMENT, PERMISSION_DENIED or UNAUTHENTICATED`,
  );
  assert.ok(r.deniedResponse, 'a deny carries a denied_response');
  assert.equal(r.okResponse, undefined);
  assert.equal(r.deniedResponse.status?.code, DENY_CODES.get(code), 'HTTP status matches the gRPC code');
  (r.deniedResponse.headers ?? []).forEach(headerOk);
  const body = JSON.parse(r.deniedResponse.body ?? '') as { error?: string };
  assert.equal(body.error, r.status?.message, 'body names the reason');
  if (version === 'v3') assert.equal(body.error, reason);
  return { ok: false, code, reason: body.error };
}

// ---- the fixture: one allowed combination ----

let t: TestApp;
let client: grpc.Client;
let good: string;

let sign: FuzzApp['sign'];

function allowedSpec(): RequestSpec {
  return {
    method: 'GET',
    path: ALLOWED_PATH,
    host: 'svc.fuzz',
    id: '1',
    protocol: 'HTTP/1.1',
    headers: [
      ['authorization', `Bearer ${good}`],
      ['x-request-id', 'fz'],
    ],
    source: { address: '10.0.0.1', port: 40000 },
    destination: { address: '10.0.0.2', port: 8080 },
  };
}

/**
 * Each suite below runs once per server implementation, against its own app (suites run one
 * after another, so the module-level fixture belongs to one suite at a time).
 */
function fixture(impl: GrpcImplementation): void {
  before(async () => {
    ({ t, sign, good } = await startFuzzApp(impl));
    client = new grpc.Client(`127.0.0.1:${t.grpcPort}`, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 8 * 1024 * 1024,
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
    });
  });
  after(async () => {
    client?.close();
    await t?.stop();
  });
}

/**
 * limits.maxHeaderBytes (when configured): header names + values, as decoded strings, over the
 * limit make the request malformed, however harmless the headers are.
 */
function headerChars(s: RequestSpec): { chars: number; limit: number } | undefined {
  const limit = (t.config.limits as { maxHeaderBytes?: number }).maxHeaderBytes;
  if (limit === undefined) return undefined;
  const text = (b: Bytes) => bytesOf(b).toString('utf8');
  const entries =
    s.headerMap !== undefined || s.repeated?.length
      ? [...(s.headers ?? []), ...(s.repeated ?? [])]
      : [...new Map((s.headers ?? []).map(([k, v]) => [text(k), v])).entries()];
  return { chars: entries.reduce((n, [k, v]) => n + text(k).length + text(v).length, 0), limit };
}

/** The detail of the most recent audit record (why a request was denied). */
function lastDetail(): string {
  for (let i = t.lines.length - 1; i >= 0; i--) {
    const line = t.lines[i]!;
    if (line.includes('"logger":"audit"')) return String((JSON.parse(line) as { detail?: unknown }).detail);
  }
  return '(no audit record)';
}

async function assertStillServing(): Promise<void> {
  const out = await rawCheck(client, V3, encodeCheckRequest(allowedSpec()));
  assert.equal(out.kind, 'response', `the allowed request still gets an answer: ${JSON.stringify(out)}`);
  assert.equal(checkResponse('v3', (out as { bytes: Buffer }).bytes).ok, true, 'the allowed request is still allowed');
}

// ---- a. well-framed requests with adversarial fields ----

/**
 * A mutation of the allowed request. `benign` ones must keep it allowed, `breaking` ones must
 * make it denied; `token` ones swap the credential for a signed token with adversarial claims
 * (allowed only if its sub is still alice and the claims verify).
 */
/** `either`: the server may accept or refuse it (an odd host may or may not be a routable one). */
type Mutation =
  | { kind: 'benign' | 'either' | 'breaking'; name: string; apply(s: RequestSpec): void }
  | { kind: 'token'; name: string; claims: Record<string, unknown> };

const noiseName = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), minLength: 1, maxLength: 12 })
  .map((s) => `x-fz-${s}`);
const bytesValue: fc.Arbitrary<Bytes> = fc.oneof(oddHeaderValue, withInvalidUtf8(nastyString(30)));
const anyBytes: fc.Arbitrary<Bytes> = fc.oneof(nastyString(40), withInvalidUtf8(nastyString(20)), hugeString(1000, 20_000));
const sameAllowedPath = fc.constantFrom(ALLOWED_PATH, '/fuzz/allowed?x=1', '/fuzz/allowed?a=%ff&b=\u4e00');
// Non-canonical spellings of the allowed path are refused by default (paths.nonCanonical), and so are
// path parameters (paths.parameters): the proxy would forward them as sent.
const nonCanonicalAllowedPath = fc.constantFrom(
  '/fuzz/allowed#frag',
  '/fuzz/allowed#/../admin',
  '/fuzz/./allowed',
  '//fuzz//allowed',
  '/fuzz/%61llowed',
  '/x/../fuzz/allowed',
  '/fuzz/allowed/.',
  '/fuzz;x=1/allowed',
  '/fuzz/allowed;',
  '/fuzz/allowed%3B',
);
const wrongPath = oddPath.filter((p) => !/^\/+fuzz\/+allowed(?:[?#]|$)/.test(p));
const wrongMethod = oddMethod.filter((m) => m.toUpperCase() !== 'GET');

const setHeader = (s: RequestSpec, name: string, value: Bytes) => {
  s.headers = (s.headers ?? []).filter(([k]) => k !== name);
  s.headers.push([name, value]);
};

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // benign: noise the policy does not look at
  fc
    .array(fc.tuple(noiseName, bytesValue), { minLength: 1, maxLength: 30 })
    .map((hs): Mutation => ({ kind: 'benign', name: 'noise headers', apply: (s) => hs.forEach(([k, v]) => setHeader(s, k, v)) })),
  fc.integer({ min: 200, max: 250 }).map((n): Mutation => ({
    kind: 'benign',
    name: `${n} more headers`,
    apply: (s) => Array.from({ length: n }, (_, i) => setHeader(s, `x-fz-n${i}`, 'v')),
  })),
  hugeString(20_000, 150_000).map((v): Mutation => ({ kind: 'benign', name: 'huge header', apply: (s) => setHeader(s, 'x-fz-huge', v) })),
  // Spellings of a routable host are benign; a host no proxy would route is malformed; odd ones go either way.
  fc
    .constantFrom('orders', 'ORDERS:8080', '[::1]:443', 'orders.', 'Orders.:', 'orders:0443')
    .map((h): Mutation => ({ kind: 'benign', name: `host ${h}`, apply: (s) => (s.host = h) })),
  fc
    .constantFrom('h\u00e9', ':8080', 'orders:99999', 'orders..', 'orders:x', 'a b')
    .map((h): Mutation => ({ kind: 'breaking', name: `unroutable host ${h}`, apply: (s) => (s.host = h) })),
  fc.oneof(oddHost, withInvalidUtf8(oddHost)).map((h): Mutation => ({ kind: 'either', name: 'odd host', apply: (s) => (s.host = h) })),
  fc.record({ principal: anyBytes, address: anyBytes, port: fc.nat() }).map((p): Mutation => ({
    kind: 'benign',
    name: 'odd source',
    apply: (s) => (s.source = { ...p, labels: [[p.address, p.principal]] }),
  })),
  fc
    .record({ principal: anyBytes, address: anyBytes, port: fc.nat() })
    .map((p): Mutation => ({ kind: 'benign', name: 'odd destination', apply: (s) => (s.destination = p) })),
  fc
    .array(fc.tuple(fc.oneof(fc.constant<Bytes>('namespace'), anyBytes), anyBytes), { maxLength: 4 })
    .map((e): Mutation => ({ kind: 'benign', name: 'odd context extensions', apply: (s) => (s.contextExtensions = e) })),
  fc.tuple(anyBytes, anyBytes, anyBytes).map(([sni, id, rid]): Mutation => ({
    kind: 'benign',
    name: 'odd sni/id/request id',
    apply: (s) => ((s.sni = sni), (s.id = id), setHeader(s, 'x-request-id', rid)),
  })),
  sameAllowedPath.map((p): Mutation => ({ kind: 'benign', name: `same path ${p}`, apply: (s) => (s.path = p) })),
  nonCanonicalAllowedPath.map((p): Mutation => ({ kind: 'breaking', name: `non-canonical path ${p}`, apply: (s) => (s.path = p) })),
  // The allowed combination's ALLOW names GET: methods compare as sent where a match admits.
  fc.constantFrom('get', 'Get').map((m): Mutation => ({ kind: 'breaking', name: `method ${m}`, apply: (s) => (s.method = m) })),
  fc
    .constantFrom<'value' | 'raw'>('value', 'raw')
    .map((form): Mutation => ({ kind: 'benign', name: `header_map (${form})`, apply: (s) => (s.headerMap = form) })),
  // breaking: the policy or the limits must say no
  wrongPath.map((p): Mutation => ({ kind: 'breaking', name: 'other path', apply: (s) => (s.path = p) })),
  withInvalidUtf8(fc.constant(ALLOWED_PATH)).map((p): Mutation => ({
    kind: 'breaking',
    name: 'path with invalid UTF-8',
    apply: (s) => (s.path = p),
  })),
  hugeString(16_400, 40_000).map((p): Mutation => ({
    kind: 'breaking',
    name: 'giant path',
    apply: (s) => (s.path = `${ALLOWED_PATH}/${p}`),
  })),
  wrongMethod.map((m): Mutation => ({ kind: 'breaking', name: 'other method', apply: (s) => (s.method = m) })),
  withInvalidUtf8(fc.constant('GET')).map((m): Mutation => ({
    kind: 'breaking',
    name: 'method with invalid UTF-8',
    apply: (s) => (s.method = m),
  })),
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'no credential',
    apply: (s) => ((s.headers = (s.headers ?? []).filter(([k]) => k !== 'authorization')), (s.repeated = [])),
  }),
  junkToken(ISS).map((tok): Mutation => ({
    kind: 'breaking',
    name: 'junk token',
    apply: (s) => setHeader(s, 'authorization', `Bearer ${tok}`),
  })),
  withInvalidUtf8(fc.constant('Bearer ')).map((v): Mutation => ({
    kind: 'breaking',
    name: 'authorization with invalid UTF-8',
    apply: (s) => setHeader(s, 'authorization', Buffer.concat([bytesOf(v), Buffer.from(good)])),
  })),
  fc.integer({ min: 257, max: 600 }).map((n): Mutation => ({
    kind: 'breaking',
    name: `${n} headers`,
    apply: (s) => Array.from({ length: n }, (_, i) => setHeader(s, `x-fz-m${i}`, 'v')),
  })),
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'repeated authorization (header_map)',
    apply: (s) => (s.repeated = [...(s.repeated ?? []), ['Authorization', `Bearer ${good}`], ['authorization', `Bearer ${good}`]]),
  }),
  adversarialClaims(ISS).map((claims): Mutation => ({ kind: 'token', name: 'signed adversarial claims', claims })),
);

describeGrpc('fuzz: gRPC Check with adversarial fields', (impl) => {
  fixture(impl);
  it('completes with a well-formed CheckResponse; OK exactly for the allowed combination', async (ctx) => {
    const seen = { ok: 0, deny: 0, benignOnly: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { maxLength: 3 }), fc.boolean(), async (mutations, v2) => {
        const spec = allowedSpec();
        let expect: 'ok' | 'deny' | 'either' = 'ok';
        // Token swaps, then harmless changes, then breaking ones, so a breaking change always sticks.
        const rank = { token: 0, benign: 1, either: 2, breaking: 3 } as const;
        const ordered = [...mutations].sort((a, b) => rank[a.kind] - rank[b.kind]);
        for (const m of ordered) {
          if (m.kind === 'token') {
            setHeader(spec, 'authorization', `Bearer ${await sign(m.claims)}`);
            if (expect === 'ok') expect = m.claims.sub === 'alice' ? 'either' : 'deny';
          } else {
            m.apply(spec);
            if (m.kind === 'breaking') expect = 'deny';
            else if (m.kind === 'either' && expect === 'ok') expect = 'either';
          }
        }
        // limits.maxHeaderBytes counts decoded characters; protobufjs decodes invalid UTF-8 a little
        // differently from Buffer (the estimate below), so a band around the limit goes either way.
        const size = headerChars(spec);
        if (expect !== 'deny' && size !== undefined && Math.abs(size.chars - size.limit) <= 1000) expect = 'either';
        else if (expect !== 'deny' && size !== undefined && size.chars > size.limit) expect = 'deny';
        const version = v2 && !spec.headerMap && !spec.repeated ? 'v2' : 'v3'; // v2 has no header_map
        const out = await rawCheck(client, version === 'v2' ? V2 : V3, encodeCheckRequest(spec));
        const names = mutations.map((m) => m.name).join(', ');
        assert.equal(out.kind, 'response', `RPC failed (${names}): ${JSON.stringify(out)}`);
        const got = checkResponse(version, (out as { bytes: Buffer }).bytes);
        if (got.ok) seen.ok++;
        else seen.deny++;
        if (expect === 'ok') {
          seen.benignOnly++;
          assert.equal(got.ok, true, `denied (${got.reason}: ${lastDetail()}) after only harmless changes: ${names}`);
        } else if (expect === 'deny') {
          assert.equal(got.ok, false, `allowed after: ${names}`);
        }
        // 'either': a signed token for alice with odd claims, or a head at the size limit.
      }),
      fuzzParams(200, 0.25),
    );
    ctx.diagnostic(`outcomes: ${JSON.stringify(seen)}`);
    assert.ok(seen.ok > 20 && seen.deny > 20, `both outcomes occur often: ${JSON.stringify(seen)}`);
    await assertStillServing();
  });
});

// ---- b. bytes that are not a (complete) CheckRequest ----

function describeBytes(bytes: Buffer): string {
  try {
    return JSON.stringify(protoRoot().lookupType('envoy.service.auth.v3.CheckRequest').decode(bytes)).slice(0, 1500);
  } catch (err) {
    return `undecodable (${(err as Error).message}): ${bytes.toString('hex')}`;
  }
}

/** Does `bytes` genuinely encode the allowed request (the only case an OK is acceptable)? */
function reallyAllowed(version: 'v3' | 'v2', bytes: Buffer): boolean {
  let msg: CheckRequest;
  try {
    msg = protoRoot().lookupType(`envoy.service.auth.${version}.CheckRequest`).decode(bytes) as unknown as CheckRequest;
  } catch {
    return false;
  }
  const norm = normalizeCheckRequest(msg, t.config.limits);
  return (
    norm.ok && norm.input.method === 'GET' && norm.input.path === ALLOWED_PATH && norm.input.headers.authorization === `Bearer ${good}`
  );
}

const garbage: fc.Arbitrary<{ name: string; bytes: () => Buffer }> = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((b) => ({ name: 'random bytes', bytes: () => Buffer.from(b) })),
  fc.nat().map((n) => ({
    name: 'truncated allowed request',
    bytes: () => {
      const full = encodeCheckRequest(allowedSpec());
      return full.subarray(0, n % full.length);
    },
  })),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([at, junk]) => ({
    name: 'bytes spliced into the allowed request',
    bytes: () => {
      const full = encodeCheckRequest(allowedSpec());
      const i = at % (full.length + 1);
      return Buffer.concat([full.subarray(0, i), junk, full.subarray(i)]);
    },
  })),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => ({
    name: 'one byte flipped in the allowed request',
    bytes: () => {
      const full = Buffer.from(encodeCheckRequest(allowedSpec()));
      full[at % full.length]! ^= x;
      return full;
    },
  })),
  fc.constantFrom(
    { name: 'length prefix far beyond the end', bytes: () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]) },
    { name: 'overlong varint', bytes: () => Buffer.from([0x0a, ...Array(11).fill(0xff), 0x01]) },
    { name: 'group wire types', bytes: () => Buffer.from([0x0b, 0x0c, 0x0b]) },
    { name: 'field number 0', bytes: () => Buffer.from([0x02, 0x00]) },
    { name: 'deeply nested unknown messages', bytes: () => nestUnknown(2000) },
    { name: 'empty message', bytes: () => Buffer.alloc(0) },
  ),
  fc
    .tuple(fc.uint8Array({ maxLength: 200 }), invalidUtf8)
    .map(([b, bad]) => ({ name: 'invalid UTF-8 as the whole attributes', bytes: () => ld(1, Buffer.concat([Buffer.from(b), bad])) })),
);

/** An unknown length-delimited field nested `depth` times (parsers that recurse on unknown groups). */
function nestUnknown(depth: number): Buffer {
  let b: Buffer = Buffer.from([0x08, 0x01]);
  for (let i = 0; i < depth; i++) b = ld(15, b);
  return ld(1, b);
}

describeGrpc('fuzz: gRPC Check with bytes that are not a CheckRequest', (impl) => {
  fixture(impl);
  it('answers with an RPC error or a deny, never OK, and keeps serving', async (ctx) => {
    const seen = { error: 0, deny: 0, ok: 0 };
    await fc.assert(
      fc.asyncProperty(garbage, fc.boolean(), async (g, v2) => {
        const bytes = g.bytes();
        const version = v2 ? 'v2' : 'v3';
        const out = await rawCheck(client, version === 'v2' ? V2 : V3, bytes);
        if (out.kind === 'error') {
          seen.error++;
          // A request the server cannot deserialize gets an RPC error (INTERNAL); never OK.
          assert.notEqual(out.code, grpc.status.OK);
          assert.notEqual(out.code, grpc.status.DEADLINE_EXCEEDED, `${g.name}: the server hung`);
          return;
        }
        const got = checkResponse(version, out.bytes);
        if (got.ok) {
          seen.ok++;
          assert.ok(reallyAllowed(version, bytes), `${g.name} was allowed (${version}): ${describeBytes(bytes)}`);
        } else seen.deny++;
      }),
      fuzzParams(250, 0.25),
    );
    ctx.diagnostic(`outcomes: ${JSON.stringify(seen)}`);
    assert.ok(seen.error > 0 && seen.deny > 0, `both errors and denies occur: ${JSON.stringify(seen)}`);
    await assertStillServing();
  });

  it('a burst of random bytes on many concurrent calls leaves the server serving', async () => {
    const calls = Array.from({ length: 50 }, (_, i) => rawCheck(client, i % 2 ? V2 : V3, randomBytes(1 + ((i * 97) % 3000))));
    (await Promise.all(calls)).forEach((out, i) => {
      if (out.kind === 'response') assert.equal(checkResponse(i % 2 ? 'v2' : 'v3', out.bytes).ok, false);
    });
    await assertStillServing();
  });
});
