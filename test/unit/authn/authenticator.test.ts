// Authenticator unit tests with an injected clock and an inline/HMAC key source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload, type CryptoKey } from 'jose';
import { Authenticator, type KeyResolver } from '../../../src/authn/authenticator.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { AuthResult, CheckInput } from '../../../src/decision/types.js';

const ISS = 'https://idp.test';
const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const T0 = 1_800_000_000_000; // fixed "now" (ms)

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

async function sign(
  claims: JWTPayload,
  o: { key?: CryptoKey | Uint8Array; alg?: string; kid?: string; typ?: string } = {},
): Promise<string> {
  const now = Math.floor(T0 / 1000);
  return new SignJWT({ iss: ISS, sub: 'alice', aud: 'api', iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: o.alg ?? 'RS256', kid: o.kid ?? 'k1', ...(o.typ ? { typ: o.typ } : {}) })
    .sign(o.key ?? privateKey);
}

function setup(issuerExtra: Record<string, unknown> = {}, clock = { now: T0 }, keepClaims?: ReadonlySet<string>) {
  const cfg = resolveConfig({ issuers: [{ issuer: ISS, jwks: { keys: [jwk] }, audiences: ['api'], ...issuerExtra }] });
  const keys = buildIssuerKeys(cfg.issuers[0]!, {});
  let getKeyCalls = 0;
  const counting: KeyResolver = {
    get ready() {
      return keys.ready;
    },
    getKey: (h, t) => {
      getKeyCalls++;
      return keys.getKey(h, t);
    },
  };
  const stats = { hits: 0, misses: 0 };
  const auth = new Authenticator(
    cfg.issuers,
    new Map([[ISS, counting]]),
    { maxTokenBytes: 8192, cacheMaxEntries: 100, cacheMaxTtlSeconds: 300, now: () => clock.now, ...(keepClaims ? { keepClaims } : {}) },
    {
      cacheHit: () => stats.hits++,
      cacheMiss: () => stats.misses++,
    },
  );
  return { auth, stats, clock, calls: () => getKeyCalls };
}

const run = async (auth: Authenticator, token: string, header = 'authorization'): Promise<AuthResult> =>
  auth.authenticate(input({ [header]: header === 'authorization' ? `Bearer ${token}` : token }));
const reason = (r: AuthResult) => (r.kind === 'failed' ? r.reason : r.kind);

test('a cache hit does no signature work and is answered synchronously', async () => {
  const { auth, stats, calls } = setup();
  const token = await sign({ scope: 'a b' });
  const first = await run(auth, token);
  assert.equal(first.kind, 'authenticated');
  assert.equal(calls(), 1);
  const second = auth.authenticate(input({ authorization: `Bearer ${token}` }));
  assert.ok(!(second instanceof Promise), 'hit path has no async hop');
  assert.equal(second.kind, 'authenticated');
  assert.equal(calls(), 1, 'no key lookup / signature verification on a hit');
  assert.deepEqual(stats, { hits: 1, misses: 1 });
  if (first.kind === 'authenticated') {
    assert.deepEqual(first.identity.scopes, ['a', 'b']);
    assert.equal(first.identity.requestPrincipal, `${ISS}/alice`);
    assert.match(first.identity.tokenHash, /^[0-9a-f]{12}$/);
  }
});

test('cached entries never outlive exp (+skew); an expired hit is re-verified and denied', async () => {
  const { auth, clock, stats } = setup({ clockSkewSeconds: 5 });
  const token = await sign({ exp: Math.floor(T0 / 1000) + 10 });
  assert.equal(reason(await run(auth, token)), 'authenticated');
  clock.now = T0 + 14_000; // within exp + skew
  assert.equal(reason(await run(auth, token)), 'authenticated');
  assert.equal(stats.hits, 1);
  clock.now = T0 + 16_000; // past exp + skew
  assert.equal(reason(await run(auth, token)), 'token_expired');
  assert.equal(stats.misses, 2);
});

test('cache entries are dropped when their key leaves the issuer key set', async () => {
  const { auth, stats } = setup();
  const token = await sign({});
  await run(auth, token);
  auth.onKeysChanged(ISS, new Set(['k2']));
  await run(auth, token);
  assert.deepEqual(stats, { hits: 0, misses: 2 });
});

test('claim checks beyond jose defaults: iat in the future, missing sub, typ, max age, nbf', async () => {
  const now = Math.floor(T0 / 1000);
  const { auth } = setup();
  assert.equal(reason(await run(auth, await sign({ iat: now + 120 }))), 'token_not_yet_valid');
  assert.equal(reason(await run(auth, await sign({ nbf: now + 120 }))), 'token_not_yet_valid');
  assert.equal(reason(await run(auth, await sign({ sub: undefined }))), 'token_claims_invalid');
  assert.equal(reason(await run(auth, await sign({ exp: undefined }))), 'token_claims_invalid');
  assert.equal(reason(await run(auth, await sign({ aud: ['other', 'api'] }))), 'authenticated');
  assert.equal(reason(await run(auth, await sign({ aud: undefined }))), 'audience_mismatch');
  const typed = setup({ typ: 'at+jwt', maxTokenAgeSeconds: 60 }).auth;
  assert.equal(reason(await run(typed, await sign({}, { typ: 'JWT' }))), 'token_claims_invalid');
  assert.equal(reason(await run(typed, await sign({}, { typ: 'at+jwt' }))), 'authenticated');
  assert.equal(reason(await run(typed, await sign({ iat: now - 600 }, { typ: 'at+jwt' }))), 'token_expired');
});

test('issuer must accept the location the token came from', async () => {
  const { auth } = setup({ fromHeaders: [{ name: 'x-jwt' }] });
  const token = await sign({});
  assert.equal(reason(await run(auth, token, 'x-jwt')), 'authenticated');
  assert.equal(reason(await run(auth, token)), 'anonymous', 'authorization is not a configured location here');
});

test('HS256 only with a configured local secret of at least 32 bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-hmac-'));
  const secretFile = join(dir, 'secret');
  const secret = new TextEncoder().encode('s'.repeat(32));
  writeFileSync(secretFile, Buffer.from(secret));
  const { auth } = setup({ jwks: undefined, hmacSecretFile: secretFile, algorithms: ['HS256'] });
  assert.equal(reason(await run(auth, await sign({}, { alg: 'HS256', key: secret }))), 'authenticated');
  assert.equal(
    reason(await run(auth, await sign({}, { alg: 'HS256', key: new TextEncoder().encode('x'.repeat(32)) }))),
    'token_invalid_signature',
  );
  assert.equal(reason(await run(auth, await sign({}))), 'token_alg_not_allowed', 'RS256 not in this allow-list');
  writeFileSync(secretFile, 'short\n');
  assert.throws(() => setup({ jwks: undefined, hmacSecretFile: secretFile, algorithms: ['HS256'] }), /need at least 32/);
});

test('cache entries stay small: only the claims the snapshot reads, shared scope/audience lists, same token hash', async () => {
  const { auth } = setup(
    { outputClaimToHeaders: [{ header: 'x-tenant', claim: 'tenant' }] },
    { now: T0 },
    new Set(['tenant', 'realm_access']),
  );
  const claims = { scope: 'orders:read profile', tenant: 'acme', realm_access: { roles: ['admin'] }, jti: 'unique-1', client_id: 'web' };
  const [t1, t2] = [await sign({ ...claims, sub: 'alice' }), await sign({ ...claims, sub: 'bob', jti: 'unique-2' })];
  const [a, b] = [await run(auth, t1), await run(auth, t2)];
  assert.ok(a.kind === 'authenticated' && b.kind === 'authenticated');
  assert.deepEqual(a.identity.claims, { tenant: 'acme', realm_access: { roles: ['admin'] } }, 'claims nothing reads are not kept');
  assert.deepEqual(a.identity.scopes, ['orders:read', 'profile']);
  assert.equal(a.identity.scopes, b.identity.scopes, 'one shared scopes list');
  assert.equal(a.identity.audiences, b.identity.audiences, 'one shared audiences list');
  assert.ok(Object.isFrozen(a.identity.scopes));
  assert.deepEqual(a.claimHeaders, [['x-tenant', 'acme']]);
  assert.equal(a.claimHeaders, b.claimHeaders, 'one shared claim-header list');
  const { createHash } = await import('node:crypto');
  assert.equal(a.identity.tokenHash, createHash('sha256').update(t1).digest('hex').slice(0, 12), 'token hash is the hex SHA-256 prefix');
  const hit = await run(auth, t1);
  assert.ok(hit.kind === 'authenticated');
  assert.equal(hit.identity, a.identity, 'the cached identity');
  // Unrestricted (no keepClaims: e.g. library use): the whole payload.
  const all = await run(setup().auth, t1);
  assert.ok(all.kind === 'authenticated');
  assert.equal(all.identity.claims.jti, 'unique-1');
});

test('a verification in flight when the key set changes is answered but not cached (a revoked key cannot linger in the cache)', async () => {
  const cfg = resolveConfig({ issuers: [{ issuer: ISS, jwks: { keys: [jwk] }, audiences: ['api'] }] });
  const keys = buildIssuerKeys(cfg.issuers[0]!, {});
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  // The key lookup waits on the gate, like a refetch or a slow import: the change lands meanwhile.
  const held: KeyResolver = {
    ready: true,
    getKey: async (h, t) => {
      calls++;
      if (calls === 1) await gate;
      return keys.getKey(h, t);
    },
  };
  const auth = new Authenticator(
    cfg.issuers,
    new Map([[ISS, held]]),
    { maxTokenBytes: 8192, cacheMaxEntries: 100, cacheMaxTtlSeconds: 300, now: () => T0 },
    { cacheHit() {}, cacheMiss() {} },
  );
  const token = await sign({});
  const inflight = run(auth, token);
  await new Promise((r) => setImmediate(r));
  auth.onKeysChanged(ISS, new Set()); // k1 replaced: nothing kept
  release();
  assert.equal((await inflight).kind, 'authenticated', 'the key was valid when the verification started');
  assert.equal((await run(auth, token)).kind, 'authenticated');
  assert.equal(calls, 2, 'the next request verified again instead of hitting a cache entry made with the replaced key');
  assert.equal((await run(auth, token)).kind, 'authenticated');
  assert.equal(calls, 2, 'and that verification, after the change, is cached');
});
