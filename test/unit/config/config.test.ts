import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfigText } from '../../../src/config/parse.js';
import { checkConfig, checkConfigFile } from '../../../src/snapshot/checked-config.js';
import { WHEN_KEYS } from '../../../src/policy/attributes.js';
import { configProblems } from '../../helpers/config-problems.js';

const problems = configProblems;

test('example config validates and gets defaults', () => {
  const cfg = checkConfigFile(new URL('../../../../examples/config.yaml', import.meta.url).pathname).config;
  assert.equal(cfg.issuers.length, 2);
  assert.equal(cfg.issuers[1]!.clockSkewSeconds, 30);
  assert.deepEqual(cfg.issuers[1]!.fromHeaders, [{ name: 'authorization', prefix: 'Bearer ' }]);
  assert.deepEqual(cfg.issuers[0]!.requiredClaims, ['exp']);
  assert.equal(cfg.issuers[0]!.keySource.kind, 'discovery');
  assert.equal(cfg.limits.maxTokenBytes, 8192);
});

test('empty config resolves with zero-trust defaults (no issuers, no policies)', () => {
  const cfg = checkConfig({}).config;
  assert.equal(cfg.server.grpc, '0.0.0.0:9191');
  assert.equal(cfg.server.http, '0.0.0.0:9192');
  assert.equal(cfg.server.admin, '0.0.0.0:9090');
  assert.deepEqual(cfg.policies, []);
  assert.equal(cfg.tokenCache.maxEntries, 10000);
  assert.equal(cfg.audit.allowSampleRate, 1);
});

test('errors name the bad field', () => {
  const got = problems(`
server: { grpc: "nope" }
issuers:
  - issuer: https://a
    jwksUrl: https://a/jwks
    algorithms: [RS256, RS1]
    clockSkewSeconds: -1
`);
  assert.ok(got.includes('server.grpc: must be host:port'), got.join('\n'));
  assert.ok(got.includes('issuers[0].jwksUrl: unknown field (check spelling)'), got.join('\n'));
  assert.ok(
    got.some((g) => g.startsWith('issuers[0].algorithms[1]: must be one of RS256')),
    got.join('\n'),
  );
  assert.ok(
    got.some((g) => g.startsWith('issuers[0].clockSkewSeconds:')),
    got.join('\n'),
  );
});

test('HS* only with a local secret; one key source per issuer', () => {
  assert.deepEqual(problems(`issuers: [{ issuer: x, jwksUri: "https://x/jwks", algorithms: [HS256], audiences: [a] }]`), [
    'issuers[0].algorithms: HS256 allowed only with hmacSecretFile (a public JWKS key must never be used as an HMAC secret)',
  ]);
  assert.deepEqual(problems(`issuers: [{ issuer: x, hmacSecretFile: /s, algorithms: [RS256], jwksUri: "https://x/j", audiences: [a] }]`), [
    'issuers[0].hmacSecretFile: set, but algorithms lists no HS* algorithm',
  ]);
  assert.match(
    problems(`issuers: [{ issuer: "https://x", jwksUri: "https://x/j", discovery: true, audiences: [a] }]`)[0]!,
    /set only one of/,
  );
  assert.match(problems(`issuers: [{ issuer: x, audiences: [a] }]`)[0]!, /needs a key source/);
  assert.match(problems(`issuers: [{ issuer: x, discovery: true, audiences: [a] }]`)[0]!, /discovery needs an http\(s\) issuer URL/);
  assert.match(problems(`issuers: [{ issuer: x, jwks: "{not json", audiences: [a] }]`).join(), /issuers\[0\]\.jwks: is not valid JSON/);
  // HS-only issuer with a secret: allowed, defaults to HS256
  const cfg = checkConfig(parseConfigText(`issuers: [{ issuer: x, hmacSecretFile: /s, audiences: [a] }]`)).config;
  assert.deepEqual(cfg.issuers[0]!.algorithms, ['HS256']);
  // default allow-list never contains HS*
  const cfg2 = checkConfig(parseConfigText(`issuers: [{ issuer: x, jwksUri: "https://x/j", audiences: [a] }]`)).config;
  assert.ok(cfg2.issuers[0]!.algorithms.every((a) => !a.startsWith('HS')));
});

test('duplicates, reserved headers, YAML syntax and policy problems are reported', () => {
  assert.deepEqual(
    problems(`issuers: [{ issuer: x, jwksUri: "https://x/j", audiences: [a] }, { issuer: x, jwksUri: "https://x/k", audiences: [a] }]`),
    ['issuers[1].issuer: duplicate of issuers[0]'],
  );
  assert.deepEqual(problems(`response: { subjectHeader: Authorization }`), [
    'response.subjectHeader: "Authorization" is reserved (routing or credential header)',
  ]);
  assert.deepEqual(
    problems(`issuers: [{ issuer: x, jwksUri: "https://x/j", audiences: [a], outputClaimToHeaders: [{ header: host, claim: sub }] }]`),
    ['issuers[0].outputClaimToHeaders[0].header: "host" is reserved (routing or credential header)'],
  );
  assert.match(problems('issuers: [\n')[0]!, /^\(yaml\):/);
  assert.match(problems('a: 1\na: 2\n')[0]!, /^\(yaml\):.*[Uu]nique|^\(yaml\):.*duplicate|^\(yaml\):/);
  const got = problems(`
policies:
  - name: p
    rules: [{ when: [{ key: "request.auth.claims[scope]" }] }]
  - name: p
`);
  assert.ok(got.includes('policies[1].name: duplicate of policies[0]'), got.join('\n'));
  assert.ok(got.includes('policies[0].rules[0].when[0]: needs values or notValues (policy "p")'), got.join('\n'));
  const bad = problems(`policies: [{ name: q, action: MAYBE }]`);
  assert.ok(
    bad.some((g) => g.startsWith('policies[0].action: must be one of ALLOW, DENY, AUDIT')),
    bad.join('\n'),
  );
});

test('policy problems Istio would reject are reported with policy name and field', () => {
  const got = problems(`
policies:
  - name: bad
    rules:
      - from: [{ source: { ipBlocks: ["10.0.0.0/33", "not-an-ip"] } }, { source: {} }]
        to: [{ operation: { paths: ["/a/{**}/{*}", "/a/x{*}"], ports: ["http"] } }]
        when: [{ key: "source.ipp", values: ["1.2.3.4"] }, { key: "request.auth.claims[scope]", values: [] }]
`);
  assert.deepEqual(
    got.sort(),
    [
      'policies[0].rules[0].from[0].source.ipBlocks[0]: "10.0.0.0/33" is not a valid IP address or CIDR block (policy "bad")',
      'policies[0].rules[0].from[0].source.ipBlocks[1]: "not-an-ip" is not a valid IP address or CIDR block (policy "bad")',
      'policies[0].rules[0].from[1].source: must set at least one field (policy "bad")',
      'policies[0].rules[0].to[0].operation.paths[0]: "{**}" must be the last operator in the path (policy "bad")',
      'policies[0].rules[0].to[0].operation.paths[1]: segment "x{*}": "{*}" and "{**}" must fill a whole segment and cannot be mixed with "*" (policy "bad")',
      'policies[0].rules[0].to[0].operation.ports[0]: "http" is not a port number (1-65535) (policy "bad")',
      'policies[0].rules[0].when[0].key: unknown key "source.ipp"; supported: ' + WHEN_KEYS.join(', ') + ' (policy "bad")',
      'policies[0].rules[0].when[1].values: must not be empty (policy "bad")',
    ].sort(),
  );
});

test('combinations Istio rejects are reported (ValidateAuthorizationPolicy, CheckServiceAccount, CheckValidPathTemplate)', () => {
  const got = problems(`
policies:
  - name: empty-lists
    rules:
      - { from: [], to: [{ operation: { paths: ["/a"] } }] }
      - { from: [{ source: { namespaces: [shop] } }], to: [] }
  - name: sa-mixed
    namespace: shop
    rules:
      - from:
          - { source: { serviceAccounts: [shop/a], namespaces: [shop] } }
          - { source: { serviceAccounts: [shop/a], principals: ["cluster.local/ns/shop/sa/a"], notNamespaces: [dev] } }
          - { source: { serviceAccounts: [shop/a], notPrincipals: ["*"] } }
  - name: sa-form
    rules:
      - from: [{ source: { serviceAccounts: ["shop/*", "a/b/c", "/x", "y/", "bare"] } }]
        when: [{ key: source.serviceAccount, values: ["*"] }]
  - name: deny-no-rules
    action: DENY
  - name: selector-wildcard
    selector: { matchLabels: { app: "orders*" } }
    rules: [{}]
  - name: literal-after-any
    rules: [{ to: [{ operation: { paths: ["/a//{*}", "/a*b/{*}"] } }] }]
`);
  assert.deepEqual(
    got.sort(),
    [
      'policies[0].rules[0].from: must not be empty (omit the field to place no constraint) (policy "empty-lists")',
      'policies[0].rules[1].to: must not be empty (omit the field to place no constraint) (policy "empty-lists")',
      'policies[1].rules[0].from[0].source.serviceAccounts: cannot be combined with namespaces in one source (Istio rejects it); use separate sources (policy "sa-mixed")',
      'policies[1].rules[0].from[1].source.serviceAccounts: cannot be combined with principals, notNamespaces in one source (Istio rejects it); use separate sources (policy "sa-mixed")',
      'policies[1].rules[0].from[2].source.serviceAccounts: cannot be combined with notPrincipals in one source (Istio rejects it); use separate sources (policy "sa-mixed")',
      'policies[2].rules[0].from[0].source.serviceAccounts[0]: "shop/*": wildcards are not allowed in service accounts (policy "sa-form")',
      'policies[2].rules[0].from[0].source.serviceAccounts[1]: "a/b/c": expected "namespace/serviceAccount" or "serviceAccount" (policy "sa-form")',
      'policies[2].rules[0].from[0].source.serviceAccounts[2]: "/x": expected "namespace/serviceAccount" or "serviceAccount" (policy "sa-form")',
      'policies[2].rules[0].from[0].source.serviceAccounts[3]: "y/": expected "namespace/serviceAccount" or "serviceAccount" (policy "sa-form")',
      'policies[2].rules[0].from[0].source.serviceAccounts[4]: "bare": a policy without namespace needs "namespace/serviceAccount" (policy "sa-form")',
      'policies[2].rules[0].when[0].values[0]: "*": wildcards are not allowed in service accounts (policy "sa-form")',
      'policies[3].rules: a DENY policy without `rules` never matches, and Istio rejects it; add `rules: [{}]` to deny every request in its scope (policy "deny-no-rules")',
      'policies[4].selector.matchLabels.app: wildcard not supported in a selector ("app=orders*") (policy "selector-wildcard")',
      'policies[5].rules[0].to[0].operation.paths[0]: segment "": a template literal may only use RFC 3986 path characters except "*" (and no empty segment) (policy "literal-after-any")',
      'policies[5].rules[0].to[0].operation.paths[1]: segment "a*b": "{*}" and "{**}" must fill a whole segment and cannot be mixed with "*" (policy "literal-after-any")',
    ].sort(),
  );
  const many = Array.from({ length: 17 }, (_, i) => `shop/sa${i}`);
  assert.deepEqual(problems(JSON.stringify({ policies: [{ name: 'many', rules: [{ from: [{ source: { serviceAccounts: many } }] }] }] })), [
    'policies[0].rules[0].from[0].source.serviceAccounts: may not have more than 16 values (Istio\'s limit) (policy "many")',
  ]);
  // What Istio accepts stays valid: a bare service account in a namespaced policy, separate
  // sources for service accounts and namespaces, AUDIT or ALLOW without rules, DENY with rules: [],
  // literals after {**}, a trailing slash after a template, "=" in a literal (Istio's validLiteral).
  assert.deepEqual(
    problems(`
policies:
  - name: ok
    namespace: shop
    rules:
      - from: [{ source: { serviceAccounts: [frontend, web/gw] } }, { source: { namespaces: [web] } }]
        to: [{ operation: { paths: ["/docs/{**}/edit", "/u/{*}/", "/a=c/{*}"] } }]
        when: [{ key: source.serviceAccount, values: [frontend] }]
  - { name: audit-nothing, action: AUDIT }
  - { name: allow-nothing }
  - { name: deny-nothing, action: DENY, rules: [] }
`),
    [],
  );
});

test('demo config written by the CLI is valid YAML for the same schema', () => {
  const text = readFileSync(new URL('../../../../examples/config.yaml', import.meta.url), 'utf8');
  assert.doesNotThrow(() => checkConfig(parseConfigText(text)).config);
});

test('JSON configs take the fast path and validate the same way', () => {
  const cfg = checkConfig(
    parseConfigText('{"issuers":[{"issuer":"x","jwksUri":"https://x/j","audiences":["a"]}],"policies":[{"name":"p","rules":[{}]}]}'),
  ).config;
  assert.equal(cfg.issuers[0]!.issuer, 'x');
  assert.deepEqual(problems('{"server": {"grpc": "nope"}}'), ['server.grpc: must be host:port']);
  assert.match(problems('{"issuers": [}')[0]!, /^\(yaml\):/, 'broken JSON still gets a parser error');
});
