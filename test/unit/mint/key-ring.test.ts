// The rotation schedule, driven by an injected clock (no sleeping): a key is published at once and
// signs only after publishLeadSeconds; the only key that could sign signs at once; the newest key
// past its lead signs; a retired key stays published until every token it signed has expired
// (last signature + ttl + skew); a restart (a new ring over the same keys) keeps the schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { KeyRing } from '../../../src/mint/keys/key-ring.js';
import { importPrivateJwk, type LoadedKey } from '../../../src/mint/keys/private-jwk.js';
import { newPrivateJwk } from '../../../src/mint/keys/new-key.js';
import type { MintAlgorithm } from '../../../src/mint/keys/signing-key.js';

const T0 = Date.UTC(2030, 5, 1, 12);
const LEAD = 300;
const TTL = 120;
const SKEW = 60;

async function key(createdMs: number, alg: MintAlgorithm = 'ES256'): Promise<LoadedKey> {
  return importPrivateJwk(newPrivateJwk(alg, createdMs), alg, 'test');
}

function ring(now: { t: number }, changes: Array<[string, boolean]> = []): KeyRing {
  return new KeyRing({
    algorithm: 'ES256',
    ttlSeconds: TTL,
    publishLeadSeconds: LEAD,
    clockSkewSeconds: SKEW,
    now: () => now.t,
    onSignerChange: (kid, early) => changes.push([kid, early]),
  });
}

const kids = (r: KeyRing, t: number): string[] =>
  r
    .jwks(t)
    .keys.map((k) => k.kid!)
    .sort();

test('first start: the only key signs at once (before its lead), and says so', async () => {
  const now = { t: T0 };
  const changes: Array<[string, boolean]> = [];
  const r = ring(now, changes);
  assert.equal(r.signingKey(now.t), undefined, 'nothing loaded: nothing signs (the minter fails closed)');
  assert.equal(r.loaded, false);
  const a = await key(T0);
  r.update([{ key: a }]);
  assert.equal(r.loaded, true);
  assert.equal(r.signingKey(now.t)?.kid, a.kid);
  assert.deepEqual(changes, [[a.kid, true]]);
});

test('publish before sign: a new key is in the JWKS at once and signs only after publishLeadSeconds', async () => {
  const now = { t: T0 };
  const r = ring(now);
  const a = await key(T0 - 86400_000);
  r.update([{ key: a }]);
  const b = await key(T0);
  r.update([{ key: a }, { key: b }]);
  assert.deepEqual(kids(r, now.t), [a.kid, b.kid].sort(), 'b published at once');
  for (const dt of [0, 1000, (LEAD - 1) * 1000, LEAD * 1000 - 1])
    assert.equal(r.signingKey(T0 + dt)?.kid, a.kid, `a still signs at +${dt} ms`);
  assert.equal(r.signingKey(T0 + LEAD * 1000)?.kid, b.kid, 'b signs once its lead has passed');
  // a stays published while present (it is the previous key; verifiers may hold its tokens).
  assert.deepEqual(kids(r, T0 + LEAD * 1000), [a.kid, b.kid].sort());
});

test('the newest key past its lead signs; a key whose lead has not passed does not, even when newer', async () => {
  const now = { t: T0 };
  const r = ring(now);
  const old = await key(T0 - 3 * 86400_000);
  const mid = await key(T0 - 86400_000);
  const fresh = await key(T0 - 10_000);
  r.update([{ key: fresh }, { key: old }, { key: mid }]);
  assert.equal(r.signingKey(now.t)?.kid, mid.kid);
  assert.equal(r.signingKey(fresh.createdMs! + LEAD * 1000)?.kid, fresh.kid);
});

test('retire after expiry: a removed key stops signing at once and stays published until its last token (ttl + skew) expired', async () => {
  const now = { t: T0 };
  const r = ring(now);
  const a = await key(T0 - 86400_000);
  const b = await key(T0 - 86400_000 + 1000);
  r.update([{ key: a }]);
  const lastSigned = T0 + 5000;
  assert.equal(r.signingKey(lastSigned)?.kid, a.kid);
  now.t = T0 + 10_000;
  r.update([{ key: b }], now.t); // a's file is gone
  assert.equal(r.signingKey(now.t)?.kid, b.kid, 'a never signs again');
  const until = now.t + (TTL + SKEW) * 1000; // removal is later than a's last signature here
  assert.deepEqual(kids(r, until - 1), [a.kid, b.kid].sort(), 'a published while a token it signed may be live');
  assert.deepEqual(kids(r, until), [b.kid], 'then gone');
  assert.equal(r.loaded, true);
});

test('a retired key counts from its last signature when that is later than its removal (another process view)', async () => {
  const now = { t: T0 };
  const r = ring(now);
  const a = await key(T0 - 86400_000);
  r.update([{ key: a }]);
  const b = await key(T0 - 86400_000 + 1);
  r.update([{ key: b }], T0); // a gone at T0, never signed here
  assert.deepEqual(
    kids(r, T0 + (TTL + SKEW) * 1000 - 1),
    [a.kid, b.kid].sort(),
    'other replicas may have signed with a until they saw it go',
  );
  assert.deepEqual(kids(r, T0 + (TTL + SKEW) * 1000), [b.kid]);
});

test('restart keeps the schedule: the lead runs from the key’s created time, not from when a process saw it', async () => {
  const a = await key(T0 - 86400_000);
  const b = await key(T0);
  const before = ring({ t: T0 + 100_000 });
  before.update([{ key: a }, { key: b }], T0 + 100_000);
  assert.equal(before.signingKey(T0 + 100_000)?.kid, a.kid);
  // The process restarts 200 s after b was created: b's lead ends at T0 + 300 s, not 300 s after the restart.
  const after = ring({ t: T0 + 200_000 });
  after.update([{ key: a }, { key: b }], T0 + 200_000);
  assert.equal(after.signingKey(T0 + 200_000)?.kid, a.kid);
  assert.equal(after.signingKey(T0 + LEAD * 1000)?.kid, b.kid, 'switches at the same moment as a process that never restarted');
  assert.equal(before.signingKey(T0 + LEAD * 1000)?.kid, b.kid);
  // Without `created`, the fallback (a file's mtime) is just as stable across restarts.
  const { createdMs: _c, ...noCreated } = b;
  const viaMtime = ring({ t: T0 + 200_000 });
  viaMtime.update([{ key: a }, { key: noCreated, fallbackCreatedMs: T0 }], T0 + 200_000);
  assert.equal(viaMtime.signingKey(T0 + LEAD * 1000 - 1)?.kid, a.kid);
  assert.equal(viaMtime.signingKey(T0 + LEAD * 1000)?.kid, b.kid);
});

test('signatures verify with the published key (ES256 in JWS r||s form, EdDSA, RS256); the JWKS holds no private member', async () => {
  for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
    const r = new KeyRing({ algorithm: alg, ttlSeconds: TTL, publishLeadSeconds: LEAD, clockSkewSeconds: SKEW });
    const k = await key(T0, alg);
    r.update([{ key: k }]);
    const data = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9');
    const sig = r.signingKey(T0)!.sign(data);
    if (alg === 'ES256') assert.equal(sig.length, 64, 'raw r||s, not DER');
    const jwk = r.jwks(T0).keys[0]!;
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(m in jwk), `${alg}: no ${m}`);
    assert.equal(jwk.alg, alg);
    assert.equal(jwk.use, 'sig');
    const pub = createPublicKey({ key: jwk, format: 'jwk' });
    const ok = verify(alg === 'EdDSA' ? null : 'sha256', data, alg === 'ES256' ? { key: pub, dsaEncoding: 'ieee-p1363' } : pub, sig);
    assert.ok(ok, `${alg} signature verifies`);
  }
});

test('a key that appears while serving waits its lead from its arrival (less the skew), whatever its created time says', async () => {
  const now = { t: T0 };
  const r = ring(now);
  const a = await key(T0 - 86400_000);
  r.update([{ key: a }]);
  // Restored from a backup (or copied keeping an old mtime): created a year ago, never published until now.
  const restored = await key(T0 - 365 * 86400_000);
  const { createdMs: _c, ...oldMtime } = await key(T0);
  r.update([{ key: a }, { key: restored }, { key: oldMtime, fallbackCreatedMs: T0 - 365 * 86400_000 }], T0);
  assert.deepEqual(kids(r, T0), [a.kid, restored.kid, oldMtime.kid].sort(), 'published at once');
  const from = T0 + (LEAD - SKEW) * 1000;
  assert.equal(r.signingKey(T0)?.kid, a.kid, 'the key already signing goes on');
  assert.equal(r.signingKey(from - 1)?.kid, a.kid, 'until the lead (less the skew) from its arrival has passed');
  assert.notEqual(r.signingKey(from)?.kid, a.kid);
  // At the first load there is no arrival to count from: created stands (the restart test above).
});

test('a clock stepped back does not shorten how long a retired key stays published', async () => {
  const now = { t: T0 };
  const r = ring(now);
  const a = await key(T0 - 86400_000);
  const b = await key(T0 - 86400_000 + 1000);
  r.update([{ key: a }]);
  assert.equal(r.signingKey(T0)?.kid, a.kid); // a token that lives until T0 + TTL
  const back = T0 - 3600_000; // the clock steps back an hour
  assert.equal(r.signingKey(back)?.kid, a.kid);
  r.update([{ key: b }], back + 1000); // a's file removed
  const until = T0 + (TTL + SKEW) * 1000;
  assert.ok(kids(r, until - 1).includes(a.kid), 'still published while the token signed before the step may be live');
  assert.deepEqual(kids(r, until), [b.kid]);
});
