// RFC 7662 introspection of opaque tokens (src/authn/introspection/) through the real
// Authenticator, against a local introspection endpoint whose behaviour each test sets: active and
// inactive results and their caches, garbage, huge and slow answers, singleflight, the in-flight
// bound, aud/iss checks, JWTs beside opaque tokens, discovery and the client secret file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { Authenticator } from '../../../src/authn/authenticator.js';
import { buildIssuerKeys, type IssuerKeys } from '../../../src/authn/key-resolvers.js';
import { REAL_CLOCK } from '../../../src/authn/jwks/clock.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { ConfigError } from '../../../src/config/problems.js';
import type { AuthResult, CheckInput } from '../../../src/decision/types.js';

const T0 = 1_800_000_000_000;
const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
const NOW_S = T0 / 1000;
const dir = mkdtempSync(join(tmpdir(), 'zt-introspect-'));
const secretFile = join(dir, 'secret');
writeFileSync(secretFile, 's3cret:with/odd chars\n');

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let handler: Handler = (_req, _body, res) => json(res, { active: false });
const calls: Array<{ auth: string | undefined; body: string }> = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    if (req.url === '/.well-known/openid-configuration') return json(res, { introspection_endpoint: `${base}/introspect` });
    calls.push({ auth: req.headers.authorization, body });
    handler(req, body, res);
  });
});
server.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const ISS = base;
after(() => {
  server.closeAllConnections();
  server.close();
});

function json(res: ServerResponse, doc: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(doc));
}
const activeDoc = (extra: Record<string, unknown> = {}) => ({
  active: true,
  iss: ISS,
  aud: 'api',
  sub: 'svc-a',
  client_id: 'client-a',
  scope: 'orders:read orders:write',
  exp: NOW_S + 3600,
  token_type: 'Bearer',
  ...extra,
});

function input(headers: Record<string, string>): CheckInput {
  return {
    requestId: '1',
    method: 'GET',
    host: 'h',
    path: '/',
    query: '',
    headers,
    source: { labels: {} },
    destination: { labels: {} },
    contextExtensions: {},
  };
}

const stopped: IssuerKeys[] = [];
after(() => stopped.forEach((k) => k.stop()));

function setup(introspection: Record<string, unknown> = {}, issuerExtra: Record<string, unknown> = {}) {
  const clock = { now: T0 };
  const cfg = resolveConfig({
    issuers: [
      {
        issuer: ISS,
        audiences: ['api'],
        introspection: { endpoint: `${base}/introspect`, clientId: 'zt authz', clientSecretFile: secretFile, ...introspection },
        ...issuerExtra,
      },
    ],
  });
  const keys = buildIssuerKeys(cfg.issuers[0]!, { clock: { now: () => clock.now, setTimer: REAL_CLOCK.setTimer } });
  stopped.push(keys);
  const auth = new Authenticator(
    cfg.issuers,
    new Map([[ISS, keys]]),
    { maxTokenBytes: 8192, cacheMaxEntries: 100, cacheMaxTtlSeconds: 300, now: () => clock.now },
    { cacheHit: () => undefined, cacheMiss: () => undefined },
  );
  return { auth, clock };
}

const run = async (auth: Authenticator, token: string): Promise<AuthResult> =>
  auth.authenticate(input({ authorization: `Bearer ${token}` }));
const reason = (r: AuthResult) => (r.kind === 'failed' ? r.reason : r.kind);
let n = 0;
const opaque = () => `opaque-${++n}-${Math.random().toString(36).slice(2)}`;

test('an active opaque token authenticates: claims feed policy like a JWT, sent with client_secret_basic, then served from the cache', async () => {
  handler = (_req, _body, res) => json(res, activeDoc());
  const { auth } = setup();
  const token = opaque();
  const before = calls.length;
  const r = await run(auth, token);
  assert.equal(r.kind, 'authenticated');
  if (r.kind !== 'authenticated') return;
  assert.equal(r.identity.requestPrincipal, `${ISS}/svc-a`);
  assert.deepEqual(r.identity.scopes, ['orders:read', 'orders:write']);
  assert.deepEqual(r.identity.audiences, ['api']);
  assert.equal(r.identity.claims.client_id, 'client-a');
  assert.match(r.identity.tokenHash, /^[0-9a-f]{12}$/);
  assert.equal(calls.length, before + 1);
  const call = calls.at(-1)!;
  // RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
  assert.equal(call.auth, `Basic ${Buffer.from('zt+authz:s3cret%3Awith%2Fodd+chars').toString('base64')}`);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(call.body)), { token, token_type_hint: 'access_token' });
  const again = auth.authenticate(input({ authorization: `Bearer ${token}` }));
  assert.ok(!(again instanceof Promise), 'a cached introspection result is answered synchronously');
  assert.equal(again.kind, 'authenticated');
  assert.equal(calls.length, before + 1, 'no second call');
});

test('a client-credentials token without sub has its client_id as subject', async () => {
  handler = (_req, _body, res) => json(res, activeDoc({ sub: undefined }));
  const { auth } = setup();
  const r = await run(auth, opaque());
  assert.equal(r.kind === 'authenticated' && r.identity.subject, 'client-a');
});

test('active: false is token_inactive (401), cached negativeCacheSeconds', async () => {
  handler = (_req, _body, res) => json(res, { active: false });
  const { auth, clock } = setup({ negativeCacheSeconds: 5 });
  const token = opaque();
  const before = calls.length;
  assert.equal(reason(await run(auth, token)), 'token_inactive');
  assert.equal(reason(await run(auth, token)), 'token_inactive');
  assert.equal(calls.length, before + 1, 'the inactive result was reused');
  clock.now += 5_001;
  handler = (_req, _body, res) => json(res, activeDoc());
  assert.equal(reason(await run(auth, token)), 'authenticated', 'asked again once the negative result expired');
  assert.equal(calls.length, before + 2);
});

for (const [name, h] of [
  ['not JSON', (_q: IncomingMessage, _b: string, res: ServerResponse) => res.end('<html>oops</html>')],
  ['no active member', (_q: IncomingMessage, _b: string, res: ServerResponse) => json(res, { sub: 'x', aud: 'api' })],
  ['active as a string', (_q: IncomingMessage, _b: string, res: ServerResponse) => json(res, { ...activeDoc(), active: 'true' })],
  ['a JSON array', (_q: IncomingMessage, _b: string, res: ServerResponse) => json(res, [activeDoc()])],
  ['JSON null', (_q: IncomingMessage, _b: string, res: ServerResponse) => res.end('null')],
  ['HTTP 500', (_q: IncomingMessage, _b: string, res: ServerResponse) => json(res, activeDoc(), 500)],
  ['a redirect', (_q: IncomingMessage, _b: string, res: ServerResponse) => res.writeHead(302, { location: '/elsewhere' }).end()],
  [
    'a huge body with content-length',
    (_q: IncomingMessage, _b: string, res: ServerResponse) => json(res, { ...activeDoc(), pad: 'x'.repeat(70_000) }),
  ],
  [
    'a huge chunked body',
    (_q: IncomingMessage, _b: string, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"active":true,"sub":"x","aud":"api","pad":"`);
      for (let i = 0; i < 100; i++) res.write('x'.repeat(10_000));
      res.end('"}');
    },
  ],
  ['a slow answer', (_q: IncomingMessage, _b: string, res: ServerResponse) => setTimeout(() => json(res, activeDoc()), 400).unref()],
  ['a dropped connection', (q: IncomingMessage) => q.socket.destroy()],
] as const) {
  test(`an endpoint answering ${name} is introspection_unavailable (503), never an allow, and is not cached`, async () => {
    handler = h;
    const { auth } = setup({ timeoutMs: 200 });
    const token = opaque();
    const before = calls.length;
    const r = await run(auth, token);
    assert.equal(reason(r), 'introspection_unavailable');
    assert.ok(r.kind === 'failed' && !r.detail.includes(token), 'the detail never holds the token');
    handler = (_req, _body, res) => json(res, activeDoc());
    assert.equal(reason(await run(auth, token)), 'authenticated', 'the failure was not cached');
    assert.equal(calls.length, before + 2);
  });
}

test('endpoint down: cached active results keep working until they expire (cacheSeconds), then 503', async () => {
  handler = (_req, _body, res) => json(res, activeDoc());
  const { auth, clock } = setup({ cacheSeconds: 60 });
  const token = opaque();
  assert.equal(reason(await run(auth, token)), 'authenticated');
  handler = (q) => q.socket.destroy();
  clock.now += 59_000;
  assert.equal(reason(await run(auth, token)), 'authenticated', 'within cacheSeconds');
  clock.now += 2_000;
  assert.equal(reason(await run(auth, token)), 'introspection_unavailable', 'past cacheSeconds: asked again, fails closed');
  assert.equal(reason(await run(auth, opaque())), 'introspection_unavailable', 'an uncached token too');
});

test('an active result is never reused past its exp', async () => {
  handler = (_req, _body, res) => json(res, activeDoc({ exp: NOW_S + 10 }));
  const { auth, clock } = setup({ cacheSeconds: 60 });
  const token = opaque();
  const before = calls.length;
  assert.equal(reason(await run(auth, token)), 'authenticated');
  clock.now += 9_000;
  assert.equal(reason(await run(auth, token)), 'authenticated');
  assert.equal(calls.length, before + 1);
  clock.now += 2_000;
  handler = (_req, _body, res) => json(res, { active: false });
  assert.equal(reason(await run(auth, token)), 'token_inactive', 'asked again after exp');
});

for (const [name, doc, want] of [
  ['another audience', activeDoc({ aud: 'other' }), 'audience_mismatch'],
  ['no aud', activeDoc({ aud: undefined }), 'audience_mismatch'],
  ['aud of the wrong type', activeDoc({ aud: 42 }), 'token_claims_invalid'],
  ['another issuer', activeDoc({ iss: 'https://evil.example' }), 'issuer_unknown'],
  ['exp in the past', activeDoc({ exp: NOW_S - 3600 }), 'token_expired'],
  ['exp as a string', activeDoc({ exp: String(NOW_S + 60) }), 'token_claims_invalid'],
  ['nbf in the future', activeDoc({ nbf: NOW_S + 3600 }), 'token_not_yet_valid'],
  ['a refresh token', activeDoc({ token_type: 'refresh_token' }), 'token_claims_invalid'],
  ['neither sub nor client_id', activeDoc({ sub: undefined, client_id: undefined }), 'token_claims_invalid'],
  ['scope not a string', activeDoc({ scope: ['a'] }), 'token_claims_invalid'],
] as const) {
  test(`an active response with ${name} is denied (${want})`, async () => {
    handler = (_req, _body, res) => json(res, doc);
    const { auth } = setup();
    assert.equal(reason(await run(auth, opaque())), want);
  });
}

test('anyAudience skips the aud check', async () => {
  handler = (_req, _body, res) => json(res, activeDoc({ aud: undefined }));
  const { auth } = setup({}, { audiences: undefined, anyAudience: true });
  assert.equal(reason(await run(auth, opaque())), 'authenticated');
});

test('concurrent checks of one token share one call; calls in flight per issuer are bounded (excess fails closed)', async () => {
  handler = (_req, _body, res) => setTimeout(() => json(res, activeDoc()), 100).unref();
  const { auth } = setup({ maxInFlight: 2, timeoutMs: 2000 });
  const token = opaque();
  let before = calls.length;
  const same = await Promise.all(Array.from({ length: 20 }, () => run(auth, token)));
  assert.ok(same.every((r) => r.kind === 'authenticated'));
  assert.equal(calls.length, before + 1, 'one call for 20 concurrent checks');
  before = calls.length;
  const distinct = await Promise.all(Array.from({ length: 5 }, () => run(auth, opaque())));
  assert.deepEqual(distinct.map(reason).sort(), [
    'authenticated',
    'authenticated',
    'introspection_unavailable',
    'introspection_unavailable',
    'introspection_unavailable',
  ]);
  assert.equal(calls.length, before + 2);
});

test('beside a JWKS: JWTs are verified locally (no call), other tokens introspected', async () => {
  handler = (_req, _body, res) => json(res, activeDoc());
  const { auth } = setup({}, { jwks: { keys: [jwk] } });
  const jwt = await new SignJWT({ iss: ISS, sub: 'alice', aud: 'api', iat: NOW_S, exp: NOW_S + 300 })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .sign(privateKey);
  const before = calls.length;
  const r = await run(auth, jwt);
  assert.equal(r.kind === 'authenticated' && r.identity.subject, 'alice');
  assert.equal(calls.length, before, 'the JWT was not introspected');
  assert.equal(reason(await run(auth, 'a.b.c')), 'token_malformed', 'three segments are a JWT, never opaque');
  assert.equal(reason(await run(auth, opaque())), 'authenticated');
  assert.equal(calls.length, before + 1);
});

test('introspection alone: a JWT naming the issuer is introspected too (there are no local keys)', async () => {
  handler = (_req, _body, res) => json(res, activeDoc({ sub: 'via-introspection' }));
  const { auth } = setup();
  const jwt = await new SignJWT({ iss: ISS, sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32));
  const before = calls.length;
  const r = await run(auth, jwt);
  assert.equal(r.kind === 'authenticated' && r.identity.subject, 'via-introspection');
  assert.equal(calls.length, before + 1);
});

test('an opaque token where no introspection issuer looks is malformed, as before', async () => {
  const cfg = resolveConfig({ issuers: [{ issuer: 'https://jwt.only', jwks: { keys: [jwk] }, audiences: ['api'] }] });
  const keys = buildIssuerKeys(cfg.issuers[0]!, {});
  const auth = new Authenticator(
    cfg.issuers,
    new Map([['https://jwt.only', keys]]),
    { maxTokenBytes: 8192, cacheMaxEntries: 10, cacheMaxTtlSeconds: 60 },
    {
      cacheHit: () => undefined,
      cacheMiss: () => undefined,
    },
  );
  assert.equal(reason(await run(auth, opaque())), 'token_malformed');
  assert.equal(reason(await run(auth, 'has spaces !')), 'token_malformed');
});

test('the endpoint comes from OIDC discovery when not configured', async () => {
  handler = (_req, _body, res) => json(res, activeDoc());
  const { auth } = setup({ endpoint: undefined });
  assert.equal(reason(await run(auth, opaque())), 'authenticated');
});

test('the client secret file is re-read: the next call authenticates with the new secret', async () => {
  handler = (_req, _body, res) => json(res, activeDoc());
  const file = join(dir, 'rotating');
  writeFileSync(file, 'first');
  const cfg = resolveConfig({
    issuers: [
      { issuer: ISS, audiences: ['api'], introspection: { endpoint: `${base}/introspect`, clientId: 'c', clientSecretFile: file } },
    ],
  });
  const keys = buildIssuerKeys(cfg.issuers[0]!, {});
  stopped.push(keys);
  const auth = new Authenticator(
    cfg.issuers,
    new Map([[ISS, keys]]),
    { maxTokenBytes: 8192, cacheMaxEntries: 0, cacheMaxTtlSeconds: 60 },
    {
      cacheHit: () => undefined,
      cacheMiss: () => undefined,
    },
  );
  await run(auth, opaque());
  assert.equal(calls.at(-1)!.auth, `Basic ${Buffer.from('c:first').toString('base64')}`);
  writeFileSync(file, 'second\n');
  keys.recheck();
  await run(auth, opaque());
  assert.equal(calls.at(-1)!.auth, `Basic ${Buffer.from('c:second').toString('base64')}`);
  assert.throws(
    () =>
      buildIssuerKeys(
        { ...cfg.issuers[0]!, introspection: { ...cfg.issuers[0]!.introspection!, clientSecretFile: join(dir, 'absent') } },
        {},
      ),
    /client secret file .* cannot be read \(ENOENT\)/,
  );
});

test('config: introspection alone is a key source; two introspection issuers on one location are refused; no endpoint needs an http(s) issuer', () => {
  const intro = { clientId: 'c', clientSecretFile: secretFile };
  const ok = resolveConfig({ issuers: [{ issuer: 'https://a', audiences: ['x'], introspection: intro }] });
  assert.deepEqual(ok.issuers[0]!.introspection, {
    clientId: 'c',
    clientSecretFile: secretFile,
    cacheSeconds: 60,
    negativeCacheSeconds: 5,
    timeoutMs: 1000,
    maxInFlight: 64,
    maxResponseBytes: 65536,
  });
  const problems = (raw: unknown): string[] => {
    try {
      resolveConfig(raw);
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
  };
  const two = problems({
    issuers: [
      { issuer: 'https://a', audiences: ['x'], introspection: intro },
      { issuer: 'https://b', audiences: ['x'], introspection: intro },
    ],
  });
  assert.equal(two.length, 1);
  assert.match(two[0]!, /^issuers\[1\]\.introspection: issuers\[0\] also introspects tokens from header authorization/);
  const distinct = problems({
    issuers: [
      { issuer: 'https://a', audiences: ['x'], introspection: intro },
      { issuer: 'https://b', audiences: ['x'], introspection: intro, fromHeaders: [{ name: 'x-token' }] },
    ],
  });
  assert.deepEqual(distinct, []);
  assert.deepEqual(problems({ issuers: [{ issuer: 'urn:idp', audiences: ['x'], introspection: intro }] }), [
    'issuers[0].introspection.endpoint: is required when the issuer is not an http(s) URL (no OIDC discovery to find it)',
  ]);
  assert.ok(problems({ issuers: [{ issuer: 'https://a', audiences: ['x'], introspection: { ...intro, bogus: 1 } }] }).length > 0);
  assert.ok(problems({ issuers: [{ issuer: 'https://a', audiences: ['x'], introspection: { clientId: 'c' } }] }).length > 0);
});
