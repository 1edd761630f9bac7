// Weak verification keys are dropped at load, counted, and never verify a token:
// - RSA public exponent 1 (Wycheproof "exponentOne"): s^1 mod n = s, so a "signature" that is
//   just the PKCS#1 v1.5 encoding of the digest verifies. A token is forged here with no private
//   key at all, and must be denied; exponents 3 and 65536 (even) are dropped too;
// - a ROCA modulus (Infineon RSALib, CVE-2017-15361), whatever its exponent;
// - HS384/HS512 secrets shorter than the hash output (RFC 7518 §3.2).
// The rest of the key set keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { JwksManager } from '../../../src/authn/jwks/manager.js';
import { hasRocaFingerprint, jwkUint, KEY_DROP_REASONS, rsaWeakness, type KeyDrop } from '../../../src/authn/weak-keys.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { readMetric, startTestApp } from '../../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll } from '../../helpers/grpc-client.js';
import { registerHmacSecret, registerPrivateKey, registerToken } from '../../helpers/capture.js';

// Public RSA moduli from the ROCA detector's test data (github.com/crocs-muni/roca,
// roca/tests/data): mod03 is an RSALib-generated 2048-bit modulus the detector flags; mod04 and
// mod05 are ordinary 2048-bit moduli it must not flag.
const ROCA_MOD03 =
  '9dcd7420e420c270a68060eb8b5aa7457a9f6648f86fafed2775cc1f79ae962f1e63f1b9e51c55f9ea6fdc7332e9b0058c9ff2eb1fc89855029cf6aafe21e689feb38ac9ffb12f1ce371bb5d0e9aae64161abce74b4244bf68f1edb4411f756a097c8929c14740245ea355f8332d1aa36bb50c7dcb4505da8de02e4e53d38f8df06097da7524df0df93db48eac8cc4af2d3a16257eb2b2adca6ba464e5974fa92550d31b1babf161e7692d00b86e3dd886ecab4abfbe1a8f8cc263ff4af55cdb45f4249a5193925f5e983d762f0b6800943eb0267b08f42ed311ce1f5c86eacbc8ce4d3cb7a2fee1ef5641423a1cf4114e5ecf50034a60a412523af9e6f4aa11';
const ROCA_MOD01_512 =
  '944e13208a280c37efc31c3114485e590192adbb8e11c87cad60cdef0037ce99278330d3f471a2538fa667802ed2a3c44a8b7dea826e888d0aa341fd664f7fa7';
const NORMAL_MOD04 =
  'af659676197f1db06da7ac111a0a0ec175b8b7ef07192ffcd1f6b854c327785f1a7fd3db7da45cd4a31b2b2e5ce0d823a68e28c8adf1747316becce1fe5768064039ad2062260c8d1a34e0586dce9bc13090fcc9fb8b8b2c08ed3ae8d61b29818a669689a7d9c1dab053b557fb8d3f9c44faad3e18c55e739b00d3c9126558bc8e980cd2af377126ef5b1374136774b8bd370e3c1c149db395c8f99696b628b105946fea20106fe24d103ac062661a9248e8c3f628e00b308d33953aabe555132e218e74ef4b578716b4fe7cf340e8e604a319bf6e9951e1942601d34291032db54999d09e5d036dde3544ad35256bbb97d5e3fffd38166c21eae9199548853b';
const NORMAL_MOD05 =
  'ba68fc5fbb606c4d428ab98b355d66214db4f7e475b5f7ffddc349c73f7d659965121ab16a4014e6c465c111d850205853d113f712127e4a230aa97f481eed6410f6c345f48e25fb81c42ec6815dc35cdd839e0de91fb2bec848d0910fa77e2c31f99ec9bcc7ed167812bd724318b0adf492d6b47c5ce050184e877ea64045f9501bf70569cffd102db7299f49e9c00222af9115d0aada967dfe759b7e4576e85c3a4ff594039231b90b448b90c3236083bcf819bc318d53a2018ec9b401f102ba9ee13dde592a42b032df136689d9c5619db55d519853a422d3100624d2d9e478218375f460c26930eda8cd0d947e58ffe9b7be2445356deaed988223e3ed1d';

const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url');
const E_65537 = 'AQAB';
const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];

const good = await generateKeyPair('RS256', { extractable: true });
registerPrivateKey(good.privateKey);
const goodJwk: JWK = { ...(await exportJWK(good.publicKey)), kid: 'good', alg: 'RS256', use: 'sig' };
/** A real 2048-bit modulus with the exponent replaced. */
const withExponent = (kid: string, e: string): JWK => ({ kty: 'RSA', n: goodJwk.n!, e, kid, alg: 'RS256', use: 'sig' });

/**
 * A token "signed" for an exponent-1 RSA key without any private key: the signature is the
 * EMSA-PKCS1-v1_5 encoding of SHA-256(signing input) itself, since s^1 mod n = s.
 */
function forgeExponentOne(iss: string, kid: string, modulusBytes: number): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256', kid, typ: 'JWT' })}.${enc({ iss, sub: 'mallory', aud: 'api', iat: now, exp: now + 300 })}`;
  const digestInfo = Buffer.concat([
    Buffer.from('3031300d060960864801650304020105000420', 'hex'),
    createHash('sha256').update(input).digest(),
  ]);
  const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(modulusBytes - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo]);
  return registerToken(`${input}.${em.toString('base64url')}`);
}

test('ROCA fingerprint: RSALib moduli flagged, ordinary and freshly generated moduli not', () => {
  assert.equal(hasRocaFingerprint(BigInt(`0x${ROCA_MOD03}`)), true, 'mod03 (2048-bit RSALib)');
  assert.equal(hasRocaFingerprint(BigInt(`0x${ROCA_MOD01_512}`)), true, 'mod01 (512-bit RSALib)');
  assert.equal(hasRocaFingerprint(BigInt(`0x${NORMAL_MOD04}`)), false, 'mod04');
  assert.equal(hasRocaFingerprint(BigInt(`0x${NORMAL_MOD05}`)), false, 'mod05');
  for (let i = 0; i < 5; i++) {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const n = jwkUint(publicKey.export({ format: 'jwk' }).n)!;
    assert.equal(hasRocaFingerprint(n), false, 'an OpenSSL-generated modulus');
    assert.equal(rsaWeakness(n, 65537n), undefined);
  }
  const n = BigInt(`0x${NORMAL_MOD04}`);
  for (const e of [1n, 3n, 17n, 65535n, 65536n, 65538n]) assert.equal(rsaWeakness(n, e), 'rsa_weak_exponent', `e = ${e}`);
  assert.equal(rsaWeakness(n, 65537n), undefined);
  assert.equal(rsaWeakness(n, 65539n), undefined, 'odd and above 65537: fine');
  assert.equal(rsaWeakness(BigInt(`0x${ROCA_MOD03}`), 65537n), 'rsa_roca');
});

test('JWKS load drops weak RSA keys with their reason and keeps the rest of the set', () => {
  const drops: KeyDrop[] = [];
  const mgr = new JwksManager({
    issuer: 'https://idp.test',
    source: {
      kind: 'inline',
      jwks: {
        keys: [
          goodJwk,
          withExponent('e1', 'AQ'),
          withExponent('e3', 'Aw'),
          withExponent('even', 'AQAA'),
          { kty: 'RSA', n: b64(ROCA_MOD03), e: E_65537, kid: 'roca', alg: 'RS256', use: 'sig' },
          { kty: 'RSA', n: b64(NORMAL_MOD04), e: E_65537, kid: 'normal', alg: 'RS256', use: 'sig' },
          { ...goodJwk, kid: 'enc', use: 'enc' },
        ],
      },
    },
    onKeysDropped: (d) => drops.push(...d),
  });
  assert.deepEqual([...mgr.kids].sort(), ['good', 'normal']);
  assert.deepEqual(drops.map((d) => `${d.kid}:${d.reason}`).sort(), [
    'e1:rsa_weak_exponent',
    'e3:rsa_weak_exponent',
    'enc:not_for_signing',
    'even:rsa_weak_exponent',
    'roca:rsa_roca',
  ]);
  for (const d of drops) assert.ok((KEY_DROP_REASONS as readonly string[]).includes(d.reason));
  // A set of only weak keys is no key set at all: rejected whole, like any set without a usable key.
  assert.throws(
    () => new JwksManager({ issuer: 'x', source: { kind: 'inline', jwks: { keys: [withExponent('e1', 'AQ')] } } }),
    /no usable signing keys/,
  );
});

test('over gRPC: a token forged for an exponent-1 key is denied, the good key still verifies, drops are counted', async () => {
  const issuer = 'https://weak.idp.test';
  const t = await startTestApp({
    issuers: [
      {
        issuer,
        jwks: {
          keys: [goodJwk, withExponent('e1', 'AQ'), { kty: 'RSA', n: b64(ROCA_MOD03), e: E_65537, kid: 'roca', alg: 'RS256', use: 'sig' }],
        },
        audiences: ['api'],
        algorithms: ['RS256'],
      },
    ],
    policies: POLICIES,
  });
  const client = authV3Client(t.grpcPort);
  try {
    const forged = forgeExponentOne(issuer, 'e1', Buffer.from(goodJwk.n!, 'base64url').length);
    const res = await check(client, checkRequest({ token: forged }));
    assert.notEqual(res.status?.code, 0, 'a token forged without any private key must never be allowed');
    assert.equal(res.status?.message, 'token_unknown_key');

    const now = Math.floor(Date.now() / 1000);
    const ok = registerToken(
      await new SignJWT({ iss: issuer, sub: 'alice', aud: 'api', iat: now, exp: now + 300 })
        .setProtectedHeader({ alg: 'RS256', kid: 'good' })
        .sign(good.privateKey),
    );
    assert.equal((await check(client, checkRequest({ token: ok }))).status?.code, 0, 'the rest of the set is used');

    assert.equal(await readMetric(t.adminPort, 'zt_authz_keys_dropped_total', { issuer, reason: 'rsa_weak_exponent' }), 1);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_keys_dropped_total', { issuer, reason: 'rsa_roca' }), 1);
    const warn = t.records().find((r) => r.msg === 'verification keys dropped: they must not verify tokens');
    assert.deepEqual(warn?.dropped, { rsa_weak_exponent: 1, rsa_roca: 1 });
    assert.deepEqual(warn?.kids, ['e1', 'roca']);
  } finally {
    closeAll(client);
    await t.stop();
  }
});

test('HS384 and HS512 secrets must be at least 48 and 64 bytes (RFC 7518 §3.2)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-hmac-len-'));
  const issuerWith = (bytes: number, algorithms: string[]) => {
    const file = join(dir, `s${bytes}`);
    const secret = randomBytes(bytes);
    // The reader drops one trailing newline (echo > file): a random last byte 0x0a would make the
    // secret one byte shorter than the size under test (a 1-in-256 flake).
    if (secret.at(-1) === 0x0a) secret[bytes - 1] = 0x0b;
    registerHmacSecret(secret);
    writeFileSync(file, secret);
    const cfg = resolveConfig({ issuers: [{ issuer: 'https://hs.test', hmacSecretFile: file, algorithms, audiences: ['api'] }] });
    return () => buildIssuerKeys(cfg.issuers[0]!, {});
  };
  assert.doesNotThrow(issuerWith(32, ['HS256']));
  assert.throws(issuerWith(32, ['HS384']), /holds 32 bytes, need at least 48 for HS384/);
  assert.throws(issuerWith(47, ['HS256', 'HS384']), /need at least 48 for HS384/);
  assert.doesNotThrow(issuerWith(48, ['HS384']));
  assert.throws(issuerWith(48, ['HS512']), /need at least 64 for HS512/);
  assert.throws(issuerWith(63, ['HS256', 'HS512', 'HS384']), /need at least 64 for HS512/);
  assert.doesNotThrow(issuerWith(64, ['HS512']));
  assert.throws(issuerWith(31, ['HS256']), /need at least 32 for HS256/);
});
