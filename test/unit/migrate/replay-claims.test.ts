// `policy replay` reads claims the way live matching does: a `[a][b]` when-key walks nested
// claims only, `[a.b]` reads the top-level claim named "a.b". Audit records say which form a
// dotted path came from (auth.literal_keys), so replaying a record against the configuration
// that produced it never changes the outcome, and what the record cannot tell is indeterminate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config/resolve.js';
import { buildSnapshot } from '../../../src/snapshot/builder.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { DecisionEngine } from '../../../src/decision/engine.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import { AuditLog } from '../../../src/observe/audit.js';
import { parseAuditLine } from '../../../src/observe/audit-record.js';
import { Replayer } from '../../../src/migrate/replay.js';

const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' };

async function liveAndReplay(key: string, claims: Record<string, unknown>) {
  const raw = {
    issuers: [{ issuer: 'https://idp', jwks: { keys: [jwk] }, algorithms: ['ES256'], audiences: ['api'] }],
    audit: { claims: ['account.status'] },
    policies: [{ name: 'p', action: 'ALLOW', rules: [{ to: [{ operation: { paths: ['/d'] } }], when: [{ key, values: ['active'] }] }] }],
  };
  const config = resolveConfig(raw);
  const snap = buildSnapshot(
    config,
    new Map(config.issuers.map((i) => [i.issuer, buildIssuerKeys(i, {})])),
    { cacheHit() {}, cacheMiss() {} },
    1,
  );
  const token = await new SignJWT({ iss: 'https://idp', sub: 'alice', aud: 'api', exp: Math.floor(Date.now() / 1000) + 300, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k' })
    .sign(privateKey);
  const n = normalizeCheckRequest(
    {
      attributes: {
        request: { http: { method: 'GET', path: '/d', host: 'h', headers: { authorization: `Bearer ${token}` } } },
        source: {},
        destination: {},
      },
    },
    config.limits,
  );
  assert.ok(n.ok);
  const live = await new DecisionEngine(() => snap).decide(n.input);
  let line = '';
  const logger = pino(
    { base: null },
    new Writable({
      write(c, _e, cb) {
        line += String(c);
        cb();
      },
    }),
  );
  new AuditLog(logger.child({ logger: 'audit' }), config.audit).record('grpc-v3', n.input, live, 0.001);
  await new Promise((r) => setImmediate(r));
  const rec = parseAuditLine(line.trim(), 1);
  assert.ok(typeof rec === 'object', `an audit record: ${line}`);
  const rp = new Replayer(resolveConfig(raw));
  rp.add(rec);
  const edge = rp.finish().edges[0]!;
  const outcome = edge.allowToDeny ? 'allow→deny' : edge.denyToAllow ? 'deny→allow' : edge.indeterminate ? 'indeterminate' : 'unchanged';
  return { live: live.verdict.reason, outcome, literalKeys: rec.auth?.literalKeys };
}

test('replay reads [a][b] nested and [a.b] literally, as live matching does', async () => {
  const nested = { account: { status: 'active' } };
  assert.deepEqual(await liveAndReplay('request.auth.claims[account][status]', nested), {
    live: 'allowed',
    outcome: 'unchanged',
    literalKeys: [],
  });
  assert.deepEqual(await liveAndReplay('request.auth.claims[account.status]', nested), {
    live: 'no_policy_matched',
    outcome: 'unchanged',
    literalKeys: [],
  });
  const literal = { 'account.status': 'active' };
  assert.deepEqual(await liveAndReplay('request.auth.claims[account.status]', literal), {
    live: 'allowed',
    outcome: 'unchanged',
    literalKeys: ['account.status'],
  });
  assert.deepEqual(await liveAndReplay('request.auth.claims[account][status]', literal), {
    live: 'no_policy_matched',
    outcome: 'indeterminate',
    literalKeys: ['account.status'],
  });
  // Both forms in one token: the record holds the top-level one; the nested value is unknown.
  const both = { 'account.status': 'active', account: { status: 'suspended' } };
  assert.deepEqual(await liveAndReplay('request.auth.claims[account][status]', both), {
    live: 'no_policy_matched',
    outcome: 'indeterminate',
    literalKeys: ['account.status'],
  });
});
