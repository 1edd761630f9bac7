// `zt-authz policy generate` on recorded mixed traffic (test/fixtures/migrate/, recorded through
// a real zt-authz in observe mode; see record-traffic.ts): the generated policies allow exactly
// the observed edges, deny unobserved ones (evaluated by the real engine), validate, and are
// deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config/resolve.js';
import { parseConfigText } from '../../src/config/parse.js';
import type { Config } from '../../src/config/types.js';
import { CRD, PolicySet } from '../../src/k8s/policies.js';
import { DecisionEngine } from '../../src/decision/engine.js';
import type { Snapshot } from '../../src/decision/snapshot.js';
import type { CheckInput, Identity } from '../../src/decision/types.js';
import { PolicyGenerator } from '../../src/migrate/generate.js';
import type { GenerateOptions } from '../../src/migrate/generate-options.js';
import { Replayer } from '../../src/migrate/replay.js';
import type { ReplayReport } from '../../src/migrate/replay-report.js';
import { parseAuditLine, type AuditRecord } from '../../src/observe/audit-record.js';
import { readAuditRecords } from '../../src/migrate/record.js';
import { isIdSegment, templatePath } from '../../src/migrate/paths.js';
import { loadCandidate } from '../../src/migrate/crd.js';
import type { PolicySpec } from '../../src/config/policy-schema.js';
import { runCli } from '../helpers/cli.js';

/** The policy stage's verdict for a request with this identity (what replay asks the engine). */
function authorize(input: CheckInput, identity: Identity | undefined, snap: Snapshot) {
  const engine = new DecisionEngine(() => snap);
  return engine.authorize(input, identity, engine.peersFor(input, identity)).verdict;
}

const FIXTURE = new URL('../../../test/fixtures/migrate/mixed-traffic.audit.jsonl', import.meta.url).pathname;
const ISSUER = 'https://idp.example.com';
const ISSUERS = [{ issuer: ISSUER, jwksUri: 'https://idp.example.com/jwks', audiences: ['shop'] }];
/** Kubernetes object names (DNS-1123 subdomain), as the API server checks them. */
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

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
  return resolveConfig({
    issuers: [{ issuer: ISSUER, jwksUri: 'https://idp.example.com/jwks', audiences: ['shop'] }],
    policies: raw.policies,
  });
}

interface Probe {
  what: string;
  input: CheckInput;
  identity?: Identity;
  /** 'allow' or the deny reason the fixture's generated policies must give. */
  expect: string;
}

/** Requests the generated policies must allow (observed shapes, other ids) or deny (unobserved). */
function probes(): Probe[] {
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
    issuer,
    subject: 'zoe',
    requestPrincipal: `${issuer}/zoe`,
    audiences: ['shop'],
    scopes: scope.split(' '),
    claims: { iss: issuer, sub: 'zoe', scope },
    tokenHash: '',
  });
  const orders = { ns: 'shop', app: 'orders' };
  const list: Array<[string, CheckInput, Identity | undefined, string]> = [
    // Observed shapes with other ids and users are allowed…
    ['frontend, another id', input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/9999' }), user('orders:read'), 'allow'],
    [
      'bff, a UUID',
      input({ ...orders, from: 'shop/sa/bff', path: '/api/orders/0b7e2e0c-1f3e-4c5a-9d2b-6a8f7e1c3d4b' }),
      user('orders:read'),
      'allow',
    ],
    [
      'orders → payments, another opaque id',
      input({ ns: 'shop', app: 'payments', from: 'shop/sa/orders', path: '/charges/ch_9Xk2LmQ7pR4sT1vW8yZ3' }),
      undefined,
      'allow',
    ],
    [
      'namespace web was generalised',
      input({ ns: 'shop', app: 'catalog', from: 'web/sa/new-widget', path: '/products/5' }),
      undefined,
      'allow',
    ],
    ['anonymous health check', input({ ns: 'shop', app: 'catalog', path: '/healthz' }), undefined, 'allow'],
    ['JWT caller without mTLS', input({ ...orders, path: '/api/orders/77' }), user('orders:read'), 'allow'],
    // …and everything unobserved is denied.
    [
      'unobserved principal',
      input({ ...orders, from: 'shop/sa/payments', path: '/api/orders/1001' }),
      user('orders:read'),
      'no_policy_matched',
    ],
    [
      'unobserved method',
      input({ ...orders, from: 'shop/sa/frontend', method: 'DELETE', path: '/api/orders/1001' }),
      user('orders:read orders:write'),
      'no_policy_matched',
    ],
    [
      'write without the write scope',
      input({ ...orders, from: 'shop/sa/frontend', method: 'POST', path: '/api/orders' }),
      user('orders:read'),
      'insufficient_scope',
    ],
    [
      'deeper path',
      input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/1001/items' }),
      user('orders:read'),
      'no_policy_matched',
    ],
    ['no JWT', input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/1001' }), undefined, 'token_missing'],
    [
      'other issuer',
      input({ ...orders, from: 'shop/sa/frontend', path: '/api/orders/1001' }),
      user('orders:read', 'https://evil.example.com'),
      'no_policy_matched',
    ],
    ['bff on an unobserved path', input({ ...orders, from: 'shop/sa/bff', path: '/api/orders' }), user('orders:read'), 'no_policy_matched'],
    [
      'frontend → payments',
      input({ ns: 'shop', app: 'payments', from: 'shop/sa/frontend', method: 'POST', path: '/charges' }),
      undefined,
      'no_policy_matched',
    ],
    [
      'GET /charges (only POST seen)',
      input({ ns: 'shop', app: 'payments', from: 'shop/sa/orders', path: '/charges' }),
      undefined,
      'no_policy_matched',
    ],
    [
      'catalog from another namespace',
      input({ ns: 'shop', app: 'catalog', from: 'shop/sa/frontend', path: '/products/5' }),
      undefined,
      'no_policy_matched',
    ],
    ['anonymous beyond /healthz', input({ ns: 'shop', app: 'catalog', path: '/products' }), undefined, 'no_policy_matched'],
    [
      'a mesh workload on the unauthenticated rule',
      input({ ns: 'shop', app: 'catalog', from: 'shop/sa/frontend', path: '/healthz' }),
      undefined,
      'no_policy_matched',
    ],
    [
      'a JWT caller on the unauthenticated rule',
      input({ ns: 'shop', app: 'catalog', path: '/healthz' }),
      user('orders:read'),
      'no_policy_matched',
    ],
    [
      'denied edge stays denied',
      input({ ns: 'legacy', app: 'reports', from: 'shop/sa/frontend', path: '/reports/daily' }),
      undefined,
      'no_policy_matched',
    ],
    [
      'unobserved workload',
      input({ ns: 'shop', app: 'inventory', from: 'shop/sa/frontend', path: '/api/orders' }),
      user('orders:read'),
      'no_policy_matched',
    ],
    [
      'same app label, other namespace',
      input({ ns: 'staging', app: 'orders', from: 'shop/sa/frontend', path: '/api/orders' }),
      user('orders:read'),
      'no_policy_matched',
    ],
  ];
  return list.map(([what, i, identity, expect]) => ({ what, input: i, ...(identity ? { identity } : {}), expect }));
}

test('path templates: ids become {*}, names stay, nothing wider than a segment', () => {
  for (const id of [
    '42',
    '3f2b8c1e-9a4d-4e1b-8f3a-2c7d5e6f8a9b',
    'ch_3MmlLrLkdIwHu7ix0snN0B15',
    '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    'a1b2c3d4e5',
    'usr_2x9Kq3',
    '2024-05-01',
    'alice@example.com',
    '507f1f77bcf86cd799439011',
  ]) {
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
  assert.ok(
    'unrepresentable' in templatePath('/files/report*'),
    'a "*" in a path cannot be matched exactly: not generalised to a {*} that would not match it',
  );
  assert.ok('unrepresentable' in templatePath('/files/42/report*'));
  // A literal outside the template alphabet keeps the exact path (a template would be invalid).
  assert.deepEqual(templatePath('/items/42/k=v'), { value: '/items/42/k=v' });
  assert.deepEqual(templatePath('/items/42/view'), { value: '/items/{*}/view' });
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
    { key: 'request.auth.scopes', values: ['orders:read'] },
    { key: 'request.auth.scopes', values: ['orders:write'] },
  ]);
  assert.ok(!yaml.includes('openid') && !yaml.includes('values:\n              - profile'));
  // ids → {*}; the query string was never recorded.
  assert.match(yaml, /- \/api\/orders\/\{\*\} # 3 requests, first /);
  assert.ok(!yaml.includes('1001') && !yaml.includes('view=full') && !yaml.includes('3f2b8c1e'));
  // Three principals of namespace web → namespaces: [web].
  const catalog = byName.get('allow-catalog')!;
  assert.deepEqual(catalog.rules![0]!.from, [{ source: { namespaces: ['web'] } }]);
  // Unauthenticated health checks: only callers with neither an mTLS identity nor a JWT, flagged.
  assert.deepEqual(catalog.rules![1], {
    from: [{ source: { notPrincipals: ['*'], notRequestPrincipals: ['*'] } }],
    to: [{ operation: { methods: ['GET'], paths: ['/healthz'] } }],
  });
  assert.match(yaml, /# from callers with neither mTLS identity nor JWT \(seen from 10\.9\.0\.1\): 2 requests/);
  assert.deepEqual(summary.warnings, [
    'shop/app=catalog: some callers had neither an mTLS identity nor a JWT; their rule admits any unauthenticated caller for those operations',
  ]);
  // The JWT caller without mTLS: only callers without an mTLS identity.
  assert.ok(
    orders.rules!.some(
      (r) => JSON.stringify(r.from) === JSON.stringify([{ source: { notPrincipals: ['*'], requestPrincipals: [`${ISSUER}/*`] } }]),
    ),
  );
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
  const decide = (i: CheckInput, id?: Identity) => {
    const d = authorize(i, id, snap);
    return d.allow ? 'allow' : d.reason;
  };
  // Observed shapes with other ids and users are allowed; everything unobserved is denied.
  for (const p of probes()) assert.equal(decide(p.input, p.identity), p.expect, p.what);
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
  const shuffled = lines
    .map((l, i) => [(i * 7919) % lines.length, l] as const)
    .sort((x, y) => x[0] - y[0])
    .map(([, l]) => l);
  assert.notDeepEqual(shuffled, lines);
  const b = await cli(['policy', 'generate', '--from', '-'], ['npm banner line', ...shuffled].join('\n') + '\n');
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, readFileSync(out, 'utf8'));

  // --base: a complete config (issuers kept, policies appended) that validates as is.
  const base = join(dir, 'base.yaml');
  writeFileSync(
    base,
    `# my base config\nissuers:\n  - issuer: ${ISSUER}\n    jwksUri: https://idp.example.com/jwks\n    audiences: [shop]\npolicies:\n  - name: allow-orders\n    namespace: shop\n    rules: []\n`,
  );
  const c = await cli(['policy', 'generate', '--from', FIXTURE, '--base', base, '--out', join(dir, 'candidate.yaml')]);
  assert.equal(c.code, 0, c.stderr);
  const cand = readFileSync(join(dir, 'candidate.yaml'), 'utf8');
  assert.match(cand, /^# my base config/);
  const parsed = parse(cand) as { issuers: unknown[]; policies: Array<{ name: string; namespace?: string }> };
  assert.equal(parsed.issuers.length, 1);
  assert.deepEqual(
    parsed.policies.map((p) => `${p.namespace}/${p.name}`),
    ['shop/allow-orders', 'legacy/allow-reports', 'shop/allow-catalog', 'shop/allow-orders-2', 'shop/allow-payments'],
  );
  const vc = await cli(['validate', join(dir, 'candidate.yaml')]);
  assert.equal(vc.code, 0, vc.stderr);

  const missing = await cli(['policy', 'generate', '--from', join(dir, 'nope.jsonl')]);
  assert.equal(missing.code, 3, 'an unreadable file is a runtime error');
  assert.match(missing.stderr, /ENOENT/);
});

test('generate: --namespace, --min-count, --namespace-threshold and --generalise', async () => {
  const recs = await records();
  const onlyShop = generate(recs, { namespace: 'shop' });
  assert.deepEqual(
    onlyShop.policies.map((p) => p.name),
    ['allow-catalog', 'allow-orders', 'allow-payments'],
  );
  assert.equal(onlyShop.summary.leftOut['destination outside namespace shop'], 1);

  // --min-count 3: only edges seen at least 3 times survive.
  const frequent = generate(recs, { minCount: 3 });
  const paths = frequent.policies.flatMap((p) => p.rules!.flatMap((r) => r.to!.flatMap((t) => t.operation.paths!)));
  assert.deepEqual(paths.sort(), ['/api/orders/{*}', '/charges', '/products', '/products/{*}']);
  assert.ok(frequent.summary.leftOut['below --min-count 3']! > 0);

  // No namespace collapse: the three web principals are listed.
  const exact = generate(recs, { namespaceThreshold: 0 });
  const catalog = exact.policies.find((p) => p.name === 'allow-catalog')!;
  assert.deepEqual(catalog.rules![0]!.from, [
    { source: { principals: ['cluster.local/ns/web/sa/cart', 'cluster.local/ns/web/sa/home', 'cluster.local/ns/web/sa/search'] } },
  ]);

  // --generalise collapses a directory with three or more children into dir/{**}; never /{**}.
  const mk = (path: string, method = 'GET'): AuditRecord => {
    const line = JSON.stringify({
      log: 'audit',
      time: '2025-01-01T00:00:00.000Z',
      decision: 'allow',
      reason: 'observed',
      would_decide: { decision: 'deny', reason: 'no_policy_matched' },
      source: { principal: 'spiffe://cluster.local/ns/a/sa/b' },
      destination: { host: 'x', namespace: 'a', labels: { app: 'x' } },
      method,
      path,
    });
    return parseAuditLine(line, 1) as AuditRecord;
  };
  const recs2 = ['/api/orders', '/api/users/7', '/api/items', '/top', '/other'].map((p) => mk(p));
  recs2.push(mk('/api/users', 'POST'));
  const narrow = generate(recs2);
  assert.deepEqual(narrow.policies[0]!.rules![0]!.to!.flatMap((t) => t.operation.paths!).sort(), [
    '/api/items',
    '/api/orders',
    '/api/users',
    '/api/users/{*}',
    '/other',
    '/top',
  ]);
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
  assert.deepEqual(
    k8s.policies[0]!.rules!.map((r) => r.from![0]!.source.requestPrincipals),
    [
      [
        'https://kubernetes.default.svc.cluster.local/system:serviceaccount:jobs:backup',
        'https://kubernetes.default.svc.cluster.local/system:serviceaccount:jobs:sync',
      ],
      ['https://kubernetes.default.svc.cluster.local/*'],
    ],
  );
});

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}

function manifests(yaml: string): Manifest[] {
  return parseAllDocuments(yaml).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS() as Manifest;
  });
}

/** The Kubernetes integration's PolicySet, fed the manifests as the informer would. */
function policySet(ms: Manifest[], rootNamespace?: string): { set: PolicySet; rejected: string[] } {
  const rejected: string[] = [];
  const set = new PolicySet({
    logger: pino({ level: 'silent' }),
    rootNamespace,
    rolesClaim: () => 'roles',
    onChange() {},
    onRejected: (k, m) => void rejected.push(`${k}: ${m}`),
  });
  for (const m of ms) set.apply('add', { ...m, metadata: { ...m.metadata, generation: 1 } });
  return { set, rejected };
}

/** A replay report with policy names reduced to their last part ("shop/allow-orders" → "allow-orders"). */
function comparable(rep: ReplayReport): unknown {
  return JSON.parse(JSON.stringify(rep).replace(/\((?:[a-z0-9-]+)\/([A-Za-z0-9_.-]+)\)/g, '($1)'));
}

test(
  'generate --format crd: ZeroTrustPolicy manifests the Kubernetes validator accepts, deciding exactly like the config output',
  { timeout: 120000 },
  async () => {
    const recs = await records();
    const cfg = generate(recs);
    const crd = generate(recs, { format: 'crd' });
    assert.deepEqual(crd.policies, cfg.policies, 'the same policies, written as resources');

    // One document per policy: metadata from name and namespace, the rest as spec.
    const ms = manifests(crd.yaml);
    assert.equal(ms.length, 4);
    ms.forEach((m, i) => {
      const { name, namespace, ...spec } = cfg.policies[i]!;
      assert.equal(m.apiVersion, `${CRD.group}/${CRD.version}`);
      assert.equal(m.kind, CRD.kind);
      assert.deepEqual(m.metadata, { name, namespace });
      assert.match(m.metadata.name, DNS1123);
      assert.deepEqual(m.spec, spec);
    });
    // The comments (counts, first/last seen) are kept.
    assert.match(crd.yaml, /^# Generated by `zt-authz policy generate` from 25 audit record\(s\): 23 served request\(s\)/);
    assert.match(crd.yaml, /# {3}zt-authz policy replay --config BASE\.yaml --policies THIS\.yaml --from AUDIT\.jsonl/);
    assert.match(
      crd.yaml,
      /\n---\n# shop\/app=orders: 10 requests, first \d{4}-[^\n]*\n\napiVersion: zt-authz\.io\/v1alpha1\nkind: ZeroTrustPolicy\nmetadata:\n {2}name: allow-orders\n {2}namespace: shop\nspec:\n/,
    );
    assert.match(crd.yaml, /# from cluster\.local\/ns\/shop\/sa\/orders: 4 requests, first /);
    assert.match(crd.yaml, /- \/api\/orders\/\{\*\} # 3 requests, first /);
    assert.match(crd.yaml, /# already allowed by the recorded config: legacy-reports \(1\)/);

    // Validated by the same PolicySet the service runs: every resource Accepted.
    const { set, rejected } = policySet(ms);
    assert.deepEqual(rejected, []);
    for (const p of cfg.policies) assert.equal(set.condition(`${p.namespace}/${p.name}`)?.status, 'True', p.name);

    // The same decisions: on every recorded request (replayed one by one), and on the probes.
    const base = resolveConfig({ issuers: ISSUERS });
    const asConfig = candidate(cfg.yaml);
    const asCrd: Config = { ...base, policies: set.specs() };
    for (const r of recs) {
      const one = (c: Config) => {
        const rp = new Replayer(c);
        rp.add(structuredClone(r));
        return comparable(rp.finish());
      };
      assert.deepEqual(one(asCrd), one(asConfig), `line ${r.line}`);
    }
    const [a, b] = [new Replayer(asConfig).snap, new Replayer(asCrd).snap];
    for (const p of probes()) {
      const da = authorize(p.input, p.identity, a);
      const db = authorize(p.input, p.identity, b);
      assert.equal(da.allow ? 'allow' : da.reason, p.expect, p.what);
      assert.equal(db.allow ? 'allow' : db.reason, p.expect, p.what);
      if (da.policy) assert.equal(db.policy, `${p.input.contextExtensions.namespace}/${da.policy}`, p.what);
    }

    // The CLI: the same bytes; replayed as config and as manifests (on a base config, or alone
    // through --config), with the same report and exit code.
    const dir = mkdtempSync(join(tmpdir(), 'zt-gen-crd-'));
    const crdFile = join(dir, 'policies.yaml');
    const g = await cli(['policy', 'generate', '--from', FIXTURE, '--format', 'crd', '--out', crdFile]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(readFileSync(crdFile, 'utf8'), crd.yaml);
    const cfgFile = join(dir, 'candidate.yaml');
    writeFileSync(
      cfgFile,
      `issuers:\n  - issuer: ${ISSUER}\n    jwksUri: https://idp.example.com/jwks\n    audiences: [shop]\n${cfg.yaml}`,
    );
    const baseFile = join(dir, 'base.yaml');
    writeFileSync(baseFile, `issuers:\n  - issuer: ${ISSUER}\n    jwksUri: https://idp.example.com/jwks\n    audiences: [shop]\n`);
    const replay = async (...args: string[]) => {
      const r = await cli(['policy', 'replay', ...args, '--from', FIXTURE, '--json']);
      return { code: r.code, report: comparable(JSON.parse(r.stdout) as ReplayReport) };
    };
    const viaConfig = await replay('--config', cfgFile);
    assert.equal(viaConfig.code, 1, 'the expired token regresses, whatever the policies');
    assert.deepEqual(await replay('--config', baseFile, '--policies', crdFile), viaConfig);
    // Without a base config (defaults), or with the manifests given as --config: the same policies.
    assert.deepEqual(loadCandidate(undefined, [crdFile], undefined).policies, set.specs());
    assert.deepEqual(loadCandidate(crdFile, [], undefined).policies, set.specs());

    assert.throws(
      () => new PolicyGenerator({ format: 'crd', base: { text: readFileSync(baseFile, 'utf8'), source: baseFile } }),
      /--base writes a configuration file; with --format crd/,
    );
    const badFormat = await cli(['policy', 'generate', '--from', FIXTURE, '--format', 'json']);
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.stderr, /--format takes config or crd/);
  },
);

test('generate --format crd: DNS-1123 names, policies without a namespace go to --root-namespace or are refused', async () => {
  const line = (dest: { host: string; namespace?: string; labels?: Record<string, string> }) =>
    JSON.stringify({
      log: 'audit',
      time: '2025-01-01T00:00:00.000Z',
      decision: 'allow',
      reason: 'observed',
      would_decide: { decision: 'deny', reason: 'no_policy_matched' },
      source: { principal: 'spiffe://cluster.local/ns/shop/sa/billing' },
      destination: { labels: {}, ...dest },
      method: 'GET',
      path: '/v1/entries/42',
    });
  const mk = (dest: Parameters<typeof line>[0]) => parseAuditLine(line(dest), 1) as AuditRecord;
  const dests = [
    { host: 'ledger_svc.example.com:8443' }, // no namespace, no labels: scoped by host
    { host: 'a', namespace: 'shop', labels: { app: 'Orders_API' } },
    { host: 'b', namespace: 'shop', labels: { app: 'orders-api' } },
  ];
  const recs = dests.map(mk);
  // The config format keeps the names the policy schema allows.
  assert.deepEqual(
    generate(recs).policies.map((p) => `${p.namespace ?? ''}/${p.name}`),
    ['/allow-ledger_svc.example.com', 'shop/allow-Orders_API', 'shop/allow-orders-api'],
  );

  // Without a root namespace the host-scoped policy cannot be a namespaced resource: refused, named.
  assert.throws(
    () => generate(recs, { format: 'crd' }),
    /1 policy has no namespace .*: allow-ledger-svc\.example\.com\. A ZeroTrustPolicy is namespaced: pass --root-namespace NS/,
  );

  const out = generate(recs, { format: 'crd', rootNamespace: 'zt-system' });
  const ms = manifests(out.yaml);
  // Lower-cased names collide: the second gets a suffix, never a duplicate.
  assert.deepEqual(
    ms.map((m) => `${m.metadata.namespace}/${m.metadata.name}`),
    ['zt-system/allow-ledger-svc.example.com', 'shop/allow-orders-api', 'shop/allow-orders-api-2'],
  );
  for (const m of ms) assert.match(m.metadata.name, DNS1123);
  assert.deepEqual(ms[0]!.spec.rules, [
    {
      from: [{ source: { principals: ['cluster.local/ns/shop/sa/billing'] } }],
      to: [{ operation: { hosts: ['ledger_svc.example.com:*'], methods: ['GET'], paths: ['/v1/entries/{*}'] } }],
    },
  ]);
  assert.match(out.yaml, /# no namespace: in the root namespace zt-system, so it applies in every namespace/);
  assert.match(out.yaml, /--format crd, --root-namespace zt-system\./);

  // In the root namespace the resource applies everywhere, like the namespace-less config policy.
  const { set, rejected } = policySet(ms, 'zt-system');
  assert.deepEqual(rejected, []);
  const specs = set.specs();
  assert.equal(specs.find((p) => p.name === 'zt-system/allow-ledger-svc.example.com')!.namespace, undefined);

  // A namespaced policy cannot live in the root namespace: it would widen to every namespace.
  assert.throws(
    () =>
      generate([...recs, mk({ host: 'c', namespace: 'zt-system', labels: { app: 'ops' } })], { format: 'crd', rootNamespace: 'zt-system' }),
    /allow-ops: its namespace "zt-system" is the root namespace/,
  );
  assert.throws(
    () => generate(recs, { format: 'crd', rootNamespace: 'Not_A_Namespace' }),
    /--root-namespace: "Not_A_Namespace" is not a namespace name/,
  );
  assert.throws(() => generate(recs, { rootNamespace: 'zt-system' }), /--root-namespace only applies to --format crd/);

  // CLI: the refusal is an error naming the policy; replay needs the same root namespace.
  const dir = mkdtempSync(join(tmpdir(), 'zt-gen-root-'));
  const audit = join(dir, 'audit.jsonl');
  writeFileSync(audit, dests.map(line).join('\n') + '\n');
  const refused = await cli(['policy', 'generate', '--from', audit, '--format', 'crd']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /allow-ledger-svc\.example\.com/);
  assert.equal(refused.stdout, '');
  const crdFile = join(dir, 'policies.yaml');
  const ok = await cli(['policy', 'generate', '--from', audit, '--format', 'crd', '--root-namespace', 'zt-system', '--out', crdFile]);
  assert.equal(ok.code, 0, ok.stderr);
  const withRoot = await cli(['policy', 'replay', '--policies', crdFile, '--root-namespace', 'zt-system', '--from', audit]);
  assert.equal(withRoot.code, 0, withRoot.stdout + withRoot.stderr);
  // The root namespace can also come from the config's kubernetes.rootNamespace.
  const rootBase = join(dir, 'base.yaml');
  writeFileSync(rootBase, 'kubernetes:\n  rootNamespace: zt-system\n');
  assert.deepEqual(loadCandidate(rootBase, [crdFile], undefined).policies, specs);
  assert.equal(
    loadCandidate(undefined, [crdFile], undefined).policies.find((p) => p.name === 'zt-system/allow-ledger-svc.example.com')!.namespace,
    'zt-system',
  );
  // Elsewhere zt-system is an ordinary namespace, and the host-scoped edge would break.
  const noRoot = await cli(['policy', 'replay', '--policies', crdFile, '--from', audit]);
  assert.equal(noRoot.code, 1, noRoot.stdout + noRoot.stderr);
  assert.match(noRoot.stdout, /cluster\.local\/ns\/shop\/sa\/billing → host=ledger_svc\.example\.com +1 +1 \(1 obs\)/);
});
