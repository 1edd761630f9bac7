// Property-based fuzzing of the HTTP authorization listener against a real App, over
// raw TCP so requests can carry odd methods, giant or invalid request targets, invalid header
// bytes, repeated and oversized headers. In all three modes (Envoy http_service, nginx
// auth_request, ingress-nginx auth-url):
//  - every connection gets one well-formed HTTP/1.1 response or a clean close, never a hang;
//  - 200 only for the allowed combination (GET /fuzz/allowed with alice's token), and always 200
//    for it under harmless noise; never a 5xx (src/transport/http/response.ts: a 5xx is an
//    authorization *error* to Envoy, which failure_mode_allow turns into an allow);
//  - the server keeps serving afterwards.
// Runs: FUZZ_RUNS / FUZZ_SEED (test/helpers/arbitraries.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import type { TestApp } from '../../helpers/app.js';
import { REASON_CODES } from '../../../src/decision/reasons.js';
import { adversarialClaims, fuzzParams, hugeString, junkToken, nastyString, oddHost, oddPath } from '../../helpers/arbitraries.js';
import { ALLOWED_PATH, FUZZ_ISS, startFuzzApp, type FuzzApp } from '../../helpers/fuzz-app.js';

const ISS = FUZZ_ISS;
type Mode = 'envoy' | 'nginx' | 'ingress';

// ---- raw HTTP/1.1 exchange ----

type Bytes = string | Buffer;
const buf = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'latin1') : b);

interface RawRequest {
  method: Bytes;
  target: Bytes;
  version: string;
  /** In order; the credential goes last so a header value that ends the head early drops it. */
  headers: Array<[Bytes, Bytes]>;
  body?: Buffer;
}

function serialize(r: RawRequest): Buffer {
  const parts: Buffer[] = [buf(r.method), Buffer.from(' '), buf(r.target), Buffer.from(` ${r.version}\r\n`)];
  for (const [k, v] of r.headers) parts.push(buf(k), Buffer.from(': '), buf(v), Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  if (r.body) parts.push(r.body);
  return Buffer.concat(parts);
}

type Exchange =
  | { kind: 'response'; status: number; statusLine: string; headers: Array<[string, string]>; body: string }
  | { kind: 'closed'; partial: string }
  | { kind: 'timeout'; partial: string };

/** Send `data`, read the first final (non-1xx) response, then drop the connection. */
function exchange(port: number, data: Buffer, head = false, halfClose = false, timeoutMs = 10_000): Promise<Exchange> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (e: Exchange) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(e);
    };
    const sock = connect(port, '127.0.0.1', () => (halfClose ? sock.end(data) : sock.write(data, () => undefined)));
    sock.on('error', () => undefined); // a reset after the server answered and closed
    const timer = setTimeout(() => finish({ kind: 'timeout', partial: got.toString('latin1').slice(0, 300) }), timeoutMs);
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      for (;;) {
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = got.subarray(0, end).toString('latin1').split('\r\n');
        const statusLine = lines[0]!;
        const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? NaN);
        if (status >= 100 && status < 200) {
          got = got.subarray(end + 4); // interim response (100 Continue): read on
          continue;
        }
        const headers = lines.slice(1).map((l): [string, string] => {
          const i = l.indexOf(':');
          return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1).trim()];
        });
        const cl = headers.find(([k]) => k.toLowerCase() === 'content-length');
        const len = head ? 0 : Number(cl?.[1] ?? NaN);
        if (!Number.isFinite(len)) return finish({ kind: 'response', status, statusLine, headers, body: '' }); // checked by the caller
        if (got.length < end + 4 + len) return;
        return finish({ kind: 'response', status, statusLine, headers, body: got.subarray(end + 4, end + 4 + len).toString('utf8') });
      }
    });
    sock.on('close', () => finish({ kind: 'closed', partial: got.toString('latin1').slice(0, 300) }));
  });
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Assert the exchange is a well-formed authz answer (or a clean close); returns the status. */
function checkExchange(e: Exchange, what: string, head = false): number | 'closed' {
  assert.notEqual(e.kind, 'timeout', `${what}: no response and no close (${e.kind === 'timeout' ? e.partial : ''})`);
  if (e.kind === 'closed') {
    assert.equal(e.partial, '', `${what}: connection closed mid-response: ${JSON.stringify(e.partial)}`);
    return 'closed';
  }
  if (e.kind !== 'response') throw new Error('unreachable');
  assert.match(e.statusLine, /^HTTP\/1\.1 \d{3} [\x20-\x7e]*$/, `${what}: status line ${JSON.stringify(e.statusLine)}`);
  assert.ok([200, 400, 401, 403].includes(e.status), `${what}: status ${e.status} (never a 5xx; only 200/400/401/403)`);
  for (const [k, v] of e.headers) {
    assert.match(k, TOKEN, `${what}: header name ${JSON.stringify(k)}`);
    assert.ok(!/[\u0000-\u0008\u000a-\u001f\u007f]/.test(v), `${what}: header ${k} value ${JSON.stringify(v)}`);
  }
  const header = (n: string) => e.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  assert.equal(header('content-length').length, 1, `${what}: exactly one content-length`);
  if (head) return e.status; // HEAD: headers only
  if (e.status !== 200) {
    assert.equal(header('content-type')[0], 'application/json', `${what}: deny content-type`);
    const body = JSON.parse(e.body) as { error?: string };
    assert.ok(REASON_CODES.includes(body.error as never), `${what}: deny body ${e.body}`);
  } else {
    assert.equal(e.body, '', `${what}: an allow has an empty body`);
  }
  return e.status;
}

// ---- fixture ----

let t: TestApp;
let port: number;
let good: string;

let sign: FuzzApp['sign'];

before(async () => {
  ({ t, sign, good } = await startFuzzApp());
  port = t.app.httpPort;
});

after(async () => {
  await t?.stop();
});

/** The allowed request in each mode; `path`/`method` are what the mutations change. */
interface Spec {
  mode: Mode;
  method: Bytes;
  path: Bytes;
  host: Bytes;
  version: string;
  noise: Array<[Bytes, Bytes]>;
  /** Headers after the noise and before the credential (mode headers, extra copies). */
  extra: Array<[Bytes, Bytes]>;
  auth: Bytes[];
  body?: Buffer;
  /** Leave out the X-Original-* headers of nginx / ingress mode. */
  dropOriginal?: boolean;
  /** ingress mode: X-Routed-Host (nginx's $host) when it differs from the URL's host. */
  routedHost?: Bytes;
}

function allowedSpec(mode: Mode): Spec {
  return { mode, method: 'GET', path: ALLOWED_PATH, host: 'svc.fuzz', version: 'HTTP/1.1', noise: [], extra: [], auth: [`Bearer ${good}`] };
}

function toRaw(s: Spec): RawRequest {
  const headers: Array<[Bytes, Bytes]> = [['Host', s.host], ...s.noise];
  let method: Bytes = s.method;
  let target: Bytes = s.path;
  if (s.mode !== 'envoy') {
    method = 'GET';
    target = s.mode === 'nginx' ? '/nginx-auth' : '/ingress-nginx-auth';
    if (!s.dropOriginal) {
      headers.push(['X-Original-Method', s.method]);
      if (s.mode === 'nginx') headers.push(['X-Original-URI', s.path]);
      else
        headers.push(
          ['X-Original-URL', Buffer.concat([Buffer.from('https://'), buf(s.host), buf(s.path)])],
          ['X-Routed-Host', s.routedHost ?? s.host],
        );
    }
  }
  headers.push(...s.extra);
  for (const a of s.auth) headers.push(['Authorization', a]);
  return { method, target, version: s.version, headers, ...(s.body ? { body: s.body } : {}) };
}

// ---- mutations: benign ones keep the request allowed, breaking ones must deny ----

/** `either`: the server may accept or refuse it (e.g. request-line versions Node's parser tolerates). */
type Mutation =
  | { kind: 'benign' | 'either' | 'breaking'; name: string; apply(s: Spec): void }
  | { kind: 'token'; name: string; claims: Record<string, unknown> };

const visible = (s: string) => !/[\u0000-\u0008\u000a-\u001f\u007f]/.test(s) && !/[^\u0000-\u00ff]/.test(s);
const latin1Value = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x09))
    .map((c) => String.fromCharCode(c)),
  maxLength: 60,
});
const noiseName = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'), minLength: 1, maxLength: 12 })
  .map((s) => `x-fz-${s}`);
const sameAllowedPath = fc.constantFrom(ALLOWED_PATH, '/fuzz/allowed?x=1', '/fuzz/allowed?a=%ff&b=%E4%B8%80');
// Non-canonical spellings of the allowed path are refused by default (paths.nonCanonical), and so are
// path parameters (paths.parameters): the proxy would forward them as sent.
const nonCanonicalAllowedPath = fc.constantFrom(
  '/fuzz/./allowed',
  '//fuzz//allowed',
  '/fuzz/%61llowed',
  '/x/../fuzz/allowed',
  '/fuzz/allowed/.',
  '/fuzz;x=1/allowed',
  '/fuzz/allowed;',
  '/fuzz/allowed%3B',
);
const otherPath = oddPath.filter((p) => !/^\/+fuzz\/+allowed(?:[?#]|$)/.test(p) && p.length < 60_000);
const otherMethod = fc.constantFrom(
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'BREW',
  'G\u0000T',
  'GET\tX',
  'ÄGET',
  'GE',
  'A'.repeat(40),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .array(fc.tuple(noiseName, latin1Value), { minLength: 1, maxLength: 40 })
    .map((hs): Mutation => ({ kind: 'benign', name: 'noise headers', apply: (s) => s.noise.push(...hs) })),
  hugeString(1_000, 40_000, fc.constantFrom('a', 'é', '%41')).map((v): Mutation => ({
    kind: 'benign',
    name: `big header (${v.length})`,
    apply: (s) => s.noise.push(['x-fz-big', Buffer.from(v, 'latin1')]),
  })),
  sameAllowedPath.map((p): Mutation => ({ kind: 'benign', name: `same path ${p}`, apply: (s) => (s.path = p) })),
  nonCanonicalAllowedPath.map((p): Mutation => ({ kind: 'breaking', name: `non-canonical path ${p}`, apply: (s) => (s.path = p) })),
  // Spellings of a routable host are benign; a host no proxy would route is malformed; odd ones go either way.
  fc
    .constantFrom('orders', 'ORDERS:8080', '[::1]:443', 'orders.', 'Orders.:', 'orders:0443')
    .map((h): Mutation => ({ kind: 'benign', name: `host ${h}`, apply: (s) => (s.host = h) })),
  fc
    .constantFrom('h\u00e9', ':8080', 'orders:99999', 'orders..', 'orders:x')
    .map((h): Mutation => ({ kind: 'breaking', name: `unroutable host ${h}`, apply: (s) => (s.host = h) })),
  oddHost
    .filter((h) => visible(h) && !/[\s/?#@]/.test(h) && h.length > 0 && h.length < 1000)
    .map((h): Mutation => ({ kind: 'either', name: `host ${h.slice(0, 20)}`, apply: (s) => (s.host = h) })),
  fc
    .constantFrom<[string, string]>(
      ['Connection', 'close'],
      ['Connection', 'keep-alive'],
      ['Expect', '100-continue'],
      ['x-request-id', 'fz\u00ff'],
      ['Cookie', 'a=b'],
      ['X-Forwarded-For', '1.2.3.4'],
    )
    .map((h): Mutation => ({ kind: 'benign', name: `header ${h[0]}`, apply: (s) => s.noise.push(h) })),
  fc.uint8Array({ maxLength: 2000 }).map((b): Mutation => ({
    kind: 'benign',
    name: 'body',
    apply: (s) => void (s.body ?? ((s.body = Buffer.from(b)), s.extra.push(['Content-Length', String(b.length)]))),
  })),
  fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b): Mutation => ({
    kind: 'benign',
    name: 'chunked body',
    apply: (s) =>
      void (
        s.body ??
        ((s.body = Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), Buffer.from(b), Buffer.from('\r\n0\r\n\r\n')])),
        s.extra.push(['Transfer-Encoding', 'chunked']))
      ),
  })),
  // breaking
  otherPath.map((p): Mutation => ({
    kind: 'breaking',
    name: `other path ${p.slice(0, 40)}`,
    apply: (s) => (s.path = Buffer.from(p, 'utf8')),
  })),
  hugeString(16_400, 120_000).map((p): Mutation => ({
    kind: 'breaking',
    name: `giant path (${p.length})`,
    apply: (s) => (s.path = `${ALLOWED_PATH}/${p.replace(/[^\x21-\x7e]/g, 'x')}`),
  })),
  fc
    .constantFrom(
      '/fuzz/allowed/',
      '/fuzz/allowed%2f',
      '/fuzz\\allowed',
      '/fuzz/allowed\u0000',
      'fuzz/allowed',
      '*',
      'http://svc.fuzz/fuzz/allowed',
      '/fuzz/allowed x',
    )
    .map((p): Mutation => ({ kind: 'breaking', name: `near path ${JSON.stringify(p)}`, apply: (s) => (s.path = p) })),
  otherMethod.map((m): Mutation => ({ kind: 'breaking', name: `method ${JSON.stringify(m)}`, apply: (s) => (s.method = m) })),
  fc.constant<Mutation>({ kind: 'breaking', name: 'no credential', apply: (s) => (s.auth = []) }),
  fc.constant<Mutation>({ kind: 'breaking', name: 'two credentials', apply: (s) => (s.auth = [`Bearer ${good}`, `Bearer ${good}`]) }),
  junkToken(ISS).map((tok): Mutation => ({
    kind: 'breaking',
    name: 'junk token',
    apply: (s) => (s.auth = [Buffer.from(`Bearer ${tok}`, 'utf8')]),
  })),
  fc.constantFrom('\u00e9', '\u00ff', '\u0080').map((c): Mutation => ({
    kind: 'breaking',
    name: 'token with an obs-text byte',
    apply: (s) => (s.auth = [Buffer.from(`Bearer ${good}${c}`, 'latin1')]),
  })),
  fc
    .tuple(
      noiseName,
      nastyString(20).filter((v) => /[\x00-\x08\x0a-\x1f\x7f]/.test(v)),
    )
    .map(([k, v]): Mutation => ({
      kind: 'breaking',
      name: `control bytes in a header ${JSON.stringify(v)}`,
      apply: (s) => s.noise.push([k, Buffer.from(v, 'utf8')]),
    })),
  fc.constantFrom('x y', 'x\u0000', '', ':', 'x\u00e9', '(x)', 'x\r\ny').map((n): Mutation => ({
    kind: 'breaking',
    name: `invalid header name ${JSON.stringify(n)}`,
    apply: (s) => s.noise.push([Buffer.from(n, 'latin1'), 'v']),
  })),
  hugeString(70_000, 150_000).map((v): Mutation => ({
    kind: 'breaking',
    name: `oversized header (${v.length})`,
    apply: (s) => s.noise.push(['x-fz-huge', v]),
  })),
  fc.constant<Mutation>({ kind: 'breaking', name: 'repeated Host', apply: (s) => s.extra.push(['Host', 'other']) }),
  fc.constant<Mutation>({ kind: 'breaking', name: 'invalid Content-Length', apply: (s) => s.extra.push(['Content-Length', 'abc']) }),
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'Content-Length and Transfer-Encoding',
    apply: (s) => ((s.body = Buffer.from('0\r\n\r\n')), s.extra.push(['Content-Length', '5'], ['Transfer-Encoding', 'chunked'])),
  }),
  fc
    .constantFrom('http/1.1', 'HTTP/1.1 x', 'HTTP/1', 'HTTP/11', 'HTTP/1.1\u0000')
    .map((v): Mutation => ({ kind: 'breaking', name: `version ${v}`, apply: (s) => (s.version = v) })),
  fc.constantFrom('HTTP/1.0').map((v): Mutation => ({ kind: 'benign', name: `version ${v}`, apply: (s) => (s.version = v) })),
  fc
    .constantFrom('HTTP/1.2', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/0.9')
    .map((v): Mutation => ({ kind: 'either', name: `version ${v}`, apply: (s) => (s.version = v) })),
  adversarialClaims(ISS).map((claims): Mutation => ({ kind: 'token', name: 'signed adversarial claims', claims })),
);

/** Mode-specific breaking changes (headers only nginx / ingress-nginx read). */
const modeMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'X-Original-* missing',
    apply: (s) => (s.mode === 'envoy' ? (s.auth = []) : (s.dropOriginal = true)),
  }),
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'X-Original-Method repeated',
    apply: (s) => (s.mode === 'envoy' ? (s.auth = []) : s.extra.push(['X-Original-Method', 'GET'])),
  }),
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'X-Original-URL not absolute',
    apply: (s) => (s.mode === 'ingress' ? (s.host = '') : (s.auth = [])),
  }),
  // ingress-nginx: X-Routed-Host ($host) must name the URL's host (an absolute-form request line
  // makes them differ); envoy: an nginx mode's header means a misconfigured proxy or a spoof.
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'X-Routed-Host names another host',
    apply: (s) =>
      s.mode === 'ingress'
        ? (s.routedHost = 'admin.fuzz')
        : s.mode === 'envoy'
          ? s.extra.push(['X-Original-URI', '/fuzz/allowed'])
          : (s.auth = []),
  }),
  fc.constant<Mutation>({
    kind: 'breaking',
    name: 'X-Routed-Host empty',
    apply: (s) =>
      s.mode === 'ingress' ? (s.routedHost = '') : s.mode === 'envoy' ? s.extra.push(['X-Original-Method', 'GET']) : (s.auth = []),
  }),
);

describe('fuzz: HTTP authorization listener over raw TCP', () => {
  it('one well-formed response (or a clean close) per connection; 200 exactly for the allowed combination; never a 5xx', async (ctx) => {
    const seen = { ok: 0, deny: 0, closed: 0, benignOnly: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Mode>('envoy', 'nginx', 'ingress'),
        fc.array(fc.oneof({ weight: 10, arbitrary: mutation }, { weight: 1, arbitrary: modeMutation }), { maxLength: 3 }),
        async (mode, mutations) => {
          const spec = allowedSpec(mode);
          // 'either': allowed or denied, both fine (a signed token for alice with odd claims, a
          // tolerated request-line version, a head near the size limits).
          let expect: 'ok' | 'deny' | 'either' = 'ok';
          const rank = { token: 0, benign: 1, either: 2, breaking: 3 } as const;
          for (const m of [...mutations].sort((a, b) => rank[a.kind] - rank[b.kind])) {
            if (m.kind === 'token') {
              spec.auth = [`Bearer ${await sign(m.claims)}`];
              if (expect === 'ok') expect = m.claims.sub === 'alice' ? 'either' : 'deny';
            } else {
              m.apply(spec);
              if (m.kind === 'breaking') expect = 'deny';
              if (m.kind === 'either' && expect === 'ok') expect = 'either';
            }
          }
          const raw = serialize(toRaw(spec));
          // Header sizes near the 64 KiB limits (Node's maxHeaderSize, limits.maxHeaderBytes) go either way.
          if (expect === 'ok' && raw.length > 60_000) expect = 'either';
          const names = `${mode}: ${mutations.map((m) => m.name).join(', ')}`;
          const head = spec.mode === 'envoy' && spec.method === 'HEAD';
          const e = await exchange(port, raw, head);
          const status = checkExchange(e, names, head);
          if (status === 'closed') seen.closed++;
          else if (status === 200) seen.ok++;
          else seen.deny++;
          if (expect === 'ok') {
            seen.benignOnly++;
            assert.equal(status, 200, `not allowed after only harmless changes (${names}): ${e.kind === 'response' ? e.body : e.kind}`);
          } else if (expect === 'deny') {
            assert.notEqual(status, 200, `allowed after: ${names}`);
          }
        },
      ),
      fuzzParams(250, 0.25),
    );
    ctx.diagnostic(`outcomes: ${JSON.stringify(seen)}`);
    assert.ok(seen.ok > 20 && seen.deny > 20, `both outcomes occur often: ${JSON.stringify(seen)}`);
    await assertStillServing();
  });

  it('random bytes on a connection: a 400 or a clean close, never a hang or a 5xx', async (ctx) => {
    const seen = { response: 0, closed: 0 };
    // Random bytes and random lines can never be the allowed request. Bytes spliced into the
    // allowed request sometimes still are one (e.g. a second space in the request line, which
    // Node's parser tolerates): for those only the well-formedness of the answer is checked.
    const junk = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((b) => ({ bytes: Buffer.from(b), mayAllow: false })),
      nastyString(200).map((s) => ({ bytes: Buffer.from(`${s}\r\n\r\n`, 'utf8'), mayAllow: false })),
      fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 50 })).map(([at, b]) => {
        const full = serialize(toRaw(allowedSpec('envoy')));
        const i = at % full.length;
        return { bytes: Buffer.concat([full.subarray(0, i), Buffer.from(b), full.subarray(i)]), mayAllow: true };
      }),
    );
    await fc.assert(
      fc.asyncProperty(junk, async ({ bytes, mayAllow }) => {
        // Random bytes may form an incomplete head, for which waiting for more is correct: send
        // FIN after them so the server sees the request end either way.
        const e = await exchange(port, bytes, false, true);
        const status = checkExchange(e, `bytes ${bytes.toString('hex').slice(0, 80)}`);
        if (status === 'closed') seen.closed++;
        else {
          seen.response++;
          if (!mayAllow) assert.notEqual(status, 200, 'random bytes allowed');
        }
      }),
      fuzzParams(200, 0.1),
    );
    ctx.diagnostic(`outcomes: ${JSON.stringify(seen)}`);
    await assertStillServing();
  });
});

async function assertStillServing(): Promise<void> {
  for (const mode of ['envoy', 'nginx', 'ingress'] as const) {
    const e = await exchange(port, serialize(toRaw(allowedSpec(mode))));
    assert.equal(checkExchange(e, `allowed ${mode} request after fuzzing`), 200);
  }
}
