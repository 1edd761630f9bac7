// tokenIssuer.pollSeconds with keysDir: a replica notices a removed key file at its next poll at
// the latest, and keeps signing with the key until then, while the replica that noticed first
// drops it from its JWKS clockSkewSeconds after that key's last token expires. So polling must be
// on and below clockSkewSeconds; keysSecret (watched, not polled) has no such bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configProblems } from '../../helpers/config-problems.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';

const issuer = (extra: string): string => `tokenIssuer: { issuer: "https://zt-authz.zt-system.svc", ${extra} }`;

test('keysDir: defaults (poll 10 s, skew 60 s) are valid, and pollSeconds below clockSkewSeconds is', () => {
  assert.equal(checkConfig({ tokenIssuer: { issuer: 'https://zt.test', keysDir: '/k' } }).config.tokenIssuer?.pollSeconds, 10);
  assert.deepEqual(configProblems(issuer('keysDir: /k, pollSeconds: 0.2, clockSkewSeconds: 1')), []);
});

test('keysDir: pollSeconds at or above clockSkewSeconds, or 0, is refused with what goes wrong and the fix', () => {
  for (const [settings, expect] of [
    [
      'pollSeconds: 60',
      /^tokenIssuer\.pollSeconds: must be less than tokenIssuer\.clockSkewSeconds \(60\): .*keeps signing.*lower pollSeconds or raise clockSkewSeconds$/,
    ],
    ['pollSeconds: 30, clockSkewSeconds: 20', /^tokenIssuer\.pollSeconds: must be less than tokenIssuer\.clockSkewSeconds \(20\)/],
    ['pollSeconds: 5, clockSkewSeconds: 0', /^tokenIssuer\.pollSeconds: must be less than tokenIssuer\.clockSkewSeconds \(0\)/],
    [
      'pollSeconds: 0',
      /^tokenIssuer\.pollSeconds: 0 \(file events only\) cannot be used with keysDir: .*poll more often than clockSkewSeconds \(60\)$/,
    ],
  ] as const) {
    const problems = configProblems(issuer(`keysDir: /k, ${settings}`));
    assert.equal(problems.length, 1, `${settings}: ${problems.join('; ')}`);
    assert.match(problems[0]!, expect, settings);
  }
});

test('keysSecret: pollSeconds is not used, so not bounded', () => {
  assert.deepEqual(
    configProblems(`kubernetes: { enabled: true }\n${issuer('keysSecret: { name: zt-signing }, pollSeconds: 0, clockSkewSeconds: 0')}`),
    [],
  );
});
