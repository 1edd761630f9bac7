// Graceful drain, in-process: App.shutdown() while a Check is in flight (waiting for the first,
// deliberately slow, JWKS response). Health flips to NOT_SERVING first, the in-flight Check
// completes with OK, and nothing new is accepted afterwards.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestIdp } from '../../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, healthCheck, healthClient, healthWatch } from '../../helpers/grpc-client.js';
import { adminGet, readMetric, sleep, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { describeGrpc, withGrpc, type GrpcImplementation } from '../../helpers/grpc-impls.js';

const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];
const DRAIN_SECONDS = 3;

async function setup(
  impl: GrpcImplementation,
  jwksDelayMs: number,
  issuerExtra: Record<string, unknown> = {},
): Promise<{ idp: TestIdp; t: TestApp }> {
  const idp = await TestIdp.start({ jwksDelayMs, delayFirstOnly: true });
  const t = await startTestApp(
    withGrpc(impl, {
      server: { drainSeconds: DRAIN_SECONDS },
      issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'], algorithms: ['RS256', 'ES256'], ...issuerExtra }],
      policies: POLICIES,
    }),
  );
  return { idp, t };
}

const drainedHow = (t: TestApp): unknown => t.records().find((r) => r.msg === 'gRPC server drained')?.how;

function isUnavailable(err: unknown): boolean {
  const code = (err as grpc.ServiceError).code;
  return code === grpc.status.UNAVAILABLE || code === grpc.status.CANCELLED;
}

describeGrpc('graceful drain', (impl) => {
  it('a Check waiting for the (slow) first JWKS completes OK during shutdown; health stays NOT_SERVING', async () => {
    const { idp, t } = await setup(impl, 1000);
    const v3 = authV3Client(t.grpcPort);
    const h = healthClient(t.grpcPort);
    try {
      const watch = healthWatch(h, '');
      await watch.waitFor('NOT_SERVING', 2000); // keys not loaded yet
      const token = await idp.sign();
      const inflight = check(v3, checkRequest({ token }), 8000);
      await sleep(200); // the Check now waits on the slow initial JWKS response
      assert.equal(idp.jwksFetches, 1);

      let shutdownDone = false;
      const t0 = Date.now();
      const shutdown = t.stop().then(() => (shutdownDone = true));
      assert.equal(t.app.ready, false, 'not ready as soon as shutdown starts');
      assert.equal((await adminGet(t.adminPort, '/readyz')).status, 503, '/readyz 503 while draining');
      assert.equal(await readMetric(t.adminPort, 'zt_authz_ready'), 0);

      const res = await inflight;
      assert.equal(res.status?.code, 0, `in-flight Check must complete with OK (got ${res.status?.message})`);
      assert.equal(res.httpResponse, 'okResponse');
      assert.ok(Date.now() - t0 >= 300, 'the Check really was in flight during the drain');
      assert.equal(shutdownDone, false, 'shutdown waited for the in-flight Check (the Watch is still open)');
      // Keys arrived during the drain: health must not flip back to SERVING.
      await sleep(100);
      assert.deepEqual(watch.statuses, ['NOT_SERVING'], `watch sequence ${watch.statuses.join(' → ')}`);
      assert.equal(t.app.ready, false);
      watch.cancel(); // an open Watch stream is an in-flight call too: end it so the drain can finish

      await shutdown;
      assert.equal(drainedHow(t), 'drained', 'drained gracefully, not forced');
      assert.ok(Date.now() - t0 < DRAIN_SECONDS * 1000, `shutdown took ${Date.now() - t0} ms`);
    } finally {
      closeAll(v3, h);
      await t.stop();
      await idp.close();
    }
  });

  it('SERVING → NOT_SERVING on the Watch before shutdown completes; an in-flight Check (slow unknown-kid refetch) completes OK', async () => {
    const { idp, t } = await setup(impl, 0, { jwksCooldownSeconds: 1 });
    const v3 = authV3Client(t.grpcPort);
    const h = healthClient(t.grpcPort);
    try {
      await waitUntil(() => t.app.ready, 3000, 'ready');
      const watch = healthWatch(h, '');
      await watch.waitFor('SERVING', 2000);
      assert.equal((await healthCheck(h, '')).status, 'SERVING');
      await idp.addKey('rs2');
      idp.jwksDelayMs = 1000;
      idp.delayFirstOnly = false;
      await sleep(1100); // past the on-demand cooldown
      const inflight = check(v3, checkRequest({ token: await idp.sign({}, { key: 'rs2' }) }), 8000);
      await sleep(200);
      assert.equal(idp.jwksFetches, 2, 'unknown kid → refetch in flight');

      let shutdownDone = false;
      const t0 = Date.now();
      const shutdown = t.stop().then(() => (shutdownDone = true));
      await watch.waitFor('NOT_SERVING', 1000);
      assert.equal(shutdownDone, false, 'NOT_SERVING delivered before shutdown completed');
      assert.deepEqual(watch.statuses, ['SERVING', 'NOT_SERVING']);

      const res = await inflight;
      assert.equal(res.status?.code, 0, `in-flight Check must complete with OK (got ${res.status?.message})`);
      assert.equal(shutdownDone, false);
      watch.cancel();
      await shutdown;
      assert.equal(drainedHow(t), 'drained');
      assert.ok(Date.now() - t0 < DRAIN_SECONDS * 1000, `shutdown took ${Date.now() - t0} ms`);
    } finally {
      closeAll(v3, h);
      await t.stop();
      await idp.close();
    }
  });

  it('after shutdown: calls on the old channel and new connections fail; admin is closed', async () => {
    const { idp, t } = await setup(impl, 0);
    const v3 = authV3Client(t.grpcPort);
    const h = healthClient(t.grpcPort);
    let fresh: ReturnType<typeof authV3Client> | undefined;
    try {
      await waitUntil(() => t.app.ready, 3000, 'ready');
      const token = await idp.sign();
      assert.equal((await check(v3, checkRequest({ token }))).status?.code, 0);
      assert.equal((await healthCheck(h, '')).status, 'SERVING');
      const t0 = Date.now();
      await t.stop();
      assert.ok(Date.now() - t0 < DRAIN_SECONDS * 1000, 'idle drain is quick');
      assert.equal(drainedHow(t), 'drained');

      await assert.rejects(check(v3, checkRequest({ token }), 2000), (err) => isUnavailable(err), 'old channel');
      fresh = authV3Client(t.grpcPort);
      await assert.rejects(check(fresh, checkRequest({ token }), 2000), (err) => isUnavailable(err), 'new connection');
      await assert.rejects(healthCheck(h, '', 2000), (err) => isUnavailable(err), 'health on the old channel');
      await assert.rejects(adminGet(t.adminPort, '/readyz'), 'admin listener closed');
    } finally {
      closeAll(v3, h, ...(fresh ? [fresh] : []));
      await t.stop();
      await idp.close();
    }
  });

  it('an open health Watch gets NOT_SERVING, then its stream ends so it does not hold the drain', async () => {
    // A connected watcher (e.g. gRPC client-side health checking) must not make every shutdown
    // wait for the full drainSeconds.
    const { idp, t } = await setup(impl, 0);
    const h = healthClient(t.grpcPort);
    try {
      await waitUntil(() => t.app.ready, 3000, 'ready');
      const watch = healthWatch(h, '');
      await watch.waitFor('SERVING', 2000);
      const t0 = Date.now();
      const shutdown = t.stop();
      await watch.waitFor('NOT_SERVING', 2000);
      assert.ok(Date.now() - t0 < 1000, 'NOT_SERVING is pushed to watchers immediately');
      await shutdown;
      const took = Date.now() - t0;
      assert.equal(drainedHow(t), 'drained');
      assert.ok(took < 1000, `shutdown took ${took} ms (drain deadline ${DRAIN_SECONDS} s)`);
    } finally {
      h.close();
      await t.stop();
      await idp.close();
    }
  });
});
