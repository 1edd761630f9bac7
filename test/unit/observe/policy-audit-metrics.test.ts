// AUDIT and dryRun policies never change the outcome, but what they matched must reach the
// operator: zt_authz_decisions_total{decision="audit"|"dry_run_deny"|"dry_run_allow"} and the audit
// record's `audits` and `dry_run` fields (docs/policies.md). End to end over gRPC against a real
// App, so removing either the metric or the audit-record lines fails this test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authV3Client, check, checkRequest, closeAll, randomRequestId, type AuthClient } from '../../helpers/grpc-client.js';
import { fetchMetrics, metricValue, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';

const POLICIES = [
  { name: 'open-orders', rules: [{ to: [{ operation: { paths: ['/orders/*'] } }] }] },
  { name: 'watch-orders', action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/orders/*', '/secret'] } }] }] },
  { name: 'try-deny-delete', action: 'DENY', dryRun: true, rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] },
  { name: 'try-allow-secret', action: 'ALLOW', dryRun: true, rules: [{ to: [{ operation: { paths: ['/secret'] } }] }] },
];

type Labels = { decision: string; reason: string; policy: string };
const series = (decision: string, reason: string, policy: string): Labels => ({ decision, reason, policy });

interface Case {
  name: string;
  method: string;
  path: string;
  /** Real outcome: gRPC status code (0 OK, 7 PERMISSION_DENIED), decision and reason. */
  code: number;
  decision: 'allow' | 'deny';
  reason: string;
  policy?: string;
  /** Series that must grow by exactly one. */
  counted: Labels[];
  /** Audit record fields. */
  audits?: Array<{ policy: string; rule: number; action: string; dryRun: boolean }>;
  dryRun: { decision: string; reason: string; policy?: string };
}

const CASES: Case[] = [
  {
    name: 'allowed; AUDIT matches; the dry-run DENY does not match → would still allow',
    method: 'GET',
    path: '/orders/1',
    code: 0,
    decision: 'allow',
    reason: 'allowed',
    policy: 'open-orders',
    counted: [
      series('allow', 'allowed', 'open-orders'),
      series('audit', 'allowed', 'watch-orders'),
      series('dry_run_allow', 'allowed', 'open-orders'),
    ],
    audits: [{ policy: 'watch-orders', rule: 0, action: 'AUDIT', dryRun: false }],
    dryRun: { decision: 'allow', reason: 'allowed', policy: 'open-orders' },
  },
  {
    name: 'allowed, but the dry-run DENY matches → would deny; the request still goes through',
    method: 'DELETE',
    path: '/orders/1',
    code: 0,
    decision: 'allow',
    reason: 'allowed',
    policy: 'open-orders',
    counted: [
      series('allow', 'allowed', 'open-orders'),
      series('audit', 'allowed', 'watch-orders'),
      series('dry_run_deny', 'policy_denied', 'try-deny-delete'),
    ],
    audits: [
      { policy: 'watch-orders', rule: 0, action: 'AUDIT', dryRun: false },
      { policy: 'try-deny-delete', rule: 0, action: 'DENY', dryRun: true },
    ],
    dryRun: { decision: 'deny', reason: 'policy_denied', policy: 'try-deny-delete' },
  },
  {
    name: 'denied by default; AUDIT still records it; the dry-run ALLOW would admit it',
    method: 'GET',
    path: '/secret',
    code: 7,
    decision: 'deny',
    reason: 'no_policy_matched',
    counted: [
      series('deny', 'no_policy_matched', ''),
      series('audit', 'no_policy_matched', 'watch-orders'),
      series('dry_run_allow', 'allowed', 'try-allow-secret'),
    ],
    audits: [
      { policy: 'watch-orders', rule: 0, action: 'AUDIT', dryRun: false },
      { policy: 'try-allow-secret', rule: 0, action: 'ALLOW', dryRun: true },
    ],
    dryRun: { decision: 'allow', reason: 'allowed', policy: 'try-allow-secret' },
  },
  {
    name: 'denied, nothing observed matches → would deny as well',
    method: 'GET',
    path: '/nothing',
    code: 7,
    decision: 'deny',
    reason: 'no_policy_matched',
    counted: [series('deny', 'no_policy_matched', ''), series('dry_run_deny', 'no_policy_matched', '')],
    dryRun: { decision: 'deny', reason: 'no_policy_matched' },
  },
];

/** Every observe-only series a case might touch, to check the ones it must not. */
const OBSERVED: Labels[] = [
  series('audit', 'allowed', 'watch-orders'),
  series('audit', 'no_policy_matched', 'watch-orders'),
  series('audit', 'allowed', 'try-deny-delete'),
  series('audit', 'no_policy_matched', 'try-allow-secret'),
  series('dry_run_allow', 'allowed', 'open-orders'),
  series('dry_run_allow', 'allowed', 'try-allow-secret'),
  series('dry_run_deny', 'policy_denied', 'try-deny-delete'),
  series('dry_run_deny', 'no_policy_matched', ''),
];

describe('AUDIT and dryRun policies: metrics and audit record', () => {
  let t: TestApp;
  let client: AuthClient;
  before(async () => {
    t = await startTestApp({ policies: POLICIES });
    client = authV3Client(t.grpcPort);
  });
  after(async () => {
    closeAll(client);
    await t.stop();
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const key = (l: Labels) => JSON.stringify(l);
      const watched = [...new Map([...c.counted, ...OBSERVED].map((l) => [key(l), l])).values()];
      const before = await fetchMetrics(t.adminPort);
      const requestId = randomRequestId();
      const res = await check(client, checkRequest({ method: c.method, path: c.path, requestId }));
      assert.equal(res.status?.code ?? 0, c.code, `gRPC status for ${c.method} ${c.path}`);

      // The counter is bumped before the response is sent; the audit line may trail it.
      await waitUntil(() => t.audit().some((r) => r.request_id === requestId), 5000, 'audit record');
      const after = await fetchMetrics(t.adminPort);
      const counted = new Set(c.counted.map(key));
      for (const l of watched) {
        const delta = metricValue(after, 'zt_authz_decisions_total', l) - metricValue(before, 'zt_authz_decisions_total', l);
        assert.equal(delta, counted.has(key(l)) ? 1 : 0, `zt_authz_decisions_total${JSON.stringify(l)}`);
      }

      const rec = t.audit().find((r) => r.request_id === requestId)!;
      assert.equal(rec.decision, c.decision);
      assert.equal(rec.reason, c.reason);
      assert.equal(rec.policy, c.policy);
      if (c.audits) assert.deepEqual(rec.audits, c.audits);
      else assert.equal(rec.audits, undefined, 'no audits field when nothing observed matched');
      assert.deepEqual(rec.dry_run, c.dryRun);
    });
  }
});
