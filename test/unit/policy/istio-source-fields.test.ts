// Validation and helpers of the Istio source fields added beside the conformance cases
// (test/conformance/26-28): trust domain values are checked as Istio's CheckTrustDomainValues
// does (pkg/config/security/security.go), notServiceAccounts follows serviceAccounts' rules
// (pkg/config/validation/validation.go), the trust domain bundle follows
// pilot/pkg/security/trustdomain/bundle_test.go, and X-Forwarded-For hops follow Envoy's
// xff_num_trusted_hops examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/config/problems.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import { expandTrustDomainAliases, replaceTrustDomainAliases } from '../../../src/identity/trust-domain.js';
import { remoteIp } from '../../../src/identity/remote-ip.js';
import { splitSpaceDelimited } from '../../../src/authn/space-delimited.js';

function problems(raw: unknown): string[] {
  try {
    checkConfig(raw);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

const source = (s: Record<string, unknown>) => ({ policies: [{ name: 'p', rules: [{ from: [{ source: s }] }] }] });

test('trustDomains values: at most one "*", only at an end, no "/" (CheckTrustDomainValues)', () => {
  assert.deepEqual(problems(source({ trustDomains: ['cluster.local', '*', 'cluster.*', '*local'] })), []);
  for (const bad of ['a*b', '**', '*a*', 'td/ns']) {
    const p = problems(source({ notTrustDomains: [bad] }));
    assert.equal(p.length, 1, `${bad}: ${p}`);
    assert.match(p[0]!, /policies\[0\]\.rules\[0\]\.from\[0\]\.source\.notTrustDomains\[0\]/);
  }
  assert.equal(problems({ policies: [{ name: 'p', rules: [{ when: [{ key: 'source.trustDomain', values: ['a/b'] }] }] }] }).length, 1);
});

test('notServiceAccounts: the serviceAccounts rules (no wildcard, ns/sa, not with principals or namespaces)', () => {
  assert.deepEqual(problems(source({ notServiceAccounts: ['prod/admin'] })), []);
  assert.equal(problems(source({ notServiceAccounts: ['prod/*'] })).length, 1);
  const mixed = problems(source({ notServiceAccounts: ['prod/admin'], namespaces: ['prod'] }));
  assert.ok(
    mixed.some((m) => m.includes('notServiceAccounts') && m.includes('cannot be combined')),
    String(mixed),
  );
});

test('remote-IP fields take IPs and CIDRs only; identity settings are validated', () => {
  assert.deepEqual(problems(source({ remoteIpBlocks: ['10.0.0.0/8', '2001:db8::1'], notRemoteIpBlocks: ['1.2.3.4'] })), []);
  assert.equal(problems(source({ remoteIpBlocks: ['10.0.0.0/33'] })).length, 1);
  assert.ok(problems({ identity: { numTrustedProxies: -1 } }).length > 0);
  assert.ok(problems({ identity: { trustDomain: 'Bad/TD' } }).length > 0);
  const cfg = checkConfig({ identity: { trustDomain: 'td1', trustDomainAliases: ['td2', 'td1'], numTrustedProxies: 2 } }).config;
  assert.deepEqual(cfg.identity.trustDomains, ['td1', 'td2']);
  assert.equal(cfg.identity.numTrustedProxies, 2);
});

test('spaceDelimitedClaims: defaults always included, sorted (TestBuildSpaceDelimitedClaims)', () => {
  const iss = (extra: Record<string, unknown>) =>
    checkConfig({ issuers: [{ issuer: 'https://i', jwks: { keys: [] }, audiences: ['a'], ...extra }] }).config.issuers[0]!
      .spaceDelimitedClaims;
  assert.deepEqual(iss({}), ['permission', 'scope']);
  assert.deepEqual(iss({ spaceDelimitedClaims: ['scope', 'custom_scope', 'permission', 'roles'] }), [
    'custom_scope',
    'permission',
    'roles',
    'scope',
  ]);
  assert.ok(problems({ issuers: [{ issuer: 'https://i', jwks: { keys: [] }, audiences: ['a'], spaceDelimitedClaims: [''] }] }).length > 0);
  const claims = { permission: 'read  write', scope: ['x y'], n: { permission: 'a b' } };
  assert.deepEqual(splitSpaceDelimited(claims, ['permission', 'scope']), {
    permission: ['read', 'write'],
    scope: ['x y'],
    n: { permission: 'a b' },
  });
  assert.equal(claims.permission, 'read  write', 'the verified payload is never mutated');
});

test('trust domain bundle (bundle_test.go TestReplaceTrustDomainAliases)', () => {
  const cases: Array<[string, string[], string[], string[]]> = [
    ['No trust domain aliases', ['cluster.local'], ['cluster.local/ns/foo/sa/bar'], ['cluster.local/ns/foo/sa/bar']],
    ['Principal with *', ['cluster.local'], ['*'], ['*']],
    ['Principal with * prefix', ['cluster.local'], ['*/ns/foo/sa/bar'], ['*/ns/foo/sa/bar']],
    ['One trust domain alias, one principal', ['td2', 'td1'], ['td1/ns/foo/sa/bar'], ['td2/ns/foo/sa/bar', 'td1/ns/foo/sa/bar']],
    [
      'Two trust domain aliases with * prefix',
      ['td2', 'foo-td1', 'cluster.local'],
      ['*-td1/ns/foo/sa/bar'],
      ['td2/ns/foo/sa/bar', '*-td1/ns/foo/sa/bar', 'cluster.local/ns/foo/sa/bar'],
    ],
    ['Principals not match any trust domains', ['td1', 'td2'], ['some-td/ns/foo/sa/bar'], ['some-td/ns/foo/sa/bar']],
    ['Trust domain is empty string', ['new-td', 'td2', 'td3'], ['/ns/some-ns/sa/some-sa'], ['/ns/some-ns/sa/some-sa']],
    ['No duplicated principals for prefix', ['new-td', 'old-td'], ['*-td/ns/some-ns/sa/some-sa'], ['*-td/ns/some-ns/sa/some-sa']],
  ];
  for (const [name, bundle, principals, want] of cases) assert.deepEqual(replaceTrustDomainAliases(principals, bundle), want, name);
  assert.deepEqual(expandTrustDomainAliases(['td1', 'other'], ['td1', 'td2']), ['td1', 'td2', 'other']);
});

test('remote IP: Envoy xff_num_trusted_hops examples; fail closed on anything else', () => {
  const at = (xff: string | undefined, n: number, peer: string | null = '192.0.2.5') =>
    remoteIp(
      { headers: xff === undefined ? {} : { 'x-forwarded-for': xff }, source: { ...(peer ? { address: peer } : {}), labels: {} } },
      n,
    );
  // Example 1: no trusted hop, XFF ignored.
  assert.equal(at('203.0.113.128, 203.0.113.10, 203.0.113.1', 0), '192.0.2.5');
  // Example 3: two trusted hops, the 2nd to last entry.
  assert.equal(at('203.0.113.128, 203.0.113.10, 203.0.113.1', 2), '203.0.113.10');
  assert.equal(at('203.0.113.128,203.0.113.10,203.0.113.1,192.0.2.5', 2), '203.0.113.10');
  assert.equal(at('2001:db8::7', 1), '2001:db8::7');
  for (const [xff, n] of [
    [undefined, 1],
    ['203.0.113.1', 2],
    ['203.0.113.1:80', 1],
    ['fe80::1%eth0', 1],
    ['', 1],
    ['1.2.3.4, junk', 1],
  ] as const) {
    assert.equal(at(xff, n), undefined, `${xff} / ${n}`);
  }
  assert.equal(at('1.2.3.4', 0, null), undefined);
  assert.equal(at('1.2.3.4', 0, 'not-an-ip'), undefined);
});
