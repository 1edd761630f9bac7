// The policy test runner behind `zt-authz test` (src/cli/policy-test/): case files in, results
// and reports out. Passing and failing cases, case files it must refuse (naming file and case),
// claims signed for a configured issuer whose keys it replaces, API keys, ZeroTrustPolicy
// manifests, and a JUnit report that parses back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, generateKeyPair } from 'jose';
import { CaseFileError, discoverCaseFiles, loadCaseFile } from '../../../src/cli/policy-test/cases.js';
import { runSuites, type CaseResult, type RunOptions } from '../../../src/cli/policy-test/runner.js';
import { junitReport, textReport } from '../../../src/cli/policy-test/report.js';
import { parseXml } from '../../helpers/xml.js';
import { newPrivateJwk, writeKeyFile } from '../../../src/mint/keys/new-key.js';

const dir = mkdtempSync(join(tmpdir(), 'zt-policy-test-'));
let n = 0;
function file(text: string, name = `case${++n}_test.yaml`): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
async function run(text: string, o: RunOptions = {}): Promise<CaseResult[]> {
  return runSuites(loadCaseFile(file(text)), o);
}

const INLINE = `
description: inline
issuers: [https://idp.test]
policies:
  - name: read
    rules: [{ to: [{ operation: { methods: [GET] } }], when: [{ key: request.auth.scopes, values: [read] }] }]
cases:
`;

test('a passing and a failing case: the failure says expected vs actual, reason and deciding policy', async () => {
  const results = await run(`${INLINE}
  - name: reader reads
    request: { method: GET, path: /x }
    claims: { sub: alice, scope: read }
    expect: { decision: allow, policy: read, upstream: { x-auth-subject: alice } }
  - name: wrong expectation
    request: { method: GET, path: /x }
    claims: { scope: read }
    expect: { decision: deny, reason: no_policy_matched }
`);
  assert.deepEqual(
    results.map((r) => r.pass),
    [true, false],
  );
  const failed = results[1]!;
  assert.deepEqual(failed.failures, ['decision: expected deny, got allow', 'reason: expected no_policy_matched, got allowed']);
  assert.equal(failed.actual.policy, 'read');
  const text = textReport(results, false);
  assert.match(
    text,
    /FAIL: wrong expectation\n {4}expected: deny \(no_policy_matched\)\n {4}actual: {3}allow \(allowed, status 200\) by policy read rule 0/,
  );
  assert.doesNotMatch(text, /PASS: reader reads/, 'passing cases only with -v');
  assert.match(textReport(results, true), /PASS: reader reads/);
  assert.match(text, /PASS: 1\/2\nFAIL: 1\/2\n$/);
});

test('every expectation field is checked', async () => {
  const [r] = await run(`${INLINE}
  - name: all wrong
    request: { method: POST, path: /x }
    claims: { sub: bob }
    expect:
      decision: deny
      reason: token_missing
      policy: read
      rule: 3
      status: 401
      challenge: 'scope="x"'
      dryRun: allow
      audits: [a]
      upstream: { x-auth-subject: bob }
      removes: [x-other]
`);
  const fields = r!.failures.map((f) => f.split(/[: ]/)[0]);
  assert.deepEqual(fields, ['reason', 'policy', 'rule', 'status', 'challenge', 'dryRun', 'audits', 'upstream', 'removes']);
});

test('bad case files are refused with the file and the case named', () => {
  const cases: [string, RegExp][] = [
    ['cases: [{ name: a, expect: { decison: allow } }]', /case "a": unknown key in expect: decison/],
    ['cases: [{ name: a, expect: { decision: maybe } }]', /case "a": expect.decision must be allow or deny/],
    ['cases: [{ name: a }]', /case "a": expect is required/],
    ['cases: [{ name: a, token: t, claims: {}, expect: { decision: allow } }]', /case "a": give one credential/],
    ['cases: [{ name: a, expect: { decision: allow } }, { name: a, expect: { decision: deny } }]', /case "a": another case/],
    ['cases: [{ name: a, expect: { decision: allow }, extra: 1 }]', /case "a": unknown key in the case: extra/],
    ['cases: [{ name: a, expect: {decision: allow}', /line 1, column \d+/],
    ['description: nothing', /cases must be a non-empty list/],
    ['cases: [{ name: a, request: { metod: POST }, expect: { decision: allow } }]', /case "a": unknown key in request: metod/],
    [
      'cases: [{ name: a, request: { source: { principle: x } }, expect: { decision: allow } }]',
      /case "a": unknown key in request.source: principle/,
    ],
    ['config: x.yaml\npolicies: []\ncases: [{ name: a, expect: { decision: allow } }]', /inline config mapping/],
  ];
  for (const [text, want] of cases) {
    const p = file(text);
    assert.throws(
      () => loadCaseFile(p),
      (err: unknown) => err instanceof CaseFileError && err.message.startsWith(p) && want.test(err.message),
      text,
    );
  }
  assert.throws(() => loadCaseFile(join(dir, 'missing_test.yaml')), /missing_test.yaml: cannot read: ENOENT/);
});

test('cases the runner cannot build are refused with the case named', async () => {
  await assert.rejects(
    run(`${INLINE}  - { name: stranger, claims: { iss: "https://other" }, expect: { decision: deny } }\n`),
    (err: unknown) =>
      err instanceof CaseFileError &&
      /case "stranger": claims are signed for "https:\/\/other", which is not a configured issuer/.test(err.message),
  );
  await assert.rejects(
    run(`${INLINE}  - { name: keyless, apiKey: k, expect: { decision: deny } }\n`),
    /case "keyless": apiKey given, but the configuration has no apiKeys source/,
  );
  await assert.rejects(
    run('cases: [{ name: a, expect: { decision: allow } }]'),
    /no configuration for its cases: give --config and\/or --manifests/,
  );
  await assert.rejects(run('config: { issuers: 3 }\ncases: [{ name: a, expect: { decision: allow } }]'), CaseFileError);
});

test('signed claims: the configured issuer keys are replaced for the run; its checks still apply', async () => {
  // A JWKS URL that cannot be reached: the runner never fetches it for an issuer it signs for.
  const config = file(
    `issuers:
  - issuer: https://idp.invalid/realm
    jwksUri: https://idp.invalid/realm/jwks
    audiences: [orders]
    algorithms: [RS256]
    requiredClaims: [tenant]
policies:
  - name: orders
    rules: [{ from: [{ source: { requestPrincipals: ["https://idp.invalid/realm/*"] } }] }]
`,
    'config.yaml',
  );
  const other = await generateKeyPair('RS256');
  const forged = await new SignJWT({ iss: 'https://idp.invalid/realm', sub: 'x', aud: 'orders', tenant: 't' })
    .setProtectedHeader({ alg: 'RS256', kid: 'zt-authz-test-rs256' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(other.privateKey);
  const results = await run(
    `config: ${config}
cases:
  - { name: signed, claims: { sub: alice, tenant: acme }, expect: { decision: allow, policy: orders } }
  - { name: other audience, claims: { tenant: acme, aud: payments }, expect: { decision: deny, reason: audience_mismatch } }
  - { name: expired, claims: { tenant: acme, exp: 1000 }, expect: { decision: deny, reason: token_expired } }
  - { name: required claim missing, claims: { sub: alice }, expect: { decision: deny, status: 401 } }
  - { name: exp removed, claims: { tenant: acme, exp: null }, expect: { decision: deny, status: 401 } }
  - { name: a token signed by another key, token: ${forged}, expect: { decision: deny, status: 401 } }
`,
    { waitMs: 100 },
  );
  for (const r of results) assert.ok(r.pass, `${r.case.name}: ${r.failures.join('; ')} (${r.actual.reason})`);
});

test('API keys: a key from the keys file authenticates as apikey:<source>/<subject>; an unknown key is a 401', async () => {
  const key = 'unit-test-key-0123456789';
  const keys = file(
    `keys: [{ name: k1, subject: acme, scopes: [list], sha256: ${createHash('sha256').update(key).digest('hex')} }]\n`,
    'keys.yaml',
  );
  const config = file(
    `apiKeys:
  - { name: partners, keysFile: ${keys}, fromHeaders: [{ name: x-partner-key, prefix: "Key " }] }
policies:
  - name: partners
    rules: [{ from: [{ source: { requestPrincipals: ["apikey:partners/acme"] } }], when: [{ key: request.auth.scopes, values: [list] }] }]
`,
    'apikeys-config.yaml',
  );
  const results = await run(
    `cases:
  - { name: known, apiKey: ${key}, expect: { decision: allow, policy: partners, removes: [x-partner-key] } }
  - { name: by source, apiKey: ${key}, apiKeySource: partners, expect: { decision: allow } }
  - { name: unknown, apiKey: nope-nope, expect: { decision: deny, status: 401 } }
`,
    { config },
  );
  for (const r of results) assert.ok(r.pass, `${r.case.name}: ${r.failures.join('; ')} (${r.actual.reason})`);
  await assert.rejects(
    run(`cases: [{ name: elsewhere, apiKey: x, apiKeySource: other, expect: { decision: deny } }]`, { config }),
    /case "elsewhere": apiKeySource other is not a configured apiKeys source/,
  );
});

test('ZeroTrustPolicy manifests: their policies decide, named <namespace>/<name>', async () => {
  const manifests = file(
    `apiVersion: zt-authz.io/v1alpha1
kind: ZeroTrustPolicy
metadata: { name: open-health, namespace: shop }
spec:
  rules: [{ to: [{ operation: { paths: [/healthz] } }] }]
`,
    'policies.yaml',
  );
  const dest = '{ principal: spiffe://cluster.local/ns/shop/sa/orders }';
  const results = await run(
    `cases:
  - { name: health, request: { path: /healthz, destination: ${dest} }, expect: { decision: allow, policy: shop/open-health } }
  - { name: other namespace, request: { path: /healthz, destination: { principal: spiffe://cluster.local/ns/web/sa/x } }, expect: { decision: deny } }
`,
    { manifests: [manifests] },
  );
  for (const r of results) assert.ok(r.pass, `${r.case.name}: ${r.failures.join('; ')} (${r.actual.reason})`);
});

test('YAML merge keys share a request between cases', () => {
  const [suite] = loadCaseFile(
    file(`cases:
  - { name: a, request: &r { method: POST, path: /x, host: h }, expect: { decision: deny } }
  - { name: b, request: { <<: *r, path: /y }, expect: { decision: deny } }
`),
  );
  assert.deepEqual(suite!.cases[1]!.request, { method: 'POST', path: '/y', host: 'h' });
});

test('a request that does not normalize is the malformed_request deny the service answers', async () => {
  const [r] = await run(
    `${INLINE}  - { name: bad path, request: { path: "no-slash" }, expect: { decision: deny, reason: malformed_request } }\n`,
  );
  assert.ok(r!.pass, r!.failures.join('; '));
});

test('discovery: *_test.yaml and *.test.yaml under the folder, sorted; hidden folders skipped', () => {
  const root = mkdtempSync(join(tmpdir(), 'zt-policy-discover-'));
  mkdirSync(join(root, 'b'));
  mkdirSync(join(root, '.git'));
  for (const f of ['b/z_test.yaml', 'a.test.yml', 'c_test.yml', 'notes.yaml', '.git/x_test.yaml', 'b/config.yaml'])
    writeFileSync(join(root, f), '');
  assert.deepEqual(
    discoverCaseFiles(root).map((f) => f.slice(root.length + 1)),
    ['a.test.yml', 'b/z_test.yaml', 'c_test.yml'],
  );
});

test('--run: only cases whose "<file>: <name>" matches', async () => {
  const results = await run(`${INLINE}  - { name: one, expect: { decision: deny } }\n  - { name: two, expect: { decision: deny } }\n`, {
    filter: /: two$/,
  });
  assert.deepEqual(
    results.map((r) => r.case.name),
    ['two'],
  );
});

test('JUnit XML is well-formed and reads back: names, counts and failure text with characters XML must escape', async () => {
  const tricky = `quotes " and ' & <angle> ]]> \u0001 tab\there`;
  const results = await run(`${INLINE}
  - { name: ok, request: { method: GET }, claims: { scope: read }, expect: { decision: allow } }
  - name: ${JSON.stringify(tricky)}
    request: { method: GET }
    expect: { decision: allow, policy: "<p & q>" }
`);
  const xml = junitReport(results);
  const root = parseXml(xml);
  assert.equal(root.name, 'testsuites');
  assert.equal(root.attrs.tests, '2');
  assert.equal(root.attrs.failures, '1');
  const [suite] = root.children;
  assert.equal(suite!.name, 'testsuite');
  assert.equal(suite!.attrs.failures, '1');
  const [ok, bad] = suite!.children;
  assert.equal(ok!.attrs.name, 'ok');
  assert.equal(ok!.children.length, 0);
  assert.equal(bad!.attrs.name, tricky.replace('\u0001', '\uFFFD'));
  assert.equal(bad!.attrs.classname, suite!.attrs.name);
  const failure = bad!.children[0]!;
  assert.equal(failure.name, 'failure');
  assert.match(failure.attrs.message!, /^expected allow by policy <p & q>, got deny \(token_missing, status 401\)/);
  assert.match(failure.text, /- policy: expected <p & q>, got \(none\)/);
  assert.ok(Number(bad!.attrs.time) >= 0);
});

test('internal tokens: a config that mints gets its allows (the keysDir keys signing), and a minted token in a failure is shown as its label', async () => {
  const keysDir = join(dir, 'signing');
  writeKeyFile(keysDir, newPrivateJwk('ES256'));
  const results = await run(`description: minting
issuers: [https://idp.test]
config:
  tokenIssuer: { issuer: https://zt-authz.test/internal, keysDir: ${keysDir} }
  response: { internalToken: { enabled: true, claims: [scope] } }
policies:
  - name: read
    rules: [{ when: [{ key: request.auth.scopes, values: [read] }] }]
cases:
  - { name: minted, request: { method: GET, host: orders.test, path: /x }, claims: { sub: alice, scope: read }, expect: { decision: allow, policy: read } }
  - { name: wrong token, request: { method: GET, host: orders.test, path: /x }, claims: { sub: alice, scope: read }, expect: { decision: allow, upstream: { authorization: Bearer x } } }
`);
  assert.ok(results[0]!.pass, `${results[0]!.failures.join('; ')} (${results[0]!.actual.reason})`);
  assert.equal(results[1]!.pass, false);
  assert.match(
    results[1]!.failures.join('\n'),
    /upstream authorization: expected Bearer x, got Bearer <JWT, \d+ bytes, sha256 [0-9a-f]{12}…>/,
  );
  assert.doesNotMatch(junitReport(results), /eyJ/);
});
