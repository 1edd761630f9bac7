// The internal token on allow, through DecisionEngine.decide and both transports' responses:
// the token replaces the credential upstream (set with overwrite, never also removed), its aud is
// the destination's SPIFFE ID or the host and its act the calling workload, a policy turns it on
// or off, observe mode mints too, and an allow that needs a token it cannot get is denied
// (internal_token_unavailable) rather than sent on without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type JWTPayload } from 'jose';
import { resolveConfig } from '../../../src/config/resolve.js';
import { buildSnapshot } from '../../../src/snapshot/builder.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { DecisionEngine } from '../../../src/decision/engine.js';
import type { Decision } from '../../../src/decision/decision.js';
import type { CheckInput } from '../../../src/decision/types.js';
import type { SigningKeySource } from '../../../src/mint/keys/signing-key.js';
import { toCheckResponse } from '../../../src/transport/grpc/response.js';
import { checkCodec } from '../../../src/transport/grpc/codec.js';
import { protoRoot } from '../../../src/transport/grpc/protos.js';
import { HEADERS_TO_REMOVE, toHttpResponse } from '../../../src/transport/http/response.js';
import { AuditLog } from '../../../src/observe/audit.js';
import { createAuditLogger } from '../../../src/observe/log.js';
import { registerHmacSecret } from '../../helpers/capture.js';
import { TestKeySource, jwksOf, testSigningKey, type TestSigningKey } from '../../helpers/mint-keys.js';

const IDP = 'https://idp.example';
const ISSUER = 'https://zt-authz.zt-system.svc';
const API_KEY = 'zt_unit-acme-TWludGluZyB0ZXN0IGtleSBmb3IgdGhlIGVuZ2luZQ';
registerHmacSecret(API_KEY);
const DEST = 'spiffe://cluster.local/ns/shop/sa/orders';
const CALLER = 'spiffe://cluster.local/ns/edge/sa/gateway';

const idp = await generateKeyPair('ES256');
const idpJwk = { ...(await exportJWK(idp.publicKey)), kid: 'idp1', alg: 'ES256' };
const dir = mkdtempSync(join(tmpdir(), 'mint-engine-'));
const keysFile = join(dir, 'keys.json');
writeFileSync(
  keysFile,
  JSON.stringify({
    keys: [{ name: 'acme-1', sha256: createHash('sha256').update(API_KEY).digest('hex'), subject: 'acme', scopes: ['orders:read'] }],
  }),
);
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function idpToken(claims: JWTPayload = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: IDP, sub: 'alice', aud: 'orders', scope: 'orders:read', roles: ['buyer'], iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp1' })
    .sign(idp.privateKey);
}

const ALLOW_ANY = { name: 'any', rules: [{}] };

function engineFor(raw: Record<string, unknown>, signingKeys?: SigningKeySource): DecisionEngine {
  const config = resolveConfig({
    issuers: [{ issuer: IDP, jwks: { keys: [idpJwk] }, audiences: ['orders'] }],
    apiKeys: [{ name: 'partners', fromHeaders: [{ name: 'x-api-key' }], keysFile }],
    tokenIssuer: { issuer: ISSUER, keysDir: join(dir, 'signing') },
    policies: [ALLOW_ANY],
    ...raw,
    response: { internalToken: { enabled: true, claims: ['scope', 'roles'] }, ...(raw.response as object) },
  });
  const keys = new Map(config.issuers.map((iss) => [iss.issuer, buildIssuerKeys(iss, {})]));
  const snap = buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 1, signingKeys ? { signingKeys } : {});
  return new DecisionEngine(() => snap);
}

function input(headers: Record<string, string>, o: { dest?: string; caller?: string } = {}): CheckInput {
  return {
    requestId: 'r1',
    method: 'GET',
    host: 'orders.shop.svc',
    path: '/orders',
    query: '',
    headers: { 'x-request-id': 'r1', ...headers },
    source: { labels: {}, address: '10.0.0.1', ...(o.caller ? { principal: o.caller } : {}) },
    destination: { labels: {}, address: '10.0.0.2', port: 8080, ...(o.dest ? { principal: o.dest } : {}) },
    contextExtensions: {},
  };
}

const header = (d: Decision, name: string): string | undefined => d.response.upstreamHeaders.find(([n]) => n === name)?.[1];

async function mintedClaims(d: Decision, key: TestSigningKey): Promise<JWTPayload> {
  assert.equal(d.verdict.allow, true, `${d.verdict.reason}: ${d.verdict.detail}`);
  const value = header(d, 'authorization') ?? '';
  assert.ok(value.startsWith('Bearer '), `authorization: ${value}`);
  const { payload } = await jwtVerify(value.slice(7), jwksOf(key), { issuer: ISSUER, typ: 'at+jwt' });
  return payload;
}

test('a JWT credential: the minted token replaces it in authorization (overwritten, not removed), aud = destination SPIFFE ID, act = caller', async () => {
  const key = testSigningKey('k1');
  const engine = engineFor({}, new TestKeySource(key));
  const token = await idpToken();
  const d = await engine.decide(input({ authorization: `Bearer ${token}` }, { dest: DEST, caller: CALLER }));
  const claims = await mintedClaims(d, key);
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.aud, DEST);
  assert.deepEqual(claims.act, { sub: CALLER });
  assert.equal(claims.scope, 'orders:read');
  assert.deepEqual(claims.roles, ['buyer']);
  assert.equal(claims.zt_cred_hash, d.evidence.tokenHash);
  assert.ok(!d.response.removeHeaders.includes('authorization'), `removeHeaders: ${d.response.removeHeaders.join(',')}`);
  assert.equal(header(d, 'x-auth-subject'), 'alice', 'identity headers still set');
  assert.deepEqual(d.evidence.internalToken, { jti: claims.jti, kid: 'k1' });
  assert.ok(!JSON.stringify(d.evidence).includes(header(d, 'authorization')!.slice(7)), 'the evidence never holds the token');
});

test('an API key: the token goes in authorization and the key header is removed; aud = host without a destination principal', async () => {
  const key = testSigningKey('k1');
  const engine = engineFor({}, new TestKeySource(key));
  const d = await engine.decide(input({ 'x-api-key': API_KEY }));
  const claims = await mintedClaims(d, key);
  assert.equal(claims.sub, 'acme');
  assert.equal(claims.aud, 'orders.shop.svc');
  assert.equal(claims.act, undefined, 'no caller known');
  assert.ok(d.response.removeHeaders.includes('x-api-key'));
  assert.ok(!d.response.removeHeaders.includes('authorization'));
});

test('audience: host uses the host even when the destination principal is known', async () => {
  const key = testSigningKey('k1');
  const engine = engineFor({ response: { internalToken: { enabled: true, audience: 'host' } } }, new TestKeySource(key));
  const d = await engine.decide(input({ 'x-api-key': API_KEY }, { dest: DEST }));
  assert.equal((await mintedClaims(d, key)).aud, 'orders.shop.svc');
});

test('per policy: internalToken false turns it off for that policy (credential removed, no token); true turns it on when the global is off', async () => {
  const key = testSigningKey('k1');
  const token = await idpToken();
  const policies = [
    { name: 'plain', rules: [{ to: [{ operation: { paths: ['/plain'] } }] }], internalToken: false },
    { name: 'minted', rules: [{ to: [{ operation: { paths: ['/minted'] } }] }], internalToken: true },
    { name: 'global', rules: [{ to: [{ operation: { paths: ['/global'] } }] }] },
  ];
  for (const enabled of [true, false]) {
    const engine = engineFor({ policies, response: { internalToken: { enabled } } }, new TestKeySource(key));
    const at = (path: string) => engine.decide({ ...input({ authorization: `Bearer ${token}` }), path });
    const plain = await at('/plain');
    assert.equal(plain.verdict.allow, true);
    assert.equal(header(plain, 'authorization'), undefined, 'no token');
    assert.ok(plain.response.removeHeaders.includes('authorization'), 'the credential is still removed');
    assert.equal(plain.evidence.internalToken, undefined);
    const minted = await at('/minted');
    assert.ok(header(minted, 'authorization')?.startsWith('Bearer '), 'minted');
    assert.equal(minted.verdict.policy, 'minted');
    const global = await at('/global');
    assert.equal(header(global, 'authorization') !== undefined, enabled, `global ${enabled}`);
  }
});

test('an anonymous allow gets no token, and a client-sent copy of the token header is removed', async () => {
  const engine = engineFor({ issuers: [] }, new TestKeySource(testSigningKey('k1')));
  const d = await engine.decide(input({ authorization: 'Bearer forged.by.client' }));
  assert.equal(d.verdict.allow, true);
  assert.equal(header(d, 'authorization'), undefined);
  assert.ok(d.response.removeHeaders.includes('authorization'), `removeHeaders: ${d.response.removeHeaders.join(',')}`);
});

test('fail closed: no tokenIssuer keys, no key loaded, a throwing key, an oversized claim: internal_token_unavailable (503), never an allow', async () => {
  const token = await idpToken();
  const broken = testSigningKey('k1');
  broken.failing = true;
  const cases: Array<[string, DecisionEngine, string]> = [
    ['no key ring', engineFor({}), token],
    ['no key loaded', engineFor({}, new TestKeySource(undefined)), token],
    ['sign throws', engineFor({}, new TestKeySource(broken)), token],
    [
      'oversized claim',
      engineFor(
        { limits: { maxTokenBytes: 16384 }, response: { internalToken: { enabled: true, claims: ['profile'] } } },
        new TestKeySource(testSigningKey('k2')),
      ),
      await idpToken({ profile: 'p'.repeat(7000) }),
    ],
  ];
  for (const [what, engine, t] of cases) {
    const d = await engine.decide(input({ authorization: `Bearer ${t}` }));
    assert.equal(d.verdict.allow, false, what);
    assert.equal(d.verdict.reason, 'internal_token_unavailable', what);
    assert.equal(d.verdict.status, 503, what);
    assert.equal(d.response.upstreamHeaders.length, 0, what);
    assert.equal(d.evidence.identity?.subject, 'alice', `${what}: the audit record keeps who it was`);
  }
});

test('observe mode: a would-be deny with a verified identity carries the token; with no key it goes on without one', async () => {
  const key = testSigningKey('k1');
  const token = await idpToken();
  const observe = { mode: { default: 'observe' }, policies: [] };
  const d = await engineFor(observe, new TestKeySource(key)).decide(input({ authorization: `Bearer ${token}` }, { dest: DEST }));
  assert.equal(d.verdict.reason, 'observed');
  assert.equal((await mintedClaims(d, key)).aud, DEST);
  assert.ok(d.evidence.internalToken);
  assert.ok(!d.response.removeHeaders.includes('authorization'));
  const none = await engineFor(observe, new TestKeySource(undefined)).decide(input({ authorization: `Bearer ${token}` }));
  assert.equal(none.verdict.reason, 'observed');
  assert.equal(header(none, 'authorization'), undefined);
  assert.ok(none.response.removeHeaders.includes('authorization'), 'the credential is still stripped');
});

test('on the wire: gRPC v3 sets the token with append false / OVERWRITE and does not remove it; HTTP mode sends it and lists only the key to remove', async () => {
  const engine = engineFor({}, new TestKeySource(testSigningKey('k1')));
  for (const [what, headers] of [
    ['JWT in authorization', { authorization: `Bearer ${await idpToken()}` }],
    ['API key', { 'x-api-key': API_KEY }],
  ] as const) {
    const d = await engine.decide(input(headers));
    const minted = header(d, 'authorization')!;
    const Res = protoRoot().lookupType('envoy.service.auth.v3.CheckResponse');
    const wire = Res.toObject(Res.decode(checkCodec('v3').serialize(toCheckResponse(d, 'r1'))), { enums: String }) as {
      okResponse: {
        headers: Array<{ header: { key: string; value: string }; append?: { value: boolean }; appendAction?: string }>;
        headersToRemove?: string[];
      };
    };
    const set = wire.okResponse.headers.find((h) => h.header.key === 'authorization');
    assert.equal(set?.header.value, minted, what);
    assert.equal(set?.append?.value ?? false, false, what);
    assert.equal(set?.appendAction, 'OVERWRITE_IF_EXISTS_OR_ADD', what);
    assert.ok(!(wire.okResponse.headersToRemove ?? []).includes('authorization'), `${what}: ${wire.okResponse.headersToRemove?.join(',')}`);
    for (const mode of ['envoy', 'nginx'] as const) {
      const http = toHttpResponse(d, mode, 'r1');
      assert.equal(http.status, 200);
      assert.equal(http.headers.authorization, minted, `${what} ${mode}`);
      assert.ok(!(http.headers[HEADERS_TO_REMOVE] ?? '').split(', ').includes('authorization'), `${what} ${mode}`);
    }
    if (what === 'API key') assert.ok(wire.okResponse.headersToRemove?.includes('x-api-key'));
  }
});

test('the audit record of a minted allow carries the jti and kid, never the token', async () => {
  const engine = engineFor({}, new TestKeySource(testSigningKey('k1')));
  const inp = input({ 'x-api-key': API_KEY });
  const d = await engine.decide(inp);
  const lines: string[] = [];
  new AuditLog(createAuditLogger({ write: (s: string) => void lines.push(s) }), { enabled: true, allowSampleRate: 1 }).record(
    'http',
    inp,
    d,
    0.001,
  );
  const rec = JSON.parse(lines[0]!) as { internal_token?: unknown; token_hash?: string };
  assert.deepEqual(rec.internal_token, d.evidence.internalToken);
  assert.ok(d.evidence.internalToken?.jti);
  const jwt = header(d, 'authorization')!.slice('Bearer '.length);
  for (const part of jwt.split('.')) assert.ok(!lines[0]!.includes(part), 'no part of the token is logged');
  assert.ok(!lines[0]!.includes(API_KEY));
});

test('forwardOriginalToken: a minted token still replaces the credential (removed), which stays only where no token is minted', async () => {
  const key = testSigningKey('k1');
  const token = await idpToken();
  const raw = {
    issuers: [{ issuer: IDP, jwks: { keys: [idpJwk] }, audiences: ['orders'], forwardOriginalToken: true }],
    policies: [
      { name: 'plain', rules: [{ to: [{ operation: { paths: ['/plain'] } }] }], internalToken: false },
      { name: 'minted', rules: [{ to: [{ operation: { paths: ['/minted'] } }] }] },
    ],
    response: { internalToken: { enabled: true, header: 'x-internal-token' } },
  };
  for (const mode of ['enforce', 'observe'] as const) {
    const engine = engineFor({ ...raw, mode: { default: mode } }, new TestKeySource(key));
    const at = (path: string) => engine.decide({ ...input({ authorization: `Bearer ${token}` }), path });
    // Observe mode: /denied is a would-be deny that still mints (response.internalToken.enabled).
    for (const path of mode === 'enforce' ? ['/minted'] : ['/minted', '/denied']) {
      const d = await at(path);
      assert.ok(header(d, 'x-internal-token')?.startsWith('Bearer '), `${mode} ${path}: minted`);
      assert.ok(d.response.removeHeaders.includes('authorization'), `${mode} ${path}: removeHeaders ${d.response.removeHeaders.join(',')}`);
    }
    const plain = await at('/plain');
    assert.equal(header(plain, 'x-internal-token'), undefined, `${mode}: no token`);
    assert.ok(!plain.response.removeHeaders.includes('authorization'), `${mode}: the credential is forwarded as configured`);
  }
});

test('gRPC v2 (no headers_to_remove): the minted header is set and never blanked; the API key header is blanked', async () => {
  const engine = engineFor({}, new TestKeySource(testSigningKey('k1')));
  const okHeaders = (d: Decision, sent: Record<string, string>, name: string) =>
    (toCheckResponse(d, 'r1', sent).okResponse?.headers ?? []).filter((h) => h.header?.key === name).map((h) => h.header?.value);
  const jwtSent = { authorization: `Bearer ${await idpToken()}` };
  const viaJwt = await engine.decide(input(jwtSent));
  const minted = header(viaJwt, 'authorization')!;
  assert.ok(minted.startsWith('Bearer ') && minted !== jwtSent.authorization, 'minted');
  assert.deepEqual(okHeaders(viaJwt, jwtSent, 'authorization'), [minted], 'one authorization header, the minted one');
  const keySent = { 'x-api-key': API_KEY };
  const viaKey = await engine.decide(input(keySent));
  assert.ok(header(viaKey, 'authorization')?.startsWith('Bearer '));
  assert.deepEqual(okHeaders(viaKey, keySent, 'x-api-key'), [''], 'the key is overwritten with an empty value');
});

test('an API key in a query parameter: the token is minted and the parameter removed', async () => {
  const key = testSigningKey('k1');
  const engine = engineFor(
    { apiKeys: [{ name: 'partners', fromHeaders: [{ name: 'x-api-key' }], fromParams: ['api_key'], keysFile }] },
    new TestKeySource(key),
  );
  const d = await engine.decide({ ...input({}), query: `api_key=${API_KEY}` });
  assert.equal((await mintedClaims(d, key)).sub, 'acme');
  assert.deepEqual(d.response.removeQueryParams, ['api_key']);
});

test('an API key with expiresAt: the minted token never outlives the key', async () => {
  const key = testSigningKey('k1');
  const expiresAt = Math.floor(Date.now() / 1000) + 30; // sooner than ttlSeconds (120)
  const file = join(dir, 'expiring-keys.json');
  writeFileSync(
    file,
    JSON.stringify({
      keys: [
        {
          name: 'acme-expiring',
          sha256: createHash('sha256').update(API_KEY).digest('hex'),
          subject: 'acme',
          expiresAt: new Date(expiresAt * 1000).toISOString(),
        },
      ],
    }),
  );
  const engine = engineFor(
    { apiKeys: [{ name: 'partners', fromHeaders: [{ name: 'x-api-key' }], keysFile: file }] },
    new TestKeySource(key),
  );
  const claims = await mintedClaims(await engine.decide(input({ 'x-api-key': API_KEY })), key);
  assert.equal(claims.exp, expiresAt);
});

test("observe mode: the token's act names the caller enforce mode would name (here from the pod map), whichever would-be deny", async () => {
  const key = testSigningKey('k1');
  const token = await idpToken();
  const base = engineFor({ mode: { default: 'observe' }, policies: [] }, new TestKeySource(key)).snapshot;
  const callerWorkload = { principal: 'cluster.local/ns/edge/sa/gateway', namespace: 'edge', serviceAccount: 'gateway' };
  const snap = { ...base, workloadSource: () => callerWorkload };
  const engine = new DecisionEngine(() => snap);
  const req = input({ authorization: `Bearer ${token}` }, { dest: DEST });
  const noPolicy = await engine.decide(req);
  assert.equal(noPolicy.evidence.wouldDecide?.reason, 'no_policy_matched');
  assert.deepEqual((await mintedClaims(noPolicy, key)).act, { sub: CALLER });
  // A path refused only for its shape: the would-be deny is decided before any policy (and before
  // the caller is looked up for one), yet the token it lets through still names the caller.
  const { decision: asSent } = await engine.decideRequest('test', () => ({ ok: false, detail: 'non-canonical path', asSent: req }));
  assert.equal(asSent.evidence.wouldDecide?.reason, 'malformed_request');
  assert.deepEqual((await mintedClaims(asSent, key)).act, { sub: CALLER });
  // A token the destination does not accept (zt-authz.io/audience) is not a verified identity
  // there: as for any failed credential, no token, no identity headers, the credential stripped.
  const audSnap = { ...snap, audienceCheck: () => 'the destination expects another audience' };
  const mismatch = await new DecisionEngine(() => audSnap).decide(req);
  assert.equal(mismatch.verdict.reason, 'observed');
  assert.equal(mismatch.evidence.wouldDecide?.reason, 'audience_mismatch');
  assert.equal(header(mismatch, 'authorization'), undefined);
  assert.equal(header(mismatch, 'x-auth-subject'), undefined);
  assert.ok(mismatch.response.removeHeaders.includes('authorization'));
});
