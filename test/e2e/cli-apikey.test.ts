// `zt-authz apikey new` as a user runs it: the key is printed once with the keys-file entry (or a
// Secret manifest) holding only its SHA-256; the entry, pasted into a keys file, makes the key work
// through a real listener; bad arguments are a clear error (exit 2), never a key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { startTestApp, waitUntil } from '../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll } from '../helpers/grpc-client.js';

const keyOf = (stdout: string): string => {
  const line = stdout.split('\n').find((l) => l.startsWith('zt_'));
  assert.ok(line, `a key line in:\n${stdout.replace(/zt_\S+/g, 'zt_…')}`);
  return line;
};

test('apikey new: the key once, an entry with only its hash, and the entry works', async () => {
  const r = await runCli([
    'apikey',
    'new',
    '--source',
    'partners',
    '--name',
    'acme',
    '--subject',
    'acme',
    '--scope',
    'orders:read',
    '--expires',
    '2099-01-01T00:00:00Z',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const key = keyOf(r.stdout);
  assert.match(key, /^zt_[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  assert.equal(r.stdout.split(key).length, 2, 'printed exactly once');
  const entries = parse(r.stdout.slice(r.stdout.indexOf(key) + key.length)) as Array<Record<string, unknown>>;
  assert.deepEqual(entries, [
    {
      name: 'acme',
      sha256: createHash('sha256').update(key).digest('hex'),
      subject: 'acme',
      scopes: ['orders:read'],
      expiresAt: '2099-01-01T00:00:00Z',
    },
  ]);
  const again = keyOf((await runCli(['apikey', 'new', '--source', 'partners', '--name', 'b', '--subject', 'b'])).stdout);
  assert.notEqual(again, key, 'a fresh key each time');

  const dir = mkdtempSync(join(tmpdir(), 'cli-apikey-'));
  const keysFile = join(dir, 'keys.yaml');
  writeFileSync(keysFile, stringify({ keys: entries }));
  const t = await startTestApp({
    apiKeys: [{ name: 'partners', keysFile }],
    policies: [{ name: 'p', rules: [{ from: [{ source: { requestPrincipals: ['apikey:partners/acme'] } }] }] }],
  });
  const v3 = authV3Client(t.grpcPort);
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    assert.equal((await check(v3, checkRequest({ headers: { 'x-api-key': key } }))).status?.code, 0);
    assert.equal((await check(v3, checkRequest({ headers: { 'x-api-key': again } }))).status?.code, 16, 'not in the file');
    assert.ok(!t.lines.some((l) => l.includes(key)), 'the key is never logged');
  } finally {
    closeAll(v3);
    await t.stop();
  }
});

test('apikey new --secret: a Secret manifest, labelled for the source, holding only the hash', async () => {
  const r = await runCli([
    'apikey',
    'new',
    '--source',
    'partners',
    '--name',
    'acme',
    '--subject',
    'acme',
    '--secret',
    'partner-keys',
    '--namespace',
    'zt',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const key = keyOf(r.stdout);
  const manifest = parse(r.stdout.slice(r.stdout.indexOf('---') + 3)) as {
    kind: string;
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    stringData: Record<string, string>;
  };
  assert.equal(manifest.kind, 'Secret');
  assert.deepEqual(manifest.metadata, { name: 'partner-keys', namespace: 'zt', labels: { 'zt-authz.io/api-keys': 'partners' } });
  const doc = parse(manifest.stringData['keys.yaml']!) as { keys: Array<{ sha256: string }> };
  assert.equal(doc.keys[0]!.sha256, createHash('sha256').update(key).digest('hex'));
  assert.ok(!JSON.stringify(manifest).includes(key), 'the manifest holds no key');
});

test('apikey new: bad arguments are a clear error and print no key', async () => {
  for (const [args, msg] of [
    [['--name', 'a', '--subject', 's'], /--source is required/],
    [['--source', 'Partners!', '--name', 'a', '--subject', 's'], /--source is required/],
    [['--source', 'p', '--subject', 's'], /--name is required/],
    [['--source', 'p', '--name', 'a'], /--subject is required/],
    [['--source', 'p', '--name', 'a', '--subject', 's', '--expires', 'tomorrow'], /expiresAt: must be an RFC 3339 date-time/],
    [['--source', 'p', '--name', 'a', '--subject', 's', '--claim', 'sub=x'], /claims.sub/],
    [['--source', 'p', '--name', 'a', '--subject', 's', '--bogus'], /bogus/],
  ] as const) {
    const r = await runCli(['apikey', 'new', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.ok(!/zt_/.test(r.stdout + r.stderr), 'no key printed');
  }
  assert.equal((await runCli(['apikey'])).code, 2);
});
