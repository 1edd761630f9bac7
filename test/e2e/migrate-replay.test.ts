// `zt-authz policy replay`: a tightened candidate produces the expected allow→deny diff and a
// failing exit code (real CLI); a loosened one reports deny→allow; records whose outcome depends
// on data the audit log does not hold (headers, unrecorded claims, hashed subjects) are
// indeterminate rather than guessed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { resolveConfig } from '../../src/config/resolve.js';
import { PolicyGenerator } from '../../src/migrate/generate.js';
import { Replayer } from '../../src/migrate/replay.js';
import type { ReplayReport } from '../../src/migrate/replay-report.js';
import { hashSubject, parseAuditLine, type AuditRecord } from '../../src/observe/audit-record.js';
import { readAuditRecords } from '../../src/migrate/record.js';
import { loadCandidate } from '../../src/migrate/crd.js';
import type { PolicySpec } from '../../src/config/policy-schema.js';
import { runCli } from '../helpers/cli.js';

const FIXTURE = new URL('../../../test/fixtures/migrate/mixed-traffic.audit.jsonl', import.meta.url).pathname;
const ISSUER = 'https://idp.example.com';
const ISSUERS = [{ issuer: ISSUER, jwksUri: 'https://idp.example.com/jwks', audiences: ['shop'] }];

const cli = (args: string[], input?: string) => runCli(args, input === undefined ? {} : { input });

async function generated(): Promise<PolicySpec[]> {
  const g = new PolicyGenerator();
  await readAuditRecords(FIXTURE, (r) => g.add(r));
  return g.finish().policies;
}

test(
  'replay (CLI): a tightened candidate fails with the allow→deny diff per edge; a loosened one reports deny→allow',
  { timeout: 120000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zt-replay-'));
    const policies = await generated();

    // The generated policies themselves: only the expired token regresses (no policy can admit it).
    const exact = join(dir, 'exact.yaml');
    writeFileSync(exact, stringify({ issuers: ISSUERS, policies }));
    const e1 = await cli(['policy', 'replay', '--config', exact, '--from', FIXTURE]);
    assert.equal(e1.code, 1, e1.stdout + e1.stderr);
    assert.match(e1.stdout, /GET \/api\/orders ×1: now token_expired \(rejected before the policy stage, not re-evaluated\)/);
    const e2 = await cli(['policy', 'replay', '--config', exact, '--from', FIXTURE, '--ignore-rejected-credentials']);
    assert.equal(e2.code, 0, e2.stdout + e2.stderr);
    assert.match(e2.stdout, /OK: no request that went through would be denied/);
    assert.match(e2.stdout, /Observe mode: 23 requests the recorded config would deny: 22 now allowed, 1 still denied/);

    // Tightened: payments no longer allowed at all; GET on orders now needs orders:admin.
    const tight = structuredClone(policies).filter((p) => p.name !== 'allow-payments');
    const orders = tight.find((p) => p.name === 'allow-orders')!;
    const frontendGet = orders.rules!.find(
      (r) => r.from?.[0]?.source.principals?.[0] === 'cluster.local/ns/shop/sa/frontend' && r.to?.[0]?.operation.methods?.[0] === 'GET',
    )!;
    frontendGet.when = [{ key: 'request.auth.scopes', values: ['orders:admin'] }];
    const tightFile = join(dir, 'tight.yaml');
    writeFileSync(tightFile, stringify({ issuers: ISSUERS, policies: tight }));
    const t = await cli(['policy', 'replay', '--config', tightFile, '--from', FIXTURE, '--ignore-rejected-credentials']);
    assert.equal(t.code, 1, t.stdout + t.stderr);
    const rows = t.stdout.split('\n');
    const row = (edge: string) => rows.find((l) => l.startsWith(edge))?.split(/\s{2,}/);
    assert.deepEqual(row('cluster.local/ns/shop/sa/orders → shop/app=payments'), [
      'cluster.local/ns/shop/sa/orders → shop/app=payments',
      '4',
      '4 (4 obs)',
      '0',
      '0',
      '0',
    ]);
    assert.deepEqual(row(`cluster.local/ns/shop/sa/frontend + jwt ${ISSUER} → shop/app=orders`), [
      `cluster.local/ns/shop/sa/frontend + jwt ${ISSUER} → shop/app=orders`,
      '7',
      '5 (5 obs)',
      '0',
      '2',
      '0',
    ]);
    assert.match(
      t.stdout,
      /allow→deny +POST \/charges ×3: now no_policy_matched; before: served in observe mode; recorded config would deny: no_policy_matched/,
    );
    assert.match(t.stdout, /allow→deny +GET \/charges\/\{\*\} ×1: now no_policy_matched/);
    assert.match(t.stdout, /allow→deny +GET \/api\/orders\/\{\*\} ×3: now insufficient_scope/);
    assert.match(t.stdout, /allow→deny +GET \/api\/orders ×2: now insufficient_scope/);
    assert.match(t.stdout, /allow→deny: 10 \(10 served only in observe mode\)/);
    assert.match(t.stdout, /FAIL: 9 requests that went through would be denied/);

    // The same as JSON, from stdin.
    const j = await cli(['policy', 'replay', '--config', tightFile, '--from', '-', '--json'], readFileSync(FIXTURE, 'utf8'));
    assert.equal(j.code, 1);
    const rep = JSON.parse(j.stdout) as ReplayReport & { input: { audit: number; other: number } };
    assert.equal(rep.input.audit, 25);
    assert.equal(rep.summary.allowToDeny, 10);
    assert.equal(rep.summary.failing, 10);
    assert.deepEqual(
      rep.edges.filter((e) => e.allowToDeny).map((e) => [e.source, e.destination, e.allowToDeny]),
      [
        ['cluster.local/ns/shop/sa/frontend', 'shop/app=orders', 1],
        [`cluster.local/ns/shop/sa/frontend + jwt ${ISSUER}`, 'shop/app=orders', 5],
        ['cluster.local/ns/shop/sa/orders', 'shop/app=payments', 4],
      ],
    );

    // Loosened: the legacy namespace opened up. The enforce-mode deny becomes an allow: reported,
    // not a failure.
    const loose = [...structuredClone(policies), { name: 'legacy-open', namespace: 'legacy', action: 'ALLOW' as const, rules: [{}] }];
    const looseFile = join(dir, 'loose.yaml');
    writeFileSync(looseFile, stringify({ issuers: ISSUERS, policies: loose, mode: { default: 'observe' } }));
    const l = await cli(['policy', 'replay', '--config', looseFile, '--from', FIXTURE, '--ignore-rejected-credentials']);
    assert.equal(l.code, 0, l.stdout + l.stderr);
    assert.match(l.stdout, /cluster\.local\/ns\/shop\/sa\/frontend → legacy\/app=reports +1 +0 +1 +0 +0/);
    assert.match(l.stdout, /deny→allow +GET \/reports\/daily ×1: now allowed \(legacy-open\); before: denied: no_policy_matched/);
    assert.match(l.stdout, /Note: the candidate puts default in observe mode; replay shows what enforcing it would decide/);

    const bad = await cli(['policy', 'replay', '--from', FIXTURE]);
    assert.equal(bad.code, 2);
  },
);

// ---------------------------------------------------------------------------------------------

function rec(o: {
  path: string;
  sub?: string;
  hashed?: boolean;
  claims?: Record<string, unknown>;
  anonymous?: boolean;
  decision?: 'allow' | 'deny';
}): AuditRecord {
  const sub = o.sub ?? 'alice';
  const line = JSON.stringify({
    log: 'audit',
    time: '2025-01-01T00:00:00.000Z',
    decision: o.decision ?? 'allow',
    reason: o.decision === 'deny' ? 'no_policy_matched' : 'allowed',
    source: { principal: 'spiffe://cluster.local/ns/shop/sa/frontend', address: '10.0.0.1' },
    destination: { host: 'api.shop', namespace: 'shop', labels: { app: 'api' } },
    method: 'GET',
    path: o.path,
    ...(o.anonymous
      ? {}
      : {
          issuer: ISSUER,
          ...(o.hashed ? { subject_hash: hashSubject(ISSUER, sub) } : { subject: sub }),
          auth: { audiences: ['shop'], scopes: ['read'], claims: { azp: 'web', acr: null, amr: null, roles: null, ...(o.claims ?? {}) } },
        }),
  });
  return parseAuditLine(line, 1) as AuditRecord;
}

function replay(policies: PolicySpec[], records: AuditRecord[]): ReplayReport {
  const r = new Replayer(resolveConfig({ issuers: ISSUERS, policies }));
  for (const x of records) r.add(x);
  return r.finish();
}

function outcome(rep: ReplayReport): string {
  const e = rep.edges[0]!;
  if (e.indeterminate) return `indeterminate: ${e.details[0]!.now}`;
  if (e.allowToDeny) return 'allow→deny';
  if (e.denyToAllow) return 'deny→allow';
  return 'unchanged';
}

const allow = (name: string, rule: Record<string, unknown>): PolicySpec => ({
  name,
  namespace: 'shop',
  action: 'ALLOW',
  rules: [rule],
});
const deny = (name: string, rule: Record<string, unknown>): PolicySpec => ({
  name,
  namespace: 'shop',
  action: 'DENY',
  rules: [rule],
});
const to = (path: string) => ({ to: [{ operation: { paths: [path] } }] });

test('replay: hashed subjects are compared by hash; what the record cannot tell is indeterminate', () => {
  const exactAlice = allow('exact', { from: [{ source: { requestPrincipals: [`${ISSUER}/alice`] } }], ...to('/a') });
  // Exact requestPrincipals: the hash of "<iss>/alice" recovers alice; bob is determinately not alice.
  assert.equal(outcome(replay([exactAlice], [rec({ path: '/a', hashed: true })])), 'unchanged');
  assert.equal(outcome(replay([exactAlice], [rec({ path: '/a', sub: 'bob', hashed: true })])), 'allow→deny');
  // Any-subject patterns of this issuer need no subject.
  assert.equal(
    outcome(
      replay(
        [allow('iss', { from: [{ source: { requestPrincipals: [`${ISSUER}/*`] } }], ...to('/a') })],
        [rec({ path: '/a', sub: 'carol', hashed: true })],
      ),
    ),
    'unchanged',
  );
  assert.equal(
    outcome(
      replay(
        [allow('other', { from: [{ source: { requestPrincipals: ['https://other.example.com/*'] } }], ...to('/a') })],
        [rec({ path: '/a', sub: 'carol', hashed: true })],
      ),
    ),
    'allow→deny',
  );
  // A prefix over the subject cannot be decided from a hash…
  const prefix = allow('prefix', { from: [{ source: { requestPrincipals: [`${ISSUER}/car*`] } }], ...to('/a') });
  assert.equal(
    outcome(replay([prefix], [rec({ path: '/a', sub: 'carol', hashed: true })])),
    'indeterminate: an ALLOW policy depends on the subject (recorded as a hash)',
  );
  // …but can from a plain subject, and request.auth.claims[sub] works the same way.
  assert.equal(outcome(replay([prefix], [rec({ path: '/a', sub: 'carol' })])), 'unchanged');
  const subClaim = allow('sub', { when: [{ key: 'request.auth.claims[sub]', values: ['carol'] }], ...to('/a') });
  assert.equal(outcome(replay([subClaim], [rec({ path: '/a', sub: 'carol', hashed: true })])), 'unchanged');

  // Header values are never recorded.
  const header = allow('hdr', { when: [{ key: 'request.headers[x-tenant]', values: ['acme'] }], ...to('/c') });
  assert.match(outcome(replay([header], [rec({ path: '/c' })])), /^indeterminate: an ALLOW policy depends on request headers/);
  // Claims: recorded ones (azp, roles, audit.claims) decide; others are indeterminate.
  const tenant = allow('tenant', { when: [{ key: 'request.auth.claims[tenant]', values: ['acme'] }], ...to('/d') });
  assert.match(outcome(replay([tenant], [rec({ path: '/d' })])), /^indeterminate: .*claim tenant \(not recorded; see audit\.claims\)/);
  assert.equal(outcome(replay([tenant], [rec({ path: '/d', claims: { tenant: 'acme' } })])), 'unchanged');
  assert.equal(outcome(replay([tenant], [rec({ path: '/d', claims: { tenant: null } })])), 'allow→deny', 'recorded as absent');
  assert.equal(
    outcome(replay([allow('azp', { when: [{ key: 'request.auth.presenter', values: ['mobile'] }], ...to('/d') })], [rec({ path: '/d' })])),
    'allow→deny',
  );
  // Anonymous requests have no claims to miss.
  assert.equal(outcome(replay([tenant], [rec({ path: '/d', anonymous: true, decision: 'deny' })])), 'unchanged');

  // A DENY that depends on a header matters only if the request could otherwise be allowed.
  const hdrDeny = deny('hdr-deny', { when: [{ key: 'request.headers[x-debug]', values: ['1'] }], ...to('/e') });
  assert.match(
    outcome(replay([hdrDeny, allow('all-e', to('/e'))], [rec({ path: '/e' })])),
    /^indeterminate: a DENY policy depends on request headers/,
  );
  assert.equal(outcome(replay([hdrDeny], [rec({ path: '/e' })])), 'allow→deny');
  // An unrelated rule with an unknown input does not make a decided request indeterminate.
  assert.equal(outcome(replay([header, allow('plain', to('/c'))], [rec({ path: '/c' })])), 'unchanged');
});

test('replay: --strict fails on indeterminate served requests; a record from before replay support is still replayed where it can be', () => {
  const header = allow('hdr', { when: [{ key: 'request.headers[x-tenant]', values: ['acme'] }], ...to('/c') });
  const cfg = resolveConfig({ issuers: ISSUERS, policies: [header] });
  const lax = new Replayer(cfg);
  lax.add(rec({ path: '/c' }));
  assert.equal(lax.finish().summary.failing, 0);
  const strict = new Replayer(cfg, { strict: true });
  strict.add(rec({ path: '/c' }));
  assert.equal(strict.finish().summary.failing, 1);

  // An old record: no destination namespace/labels (namespace from the destination principal),
  // no auth section (scopes unknown).
  const old = parseAuditLine(
    JSON.stringify({
      log: 'audit',
      decision: 'allow',
      reason: 'allowed',
      source: { principal: 'spiffe://cluster.local/ns/shop/sa/frontend' },
      destination: { host: 'api', principal: 'spiffe://cluster.local/ns/shop/sa/api' },
      method: 'GET',
      path: '/x',
      subject: 'alice',
      issuer: ISSUER,
    }),
    1,
  ) as AuditRecord;
  const nsOnly = resolveConfig({
    issuers: ISSUERS,
    policies: [{ name: 'ns', namespace: 'shop', rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] }],
  });
  const r1 = new Replayer(nsOnly);
  r1.add(structuredClone(old));
  assert.equal(r1.finish().summary.unchanged, 1);
  const scoped = resolveConfig({
    issuers: ISSUERS,
    policies: [{ name: 's', namespace: 'shop', rules: [{ when: [{ key: 'request.auth.scopes', values: ['read'] }] }] }],
  });
  const r2 = new Replayer(scoped);
  r2.add(structuredClone(old));
  assert.equal(r2.finish().summary.indeterminate, 1);
});

test('replay and generate: callers identified from Kubernetes (pod IP, service-account token) keep that identity', () => {
  const line = (source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    parseAuditLine(
      JSON.stringify({
        log: 'audit',
        decision: 'allow',
        reason: 'observed',
        would_decide: { decision: 'deny', reason: 'no_policy_matched' },
        source,
        destination: { host: 'api', namespace: 'shop', labels: { app: 'api' } },
        method: 'GET',
        path: '/sync',
        ...extra,
      }),
      1,
    ) as AuditRecord;
  const podIp = line({ address: '10.0.0.9', namespace: 'jobs', service_account: 'cron', principal_from: 'pod_ip' });
  const saIssuer = 'https://kubernetes.default.svc.cluster.local';
  const token = line(
    { address: '10.0.0.8', namespace: 'jobs', service_account: 'sync', principal_from: 'sa_token' },
    { issuer: saIssuer, subject: 'system:serviceaccount:jobs:sync', auth: { audiences: ['api'], scopes: [], claims: {} } },
  );
  const g = new PolicyGenerator();
  g.add(structuredClone(podIp));
  g.add(structuredClone(token));
  const { policies } = g.finish();
  assert.deepEqual(
    policies[0]!.rules!.map((r) => r.from),
    [
      [{ source: { serviceAccounts: ['jobs/cron'] } }],
      [{ source: { notPrincipals: ['*'], requestPrincipals: [`${saIssuer}/system:serviceaccount:jobs:sync`] } }],
    ],
  );
  const r = new Replayer(
    resolveConfig({ issuers: [...ISSUERS, { issuer: saIssuer, jwksUri: 'https://k8s.example/jwks', audiences: ['api'] }], policies }),
  );
  r.add(structuredClone(podIp));
  r.add(structuredClone(token));
  const rep = r.finish();
  assert.equal(rep.summary.unchanged, 2, JSON.stringify(rep.edges));
  assert.deepEqual(rep.edges.map((e) => e.source).sort(), ['sa jobs/cron (pod IP)', `sa jobs/sync (token) + jwt ${saIssuer}`]);
});

test(
  'replay --policies: ZeroTrustPolicy manifests on top of a config, checked as the Kubernetes integration checks them',
  { timeout: 120000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zt-replay-crd-'));
    const g = new PolicyGenerator({ format: 'crd' });
    await readAuditRecords(FIXTURE, (r) => g.add(r));
    const crdFile = join(dir, 'policies.yaml');
    writeFileSync(crdFile, g.finish().yaml);
    const baseFile = join(dir, 'base.yaml');
    writeFileSync(baseFile, stringify({ issuers: ISSUERS }));
    const ok = await cli([
      'policy',
      'replay',
      '--config',
      baseFile,
      '--policies',
      crdFile,
      '--from',
      FIXTURE,
      '--ignore-rejected-credentials',
    ]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(
      ok.stdout,
      new RegExp(
        `^Replayed 25 recorded requests against ${baseFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\+ ${crdFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    );

    // A DENY resource in a second file tightens the candidate: the payments edge now fails, named
    // as the service would name it ("<namespace>/<name>").
    const denyFile = join(dir, 'deny.yaml');
    const denyDoc = {
      apiVersion: 'zt-authz.io/v1alpha1',
      kind: 'ZeroTrustPolicy',
      metadata: { name: 'no-charges', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'payments' } }, action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] },
    };
    writeFileSync(denyFile, stringify(denyDoc));
    const tight = await cli([
      'policy',
      'replay',
      '--config',
      baseFile,
      '--policies',
      crdFile,
      '--policies',
      denyFile,
      '--from',
      FIXTURE,
      '--ignore-rejected-credentials',
    ]);
    assert.equal(tight.code, 1, tight.stdout + tight.stderr);
    assert.match(tight.stdout, /allow→deny +POST \/charges ×3: now policy_denied \(shop\/no-charges\)/);
    assert.match(tight.stdout, /FAIL: 3 requests that went through would be denied/);

    // `kubectl get ztp -A -o yaml` prints a List: accepted too.
    const listFile = join(dir, 'list.yaml');
    writeFileSync(listFile, stringify({ apiVersion: 'v1', kind: 'List', items: [denyDoc] }));
    const fromList = loadCandidate(baseFile, [crdFile, listFile], undefined);
    assert.deepEqual(fromList.policies.at(-1), { name: 'shop/no-charges', namespace: 'shop', ...denyDoc.spec });
    assert.equal(fromList.policies.length, 5);

    // What the service would reject (or apply differently) is an error, never guessed.
    const bad = (name: string, text: string, message: RegExp) => {
      const f = join(dir, `${name}.yaml`);
      writeFileSync(f, text);
      assert.throws(() => loadCandidate(baseFile, [crdFile, f], undefined), message, name);
      return f;
    };
    const doc = (o: Record<string, unknown>) => stringify({ ...denyDoc, ...o });
    const invalid = bad(
      'invalid-spec',
      doc({ metadata: { name: 'bad', namespace: 'shop' }, spec: { action: 'MAYBE' } }),
      /ZeroTrustPolicy shop\/bad: spec\.action/,
    );
    bad(
      'name-in-spec',
      doc({ metadata: { name: 'bad', namespace: 'shop' }, spec: { name: 'x', action: 'DENY' } }),
      /ZeroTrustPolicy shop\/bad: spec\.name: unknown field/,
    );
    bad('no-namespace', doc({ metadata: { name: 'floating' } }), /document 1: ZeroTrustPolicy floating: metadata\.namespace must be set/);
    bad('bad-name', doc({ metadata: { name: 'Not_Valid', namespace: 'shop' } }), /metadata\.name must be a DNS-1123 subdomain/);
    bad(
      'other-kind',
      `${doc({})}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: x, namespace: shop }\n`,
      /document 2: expected apiVersion zt-authz\.io\/v1alpha1, kind ZeroTrustPolicy; got v1, ConfigMap/,
    );
    bad('duplicate-in-file', `${doc({})}---\n${doc({})}`, /document 2: ZeroTrustPolicy shop\/no-charges is already defined \(document 1\)/);
    bad(
      'duplicate-across-files',
      readFileSync(crdFile, 'utf8').split('\n---\n').slice(0, 2).join('\n---\n'),
      /ZeroTrustPolicy legacy\/allow-reports is defined more than once/,
    );
    // The CLI: exit 3 (no answer, unlike 1 "would break"), the message on stderr, no report.
    const r = await cli(['policy', 'replay', '--config', baseFile, '--policies', crdFile, '--policies', invalid, '--from', FIXTURE]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /invalid ZeroTrustPolicy manifests .*\n {2}- ZeroTrustPolicy shop\/bad: spec\.action/);
    assert.equal(r.stdout, '');
  },
);

test('replay: a policy host that names a default port reads the host as sent, as live matching does', () => {
  const line = (destination: Record<string, unknown>) =>
    parseAuditLine(
      JSON.stringify({
        log: 'audit',
        decision: 'allow',
        reason: 'allowed',
        policy: 'tls-only',
        source: {},
        destination,
        method: 'GET',
        path: '/x',
      }),
      1,
    ) as AuditRecord;
  const sent443 = line({ host: 'orders', host_as_sent: 'orders:443', labels: {} });
  const sent80 = line({ host: 'orders', host_as_sent: 'orders:80', labels: {} });
  assert.equal(sent443.destination.hostAsSent, 'orders:443');
  const r = new Replayer(
    resolveConfig({ issuers: ISSUERS, policies: [{ name: 'tls-only', rules: [{ to: [{ operation: { hosts: ['orders:443'] } }] }] }] }),
  );
  r.add(structuredClone(sent443));
  r.add(structuredClone(sent80));
  const rep = r.finish();
  // orders:443 is admitted as live; the record sent on :80 was allowed by the recorded
  // configuration but not by this one.
  assert.equal(rep.summary.unchanged, 1, JSON.stringify(rep.edges));
});

test('replay: every peer-identity condition depends on the XFCC principal a record without one cannot tell', () => {
  // The candidate trusts XFCC; the recording service did not, and Envoy reported no principal.
  const line = JSON.stringify({
    log: 'audit',
    decision: 'allow',
    reason: 'allowed',
    source: { address: '10.0.0.9' },
    destination: { host: 'api.shop', namespace: 'shop', labels: { app: 'api' } },
    method: 'GET',
    path: '/x',
  });
  const r = parseAuditLine(line, 1) as AuditRecord;
  const xfcc = 'the XFCC principal (not recorded: the recording config did not trust XFCC)';
  const sources = [
    { principals: ['cluster.local/ns/edge/sa/gw'] },
    { namespaces: ['edge'] },
    { serviceAccounts: ['edge/gw'] },
    { notServiceAccounts: ['edge/gw'] },
    { trustDomains: ['cluster.local'] },
    { notTrustDomains: ['other.example'] },
  ];
  for (const source of sources) {
    const rp = new Replayer(
      resolveConfig({
        identity: { trustXfcc: true, xfccTrustedPeers: { ipBlocks: ['10.0.0.0/8'] } },
        policies: [{ name: 'p', namespace: 'shop', rules: [{ from: [{ source }] }] }],
      }),
    );
    rp.add(structuredClone(r));
    assert.equal(outcome(rp.finish()), `indeterminate: an ALLOW policy depends on ${xfcc}`, JSON.stringify(source));
  }
  // Conditions on what the record holds stay determined.
  const rp = new Replayer(
    resolveConfig({
      identity: { trustXfcc: true, xfccTrustedPeers: { ipBlocks: ['10.0.0.0/8'] } },
      policies: [{ name: 'p', namespace: 'shop', rules: [{ to: [{ operation: { paths: ['/x'] } }] }] }],
    }),
  );
  rp.add(structuredClone(r));
  assert.equal(outcome(rp.finish()), 'unchanged');
});
