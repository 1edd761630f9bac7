import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog } from '../src/observe/audit.js';
import { createAuditLogger } from '../src/observe/log.js';
import { deny } from '../src/decision/decide.js';
import type { CheckInput, Decision } from '../src/decision/types.js';

function capture() {
  const lines: string[] = [];
  return { lines, logger: createAuditLogger({ write: (s: string) => void lines.push(s) }) };
}
const input: CheckInput = {
  requestId: 'r1', method: 'GET', host: 'orders', path: '/api/orders', query: 'access_token=SECRETQUERY', headers: { authorization: 'Bearer SECRETHEADER' },
  source: { principal: 'spiffe://cluster.local/ns/a/sa/b', address: '10.0.0.1', labels: {} }, destination: { labels: {} }, contextExtensions: {},
};
const allow: Decision = { allow: true, reason: 'allowed', status: 200, policy: 'p', rule: 0, upstreamHeaders: [], removeHeaders: [], removeQueryParams: [], tokenHash: 'abcdef012345' };

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
  assert.equal(rec.log, 'audit');
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
