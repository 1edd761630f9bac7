import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { JwksUnavailableError } from '../../../src/authn/jwks/errors.js';
import { JwksManager } from '../../../src/authn/jwks/manager.js';
import type { JwksFetchEvent, JwksOptions } from '../../../src/authn/jwks/options.js';
import { verifyWithJwks } from '../../../src/authn/jwks/verify.js';
import { ManualClock } from '../../helpers/clock.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

const ISS = 'https://idp.test/realm';
const AUD = 'orders';
const VERIFY = { algorithms: ['RS256', 'ES256'], issuer: ISS, audience: AUD, requiredClaims: ['exp'] };

interface TestKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  priv: CryptoKey;
  jwk: JWK; // public JWK with kid/alg/use
}

async function makeKey(kid: string, alg: 'RS256' | 'ES256'): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, priv: privateKey, jwk };
}

const [K1, K2, K3, KEC, KOTHER] = await Promise.all([
  makeKey('k1', 'RS256'),
  makeKey('k2', 'RS256'),
  makeKey('k3', 'RS256'),
  makeKey('ec1', 'ES256'),
  makeKey('k1', 'RS256'), // same kid as K1, different key (not published)
]);

function jwks(...keys: TestKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => ({ ...k.jwk })) };
}

async function sign(key: TestKey, opts: { kid?: string | null; exp?: number; iss?: string } = {}): Promise<string> {
  const header: { alg: string; kid?: string } = { alg: key.alg };
  if (opts.kid !== null) header.kid = opts.kid ?? key.kid;
  return new SignJWT({ sub: 'alice' })
    .setProtectedHeader(header)
    .setIssuer(opts.iss ?? ISS)
    .setAudience(AUD)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600)
    .sign(key.priv);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal((err as { code?: string }).code, code, `expected ${code}, got ${String(err)}`);
    return true;
  });
}

/** Manual clock for cooldown bookkeeping. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

// ---------------------------------------------------------------------------------------------
// Controllable IdP

type Mode = 'ok' | '503' | 'destroy';
type Route = (req: IncomingMessage, res: ServerResponse) => void;

class Idp {
  mode: Mode = 'ok';
  keys: JSONWebKeySet = jwks(K1);
  readonly routes = new Map<string, Route>();
  readonly hits = new Map<string, number>();
  private server: Server;
  private timers = new Set<NodeJS.Timeout>();
  base = '';
  closed = false;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
    this.routes.set('/jwks', (_req, res) => this.json(res, this.keys));
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get jwksUrl(): string {
    return `${this.base}/jwks`;
  }

  count(path = '/jwks'): number {
    return this.hits.get(path) ?? 0;
  }

  total(): number {
    let n = 0;
    for (const v of this.hits.values()) n += v;
    return n;
  }

  json(res: ServerResponse, body: unknown, status = 200): void {
    const s = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
    res.end(s);
  }

  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    if (this.mode === '503') {
      res.writeHead(503).end('down');
      return;
    }
    if (this.mode === 'destroy') {
      req.socket.destroy();
      return;
    }
    const route = this.routes.get(path);
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    route(req, res);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const done = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    await done;
  }
}

interface Harness {
  idp: Idp;
  mgr: JwksManager;
  events: JwksFetchEvent[];
  changes: ReadonlySet<string>[];
}

async function setup(
  t: { after: (fn: () => unknown) => void },
  opts: Partial<JwksOptions> = {},
  configure?: (idp: Idp) => void,
): Promise<Harness> {
  const idp = await new Idp().listen();
  configure?.(idp);
  const events: JwksFetchEvent[] = [];
  const changes: ReadonlySet<string>[] = [];
  const mgr = new JwksManager({
    issuer: ISS,
    source: { kind: 'remote', uri: idp.jwksUrl },
    onFetch: (e) => events.push(e),
    onKeysChanged: (k) => changes.push(k),
    ...opts,
  });
  t.after(async () => {
    mgr.stop();
    await idp.close();
  });
  return { idp, mgr, events, changes };
}

const verify = (token: string, mgr: JwksManager) => jwtVerify(token, mgr.getKey, VERIFY);

// ---------------------------------------------------------------------------------------------
// 1. initial load

test('initial load: ready false before, true after; waitReady; verify', async (t) => {
  const { idp, mgr, events } = await setup(t);
  assert.equal(mgr.ready, false);
  assert.equal(mgr.keyCount, 0);
  assert.equal(mgr.kids.size, 0);
  mgr.start();
  mgr.start(); // idempotent
  assert.equal(await mgr.waitReady(2000), true);
  assert.equal(mgr.ready, true);
  assert.equal(mgr.keyCount, 1);
  assert.deepEqual([...mgr.kids], ['k1']);
  const { payload } = await verify(await sign(K1), mgr);
  assert.equal(payload.sub, 'alice');
  assert.equal(idp.count(), 1);
  assert.equal(events.length, 1);
  assert.equal(events[0]?.trigger, 'initial');
  assert.equal(events[0]?.result, 'success');
  assert.equal(events[0]?.keys, 1);
  assert.equal(events[0]?.issuer, ISS);
  assert.ok((events[0]?.durationMs ?? -1) >= 0);
  // already ready → resolves immediately
  assert.equal(await mgr.waitReady(0), true);
  mgr.stop();
  mgr.stop(); // safe twice
});

test('waitReady resolves false on timeout when the IdP is down', async (t) => {
  const { mgr } = await setup(t, {}, (idp) => (idp.mode = '503'));
  mgr.start();
  assert.equal(await mgr.waitReady(150), false);
  assert.equal(mgr.ready, false);
});

// ---------------------------------------------------------------------------------------------
// 2 + 10. rotation, onKeysChanged

test('rotation: new kid accepted with exactly one extra fetch; onKeysChanged only on change', async (t) => {
  const clock = fakeClock();
  const { idp, mgr, changes, events } = await setup(t, { now: clock.now });
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  assert.equal(idp.count(), 1);
  assert.equal(changes.length, 0, 'initial load is not a change');

  idp.keys = jwks(K1, K2);
  clock.advance(30_001);
  const tokenK2 = await sign(K2);
  await verify(tokenK2, mgr);
  assert.equal(idp.count(), 2, 'exactly one extra fetch');
  assert.equal(events.at(-1)?.trigger, 'unknown_kid');
  assert.deepEqual(
    changes.map((s) => [...s].sort()),
    [['k1', 'k2']],
  );
  // further verifications with both kids: no fetches
  await verify(tokenK2, mgr);
  await verify(await sign(K1), mgr);
  assert.equal(idp.count(), 2);

  // identical refetch → no onKeysChanged
  assert.equal(await mgr.refresh(), true);
  assert.equal(idp.count(), 3);
  assert.equal(changes.length, 1);
  assert.equal(events.at(-1)?.trigger, 'manual');

  // key removed → change fires with the new set; old kid rejected after that
  idp.keys = jwks(K2);
  assert.equal(await mgr.refresh(), true);
  assert.deepEqual([...(changes.at(-1) ?? [])], ['k2']);
  await rejectsCode(verify(await sign(K1), mgr), 'ERR_JWKS_NO_MATCHING_KEY');

  // key material changed under the same kid is also reported (cache invalidation)
  idp.keys = { keys: [{ ...K3.jwk, kid: 'k2' }] };
  assert.equal(await mgr.refresh(), true);
  assert.equal(changes.length, 3);
});

// ---------------------------------------------------------------------------------------------
// 3. last-known-good through outages, backoff

test('IdP down after first load: valid tokens keep verifying across many failing cycles', async (t) => {
  const { idp, mgr, events } = await setup(t, { refreshIntervalMs: 50, retryMinMs: 10, timeoutMs: 300 });
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  const token = await sign(K1);
  const ecBefore = events.length;

  for (const mode of ['503', 'destroy'] as const) {
    idp.mode = mode;
    for (let i = 0; i < 5; i++) {
      await sleep(50);
      await verify(token, mgr);
    }
  }
  await idp.close(); // connection refused from now on
  for (let i = 0; i < 5; i++) {
    await sleep(50);
    await verify(token, mgr);
  }
  const failures = events.slice(ecBefore).filter((e) => e.result === 'error');
  assert.ok(failures.length >= 6, `expected several failing cycles, got ${failures.length}`);
  assert.ok(failures.every((e) => e.trigger === 'scheduled' && e.keys === 1));
  const msgs = new Set(failures.map((e) => e.error));
  assert.ok(msgs.has('JWKS fetch failed: HTTP 503'), [...msgs].join(' | '));
  assert.ok(
    [...msgs].some((m) => m?.startsWith('JWKS fetch failed: network error')),
    [...msgs].join(' | '),
  );
  assert.equal(mgr.ready, true);
  assert.deepEqual([...mgr.kids], ['k1']);
});

test('background refresh: interval after success, exponential backoff after failure', async (t) => {
  const { idp, mgr } = await setup(t, { refreshIntervalMs: 1000, retryMinMs: 25 });
  idp.mode = '503';
  mgr.start();
  await sleep(700);
  // attempts at ~0, 25, 75, 175, 375 (then 775): 5 expected; constant 25 ms retry would give ~28
  const n = idp.count();
  assert.ok(n >= 4 && n <= 6, `attempts with backoff: ${n}`);
  idp.mode = 'ok';
  await sleep(450); // next attempt (~775 ms) succeeds
  assert.equal(mgr.ready, true);
  const after = idp.count();
  await sleep(300); // next scheduled only at +1000 ms
  assert.equal(idp.count(), after);
});

// ---------------------------------------------------------------------------------------------
// 4. unknown-kid flood

test('unknown-kid flood: at most 4 fetches per cooldown window, ≥ 1 s apart and the gap doubling, IdP up or down', async (t) => {
  const clock = fakeClock();
  const { idp, mgr } = await setup(t, { now: clock.now });
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  const good = await sign(K1);
  const randomKidTokens = await Promise.all(Array.from({ length: 200 }, () => sign(K1, { kid: randomUUID() })));
  const sequential = async (): Promise<void> => {
    for (const tok of randomKidTokens) await rejectsCode(verify(tok, mgr), 'ERR_JWKS_NO_MATCHING_KEY');
  };
  const concurrent = (): Promise<unknown> =>
    Promise.all(randomKidTokens.map((tok) => rejectsCode(verify(tok, mgr), 'ERR_JWKS_NO_MATCHING_KEY')));

  // within 1 s of the initial load: no fetch at all
  for (const tok of randomKidTokens.slice(0, 20)) await rejectsCode(verify(tok, mgr), 'ERR_JWKS_NO_MATCHING_KEY');
  clock.advance(999);
  await concurrent();
  assert.equal(idp.count(), 1);

  // One window (fetches at w+0, +1, +3, +7 s), 200 tokens at every step, sequential or concurrent:
  // the first fetch of a quiet window is immediate, then the gap doubles (1, 2, 4 s), then the
  // bound (4) holds until the oldest fetch leaves the window. `expected`: count after each step.
  const windowSteps: Array<[advanceMs: number, expected: number, how: () => Promise<unknown>]> = [
    [1, 2, sequential], // +0: quiet window → at once
    [0, 2, concurrent], // same instant: the 200 share nothing new
    [999, 2, concurrent], // +0.999
    [1, 3, concurrent], // +1: 1 s after the last attempt
    [1000, 3, sequential], // +2: needs 2 s now
    [1000, 4, concurrent], // +3
    [3999, 4, concurrent], // +6.999: needs 4 s now
    [1, 5, sequential], // +7: 4th fetch of the window
    [1000, 5, concurrent], // +8: the bound
    [10_000, 5, concurrent], // +18
    [11_999, 5, sequential], // +29.999: the window's first fetch is still inside it
  ];
  for (const [i, [ms, expected, how]] of windowSteps.entries()) {
    clock.advance(ms);
    await how();
    assert.equal(idp.count(), expected, `step ${i} (+${ms} ms)`);
  }
  await verify(good, mgr);

  // IdP down, after a quiet period: the same timeline; failed fetches count against the bound too.
  idp.mode = '503';
  clock.advance(60_000);
  for (const [i, [ms, expected, how]] of windowSteps.entries()) {
    clock.advance(ms);
    await how();
    assert.equal(idp.count(), expected + 4, `IdP down, step ${i} (+${ms} ms)`);
  }
  await verify(good, mgr); // last-known-good
});

test('continuous unknown-kid flood (one random kid every 100 ms for 5 min): never more than 4 fetches in any cooldown window', async (t) => {
  const clock = fakeClock();
  const starts: number[] = [];
  const { idp, mgr } = await setup(t, {
    now: clock.now,
    onFetch: (e) => e.trigger === 'unknown_kid' && starts.push(clock.now() - e.durationMs),
  });
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  const tokens = await Promise.all(Array.from({ length: 50 }, () => sign(K1, { kid: randomUUID() })));
  const STEP = 100;
  const DURATION = 300_000;
  for (let at = 0; at < DURATION; at += STEP) {
    clock.advance(STEP);
    if (at === DURATION / 2) idp.mode = '503'; // second half: the IdP is down
    await rejectsCode(verify(tokens[(at / STEP) % tokens.length]!, mgr), 'ERR_JWKS_NO_MATCHING_KEY');
  }
  assert.equal(idp.count() - 1, starts.length);
  for (let i = 0; i < starts.length; i++) {
    const inWindow = starts.filter((s) => s >= starts[i]! && s < starts[i]! + 30_000).length;
    assert.ok(inWindow <= 4, `${inWindow} fetches in the 30 s from ${starts[i]! - starts[0]!} ms`);
    if (i > 0) assert.ok(starts[i]! - starts[i - 1]! >= 1000, `fetches ${i - 1} and ${i} are ${starts[i]! - starts[i - 1]!} ms apart`);
  }
  // 3,000 verifications cost 4 fetches per 30 s at most (40 in 5 min); the sliding window lets
  // about that many through.
  assert.ok(starts.length <= 40 && starts.length >= 30, `fetches: ${starts.length}`);
  t.diagnostic(`continuous flood: ${DURATION / STEP} random kids in ${DURATION / 1000} s → ${starts.length} fetches`);
});

test('rotation without overlap after a quiet period: the new kid is fetched at once, not after the cooldown', async (t) => {
  const clock = fakeClock();
  const { idp, mgr, events } = await setup(t, { now: clock.now });
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  clock.advance(1000); // 1 s after the start-up fetch (the old rule: 30 s)
  idp.keys = jwks(K2); // K1 replaced at once
  await verify(await sign(K2), mgr);
  assert.equal(idp.count(), 2);
  assert.equal(events.at(-1)?.trigger, 'unknown_kid');
  await rejectsCode(verify(await sign(K1), mgr), 'ERR_JWKS_NO_MATCHING_KEY');
  // A second rotation right after: within 1 s of the last fetch it waits, then one more fetch.
  idp.keys = jwks(K3);
  await rejectsCode(verify(await sign(K3), mgr), 'ERR_JWKS_NO_MATCHING_KEY');
  assert.equal(idp.count(), 2);
  clock.advance(1000);
  await verify(await sign(K3), mgr);
  assert.equal(idp.count(), 3);
});

test('unknown-kid flood with a real clock: cooldown window of 150 ms', async (t) => {
  const { idp, mgr } = await setup(t, { cooldownMs: 150 });
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  idp.mode = 'destroy';
  const start = Date.now();
  let n = 0;
  while (Date.now() - start < 400) {
    await rejectsCode(verify(await sign(KEC, { kid: randomUUID() }), mgr), 'ERR_JWKS_NO_MATCHING_KEY');
    n++;
  }
  const windows = Math.ceil((Date.now() - start) / 150);
  assert.ok(n > 20, `flood size ${n}`);
  assert.ok(idp.count() - 1 <= windows, `fetches ${idp.count() - 1} > windows ${windows}`);
});

// ---------------------------------------------------------------------------------------------
// 5. concurrent cold start

test('concurrent cold start: 50 verifications before any load → exactly 1 fetch', async (t) => {
  const { idp, mgr, events } = await setup(t);
  const tok = await sign(K1);
  const results = await Promise.all(Array.from({ length: 50 }, () => verify(tok, mgr)));
  assert.equal(results.length, 50);
  assert.equal(idp.count(), 1);
  assert.equal(events.length, 1);
  assert.equal(mgr.ready, true);
});

test('concurrent cold start racing start(): still exactly 1 fetch', async (t) => {
  const { idp, mgr } = await setup(t);
  const tok = await sign(K1);
  mgr.start();
  await Promise.all(Array.from({ length: 50 }, () => verifyWithJwks(tok, mgr, VERIFY)));
  assert.equal(idp.count(), 1);
});

// ---------------------------------------------------------------------------------------------
// 6. fetch failure modes keep the keys

test('fetch failures (timeout, size, status, garbage, bad sets, redirect) keep last-known-good', async (t) => {
  const { idp, mgr, events, changes } = await setup(t, { timeoutMs: 150, maxBytes: 4096 });
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  const token = await sign(K1);
  const good = idp.routes.get('/jwks') as Route;

  const cases: Array<[string, Route, string]> = [
    ['slow headers', (_q, res) => idp.later(600, () => idp.json(res, idp.keys)), 'JWKS fetch failed: timeout after 150 ms'],
    [
      'stalled body',
      (_q, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":[');
        idp.later(600, () => res.end(']}'));
      },
      'JWKS fetch failed: timeout after 150 ms',
    ],
    [
      'oversize (chunked)',
      (_q, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < 10; i++) res.write(' '.repeat(1000));
        res.end(JSON.stringify(idp.keys));
      },
      'JWKS fetch failed: body exceeds 4096 bytes',
    ],
    [
      'oversize (content-length)',
      (_q, res) => idp.json(res, { ...idp.keys, pad: 'x'.repeat(10_000) }),
      'JWKS fetch failed: body exceeds 4096 bytes',
    ],
    ['HTTP 503', (_q, res) => void res.writeHead(503).end(), 'JWKS fetch failed: HTTP 503'],
    ['HTTP 404', (_q, res) => void res.writeHead(404).end(), 'JWKS fetch failed: HTTP 404'],
    ['HTTP 204', (_q, res) => void res.writeHead(204).end(), 'JWKS fetch failed: HTTP 204'],
    ['garbage', (_q, res) => void res.writeHead(200).end('<html>not json'), 'JWKS fetch failed: invalid JSON'],
    ['invalid utf-8', (_q, res) => void res.writeHead(200).end(Buffer.from([0x7b, 0xff, 0x7d])), 'JWKS fetch failed: invalid JSON'],
    ['keys not array', (_q, res) => idp.json(res, { keys: 'x' }), 'invalid JWKS: "keys" must be an array'],
    ['not an object', (_q, res) => idp.json(res, [K1.jwk]), 'invalid JWKS: not a JSON object'],
    ['empty set', (_q, res) => idp.json(res, { keys: [] }), 'invalid JWKS: no usable signing keys'],
    ['entry not object', (_q, res) => idp.json(res, { keys: [1] }), 'invalid JWKS: "keys" entries must be objects'],
    [
      'unusable keys only',
      (_q, res) =>
        idp.json(res, {
          keys: [
            { kty: 'RSA', kid: 'bad', n: 'AQAB', e: 'AQAB' },
            { ...K2.jwk, use: 'enc' },
          ],
        }),
      'invalid JWKS: no usable signing keys',
    ],
    [
      'private key material',
      (_q, res) => idp.json(res, { keys: [{ ...K1.jwk, d: 'c2VjcmV0' }] }),
      'invalid JWKS: contains private or symmetric key material',
    ],
    [
      'symmetric key',
      (_q, res) => idp.json(res, { keys: [K1.jwk, { kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] }),
      'invalid JWKS: contains private or symmetric key material',
    ],
    ['redirect', (_q, res) => void res.writeHead(302, { location: `${idp.base}/moved` }).end(), 'JWKS fetch failed: redirect not allowed'],
  ];
  idp.routes.set('/moved', good);
  for (const [name, route, expected] of cases) {
    idp.routes.set('/jwks', route);
    const before = events.length;
    assert.equal(await mgr.refresh(), false, name);
    assert.equal(events.length, before + 1, name);
    const ev = events.at(-1);
    assert.equal(ev?.result, 'error', name);
    assert.equal(ev?.error, expected, name);
    assert.equal(ev?.keys, 1, name);
    assert.ok(!/c2VjcmV0|AQAB|"n"/.test(ev?.error ?? ''), `${name}: no key material in error`);
    assert.deepEqual([...mgr.kids], ['k1'], name);
    await verify(token, mgr);
  }
  assert.equal(idp.count('/moved'), 0, 'redirect never followed');
  assert.equal(changes.length, 0);
  // recovery
  idp.routes.set('/jwks', good);
  assert.equal(await mgr.refresh(), true);
});

// ---------------------------------------------------------------------------------------------
// 7. discovery

function discoveryIdp(idp: Idp, issuer: string, jwksPath = '/jwks'): { doc: Record<string, unknown> } {
  const state = { doc: { issuer, jwks_uri: `${idp.base}${jwksPath}` } as Record<string, unknown> };
  idp.routes.set('/realm/.well-known/openid-configuration', (_q, res) => idp.json(res, state.doc));
  return state;
}
const DISC = '/realm/.well-known/openid-configuration';

test('discovery: happy path, trailing slash handling', async (t) => {
  for (const suffix of ['', '/']) {
    const idp = await new Idp().listen();
    const issuer = `${idp.base}/realm${suffix}`;
    discoveryIdp(idp, issuer);
    const mgr = new JwksManager({ issuer, source: { kind: 'discovery', issuer } });
    t.after(async () => {
      mgr.stop();
      await idp.close();
    });
    mgr.start();
    assert.equal(await mgr.waitReady(2000), true);
    const tok = await sign(K1, { iss: issuer });
    await jwtVerify(tok, mgr.getKey, { ...VERIFY, issuer });
    assert.equal(idp.count(DISC), 1);
    assert.equal(idp.count('/jwks'), 1);
  }
});

test('discovery: issuer mismatch rejected (exact match), bad jwks_uri rejected', async (t) => {
  const idp = await new Idp().listen();
  t.after(() => idp.close());
  const issuer = `${idp.base}/realm`;
  const state = discoveryIdp(idp, `${issuer}/`); // differs only by the trailing slash
  const events: JwksFetchEvent[] = [];
  const mgr = new JwksManager({ issuer, source: { kind: 'discovery', issuer }, onFetch: (e) => events.push(e) });
  t.after(() => mgr.stop());
  assert.equal(await mgr.refresh('initial'), false);
  assert.equal(events.at(-1)?.error, 'discovery issuer mismatch');
  assert.equal(idp.count('/jwks'), 0, 'jwks_uri of a mismatching document is never fetched');
  assert.equal(mgr.ready, false);

  state.doc = { issuer, jwks_uri: 'file:///etc/passwd' };
  assert.equal(await mgr.refresh(), false);
  assert.equal(events.at(-1)?.error, 'discovery jwks_uri is not an http(s) URL');

  state.doc = { issuer };
  assert.equal(await mgr.refresh(), false);
  assert.equal(events.at(-1)?.error, 'discovery jwks_uri missing');

  state.doc = { issuer, jwks_uri: `${idp.base}/jwks` };
  assert.equal(await mgr.refresh(), true);
  assert.equal(mgr.ready, true);
});

test('construction validates source URLs and options', () => {
  assert.throws(() => new JwksManager({ issuer: 'x', source: { kind: 'discovery', issuer: 'ftp://idp/' } }), /http\(s\)/);
  assert.throws(() => new JwksManager({ issuer: 'x', source: { kind: 'remote', uri: 'not a url' } }), /valid URL/);
  assert.throws(() => new JwksManager({ issuer: 'x', source: { kind: 'file', path: '' } }), /non-empty/);
  assert.throws(() => new JwksManager({ issuer: 'x', source: { kind: 'inline', jwks: jwks(K1) }, cooldownMs: -1 }), /cooldownMs/);
});

test('discovery: jwks_uri change followed (on JWKS failure and on scheduled/manual refresh)', async (t) => {
  const clock = fakeClock();
  const idp = await new Idp().listen();
  t.after(() => idp.close());
  const issuer = `${idp.base}/realm`;
  const state = discoveryIdp(idp, issuer, '/jwks');
  const mgr = new JwksManager({ issuer, source: { kind: 'discovery', issuer }, now: clock.now });
  t.after(() => mgr.stop());
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  assert.equal(idp.count(DISC), 1);

  // (a) IdP moves its JWKS to /jwks2 (new key) and the old URL starts failing:
  //     the unknown-kid refetch fails on the cached URL, re-discovers, follows the new URL.
  const keys2 = jwks(K1, K2);
  idp.routes.set('/jwks2', (_q, res) => idp.json(res, keys2));
  idp.routes.set('/jwks', (_q, res) => void res.writeHead(410).end());
  state.doc = { issuer, jwks_uri: `${idp.base}/jwks2` };
  clock.advance(30_000);
  await jwtVerify(await sign(K2, { iss: issuer }), mgr.getKey, { ...VERIFY, issuer });
  assert.equal(idp.count(DISC), 2);
  assert.equal(idp.count('/jwks2'), 1);

  // (b) moved again while the old URL keeps serving: a scheduled/manual refresh re-discovers.
  const keys3 = jwks(K1, K2, K3);
  idp.routes.set('/jwks3', (_q, res) => idp.json(res, keys3));
  state.doc = { issuer, jwks_uri: `${idp.base}/jwks3` };
  assert.equal(await mgr.refresh(), true);
  assert.equal(idp.count('/jwks3'), 1);
  assert.ok(mgr.kids.has('k3'));

  // (c) discovery endpoint down: falls back to the cached jwks_uri
  idp.routes.delete('/realm/.well-known/openid-configuration');
  assert.equal(await mgr.refresh(), true);
  assert.equal(idp.count('/jwks3'), 2);
});

// ---------------------------------------------------------------------------------------------
// 8. file + inline

test('file source: loads at start, rewrite picked up on unknown kid; size cap', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zt-jwks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'jwks.json');
  await writeFile(path, JSON.stringify(jwks(K1)));
  const clock = fakeClock();
  const events: JwksFetchEvent[] = [];
  const mgr = new JwksManager({
    issuer: ISS,
    source: { kind: 'file', path },
    now: clock.now,
    maxBytes: 8192,
    onFetch: (e) => events.push(e),
  });
  t.after(() => mgr.stop());
  mgr.start();
  assert.equal(await mgr.waitReady(2000), true);
  await verify(await sign(K1), mgr);

  await writeFile(path, JSON.stringify(jwks(K1, KEC)));
  clock.advance(30_000);
  await verify(await sign(KEC), mgr);
  assert.equal(events.at(-1)?.trigger, 'unknown_kid');
  assert.equal(events.at(-1)?.result, 'success');
  assert.deepEqual([...mgr.kids].sort(), ['ec1', 'k1']);

  await writeFile(path, JSON.stringify({ ...jwks(K1), pad: 'x'.repeat(9000) }));
  assert.equal(await mgr.refresh(), false);
  assert.equal(events.at(-1)?.error, 'JWKS file read failed: body exceeds 8192 bytes');
  await writeFile(path, '{oops');
  assert.equal(await mgr.refresh(), false);
  assert.equal(events.at(-1)?.error, 'JWKS file read failed: invalid JSON');
  await rm(path);
  assert.equal(await mgr.refresh(), false);
  assert.equal(events.at(-1)?.error, 'JWKS file read failed: ENOENT');
  await verify(await sign(KEC), mgr); // last-known-good
});

test('inline source: valid immediately; invalid sets throw at construction', async () => {
  const events: JwksFetchEvent[] = [];
  const mgr = new JwksManager({ issuer: ISS, source: { kind: 'inline', jwks: jwks(K1, KEC) }, onFetch: (e) => events.push(e) });
  assert.equal(mgr.ready, true);
  assert.equal(mgr.keyCount, 2);
  assert.equal(await mgr.waitReady(0), true);
  mgr.start();
  await verify(await sign(K1), mgr);
  await verify(await sign(KEC), mgr);
  await rejectsCode(verify(await sign(K2), mgr), 'ERR_JWKS_NO_MATCHING_KEY');
  await rejectsCode(verify(await sign(KOTHER), mgr), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  assert.equal(await mgr.refresh(), true);
  assert.equal(events.length, 0, 'no fetch events for inline');
  mgr.stop();

  const bad: unknown[] = [
    { keys: 'x' },
    {},
    { keys: [] },
    { keys: [{ ...K1.jwk, d: 'AAAA' }] },
    { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] },
    null,
  ];
  for (const b of bad) {
    assert.throws(
      () => new JwksManager({ issuer: ISS, source: { kind: 'inline', jwks: b as JSONWebKeySet } }),
      (err: Error) => /^inline JWKS for issuer .* rejected: invalid JWKS/.test(err.message) && !err.message.includes('AAAA'),
    );
  }
});

// ---------------------------------------------------------------------------------------------
// 9. no keys at all

test('no keys and IdP down → JwksUnavailableError, bounded fetches', async (t) => {
  const clock = fakeClock();
  const { idp, mgr } = await setup(t, { now: clock.now }, (i) => (i.mode = '503'));
  const tok = await sign(K1);
  const isUnavailable = (err: unknown): boolean => {
    assert.ok(err instanceof JwksUnavailableError, String(err));
    assert.equal(err.code, 'ERR_ZT_JWKS_UNAVAILABLE');
    return true;
  };
  await assert.rejects(verify(tok, mgr), (e) => isUnavailable(e) && /HTTP 503/.test((e as Error).message));
  assert.equal(idp.count(), 1);
  // within 1 s of the failed attempt: fail fast, no fetch
  await Promise.all(Array.from({ length: 30 }, () => assert.rejects(verify(tok, mgr), isUnavailable)));
  clock.advance(999);
  await Promise.all(Array.from({ length: 30 }, () => assert.rejects(verify(tok, mgr), isUnavailable)));
  assert.equal(idp.count(), 1);
  // 1 s after it: the next Checks share one more attempt (no keys: no window bound, only the gap)
  clock.advance(1);
  await Promise.all(Array.from({ length: 30 }, () => assert.rejects(verify(tok, mgr), isUnavailable)));
  assert.equal(idp.count(), 2);
  // connection refused
  await idp.close();
  clock.advance(30_000);
  await Promise.all(Array.from({ length: 30 }, () => assert.rejects(verifyWithJwks(tok, mgr, VERIFY), isUnavailable)));
  assert.equal(mgr.ready, false);
});

test('no keys after a start-up outage: a Check fetches once the last attempt is 1 s old, whatever the backoff', async (t) => {
  const clock = new ManualClock();
  const { idp, mgr, events } = await setup(t, { clock }, (i) => (i.mode = '503'));
  const tok = await sign(K1);
  mgr.start();
  await waitFor(() => clock.pending === 1, 'initial attempt');
  for (const delay of [1000, 2000, 4000]) {
    assert.equal(clock.nextDelay(), delay);
    clock.fireNext(); // a failed background retry
    await waitFor(() => clock.pending === 1 && events.length === idp.count(), 'background retry');
  }
  assert.equal(idp.count(), 4);
  assert.equal(clock.nextDelay(), 8000, 'background retry backed off to 8 s');
  idp.mode = 'ok';
  await assert.rejects(verify(tok, mgr), JwksUnavailableError); // the IdP is back, the last attempt is 0 s old
  clock.advance(1000); // the background retry is 7 s away still
  const all = await Promise.all(Array.from({ length: 20 }, () => verify(tok, mgr)));
  assert.equal(all.length, 20);
  assert.equal(idp.count(), 5, 'one shared fetch');
  assert.equal(mgr.ready, true);
  assert.equal(clock.nextDelay(), 300_000, 'the background refresh is back to its interval');
});

// ---------------------------------------------------------------------------------------------
// multiple matching keys

test('multiple matching keys: jwtVerify fails closed, verifyWithJwks tries candidates', async () => {
  const noKid = (k: TestKey): JWK => {
    const { kid: _kid, ...rest } = k.jwk;
    return rest;
  };
  const mgr = new JwksManager({ issuer: ISS, source: { kind: 'inline', jwks: { keys: [noKid(K1), noKid(K2), noKid(K3)] } } });
  const tok = await sign(K3, { kid: null });
  await rejectsCode(jwtVerify(tok, mgr.getKey, VERIFY), 'ERR_JWKS_MULTIPLE_MATCHING_KEYS');
  const { payload } = await verifyWithJwks(tok, mgr, VERIFY);
  assert.equal(payload.sub, 'alice');
  // candidate cap: K3 is the third candidate
  await rejectsCode(verifyWithJwks(tok, mgr, VERIFY, 2), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  // no candidate verifies
  await rejectsCode(verifyWithJwks(await sign(KOTHER, { kid: null }), mgr, VERIFY), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  // signature OK but claims bad → the claim error, not a signature error
  const expired = await sign(K2, { kid: null, exp: Math.floor(Date.now() / 1000) - 3600 });
  await rejectsCode(verifyWithJwks(expired, mgr, VERIFY), 'ERR_JWT_EXPIRED');
  // single match still works through verifyWithJwks
  const mgr2 = new JwksManager({ issuer: ISS, source: { kind: 'inline', jwks: jwks(K1) } });
  await verifyWithJwks(await sign(K1), mgr2, VERIFY);
});

test('secret algs never trigger a fetch', async (t) => {
  const clock = fakeClock();
  const { idp, mgr } = await setup(t, { now: clock.now });
  mgr.start();
  await mgr.waitReady(2000);
  clock.advance(60_000);
  const hs = await new SignJWT({ sub: 'x' })
    .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setExpirationTime('5m')
    .sign(new Uint8Array(32));
  await rejectsCode(jwtVerify(hs, mgr.getKey, { issuer: ISS, audience: AUD }), 'ERR_JOSE_NOT_SUPPORTED');
  assert.equal(idp.count(), 1);
});
