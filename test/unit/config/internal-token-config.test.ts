// response.internalToken and the policies' internalToken switch: defaults, and every cross-field
// rule (no tokenIssuer, a header that cannot carry the token, a claim zt-authz sets itself, the
// switch on a policy that does not allow).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configProblems } from '../../helpers/config-problems.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';

const TOKEN_ISSUER = 'tokenIssuer: { issuer: "https://zt-authz.zt-system.svc", keysDir: /etc/zt-authz/signing }';

test('defaults: off, authorization, destination, no claims, 10000 cached tokens', () => {
  const c = checkConfig({}).config;
  assert.deepEqual(c.response.internalToken, {
    enabled: false,
    header: 'authorization',
    audience: 'destination',
    claims: [],
    cacheMaxEntries: 10000,
  });
  const set = checkConfig({
    tokenIssuer: { issuer: 'https://zt-authz.zt-system.svc', keysDir: '/k' },
    response: { internalToken: { enabled: true, header: 'X-Internal-Token', audience: 'host', claims: ['scope', 'roles', 'scope'] } },
  }).config;
  assert.deepEqual(set.response.internalToken, {
    enabled: true,
    header: 'x-internal-token',
    audience: 'host',
    claims: ['scope', 'roles'],
    cacheMaxEntries: 10000,
  });
});

test('enabled, or a policy turning it on, without tokenIssuer: an error naming the fix', () => {
  const problems = configProblems(`
response: { internalToken: { enabled: true } }
policies:
  - { name: a, rules: [{}], internalToken: true }
  - { name: b, rules: [{}], internalToken: false }
`);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /^response\.internalToken\.enabled: needs tokenIssuer: add a tokenIssuer block/);
  assert.match(problems[1]!, /^policies\[0\]\.internalToken: needs tokenIssuer/);
  assert.deepEqual(configProblems(`${TOKEN_ISSUER}\nresponse: { internalToken: { enabled: true } }`), []);
  assert.deepEqual(configProblems('policies: [{ name: b, rules: [{}], internalToken: false }]'), [], 'off needs no issuer');
});

test('header: not a token, a pseudo-header, host or framing headers, an identity header zt-authz sets: errors', () => {
  const bad: Array<[string, RegExp]> = [
    ['"x bad"', /is not a valid header name/],
    ['""', /must NOT have fewer than 1 characters|not a valid header name/],
    ['":authority"', /is a pseudo-header/],
    ['host', /routing or framing header/],
    ['Content-Length', /routing or framing header/],
    ['cookie', /routing or framing header/],
    ['x-envoy-auth-headers-to-remove', /reserved by Envoy/],
    ['x-auth-subject', /identity header zt-authz already sets/],
    ['x-tenant', /identity header zt-authz already sets/],
  ];
  for (const [header, re] of bad) {
    const problems = configProblems(`${TOKEN_ISSUER}
issuers: [{ issuer: https://idp.example, jwksUri: https://idp.example/jwks, audiences: [a], outputClaimToHeaders: [{ header: x-tenant, claim: tenant }] }]
response: { internalToken: { enabled: true, header: ${header} } }`);
    assert.equal(problems.length, 1, `${header}: ${problems.join('\n')}`);
    assert.match(problems[0]!, re, header);
  }
  for (const ok of ['authorization', 'x-internal-token', 'X-Api-Key'])
    assert.deepEqual(configProblems(`${TOKEN_ISSUER}\nresponse: { internalToken: { enabled: true, header: ${ok} } }`), [], ok);
});

test('claims zt-authz sets on every token cannot be copied', () => {
  const problems = configProblems(`${TOKEN_ISSUER}
response: { internalToken: { enabled: true, claims: [scope, iss, sub, aud, exp, iat, nbf, jti, act, zt_cred_hash, roles] } }`);
  assert.deepEqual(
    problems,
    ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'act', 'zt_cred_hash'].map(
      (c, i) => `response.internalToken.claims[${i + 1}]: "${c}" is set by zt-authz on every minted token and cannot be copied`,
    ),
  );
});

test('the policy switch belongs to ALLOW policies only', () => {
  const problems = configProblems(`${TOKEN_ISSUER}
policies:
  - { name: d, action: DENY, rules: [{}], internalToken: false }
  - { name: a, action: AUDIT, rules: [{}], internalToken: true }
  - { name: ok, rules: [{}], internalToken: true }`);
  assert.equal(problems.length, 2, problems.join('\n'));
  for (const p of problems) assert.match(p, /internalToken: only an ALLOW policy/);
});
