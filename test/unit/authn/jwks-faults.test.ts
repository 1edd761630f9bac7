// JWKS / IdP fault injection end to end: a real App (gRPC Check, admin /readyz, metrics, audit)
// against a TestIdp that can be broken in every way the tests below list. test/unit/authn/jwks.test.ts covers the
// JwksManager on its own; this file checks what Envoy and the operator see for each fault.
//
// Time: the App's JWKS managers run on a ManualClock (test/helpers/clock.ts), so cooldowns and
// the background refresh use production values (30 s / 300 s) and a test decides when a
// scheduled refresh fires. An hour of refresh cycles takes as long as the fetches themselves, and
// fetch counts are exact. Fetch timeouts stay real (jwksTimeoutMs is small here). Token
// verification itself (exp, token cache) runs on real time; tokens that must outlive the
// simulated hour carry exp = now + 2 h.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { JwksManager } from '../../../src/authn/jwks/manager.js';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';
import { TestIdp, generateTestKey, nowSeconds, type IdpMode, type IdpOptions } from '../../helpers/idp.js';
import {
  authV3Client,
  check,
  checkRequest,
  closeAll,
  headerValue,
  healthCheck,
  healthClient,
  type AuthClient,
  type HealthCheckClient,
} from '../../helpers/grpc-client.js';
import { adminGet, readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { ManualClock } from '../../helpers/clock.js';
import { GRPC_IMPLEMENTATIONS, withGrpc, type GrpcImplementation } from '../../helpers/grpc-impls.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];
// Real time: the one wait a fault can impose on a Check. Healthy local fetches must finish well
// within it even on a loaded 2-core CI machine; slow faults cost this much per failed attempt.
const TIMEOUT_MS = 1500;
const MAX_BYTES = 16 * 1024;
const COOLDOWN_MS = 30_000; // production defaults; free on the manual clock
const REFRESH_MS = 300_000;
const RETRY_MIN_MS = 1_000; // JwksManager default first retry after a failed background fetch
const FETCH_FAILED_MSG = 'JWKS fetch failed; keeping last-known-good keys';

// Key pairs generated once (RSA generation costs 100-500 ms each); every IdP publishes copies.
const [RS1, RS2, RS512, OAEP, ES_ON_RSA, ENC1, WRAP, STRANGER, ATTACKER] = await Promise.all([
  generateTestKey('rs1'),
  generateTestKey('rs2'),
  generateTestKey('rs512', 'RS512'),
  generateTestKey('oaep'),
  generateTestKey('ecdsa-on-rsa'),
  generateTestKey('enc1', 'ES256'),
  generateTestKey('wrap-only', 'ES256'),
  generateTestKey('stranger', 'ES256'),
  generateTestKey('attacker', 'ES256'),
]);

function appConfig(idp: TestIdp, issuerExtra: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuers: [
      {
        issuer: idp.issuer,
        jwksUri: idp.jwksUri,
        audiences: ['orders'],
        algorithms: ['RS256', 'ES256'],
        jwksTimeoutMs: TIMEOUT_MS,
        jwksMaxBytes: MAX_BYTES,
        jwksCooldownSeconds: COOLDOWN_MS / 1000,
        jwksRefreshSeconds: REFRESH_MS / 1000,
        ...issuerExtra,
      },
    ],
    policies: POLICIES,
    ...extra,
  };
}

interface Env {
  idp: TestIdp;
  clock: ManualClock;
  t: TestApp;
  v3: AuthClient;
  health: HealthCheckClient;
  stop(): Promise<void>;
}

/**
 * IdP (optionally broken by `configure` before the App starts) + App on a manual JWKS clock.
 * Returns once the initial fetch attempt is over (the manager scheduled its next refresh).
 */
async function startEnv(
  opts: {
    idp?: IdpOptions;
    configure?: (idp: TestIdp) => void | Promise<void>;
    issuer?: Record<string, unknown>;
    extra?: Record<string, unknown>;
    waitInitial?: boolean;
    /** The gRPC server implementation (the default when absent). */
    grpc?: GrpcImplementation;
  } = {},
): Promise<Env> {
  const idp = await TestIdp.start({ keys: [RS1], ...opts.idp });
  idp.oversizeBytes = MAX_BYTES * 4;
  await opts.configure?.(idp);
  const clock = new ManualClock();
  let t: TestApp;
  try {
    const config = appConfig(idp, opts.issuer, opts.extra);
    t = await startTestApp(opts.grpc ? withGrpc(opts.grpc, config) : config, { jwksClock: clock });
  } catch (err) {
    await idp.close();
    throw err;
  }
  const v3 = authV3Client(t.grpcPort);
  const health = healthClient(t.grpcPort);
  const env: Env = {
    idp,
    clock,
    t,
    v3,
    health,
    async stop() {
      closeAll(v3, health);
      await t.stop();
      await idp.close();
    },
  };
  if (opts.waitInitial !== false) await initialAttemptDone(env);
  return env;
}

/** The initial fetch has finished (either way): the manager scheduled its next background refresh. */
async function initialAttemptDone(env: Env): Promise<void> {
  await waitUntil(() => env.clock.pending === 1, 10_000, 'initial JWKS fetch attempt');
}

/** Fire the next scheduled background refresh and wait until it has finished; returns the simulated wait. */
async function runScheduledRefresh(env: Env): Promise<number> {
  assert.equal(env.clock.pending, 1, 'exactly one background refresh scheduled');
  const jumped = env.clock.fireNext();
  await waitUntil(() => env.clock.pending === 1, 10_000, 'scheduled JWKS refresh to finish');
  return jumped;
}

const call = (env: Env, token: string, deadlineMs = 5000): Promise<CheckResponse> => check(env.v3, checkRequest({ token }), deadlineMs);

function assertAllowed(res: CheckResponse, msg = ''): void {
  assert.equal(res.status?.code, 0, `expected OK ${msg}; got ${res.status?.code} ${res.status?.message}`);
  assert.equal(res.httpResponse, 'okResponse', msg);
}

/** A denial with `reason`: never OK, the gRPC code and HTTP status of the reason, reason in body and metadata. */
function assertDenied(res: CheckResponse, reason: string, grpcCode: number, http: string, msg = ''): void {
  assert.notEqual(res.status?.code, 0, `never OK (${reason}) ${msg}`);
  assert.equal(res.httpResponse, 'deniedResponse', msg);
  assert.equal(res.status?.code, grpcCode, `gRPC code for ${reason} ${msg}; got ${res.status?.code} ${res.status?.message}`);
  assert.equal(res.status?.message, reason, msg);
  assert.equal(res.deniedResponse?.status?.code, http, msg);
  assert.equal((JSON.parse(res.deniedResponse?.body ?? '{}') as { error?: string }).error, reason, msg);
  assert.equal(res.dynamicMetadata?.fields?.reason?.stringValue, reason, msg);
}

const assertUnavailable = (res: CheckResponse, msg = ''): void => assertDenied(res, 'jwks_unavailable', 14, 'ServiceUnavailable', msg);
function assertUnknownKey(res: CheckResponse, msg = ''): void {
  assertDenied(res, 'token_unknown_key', 16, 'Unauthorized', msg);
  assert.match(headerValue(res.deniedResponse?.headers, 'www-authenticate') ?? '', /error="invalid_token"/, msg);
}

async function readiness(env: Env): Promise<{ ready: boolean; readyz: number; health: string }> {
  return {
    ready: env.t.app.ready,
    readyz: (await adminGet(env.t.adminPort, '/readyz')).status,
    health: String((await healthCheck(env.health, '')).status),
  };
}

const SERVING = { ready: true, readyz: 200, health: 'SERVING' };
const NOT_SERVING = { ready: false, readyz: 503, health: 'NOT_SERVING' };

/** `error` of every "JWKS fetch failed" warning logged so far. */
function loggedFetchErrors(t: TestApp): string[] {
  return t
    .records()
    .filter((r) => r.msg === FETCH_FAILED_MSG)
    .map((r) => String(r.error));
}

const refreshes = (env: Env, result: 'success' | 'error', trigger?: string): Promise<number> =>
  readMetric(env.t.adminPort, 'zt_authz_jwks_refresh_total', { issuer: env.idp.issuer, result, ...(trigger ? { trigger } : {}) });

const decisions = (env: Env, decision: string, reason: string): Promise<number> =>
  readMetric(env.t.adminPort, 'zt_authz_decisions_total', { decision, reason });

/** A token that outlives the simulated hour (exp in 2 h). */
const longToken = (idp: TestIdp, opts: Parameters<TestIdp['sign']>[1] = {}): Promise<string> =>
  idp.sign({ exp: nowSeconds() + 7200, jti: randomUUID() }, opts);

// ---------------------------------------------------------------------------------------------
// The fault catalogue. Each fault breaks the IdP's answer; heal() makes it serve rs1 again.

interface Fault {
  name: string;
  apply(idp: TestIdp): void;
  heal(idp: TestIdp): void;
  /** The fetch error the App logs (and counts as result="error"). */
  error: RegExp;
  /** Each attempt costs jwksTimeoutMs of real time. */
  slow?: boolean;
  /**
   * The IdP resets connections, including the App's idle keep-alive one: an attempt on that
   * socket fails before the IdP sees a request, so the IdP's count may be lower than the App's.
   */
  resets?: boolean;
}

/** The IdP received `expected` JWKS requests (at most that many for a resetting fault). */
function assertIdpSaw(env: Env, f: Fault, expected: number, msg = ''): void {
  if (f.resets) assert.ok(env.idp.jwksFetches <= expected, `IdP saw ${env.idp.jwksFetches} > ${expected} ${msg}`);
  else assert.equal(env.idp.jwksFetches, expected, msg);
}

const modeFault = (mode: IdpMode, name: string, error: RegExp): Fault => ({
  name,
  ...(mode === 'destroy' ? { resets: true } : {}),
  apply: (idp) => idp.setMode(mode),
  heal: (idp) => idp.setMode('up'),
  error,
});
const keyFault = (name: string, params: Record<string, unknown>): Fault => ({
  name,
  apply: (idp) => idp.setKeyParams('rs1', params),
  heal: (idp) => idp.setKeyParams('rs1', { use: 'sig', alg: 'RS256', key_ops: undefined }),
  error: /^invalid JWKS: no usable signing keys$/,
});
const TIMED_OUT = new RegExp(`^JWKS fetch failed: timeout after ${TIMEOUT_MS} ms$`);
const TOO_BIG = new RegExp(`^JWKS fetch failed: body exceeds ${MAX_BYTES} bytes$`);

const FAULTS: Fault[] = [
  modeFault('503', 'HTTP 503', /^JWKS fetch failed: HTTP 503$/),
  modeFault('500', 'HTTP 500', /^JWKS fetch failed: HTTP 500$/),
  modeFault('502', 'HTTP 502', /^JWKS fetch failed: HTTP 502$/),
  modeFault('destroy', 'connection reset', /^JWKS fetch failed: network error/),
  {
    name: 'slow beyond jwksTimeoutMs (headers)',
    slow: true,
    apply: (idp) => (idp.jwksDelayMs = TIMEOUT_MS * 10),
    heal: (idp) => (idp.jwksDelayMs = 0),
    error: TIMED_OUT,
  },
  { ...modeFault('stall', 'slow beyond jwksTimeoutMs (body stalls)', TIMED_OUT), slow: true },
  modeFault('garbage', 'garbage JSON', /^JWKS fetch failed: invalid JSON$/),
  modeFault('html', 'HTML instead of JSON', /^JWKS fetch failed: invalid JSON$/),
  modeFault('empty', 'empty key set', /^invalid JWKS: no usable signing keys$/),
  modeFault('oversize', 'oversize body (content-length)', TOO_BIG),
  modeFault('oversize-chunked', 'oversize body (chunked, valid JSON)', TOO_BIG),
  keyFault('only key has use "enc"', { use: 'enc' }),
  keyFault('only key has an encryption alg (RSA-OAEP-256, no use)', { use: undefined, alg: 'RSA-OAEP-256' }),
  keyFault('only key has an alg of another key type (ES256 on RSA)', { alg: 'ES256' }),
  keyFault('only key has key_ops without "verify"', { key_ops: ['encrypt'] }),
];

// ---------------------------------------------------------------------------------------------

// What Envoy sees of a fault (the Check's answer and gRPC health) goes through the gRPC server, so
// this runs on both implementations: the whole catalogue on the default, one fault of each kind
// (an HTTP error, a reset, a stall, bad content) on the other, which keeps the file's runtime.
const EVERY_SERVER_FAULTS = new Set(['HTTP 503', 'connection reset', 'slow beyond jwksTimeoutMs (body stalls)', 'garbage JSON']);
const startupRuns = GRPC_IMPLEMENTATIONS.flatMap((impl, i) =>
  (i === 0 ? FAULTS : FAULTS.filter((f) => EVERY_SERVER_FAULTS.has(f.name))).map((f) => ({ impl, f })),
);

// One at a time: running them concurrently let one App's synchronous start-up delay another's
// healthy fetch past jwksTimeoutMs on a loaded machine.
describe('IdP broken at start: not ready, Check UNAVAILABLE (never OK), recovers with the IdP', () => {
  for (const { impl, f } of startupRuns) {
    it(`${f.name} [${impl}]`, async () => {
      const env = await startEnv({ configure: f.apply, waitInitial: false, grpc: impl });
      try {
        // The first Check may join the initial fetch: it waits at most about jwksTimeoutMs (the
        // slow IdP would answer only after 10 × that; the stalled one never).
        const token = await env.idp.sign();
        const started = Date.now();
        assertUnavailable(await call(env, token, 20_000), 'first Check');
        const waited = Date.now() - started;
        assert.ok(waited < TIMEOUT_MS + 5000, `first Check took ${waited} ms (jwksTimeoutMs ${TIMEOUT_MS})`);
        await initialAttemptDone(env);
        assertIdpSaw(env, f, 1);

        // A burst while not ready: all UNAVAILABLE at once, no fetch (the failed attempt started the cooldown).
        const burst = await Promise.all(Array.from({ length: 20 }, async () => call(env, await env.idp.sign())));
        burst.forEach((r, i) => assertUnavailable(r, `burst #${i}`));
        assertIdpSaw(env, f, 1, 'no fetch inside the cooldown');

        assert.deepEqual(await readiness(env), NOT_SERVING);
        assert.equal(await readMetric(env.t.adminPort, 'zt_authz_ready'), 0);
        assert.equal(await refreshes(env, 'error', 'initial'), 1);
        assert.equal(await refreshes(env, 'success'), 0);
        assert.equal(await decisions(env, 'deny', 'jwks_unavailable'), 21);
        assert.equal(await decisions(env, 'allow', 'allowed'), 0);
        const audit = env.t.audit();
        assert.equal(audit.length, 21);
        assert.ok(audit.every((r) => r.decision === 'deny' && r.reason === 'jwks_unavailable'));
        const errors = loggedFetchErrors(env.t);
        assert.equal(errors.length, 1);
        assert.match(errors[0]!, f.error);

        // Background retries go on with backoff while the IdP stays broken (one more attempt;
        // skipped for the slow faults, whose attempts cost real time and prove nothing new).
        assert.equal(env.clock.nextDelay(), RETRY_MIN_MS);
        let attempts = 1;
        if (!f.slow) {
          await runScheduledRefresh(env);
          attempts++;
          assertIdpSaw(env, f, attempts);
          assert.equal(env.clock.nextDelay(), 2 * RETRY_MIN_MS, 'backoff doubles');
          assertUnavailable(await call(env, token), 'still broken');
          assert.deepEqual(await readiness(env), NOT_SERVING);
        }

        // The IdP heals: the next retry loads the keys, the App turns ready and allows.
        f.heal(env.idp);
        await runScheduledRefresh(env);
        assert.deepEqual(await readiness(env), SERVING);
        await waitUntil(async () => (await readMetric(env.t.adminPort, 'zt_authz_ready')) === 1, 5000, 'zt_authz_ready 1');
        assertAllowed(await call(env, token), 'after recovery');
        assert.equal(env.clock.nextDelay(), REFRESH_MS, 'back to the normal refresh interval');
        assertIdpSaw(env, f, attempts + 1);
        assert.equal(await refreshes(env, 'error'), attempts);
        assert.equal(await refreshes(env, 'success', 'scheduled'), 1);
      } finally {
        await env.stop();
      }
    });
  }
});

describe('recovery after a start-up outage', () => {
  it('no keys: a Check fetches once the last attempt is 1 s old, so the App allows about 1 s after the IdP is back, whatever the backoff', async () => {
    const env = await startEnv({ configure: (idp) => idp.setMode('503') });
    try {
      const token = await env.idp.sign();
      for (let i = 0; i < 3; i++) await runScheduledRefresh(env); // failed retries at 1, 2 and 4 s
      assert.equal(env.clock.nextDelay(), 8 * RETRY_MIN_MS, 'the next background retry is 8 s away');
      assert.equal(env.idp.jwksFetches, 4);

      env.idp.setMode('up');
      assertUnavailable(await call(env, token), 'the last attempt is under 1 s old');
      assert.equal(env.idp.jwksFetches, 4);
      env.clock.advance(RETRY_MIN_MS);
      const burst = await Promise.all(Array.from({ length: 20 }, () => call(env, token)));
      burst.forEach((r, i) => assertAllowed(r, `Check #${i} 1 s after the last attempt`));
      assert.equal(env.idp.jwksFetches, 5, 'the 20 Checks shared one fetch');
      assert.deepEqual(await readiness(env), SERVING);
      assert.equal(env.clock.nextDelay(), REFRESH_MS, 'background refresh back to its interval');
      assert.equal(await refreshes(env, 'success'), 1);
      assert.equal(await refreshes(env, 'error'), 4);
    } finally {
      await env.stop();
    }
  });
});

describe('IdP broken after a successful start: stays ready, valid tokens keep verifying (last-known-good)', () => {
  let env: Env;
  let preFault: string;

  before(async () => {
    // Token cache off: every Check below verifies its signature with the held keys.
    env = await startEnv({ extra: { tokenCache: { maxEntries: 0 } } });
    assert.deepEqual(await readiness(env), SERVING);
    preFault = await longToken(env.idp);
    assertAllowed(await call(env, preFault));
  });
  after(() => env?.stop());

  for (const f of FAULTS) {
    it(f.name, async () => {
      f.apply(env.idp);
      const fetches = env.idp.jwksFetches;
      const errors = await refreshes(env, 'error', 'scheduled');
      const logged = loggedFetchErrors(env.t).length;
      await runScheduledRefresh(env);
      assert.equal(await refreshes(env, 'error', 'scheduled'), errors + 1, 'one failed attempt');
      assertIdpSaw(env, f, fetches + 1);
      // (15 faults stay under the warn rate limit of 20 lines of one message per 10 s.)
      const newErrors = loggedFetchErrors(env.t).slice(logged);
      assert.equal(newErrors.length, 1);
      assert.match(newErrors[0]!, f.error);
      assert.equal(env.clock.nextDelay(), RETRY_MIN_MS, 'retry with backoff');

      assert.deepEqual(await readiness(env), SERVING);
      assert.equal(await readMetric(env.t.adminPort, 'zt_authz_jwks_keys', { issuer: env.idp.issuer }), 1, 'still holds rs1');
      assertAllowed(await call(env, preFault), 'token from before the fault');
      assertAllowed(await call(env, await longToken(env.idp)), 'fresh token');
      // An unknown kid during the fault: token_unknown_key, and no fetch (the failed refresh is under 1 s old).
      assertUnknownKey(await call(env, await env.idp.sign({}, { key: STRANGER })));
      assert.equal(await refreshes(env, 'error', 'unknown_kid'), 0, 'no on-demand attempt');
      assertIdpSaw(env, f, fetches + 1);

      f.heal(env.idp);
      await runScheduledRefresh(env);
      assert.equal(env.clock.nextDelay(), REFRESH_MS);
      assertAllowed(await call(env, preFault), 'after healing');
    });
  }

  it('across all faults: every Check was allowed or token_unknown_key, none UNAVAILABLE', async () => {
    assert.equal(await decisions(env, 'deny', 'jwks_unavailable'), 0);
    const audit = env.t.audit();
    assert.equal(audit.length, 1 + FAULTS.length * 4);
    assert.ok(
      audit.every((r) => (r.decision === 'allow' && r.reason === 'allowed') || (r.decision === 'deny' && r.reason === 'token_unknown_key')),
    );
  });
});

describe('IdP down for a simulated hour', () => {
  it('≥ 12 failed refresh cycles; tokens issued before the outage and fresh ones keep verifying', async () => {
    const env = await startEnv({ extra: { tokenCache: { maxEntries: 0 } } });
    try {
      assert.deepEqual(await readiness(env), SERVING);
      const preOutage = await longToken(env.idp);
      assertAllowed(await call(env, preOutage));

      const fetches0 = env.idp.jwksFetches;
      const start = env.clock.now();
      // Connection resets are left out here: they can fail an attempt before the IdP counts it.
      const modes: IdpMode[] = ['503', '500', '502', 'garbage', 'html', 'empty', 'oversize'];
      let cycles = 0;
      let unknownKidFetches = 0;
      const delays: number[] = [];
      while (env.clock.now() - start < 3_600_000) {
        env.idp.setMode(modes[cycles % modes.length]!);
        delays.push(await runScheduledRefresh(env));
        cycles++;
        assertAllowed(await call(env, preOutage), `pre-outage token after ${cycles} failed cycles`);
        assertAllowed(await call(env, await longToken(env.idp)), `fresh token after ${cycles} failed cycles`);
        // Unknown kids now and then: a concurrent burst shares one (failing) fetch, answered token_unknown_key.
        // (Only when the next scheduled refresh lies beyond the cooldown, so advancing does not fire it.)
        if (cycles % 4 === 0 && env.clock.nextDelay()! > COOLDOWN_MS) {
          const before = env.idp.jwksFetches;
          env.clock.advance(COOLDOWN_MS);
          const burst = await Promise.all(
            Array.from({ length: 10 }, async () => call(env, await env.idp.sign({}, { key: STRANGER, kid: randomUUID() }))),
          );
          burst.forEach((r) => assertUnknownKey(r));
          assert.equal(env.idp.jwksFetches - before, 1, 'one on-demand fetch for the burst');
          unknownKidFetches++;
        }
      }
      const simulated = env.clock.now() - start;
      assert.ok(simulated >= 3_600_000, `simulated ${simulated} ms`);
      assert.ok(cycles >= 12, `refresh cycles in the hour: ${cycles}`);
      // Backoff 1 s, 2 s, 4 s … capped at the refresh interval.
      assert.deepEqual(delays.slice(0, 4), [REFRESH_MS, 1000, 2000, 4000]);
      assert.equal(Math.max(...delays), REFRESH_MS);
      assert.equal(env.idp.jwksFetches - fetches0, cycles + unknownKidFetches);
      assert.equal(await refreshes(env, 'error', 'scheduled'), cycles);
      assert.equal(await refreshes(env, 'error', 'unknown_kid'), unknownKidFetches);
      // Warnings are rate-limited per message (20 per 10 s of real time): the metric is the exact count.
      const logged = loggedFetchErrors(env.t);
      assert.ok(logged.length >= 1);
      for (const e of logged)
        assert.match(e, /^(JWKS fetch failed: (HTTP 50[023]|invalid JSON|body exceeds \d+ bytes)|invalid JWKS: no usable signing keys)$/);
      assert.deepEqual(await readiness(env), SERVING);
      assert.equal(await readMetric(env.t.adminPort, 'zt_authz_ready'), 1);
      assert.equal(await decisions(env, 'deny', 'jwks_unavailable'), 0);

      env.idp.setMode('up');
      await runScheduledRefresh(env);
      assert.equal(await refreshes(env, 'success', 'scheduled'), 1);
      assertAllowed(await call(env, preOutage), 'after the outage');
    } finally {
      await env.stop();
    }
  });
});

describe('keys published with the wrong use / alg', () => {
  it('are never used for verification: token_unknown_key (or a signature failure), never OK', async () => {
    const env = await startEnv({
      configure: async (idp) => {
        await idp.addKey(ENC1, 'ES256', { use: 'enc' });
        await idp.addKey(RS512);
        await idp.addKey(OAEP, 'RS256', { use: undefined, alg: 'RSA-OAEP-256' });
        await idp.addKey(ES_ON_RSA, 'RS256', { alg: 'ES256' });
        await idp.addKey(WRAP, 'ES256', { key_ops: ['wrapKey'] });
      },
      issuer: { algorithms: ['RS256', 'RS512', 'ES256'] },
    });
    try {
      const { idp } = env;
      assert.deepEqual(await readiness(env), SERVING);
      // Only rs1 and rs512 are usable signature keys.
      assert.equal(await readMetric(env.t.adminPort, 'zt_authz_jwks_keys', { issuer: idp.issuer }), 2);
      const fetches = idp.jwksFetches;

      assertAllowed(await call(env, await idp.sign()), 'rs1 (RS256)');
      assertAllowed(await call(env, await idp.sign({}, { key: 'rs512' })), 'rs512 used with its own alg (RS512)');
      // The kid names the key; the header alg is the token's. jose's key selection must refuse each.
      const misuse: Array<[string, Parameters<TestIdp['sign']>[1]]> = [
        ['key marked use "enc"', { key: 'enc1' }],
        ['RS512 key named by an RS256 token', { key: 'rs1', kid: 'rs512' }],
        ['RS256 key named by an RS512 token', { key: 'rs512', kid: 'rs1' }],
        ['key with an encryption alg', { key: 'oaep' }],
        ['key whose alg names another key type', { key: 'ecdsa-on-rsa' }],
        ['key whose key_ops lack "verify"', { key: 'wrap-only' }],
      ];
      for (const [name, opts] of misuse) assertUnknownKey(await call(env, await idp.sign({}, opts)), name);
      // Without a kid, only rs1 fits an RS256 token (oaep and ecdsa-on-rsa are not candidates):
      // a token signed by the oaep key does not verify against it.
      assertDenied(
        await call(env, await idp.sign({}, { key: 'oaep', kid: null })),
        'token_invalid_signature',
        16,
        'Unauthorized',
        'kid-less',
      );
      // The same for ES256: the enc1 and wrap-only EC keys are never candidates, so no key matches.
      assertUnknownKey(await call(env, await idp.sign({}, { key: 'enc1', kid: null })), 'kid-less ES256, only unusable EC keys');
      assert.equal(idp.jwksFetches, fetches, 'inside the cooldown: no refetch');

      // Past the cooldown the unknown key costs exactly one refetch, and still does not verify.
      env.clock.advance(COOLDOWN_MS);
      const again = await Promise.all(misuse.map(async ([, opts]) => call(env, await idp.sign({}, opts))));
      again.forEach((r, i) => assertUnknownKey(r, misuse[i]![0]));
      assert.equal(idp.jwksFetches, fetches + 1);
      assert.equal(await decisions(env, 'allow', 'allowed'), 2);
    } finally {
      await env.stop();
    }
  });
});

describe('key rotation', () => {
  it('with overlap: the new key arrives by scheduled refresh, no on-demand fetch, old tokens work until the key leaves', async () => {
    const env = await startEnv();
    try {
      const { idp } = env;
      const old = await longToken(idp);
      assertAllowed(await call(env, old));
      assertAllowed(await call(env, old), 'cached');

      await idp.addKey(RS2); // overlap starts: rs1 and rs2 both published
      await runScheduledRefresh(env);
      assert.equal(await readMetric(env.t.adminPort, 'zt_authz_jwks_keys', { issuer: idp.issuer }), 2);
      assertAllowed(await call(env, await longToken(idp, { key: 'rs2' })), 'new key');
      assertAllowed(await call(env, old), 'old key during the overlap');
      assert.equal(idp.jwksFetches, 2, 'initial + scheduled only');

      idp.removeKey('rs1'); // overlap ends
      await runScheduledRefresh(env);
      assertUnknownKey(await call(env, old), 'old token (was cached) after rs1 left');
      assertAllowed(await call(env, await longToken(idp, { key: 'rs2' })));
      assert.equal(idp.jwksFetches, 3, 'no on-demand fetch for the old kid inside the cooldown');
      assert.equal(await refreshes(env, 'success', 'unknown_kid'), 0);
      assert.equal(await refreshes(env, 'success', 'scheduled'), 2);
    } finally {
      await env.stop();
    }
  });

  it('without overlap: a new kid 1 s after the last fetch is fetched at once (not after the 30 s cooldown); old tokens → token_unknown_key', async () => {
    const env = await startEnv();
    try {
      const { idp } = env;
      const old = await longToken(idp);
      assertAllowed(await call(env, old));

      await idp.rotate(RS2); // rs1 gone at once
      assertAllowed(await call(env, old), 'old token until the App fetches again');
      const fresh = await longToken(idp, { key: 'rs2' });
      assertUnknownKey(await call(env, fresh), 'new kid within 1 s of the last fetch');
      assert.equal(idp.jwksFetches, 1);

      env.clock.advance(RETRY_MIN_MS);
      assertAllowed(await call(env, fresh), 'new kid 1 s after the last fetch: one refetch');
      assert.equal(idp.jwksFetches, 2);
      assertUnknownKey(await call(env, old), 'old token after the refetch (cache entry dropped)');
      const burst = await Promise.all(Array.from({ length: 30 }, () => call(env, old)));
      burst.forEach((r) => assertUnknownKey(r));
      assert.equal(idp.jwksFetches, 2, 'old kid within 1 s of the refetch: no refetch');

      env.clock.advance(COOLDOWN_MS);
      const burst2 = await Promise.all(Array.from({ length: 30 }, () => call(env, old)));
      burst2.forEach((r) => assertUnknownKey(r));
      assert.equal(idp.jwksFetches, 3, 'the 30 Checks at one instant share one refetch');
      assert.equal(await refreshes(env, 'success', 'unknown_kid'), 2);
      assert.equal(await decisions(env, 'deny', 'token_unknown_key'), 2 + 60);
      assert.equal(await decisions(env, 'deny', 'jwks_unavailable'), 0);
    } finally {
      await env.stop();
    }
  });
});

const FLOOD = 50; // concurrent Checks per wave, each with a fresh random kid
// Unknown-kid refetches per cooldown window (JwksManager default), and when they happen in a
// window that starts quiet: at once, then 1, 2 and 4 s after the previous one.
const UNKNOWN_KID_FETCHES = 4;
// Waves per window (ms from its start) and the fetches made by the end of each.
const WAVES: Array<[at: number, fetches: number]> = [
  [0, 1],
  [0, 1], // a second wave at the same instant
  [500, 1],
  [1000, 2],
  [2000, 2],
  [3000, 3],
  [5000, 3],
  [7000, 4],
  [8000, 4],
  [15_000, 4],
  [COOLDOWN_MS - 1, 4],
];

describe('unknown-kid flood', () => {
  it(`≤ ${UNKNOWN_KID_FETCHES} fetches per cooldown window, ≥ 1 s apart, IdP up or down; valid tokens unaffected`, async () => {
    const env = await startEnv();
    try {
      const { idp } = env;
      const flood = await Promise.all(Array.from({ length: FLOOD }, () => idp.sign({}, { key: ATTACKER, kid: randomUUID() })));
      const good = await longToken(idp);
      let waves = 0;
      const wave = async (label: string): Promise<void> => {
        const res = await Promise.all([...flood.map((tok) => call(env, tok)), call(env, good)]);
        const goodRes = res.pop()!;
        assertAllowed(goodRes, `${label}: valid token during the flood`);
        res.forEach((r) => assertUnknownKey(r, label));
        waves++;
      };

      await wave('within 1 s of the initial fetch');
      assert.equal(idp.jwksFetches, 1);
      let expected = 1;
      for (const [state, windows] of [
        ['up', 2],
        ['503', 2],
      ] as const) {
        idp.setMode(state);
        for (let w = 0; w < windows; w++) {
          env.clock.advance(COOLDOWN_MS); // a quiet period: the previous window's fetches are all older than the cooldown
          const start = env.clock.now();
          for (const [at, fetches] of WAVES) {
            env.clock.advance(start + at - env.clock.now());
            await wave(`${state} window ${w} +${at} ms`);
            assert.equal(idp.jwksFetches, expected + fetches, `${state} window ${w}, wave at +${at} ms: ${fetches} fetches so far`);
          }
          expected += UNKNOWN_KID_FETCHES;
        }
      }
      assert.equal(await refreshes(env, 'success', 'unknown_kid'), 2 * UNKNOWN_KID_FETCHES);
      assert.equal(await refreshes(env, 'error', 'unknown_kid'), 2 * UNKNOWN_KID_FETCHES);
      assert.equal(waves, 1 + 4 * WAVES.length);
      assert.equal(await decisions(env, 'deny', 'token_unknown_key'), FLOOD * waves);
      assert.equal(await decisions(env, 'allow', 'allowed'), waves);
      assert.equal(await decisions(env, 'deny', 'jwks_unavailable'), 0);
      assert.deepEqual(await readiness(env), SERVING);
    } finally {
      await env.stop();
    }
  });
});

describe('key-set filter (the rule behind "no usable signing keys")', () => {
  const jwkOf = (type: 'ec' | 'ed25519' | 'ed448' | 'x25519', namedCurve?: string): Record<string, unknown> => {
    const { publicKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: namedCurve! }) : generateKeyPairSync(type as 'ed25519');
    return publicKey.export({ format: 'jwk' });
  };
  const load = (keys: Array<Record<string, unknown>>): JwksManager =>
    new JwksManager({ issuer: 'https://idp.test', source: { kind: 'inline', jwks: { keys } } });

  it('drops keys no JWS algorithm could use, or whose alg/key_ops/use rule them out; keeps the rest', () => {
    const unusable: Array<[string, Record<string, unknown>]> = [
      ['X25519 (key agreement)', { ...jwkOf('x25519'), kid: 'x' }],
      ['secp256k1 (no JOSE alg in jose)', { ...jwkOf('ec', 'secp256k1'), kid: 'k1' }],
      ['Ed448 (jose verifies EdDSA with Ed25519 only)', { ...jwkOf('ed448'), kid: 'ed448' }],
      ['ES384 on a P-256 key', { ...jwkOf('ec', 'P-256'), kid: 'p256', alg: 'ES384' }],
      ['HS256 on an EC key', { ...jwkOf('ec', 'P-256'), kid: 'hs', alg: 'HS256' }],
      ['ECDH-ES (an encryption alg)', { ...jwkOf('ec', 'P-256'), kid: 'ecdh', alg: 'ECDH-ES' }],
      ['use "enc"', { ...RS1.jwk, kid: 'enc', use: 'enc' }],
      ['key_ops without verify', { ...RS1.jwk, kid: 'ops', key_ops: ['sign'] }],
      ['key_ops not an array', { ...RS1.jwk, kid: 'ops2', key_ops: 'verify' }],
      ['alg not a string', { ...RS1.jwk, kid: 'alg', alg: 256 }],
    ];
    for (const [name, jwk] of unusable) {
      assert.throws(() => load([jwk]), /no usable signing keys/, name);
    }
    const usable = [
      { ...jwkOf('ed25519'), kid: 'ed' },
      { ...jwkOf('ec', 'P-521'), kid: 'p521' },
      { ...RS1.jwk, use: undefined, alg: undefined, kid: 'bare-rsa' },
      { ...RS1.jwk, kid: 'ops-ok', key_ops: ['verify'] },
      { ...RS512.jwk },
    ].map((k) => JSON.parse(JSON.stringify(k)) as Record<string, unknown>);
    const mgr = load([...usable, ...unusable.map(([, k]) => k)]);
    assert.deepEqual([...mgr.kids].sort(), ['bare-rsa', 'ed', 'ops-ok', 'p521', 'rs512']);
  });
});
