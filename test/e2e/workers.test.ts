// `zt-authz serve --workers N`: N processes behind the same listeners. The primary reports ready
// only when every worker is, aggregates metrics over the workers, and drains them on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestIdp } from '../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, headerValue } from '../helpers/grpc-client.js';
import { fetchMetrics, freePort, metricValue, sleep, waitUntil } from '../helpers/app.js';
import { captureChild } from '../helpers/capture.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

test(
  'serve --workers 2: ready when every worker is, answers Checks, aggregates metrics, drains on SIGTERM',
  { timeout: 40000 },
  async () => {
    // Every worker fetches the JWKS itself; the first answer is held until the test releases it,
    // so one worker is ready well before the other and /readyz must wait for both.
    const idp = await TestIdp.start({ audience: 'orders', holdJwks: 'first' });
    const grpcPort = await freePort();
    const adminPort = await freePort();
    const cfg = join(mkdtempSync(join(tmpdir(), 'zt-workers-')), 'config.yaml');
    writeFileSync(
      cfg,
      `server: { grpc: "127.0.0.1:${grpcPort}", admin: "127.0.0.1:${adminPort}", http: "127.0.0.1:0", drainSeconds: 3 }
issuers:
  - { issuer: "${idp.issuer}", jwksUri: "${idp.jwksUri}", audiences: [orders], jwksTimeoutMs: 30000 }
policies:
  - { name: authn, rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }
`,
    );
    const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    captureChild('zt-authz serve --workers', child); // log hygiene
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const clients = Array.from({ length: 4 }, () => authV3Client(grpcPort));
    try {
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 503,
        15000,
        '/readyz 503 first',
      );
      await waitUntil(() => idp.jwksFetches >= 2, 15000, 'both workers fetched keys');
      await sleep(300);
      assert.equal((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status, 503, 'one worker still loading keys: not ready');
      idp.releaseJwks();
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 200,
        20000,
        '/readyz 200',
      );
      assert.equal(childrenOf(child.pid!).length, 2, 'two worker processes');

      const token = await idp.sign({ sub: 'alice' });
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => check(clients[i % clients.length]!, checkRequest({ token }))));
      for (const r of results) {
        assert.equal(r.status?.code, 0);
        assert.equal(headerValue(r.okResponse?.headers, 'x-auth-subject'), 'alice');
      }
      const denied = await check(clients[0]!, checkRequest({}));
      assert.equal(denied.status?.code, 16);

      const metrics = await fetchMetrics(adminPort);
      assert.equal(metricValue(metrics, 'zt_authz_decisions_total', { decision: 'allow' }), 12, 'allows summed over the workers');
      assert.equal(metricValue(metrics, 'zt_authz_decisions_total', { decision: 'deny', reason: 'token_missing' }), 1);
      assert.equal(metricValue(metrics, 'zt_authz_ready'), 1, 'ready is the minimum over the workers');
      assert.equal(metricValue(metrics, 'zt_authz_policies_loaded'), 1, 'policies_loaded is not summed');

      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(out, /workers drain in-flight Checks/);
      assert.equal(childrenOf(child.pid!).length, 0, 'workers gone');
      await assert.rejects(check(clients[0]!, checkRequest({ token }), 1000));
      assert.ok(!out.includes(token), 'token never logged');
    } finally {
      closeAll(...clients);
      if (child.exitCode === null) child.kill('SIGKILL');
      await idp.close();
    }
  },
);

test('serve --workers: an invalid config exits 1 before any worker starts', { timeout: 20000 }, async () => {
  const cfg = join(mkdtempSync(join(tmpdir(), 'zt-workers-')), 'config.yaml');
  writeFileSync(cfg, 'server: { grpc: "127.0.0.1:1", admin: "127.0.0.1:2" }\nissuers: [{ issuer: "https://x", jwksUri: 42 }]\n');
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  captureChild('zt-authz serve --workers', child); // log hygiene
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 1);
  assert.match(err, /issuers\[0\]\.jwksUri/);
});

test('serve --workers: a worker that cannot start (gRPC port taken) makes the primary exit 1', { timeout: 30000 }, async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const grpcPort = (taken.address() as AddressInfo).port;
  const adminPort = await freePort();
  const cfg = join(mkdtempSync(join(tmpdir(), 'zt-workers-')), 'config.yaml');
  const jwks = JSON.stringify({
    keys: [
      {
        kty: 'EC',
        crv: 'P-256',
        kid: 'k1',
        alg: 'ES256',
        x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
        y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
      },
    ],
  });
  writeFileSync(
    cfg,
    `server: { grpc: "127.0.0.1:${grpcPort}", admin: "127.0.0.1:${adminPort}", http: "127.0.0.1:0" }\nissuers: [{ issuer: "https://x", jwks: '${jwks}', audiences: [orders] }]\n`,
  );
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  captureChild('zt-authz serve --workers', child); // log hygiene
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    assert.match(out, /worker failed to start/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    taken.close();
  }
});

test('serve --workers rejects a bad count', { timeout: 10000 }, async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', '/nonexistent', '--workers', 'two'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  captureChild('zt-authz serve --workers', child); // log hygiene
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 2);
  assert.match(err, /--workers/);
});
