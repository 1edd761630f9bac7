// The README path for a new user: start the demo, run the printed commands, see allow and deny,
// stop with SIGTERM. Runs the compiled CLI as separate processes, like a user would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './helpers/app.js';
import { CLI, runCli } from './helpers/cli.js';
import { captureChild } from './helpers/capture.js';



const cli = (args: string[], env: NodeJS.ProcessEnv) => runCli(args, { env, timeoutMs: 15000 });

test('demo: prints a token and commands; allow, 401 and 403 as promised; SIGTERM exits 0', { timeout: 60000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-demo-'));
  const env = { ...process.env, ZT_AUTHZ_DEMO_DIR: dir };
  const grpc = `127.0.0.1:${await freePort()}`;
  const admin = `127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, [CLI, 'demo', '--grpc', grpc, '--admin', admin], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  captureChild('zt-authz demo', child, { stderr: { reason: 'the demo banner prints a ready-to-use token' } }); // log hygiene
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const banner = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('metrics')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`demo exited early (${code}): ${stderr}`)));
  });
  try {
    await banner;
    const token = readFileSync(join(dir, 'token'), 'utf8');
    assert.ok(stderr.includes(token), 'banner shows the ready token');
    assert.ok(stderr.includes(`send --addr ${grpc} --path /api/orders --token`), 'banner shows the allow command');

    const allow = await cli(['send', '--addr', grpc, '--path', '/api/orders', '--token', token], env);
    assert.equal(allow.code, 0, allow.stdout + allow.stderr);
    assert.match(allow.stdout, /^ALLOW/);
    assert.match(allow.stdout, /x-auth-subject: demo-user/);

    const missing = await cli(['send', '--addr', grpc, '--path', '/api/orders'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /DENY Unauthorized/);
    assert.match(missing.stdout, /"error":"token_missing"/);

    const forbidden = await cli(['send', '--addr', grpc, '--method', 'POST', '--path', '/api/orders', '--token', token], env);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stdout, /DENY Forbidden/);

    const minted = await cli(['token', '--sub', 'alice', '--scope', 'orders:read orders:write'], env);
    assert.equal(minted.code, 0, minted.stderr);
    const write = await cli(['send', '--addr', grpc, '--method', 'POST', '--path', '/api/orders', '--token', minted.stdout.trim()], env);
    assert.equal(write.code, 0, write.stdout);

    const expired = await cli(['token', '--ttl=-120'], env);
    assert.equal(expired.code, 0, expired.stderr);
    const exp = await cli(['send', '--addr', grpc, '--path', '/api/orders', '--token', expired.stdout.trim()], env);
    assert.match(exp.stdout, /"error":"token_expired"/);

    const metrics = await (await fetch(`http://${admin}/metrics`)).text();
    assert.match(metrics, /zt_authz_decisions_total\{decision="allow",reason="allowed",policy="api-read"\} 1/);
    assert.match(metrics, /zt_authz_decisions_total\{decision="deny",reason="token_missing",policy=""\} 1/);

    // audit records reach stdout as JSON lines, without the token
    assert.ok(!stdout.includes(token) && !stdout.includes(token.split('.')[2]!.slice(0, 20)));
    const audits = stdout.split('\n').filter((l) => l.includes('"log":"audit"')).map((l) => JSON.parse(l) as { reason: string });
    assert.ok(audits.length >= 5, stdout);
  } finally {
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
  }
});

test('validate: exit 0 on the example, 1 with field-named errors on a bad file', async () => {
  const ok = await cli(['validate', new URL('../../examples/config.yaml', import.meta.url).pathname], process.env);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /OK \(2 issuer\(s\), 3 policies\)/);
  const bad = join(mkdtempSync(join(tmpdir(), 'zt-cfg-')), 'bad.yaml');
  writeFileSync(bad, 'issuers:\n  - issuer: x\n    jwksUrl: https://x\n');
  const res = await cli(['validate', bad], process.env);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /issuers\[0\]\.jwksUrl: unknown field/);
  const serve = await cli(['serve', '--config', bad], process.env);
  assert.equal(serve.code, 1, 'serve refuses an invalid config');
  assert.match(serve.stderr, /issuers\[0\]\.jwksUrl/);
});
