// Signing keys from files: every kind of unusable key is refused with an error naming the file
// (never key material), at start-up (zt-authz does not start) and on reload (the last good keys
// stay, counted in zt_authz_signing_keys_reload_total{result="error"}); a removed file retires its
// key; a kid reused for a different key is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { KeyError } from '../../../src/errors.js';
import { Metrics } from '../../../src/observe/metrics.js';
import { loadKeysDir } from '../../../src/mint/keys/sources.js';
import { importPrivateJwk } from '../../../src/mint/keys/private-jwk.js';
import { newPrivateJwk, type PrivateJwk } from '../../../src/mint/keys/new-key.js';
import { SigningKeyLoader } from '../../../src/mint/keys/key-loader.js';
import { metricValue } from '../../helpers/app.js';
import type { MintAlgorithm } from '../../../src/mint/keys/signing-key.js';

const jwkOf = (k: ReturnType<typeof generateKeyPairSync>['privateKey'], kid: string): PrivateJwk => ({
  ...(k.export({ format: 'jwk' }) as Record<string, string>),
  kid,
});

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'zt-signing-'));
}

const write = (d: string, name: string, v: unknown): void => writeFileSync(join(d, name), typeof v === 'string' ? v : JSON.stringify(v));

/** Every private member value of these JWKs: none may appear in an error message. */
function secrets(...jwks: PrivateJwk[]): string[] {
  return jwks.flatMap((j) => ['d', 'p', 'q', 'dp', 'dq', 'qi'].map((m) => j[m]).filter((v): v is string => typeof v === 'string'));
}

const p256 = (kid: string) => jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, kid);

const BAD: Array<{ what: string; alg: MintAlgorithm; jwk: () => unknown; message: RegExp }> = [
  {
    what: 'wrong curve (P-384 for ES256)',
    alg: 'ES256',
    jwk: () => jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, 'p384'),
    message: /ES256 needs an EC P-256 key .*this is kty EC, crv P-384/,
  },
  {
    what: 'wrong kty (RSA for ES256)',
    alg: 'ES256',
    jwk: () => jwkOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'rsa'),
    message: /ES256 needs an EC P-256 key .*this is kty RSA/,
  },
  { what: 'wrong kty (EC for EdDSA)', alg: 'EdDSA', jwk: () => p256('ec'), message: /EdDSA needs an Ed25519 key/ },
  { what: 'Ed448 for EdDSA', alg: 'EdDSA', jwk: () => jwkOf(generateKeyPairSync('ed448').privateKey, 'ed448'), message: /crv Ed448/ },
  {
    what: 'RSA 1024 for RS256',
    alg: 'RS256',
    jwk: () => jwkOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, 'rsa1024'),
    message: /RSA key of 1024 bits; RS256 signing keys need at least 2048/,
  },
  {
    what: 'public key only',
    alg: 'ES256',
    jwk: () => {
      const { d: _d, ...pub } = p256('pub');
      return pub;
    },
    message: /a public key; a signing key needs its private part \(d\)/,
  },
  {
    what: 'missing kid',
    alg: 'ES256',
    jwk: () => {
      const { kid: _kid, ...rest } = p256('x');
      return rest;
    },
    message: /the key has no kid/,
  },
  { what: 'a JSON array', alg: 'ES256', jwk: () => [p256('arr')], message: /not a JSON object/ },
  {
    what: 'alg member of another algorithm',
    alg: 'ES256',
    jwk: () => ({ ...p256('alg'), alg: 'ES384' }),
    message: /its alg ES384 is not tokenIssuer.algorithm ES256/,
  },
  {
    what: 'private part of another key (not a pair)',
    alg: 'ES256',
    jwk: () => ({ ...p256('mix'), d: p256('other').d }),
    message: /cannot be imported as a private ES256 key|does not belong to the public members/,
  },
  {
    what: 'RSA private part of another key (not a pair)',
    alg: 'RS256',
    jwk: () => ({
      ...jwkOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'rmix'),
      n: (generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as { n: string }).n,
    }),
    // Node 20 imports the mixed key and the key-pair probe refuses it; Node 24's OpenSSL refuses it on import.
    message: /does not belong to the public members|the members are not one key pair/,
  },
  {
    what: 'symmetric key',
    alg: 'ES256',
    jwk: () => ({ kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0', kid: 'oct' }),
    message: /needs an EC P-256 key .*kty oct/,
  },
  {
    what: 'malformed created',
    alg: 'ES256',
    jwk: () => ({ ...p256('created'), created: '2025-01-01' }),
    message: /"created" must be the key's creation time/,
  },
];

for (const bad of BAD) {
  test(`refused with an error naming the file, no key material: ${bad.what}`, async () => {
    const d = dir();
    try {
      const jwk = bad.jwk();
      write(d, 'bad.json', jwk);
      const load = await loadKeysDir(d, bad.alg);
      assert.equal(load.files.size, 0);
      assert.equal(load.problems.length, 1, load.problems.join('\n'));
      const msg = load.problems[0]!;
      assert.ok(msg.startsWith(join(d, 'bad.json')), msg);
      assert.match(msg, bad.message);
      const values = Array.isArray(jwk) ? [] : secrets(jwk as PrivateJwk);
      for (const s of values) assert.ok(!msg.includes(s), 'no private member in the message');
      // At start-up: an error, zt-authz does not start.
      await assert.rejects(
        SigningKeyLoader.create({ config: cfg(d, bad.alg), metrics: new Metrics(), logger: pino({ level: 'silent' }) }),
        (err: unknown) => err instanceof KeyError && bad.message.test(err.message) && err.message.includes('bad.json'),
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
}

function cfg(keysDir: string, algorithm: MintAlgorithm = 'ES256') {
  return { issuer: 'https://zt.test', keysDir, algorithm, ttlSeconds: 60, publishLeadSeconds: 300, clockSkewSeconds: 30, pollSeconds: 0 };
}

test('unparsable and unreadable files, and a kid in two files, are refused naming the file', async () => {
  const d = dir();
  try {
    write(d, 'garbage.json', '{"kty": "EC", ');
    write(d, 'locked.json', p256('locked'));
    chmodSync(join(d, 'locked.json'), 0o000);
    const dup = p256('same');
    write(d, 'a.json', dup);
    write(d, 'b.json', dup);
    write(d, 'ignored.txt', 'not a key');
    const load = await loadKeysDir(d, 'ES256');
    const text = load.problems.join('\n');
    assert.match(text, new RegExp(`${join(d, 'garbage.json')}: not valid JSON`));
    if (process.getuid?.() !== 0) assert.match(text, new RegExp(`${join(d, 'locked.json')}: cannot be read \\(EACCES\\)`));
    assert.match(text, /kid same is in more than one file \(a\.json, b\.json\)/);
    assert.equal(load.files.size, process.getuid?.() === 0 ? 1 : 0, 'a.json and b.json refused; nothing from ignored.txt');
    for (const s of secrets(dup)) assert.ok(!text.includes(s));
    const missing = await loadKeysDir(join(d, 'nope'), 'ES256');
    assert.ok(missing.dirError);
    assert.match(missing.problems[0]!, /tokenIssuer\.keysDir .*nope: cannot be read \(ENOENT\)/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('each algorithm imports its own key type; created is read as the schedule start', async () => {
  for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
    const jwk = newPrivateJwk(alg, Date.UTC(2030, 0, 1));
    const key = await importPrivateJwk(jwk, alg, 'test');
    assert.equal(key.kid, jwk.kid);
    assert.equal(key.createdMs, Date.UTC(2030, 0, 1));
    assert.equal(key.privateKey.type, 'private');
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(m in key.publicJwk), `no ${m} in the public JWK`);
  }
});

test('reload: a bad file keeps its last good key, a removed file retires its key, a reused kid is refused; all counted', async () => {
  const d = dir();
  const metrics = new Metrics();
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => logs.push(s) });
  let now = Date.UTC(2030, 0, 1);
  try {
    const a = newPrivateJwk('ES256', now - 3600_000);
    write(d, 'a.json', a);
    const keys = await SigningKeyLoader.create({ config: cfg(d), metrics, logger, now: () => now });
    assert.deepEqual(keys.ring.presentKids, [a.kid]);
    const errors = async () => metricValue(await metrics.registry.metrics(), 'zt_authz_signing_keys_reload_total', { result: 'error' });

    write(d, 'a.json', '{ broken');
    const b = newPrivateJwk('ES256', now);
    write(d, 'b.json', b);
    await keys.reload();
    assert.deepEqual(keys.ring.presentKids.sort(), [a.kid, b.kid].sort(), 'a.json is broken: its last good key stays; b.json loads');
    assert.equal(await errors(), 1);
    assert.ok(logs.some((l) => l.includes('a.json: not valid JSON')));
    assert.equal(keys.ring.signingKey(now)?.kid, a.kid, 'b is published but does not sign before its lead');

    // The same kid with another key: refused, the old key stays.
    write(d, 'b.json', { ...newPrivateJwk('ES256', now), kid: b.kid });
    await keys.reload();
    assert.equal(await errors(), 2);
    assert.ok(logs.some((l) => l.includes(`kid ${String(b.kid)} already names a different key`)));
    assert.deepEqual(keys.ring.presentKids.sort(), [a.kid, b.kid].sort());

    // The directory vanishes: every last good key stays.
    const moved = `${d}-moved`;
    rmSync(moved, { recursive: true, force: true });
    (await import('node:fs')).renameSync(d, moved);
    await keys.reload();
    assert.equal(await errors(), 3);
    assert.deepEqual(keys.ring.presentKids.sort(), [a.kid, b.kid].sort());
    (await import('node:fs')).renameSync(moved, d);

    // a.json removed (b.json back to its real key): a retires, stops signing at once, stays published until its tokens expire.
    rmSync(join(d, 'a.json'));
    write(d, 'b.json', b);
    await keys.reload();
    assert.deepEqual(keys.ring.presentKids, [b.kid]);
    assert.equal(keys.ring.signingKey(now)?.kid, b.kid, 'the only key left signs');
    assert.deepEqual(
      keys.ring
        .jwks(now)
        .keys.map((k) => k.kid)
        .sort(),
      [a.kid, b.kid].sort(),
      'a still published',
    );
    now += (60 + 30) * 1000 + 1;
    assert.deepEqual(
      keys.ring.jwks(now).keys.map((k) => k.kid),
      [b.kid],
      'a gone once its last token (ttl + skew) expired',
    );
    const text = logs.join('');
    for (const s of secrets(a, b)) assert.ok(!text.includes(s), 'no key material logged');
    keys.stop();
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
