// An issuer's maxTokenAgeSeconds applies to introspected (opaque) tokens as it does to JWTs: `iat`
// required, a token older than the age denied, a cached active result never reused past it. The
// revocation list relies on it: a `notBefore` entry without `expiresAt` is dropped once every
// token it covers is past the issuer's maximum age, so an introspected token that escaped the age
// check would be accepted again after its subject's revocation was dropped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Authenticator } from '../../../src/authn/authenticator.js';
import { buildIssuerKeys, type IssuerKeys } from '../../../src/authn/key-resolvers.js';
import { REAL_CLOCK } from '../../../src/authn/jwks/clock.js';
import { RevocationList } from '../../../src/authn/revocation/list.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { AuthResult, CheckInput } from '../../../src/decision/types.js';

const T0 = 1_800_000_000_000;
const NOW_S = T0 / 1000;
const MAX_AGE_S = 3600;
const dir = mkdtempSync(join(tmpdir(), 'zt-introspect-age-'));
const secretFile = join(dir, 'secret');
writeFileSync(secretFile, 's3cret\n');

let answer: Record<string, unknown> = { active: false };
let calls = 0;
const server = createServer((req, res: ServerResponse) => {
  req.resume();
  req.on('end', () => {
    calls++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
});
server.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const ISS = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const stopped: IssuerKeys[] = [];
after(() => {
  stopped.forEach((k) => k.stop());
  server.closeAllConnections();
  server.close();
});

/** Active, for a day: only the age check (or a revocation) can deny it. */
const active = (extra: Record<string, unknown>) => ({
  active: true,
  iss: ISS,
  aud: 'api',
  sub: 'alice',
  token_type: 'Bearer',
  exp: NOW_S + 86_400,
  ...extra,
});

function setup() {
  const clock = { now: T0 };
  const cfg = resolveConfig({
    issuers: [
      {
        issuer: ISS,
        audiences: ['api'],
        clockSkewSeconds: 0,
        maxTokenAgeSeconds: MAX_AGE_S,
        introspection: { endpoint: `${ISS}/introspect`, clientId: 'zt', clientSecretFile: secretFile, cacheSeconds: 3600 },
      },
    ],
  });
  const keys = buildIssuerKeys(cfg.issuers[0]!, { clock: { now: () => clock.now, setTimer: REAL_CLOCK.setTimer } });
  stopped.push(keys);
  const revocation = new RevocationList({ now: () => clock.now });
  revocation.configure([{ issuer: ISS, clockSkewSeconds: 0, maxTokenAgeSeconds: MAX_AGE_S }]);
  const auth = new Authenticator(
    cfg.issuers,
    new Map([[ISS, keys]]),
    { maxTokenBytes: 8192, cacheMaxEntries: 100, cacheMaxTtlSeconds: 86_400, revocation, now: () => clock.now },
    { cacheHit: () => undefined, cacheMiss: () => undefined },
  );
  return { auth, clock, revocation };
}

function input(token: string): CheckInput {
  return {
    requestId: '1',
    method: 'GET',
    host: 'h',
    path: '/',
    query: '',
    headers: { authorization: `Bearer ${token}` },
    source: { labels: {} },
    destination: { labels: {} },
    contextExtensions: {},
  };
}
const reason = (r: AuthResult) => (r.kind === 'failed' ? r.reason : r.kind);
let n = 0;
const opaque = () => `opaque-age-${++n}-${Math.random().toString(36).slice(2)}`;

test('an introspected token older than maxTokenAgeSeconds is token_expired; without iat it is token_claims_invalid', async () => {
  const { auth } = setup();
  answer = active({ iat: NOW_S - MAX_AGE_S - 1 });
  assert.equal(reason(await auth.authenticate(input(opaque()))), 'token_expired');
  answer = active({ iat: undefined });
  assert.equal(reason(await auth.authenticate(input(opaque()))), 'token_claims_invalid');
  answer = active({ iat: NOW_S - 60 });
  assert.equal(reason(await auth.authenticate(input(opaque()))), 'authenticated');
});

test('a cached active result is not reused past iat + maxTokenAgeSeconds', async () => {
  const { auth, clock } = setup();
  answer = active({ iat: NOW_S - MAX_AGE_S + 10 });
  const token = opaque();
  assert.equal(reason(await auth.authenticate(input(token))), 'authenticated');
  clock.now += 9_000;
  assert.equal(reason(await auth.authenticate(input(token))), 'authenticated', 'within the age: still valid');
  clock.now += 2_000;
  assert.equal(reason(await auth.authenticate(input(token))), 'token_expired', 'past the age: neither cache serves it');
});

test('a subject revoked by notBefore stays denied after the entry is dropped (notBefore + maxTokenAgeSeconds)', async () => {
  const { auth, clock, revocation } = setup();
  const notBefore = T0 - 600_000;
  revocation.set('file', [{ kind: 'subject', issuer: ISS, subject: 'alice', notBefore }]);
  // Issued before the revocation; the IdP still reports it active (its exp is a day away).
  answer = active({ iat: notBefore / 1000 - 600 });
  const token = opaque();
  assert.equal(reason(await auth.authenticate(input(token))), 'token_revoked');
  clock.now = notBefore + MAX_AGE_S * 1000 + 1;
  revocation.sweep();
  assert.equal(revocation.empty, true, 'the entry is gone: nothing it covered may verify any more');
  const before = calls;
  const r = await auth.authenticate(input(token));
  assert.notEqual(r.kind, 'authenticated', 'the revoked token came back once its revocation entry was dropped');
  assert.equal(reason(r), 'token_expired');
  assert.ok(calls >= before, 'decided without trusting an old cached answer');
});
