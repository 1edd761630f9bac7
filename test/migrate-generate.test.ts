// `zt-authz policy generate` on recorded mixed traffic (test/fixtures/migrate/, recorded through
// a real zt-authz in observe mode; see record-traffic.ts): the generated policies allow exactly
// the observed edges, deny unobserved ones (evaluated by the real engine), validate, and are
// deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { resolveConfig, parseConfigText } from '../src/config/load.js';
import { authorize } from '../src/decision/decide.js';
import type { CheckInput, Identity } from '../src/decision/types.js';
import { PolicyGenerator, type GenerateOptions } from '../src/migrate/generate.js';
import { Replayer } from '../src/migrate/replay.js';
import { parseAuditLine, readAuditRecords, type AuditRecord } from '../src/migrate/record.js';
import { isIdSegment, templatePath } from '../src/migrate/paths.js';
import type { PolicySpec } from '../src/policy/schema.js';
import { runCli } from './helpers/cli.js';

const FIXTURE = new URL('../../test/fixtures/migrate/mixed-traffic.audit.jsonl', import.meta.url).pathname;
const ISSUER = 'https://idp.example.com';

export const cli = (args: string[], input?: string) => runCli(args, input === undefined ? {} : { input });

async function records(file = FIXTURE): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  await readAuditRecords(file, (r) => out.push(r));
  return out;
}

function generate(recs: AuditRecord[], opts: GenerateOptions = {}) {
  const g = new PolicyGenerator(opts);
  for (const r of recs) g.add(structuredClone(r));
  return g.finish();
}

/** A candidate config: the fixture's issuer plus the generated policies. */
function candidate(yaml: string) {
  const raw = parseConfigText(yaml) as { policies: PolicySpec[] };
  return resolveConfig({ issuers: [{ issuer: ISSUER, jwksUri: 'https://idp.example.com/jwks' }], policies: raw.policies });
}

test('path templates: ids become {*}, names stay, nothing wider than a segment', () => {
  for (const id of ['42', '3f2b8c1e-9a4d-4e1b-8f3a-2c7d5e6f8a9b', 'ch_3MmlLrLkdIwHu7ix0snN0B15', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'a1b2c3d4e5', 'usr_2x9Kq3', '2024-05-01', 'alice@example.com', '507f1f77bcf86cd799439011']) {
    assert.ok(isIdSegment(id), `${id} is an id`);
  }
  for (const name of ['api', 'orders', 'v1', 'v2beta1', 'oauth2callback', 'x509-certificates', 'healthz', 's3-buckets', 'deadbeef', '']) {
    assert.ok(!isIdSegment(name), `${name} is a name`);
  }
  assert.deepEqual(templatePath('/api/orders/1001'), { value: '/api/orders/{*}' });
  assert.deepEqual(templatePath('/api/orders/1001/items/7'), { value: '/api/orders/{*}/items/{*}' });
  assert.deepEqual(templatePath('/api/orders'), { value: '/api/orders' });
  assert.deepEqual(templatePath('/'), { value: '/' });
  // A literal '*' would make the value a prefix pattern: the segment becomes {*} instead.
  assert.deepEqual(templatePath('/files/report*'), { value: '/files/{*}' });
  assert.ok('unrepresentable' in templatePath('/a/{x}'));
  assert.ok('unrepresentable' in templatePath('*'));
});

test('generate: one ALLOW policy per workload, observed callers, methods, templated paths and scopes', async () => {
  const { yaml, policies, summary } = generate(await records());
  const byName = new Map(policies.map((p) => [p.name, p]));
  assert.deepEqual([...byName.keys()], ['allow-reports', 'allow-catalog', 'allow-orders', 'allow-payments']);
  const orders = byName.get('allow-orders')!;
  assert.equal(orders.namespace, 'shop');
  assert.deepEqual(orders.selector, { matchLabels: { app: 'orders' } });
  assert.equal(orders.action, 'ALLOW');
  // POST needs both scopes every POST carried; openid and profile are never required.
  const post = orders.rules!.find((r) => r.to?.[0]?.operation.methods?.includes('POST'))!;
  assert.deepEqual(post.from, [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'], requestPrincipals: [`${ISSUER}/*`] } }]);
  assert.deepEqual(post.when, [
    { key: 'request.auth.claims[scope]', values: ['orders:read'] },
    { key: 'request.auth.claims[scope]', values: ['orders:write'] },
  ]);
  assert.ok(!yaml.includes('openid') && !yaml.includes('values:\n              - profile'));
  // ids → {*}; the query string was never recorded.
  assert.match(yaml, /- \/api\/orders\/\{\*\} # 3 requests, first /);
  assert.ok(!yaml.includes('1001') && !yaml.includes('view=full') && !yaml.includes('3f2b8c1e'));
  // Three principals of namespace web → namespaces: [web].
  const catalog = byName.get('allow-catalog')!;
  assert.deepEqual(catalog.rules![0]!.from, [{ source: { namespaces: ['web'] } }]);
  // Unauthenticated health checks: only callers with neither an mTLS identity nor a JWT, flagged.
  assert.deepEqual(catalog.rules![1], { from: [{ source: { notPrincipals: ['*'], notRequestPrincipals: ['*'] } }], to: [{ operation: { methods: ['GET'], paths: ['/healthz'] } }] });
  assert.match(yaml, /# from callers with neither mTLS identity nor JWT \(seen from 10\.9\.0\.1\): 2 requests/);
  assert.deepEqual(summary.warnings, ['shop/app=catalog: some callers had neither an mTLS identity nor a JWT; their rule admits any unauthenticated caller for those operations']);
  // The JWT caller without mTLS: only callers without an mTLS identity.
  assert.ok(orders.rules!.some((r) => JSON.stringify(r.from) === JSON.stringify([{ source: { notPrincipals: ['*'], requestPrincipals: [`${ISSUER}/*`] } }])));
  // mTLS-only caller, opaque id, grouped by method so GET /charges is not admitted.
  assert.deepEqual(byName.get('allow-payments')!.rules, [
    {
      from: [{ source: { principals: ['cluster.local/ns/shop/sa/orders'] } }],
      to: [{ operation: { methods: ['GET'], paths: ['/charges/{*}'] } }, { operation: { methods: ['POST'], paths: ['/charges'] } }],
    },
  ]);
  // The enforce-mode deny is not turned into an ALLOW; the already-allowed request is noted.
  assert.deepEqual(byName.get('allow-reports')!.rules![0]!.from, [{ source: { principals: ['cluster.local/ns/legacy/sa/cron'] } }]);
  assert.match(yaml, /already allowed by the recorded config: legacy-reports \(1\)/);
  assert.deepEqual(summary.leftOut, { 'denied (not served)': 1, 'served in observe mode with a rejected credential (token_expired)': 1 });
  assert.equal(summary.used, 23);
  // Comments: header, per policy, per rule, per path.
  assert.match(yaml, /^# Generated by `zt-authz policy generate` from 25 audit record\(s\): 23 served request\(s\)/);
  assert.match(yaml, /# shop\/app=orders: 10 requests, first \d{4}-/);
  assert.match(yaml, /# from cluster\.local\/ns\/shop\/sa\/orders: 4 requests, first /);
});

test('generate: the policies allow exactly the observed edges and deny unobserved ones (real engine)', async () => {
  const recs = await records();
  const { yaml } = generate(recs);
  const replayer = new Replayer(candidate(yaml));
  for (const r of recs) replayer.add(structuredClone(r));
  const rep = replayer.finish();
  // Every served request is allowed, except the expired token (no policy can admit it).
  assert.equal(rep.summary.allowToDeny, 1);
  const regress = rep.edges.filter((e) => e.allowToDeny);
  assert.equal(regress.length, 1);
  assert.equal(regress[0]!.details[0]!.now.split(' ')[0], 'token_expired');
  assert.equal(rep.summary.denyToAllow, 0, 'the request the recorded config denied stays denied');
  assert.equal(rep.summary.indeterminate, 0);

  const snap = replayer.snap;
  const input = (o: { ns: string; app: string; method?: string; path: string; from?: string; address?: string }): CheckInput => ({
    requestId: 'r',
    method: o.method ?? 'GET',
    host: `${o.app}.${o.ns}.svc.cluster.local:8080`,
    path: o.path,
    query: '',
    headers: {},
    source: { ...(o.from ? { principal: `spiffe://cluster.local/ns/${o.from}` } : {}), address: o.address ?? '10.1.1.1', labels: {} },
    destination: { port: 8080, labels: { app: o.app } },
    contextExtensions: { namespace: o.ns },
  });
  const user = (scope: string, issuer = ISSUER): Identity => ({
    issuer, subject: 'zoe', requestPrincipal: `${issuer}/zoe`, audiences: ['shop'], scopes: scope.split(' '), claims: { iss: issuer, sub: 'zoe', scope }, tokenHash: '',
  });
  const decide = (i: CheckInput, id?: Identity) => {
    const d = authorize(i, id, snap);
    return d.allow ? 'allow' : d.reason;
  };
  const orders = { ns: 'shop', app: 'orders' };
  // Observed shapes with other ids and users are allowed…
  assert.equal(decide(input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/9999' }), user('orders:read')), 'allow');
  assert.equal(decide(input({ ...orders, from: 'shop/sa/bff', path: '/api/orders/0b7e2e0c-1f3e-4c5a-9d2b-6a8f7e1c3d4b' }), user('orders:read')), 'allow');
  assert.equal(decide(input({ ns: 'shop', app: 'payments', from: 'shop/sa/orders', path: '/charges/ch_9Xk2LmQ7pR4sT1vW8yZ3' })), 'allow');
  assert.equal(decide(input({ ns: 'shop', app: 'catalog', from: 'web/sa/new-widget', path: '/products/5' })), 'allow', 'namespace web was generalised');
  assert.equal(decide(input({ ns: 'shop', app: 'catalog', path: '/healthz' })), 'allow');
  assert.equal(decide(input({ ...orders, path: '/api/orders/77' }), user('orders:read')), 'allow', 'JWT caller without mTLS');
  // …and everything unobserved is denied.
  const denied: Array<[string, CheckInput, Identity | undefined, string]> = [
    ['unobserved principal', input({ ...orders, from: 'shop/sa/payments', path: '/api/orders/1001' }), user('orders:read'), 'no_policy_matched'],
    ['unobserved method', input({ ...orders, from: 'shop/sa/frontend', method: 'DELETE', path: '/api/orders/1001' }), user('orders:read orders:write'), 'no_policy_matched'],
    ['write without the write scope', input({ ...orders, from: 'shop/sa/frontend', method: 'POST', path: '/api/orders' }), user('orders:read'), 'insufficient_scope'],
    ['deeper path', input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/1001/items' }), user('orders:read'), 'no_policy_matched'],
    ['no JWT', input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/1001' }), undefined, 'token_missing'],
    ['other issuer', input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/1001' }), user('orders:read', 'https://evil.example.com'), 'no_policy_matched'],
    ['bff on an unobserved path', input({ ...orders, from: 'shop/sa/bff', path: '/api/orders' }), user('orders:read'), 'no_policy_matched'],
    ['frontend → payments', input({ ns: 'shop', app: 'payments', from: 'shop/sa/frontend', method: 'POST', path: '/charges' }), undefined, 'no_policy_matched'],
    ['GET /charges (only POST seen)', input({ ns: 'shop', app: 'payments', from: 'shop/sa/orders', path: '/charges' }), undefined, 'no_policy_matched'],
    ['catalog from another namespace', input({ ns: 'shop', app: 'catalog', from: 'shop/sa/frontend', path: '/products/5' }), undefined, 'no_policy_matched'],
    ['anonymous beyond /healthz', input({ ns: 'shop', app: 'catalog', path: '/products' }), undefined, 'no_policy_matched'],
    ['a mesh workload on the unauthenticated rule', input({ ns: 'shop', app: 'catalog', from: 'shop/sa/frontend', path: '/healthz' }), undefined, 'no_policy_matched'],
    ['a JWT caller on the unauthenticated rule', input({ ns: 'shop', app: 'catalog', path: '/healthz' }), user('orders:read'), 'no_policy_matched'],
    ['denied edge stays denied', input({ ns: 'legacy', app: 'reports', from: 'shop/sa/frontend', path: '/reports/daily' }), undefined, 'no_policy_matched'],
    ['unobserved workload', input({ ns: 'shop', app: 'inventory', from: 'shop/sa/frontend', path: '/api/orders' }), user('orders:read'), 'no_policy_matched'],
    ['same app label, other namespace', input({ ns: 'staging', app: 'orders', from: 'shop/sa/frontend', path: '/api/orders' }), user('orders:read'), 'no_policy_matched'],
  ];
  for (const [what, i, id, reason] of denied) assert.equal(decide(i, id), reason, what);
});

test('generate (CLI): round-trips through validate, stdin works, output is deterministic and order-independent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-gen-'));
  const out = join(dir, 'generated.yaml');
  const a = await cli(['policy', 'generate', '--from', FIXTURE, '--out', out]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /23 served request\(s\) → 4 policies, 8 rule\(s\)/);
  assert.match(a.stderr, /left out 1: served in observe mode with a rejected credential \(token_expired\)/);
  const v = await cli(['validate', out]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /OK \(0 issuer\(s\), 4 policies\)/);

  // Same records, shuffled, through stdin: byte-identical output.
  const lines = readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);
  const shuffled = lines.map((l, i) => [(i * 7919) % lines.length, l] as const).sort((x, y) => x[0] - y[0]).map(([, l]) => l);
  assert.notDeepEqual(shuffled, lines);
  const b = await cli(['policy', 'generate', '--from', '-'], ['npm banner line', ...shuffled].join('\n') + '\n');
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, readFileSync(out, 'utf8'));

  // --base: a complete config (issuers kept, policies appended) that validates as is.
  const base = join(dir, 'base.yaml');
  writeFileSync(base, `# my base config\nissuers:\n  - issuer: ${ISSUER}\n    jwksUri: https://idp.example.com/jwks\npolicies:\n  - name: allow-orders\n    namespace: shop\n    rules: []\n`);
  const c = await cli(['policy', 'generate', '--from', FIXTURE, '--base', base, '--out', join(dir, 'candidate.yaml')]);
  assert.equal(c.code, 0, c.stderr);
  const cand = readFileSync(join(dir, 'candidate.yaml'), 'utf8');
  assert.match(cand, /^# my base config/);
  const parsed = parse(cand) as { issuers: unknown[]; policies: Array<{ name: string; namespace?: string }> };
  assert.equal(parsed.issuers.length, 1);
  assert.deepEqual(parsed.policies.map((p) => `${p.namespace}/${p.name}`), ['shop/allow-orders', 'legacy/allow-reports', 'shop/allow-catalog', 'shop/allow-orders-2', 'shop/allow-payments']);
  const vc = await cli(['validate', join(dir, 'candidate.yaml')]);
  assert.equal(vc.code, 0, vc.stderr);

  const missing = await cli(['policy', 'generate', '--from', join(dir, 'nope.jsonl')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /ENOENT/);
});

test('generate: --namespace, --min-count, --namespace-threshold and --generalise', async () => {
  const recs = await records();
  const onlyShop = generate(recs, { namespace: 'shop' });
  assert.deepEqual(onlyShop.policies.map((p) => p.name), ['allow-catalog', 'allow-orders', 'allow-payments']);
  assert.equal(onlyShop.summary.leftOut['destination outside namespace shop'], 1);

  // --min-count 3: only edges seen at least 3 times survive.
  const frequent = generate(recs, { minCount: 3 });
  const paths = frequent.policies.flatMap((p) => p.rules!.flatMap((r) => r.to!.flatMap((t) => t.operation.paths!)));
  assert.deepEqual(paths.sort(), ['/api/orders/{*}', '/charges', '/products', '/products/{*}']);
  assert.ok(frequent.summary.leftOut['below --min-count 3']! > 0);

  // No namespace collapse: the three web principals are listed.
  const exact = generate(recs, { namespaceThreshold: 0 });
  const catalog = exact.policies.find((p) => p.name === 'allow-catalog')!;
  assert.deepEqual(catalog.rules![0]!.from, [{ source: { principals: ['cluster.local/ns/web/sa/cart', 'cluster.local/ns/web/sa/home', 'cluster.local/ns/web/sa/search'] } }]);

  // --generalise collapses a directory with three or more children into dir/{**}; never /{**}.
  const mk = (path: string, method = 'GET'): AuditRecord => {
    const line = JSON.stringify({
      log: 'audit', time: '2025-01-01T00:00:00.000Z', decision: 'allow', reason: 'observed', would_decide: { decision: 'deny', reason: 'no_policy_matched' },
      source: { principal: 'spiffe://cluster.local/ns/a/sa/b' }, destination: { host: 'x', namespace: 'a', labels: { app: 'x' } }, method, path,
    });
    return parseAuditLine(line, 1) as AuditRecord;
  };
  const recs2 = ['/api/orders', '/api/users/7', '/api/items', '/top', '/other'].map((p) => mk(p));
  recs2.push(mk('/api/users', 'POST'));
  const narrow = generate(recs2);
  assert.deepEqual(narrow.policies[0]!.rules![0]!.to!.flatMap((t) => t.operation.paths!).sort(), ['/api/items', '/api/orders', '/api/users', '/api/users/{*}', '/other', '/top']);
  const wide = generate(recs2, { generalise: true });
  assert.deepEqual(wide.policies[0]!.rules![0]!.to, [
    { operation: { methods: ['GET'], paths: ['/other', '/top'] } },
    { operation: { methods: ['GET', 'POST'], paths: ['/api/{**}'] } },
  ]);
  assert.match(wide.yaml, /--generalise/);
  resolveConfig(parseConfigText(wide.yaml));

  // Kubernetes service-account tokens name the calling workload: its exact subject, not the issuer.
  const sa = (sub: string) => {
    const r = mk('/sync');
    r.source = {};
    r.issuer = 'https://kubernetes.default.svc.cluster.local';
    r.subject = sub;
    r.auth = { scopes: [], claims: {}, truncated: [] };
    return r;
  };
  const k8s = generate([sa('system:serviceaccount:jobs:sync'), sa('system:serviceaccount:jobs:backup'), sa('alice')]);
  assert.deepEqual(k8s.policies[0]!.rules!.map((r) => r.from![0]!.source.requestPrincipals), [
    ['https://kubernetes.default.svc.cluster.local/system:serviceaccount:jobs:backup', 'https://kubernetes.default.svc.cluster.local/system:serviceaccount:jobs:sync'],
    ['https://kubernetes.default.svc.cluster.local/*'],
  ]);
});
