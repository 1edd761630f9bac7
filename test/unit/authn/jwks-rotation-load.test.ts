// Key changes under continuous load, in real time with the production JWKS timings
// (jwksCooldownSeconds 30, jwksRefreshSeconds 300, first background retry after 1 s): a steady
// stream of Checks while the IdP comes back after a start-up outage or rotates its keys, counting
// the Checks that were not allowed. test/unit/authn/jwks.test.ts and test/unit/authn/jwks-faults.test.ts pin the exact
// fetch rules on a manual clock; this file measures what a client sees.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestIdp, generateTestKey, type IdpOptions } from '../../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { sleep, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';

const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];
const [RS1, RS2] = await Promise.all([generateTestKey('rs1'), generateTestKey('rs2')]);

interface Outcome {
  /** ms since the load started: when the Check was sent, and when its answer came. */
  sent: number;
  answered: number;
  kid: string;
  ok: boolean;
  reason: string;
}

interface Env {
  idp: TestIdp;
  t: TestApp;
  v3: AuthClient;
}

const envs: Env[] = [];
after(async () => {
  for (const e of envs) {
    closeAll(e.v3);
    await e.t.stop();
    await e.idp.close();
  }
});

async function startEnv(idpOpts: IdpOptions = {}): Promise<Env> {
  const idp = await TestIdp.start({ keys: [RS1], ...idpOpts });
  // Production JWKS defaults: only the per-fetch timeout is set (a healthy local fetch is fast).
  const t = await startTestApp({
    issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'], jwksTimeoutMs: 1500 }],
    policies: POLICIES,
  });
  const env = { idp, t, v3: authV3Client(t.grpcPort) };
  envs.push(env);
  return env;
}

/**
 * One Check every `everyMs`, each with the token `current()` returns at that moment (a client
 * that always presents its latest token), without waiting for earlier answers.
 */
function load(env: Env, everyMs: number, current: () => { kid: string; token: string }): { t0: number; stop(): Promise<Outcome[]> } {
  const t0 = Date.now();
  const out: Outcome[] = [];
  const inflight = new Set<Promise<void>>();
  const send = (): void => {
    const { kid, token } = current();
    const sent = Date.now() - t0;
    const p = check(env.v3, checkRequest({ token }), 10_000).then(
      (r) => void out.push({ sent, answered: Date.now() - t0, kid, ok: r.status?.code === 0, reason: r.status?.message ?? '' }),
      () => void out.push({ sent, answered: Date.now() - t0, kid, ok: false, reason: 'rpc error' }),
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  send();
  const timer = setInterval(send, everyMs);
  return {
    t0,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
      return out.sort((a, b) => a.sent - b.sent);
    },
  };
}

const failed = (o: Outcome[]): Outcome[] => o.filter((x) => !x.ok);
const summary = (o: Outcome[]): string =>
  failed(o)
    .map((x) => `${x.kid}@${x.sent}:${x.reason}`)
    .join(' ');

describe('JWKS under continuous load (real time, production timings)', () => {
  it('IdP down at start-up: the first Check allowed about 1 s after the IdP is back (a Check every 250 ms), never OK before', async (tc) => {
    const env = await startEnv({ mode: '503' });
    const { idp, t } = env;
    await waitUntil(() => idp.jwksFetches >= 1, 10_000, 'the failed start-up fetch');
    const token = await idp.sign();
    const run = load(env, 250, () => ({ kid: 'rs1', token }));
    // Background retries 1 s and 3 s after the start-up attempt, then at 7 s: the IdP comes back
    // in between, so the backoff alone would keep the App down for about 4 s more.
    await sleep(3200);
    idp.setMode('up');
    const upAt = Date.now() - run.t0;
    await waitUntil(() => t.app.ready, 15_000, 'ready again');
    await sleep(1000);
    const out = await run.stop();
    const firstOk = out.find((x) => x.ok);
    assert.ok(firstOk, 'some Check was allowed');
    const recoveryMs = firstOk.answered - upAt;
    const before = out.filter((x) => x.sent < firstOk.sent);
    assert.ok(
      before.every((x) => !x.ok && x.reason === 'jwks_unavailable'),
      'before recovery: jwks_unavailable, never OK',
    );
    assert.deepEqual(failed(out.filter((x) => x.sent > firstOk.sent)), [], 'after recovery: every Check allowed');
    assert.ok(recoveryMs < 2000, `recovery took ${recoveryMs} ms after the IdP came back`);
    tc.diagnostic(
      `figure: start-up outage recovery ${recoveryMs} ms after the IdP came back (Check every 250 ms), ${before.length} Checks jwks_unavailable before, JWKS fetches ${idp.jwksFetches}`,
    );
  });

  it('rotation with overlap: 0 failed Checks (a Check every 25 ms)', async (tc) => {
    const env = await startEnv();
    const { idp } = env;
    await waitUntil(() => env.t.app.ready, 10_000, 'ready');
    const tokens = { rs1: await idp.sign({}, { key: 'rs1' }), rs2: '' };
    let signer: 'rs1' | 'rs2' = 'rs1';
    const run = load(env, 25, () => ({ kid: signer, token: tokens[signer] }));
    await sleep(1000);
    await idp.addKey(RS2); // published: the overlap starts (no scheduled refresh within the test)
    tokens.rs2 = await idp.sign({}, { key: 'rs2' });
    await sleep(1000);
    signer = 'rs2'; // clients get rs2 tokens
    await sleep(1500);
    idp.removeKey('rs1'); // the overlap ends
    await sleep(1500);
    const out = await run.stop();
    const n = { rs1: out.filter((x) => x.kid === 'rs1').length, rs2: out.filter((x) => x.kid === 'rs2').length };
    assert.ok(n.rs1 > 50 && n.rs2 > 50, `load ran: ${JSON.stringify(n)}`);
    assert.deepEqual(failed(out), [], `failed Checks: ${summary(out)}`);
    tc.diagnostic(
      `figure: rotation with overlap: ${out.length} Checks (${n.rs1} rs1, ${n.rs2} rs2), 0 failed, JWKS fetches ${idp.jwksFetches}`,
    );
  });

  it('rotation without overlap, published when first used: 0 failed Checks with the new key', async (tc) => {
    const env = await startEnv();
    const { idp } = env;
    await waitUntil(() => env.t.app.ready, 10_000, 'ready');
    const tokens = { rs1: await idp.sign({}, { key: 'rs1' }), rs2: await idp.sign({}, { key: RS2 }) };
    let signer: 'rs1' | 'rs2' = 'rs1';
    const run = load(env, 25, () => ({ kid: signer, token: tokens[signer] }));
    await sleep(1200);
    await idp.rotate(RS2); // rs1 replaced at once
    signer = 'rs2';
    await sleep(2000);
    const out = await run.stop();
    const rs2 = out.filter((x) => x.kid === 'rs2');
    assert.ok(rs2.length > 50, `rs2 Checks: ${rs2.length}`);
    assert.deepEqual(failed(rs2), [], `failed rs2 Checks: ${summary(rs2)}`);
    // rs1 Checks still in flight when the refetch dropped rs1 are denied: the IdP withdrew the key.
    const rs1Failed = failed(out.filter((x) => x.kid === 'rs1'));
    assert.ok(
      rs1Failed.every((x) => x.reason === 'token_unknown_key'),
      summary(out),
    );
    tc.diagnostic(
      `figure: rotation without overlap: ${rs2.length} Checks with the new key, 0 failed; ${rs1Failed.length} in-flight old-key Checks denied; JWKS fetches ${idp.jwksFetches}`,
    );
  });

  it('rotation without overlap, new key used 2 s before the IdP publishes it: failures only until about then', async (tc) => {
    const env = await startEnv();
    const { idp } = env;
    await waitUntil(() => env.t.app.ready, 10_000, 'ready');
    const tokens = { rs1: await idp.sign({}, { key: 'rs1' }), rs2: await idp.sign({}, { key: RS2 }) };
    let signer: 'rs1' | 'rs2' = 'rs1';
    const run = load(env, 25, () => ({ kid: signer, token: tokens[signer] }));
    await sleep(1200);
    signer = 'rs2'; // clients get rs2 tokens; the JWKS still has rs1 only
    const usedAt = Date.now() - run.t0;
    await sleep(2000);
    await idp.rotate(RS2); // published (and rs1 dropped) 2 s late
    const publishedAt = Date.now() - run.t0;
    await sleep(4000);
    const out = await run.stop();
    const rs2 = out.filter((x) => x.kid === 'rs2');
    const rs2Failed = failed(rs2);
    assert.ok(rs2Failed.length > 0, 'tokens the IdP has not published yet are denied');
    assert.ok(
      rs2Failed.every((x) => x.reason === 'token_unknown_key'),
      summary(rs2),
    );
    const lastFailure = Math.max(...rs2Failed.map((x) => x.sent));
    // The unknown-kid refetches of this window run 0, 1 and 3 s after the first rs2 Check: the
    // one after publication comes at most 2 s after it (1 s here).
    assert.ok(lastFailure < publishedAt + 2500, `last rs2 failure ${lastFailure - publishedAt} ms after publication`);
    assert.deepEqual(failed(rs2.filter((x) => x.sent > lastFailure)), []);
    assert.ok(rs2.filter((x) => x.sent > lastFailure).length > 50, 'rs2 Checks allowed after recovery');
    assert.ok(idp.jwksFetches <= 1 + 4, `fetches: ${idp.jwksFetches}`);
    tc.diagnostic(
      `figure: rotation without overlap, publication 2 s late: ${rs2Failed.length} of ${rs2.length} new-key Checks failed, ` +
        `from ${rs2Failed[0]!.sent - usedAt} ms to ${lastFailure - usedAt} ms after first use (published at ${publishedAt - usedAt} ms); JWKS fetches ${idp.jwksFetches}`,
    );
  });
});
