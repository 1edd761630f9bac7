// The README path for a new user: start the demo, run the printed commands, see allow and deny,
// stop with SIGTERM. Runs the compiled CLI as separate processes, like a user would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/app.js';
import { CLI, runCli } from '../helpers/cli.js';
import { captureChild, captureChildOutput } from '../helpers/capture.js';
import { authV3Client, check, checkRequest, closeAll } from '../helpers/grpc-client.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const ROOT = new URL('../../../', import.meta.url).pathname;
const sh = promisify(execFile);

/** A labelled command: the comment line's promise (`allow`, or `deny <status> <reason>`) and the shell command under it. */
interface Labelled {
  label: string;
  expect: { allow: true } | { allow: false; status: number; reason: string };
  command: string;
}

/**
 * Pairs each `# allow…` / `# deny NNN reason…` comment (any case) with the command that follows it
 * (joining `\` continuations), so the printed/documented promises can be run and checked.
 */
function labelledCommands(lines: string[]): Labelled[] {
  const out: Labelled[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*#\s*(allow|deny\s+(\d{3})\s+([a-z_]+))\b/i.exec(lines[i]!);
    if (!m) continue;
    let command = '';
    let j = i + 1;
    while (j < lines.length) {
      const l = lines[j]!.trim();
      j++;
      if (l.endsWith('\\')) {
        command += l.slice(0, -1) + ' ';
        continue;
      }
      command += l;
      break;
    }
    const expect = m[2] ? { allow: false as const, status: Number(m[2]), reason: m[3]! } : { allow: true as const };
    out.push({ label: lines[i]!.trim(), expect, command });
  }
  return out;
}

/** Runs each command in a shell from the repository root and checks it answers what its label says. */
async function checkLabelled(cmds: Labelled[], env: NodeJS.ProcessEnv): Promise<void> {
  for (const c of cmds) {
    let code = 0;
    let stdout: string;
    try {
      ({ stdout } = await sh('bash', ['-c', c.command], { cwd: ROOT, env, timeout: 20000 }));
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      code = e.code;
      stdout = e.stdout + e.stderr;
    }
    captureChildOutput(`shell: ${c.label}`, stdout);
    if (c.expect.allow) {
      assert.equal(code, 0, `${c.label}\n${c.command}\n${stdout}`);
      assert.match(stdout, /^ALLOW/, c.label);
    } else {
      assert.equal(code, 1, `${c.label}\n${c.command}\n${stdout}`);
      const statusText = c.expect.status === 401 ? 'Unauthorized' : c.expect.status === 403 ? 'Forbidden' : String(c.expect.status);
      assert.match(stdout, new RegExp(`^DENY ${statusText}`), `${c.label}\n${stdout}`);
      assert.ok(stdout.includes(`"error":"${c.expect.reason}"`), `${c.label}: answered\n${stdout}`);
    }
  }
}

const cli = (args: string[], env: NodeJS.ProcessEnv) => runCli(args, { env, timeoutMs: 15000 });

/** The minted upstream JWT as `send` shows it: decoded header and payload, and never the compact token. */
function upstreamJwt(stdout: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  assert.match(stdout, /upstream header set: authorization: Bearer <JWT, \d+ bytes, sha256 [0-9a-f]{12}…>/, stdout);
  assert.doesNotMatch(stdout, /eyJ[\w-]+\.[\w-]+\.[\w-]+/, 'the minted token itself is not printed');
  const line = (name: string) =>
    JSON.parse(new RegExp(`^ {4}${name}: *(\\{.*\\})$`, 'm').exec(stdout)?.[1] ?? 'null') as Record<string, unknown>;
  return { header: line('header'), payload: line('payload') };
}

// About 20 CLI processes (each ~0.5 s idle, ~2 s on a loaded 2-core CI machine): a generous timeout.
test('demo: prints a token and commands; allow, 401 and 403 as promised; SIGTERM exits 0', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-demo-'));
  const env = { ...process.env, ZT_AUTHZ_DEMO_DIR: dir };
  const grpc = `127.0.0.1:${await freePort()}`;
  const admin = `127.0.0.1:${await freePort()}`;
  // Every listener on a free port, so the test never collides with a running demo (or anything on 9192).
  const http = `127.0.0.1:${await freePort()}`;
  // From the repository root, like a user: the banner's commands use ./bin/zt-authz and a token path relative to it.
  const child = spawn(process.execPath, [CLI, 'demo', '--grpc', grpc, '--http', http, '--admin', admin], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
    assert.match(stderr, new RegExp(`HTTP authz\\s+http://${http.replaceAll('.', '\\.')}\\s`), 'banner lists the HTTP authz address');

    const allow = await cli(['send', '--addr', grpc, '--path', '/api/orders', '--token', token], env);
    assert.equal(allow.code, 0, allow.stdout + allow.stderr);
    assert.match(allow.stdout, /^ALLOW/);
    assert.match(allow.stdout, /x-auth-subject: demo-user {2}\(append=false, OVERWRITE_IF_EXISTS_OR_ADD\)$/m);

    // v2 has no append_action: `send --v2` shows what the answer has, never "undefined".
    const allowV2 = await cli(['send', '--v2', '--addr', grpc, '--path', '/api/orders', '--token', token], env);
    assert.equal(allowV2.code, 0, allowV2.stdout + allowV2.stderr);
    assert.match(allowV2.stdout, /x-auth-subject: demo-user {2}\(append=false\)$/m);
    assert.doesNotMatch(allowV2.stdout, /undefined/);

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

    // An opaque token, introspected at the demo's own endpoint on the admin port.
    const opaque = readFileSync(join(dir, 'opaque-token'), 'utf8');
    const viaOpaque = await cli(['send', '--addr', grpc, '--path', '/api/orders', '--token', opaque], env);
    assert.equal(viaOpaque.code, 0, viaOpaque.stdout + viaOpaque.stderr);
    assert.match(viaOpaque.stdout, /x-auth-subject: demo-service /m);
    const inactive = await cli(['send', '--addr', grpc, '--path', '/api/orders', '--token', 'not-the-demo-token'], env);
    assert.match(inactive.stdout, /"error":"token_inactive"/);

    // The demo API key: apikey:partners/acme, allowed by api-read; an unknown key is a 401 of its own.
    const apiKey = readFileSync(join(dir, 'api-key'), 'utf8');
    const viaKey = await cli(['send', '--addr', grpc, '--path', '/api/orders', '--header', `x-api-key: ${apiKey}`], env);
    assert.equal(viaKey.code, 0, viaKey.stdout + viaKey.stderr);
    assert.match(viaKey.stdout, /x-auth-subject: acme /m);
    assert.match(viaKey.stdout, /x-auth-issuer: apikey:partners /m);
    // Internal tokens: upstream, the API key becomes a JWT the demo signs (ES256, its own issuer),
    // which verifies against the JWKS the demo publishes. Fetched here over gRPC, never printed.
    const internalIssuer = `http://${admin}/internal`;
    assert.ok(stderr.includes(`internal tokens ${internalIssuer} `), 'banner names the internal issuer');
    const grpcClient = authV3Client(Number(grpc.split(':')[1]));
    try {
      const r = await check(grpcClient, checkRequest({ path: '/api/orders', host: 'orders.demo.svc', headers: { 'x-api-key': apiKey } }));
      const bearer = r.okResponse?.headers?.find((h) => h.header?.key === 'authorization')?.header?.value ?? '';
      assert.ok(bearer.startsWith('Bearer '), 'the allow sets the minted token upstream');
      const { payload } = await jwtVerify(bearer.slice(7), createRemoteJWKSet(new URL(`${internalIssuer}/.well-known/jwks.json`)), {
        issuer: internalIssuer,
        audience: 'orders.demo.svc',
        algorithms: ['ES256'],
      });
      assert.equal(payload.sub, 'acme');
    } finally {
      closeAll(grpcClient);
    }
    const keyJwt = upstreamJwt(viaKey.stdout);
    assert.equal(keyJwt.header.alg, 'ES256');
    assert.equal(keyJwt.header.typ, 'at+jwt');
    const jwks = (await (await fetch(`${internalIssuer}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };
    assert.ok(
      jwks.keys.some((k) => k.kid === keyJwt.header.kid),
      'signed by a published key',
    );
    assert.ok(
      jwks.keys.every((k) => k.d === undefined),
      'public keys only',
    );
    assert.deepEqual(
      { ...keyJwt.payload, iat: undefined, exp: undefined, jti: undefined },
      {
        iss: internalIssuer,
        sub: 'acme',
        aud: 'orders.demo.svc', // send's default host: no destination workload
        scope: 'orders:read',
        tenant: 'acme',
        zt_cred_hash: createHash('sha256').update(apiKey).digest('hex').slice(0, 12),
        iat: undefined,
        exp: undefined,
        jti: undefined,
      },
    );
    assert.equal(Number(keyJwt.payload.exp) - Number(keyJwt.payload.iat), 120);
    assert.match(viaKey.stdout, /^ {2}upstream header removed: x-api-key$/m, 'the API key stays at the edge');
    // A JWT in authorization is overwritten by the minted one, never also removed (Envoy removes after it sets).
    assert.equal(upstreamJwt(allow.stdout).payload.sub, 'demo-user');
    assert.doesNotMatch(allow.stdout, /^ {2}upstream header removed: authorization$/m);
    const badKey = await cli(['send', '--addr', grpc, '--path', '/api/orders', '--header', 'x-api-key: zt_not-the-demo-key'], env);
    assert.match(badKey.stdout, /"error":"apikey_unknown"/);

    const metrics = await (await fetch(`http://${admin}/metrics`)).text();
    assert.match(metrics, /zt_authz_decisions_total\{decision="allow",reason="allowed",policy="api-read"\} 5/); // v3 + v2 + the opaque token + the API key (send, then the in-test gRPC client)
    assert.match(metrics, /zt_authz_decisions_total\{decision="deny",reason="token_missing",policy=""\} 1/);

    // The HTTP authz transport listens where --http said (Envoy http_service convention: the request's own method and path).
    const viaHttp = await fetch(`http://${http}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(viaHttp.status, 200, await viaHttp.text());
    const viaHttpNoToken = await fetch(`http://${http}/api/orders`);
    assert.equal(viaHttpNoToken.status, 401);
    await viaHttpNoToken.arrayBuffer();

    // Every labelled command the banner prints answers what its label says (a stale label fails here).
    const printed = labelledCommands(stderr.split('\n'));
    assert.equal(printed.length, 6, stderr);
    await checkLabelled(printed, env);
    // The printed API-key command shows the upstream JWT decoded, with the claims the key gave it.
    const keyCmd = printed.find((c) => c.command.includes('x-api-key'));
    assert.match(keyCmd?.label ?? '', /becomes a JWT/);
    const shown = await sh('bash', ['-c', keyCmd!.command], { cwd: ROOT, env, timeout: 20000 });
    captureChildOutput('shell: the printed API-key command', shown.stdout);
    assert.deepEqual(
      [upstreamJwt(shown.stdout).payload.sub, upstreamJwt(shown.stdout).payload.iss, upstreamJwt(shown.stdout).payload.scope],
      ['acme', internalIssuer, 'orders:read'],
    );

    // The README's demo commands block ("A five-minute tour"), pointed at this demo's ports and token file.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /In a second terminal[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'README has the demo commands block');
    const adapted = block
      .replaceAll('127.0.0.1:9191', grpc)
      .replaceAll('127.0.0.1:9090', admin)
      .replaceAll('.zt-authz-demo/token', join(dir, 'token'))
      .replaceAll('.zt-authz-demo/opaque-token', join(dir, 'opaque-token'))
      .replaceAll('.zt-authz-demo/api-key', join(dir, 'api-key'));
    const documented = labelledCommands(adapted.split('\n'));
    assert.equal(documented.length, 6, block);
    await checkLabelled(documented, env);

    // audit records reach stdout as JSON lines, without the token
    assert.ok(!stdout.includes(token) && !stdout.includes(token.split('.')[2]!.slice(0, 20)));
    assert.ok(!stdout.includes(apiKey) && !stderr.includes(apiKey), 'the API key is never printed or logged');
    const audits = stdout
      .split('\n')
      .filter((l) => l.includes('"logger":"audit"'))
      .map((l) => JSON.parse(l) as { reason: string });
    assert.ok(audits.length >= 5, stdout);
  } finally {
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
  }
});

test('validate: exit 0 on the example, 1 with field-named errors on a bad file', async () => {
  const ok = await cli(['validate', new URL('../../../examples/config.yaml', import.meta.url).pathname], process.env);
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
