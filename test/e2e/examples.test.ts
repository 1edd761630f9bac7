// The policy examples in examples/ (and docs/policies.md) are runnable with `zt-authz check`; each request
// file states its expected outcome on its first line (`# expect: ALLOW …` / `# expect: DENY 403 reason`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { captureChildOutput } from '../helpers/capture.js';

const run = promisify(execFile);
const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const ROOT = new URL('../../../', import.meta.url).pathname;
const JSON_EXPECT: Record<string, string> = { 'orders-charges-payment.envoy.json': 'ALLOW (payments-from-orders)' };

for (const file of readdirSync(`${ROOT}examples/requests`).sort()) {
  test(`examples/requests/${file} decides as documented`, async () => {
    const text = readFileSync(`${ROOT}examples/requests/${file}`, 'utf8');
    const expect = JSON_EXPECT[file] ?? /^# expect: (.*)$/m.exec(text)?.[1];
    assert.ok(expect, 'request file documents its expected outcome');
    const [verdict, a, b] = expect.split(' ');
    let out: string;
    let code = 0;
    try {
      ({ stdout: out } = await run(process.execPath, [
        CLI,
        'check',
        '--config',
        `${ROOT}examples/policies/shop.yaml`,
        '--request',
        `${ROOT}examples/requests/${file}`,
        '--json',
      ]));
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      code = e.code;
      out = e.stdout;
      assert.equal(code, 1, e.stderr);
    }
    captureChildOutput('zt-authz check', out); // log hygiene
    const { decision, trace } = JSON.parse(out) as {
      decision: { allow: boolean; status: number; reason: string; policy?: string; wwwAuthenticate?: string };
      trace: unknown[];
    };
    assert.equal(trace.length, 6, 'trace lists every policy');
    if (verdict === 'ALLOW') {
      assert.equal(code, 0);
      assert.equal(decision.allow, true);
      assert.equal(`(${decision.policy})`, a);
    } else {
      assert.equal(decision.allow, false);
      assert.equal(String(decision.status), a);
      assert.equal(decision.reason, b);
      const challenge = /\((WWW-Authenticate: .*|acr_values=.*)\)/.exec(expect)?.[1];
      if (challenge?.startsWith('acr_values')) assert.ok(decision.wwwAuthenticate?.includes(challenge), decision.wwwAuthenticate);
    }
  });
}

test('examples/config.yaml and examples/policies/shop.yaml validate', async () => {
  for (const f of ['examples/config.yaml', 'examples/policies/shop.yaml']) {
    const { stdout } = await run(process.execPath, [CLI, 'validate', `${ROOT}${f}`]);
    captureChildOutput('zt-authz validate', stdout); // log hygiene
    assert.match(stdout, /OK/);
  }
});

test('zt-authz check exit codes: 0 allow, 1 deny, 2 request-file error, 3 invalid configuration', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-check-codes-'));
  const code = async (config: string, request: string): Promise<{ code: number; stderr: string }> => {
    try {
      await run(process.execPath, [CLI, 'check', '--config', config, '--request', request]);
      return { code: 0, stderr: '' };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      captureChildOutput('zt-authz check', e.stdout);
      return { code: e.code, stderr: e.stderr };
    }
  };
  const shop = `${ROOT}examples/policies/shop.yaml`;
  assert.equal((await code(shop, `${ROOT}examples/requests/frontend-reads-order.yaml`)).code, 0);
  assert.equal((await code(shop, `${ROOT}examples/requests/admin-without-role.yaml`)).code, 1);
  const invalid = join(dir, 'invalid.yaml');
  writeFileSync(invalid, readFileSync(shop, 'utf8').replace('action: DENY', 'action: MAYBE'));
  const bad = await code(invalid, `${ROOT}examples/requests/frontend-reads-order.yaml`);
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, /invalid configuration .*\n.*action: must be one of/);
  const notMapping = join(dir, 'request.yaml');
  writeFileSync(notMapping, '- just a list\n');
  assert.equal((await code(shop, notMapping)).code, 2);
  // Claims for an issuer that accepts only HMAC cannot be signed by a stand-in key: a request-file
  // error saying so (as `zt-authz test` says), not a deny of a token signed with another algorithm.
  const hmacOnly = join(dir, 'hmac.yaml');
  writeFileSync(
    hmacOnly,
    'issuers: [{ issuer: https://hs.example, hmacSecretFiles: [/nonexistent], algorithms: [HS256], anyAudience: true }]\npolicies: [{ name: any, rules: [{}] }]\n',
  );
  const claims = join(dir, 'claims.yaml');
  writeFileSync(claims, 'method: GET\npath: /\nhost: a.example\nclaims: { sub: alice }\n');
  const hs = await code(hmacOnly, claims);
  assert.equal(hs.code, 2, hs.stderr);
  assert.match(hs.stderr, /issuer https:\/\/hs\.example accepts only HMAC algorithms; claims cannot be signed for it/);
});
