// The real `zt-authz serve` process: health goes SERVING only after keys load, and SIGTERM drains
// a Check that is in flight (waiting for a slow JWKS) instead of cutting it off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestIdp } from '../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, healthCheck, healthClient } from '../helpers/grpc-client.js';
import { freePort, sleep, waitUntil } from '../helpers/app.js';
import { captureChild } from '../helpers/capture.js';
import { testGrpc } from '../helpers/grpc-impls.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

testGrpc('serve: NOT_SERVING until keys load; SIGTERM lets the in-flight Check finish, then exits 0', { timeout: 30000 }, async (impl) => {
  const idp = await TestIdp.start({ audience: 'orders', holdJwks: true });
  const grpcPort = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zt-serve-'));
  const cfg = join(dir, 'config.yaml');
  writeFileSync(
    cfg,
    `server: { grpc: "127.0.0.1:${grpcPort}", admin: "127.0.0.1:${adminPort}", http: "127.0.0.1:0", drainSeconds: 5, grpcImplementation: ${impl} }
issuers:
  - { issuer: "${idp.issuer}", jwksUri: "${idp.jwksUri}", audiences: [orders], jwksTimeoutMs: 30000 }
policies:
  - { name: authn, rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }
`,
  );
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, ZT_AUTHZ_CONFIG: cfg },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  captureChild('zt-authz serve', child); // log hygiene
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const health = healthClient(grpcPort);
  const auth = authV3Client(grpcPort);
  try {
    // Listening but keys still loading (the IdP holds JWKS responses until released).
    await waitUntil(async () => (await healthCheck(health).catch(() => null)) !== null, 10000, 'gRPC listening');
    assert.equal((await healthCheck(health)).status, 'NOT_SERVING');
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status, 503);

    const token = await idp.sign();
    // In flight: its key lookup waits for the delayed first JWKS response.
    const inFlight = check(auth, checkRequest({ token }), 10000);
    await sleep(200);
    child.kill('SIGTERM');
    await sleep(200);
    idp.releaseJwks();
    const res = await inFlight;
    assert.equal(res.status?.code, 0, `in-flight Check completed OK: ${JSON.stringify(res.status)}`);
    assert.equal(await exited, 0);
    assert.match(out, /shutting down: health NOT_SERVING/);
    // Gone: new calls fail at the transport level (never an OK).
    await assert.rejects(check(auth, checkRequest({ token }), 1000));
    assert.ok(!out.includes(token), 'token never logged');
  } finally {
    closeAll(health, auth);
    if (child.exitCode === null) child.kill('SIGKILL');
    await idp.close();
  }
});

test('serve: SERVING once keys load; second phase of readiness is visible on /readyz', { timeout: 30000 }, async () => {
  // JWKS answers are held until the NOT_SERVING phase has been observed (a slow CI machine may
  // take seconds to start the process; a timed delay raced with that).
  const idp = await TestIdp.start({ audience: 'orders', holdJwks: true });
  const grpcPort = await freePort();
  const adminPort = await freePort();
  const cfg = join(mkdtempSync(join(tmpdir(), 'zt-serve-')), 'config.yaml');
  writeFileSync(
    cfg,
    `server: { grpc: "127.0.0.1:${grpcPort}", admin: "127.0.0.1:${adminPort}", http: "127.0.0.1:0" }
issuers: [{ issuer: "${idp.issuer}", jwksUri: "${idp.jwksUri}", audiences: [orders], jwksTimeoutMs: 30000 }]
`,
  );
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const health = healthClient(grpcPort);
  try {
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 503,
      10000,
      '/readyz 503 first',
    );
    assert.equal((await healthCheck(health)).status, 'NOT_SERVING');
    idp.releaseJwks();
    await waitUntil(async () => (await healthCheck(health).catch(() => null))?.status === 'SERVING', 10000, 'SERVING after keys');
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status, 200);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  } finally {
    closeAll(health);
    if (child.exitCode === null) child.kill('SIGKILL');
    await idp.close();
  }
});
