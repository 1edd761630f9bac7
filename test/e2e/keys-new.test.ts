// `zt-authz keys new --dir` against a running `zt-authz serve`: the key it creates is picked up by
// the running service, published in the JWKS at once (within the directory poll), and signs minted
// tokens only once publishLeadSeconds have passed since its creation time; the file is 0600 and
// holds a private JWK the service accepts. `keys --help` exits 0; bad arguments exit 2 and write nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { decodeProtectedHeader } from 'jose';
import { freePort } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { registerHmacSecret, registerPrivateKey } from '../helpers/capture.js';
import { authV3Client, check, checkRequest, closeAll } from '../helpers/grpc-client.js';
import { startProc, tempDir, waitForHttp } from './helpers/procs.js';
import { REPO_ROOT } from './helpers/docs-snippets.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const LEAD = 3;

test(
  'keys new --dir: the running service publishes the new key at once and signs with it after the lead',
  { timeout: 60_000 },
  async () => {
    const tmp = tempDir('zt-keys-new-');
    const keysDir = join(tmp.dir, 'signing');
    const apiKey = `zt_keys-${randomBytes(24).toString('base64url')}`;
    registerHmacSecret(apiKey);
    const first = await runCli(['keys', 'new', '--dir', keysDir]);
    assert.equal(first.code, 0, first.stderr);
    const kid1 = first.stdout.trim();
    const file1 = join(keysDir, `${kid1}.json`);
    assert.equal(statSync(file1).mode & 0o777, 0o600);
    registerPrivateKey(JSON.parse(readFileSync(file1, 'utf8')));
    assert.ok(!first.stdout.includes('"d"') && !first.stderr.includes('"d"'), 'no key material printed');

    writeFileSync(
      join(tmp.dir, 'apikeys.yaml'),
      stringify({ keys: [{ name: 'a', sha256: createHash('sha256').update(apiKey).digest('hex'), subject: 'acme' }] }),
    );
    const ports = { grpc: await freePort(), http: await freePort(), admin: await freePort() };
    const cfg = join(tmp.dir, 'config.yaml');
    writeFileSync(
      cfg,
      stringify({
        server: { grpc: `127.0.0.1:${ports.grpc}`, http: `127.0.0.1:${ports.http}`, admin: `127.0.0.1:${ports.admin}`, drainSeconds: 1 },
        apiKeys: [{ name: 'partners', keysFile: join(tmp.dir, 'apikeys.yaml') }],
        tokenIssuer: {
          issuer: `http://127.0.0.1:${ports.admin}/internal`,
          keysDir,
          publishLeadSeconds: LEAD,
          ttlSeconds: 60,
          pollSeconds: 0.2,
        },
        response: { internalToken: { enabled: true } },
        policies: [{ name: 'partners', rules: [{ from: [{ source: { requestPrincipals: ['apikey:partners/*'] } }] }] }],
      }),
    );
    const proc = startProc('zt-authz serve', process.execPath, [CLI, 'serve', '--config', cfg]);
    const client = authV3Client(ports.grpc);
    const jwksKids = async (): Promise<string[]> =>
      (
        (await (await fetch(`http://127.0.0.1:${ports.admin}/internal/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }
      ).keys.map((k) => k.kid);
    const mintedKid = async (): Promise<string> => {
      // A new destination each time: the minted-token cache would otherwise answer with the token it holds.
      const res = await check(client, checkRequest({ headers: { 'x-api-key': apiKey }, host: `h${randomBytes(4).toString('hex')}.test` }));
      const value = res.okResponse?.headers?.find((h) => h.header?.key?.toLowerCase() === 'authorization')?.header?.value ?? '';
      assert.ok(value.startsWith('Bearer '), `a minted token (${res.status?.message ?? ''})`);
      return decodeProtectedHeader(value.slice(7)).kid!;
    };
    try {
      await waitForHttp(`http://127.0.0.1:${ports.admin}/readyz`, proc, 20_000);
      assert.deepEqual(await jwksKids(), [kid1]);
      assert.equal(await mintedKid(), kid1, 'the only key signs at once');

      const second = await runCli(['keys', 'new', '--dir', keysDir]);
      assert.equal(second.code, 0, second.stderr);
      const kid2 = second.stdout.trim();
      registerPrivateKey(JSON.parse(readFileSync(join(keysDir, `${kid2}.json`), 'utf8')));
      const created = (JSON.parse(readFileSync(join(keysDir, `${kid2}.json`), 'utf8')) as { created: number }).created * 1000;
      const t0 = Date.now();
      while (!(await jwksKids()).includes(kid2)) {
        assert.ok(Date.now() - t0 < 3000, 'published within 3 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      const publishedMs = Date.now() - t0;
      // Until created + lead, tokens are still signed with the first key.
      let switchedAt = 0;
      while (Date.now() < created + LEAD * 1000 + 4000) {
        const before = Date.now();
        const kid = await mintedKid();
        if (kid === kid2) {
          switchedAt = before;
          break;
        }
        assert.equal(kid, kid1);
        assert.ok(before < created + LEAD * 1000 + 1000, 'the first key stops signing once the lead has passed');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(
        switchedAt >= created + LEAD * 1000 - 50,
        `the new key signed ${created + LEAD * 1000 - switchedAt} ms before its lead ended`,
      );
      assert.ok(switchedAt > 0, 'the new key signs after the lead');
      assert.deepEqual((await jwksKids()).sort(), [kid1, kid2].sort(), 'the previous key stays published');
      assert.equal(readdirSync(keysDir).filter((f) => f.startsWith('.')).length, 0, 'no temporary file left');
      process.stderr.write(
        `[keys-new] published ${publishedMs} ms after keys new; signing ${switchedAt - created} ms after its creation (lead ${LEAD} s)\n`,
      );
    } finally {
      closeAll(client);
      await proc.stop();
      tmp.remove();
    }
  },
);

test('keys --help exits 0; bad arguments exit 2 and write nothing', async () => {
  const help = await runCli(['keys', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /zt-authz keys new \[--dir DIR \| --secret NAME/);
  const tmp = tempDir('zt-keys-bad-');
  try {
    for (const args of [
      ['keys'],
      ['keys', 'rotate'],
      ['keys', 'new'],
      ['keys', 'new', '--dir', tmp.dir, '--secret', 's'],
      ['keys', 'new', '--dir', tmp.dir, '--algorithm', 'HS256'],
      ['keys', 'new', '--dir', tmp.dir, '--key', 'k'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.deepEqual(readdirSync(tmp.dir), []);
  } finally {
    tmp.remove();
  }
});

test('keys new --dir: nested folders are created 0700; a folder that cannot be created exits 3 at once (no hang)', async () => {
  const tmp = tempDir('zt-keys-nested-');
  try {
    const nested = join(tmp.dir, 'a', 'b', 'signing');
    const r = await runCli(['keys', 'new', '--dir', nested]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readdirSync(nested).length, 1);
    assert.equal(statSync(join(tmp.dir, 'a')).mode & 0o777, 0o700);
    // /proc exists, but nothing can be created under it: Node's recursive mkdirSync busy-loops there
    // forever (Node 20 and 24); ours must fail with the error. runCli's timeout turns a hang into a failure.
    const started = Date.now();
    const bad = await runCli(['keys', 'new', '--dir', '/proc/zt-authz-no-such/signing']);
    assert.equal(bad.code, 3, bad.stderr);
    assert.ok(Date.now() - started < 10_000, 'answered at once');
  } finally {
    tmp.remove();
  }
});
