// The token issuer's keys in a started App, over real HTTP: the JWKS (public members only) and the
// discovery document on the admin listener under the issuer's path, with a Cache-Control max-age
// shorter than publishLeadSeconds; readiness waits for a signing key; a route clash with the
// caller's admin routes is a start-up error. The Secret path (keysSecret) runs against the
// in-process fake API server (test/helpers/fake-apiserver.ts): not ready until the Secret holds a
// key, `keys new --secret`'s read-modify-write (create, update, a concurrent writer's 409) adds keys
// the running App publishes at once, and a bad update or a deletion keeps the last good keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { App } from '../../../src/app.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { createLogger } from '../../../src/observe/log.js';
import { newPrivateJwk, writeKeyFile } from '../../../src/mint/keys/new-key.js';
import { addKeyToSecret } from '../../../src/cli/keys.js';
import { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { adminGet, captureStream, readMetric, startTestApp, waitUntil } from '../../helpers/app.js';

const PRIVATE = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

async function get(
  port: number,
  path: string,
): Promise<{ status: number; body: string; cacheControl: string | null; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: res.status,
    body: await res.text(),
    cacheControl: res.headers.get('cache-control'),
    type: res.headers.get('content-type'),
  };
}

test('keysDir: JWKS and discovery under the issuer path, public members only, max-age a third of the lead; ready with a key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-keys-app-'));
  const a = newPrivateJwk('ES256', Date.now() - 86400_000);
  writeKeyFile(dir, a);
  const issuer = 'http://zt-authz.test:9090/internal';
  const t = await startTestApp({ tokenIssuer: { issuer, keysDir: dir, publishLeadSeconds: 300 } });
  try {
    assert.equal(t.app.ready, true);
    const jwks = await get(t.adminPort, '/internal/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    assert.equal(jwks.type, 'application/jwk-set+json');
    assert.equal(jwks.cacheControl, 'public, max-age=100');
    const set = JSON.parse(jwks.body) as { keys: Record<string, unknown>[] };
    assert.deepEqual(
      set.keys.map((k) => k.kid),
      [a.kid],
    );
    for (const k of set.keys) for (const m of PRIVATE) assert.ok(!(m in k), `no ${m}`);
    for (const m of PRIVATE) if (typeof a[m] === 'string') assert.ok(!jwks.body.includes(String(a[m])));
    const disc = await get(t.adminPort, '/internal/.well-known/openid-configuration');
    assert.equal(disc.status, 200);
    assert.equal(disc.cacheControl, 'public, max-age=100');
    const doc = JSON.parse(disc.body) as Record<string, unknown>;
    assert.equal(doc.issuer, issuer);
    assert.equal(doc.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.deepEqual(doc.id_token_signing_alg_values_supported, ['ES256']);
    assert.equal((await adminGet(t.adminPort, '/.well-known/jwks.json')).status, 404, 'only under the issuer path');

    // A new key appears: published at once (the next GET), not yet signing.
    const b = newPrivateJwk('ES256', Date.now());
    writeKeyFile(dir, b);
    await waitUntil(
      async () => (await get(t.adminPort, '/internal/.well-known/jwks.json')).body.includes(String(b.kid)),
      5000,
      'b published',
    );
    assert.equal(t.app.keyRing!.signingKey(Date.now())?.kid, a.kid);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_signing_keys', { state: 'published' }), 2);
    assert.ok((await readMetric(t.adminPort, 'zt_authz_signing_keys_reload_total', { result: 'success' })) >= 2);
  } finally {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an issuer without a path serves /.well-known/*; a caller route on the same path is a start-up error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-keys-app-'));
  writeKeyFile(dir, newPrivateJwk('EdDSA'));
  try {
    const t = await startTestApp({ tokenIssuer: { issuer: 'https://zt.test', keysDir: dir, algorithm: 'EdDSA', publishLeadSeconds: 0 } });
    try {
      const jwks = await get(t.adminPort, '/.well-known/jwks.json');
      assert.equal(jwks.status, 200);
      assert.equal(jwks.cacheControl, 'no-cache', 'no lead: no caching');
      assert.equal((JSON.parse(jwks.body) as { keys: { crv: string }[] }).keys[0]!.crv, 'Ed25519');
    } finally {
      await t.stop();
    }
    const config = resolveConfig(
      {
        server: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
        tokenIssuer: { issuer: 'https://zt.test', keysDir: dir, algorithm: 'EdDSA' },
      },
      'test',
    );
    const lines: string[] = [];
    await assert.rejects(
      App.start({
        config,
        logger: createLogger('info', captureStream(lines)),
        adminRoutes: { '/.well-known/jwks.json': (_q, s) => s.end('{}') },
      }),
      /tokenIssuer\.issuer: its documents would be served at \/\.well-known\/jwks\.json, a path already in use/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function core(fake: FakeApiServer): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'f', server: fake.url, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'f', user: 'u' }],
    currentContext: 'c',
  });
  return kc.makeApiClient(CoreV1Api);
}

test(
  'keysSecret (fake API server): not ready until the Secret holds a key; keys new --secret adds keys published at once; bad updates keep the last good keys',
  { timeout: 30000 },
  async () => {
    const fake = await FakeApiServer.start();
    const ref = { namespace: 'zt-system', name: 'zt-signing', key: 'signing-keys.json' };
    const t = await startTestApp({
      kubernetes: { enabled: true, apiServer: fake.url, watchPods: false, writeStatus: false, backoffMinMs: 20, backoffMaxMs: 200 },
      tokenIssuer: { issuer: 'https://zt.test', keysSecret: { namespace: ref.namespace, name: ref.name } },
      server: { readyTimeoutSeconds: 1 },
    });
    const jwksKids = async (): Promise<string[]> =>
      (JSON.parse((await get(t.adminPort, '/.well-known/jwks.json')).body) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();
    try {
      await waitUntil(() => t.app.kubernetes!.synced, 5000, 'informers listed');
      await waitUntil(
        async () => (await readMetric(t.adminPort, 'zt_authz_signing_keys_reload_total', { result: 'error' })) >= 1,
        5000,
        'missing Secret counted',
      );
      assert.equal(t.app.ready, false, 'no signing key: not ready');
      assert.equal((await adminGet(t.adminPort, '/readyz')).status, 503);
      assert.deepEqual(await jwksKids(), []);

      const api = core(fake);
      const a = newPrivateJwk('ES256', Date.now() - 86400_000);
      assert.equal(await addKeyToSecret(api, ref, a), 'created');
      await waitUntil(() => t.app.ready, 5000, 'ready once the Secret holds a key');
      assert.deepEqual(await jwksKids(), [a.kid]);
      assert.equal(t.app.keyRing!.signingKey(Date.now())?.kid, a.kid);

      // Two writers at once: both read the same resourceVersion, one gets 409 and retries; both keys land.
      const b = newPrivateJwk('ES256');
      const c = newPrivateJwk('ES256');
      assert.deepEqual(await Promise.all([addKeyToSecret(api, ref, b), addKeyToSecret(api, ref, c)]), ['updated', 'updated']);
      const stored = JSON.parse(
        Buffer.from(String((fake.get('secrets', ref.namespace, ref.name)!.data as Record<string, string>)[ref.key]), 'base64').toString(),
      ) as { keys: { kid: string }[] };
      assert.deepEqual(stored.keys.map((k) => k.kid).sort(), [a.kid, b.kid, c.kid].sort());
      assert.ok(fake.writes.filter((w) => w.method === 'PUT').length >= 2);
      // A conflict answered by the API server (409) is retried from a fresh read.
      fake.failNext(1, 409, (r) => r.method === 'PUT');
      const puts = fake.requests.filter((r) => r.method === 'PUT').length;
      const d = newPrivateJwk('ES256');
      assert.equal(await addKeyToSecret(api, ref, d), 'updated');
      assert.equal(fake.requests.filter((r) => r.method === 'PUT').length, puts + 2, 'one 409, one retry');
      await waitUntil(async () => (await jwksKids()).length === 4, 5000, 'new keys published at once');
      assert.equal(t.app.keyRing!.signingKey(Date.now())?.kid, a.kid, 'the new keys wait for their lead');

      // A bad update (garbage) and a deletion keep the last good keys, counted.
      const errorsBefore = await readMetric(t.adminPort, 'zt_authz_signing_keys_reload_total', { result: 'error' });
      fake.apply('secrets', {
        metadata: { name: ref.name, namespace: ref.namespace },
        type: 'Opaque',
        data: { [ref.key]: Buffer.from('{"keys": [{"kty":"EC"}]}').toString('base64') },
      });
      await waitUntil(
        async () => (await readMetric(t.adminPort, 'zt_authz_signing_keys_reload_total', { result: 'error' })) > errorsBefore,
        5000,
        'bad update counted',
      );
      fake.remove('secrets', ref.namespace, ref.name);
      await waitUntil(
        async () => (await readMetric(t.adminPort, 'zt_authz_signing_keys_reload_total', { result: 'error' })) > errorsBefore + 1,
        5000,
        'deletion counted',
      );
      assert.deepEqual(await jwksKids(), [a.kid, b.kid, c.kid, d.kid].sort());
      assert.equal(t.app.ready, true);
      const text = t.lines.join('');
      for (const k of [a, b, c, d])
        for (const m of PRIVATE) if (typeof k[m] === 'string') assert.ok(!text.includes(String(k[m])), 'no key material logged');
    } finally {
      await t.stop();
      await fake.close();
    }
  },
);
