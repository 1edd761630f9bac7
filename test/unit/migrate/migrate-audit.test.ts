// The audit record carries what replay needs (destination scope, verified claims, the subject in
// plain or as a hash) and nothing it must not (tokens, query values, header values).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog } from '../../../src/observe/audit.js';
import { createAuditLogger } from '../../../src/observe/log.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { ConfigError } from '../../../src/config/problems.js';
import { AUDIT_RECORD_VERSION, hashSubject, parseAuditLine, type AuditRecord } from '../../../src/observe/audit-record.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import type { CheckInput, Identity } from '../../../src/decision/types.js';
import type { Decision } from '../../../src/decision/decision.js';
import { identifyPeers, type Caller } from '../../../src/identity/peer-context.js';
import type { DestinationContext } from '../../../src/policy/context.js';
import type { Config } from '../../../src/config/types.js';

function capture() {
  const lines: string[] = [];
  return { lines, logger: createAuditLogger({ write: (s: string) => void lines.push(s) }) };
}

const input: CheckInput = {
  requestId: 'r1',
  method: 'GET',
  host: 'orders.shop:8080',
  path: '/api/orders/7',
  query: 'access_token=SECRETQUERY',
  headers: {
    authorization: 'Bearer SECRETHEADER',
    'x-tenant': 'SECRETTENANT',
    'x-forwarded-client-cert': 'By=x;URI=spiffe://cluster.local/ns/edge/sa/gw',
  },
  source: { address: '10.0.0.1', labels: {} },
  destination: {
    principal: 'spiffe://cluster.local/ns/shop/sa/orders',
    address: '10.0.0.2',
    port: 8080,
    labels: { app: 'orders', 'pod-template-hash': 'abc' },
  },
  contextExtensions: { tier: 'backend' },
  sni: 'orders.shop.svc',
};
const identity: Identity = {
  issuer: 'https://idp.example.com',
  subject: 'alice@example.com',
  requestPrincipal: 'https://idp.example.com/alice@example.com',
  audiences: ['shop'],
  scopes: ['orders:read', 'openid'],
  claims: {
    iss: 'https://idp.example.com',
    sub: 'alice@example.com',
    azp: 'web',
    amr: ['pwd', 'otp'],
    realm_access: { roles: ['buyer'] },
    tenant: 'acme',
    groups: Array.from({ length: 100 }, (_, i) => `g${i}`),
    email: 'alice@example.com',
  },
  tokenHash: 'abcdef012345',
};
const decision: Decision = {
  verdict: { allow: true, reason: 'observed', status: 200 },
  response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [] },
  evidence: { identity, tokenHash: 'abcdef012345', wouldDecide: { allow: false, reason: 'no_policy_matched', status: 403 } },
};
/** `decision` with the peers the peer stage resolves for `input` under `config` (XFCC trust included). */
const withPeers = (config: Config): Decision => ({
  ...decision,
  evidence: { ...decision.evidence, peers: identifyPeers(input, { config }) },
});
/** `decision` as the policy stage saw it: `caller` and the scope `destination`. */
const evaluated = (d: Decision, caller: Caller, destination: DestinationContext): Decision => ({
  ...d,
  evidence: { ...d.evidence, peers: { caller, destination, declaredDestination: destination, mode: 'enforce' }, policyEvaluated: true },
});

test('audit record: destination scope, verified claims, XFCC principal; never secrets', () => {
  const { lines, logger } = capture();
  const cfg = resolveConfig({
    authorization: { rolesClaim: 'realm_access.roles' },
    audit: { claims: ['tenant', 'groups'] },
    identity: { trustXfcc: true, xfccTrustedPeers: { ipBlocks: ['10.0.0.0/8'] } },
  });
  assert.deepEqual(cfg.audit.claims, ['azp', 'acr', 'amr', 'realm_access.roles', 'tenant', 'groups']);
  new AuditLog(logger, cfg.audit).record('grpc-v3', input, withPeers(cfg), 0.001);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(rec.source, { principal: 'spiffe://cluster.local/ns/edge/sa/gw', principal_from: 'xfcc', address: '10.0.0.1' });
  assert.deepEqual(rec.destination, {
    host: 'orders.shop:8080',
    principal: 'spiffe://cluster.local/ns/shop/sa/orders',
    address: '10.0.0.2',
    port: 8080,
    namespace: 'shop',
    labels: { app: 'orders', 'pod-template-hash': 'abc', tier: 'backend' },
  });
  assert.equal(rec.sni, 'orders.shop.svc');
  assert.equal(rec.subject, 'alice@example.com');
  assert.equal(rec.issuer, 'https://idp.example.com');
  const auth = rec.auth as { audiences: string[]; scopes: string[]; claims: Record<string, unknown>; truncated: string[] };
  assert.deepEqual(auth.audiences, ['shop']);
  assert.deepEqual(auth.scopes, ['orders:read', 'openid']);
  assert.deepEqual(Object.keys(auth.claims), ['azp', 'acr', 'amr', 'realm_access.roles', 'tenant', 'groups']);
  assert.equal(auth.claims.acr, null, 'recorded as absent');
  assert.deepEqual(auth.claims.amr, ['pwd', 'otp']);
  assert.deepEqual(auth.claims['realm_access.roles'], ['buyer']);
  assert.equal((auth.claims.groups as string[]).length, 64);
  assert.deepEqual(auth.truncated, ['groups']);
  assert.ok(!('email' in auth.claims), 'only configured claims');
  assert.deepEqual(rec.would_decide, { decision: 'deny', reason: 'no_policy_matched', status: 403 });
  for (const secret of ['SECRET', 'access_token']) assert.ok(!lines[0]!.includes(secret), secret);

  // The reader gets the same back.
  const r = parseAuditLine(lines[0]!, 1) as AuditRecord;
  assert.equal(r.source.principalFrom, 'xfcc');
  assert.equal(r.destination.namespace, 'shop');
  assert.deepEqual(r.auth?.scopes, ['orders:read', 'openid']);
  assert.deepEqual(r.wouldDecide, { decision: 'deny', reason: 'no_policy_matched' });
});

test('audit.subject: hash records subject_hash (sha256 of "<iss>/<sub>"), never the subject', () => {
  const { lines, logger } = capture();
  const cfg = resolveConfig({ audit: { subject: 'hash' } });
  new AuditLog(logger, cfg.audit).record('grpc-v3', { ...input, headers: {} }, decision, 0.001);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.subject, undefined);
  assert.equal(rec.subject_hash, hashSubject('https://idp.example.com', 'alice@example.com'));
  assert.match(String(rec.subject_hash), /^sha256:[0-9a-f]{32}$/);
  assert.ok(!lines[0]!.includes('alice'));
  // Without XFCC trust, the Envoy principal (none here) is what is recorded.
  assert.deepEqual(rec.source, { address: '10.0.0.1' });
});

test('audit record: the source and scope the policy stage used (Kubernetes workloads, XFCC)', () => {
  const { lines, logger } = capture();
  const sa: Identity = {
    ...identity,
    issuer: 'https://kubernetes.default.svc.cluster.local',
    subject: 'system:serviceaccount:jobs:sync',
    requestPrincipal: 'x',
  };
  const log = new AuditLog(logger, { enabled: true, allowSampleRate: 1 });
  const ctxDest = { namespace: 'shop', labels: { app: 'orders', 'zt-authz.io/bound-x': 'true' } };
  // From a service-account token; from a pod IP; from a trusted XFCC header.
  log.record(
    'grpc-v3',
    { ...input, headers: {} },
    evaluated(
      { ...decision, evidence: { ...decision.evidence, identity: sa } },
      { principal: '', namespace: 'jobs', serviceAccount: 'sync', via: 'sa-token' },
      ctxDest,
    ),
    0,
  );
  log.record(
    'grpc-v3',
    { ...input, headers: {} },
    evaluated(
      { ...decision, evidence: { ...decision.evidence, identity: undefined } },
      { principal: '', namespace: 'jobs', serviceAccount: 'cron', via: 'pod-ip' },
      ctxDest,
    ),
    0,
  );
  log.record(
    'grpc-v3',
    input,
    evaluated(decision, { principal: 'cluster.local/ns/edge/sa/gw', namespace: 'edge', serviceAccount: 'gw', via: 'xfcc' }, ctxDest),
    0,
  );
  const [a, b, c] = lines.map((l) => JSON.parse(l) as { source: unknown; destination: { namespace: string; labels: unknown } });
  assert.deepEqual(a!.source, { address: '10.0.0.1', namespace: 'jobs', service_account: 'sync', principal_from: 'sa_token' });
  assert.deepEqual(b!.source, { address: '10.0.0.1', namespace: 'jobs', service_account: 'cron', principal_from: 'pod_ip' });
  assert.deepEqual(c!.source, { principal: 'cluster.local/ns/edge/sa/gw', principal_from: 'xfcc', address: '10.0.0.1' });
  assert.deepEqual(a!.destination.labels, ctxDest.labels, "the scope the policy stage used, not only Envoy's");
  const r = parseAuditLine(lines[1]!, 2) as AuditRecord;
  assert.deepEqual(r.source, { principalFrom: 'pod_ip', address: '10.0.0.1', namespace: 'jobs', serviceAccount: 'cron' });
});

test('audit config: subject must be plain|hash; claims cannot smuggle the subject', () => {
  assert.throws(
    () => resolveConfig({ audit: { subject: 'sha1' } }),
    (e: unknown) => e instanceof ConfigError && /audit\.subject/.test(e.message),
  );
  assert.throws(
    () => resolveConfig({ audit: { claims: ['tenant', 'sub'] } }),
    (e: unknown) => e instanceof ConfigError && /audit\.claims\[1\]: the subject is recorded per audit\.subject/.test(e.message),
  );
  assert.deepEqual(resolveConfig({}).audit, {
    enabled: true,
    allowSampleRate: 1,
    subject: 'plain',
    claims: ['azp', 'acr', 'amr', 'roles'],
  });
});

test('audit lines that are not usable are told apart from other lines', () => {
  assert.equal(parseAuditLine('> zt-authz@0.1.0 start', 1), 'other');
  assert.equal(parseAuditLine('{"log":"ops","msg":"ready"}', 2), 'other');
  assert.equal(parseAuditLine('{"log":"audit","decision":"deny","reason":"malformed_request"}', 3), 'unusable');
  // The envelope field is `logger` now; files recorded by older releases (`log`) stay readable.
  assert.equal(parseAuditLine('{"logger":"ops","msg":"ready"}', 2), 'other');
  assert.equal(parseAuditLine('{"logger":"audit","decision":"deny","reason":"malformed_request"}', 3), 'unusable');
  assert.equal(parseAuditLine('{not json', 4), 'other');
});

test('audit record version: written as v, absent means version 1, an unknown version is refused', () => {
  const { lines, logger } = capture();
  new AuditLog(logger, resolveConfig({}).audit).record('grpc-v3', input, decision, 0.001);
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.v, AUDIT_RECORD_VERSION);
  assert.equal((parseAuditLine(lines[0]!, 1) as AuditRecord).version, AUDIT_RECORD_VERSION);
  const { v: _v, ...unversioned } = rec;
  const old = parseAuditLine(JSON.stringify(unversioned), 2) as AuditRecord;
  assert.equal(old.version, 1, 'records written before the field existed');
  assert.equal(old.path, '/api/orders/7');
  for (const v of [AUDIT_RECORD_VERSION + 1, 0, '1', 1.5]) {
    assert.throws(
      () => parseAuditLine(JSON.stringify({ ...rec, v }), 3),
      (e: unknown) => e instanceof InvalidArgumentError && /^line 3: audit record version /.test(e.message),
      String(v),
    );
  }
});
