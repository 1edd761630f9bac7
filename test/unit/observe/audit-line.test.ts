// The audit line written straight to the stream (observe/audit-line.ts) must be byte for byte
// the line pino's audit logger writes for the same record: log pipelines and `policy replay`
// read it. Both writers are compared on generated records and on whole AuditLog records.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { asString, auditLine } from '../../../src/observe/audit-line.js';
import { AuditLog } from '../../../src/observe/audit.js';
import { auditStreamOf, createAuditLogger } from '../../../src/observe/log.js';
import type { CheckInput } from '../../../src/decision/types.js';
import type { Decision } from '../../../src/decision/decision.js';
import type { PeerContext } from '../../../src/identity/peer-context.js';

const NOW = Date.UTC(2024, 1, 29, 23, 59, 59, 7);

function fixedClock(t: TestContext): void {
  t.mock.method(Date, 'now', () => NOW);
}

function capture() {
  const lines: string[] = [];
  return { lines, logger: createAuditLogger({ write: (s: string) => void lines.push(s) }) };
}

// Strings that take each branch of pino's escaper: plain, quotes and backslashes, a control
// character, a lone surrogate (kept raw by pino, escaped by JSON.stringify), over 100 characters,
// non-ASCII, U+2028, empty.
const STRINGS = [
  'alice',
  'say "hi" \\ there',
  'tab\there',
  'nul\u0000',
  'lone \ud800 surrogate',
  'x'.repeat(101),
  `${'"'.repeat(60)}${'\\'.repeat(41)}`,
  'ünïcødé ✓ 🙂',
  'line\u2028sep',
  '',
];

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomValue(rnd: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  switch (Math.floor(rnd() * (depth > 1 ? 7 : 9))) {
    case 0:
      return undefined;
    case 1:
      return pick(STRINGS);
    case 2:
      return pick([0, 1.235, -3, 1e21, 0.1 + 0.2, NaN, Infinity]);
    case 3:
      return rnd() < 0.5;
    case 4:
      return null;
    case 5:
      return pick(STRINGS) + pick(STRINGS);
    case 6:
      return Math.round(rnd() * 1e6) / 1e3;
    case 7:
      return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 4); i > 0; i--) o[pick(STRINGS)] = randomValue(rnd, depth + 1);
      return o;
    }
  }
}

test('auditLine writes what pino writes for the same record (generated records)', (t) => {
  fixedClock(t);
  const { lines, logger } = capture();
  const rnd = seeded(15);
  const keys = ['v', 'request_id', 'transport', 'decision', 'detail', 'source', 'path', 'auth', 'token_hash', 'latency_ms', 'x"y', 'k\\'];
  for (let i = 0; i < 2000; i++) {
    const rec: Record<string, unknown> = {};
    for (const k of keys) if (rnd() < 0.7) rec[k] = randomValue(rnd, 0);
    logger.info(rec); // pino's own serialization
    assert.equal(auditLine(rec, NOW), lines[i], `record ${i}: ${JSON.stringify(rec)}`);
  }
});

test('asString is pino escaping: a lone surrogate stays raw, a control character is escaped', () => {
  assert.equal(asString('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(asString('lone \ud800'), '"lone \ud800"');
  assert.equal(asString('tab\t'), '"tab\\t"');
  assert.equal(asString('\ud800'.repeat(101)), JSON.stringify('\ud800'.repeat(101)));
});

const input: CheckInput = {
  requestId: 'req-"1"',
  method: 'GET',
  host: 'orders.shop.svc',
  hostAsSent: 'orders.shop.svc:443',
  path: `/api/orders/${'p'.repeat(600)}`,
  query: 'access_token=SECRETQUERY',
  headers: { authorization: 'Bearer SECRETHEADER' },
  source: { principal: 'spiffe://cluster.local/ns/shop/sa/frontend', address: '10.0.0.1', labels: {} },
  destination: { principal: 'spiffe://cluster.local/ns/shop/sa/orders', address: '10.0.0.2', port: 8080, labels: {} },
  contextExtensions: {},
  sni: 'orders.example',
};

const peers = {
  caller: { via: 'xfcc', reported: 'spiffe://cluster.local/ns/edge/sa/gw', principal: 'cluster.local/ns/edge/sa/gw' },
  destination: { namespace: 'shop', labels: { app: 'orders' } },
  declaredDestination: { labels: {} },
  remoteIp: '192.0.2.7',
  mode: 'observe',
} as unknown as PeerContext;

const identity = {
  issuer: 'https://idp.example/realms/shop',
  subject: 'alice "the admin"',
  requestPrincipal: 'https://idp.example/realms/shop/alice',
  audiences: ['orders'],
  scopes: ['orders:read'],
  claims: { azp: 'web', acr: '2', amr: ['pwd', 'otp'], roles: ['x'.repeat(300)], 'a.b': 1, a: { b: 2 } },
  tokenHash: 'abcdef012345',
};

const decisions: Decision[] = [
  {
    verdict: { allow: true, reason: 'allowed', status: 200, policy: 'orders-read', rule: 0 },
    response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [] },
    evidence: { identity, tokenHash: identity.tokenHash, peers, policyEvaluated: true },
  },
  {
    verdict: { allow: true, reason: 'observed', status: 200, policy: 'orders-read' },
    response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [] },
    evidence: {
      peers,
      policyEvaluated: true,
      audits: [{ policy: 'audit-all', rule: 1, action: 'AUDIT', dryRun: false }],
      wouldDecide: { allow: false, reason: 'policy_denied', status: 403, policy: 'deny-x', rule: 2 },
      dryRun: { allow: false, reason: 'policy_denied', policy: 'dry' },
    },
  },
  {
    verdict: { allow: false, reason: 'token_expired', status: 401, detail: 'exp "passed"\n' },
    response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [], wwwAuthenticate: 'Bearer' },
    evidence: { tokenHash: 'ffff00001111' },
  },
];

test('AuditLog writes the same lines through the direct path as through pino', (t) => {
  fixedClock(t);
  for (const subject of ['plain', 'hash'] as const) {
    const direct = capture();
    assert.ok(auditStreamOf(direct.logger), 'createAuditLogger registers its stream');
    const viaPino = capture();
    // A child logger writes the same format but is not registered: AuditLog calls pino.
    const child = viaPino.logger.child({});
    assert.equal(auditStreamOf(child), undefined);
    const opts = { enabled: true, allowSampleRate: 1, subject, claims: ['azp', 'acr', 'amr', 'roles', 'a.b', 'missing'] };
    const a = new AuditLog(direct.logger, opts);
    const b = new AuditLog(child, opts);
    for (const d of decisions) {
      for (const inp of [input, undefined]) {
        a.record('grpc-v3', inp, d, 0.0012345);
        b.record('grpc-v3', inp, d, 0.0012345);
      }
    }
    assert.equal(direct.lines.length, decisions.length * 2);
    assert.deepEqual(direct.lines, viaPino.lines);
    const first = JSON.parse(direct.lines[0]!) as Record<string, unknown>;
    assert.equal(first.logger, 'audit');
    assert.equal(first.log, undefined, 'no top-level log field: it clashes with ECS log.*');
    assert.equal(first.time, new Date(NOW).toISOString());
  }
});

test('a silenced audit logger writes nothing on the direct path either', () => {
  const { lines, logger } = capture();
  logger.level = 'silent';
  new AuditLog(logger, { enabled: true, allowSampleRate: 1 }).record('grpc-v3', input, decisions[2]!, 0);
  assert.deepEqual(lines, []);
});
