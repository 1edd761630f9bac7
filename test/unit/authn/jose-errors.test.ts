// reasonForVerifyError (src/authn/jose-errors.ts) maps what a verification throws to the reason
// code and detail of the denial. jose's errors are recognised by class, ours by ZtAuthzError code:
// every class jose exports is run through it here (a class jose adds later fails the first test
// until it is given an expected mapping), with each claim/reason variant of the claim errors, and
// the key resolvers' own refusals are checked to arrive as jose's JOSEAlgNotAllowed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors as jose, exportJWK, generateKeyPair, type FlattenedJWSInput, type JWTVerifyGetKey } from 'jose';
import { reasonForVerifyError } from '../../../src/authn/jose-errors.js';
import { JwksFetchError, JwksUnavailableError } from '../../../src/authn/jwks/errors.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { InternalError, KeyError } from '../../../src/errors.js';

type Mapping = { reason: string; detail: string };

const INTERNAL: Mapping = { reason: 'internal_error', detail: 'unexpected verification error' };

/** Every error class jose exports, built with its plainest constructor, and what it maps to. */
const JOSE_CLASSES: Record<string, { make: () => Error; expect: Mapping }> = {
  JOSEError: { make: () => new jose.JOSEError('x'), expect: INTERNAL },
  JWTClaimValidationFailed: {
    make: () => new jose.JWTClaimValidationFailed('x', {}),
    expect: { reason: 'token_claims_invalid', detail: 'claim "unspecified" is invalid' },
  },
  JWTExpired: {
    make: () => new jose.JWTExpired('x', {}, 'exp', 'check_failed'),
    expect: { reason: 'token_expired', detail: 'exp is in the past (beyond clock skew)' },
  },
  JOSEAlgNotAllowed: {
    make: () => new jose.JOSEAlgNotAllowed('x'),
    expect: { reason: 'token_alg_not_allowed', detail: 'alg is not in the issuer allow-list' },
  },
  JOSENotSupported: {
    make: () => new jose.JOSENotSupported('x'),
    expect: { reason: 'token_malformed', detail: 'token uses an unsupported header, crit extension or algorithm' },
  },
  JWEDecryptionFailed: { make: () => new jose.JWEDecryptionFailed(), expect: INTERNAL },
  JWEInvalid: { make: () => new jose.JWEInvalid('x'), expect: INTERNAL },
  JWSInvalid: { make: () => new jose.JWSInvalid('x'), expect: { reason: 'token_malformed', detail: 'token is not a valid JWS/JWT' } },
  JWTInvalid: { make: () => new jose.JWTInvalid('x'), expect: { reason: 'token_malformed', detail: 'token is not a valid JWS/JWT' } },
  JWKInvalid: { make: () => new jose.JWKInvalid('x'), expect: INTERNAL },
  JWKSInvalid: { make: () => new jose.JWKSInvalid('x'), expect: { reason: 'jwks_unavailable', detail: 'issuer key set is invalid' } },
  JWKSNoMatchingKey: {
    make: () => new jose.JWKSNoMatchingKey(),
    expect: { reason: 'token_unknown_key', detail: 'no key in the issuer JWKS matches kid/alg' },
  },
  JWKSMultipleMatchingKeys: {
    make: () => new jose.JWKSMultipleMatchingKeys(),
    expect: { reason: 'token_invalid_signature', detail: 'no candidate key verifies the signature' },
  },
  JWKSTimeout: { make: () => new jose.JWKSTimeout(), expect: { reason: 'jwks_unavailable', detail: 'issuer keys are not available' } },
  JWSSignatureVerificationFailed: {
    make: () => new jose.JWSSignatureVerificationFailed(),
    expect: { reason: 'token_invalid_signature', detail: 'signature verification failed' },
  },
};

test('every error class jose exports maps to its reason and detail', () => {
  const exported = Object.keys(jose).filter((k) => typeof (jose as Record<string, unknown>)[k] === 'function');
  assert.deepEqual(
    exported.sort(),
    Object.keys(JOSE_CLASSES).sort(),
    'jose exports an error class this table (and jose-errors.ts) does not know',
  );
  for (const [name, { make, expect }] of Object.entries(JOSE_CLASSES)) {
    const err = make();
    assert.ok(err instanceof (jose as unknown as Record<string, new (...a: never[]) => Error>)[name]!, name);
    assert.deepEqual(reasonForVerifyError(err), expect, name);
  }
});

test('JWTExpired: exp against maxTokenAge (iat)', () => {
  assert.deepEqual(reasonForVerifyError(new jose.JWTExpired('x', {}, 'exp', 'check_failed')), {
    reason: 'token_expired',
    detail: 'exp is in the past (beyond clock skew)',
  });
  assert.deepEqual(reasonForVerifyError(new jose.JWTExpired('x', {}, 'iat', 'check_failed')), {
    reason: 'token_expired',
    detail: 'token is older than maxTokenAgeSeconds',
  });
});

test('JWTClaimValidationFailed: each claim and reason', () => {
  const cases: Array<[claim: string, why: string, expect: Mapping]> = [
    ['nbf', 'check_failed', { reason: 'token_not_yet_valid', detail: 'nbf is in the future (beyond clock skew)' }],
    ['iat', 'missing', { reason: 'token_claims_invalid', detail: 'iat is required (maxTokenAgeSeconds is set)' }],
    ['iat', 'check_failed', { reason: 'token_not_yet_valid', detail: 'iat is in the future (beyond clock skew)' }],
    ['aud', 'missing', { reason: 'audience_mismatch', detail: 'aud claim is missing' }],
    ['aud', 'check_failed', { reason: 'audience_mismatch', detail: 'aud does not contain an accepted audience' }],
    ['iss', 'check_failed', { reason: 'issuer_unknown', detail: 'iss does not match the issuer' }],
    ['iss', 'missing', { reason: 'issuer_unknown', detail: 'iss does not match the issuer' }],
    ['typ', 'check_failed', { reason: 'token_claims_invalid', detail: 'typ header is not the required type' }],
    ['sub', 'missing', { reason: 'token_claims_invalid', detail: 'required claim "sub" is missing' }],
    ['sub', 'check_failed', { reason: 'token_claims_invalid', detail: 'claim "sub" is invalid' }],
    // A claim name from the token is cut to 64 safe characters before it reaches a detail.
    [
      'a b"c\n' + 'x'.repeat(100),
      'missing',
      { reason: 'token_claims_invalid', detail: `required claim "a?b?c?${'x'.repeat(58)}" is missing` },
    ],
  ];
  for (const [claim, why, expect] of cases) {
    assert.deepEqual(
      reasonForVerifyError(new jose.JWTClaimValidationFailed('x', { sub: 'secret-ish payload' }, claim, why)),
      expect,
      `${claim}/${why}`,
    );
  }
});

test('our errors by code; anything else fails closed', () => {
  assert.deepEqual(reasonForVerifyError(new JwksUnavailableError('no keys')), {
    reason: 'jwks_unavailable',
    detail: 'issuer keys are not available',
  });
  // WebCrypto's complaint about a key that does not fit the algorithm.
  assert.deepEqual(reasonForVerifyError(new TypeError('bad key')), {
    reason: 'token_invalid_signature',
    detail: 'key is not usable for this algorithm',
  });
  for (const other of [
    new Error('x'),
    new JwksFetchError('x'),
    new KeyError('x'),
    new InternalError('x'),
    undefined,
    null,
    'ERR_JWT_EXPIRED',
    42,
  ]) {
    assert.deepEqual(reasonForVerifyError(other), INTERNAL, String(other));
  }
  // Only jose's classes count: an object that copies a jose code (or our code) is not one of them.
  for (const code of ['ERR_JWT_EXPIRED', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'ERR_JOSE_ALG_NOT_ALLOWED', 'ERR_ZT_JWKS_UNAVAILABLE']) {
    assert.deepEqual(reasonForVerifyError(Object.assign(new Error('x'), { code, claim: 'exp' })), INTERNAL, code);
  }
});

test("the key resolvers' own refusals are jose's JOSEAlgNotAllowed (token_alg_not_allowed)", async () => {
  const token = { payload: '', signature: '' } as FlattenedJWSInput;
  const refusal = async (getKey: JWTVerifyGetKey, alg: string): Promise<unknown> => {
    try {
      await getKey({ alg }, token);
    } catch (err) {
      return err;
    }
    assert.fail(`getKey(${alg}) did not throw`);
  };
  const alg = { reason: 'token_alg_not_allowed', detail: 'alg is not in the issuer allow-list' };

  const { publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwksOnly = resolveConfig({ issuers: [{ issuer: 'https://idp.test', jwks: { keys: [jwk] }, audiences: ['api'] }] }).issuers[0]!;
  const noHmac = await refusal(buildIssuerKeys(jwksOnly, {}).getKey, 'HS256');
  assert.ok(noHmac instanceof jose.JOSEAlgNotAllowed, String(noHmac));
  assert.equal((noHmac as Error).message, 'HMAC algorithm without a configured secret');
  assert.deepEqual(reasonForVerifyError(noHmac), alg);

  const file = join(mkdtempSync(join(tmpdir(), 'zt-jose-errors-')), 'hmac');
  writeFileSync(file, 'k'.repeat(32));
  const hmacOnly = resolveConfig({
    issuers: [{ issuer: 'https://hs.test', hmacSecretFile: file, algorithms: ['HS256'], audiences: ['api'] }],
  }).issuers[0]!;
  const noJwks = await refusal(buildIssuerKeys(hmacOnly, {}).getKey, 'RS256');
  assert.ok(noJwks instanceof jose.JOSEAlgNotAllowed, String(noJwks));
  assert.equal((noJwks as Error).message, 'no JWKS configured');
  assert.deepEqual(reasonForVerifyError(noJwks), alg);
});
