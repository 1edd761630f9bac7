import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog } from '../../../src/observe/audit.js';
import { createAuditLogger } from '../../../src/observe/log.js';
import { deny } from '../../../src/decision/deny.js';
import { DecisionEngine } from '../../../src/decision/engine.js';
import type { CheckInput } from '../../../src/decision/types.js';
import type { Decision } from '../../../src/decision/decision.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { buildSnapshot } from '../../../src/snapshot/builder.js';

function capture() {
  const lines: string[] = [];
  return { lines, logger: createAuditLogger({ write: (s: string) => void lines.push(s) }) };
}
const input: CheckInput = {
  requestId: 'r1',
  method: 'GET',
  host: 'orders',
  path: '/api/orders',
  query: 'access_token=SECRETQUERY',
  headers: { authorization: 'Bearer SECRETHEADER' },
  source: { principal: 'spiffe://cluster.local/ns/a/sa/b', address: '10.0.0.1', labels: {} },
  destination: { labels: {} },
  contextExtensions: {},
};
const allow: Decision = {
  verdict: { allow: true, reason: 'allowed', status: 200, policy: 'p', rule: 0 },
  response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [] },
  evidence: { tokenHash: 'abcdef012345' },
};

test('denies are always recorded; allows follow the sample rate', () => {
  const { lines, logger } = capture();
  let r = 0;
  const seq = [0.05, 0.5, 0.95, 0.2];
  const audit = new AuditLog(logger, { enabled: true, allowSampleRate: 0.25, random: () => seq[r++ % seq.length]! });
  for (let i = 0; i < 4; i++) audit.record('grpc-v3', input, allow, 0.001);
  for (let i = 0; i < 3; i++) audit.record('grpc-v3', input, deny('token_expired', 'exp passed', undefined), 0.001);
  const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(recs.filter((x) => x.decision === 'allow').length, 2, 'two of four draws were < 0.25');
  assert.equal(recs.filter((x) => x.decision === 'deny').length, 3);
});

test('records carry identity and reason, never query values or header values', () => {
  const { lines, logger } = capture();
  new AuditLog(logger, { enabled: true, allowSampleRate: 1 }).record('grpc-v3', input, allow, 0.0012345);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.logger, 'audit');
  assert.equal(rec.decision, 'allow');
  assert.equal(rec.path, '/api/orders');
  assert.equal(rec.token_hash, 'abcdef012345');
  assert.equal(rec.latency_ms, 1.235);
  assert.deepEqual(rec.source, { principal: 'spiffe://cluster.local/ns/a/sa/b', address: '10.0.0.1' });
  assert.ok(!lines[0]!.includes('SECRET'));
});

test('disabled audit writes nothing', () => {
  const { lines, logger } = capture();
  new AuditLog(logger, { enabled: false, allowSampleRate: 1 }).record('grpc-v3', input, deny('policy_denied', 'x', undefined), 0);
  assert.equal(lines.length, 0);
});

test('observe mode: would-be denies are never sampled out; plain allows are', async () => {
  // Real decisions: observe mode everywhere, one ALLOW for GET /api/orders, a dry-run DENY.
  const config = resolveConfig({
    mode: { default: 'observe' },
    policies: [
      {
        name: 'allow-orders',
        action: 'ALLOW',
        rules: [{ to: [{ operation: { methods: ['GET'], paths: ['/api/orders', '/api/orders/export'] } }] }],
      },
      { name: 'deny-export', action: 'DENY', dryRun: true, rules: [{ to: [{ operation: { paths: ['/api/orders/export'] } }] }] },
    ],
  });
  const snap = buildSnapshot(config, new Map(), { cacheHit() {}, cacheMiss() {} }, 1);
  const req = (path: string): CheckInput => ({ ...input, requestId: path, path, query: '', headers: {} });
  const engine = new DecisionEngine(() => snap);
  const plain = await engine.decide(req('/api/orders'));
  const wouldDeny = await engine.decide(req('/admin'));
  const dryRunDeny = await engine.decide(req('/api/orders/export'));
  assert.equal(plain.verdict.allow, true);
  assert.equal(plain.evidence.wouldDecide, undefined);
  assert.equal(wouldDeny.verdict.allow, true, 'observe mode lets it through');
  assert.equal(wouldDeny.evidence.wouldDecide?.allow, false);
  assert.equal(dryRunDeny.verdict.allow, true);
  assert.equal(dryRunDeny.evidence.dryRun?.allow, false);

  const { lines, logger } = capture();
  let draws = 0;
  const audit = new AuditLog(logger, { enabled: true, allowSampleRate: 0, random: () => (draws++, 0) });
  for (const d of [plain, wouldDeny, dryRunDeny, plain])
    audit.record('grpc-v3', req(d === plain ? '/api/orders' : d === wouldDeny ? '/admin' : '/api/orders/export'), d, 0.001);
  const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    recs.map((r) => r.path),
    ['/admin', '/api/orders/export'],
    'plain allows sampled out at rate 0, would-be denies kept',
  );
  assert.equal(recs[0]!.decision, 'allow');
  assert.equal(recs[0]!.reason, 'observed');
  assert.deepEqual(recs[0]!.would_decide, { decision: 'deny', reason: 'no_policy_matched', status: 403 });
  assert.deepEqual(recs[1]!.dry_run, { decision: 'deny', reason: 'policy_denied', policy: 'deny-export' });
  assert.equal(draws, 2, 'only the plain allows drew a sample');
});

test('an AUDIT policy match is never sampled out (an explicit "record these"); other allows are', async () => {
  const config = resolveConfig({
    policies: [
      { name: 'allow-all', action: 'ALLOW', rules: [{}] },
      { name: 'audit-admin', action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] },
    ],
  });
  const snap = buildSnapshot(config, new Map(), { cacheHit() {}, cacheMiss() {} }, 1);
  const req = (path: string): CheckInput => ({ ...input, requestId: path, path, query: '', headers: {} });
  const engine = new DecisionEngine(() => snap);
  const audited = await engine.decide(req('/admin/keys'));
  const plain = await engine.decide(req('/api/x'));
  assert.equal(audited.verdict.allow, true);
  assert.deepEqual(
    audited.evidence.audits?.map((a) => a.policy),
    ['audit-admin'],
  );
  assert.equal(plain.evidence.audits?.length ?? 0, 0);

  const { lines, logger } = capture();
  const audit = new AuditLog(logger, { enabled: true, allowSampleRate: 0, random: () => 0.5 });
  audit.record('grpc-v3', req('/admin/keys'), audited, 0.001);
  audit.record('grpc-v3', req('/api/x'), plain, 0.001);
  const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    recs.map((r) => r.path),
    ['/admin/keys'],
  );
  assert.deepEqual(
    (recs[0]!.audits as Array<{ policy: string }>).map((a) => a.policy),
    ['audit-admin'],
  );
});
