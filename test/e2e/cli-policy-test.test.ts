// `zt-authz test` as CI runs it: the shipped example folder (examples/policy-tests/: a config,
// ZeroTrustPolicy manifests, an API keys file, case files) passes with a JUnit report; a failing
// case, a bad case file and usage mistakes get their own exit codes (0 pass, 1 fail, 2 usage,
// 3 no verdict: a bad case file or configuration); the project's conformance suite (test/conformance/)
// runs with the same command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { parseXml } from '../helpers/xml.js';

// The example's keysFile path is relative to the repository root, where the tests run.
const EXAMPLE = 'examples/policy-tests';
const ARGS = ['--config', `${EXAMPLE}/zt-authz.yaml`, '--manifests', `${EXAMPLE}/policies.yaml`];
const tmp = mkdtempSync(join(tmpdir(), 'zt-cli-policy-test-'));

test('the example folder passes: exit 0, PASS per case with -v, a JUnit report with every case', async () => {
  const junit = join(tmp, 'pass.xml');
  const r = await runCli(['test', EXAMPLE, ...ARGS, '--junit', junit, '-v']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /cases\/orders_test\.yaml:\nPASS: a user with orders:read reads an order/);
  assert.match(r.stdout, /cases\/self-contained\.test\.yaml:\nPASS: health checks need no token/);
  const total = Number(/PASS: (\d+)\/\1\n$/.exec(r.stdout)?.[1]);
  assert.ok(total >= 10, r.stdout);
  const root = parseXml(readFileSync(junit, 'utf8'));
  assert.equal(root.attrs.tests, String(total));
  assert.equal(root.attrs.failures, '0');
  assert.deepEqual(
    root.children.map((s) => s.attrs.name),
    ['cases/orders_test.yaml', 'cases/self-contained.test.yaml'],
  );
});

test("the project's own conformance suite runs with the user command: every file found, every case passes", async () => {
  const junit = join(tmp, 'conformance.xml');
  const r = await runCli(['test', 'test/conformance', '--junit', junit]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const total = Number(/PASS: (\d+)\/\1\n$/.exec(r.stdout)?.[1]);
  // docs/policies.md states the count (the conformance unit test keeps it current).
  const stated = Number(/(\d+) request → decision cases/.exec(readFileSync('docs/policies.md', 'utf8'))?.[1]);
  assert.equal(total, stated, r.stdout);
  const files = readdirSync('test/conformance').filter((f) => /\.ya?ml$/.test(f));
  assert.deepEqual(
    parseXml(readFileSync(junit, 'utf8'))
      .children.map((s) => s.attrs.name)
      .sort(),
    files.sort(),
  );
});

test('a failing case: exit 1, expected vs actual with the deciding policy, a <failure> in the JUnit report', async () => {
  const dir = join(tmp, 'failing');
  cpSync(join(EXAMPLE, 'cases'), dir, { recursive: true });
  appendFileSync(
    join(dir, 'orders_test.yaml'),
    `
  - name: a wrong expectation
    request: *read
    claims: { sub: alice, scope: "orders:read" }
    expect: { decision: deny }
`,
  );
  const junit = join(tmp, 'fail.xml');
  const r = await runCli(['test', dir, ...ARGS, '--junit', junit]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /FAIL: a wrong expectation\n {4}expected: deny\n {4}actual: {3}allow \(allowed, status 200\) by policy orders-read/,
  );
  assert.match(r.stdout, /FAIL: 1\/\d+\n$/);
  const root = parseXml(readFileSync(junit, 'utf8'));
  assert.equal(root.attrs.failures, '1');
  const failed = root.children.flatMap((s) => s.children).filter((c) => c.children.some((f) => f.name === 'failure'));
  assert.deepEqual(
    failed.map((c) => c.attrs.name),
    ['a wrong expectation'],
  );
  // --run picks the cases to run: without the failing one, the run passes.
  const only = await runCli(['test', dir, ...ARGS, '--run', 'reads an order']);
  assert.equal(only.code, 0, only.stdout + only.stderr);
  assert.match(only.stdout, /PASS: 1\/1\n$/);
});

test('a bad case file: exit 3 naming the file and the case', async () => {
  const dir = join(tmp, 'bad');
  cpSync(join(EXAMPLE, 'cases'), dir, { recursive: true });
  writeFileSync(join(dir, 'typo_test.yaml'), 'cases:\n  - name: misspelt\n    expect: { decison: allow }\n');
  const r = await runCli(['test', dir, ...ARGS]);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stderr, /typo_test\.yaml: case "misspelt": unknown key in expect: decison/);
});

test('usage mistakes exit 2; an invalid configuration exits 3 (no verdict, as for check); --help exits 0', async () => {
  const none = await runCli(['test']);
  assert.equal(none.code, 2, none.stderr);
  const flag = await runCli(['test', EXAMPLE, '--no-such-flag']);
  assert.equal(flag.code, 2, flag.stderr);
  const regex = await runCli(['test', EXAMPLE, '--run', '(']);
  assert.equal(regex.code, 2, regex.stderr);
  const badConfig = join(tmp, 'bad-config.yaml');
  writeFileSync(badConfig, 'issuers: 3\n');
  const invalid = await runCli(['test', `${EXAMPLE}/cases/orders_test.yaml`, '--config', badConfig]);
  assert.equal(invalid.code, 3, invalid.stderr);
  assert.match(invalid.stderr, /issuers/);
  const help = await runCli(['test', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /zt-authz test DIR/);
});
