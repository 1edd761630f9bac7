// An exception while deciding is an internal_error deny (fail closed), and its audit record still
// names the caller the request itself identifies: here the client a trusted proxy reported in
// x-forwarded-client-cert. The peers are resolved before authentication; when authentication
// throws, the deny must carry them, and if resolving them throws too the deny still stands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { AuditLog } from '../../../src/observe/audit.js';
import { createAuditLogger } from '../../../src/observe/log.js';
import { Metrics } from '../../../src/observe/metrics.js';
import { DecisionRecorder } from '../../../src/observe/decision-observer.js';
import { DecisionEngine } from '../../../src/decision/engine.js';
import type { CheckInput } from '../../../src/decision/types.js';
import type { Snapshot } from '../../../src/decision/snapshot.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { buildSnapshot } from '../../../src/snapshot/builder.js';

const PROXY = 'spiffe://cluster.local/ns/edge/sa/gateway';
const CLIENT = 'spiffe://cluster.local/ns/shop/sa/web';

const input: CheckInput = {
  requestId: 'r1',
  method: 'GET',
  host: 'orders',
  path: '/api/orders',
  query: '',
  headers: { 'x-forwarded-client-cert': `By=spiffe://cluster.local/ns/shop/sa/orders;URI=${CLIENT}` },
  source: { principal: PROXY, address: '10.0.0.1', labels: {} },
  destination: { principal: 'spiffe://cluster.local/ns/shop/sa/orders', labels: {} },
  contextExtensions: {},
};

/** A snapshot trusting XFCC from PROXY whose authenticator throws on every request. */
function throwingSnapshot(): Snapshot {
  const config = resolveConfig({
    identity: { trustXfcc: true, xfccTrustedPeers: { principals: [PROXY] } },
    policies: [{ name: 'allow-all', action: 'ALLOW', rules: [{}] }],
  });
  const snap = buildSnapshot(config, new Map(), { cacheHit() {}, cacheMiss() {} }, 1);
  const authenticator = Object.create(snap.authenticator) as Snapshot['authenticator'];
  authenticator.authenticate = () => {
    throw new Error('authenticator bug');
  };
  return Object.freeze({ ...snap, authenticator });
}

function recordingEngine(snap: Snapshot): { engine: DecisionEngine; lines: string[] } {
  const lines: string[] = [];
  const audit = new AuditLog(createAuditLogger({ write: (s: string) => void lines.push(s) }), snap.config.audit);
  return { engine: new DecisionEngine(() => snap, new DecisionRecorder(new Metrics(), audit, pino({ level: 'silent' }))), lines };
}

test('an exception in authenticate: internal_error deny whose audit record names the trusted XFCC caller', async () => {
  const { engine, lines } = recordingEngine(throwingSnapshot());
  const { decision } = await engine.decideRequest('grpc-v3', () => ({ ok: true, input }));
  assert.equal(decision.verdict.allow, false);
  assert.equal(decision.verdict.reason, 'internal_error');
  assert.equal(decision.verdict.detail, 'unexpected error while deciding');
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!) as { reason: string; source: unknown };
  assert.equal(rec.reason, 'internal_error');
  assert.deepEqual(rec.source, { principal: CLIENT, principal_from: 'xfcc', address: '10.0.0.1' });
});

test('an exception while resolving the peers too: still the internal_error deny, recorded with the Envoy principal', async () => {
  const snap = throwingSnapshot();
  // Every peer lookup throws: the identity settings are read there first.
  const broken = Object.freeze({
    ...snap,
    config: Object.freeze({
      ...snap.config,
      get identity(): never {
        throw new Error('config bug');
      },
    }),
  }) as Snapshot;
  const { engine, lines } = recordingEngine(broken);
  const { decision } = await engine.decideRequest('grpc-v3', () => ({ ok: true, input }));
  assert.equal(decision.verdict.reason, 'internal_error');
  assert.equal(decision.evidence.peers, undefined);
  const rec = JSON.parse(lines[0]!) as { reason: string; source: unknown };
  assert.equal(rec.reason, 'internal_error');
  assert.deepEqual(rec.source, { principal: PROXY, address: '10.0.0.1' });
});
