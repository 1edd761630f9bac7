// API keys end to end through the real listeners (gRPC v3 and v2, HTTP mode): a known key is
// allowed as apikey:partners/acme with the key removed upstream; unknown and expired keys are 401s;
// a key in a query parameter is removed over v3 and denied (token_not_removable) where it cannot be;
// the keys file is watched: a new key works after the change, an invalid replacement keeps the
// last good keys (logged, counted); audit records name the key and its hash prefix, never the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readMetric, startTestApp, waitUntil } from '../helpers/app.js';
import { authV2Client, authV3Client, check, checkRequest, closeAll } from '../helpers/grpc-client.js';
import { registerHmacSecret } from '../helpers/capture.js';
import { send } from './helpers/http-client.js';

const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
const KEY = 'zt_e2e-acme-Q2hvb3NlIGEgbG9uZyByYW5kb20ga2V5IGhlcmU';
const EXPIRED = 'zt_e2e-old-U29tZXRoaW5nIG9sZCBhbmQgZXhwaXJlZCBoZXJl';
const LATER = 'zt_e2e-later-QWRkZWQgYWZ0ZXIgdGhlIHN0YXJ0IG9mIHRoZSBhcHA';
for (const k of [KEY, EXPIRED, LATER]) registerHmacSecret(k);

const entry = (name: string, key: string, extra: Record<string, unknown> = {}) => ({
  name,
  sha256: sha(key),
  subject: 'acme',
  scopes: ['orders:read'],
  ...extra,
});

function writeKeys(file: string, keys: unknown): void {
  // As a Kubernetes volume would: a whole new file renamed into place.
  writeFileSync(`${file}.tmp`, typeof keys === 'string' ? keys : stringify({ keys }));
  renameSync(`${file}.tmp`, file);
}

test('API keys over gRPC v3/v2 and HTTP mode, with the keys file hot-reloaded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'apikeys-e2e-'));
  const keysFile = join(dir, 'apikeys.yaml');
  writeKeys(keysFile, [entry('acme-2026-12', KEY), entry('acme-old', EXPIRED, { expiresAt: '2020-01-01T00:00:00Z' })]);
  const t = await startTestApp({
    apiKeys: [{ name: 'partners', fromParams: ['api_key'], fromHeaders: [{ name: 'x-api-key' }], keysFile }],
    reload: { debounceMs: 20, pollSeconds: 1 },
    policies: [
      {
        name: 'partners',
        rules: [
          {
            from: [{ source: { requestPrincipals: ['apikey:partners/*'] } }],
            when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }],
          },
        ],
      },
    ],
  });
  const v3 = authV3Client(t.grpcPort);
  const v2 = authV2Client(t.grpcPort);
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    const ok = await check(v3, checkRequest({ headers: { 'x-api-key': KEY } }));
    assert.equal(ok.status?.code, 0, JSON.stringify(ok.deniedResponse?.status));
    assert.ok(ok.okResponse?.headersToRemove?.includes('x-api-key'), 'the key is removed upstream');
    const subject = ok.okResponse?.headers?.find((h) => h.header?.key === 'x-auth-subject')?.header?.value;
    assert.equal(subject, 'acme');
    assert.equal((await check(v2, checkRequest({ headers: { 'x-api-key': KEY } }))).status?.code, 0, 'v2 blanks the header');

    const unknown = await check(v3, checkRequest({ headers: { 'x-api-key': LATER } }));
    assert.equal(unknown.status?.code, 16);
    assert.equal(unknown.deniedResponse?.status?.code, 'Unauthorized' as never);
    assert.equal((await check(v3, checkRequest({ headers: { 'x-api-key': EXPIRED } }))).status?.code, 16);

    const q3 = await check(v3, checkRequest({ path: `/orders?api_key=${KEY}` }));
    assert.equal(q3.status?.code, 0);
    assert.deepEqual(q3.okResponse?.queryParametersToRemove, ['api_key']);
    assert.equal((await check(v2, checkRequest({ path: `/orders?api_key=${KEY}` }))).status?.code, 16, 'v2 cannot remove it');

    const http = (headers: Array<[string, string]>, path = '/orders') =>
      send(t.app.httpPort, { path, headers: [['host', 'orders.shop.svc'], ...headers] });
    assert.equal((await http([['x-api-key', KEY]])).status, 200);
    assert.equal((await http([['x-api-key', LATER]])).status, 401);
    assert.equal((await http([], `/orders?api_key=${KEY}`)).status, 401, 'HTTP mode cannot remove a parameter');
    assert.equal((await http([['x-api-key', `${KEY},${KEY}`]])).status, 401, 'two keys (a repeated header)');

    // A new key in the file: accepted once the watch reloads it.
    writeKeys(keysFile, [entry('acme-2026-12', KEY), entry('acme-2027-06', LATER)]);
    await waitUntil(
      async () => (await check(v3, checkRequest({ headers: { 'x-api-key': LATER } }))).status?.code === 0,
      5000,
      'new key accepted',
    );
    // An invalid replacement (the same hash twice) keeps the last good keys, logged and counted.
    writeKeys(keysFile, [entry('a', KEY), entry('b', KEY)]);
    await waitUntil(
      async () => (await readMetric(t.adminPort, 'zt_authz_apikeys_reload_total', { source: 'partners', result: 'error' })) >= 1,
      5000,
      'rejection counted',
    );
    assert.equal((await check(v3, checkRequest({ headers: { 'x-api-key': LATER } }))).status?.code, 0, 'last good keys kept');
    assert.ok(
      t
        .records()
        .some(
          (r) => r.msg === 'API keys update rejected; keeping the last good keys' && JSON.stringify(r.problems).includes('keys[1].sha256'),
        ),
    );
    writeKeys(keysFile, 'keys: [ {');
    await waitUntil(
      async () => (await readMetric(t.adminPort, 'zt_authz_apikeys_reload_total', { source: 'partners', result: 'error' })) >= 2,
      5000,
      'bad YAML counted',
    );
    assert.equal((await check(v3, checkRequest({ headers: { 'x-api-key': KEY } }))).status?.code, 0, 'still the last good keys');

    const audit = t.audit();
    const reasons = audit.map((a) => a.reason);
    for (const r of ['apikey_unknown', 'apikey_expired', 'token_not_removable', 'token_multiple'])
      assert.ok(reasons.includes(r), `${r} in ${reasons.join(',')}`);
    const allowed = audit.find((a) => a.decision === 'allow' && a.api_key === 'acme-2026-12');
    assert.ok(allowed, 'an allow names the key');
    assert.equal(allowed.token_hash, sha(KEY).slice(0, 12));
    assert.equal(allowed.issuer, 'apikey:partners');
    for (const k of [KEY, EXPIRED, LATER]) assert.ok(!t.lines.some((l) => l.includes(k)), 'a key is never logged');
  } finally {
    closeAll(v3, v2);
    await t.stop();
  }
});
