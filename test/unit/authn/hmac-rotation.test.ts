// HMAC secrets rotate and revoke without a restart, over real gRPC:
// - hmacSecretFile rotated (Kubernetes Secret volume swap, and an in-place write): a token signed
//   with the old secret, allowed and cached before, is denied within the watch delay; the new
//   secret's tokens are allowed;
// - hmacSecretFiles [old, new]: both allowed during the overlap; when the old file is rotated
//   away its tokens are denied (the verified-token cache does not keep them), the others stay;
// - a config reload re-reads the files even when the issuer settings did not change;
// - a file rotated to an unusable secret (too short) holds none: HS* tokens are denied, never
//   verified with the secret it held before; the drop is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { resolveConfig } from '../../../src/config/resolve.js';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { registerHmacSecret, registerToken } from '../../helpers/capture.js';

const ISS = 'https://hs.idp.test';
const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];

function newSecret(bytes = 48): Buffer {
  const s = randomBytes(bytes);
  // A secret file's one trailing newline is not part of the secret (echo > file); keep a random
  // secret from ending in one, or 1 run in 256 would sign with a byte the file reader drops.
  if (s.at(-1) === 0x0a) s[bytes - 1] = 0x0b;
  registerHmacSecret(s);
  return s;
}

async function hsToken(secret: Uint8Array, sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const t = await new SignJWT({ iss: ISS, sub, aud: 'api', iat: now, exp: now + 300 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(secret);
  return registerToken(t, secret);
}

/** What the kubelet does for a Secret volume: a new timestamped dir, `..data` swapped atomically. */
class SecretVolume {
  private n = 0;
  private current = '';
  constructor(
    readonly dir: string,
    readonly name = 'hmac',
  ) {
    mkdirSync(dir, { recursive: true });
  }
  get file(): string {
    return join(this.dir, this.name);
  }
  write(bytes: Uint8Array): void {
    const ts = `..2025_01_01_00_00_00.${++this.n}`;
    mkdirSync(join(this.dir, ts));
    writeFileSync(join(this.dir, ts, this.name), bytes);
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.n === 1) symlinkSync(`..data/${this.name}`, this.file);
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true, force: true });
    this.current = ts;
  }
}

async function status(client: AuthClient, token: string): Promise<string> {
  const res = await check(client, checkRequest({ token }));
  return res.status?.code === 0 ? 'allowed' : String(res.status?.message);
}

async function start(
  issuer: Record<string, unknown>,
  reload = { debounceMs: 50, pollSeconds: 0 },
): Promise<{ t: TestApp; client: AuthClient }> {
  const t = await startTestApp({
    issuers: [{ issuer: ISS, audiences: ['api'], algorithms: ['HS256'], ...issuer }],
    policies: POLICIES,
    reload,
  });
  return { t, client: authV3Client(t.grpcPort) };
}

/** Time until `token` gets `want`, polling over gRPC; fails after timeoutMs. */
async function until(client: AuthClient, token: string, want: string, timeoutMs = 3000): Promise<number> {
  const t0 = performance.now();
  await waitUntil(async () => (await status(client, token)) === want, timeoutMs, `token to be ${want}`);
  return performance.now() - t0;
}

test('hmacSecretFile rotated in a Secret volume: old tokens (cached ones too) denied within the watch delay, new ones allowed', async () => {
  const vol = new SecretVolume(mkdtempSync(join(tmpdir(), 'zt-hmac-vol-')));
  const [a, b] = [newSecret(), newSecret()];
  vol.write(a);
  const { t, client } = await start({ hmacSecretFile: vol.file });
  try {
    const [ta, tb] = [await hsToken(a, 'alice'), await hsToken(b, 'bob')];
    assert.equal(await status(client, ta), 'allowed');
    assert.equal(await status(client, ta), 'allowed', 'second Check: from the verified-token cache');
    assert.ok((await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total')) >= 1, 'the old token is cached');
    assert.equal(await status(client, tb), 'token_invalid_signature');

    vol.write(b);
    const ms = await until(client, ta, 'token_invalid_signature');
    assert.equal(await status(client, tb), 'allowed');
    assert.equal(await status(client, ta), 'token_invalid_signature', 'stays denied');
    const changed = t.records().find((r) => r.msg === 'issuer HMAC secrets changed');
    assert.deepEqual([changed?.secrets, changed?.added, changed?.removed], [1, 1, 1]);
    console.log(`[hmac-rotation] Secret volume swap: old token denied ${ms.toFixed(0)} ms after the swap (debounce 50 ms)`);
  } finally {
    closeAll(client);
    await t.stop();
  }
});

test('hmacSecretFile rewritten in place: the old token is denied within the watch delay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-hmac-inplace-'));
  const file = join(dir, 'secret');
  const [a, b] = [newSecret(), newSecret()];
  writeFileSync(file, Buffer.concat([a, Buffer.from('\n')]));
  const { t, client } = await start({ hmacSecretFile: file });
  try {
    const ta = await hsToken(a, 'alice');
    assert.equal(await status(client, ta), 'allowed');
    writeFileSync(file, b);
    const ms = await until(client, ta, 'token_invalid_signature');
    assert.equal(await status(client, await hsToken(b, 'bob')), 'allowed');
    console.log(`[hmac-rotation] in-place write: old token denied ${ms.toFixed(0)} ms after the write`);
  } finally {
    closeAll(client);
    await t.stop();
  }
});

test('hmacSecretFiles overlap: both secrets allowed; rotating one out denies its tokens (cache included), the other stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-hmac-two-'));
  const [fa, fb] = [join(dir, 'old'), join(dir, 'new')];
  const [a, b, c] = [newSecret(), newSecret(), newSecret(64)];
  writeFileSync(fa, a);
  writeFileSync(fb, b);
  const { t, client } = await start({ hmacSecretFiles: [fa, fb] });
  try {
    const [ta, tb, tc] = [await hsToken(a, 'alice'), await hsToken(b, 'bob'), await hsToken(c, 'carol')];
    for (const tok of [ta, tb, ta, tb]) assert.equal(await status(client, tok), 'allowed', 'both secrets verify (second round: cached)');
    assert.equal(await status(client, tc), 'token_invalid_signature');

    writeFileSync(fa, c); // rotate the old secret out, a third one in
    await until(client, ta, 'token_invalid_signature');
    assert.equal(await status(client, tb), 'allowed', 'the secret that stayed keeps verifying');
    assert.equal(await status(client, tc), 'allowed');
  } finally {
    closeAll(client);
    await t.stop();
  }
});

test('a config reload re-reads the secret files even when the issuer settings are unchanged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-hmac-reload-'));
  const file = join(dir, 'secret');
  const [a, b] = [newSecret(), newSecret()];
  writeFileSync(file, a);
  // The watch would only fire after a minute: what changes the decision here is the reload.
  const { t, client } = await start({ hmacSecretFile: file }, { debounceMs: 60000, pollSeconds: 0 });
  try {
    const ta = await hsToken(a, 'alice');
    assert.equal(await status(client, ta), 'allowed');
    writeFileSync(file, b);
    assert.equal(await status(client, ta), 'allowed', 'no reload yet (cached, and the watch is slow)');
    assert.equal(t.app.reload(t.config), true);
    assert.equal(await status(client, ta), 'token_invalid_signature', 'denied right after the reload');
    assert.equal(await status(client, await hsToken(b, 'bob')), 'allowed');
  } finally {
    closeAll(client);
    await t.stop();
  }
});

test('a secret rotated to an unusable one holds none: HS tokens denied (jwks_unavailable), counted, until a valid secret returns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-hmac-short-'));
  const file = join(dir, 'secret');
  const [a, b] = [newSecret(), newSecret()];
  writeFileSync(file, a);
  const { t, client } = await start({ hmacSecretFile: file });
  try {
    const ta = await hsToken(a, 'alice');
    assert.equal(await status(client, ta), 'allowed');
    writeFileSync(file, 'too short\n');
    await until(client, ta, 'jwks_unavailable');
    assert.equal(await readMetric(t.adminPort, 'zt_authz_keys_dropped_total', { issuer: ISS, reason: 'hmac_too_short' }), 1);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_ready'), 0, 'not ready without a usable secret');
    writeFileSync(file, b);
    await until(client, await hsToken(b, 'bob'), 'allowed');
    assert.equal(await status(client, ta), 'token_invalid_signature');
  } finally {
    closeAll(client);
    await t.stop();
  }
});

test('config: hmacSecretFile or hmacSecretFiles (1-4 distinct files), not both', () => {
  const iss = (extra: Record<string, unknown>) => () =>
    resolveConfig({ issuers: [{ issuer: ISS, audiences: ['api'], algorithms: ['HS256'], ...extra }] });
  assert.throws(iss({ hmacSecretFile: '/a', hmacSecretFiles: ['/b'] }), /set either hmacSecretFile or hmacSecretFiles, not both/);
  assert.throws(iss({ hmacSecretFiles: ['/a', '/b', '/c', '/d', '/e'] }), /hmacSecretFiles/);
  assert.throws(iss({ hmacSecretFiles: ['/a', '/a'] }), /hmacSecretFiles/);
  assert.throws(iss({ hmacSecretFiles: [] }), /hmacSecretFiles/);
  assert.deepEqual(iss({ hmacSecretFile: '/a' })().issuers[0]!.hmacSecretFiles, ['/a']);
  assert.deepEqual(iss({ hmacSecretFiles: ['/a', '/b'] })().issuers[0]!.hmacSecretFiles, ['/a', '/b']);
});
