// Policy replay reads requestPrincipals the way live matching does (policy/request-principal.ts,
// Istio's split at the last "/"), also for a record whose subject is only a hash: the issuer is
// recorded, so the issuer half decides, and only a subject prefix/suffix is indeterminate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../../src/config/resolve.js';
import { Replayer } from '../../../src/migrate/replay.js';
import { hashSubject, parseAuditLine, type AuditRecord } from '../../../src/observe/audit-record.js';
import type { PolicySpec } from '../../../src/config/policy-schema.js';

const ISSUER = 'https://idp.example.com/realms/shop';
const ISSUERS = [
  { issuer: ISSUER, jwksUri: 'https://idp.example.com/jwks', audiences: ['shop'] },
  { issuer: `${ISSUER}-admin`, jwksUri: 'https://idp.example.com/jwks', audiences: ['shop'] },
];

function hashedRecord(issuer: string, sub: string): AuditRecord {
  const line = JSON.stringify({
    log: 'audit',
    time: '2025-01-01T00:00:00.000Z',
    decision: 'allow',
    reason: 'allowed',
    source: { principal: 'spiffe://cluster.local/ns/shop/sa/frontend', address: '10.0.0.1' },
    destination: { host: 'api.shop', namespace: 'shop', labels: { app: 'api' } },
    method: 'GET',
    path: '/a',
    issuer,
    subject_hash: hashSubject(issuer, sub),
    auth: { audiences: ['shop'], scopes: ['read'], claims: {} },
  });
  return parseAuditLine(line, 1) as AuditRecord;
}

function outcome(requestPrincipals: string[], record: AuditRecord): string {
  const policies: PolicySpec[] = [
    { name: 'p', namespace: 'shop', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals } }] }] },
  ];
  const r = new Replayer(resolveConfig({ issuers: ISSUERS, policies }));
  r.add(record);
  const e = r.finish().edges[0]!;
  if (e.indeterminate) return 'indeterminate';
  return e.allowToDeny ? 'allow→deny' : 'unchanged';
}

test('replay: a hashed subject meets requestPrincipals split at the last "/", as live matching does', () => {
  // Fresh records each time: replay fills in a subject it recovers from the hash.
  const admin = () => hashedRecord(`${ISSUER}-admin`, 'carol');
  const shop = () => hashedRecord(ISSUER, 'carol');
  // "<realms>/shop*" is issuer ".../realms" with a subject starting "shop": neither realm's tokens.
  assert.equal(outcome(['https://idp.example.com/realms/shop*'], admin()), 'allow→deny');
  assert.equal(outcome(['https://idp.example.com/realms/shop*'], shop()), 'allow→deny');
  // "<iss>/*" needs that exact issuer; any (non-empty) subject.
  assert.equal(outcome([`${ISSUER}/*`], shop()), 'unchanged');
  assert.equal(outcome([`${ISSUER}/*`], admin()), 'allow→deny');
  // Issuer right, subject only partly known: the record cannot tell.
  assert.equal(outcome([`${ISSUER}/ca*`], shop()), 'indeterminate');
  assert.equal(outcome(['*-admin/carol'], admin()), 'unchanged', 'exact subject recovered from its hash');
  assert.equal(outcome(['*rol'], admin()), 'indeterminate', 'no "/": any issuer, a subject ending "rol"');
  assert.equal(outcome(['*/car*'], admin()), 'allow→deny', 'a leading "*" is read first: the subject is exactly "car*"');
});
