// The internal-token minter: the claims of a minted token (verified with jose), the header,
// reuse until half the lifetime, a new token on key rotation, and every failure as `ok: false`
// (no key, a throwing key, a claim that cannot be copied, a token over the size cap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { MAX_MINTED_HEADER_BYTES, TokenMinter, type MintResult, type MintSettings } from '../../../src/mint/minter.js';
import type { Identity } from '../../../src/decision/types.js';
import { TestKeySource, jwksOf, testSigningKey } from '../../helpers/mint-keys.js';

const ISSUER = 'https://zt-authz.zt-system.svc';
const SETTINGS: MintSettings = { issuer: ISSUER, ttlSeconds: 120, claims: ['scope', 'roles', 'client_id'], cacheMaxEntries: 100 };

function identity(extra: Partial<Identity> = {}, claims: Record<string, unknown> = {}): Identity {
  return {
    issuer: 'https://idp.example',
    subject: 'alice',
    requestPrincipal: 'https://idp.example/alice',
    audiences: ['orders'],
    scopes: ['orders:read', 'orders:write'],
    claims: { roles: ['buyer'], exp: Math.floor(Date.now() / 1000) + 3600, ...claims },
    tokenHash: 'a1b2c3d4e5f6',
    ...extra,
  };
}

const jwt = (r: MintResult): string => {
  assert.ok(r.ok, r.ok ? '' : r.detail);
  assert.match(r.value, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  return r.value.slice('Bearer '.length);
};

for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
  test(`${alg}: the minted token verifies with jose and carries exactly the expected claims`, async () => {
    const key = testSigningKey(`k-${alg}`, alg);
    const now = Date.now();
    const minter = new TokenMinter(SETTINGS, new TestKeySource(key), () => now);
    const r = minter.mint({
      identity: identity(),
      audience: 'spiffe://cluster.local/ns/shop/sa/orders',
      actor: 'spiffe://cluster.local/ns/edge/sa/gw',
    });
    const token = jwt(r);
    const { payload, protectedHeader } = await jwtVerify(token, jwksOf(key), {
      issuer: ISSUER,
      audience: 'spiffe://cluster.local/ns/shop/sa/orders',
      typ: 'at+jwt',
      algorithms: [alg],
      currentDate: new Date(now),
    });
    assert.deepEqual(protectedHeader, { alg, kid: `k-${alg}`, typ: 'at+jwt' });
    const iat = Math.floor(now / 1000);
    assert.deepEqual(payload, {
      scope: 'orders:read orders:write',
      roles: ['buyer'],
      iss: ISSUER,
      sub: 'alice',
      aud: 'spiffe://cluster.local/ns/shop/sa/orders',
      iat,
      exp: iat + 120,
      jti: payload.jti,
      zt_cred_hash: 'a1b2c3d4e5f6',
      act: { sub: 'spiffe://cluster.local/ns/edge/sa/gw' },
    });
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
    assert.ok(r.ok && r.jti === payload.jti && r.kid === `k-${alg}`);
  });
}

test('no caller: no act; a listed claim the credential lacks is left out; sub as the credential says it', async () => {
  const key = testSigningKey('k1');
  const minter = new TokenMinter(SETTINGS, new TestKeySource(key));
  const token = jwt(
    minter.mint({ identity: identity({ subject: 'apikey:partners/acme' }, { client_id: 'shop-web' }), audience: 'orders.shop' }),
  );
  const { payload } = await jwtVerify(token, jwksOf(key), { audience: 'orders.shop' });
  assert.equal(payload.act, undefined);
  assert.equal(payload.sub, 'apikey:partners/acme');
  assert.equal(payload.client_id, 'shop-web');
  const bare = jwt(minter.mint({ identity: identity({ scopes: [] }, { roles: undefined }), audience: 'orders.shop' }));
  const p2 = (await jwtVerify(bare, jwksOf(key))).payload;
  assert.ok(!('scope' in p2) && !('roles' in p2) && !('client_id' in p2), JSON.stringify(p2));
});

test('never outlives the credential: exp is the credential exp when that comes first', async () => {
  const key = testSigningKey('k1');
  const now = Date.now();
  const credExp = Math.floor(now / 1000) + 30;
  const minter = new TokenMinter(SETTINGS, new TestKeySource(key), () => now);
  const { payload } = await jwtVerify(jwt(minter.mint({ identity: identity({}, { exp: credExp }), audience: 'a' })), jwksOf(key), {
    currentDate: new Date(now),
  });
  assert.equal(payload.exp, credExp);
});

test('cache: the same token until half its lifetime, then a new one; other audience, caller or credential: another token', () => {
  const key = testSigningKey('k1');
  let now = 1_800_000_000_000;
  const minter = new TokenMinter(SETTINGS, new TestKeySource(key), () => now);
  const req = { identity: identity({}, { exp: 1_800_010_000 }), audience: 'orders', actor: 'spiffe://td/ns/a/sa/b' };
  const first = minter.mint(req);
  assert.equal(key.signed, 1);
  now += 59_000; // 59 s of 120: still in the first half
  assert.equal(minter.mint(req), first, 'reused');
  assert.equal(key.signed, 1);
  assert.notEqual(minter.mint({ ...req, audience: 'payments' }), first, 'another audience');
  assert.notEqual(minter.mint({ ...req, actor: 'spiffe://td/ns/x/sa/y' }), first, 'another caller');
  assert.notEqual(
    minter.mint({ ...req, identity: identity({ tokenHash: 'ffffffffffff' }, { exp: 1_800_010_000 }) }),
    first,
    'another credential',
  );
  // Same 12-hex-digit hash, other claims (a hash-prefix collision): never the other's token.
  assert.notEqual(minter.mint({ ...req, identity: identity({ subject: 'mallory' }, { exp: 1_800_010_000 }) }), first, 'another subject');
  const signed = key.signed;
  now += 1_000; // 60 s: half the lifetime has passed
  const second = minter.mint(req);
  assert.notEqual(second, first, 'minted anew after half the lifetime');
  assert.equal(key.signed, signed + 1);
  assert.ok(first.ok && second.ok && first.jti !== second.jti);
});

test('a key rotation (another current kid) mints anew at once', () => {
  const k1 = testSigningKey('k1');
  const k2 = testSigningKey('k2');
  const source = new TestKeySource(k1);
  const minter = new TokenMinter(SETTINGS, source);
  const req = { identity: identity(), audience: 'orders' };
  const a = minter.mint(req);
  assert.equal(minter.mint(req), a);
  source.current = k2;
  const b = minter.mint(req);
  assert.ok(b.ok && b.kid === 'k2');
  assert.equal(decodeProtectedHeader(jwt(b)).kid, 'k2');
});

test('cacheMaxEntries 0: every mint signs', () => {
  const key = testSigningKey('k1');
  const minter = new TokenMinter({ ...SETTINGS, cacheMaxEntries: 0 }, new TestKeySource(key));
  const req = { identity: identity(), audience: 'orders' };
  minter.mint(req);
  minter.mint(req);
  assert.equal(key.signed, 2);
});

test('fail closed: no key, a key that throws, a claim that is not JSON, a token over the size cap', () => {
  const req = { identity: identity(), audience: 'orders' };
  const none = new TokenMinter(SETTINGS, new TestKeySource(undefined)).mint(req);
  assert.deepEqual(none, { ok: false, detail: 'no signing key is loaded' });
  const throwingSource = {
    signingKey() {
      throw new Error('ring broken');
    },
  };
  assert.equal(new TokenMinter(SETTINGS, throwingSource).mint(req).ok, false);

  const key = testSigningKey('k1');
  key.failing = true;
  const failed = new TokenMinter(SETTINGS, new TestKeySource(key)).mint(req);
  assert.ok(!failed.ok && /signing with key k1 failed/.test(failed.detail));

  const good = testSigningKey('k2');
  const minter = new TokenMinter({ ...SETTINGS, claims: ['roles', 'profile'] }, new TestKeySource(good));
  const bad: Array<[string, unknown]> = [
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
    ['Date', new Date()],
    ['Map', new Map()],
    ['function', () => 1],
    ['bigint', 10n],
    ['nested NaN', { a: { b: Number.NaN } }],
  ];
  for (const [what, value] of bad) {
    const r = minter.mint({ identity: identity({}, { roles: value }), audience: 'orders' });
    assert.ok(!r.ok && /claim roles cannot be copied/.test(r.detail), what);
  }
  const big = minter.mint({ identity: identity({}, { profile: 'x'.repeat(6200) }), audience: 'orders' });
  assert.ok(!big.ok && /exceed 8192 bytes/.test(big.detail), JSON.stringify(big));
  assert.equal(good.signed, 0, 'nothing oversized was signed');
  // Just under the cap: minted, and the whole header value fits.
  const fits = minter.mint({ identity: identity({}, { profile: 'x'.repeat(5000) }), audience: 'orders' });
  assert.ok(fits.ok && fits.value.length <= MAX_MINTED_HEADER_BYTES);
});

test('a clock stepped back before a cached token was issued mints anew (that token has iat in the future)', () => {
  const key = testSigningKey('k1');
  let now = 1_800_000_000_000;
  const minter = new TokenMinter(SETTINGS, new TestKeySource(key), () => now);
  const req = { identity: identity({}, { exp: 1_800_010_000 }), audience: 'orders' };
  const first = minter.mint(req);
  now -= 30_000; // an NTP step back of 30 s, well inside the first half of the lifetime
  const after = minter.mint(req);
  assert.ok(first.ok && after.ok && after.jti !== first.jti, 'not the cached token');
  const iat = (t: MintResult) => (JSON.parse(Buffer.from(jwt(t).split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
  assert.equal(iat(after), Math.floor(now / 1000), 'iat is the clock now');
  assert.equal(minter.mint(req), after, 'and that one is reused as usual');
});

test('a key that returns an empty signature mints nothing (never a token ending in ".")', () => {
  const empty = { kid: 'kms-1', alg: 'ES256' as const, sign: () => Buffer.alloc(0) };
  const r = new TokenMinter(SETTINGS, new TestKeySource(empty)).mint({ identity: identity(), audience: 'orders' });
  assert.deepEqual(r, { ok: false, detail: 'signing with key kms-1 returned no signature' });
});
