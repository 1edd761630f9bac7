// Revocation of JWTs and API keys (src/authn/revocation/):
// - entries: the three forms, RFC 3339 times only (a zone-less or rolled-over date is refused),
//   unknown fields, missing partners, a list over the cap: each a clear problem, never a crash;
// - the list: O(1) lookups by issuer+jti, issuer+subject and key hash; notBefore against iat
//   (a token without iat is revoked), entries dropped after expiresAt (+ the issuer's skew) or,
//   without it, after notBefore + maxTokenAgeSeconds; unknown issuers warned about and loaded;
// - over real gRPC and HTTP: a cached, allowed token is denied token_revoked (401) once the watched
//   file revokes it, and evicted from the verified-token cache; a subject revocation spares newer
//   tokens; an invalid replacement keeps the last good list (logged, counted); an invalid file at
//   start stops the start; `zt-authz revoke` prints what the loader accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { SignJWT } from 'jose';
import { parse, stringify } from 'yaml';
import { MAX_FILE_ENTRIES, parseEntry, parseRevocationDocument } from '../../../src/authn/revocation/entries.js';
import { RevocationList } from '../../../src/authn/revocation/list.js';
import { readRevocationFile } from '../../../src/authn/revocation/file-source.js';
import { ConfigError } from '../../../src/config/problems.js';
import { revoke } from '../../../src/cli/revoke.js';
import { renderRevocationCrdYaml } from '../../../src/k8s/revocations.js';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll } from '../../helpers/grpc-client.js';
import { generateTestKey, type TestKey } from '../../helpers/idp.js';
import { registerToken } from '../../helpers/capture.js';

const ISS = 'https://idp.revoke.test';
const T0 = Date.parse('2026-12-07T09:00:00Z');

test('entries: the three forms parse; bad input is a clear problem', () => {
  const ok = (raw: unknown) => {
    const r = parseEntry(raw, 'e');
    assert.ok('entry' in r, JSON.stringify(r));
    return r.entry;
  };
  const bad = (raw: unknown): string => {
    const r = parseEntry(raw, 'e');
    assert.ok('problems' in r, `accepted ${JSON.stringify(raw)}`);
    return r.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
  };
  assert.deepEqual(ok({ issuer: ISS, jti: 'j1', expiresAt: '2026-12-08T10:00:00Z' }), {
    kind: 'jti',
    issuer: ISS,
    jti: 'j1',
    expiresAt: Date.parse('2026-12-08T10:00:00Z'),
  });
  assert.equal(ok({ issuer: ISS, subject: 'alice', notBefore: '2026-12-07T10:30:00+01:00' }).kind, 'subject');
  const key = 'AB'.repeat(32);
  assert.deepEqual(ok({ apiKey: key }), { kind: 'apiKey', sha256: key.toLowerCase() });

  assert.match(bad({ issuer: ISS, jti: 'j', expiresAt: '2026-12-08T10:00:00' }), /e\.expiresAt: must be an RFC 3339 time with a zone/);
  assert.match(bad({ issuer: ISS, jti: 'j', expiresAt: '2026-02-30T10:00:00Z' }), /e\.expiresAt: is not a valid time/);
  assert.match(bad({ issuer: ISS, jti: 'j', expiresAt: 1765000000 }), /must be an RFC 3339 time/);
  assert.match(bad({ issuer: ISS, jti: 'j', expiresAt: 'tomorrow' }), /RFC 3339/);
  assert.match(bad({ issuer: ISS, subject: 'alice' }), /e\.notBefore: is required with subject/);
  assert.match(bad({ jti: 'j' }), /e\.issuer: is required/);
  assert.match(bad({ issuer: ISS }), /exactly one of jti/);
  assert.match(bad({ issuer: ISS, jti: 'j', subject: 's', notBefore: '2026-12-07T10:30:00Z' }), /exactly one of jti/);
  assert.match(bad({ apiKey: 'not-hex' }), /e\.apiKey: must be the 64-digit hex SHA-256/);
  assert.match(bad({ apiKey: key, issuer: ISS }), /takes only expiresAt/);
  assert.match(bad({ issuer: ISS, jti: 'j', typo: 1 }), /e\.typo: unknown field/);
  assert.match(bad({ issuer: ISS, jti: '' }), /e\.jti: must be a non-empty string/);
  assert.match(bad({ issuer: ISS, jti: 'x'.repeat(1025) }), /longer than 1024/);
  assert.match(bad('a string'), /must be an object/);
  assert.match(bad(null), /must be an object/);
  assert.match(bad([1]), /must be an object/);

  const doc = (d: unknown) => parseRevocationDocument(d);
  assert.deepEqual(doc(null), { entries: [] });
  assert.deepEqual(doc({ entries: [] }), { entries: [] });
  assert.ok('problems' in doc({ entries: {} }));
  assert.ok('problems' in doc([]));
  assert.ok('problems' in doc({ entries: [], extra: 1 }));
  const huge = doc({ entries: Array.from({ length: MAX_FILE_ENTRIES + 1 }, (_, i) => ({ issuer: ISS, jti: `j${i}` })) });
  assert.ok('problems' in huge && /more than 100000/.test(huge.problems[0]!.message));
  // One problem line per bad entry, capped: a wholly wrong huge file makes one bounded error.
  const allBad = doc({ entries: Array.from({ length: 5000 }, () => ({ issuer: ISS })) });
  assert.ok('problems' in allBad && allBad.problems.length === 50);
});

test('list: O(1) lookups; notBefore against iat (none: revoked); expiry with skew; unknown issuers warned, loaded', () => {
  let now = T0;
  const warned: string[] = [];
  const list = new RevocationList({ now: () => now, onUnknownIssuer: (source, issuer) => warned.push(`${source} ${issuer}`) });
  list.configure([
    { issuer: ISS, clockSkewSeconds: 30 },
    { issuer: 'https://short.test', clockSkewSeconds: 0, maxTokenAgeSeconds: 3600 },
  ]);
  assert.equal(list.empty, true);
  assert.equal(list.tokenRevoked(ISS, 'j1', 'alice', 1), false);
  const nb = Date.parse('2026-12-07T09:30:00Z');
  list.set('file', [
    { kind: 'jti', issuer: ISS, jti: 'j1', expiresAt: T0 + 60_000 },
    { kind: 'subject', issuer: ISS, subject: 'alice', notBefore: nb },
    { kind: 'subject', issuer: 'https://short.test', subject: 'bob', notBefore: nb },
    { kind: 'apiKey', sha256: 'ab'.repeat(32), expiresAt: T0 + 60_000 },
    { kind: 'jti', issuer: 'https://unknown.test', jti: 'x' },
  ]);
  assert.deepEqual(warned, ['file https://unknown.test']);
  assert.equal(list.size, 5);
  assert.equal(list.tokenRevoked(ISS, 'j1', 'carol', nb / 1000 + 5), true, 'by jti');
  assert.equal(list.tokenRevoked(ISS, 'j2', 'carol', nb / 1000 - 5), false, 'other jti, other subject');
  assert.equal(list.tokenRevoked('https://other.test', 'j1', 'carol', 1), false, 'jti is per issuer');
  assert.equal(list.tokenRevoked(ISS, 'j2', 'alice', nb / 1000 - 1), true, 'alice, issued before notBefore');
  assert.equal(list.tokenRevoked(ISS, 'j2', 'alice', nb / 1000), false, 'alice, issued at notBefore');
  assert.equal(list.tokenRevoked(ISS, undefined, 'alice', undefined), true, 'alice, no iat: fail closed');
  assert.equal(list.tokenRevoked('https://unknown.test', 'x', 'z', 1), true, 'an unknown issuer’s entry is loaded');
  assert.equal(list.apiKeyRevoked('AB'.repeat(32)), true);
  assert.equal(list.apiKeyRevoked('cd'.repeat(32)), false);

  // The same issuer added on reload: no repeated warning for it, a fresh one only for new unknowns.
  list.set('TokenRevocation shop/r1', [{ kind: 'jti', issuer: 'https://unknown.test', jti: 'y' }]);
  assert.deepEqual(warned, ['file https://unknown.test', 'TokenRevocation shop/r1 https://unknown.test']);

  // jti entry: still revoking within the issuer's 30 s skew after expiresAt, then dropped.
  now = T0 + 60_000 + 30_000;
  assert.equal(list.tokenRevoked(ISS, 'j1', 'carol', 1), true);
  now += 1;
  assert.equal(list.tokenRevoked(ISS, 'j1', 'carol', 1), false);
  assert.equal(list.apiKeyRevoked('ab'.repeat(32)), false);
  assert.equal(list.sweep(), true);
  assert.equal(list.size, 4);
  // notBefore without expiresAt: dropped after notBefore + maxTokenAgeSeconds of its issuer only.
  now = nb + 3600_000 + 1;
  assert.equal(list.tokenRevoked('https://short.test', undefined, 'bob', undefined), false);
  assert.equal(list.tokenRevoked(ISS, undefined, 'alice', undefined), true, 'no maximum token age: kept');
  list.sweep();
  assert.equal(list.size, 3);
  list.set('file', []);
  list.set('TokenRevocation shop/r1', []);
  assert.equal(list.empty, true);
});

test('list: lookups stay O(1) with 100,000 entries (a huge file loads in bounded time; huge YAML is refused)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-rev-'));
  const file = join(dir, 'revoked.json');
  const entries = Array.from({ length: MAX_FILE_ENTRIES }, (_, i) => ({ issuer: ISS, jti: `jti-${i}`, expiresAt: '2099-01-01T00:00:00Z' }));
  writeFileSync(file, JSON.stringify({ entries }));
  let t = performance.now();
  const loaded = readRevocationFile(file);
  const loadMs = performance.now() - t;
  const list = new RevocationList();
  list.set('file', loaded);
  t = performance.now();
  let hits = 0;
  for (let i = 0; i < 200_000; i++) if (list.tokenRevoked(ISS, `jti-${i}`, 's', 1)) hits++;
  const lookupUs = ((performance.now() - t) / 200_000) * 1000;
  console.log(`# 100,000-entry JSON file: load ${loadMs.toFixed(0)} ms; lookup ${lookupUs.toFixed(3)} µs (Node ${process.version})`);
  assert.equal(hits, 100_000);
  assert.ok(lookupUs < 5, `lookup ${lookupUs} µs`);
  assert.ok(loadMs < 5000, `load ${loadMs} ms`);
  writeFileSync(file, JSON.stringify({ entries: [...entries, { issuer: ISS, jti: 'one-more' }] }));
  assert.throws(
    () => readRevocationFile(file),
    (e: unknown) => e instanceof ConfigError && /more than 100000/.test(e.message),
  );
  writeFileSync(file, stringify({ entries: entries.slice(0, 5000) }));
  assert.throws(
    () => readRevocationFile(file),
    (e: unknown) => e instanceof ConfigError && /write a long list as JSON/.test(e.message),
  );
  writeFileSync(file, 'entries: [ {issuer: x, jti: ');
  assert.throws(() => readRevocationFile(file), ConfigError);
  writeFileSync(file, 'a: &a [*a, *a]\nentries: *a');
  assert.throws(() => readRevocationFile(file), ConfigError);
});

async function token(
  key: TestKey,
  sub: string,
  claims: Record<string, unknown> = {},
  iat = Math.floor(Date.now() / 1000),
): Promise<string> {
  const t = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.jwk.kid! })
    .setIssuer(ISS)
    .setSubject(sub)
    .setAudience('api')
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(key.privateKey);
  return registerToken(t);
}

function httpCheck(port: number, tokenValue: string): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/orders', headers: { authorization: `Bearer ${tokenValue}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('over gRPC and HTTP: the watched file revokes a cached token (401 token_revoked, evicted), a subject before notBefore; bad replacements keep the list', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-rev-'));
  const file = join(dir, 'revoked.yaml');
  writeFileSync(file, 'entries: []\n');
  const key = await generateTestKey('r1');
  let t: TestApp | undefined;
  const client = { c: undefined as ReturnType<typeof authV3Client> | undefined };
  try {
    t = await startTestApp({
      issuers: [{ issuer: ISS, jwks: { keys: [key.jwk] }, audiences: ['api'] }],
      policies: [{ name: 'authenticated', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }],
      revocation: { file },
      reload: { debounceMs: 20, pollSeconds: 0 },
    });
    const app = t;
    client.c = authV3Client(t.grpcPort);
    const grpcReason = async (tok: string): Promise<string> => {
      const res = await check(client.c!, checkRequest({ token: tok }));
      return res.status?.code === 0 ? 'allowed' : String(res.status?.message);
    };
    const old = await token(key, 'alice', { jti: 'a-old' }, Math.floor(Date.now() / 1000) - 120);
    const other = await token(key, 'bob', { jti: 'b-1' });
    assert.equal(await grpcReason(old), 'allowed');
    assert.equal(await grpcReason(old), 'allowed'); // now a cache hit
    assert.equal((await httpCheck(t.app.httpPort, old)).status, 200);
    const hitsBefore = await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total');
    assert.equal(hitsBefore, 2);
    const missesBefore = await readMetric(t.adminPort, 'zt_authz_token_cache_misses_total');

    // Revoke by jti (an unknown issuer's entry beside it: warned about, loaded, nothing breaks).
    writeFileSync(
      file,
      stringify({
        entries: [
          { issuer: ISS, jti: 'a-old', expiresAt: new Date(Date.now() + 600_000).toISOString() },
          { issuer: 'https://not-configured.test', jti: 'zz' },
        ],
      }),
    );
    await waitUntil(() => app.app.revocations!.size === 2, 5000, 'revocation file reloaded');
    assert.equal(await grpcReason(old), 'token_revoked');
    const h = await httpCheck(t.app.httpPort, old);
    assert.equal(h.status, 401);
    assert.match(h.challenge ?? '', /invalid_token/);
    assert.equal(await grpcReason(other), 'allowed', 'other tokens unaffected');
    // Evicted when the list changed: both checks of the revoked token (and bob's first) were misses.
    assert.equal(await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total'), hitsBefore);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_token_cache_misses_total'), missesBefore + 3);
    assert.ok(t.records().some((r) => r.msg?.toString().includes('not configured') && r.issuer === 'https://not-configured.test'));
    const audit = t.audit().filter((r) => r.reason === 'token_revoked');
    assert.ok(audit.length >= 2, 'audit records carry the reason');

    // Every token of alice issued before notBefore: a new token of alice is still allowed.
    // notBefore is fixed first and the new token's iat is the next whole second after it, so "issued after"
    // holds however long minting takes (a slow machine once minted across a second boundary before notBefore).
    const notBefore = new Date();
    const fresh = await token(key, 'alice', { jti: 'a-new' }, Math.floor(notBefore.getTime() / 1000) + 1);
    const noJti = await token(key, 'alice', {}, Math.floor(Date.now() / 1000) - 60);
    assert.equal(await grpcReason(noJti), 'allowed');
    writeFileSync(file, stringify({ entries: [{ issuer: ISS, subject: 'alice', notBefore: notBefore.toISOString() }] }));
    await waitUntil(() => app.app.revocations!.size === 1, 5000, 'subject entry loaded');
    assert.equal(await grpcReason(noJti), 'token_revoked', 'older token of alice (cached before) is revoked');
    assert.equal((await httpCheck(t.app.httpPort, noJti)).status, 401);
    assert.equal(await grpcReason(fresh), 'allowed', 'issued after notBefore');
    assert.equal(await grpcReason(old), 'token_revoked', 'alice’s older token: now by the subject entry');
    assert.equal(await grpcReason(other), 'allowed', 'bob unaffected');

    // Invalid replacements keep the last good list, logged and counted; nothing crashes.
    const errors0 = await readMetric(t.adminPort, 'zt_authz_revocation_reload_total', { source: 'file', result: 'error' });
    for (const badText of ['entries: [ {', 'entries:\n  - { issuer: x, jti: j, expiresAt: yesterday }\n', 'entries: 7\n']) {
      writeFileSync(file, badText);
      const before = await readMetric(t.adminPort, 'zt_authz_revocation_reload_total', { source: 'file', result: 'error' });
      await waitUntil(
        async () => (await readMetric(t!.adminPort, 'zt_authz_revocation_reload_total', { source: 'file', result: 'error' })) > before,
        5000,
        'rejection counted',
      );
      assert.equal(await grpcReason(noJti), 'token_revoked', `still revoked after ${JSON.stringify(badText)}`);
    }
    assert.equal(await readMetric(t.adminPort, 'zt_authz_revocation_reload_total', { source: 'file', result: 'error' }), errors0 + 3);
    assert.ok(t.records().some((r) => r.msg === 'revocation file rejected; keeping the last good list'));
    assert.equal(await readMetric(t.adminPort, 'zt_authz_revocation_entries'), 1);
  } finally {
    if (client.c) closeAll(client.c);
    await t?.stop();
  }
});

test('an unreadable or invalid revocation file at start: the start fails with the problem (fail closed)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-rev-'));
  const file = join(dir, 'revoked.yaml');
  writeFileSync(file, 'entries:\n  - { issuer: https://x.test, subject: alice }\n');
  await assert.rejects(
    startTestApp({ revocation: { file } }),
    (e: unknown) => e instanceof ConfigError && /entries\[0\]\.notBefore: is required with subject/.test(e.message),
  );
  await assert.rejects(startTestApp({ revocation: { file: join(dir, 'missing.yaml') } }), /cannot read: ENOENT/);
});

test('zt-authz revoke prints a manifest or entry the loader accepts; bad arguments are clear errors', () => {
  const now = Date.parse('2026-12-07T09:30:00Z');
  const m = parse(revoke(['--issuer', ISS, '--jti', 'j1', '--expires-at', '2026-12-08T10:00:00Z', '-n', 'shop'], now).text) as Record<
    string,
    any
  >;
  assert.equal(m.apiVersion, 'zt-authz.io/v1alpha1');
  assert.equal(m.kind, 'TokenRevocation');
  assert.equal(m.metadata.namespace, 'shop');
  assert.match(m.metadata.name, /^jti-[0-9a-f]{16}$/);
  assert.deepEqual(m.spec, { issuer: ISS, jti: 'j1', expiresAt: '2026-12-08T10:00:00Z' });
  assert.ok('entry' in parseEntry(m.spec, 'spec'));
  const s = revoke(['--issuer', ISS, '--subject', 'alice', '--not-before', 'now', '--output', 'entry'], now);
  const doc = parse(s.text) as unknown;
  assert.deepEqual(doc, { entries: [{ issuer: ISS, subject: 'alice', notBefore: '2026-12-07T09:30:00Z' }] });
  assert.ok('entries' in parseRevocationDocument(doc));
  assert.match(s.notes.join(), /maxTokenAgeSeconds/);
  const k = parse(revoke(['--api-key-sha256', 'AB'.repeat(32)]).text) as Record<string, any>;
  assert.deepEqual(k.spec, { apiKey: 'ab'.repeat(32) });
  // The same thing revoked twice is one resource name.
  assert.equal(parse(revoke(['--issuer', ISS, '--jti', 'j1']).text).metadata.name, m.metadata.name);
  assert.throws(() => revoke(['--issuer', ISS, '--jti', 'j1', '--expires-at', '2026-12-08']), /--expires-at must be an RFC 3339 time/);
  assert.throws(() => revoke(['--issuer', ISS, '--subject', 'alice']), /--not-before is required with subject/);
  assert.throws(() => revoke(['--jti', 'j1']), /--issuer is required/);
  assert.throws(() => revoke(['--api-key-sha256', 'zz']), /--api-key-sha256 must be the 64-digit hex/);
  assert.throws(() => revoke(['--issuer', ISS]), /exactly one of jti/);
});

// The chart's template form (charts/zt-authz/templates/crds/) is checked by test/unit/k8s/crd-chart-template.test.ts.
test('deploy/crds/token-revocation.yaml equals the generator output (run: npm run build && node scripts/gen-crd.mjs)', () => {
  const root = new URL('../../../../', import.meta.url).pathname;
  assert.equal(readFileSync(join(root, 'deploy/crds/token-revocation.yaml'), 'utf8'), renderRevocationCrdYaml());
});
