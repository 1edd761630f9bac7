import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, type PolicyContext } from '../src/policy/compile.js';
import { parseConfigText, resolveConfig, type ConfigProblem } from '../src/config/load.js';
import { parsePrincipal } from '../src/identity/spiffe.js';
import type { Identity } from '../src/decision/types.js';

function compile(yaml: string) {
  const cfg = resolveConfig(parseConfigText(yaml));
  const problems: ConfigProblem[] = [];
  const compiled = compilePolicies(cfg.policies, problems);
  assert.deepEqual(problems, []);
  return compiled;
}

function ctx(o: { method?: string; path?: string; host?: string; port?: number; principal?: string; sub?: string; claims?: Record<string, unknown>; headers?: Record<string, string> }): PolicyContext {
  const identity: Identity | undefined = o.sub
    ? { issuer: 'https://idp', subject: o.sub, requestPrincipal: `https://idp/${o.sub}`, audiences: ['api'], scopes: String(o.claims?.scope ?? '').split(' ').filter(Boolean), claims: { sub: o.sub, ...(o.claims ?? {}) }, tokenHash: 'h' }
    : undefined;
  return {
    input: {
      requestId: '1', method: o.method ?? 'GET', host: o.host ?? 'orders.shop', path: o.path ?? '/', query: '', headers: o.headers ?? {},
      source: { labels: {}, ...(o.principal ? { principal: o.principal } : {}) }, destination: { labels: {}, ...(o.port ? { port: o.port } : {}) }, contextExtensions: {},
    },
    identity,
    source: parsePrincipal(o.principal),
  };
}

test('default deny: no policies, or no matching ALLOW, denies', () => {
  assert.equal(compile('policies: []').evaluate(ctx({ sub: 'a' })).reason, 'no_policy_matched');
  const p = compile(`policies: [{ name: a, rules: [{ to: [{ operation: { methods: [POST] } }] }] }]`);
  assert.equal(p.evaluate(ctx({ method: 'GET' })).allow, false);
  assert.equal(p.evaluate(ctx({ method: 'POST' })).allow, true);
  // ALLOW policy without rules never matches (Istio semantics)
  assert.equal(compile(`policies: [{ name: a }]`).evaluate(ctx({ sub: 'a' })).allow, false);
  // one empty rule matches everything
  assert.equal(compile(`policies: [{ name: a, rules: [{}] }]`).evaluate(ctx({})).allow, true);
});

test('DENY wins over ALLOW; AUDIT and dryRun never decide but are reported', () => {
  const p = compile(`
policies:
  - { name: allow-all, rules: [{}] }
  - { name: no-admin, action: DENY, rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }] }
  - { name: audit-writes, action: AUDIT, rules: [{ to: [{ operation: { methods: [POST] } }] }] }
  - { name: would-deny, action: DENY, dryRun: true, rules: [{ to: [{ operation: { paths: ["/api/*"] } }] }] }
`);
  const admin = p.evaluate(ctx({ path: '/admin/users' }));
  assert.deepEqual([admin.allow, admin.reason, admin.policy], [false, 'policy_denied', 'no-admin']);
  const api = p.evaluate(ctx({ method: 'POST', path: '/api/x' }));
  assert.deepEqual([api.allow, api.policy], [true, 'allow-all']);
  assert.deepEqual(api.audits.map((a) => a.policy).sort(), ['audit-writes', 'would-deny']);
});

test('string forms, negation, case-insensitive hosts, AND/OR structure', () => {
  const p = compile(`
policies:
  - name: p
    rules:
      - from: [{ source: { requestPrincipals: ["https://idp/*"], notRequestPrincipals: ["https://idp/blocked"] } }]
        to:
          - operation: { hosts: ["*.SHOP"], methods: [GET], paths: ["/orders", "/orders/*"], notPaths: ["*/secret"] }
          - operation: { methods: [DELETE], ports: ["8443"] }
`);
  const ok = (o: Parameters<typeof ctx>[0]) => p.evaluate(ctx(o)).allow;
  assert.equal(ok({ sub: 'alice', path: '/orders/1' }), true);
  assert.equal(ok({ sub: 'alice', path: '/orders' }), true);
  assert.equal(ok({ sub: 'alice', path: '/ordersX' }), false);
  assert.equal(ok({ sub: 'alice', path: '/orders/secret' }), false);
  assert.equal(ok({ sub: 'alice', path: '/orders/1', host: 'orders.other' }), false);
  assert.equal(ok({ sub: 'blocked', path: '/orders/1' }), false);
  assert.equal(ok({ path: '/orders/1' }), false, 'anonymous has no request principal');
  assert.equal(ok({ sub: 'alice', method: 'DELETE', path: '/x', port: 8443 }), true, 'second operation ORs');
  assert.equal(ok({ sub: 'alice', method: 'DELETE', path: '/x', port: 80 }), false);
});

test('notRequestPrincipals ["*"] matches anonymous requests (deny-without-JWT pattern)', () => {
  const p = compile(`
policies:
  - { name: require-jwt, action: DENY, rules: [{ from: [{ source: { notRequestPrincipals: ["*"] } }] }] }
  - { name: all, rules: [{}] }
`);
  assert.equal(p.evaluate(ctx({})).policy, 'require-jwt');
  assert.equal(p.evaluate(ctx({ sub: 'a' })).allow, true);
});

test('when: claims (lists, nested, scope split), principals and namespaces from SPIFFE, headers', () => {
  const p = compile(`
policies:
  - name: p
    rules:
      - from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"], namespaces: ["shop"] } }]
        when:
          - { key: "request.auth.claims[scope]", values: ["orders:read"] }
          - { key: "request.auth.claims[realm_access][roles]", values: ["admin"] }
          - { key: "request.auth.claims[amr]", values: ["mfa"] }
          - { key: "request.headers[X-Env]", notValues: ["prod"] }
`);
  const base = { sub: 'a', principal: 'spiffe://cluster.local/ns/shop/sa/frontend', claims: { scope: 'orders:read orders:write', realm_access: { roles: ['user', 'admin'] }, amr: ['pwd', 'mfa'] } };
  assert.equal(p.evaluate(ctx(base)).allow, true);
  assert.equal(p.evaluate(ctx({ ...base, headers: { 'x-env': 'prod' } })).allow, false);
  assert.equal(p.evaluate(ctx({ ...base, principal: 'spiffe://cluster.local/ns/shop/sa/other' })).allow, false);
  assert.equal(p.evaluate(ctx({ ...base, claims: { ...base.claims, amr: ['pwd'] } })).allow, false);
  assert.equal(p.evaluate(ctx({ ...base, claims: { ...base.claims, scope: 'orders:write' } })).allow, false);
  assert.equal(p.evaluate(ctx({ ...base, claims: { ...base.claims, realm_access: { roles: 'admin-ish' } } })).allow, false);
});

test('SPIFFE principal parsing', () => {
  assert.deepEqual(parsePrincipal('spiffe://cluster.local/ns/shop/sa/frontend'), { principal: 'cluster.local/ns/shop/sa/frontend', namespace: 'shop', serviceAccount: 'frontend' });
  assert.deepEqual(parsePrincipal('spiffe://td/other/path'), { principal: 'td/other/path' });
  assert.equal(parsePrincipal(''), undefined);
});
