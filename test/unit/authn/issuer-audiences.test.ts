// An issuer must check `aud` (RFC 8725 §3.9): without `audiences` a token minted for any other
// service of the same IdP would be accepted here. Not checking it takes an explicit
// `anyAudience: true`, which validate and start-up report as a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../../src/config/parse.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import { startTestApp, waitUntil } from '../../helpers/app.js';
import { TestIdp } from '../../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll } from '../../helpers/grpc-client.js';
import { runCli } from '../../helpers/cli.js';
import { configProblems } from '../../helpers/config-problems.js';

const problems = configProblems;

test('audiences are required unless anyAudience: true; kubernetes issuers bind them per destination', () => {
  assert.match(
    problems(`issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks" }]`).join('\n'),
    /^issuers\[0\]\.audiences: is required: .*anyAudience: true/,
  );
  assert.match(
    problems(`issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks", audiences: [] }]`).join('\n'),
    /^issuers\[0\]\.audiences: /,
  );
  assert.deepEqual(problems(`issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks", audiences: [orders] }]`), []);
  assert.deepEqual(problems(`issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks", anyAudience: true }]`), []);
  assert.match(
    problems(`issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks", anyAudience: true, audiences: [x] }]`).join('\n'),
    /anyAudience: cannot be combined with audiences/,
  );
  assert.match(
    problems(`issuers: [{ kubernetes: true, anyAudience: true }]`).join('\n'),
    /anyAudience: not allowed for a kubernetes issuer/,
  );
  assert.deepEqual(
    problems(`issuers: [{ kubernetes: true }]`),
    [],
    'per-destination audiences (zt-authz.io/audience) are enforced for kubernetes issuers',
  );
  assert.equal(
    checkConfig(parseConfigText(`issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks", anyAudience: true }]`)).config.issuers[0]!
      .anyAudience,
    true,
  );
});

test('zt-authz validate: a missing audiences is an error, anyAudience a warning', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-aud-'));
  const missing = join(dir, 'missing.yaml');
  writeFileSync(missing, 'issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks" }]\n');
  const r1 = await runCli(['validate', missing]);
  assert.equal(r1.code, 1, r1.stdout + r1.stderr);
  assert.match(r1.stderr, /issuers\[0\]\.audiences: is required/);
  const any = join(dir, 'any.yaml');
  writeFileSync(any, 'issuers: [{ issuer: "https://a", jwksUri: "https://a/jwks", anyAudience: true }]\n');
  const r2 = await runCli(['validate', any]);
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /OK/);
  assert.match(r2.stderr, /warning: issuers\[0\]\.anyAudience: tokens of https:\/\/a minted for any service/);
});

test('over gRPC: a token for another audience is denied; anyAudience accepts it and start-up warns', async () => {
  const idp = await TestIdp.start();
  const allow = { name: 'authn', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] };
  const strict = await startTestApp({ issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }], policies: [allow] });
  const loose = await startTestApp({ issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, anyAudience: true }], policies: [allow] });
  const c1 = authV3Client(strict.grpcPort);
  const c2 = authV3Client(loose.grpcPort);
  try {
    await waitUntil(() => strict.app.ready && loose.app.ready, 5000, 'ready');
    const billing = await idp.sign({ aud: 'billing' });
    const orders = await idp.sign({ aud: 'orders' });
    const denied = await check(c1, checkRequest({ token: billing }));
    assert.equal(denied.status?.code, 16, 'UNAUTHENTICATED for a token minted for billing');
    assert.ok(strict.audit().some((a) => a.reason === 'audience_mismatch'));
    assert.equal((await check(c1, checkRequest({ token: orders }))).status?.code, 0);
    assert.equal((await check(c2, checkRequest({ token: billing }))).status?.code, 0, 'anyAudience: any aud accepted');
    const warned = loose
      .records()
      .filter((l) => l.level === 'warn' && /configuration weakens a check: issuers\[0\]\.anyAudience/.test(String(l.msg)));
    assert.equal(warned.length, 1, 'one start-up warning');
    assert.equal(strict.records().filter((l) => /weakens a check/.test(String(l.msg))).length, 0);
  } finally {
    closeAll(c1, c2);
    await strict.stop();
    await loose.stop();
    await idp.close();
  }
});
