// `zt-authz check` with tokenIssuer and response.internalToken: the allow mints with the keys
// keysDir holds (the kid serve would sign with), and the token is shown decoded with a short hash,
// never as the bearer credential it is, in text and --json. keysSecret: check cannot read Kubernetes
// Secrets, so a throwaway key signs and the output says so. A keysDir serve could not start with
// is an error (exit 3) naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { registerHmacSecret, registerPrivateKey } from '../helpers/capture.js';
import { newPrivateJwk, writeKeyFile } from '../../src/mint/keys/new-key.js';
import { THROWAWAY_KID } from '../../src/cli/check-signing-keys.js';
import { tempDir } from './helpers/procs.js';

const tmp = tempDir('zt-check-mint-');
test.after(() => tmp.remove());
const apiKey = `zt_check-${randomBytes(24).toString('base64url')}`;
registerHmacSecret(apiKey);
writeFileSync(
  join(tmp.dir, 'apikeys.yaml'),
  stringify({ keys: [{ name: 'a', sha256: createHash('sha256').update(apiKey).digest('hex'), subject: 'acme', scopes: ['orders:read'] }] }),
);
const REQUEST = join(tmp.dir, 'request.yaml');
writeFileSync(
  REQUEST,
  stringify({
    method: 'GET',
    path: '/orders/42',
    host: 'orders.shop.svc',
    headers: { 'x-api-key': apiKey },
    source: { principal: 'spiffe://cluster.local/ns/edge/sa/gateway' },
    destination: { principal: 'spiffe://cluster.local/ns/shop/sa/orders' },
  }),
);

function configFile(name: string, tokenIssuer: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const file = join(tmp.dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiKeys: [{ name: 'partners', keysFile: join(tmp.dir, 'apikeys.yaml') }],
      tokenIssuer: { issuer: 'https://zt-authz.zt-system.svc', ...tokenIssuer },
      response: { internalToken: { enabled: true, claims: ['scope'] } },
      policies: [{ name: 'partners', rules: [{ from: [{ source: { requestPrincipals: ['apikey:partners/*'] } }] }] }],
      ...extra,
    }),
  );
  return file;
}

/** A compact JWS anywhere in the output: the token itself. */
const COMPACT_JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/;

interface JsonOut {
  decision: {
    allow: boolean;
    reason: string;
    upstreamHeaders: [string, string][];
    upstreamJwts: { name: string; header: Record<string, unknown>; payload: Record<string, unknown> }[];
    signingKey?: string;
  };
}

test('keysDir: minted with the configured key, shown decoded and hashed, never the token (text and --json)', async () => {
  const keysDir = join(tmp.dir, 'signing');
  const older = newPrivateJwk('ES256', Date.now() - 3_600_000);
  const fresh = newPrivateJwk('ES256', Date.now()); // inside its publish lead: serve would not sign with it yet
  for (const k of [older, fresh]) {
    registerPrivateKey(k);
    writeKeyFile(keysDir, k);
  }
  const config = configFile('dir', { keysDir });
  const text = await runCli(['check', '--config', config, '--request', REQUEST]);
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /^ALLOW 200 /);
  assert.match(text.stdout, /upstream {5}authorization: Bearer <JWT, \d+ bytes, sha256 [0-9a-f]{12}…>/);
  assert.ok(text.stdout.includes(`"kid":"${String(older.kid)}"`), `the key serve signs with now: ${text.stdout}`);
  assert.match(text.stdout, /"typ":"at\+jwt"/);
  assert.match(text.stdout, /"sub":"acme"/);
  assert.match(text.stdout, /"aud":"spiffe:\/\/cluster\.local\/ns\/shop\/sa\/orders"/);
  assert.match(text.stdout, /"act":\{"sub":"spiffe:\/\/cluster\.local\/ns\/edge\/sa\/gateway"\}/);
  assert.doesNotMatch(text.stdout, COMPACT_JWT, 'the token itself is never printed');
  assert.doesNotMatch(text.stdout, /throwaway/);

  const json = await runCli(['check', '--config', config, '--request', REQUEST, '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.doesNotMatch(json.stdout, COMPACT_JWT, 'not in --json either');
  const d = (JSON.parse(json.stdout) as JsonOut).decision;
  assert.equal(d.allow, true);
  const auth = d.upstreamHeaders.find(([k]) => k === 'authorization');
  assert.match(auth?.[1] ?? '', /^Bearer <JWT, \d+ bytes, sha256 [0-9a-f]{12}…>$/);
  assert.equal(d.upstreamJwts.length, 1);
  assert.deepEqual(d.upstreamJwts[0]!.header, { alg: 'ES256', kid: older.kid, typ: 'at+jwt' });
  assert.equal(d.upstreamJwts[0]!.payload.scope, 'orders:read');
  assert.equal(d.signingKey, undefined);
});

test('keysSecret: check says it cannot read Kubernetes Secrets and mints with a throwaway key, marked', async () => {
  const config = configFile('secret', { keysSecret: { name: 'zt-authz-signing' } }, { kubernetes: { enabled: true } });
  const text = await runCli(['check', '--config', config, '--request', REQUEST]);
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /^ALLOW 200 /);
  assert.ok(text.stdout.includes(`"kid":"${THROWAWAY_KID}"`), text.stdout);
  assert.match(
    text.stdout,
    /signing key {2}check cannot read Kubernetes Secrets \(tokenIssuer\.keysSecret zt-authz-signing\); .*throwaway key/,
  );
  assert.doesNotMatch(text.stdout, COMPACT_JWT);
  const json = await runCli(['check', '--config', config, '--request', REQUEST, '--json']);
  const d = (JSON.parse(json.stdout) as JsonOut).decision;
  assert.equal(d.upstreamJwts[0]!.header.kid, THROWAWAY_KID);
  assert.match(d.signingKey ?? '', /cannot read Kubernetes Secrets/);
  assert.doesNotMatch(json.stdout, COMPACT_JWT);
});

test('keysDir serve could not start with (missing, or a key of the wrong type): exit 3 naming it', async () => {
  const missing = configFile('missing', { keysDir: join(tmp.dir, 'no-such-dir') });
  const r = await runCli(['check', '--config', missing, '--request', REQUEST]);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stderr, /tokenIssuer\.keysDir .*no-such-dir: cannot be read/);
  const wrongDir = join(tmp.dir, 'wrong');
  mkdirSync(wrongDir);
  const ed = newPrivateJwk('EdDSA');
  registerPrivateKey(ed);
  writeKeyFile(wrongDir, ed);
  const wrong = await runCli(['check', '--config', configFile('wrong', { keysDir: wrongDir }), '--request', REQUEST]);
  assert.equal(wrong.code, 3, wrong.stdout + wrong.stderr);
  assert.match(wrong.stderr, /tokenIssuer\.algorithm ES256 needs/);
  assert.equal(wrong.stdout, '');
});
