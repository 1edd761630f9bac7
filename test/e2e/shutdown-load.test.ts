// Graceful shutdown under load, on the real `zt-authz serve` process: SIGTERM while clients keep
// sending Checks. Health goes NOT_SERVING first (pushed to an open Watch), every Check that was
// accepted completes with its real answer (never CANCELLED/INTERNAL, never cut off), calls after
// the listener closes fail with UNAVAILABLE (never OK), and the process exits 0 within the drain
// deadline. Some Checks are slow on purpose (their key is behind a held JWKS refetch), so the drain
// really has work to wait for.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestIdp } from '../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, healthClient, healthWatch } from '../helpers/grpc-client.js';
import { freePort, sleep, waitUntil } from '../helpers/app.js';
import { captureChild } from '../helpers/capture.js';
import { testGrpc } from '../helpers/grpc-impls.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const DRAIN_SECONDS = 8;

testGrpc(
  'serve under load: SIGTERM → NOT_SERVING first, accepted Checks finish with their answer, then UNAVAILABLE, exit 0',
  { timeout: 60000 },
  async (impl) => {
    const idp = await TestIdp.start({ audience: 'orders' });
    const grpcPort = await freePort();
    const adminPort = await freePort();
    const cfg = join(mkdtempSync(join(tmpdir(), 'zt-shutdown-')), 'config.yaml');
    writeFileSync(
      cfg,
      `server: { grpc: "127.0.0.1:${grpcPort}", admin: "127.0.0.1:${adminPort}", http: "127.0.0.1:0", drainSeconds: ${DRAIN_SECONDS}, grpcImplementation: ${impl} }
issuers:
  - { issuer: "${idp.issuer}", jwksUri: "${idp.jwksUri}", audiences: [orders], jwksCooldownSeconds: 1, jwksTimeoutMs: 20000 }
policies:
  - { name: authn, rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }
`,
    );
    const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    captureChild('zt-authz serve (shutdown under load)', child); // log hygiene
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const clients = Array.from({ length: 6 }, () => authV3Client(grpcPort));
    const health = healthClient(grpcPort);
    try {
      const token = await idp.sign({ sub: 'alice' });
      await waitUntil(
        async () => (await check(clients[0]!, checkRequest({ token }), 1000).catch(() => null))?.status?.code === 0,
        20000,
        'serving allows',
      );
      const watch = healthWatch(health, '');
      await watch.waitFor('SERVING', 5000);

      // Continuous load: each client loops until its first failed call. Half the requests allow
      // (cached token), half are denied (no token): both must keep their real answer.
      type Outcome = { at: number; code: number | 'error'; errCode?: number; ok: boolean };
      const outcomes: Outcome[] = [];
      let stop = false;
      const loops = clients.map(async (c, i) => {
        for (let n = 0; !stop; n++) {
          const allow = (n + i) % 2 === 0;
          try {
            const r = await check(c, checkRequest(allow ? { token } : {}), 15000);
            const code = r.status?.code ?? 0;
            outcomes.push({ at: Date.now(), code, ok: allow ? code === 0 : code === 16 });
          } catch (err) {
            outcomes.push({ at: Date.now(), code: 'error', errCode: (err as grpc.ServiceError).code, ok: false });
            return;
          }
        }
      });

      // Slow ones: a new key id makes each wait for a JWKS refetch the IdP holds until after
      // SIGTERM, so they are in flight when the drain starts. The unknown-kid refetch is allowed
      // only after the 1 s cooldown since the start-up fetch (which happened before "serving
      // allows"): wait past it, or the slow Checks get token_unknown_key without any refetch.
      await sleep(1500);
      const fetchesBefore = idp.jwksFetches;
      await idp.addKey('rs2');
      idp.holdJwks();
      const slowToken = await idp.sign({ sub: 'bob' }, { key: 'rs2' });
      const slow = Array.from({ length: 4 }, (_, i) => check(clients[i % clients.length]!, checkRequest({ token: slowToken }), 20000));
      await waitUntil(() => idp.jwksFetches > fetchesBefore, 30000, 'slow Checks waiting on the held refetch');
      await sleep(300);

      const sentBefore = outcomes.length;
      const termAt = Date.now();
      child.kill('SIGTERM');
      await watch.waitFor('NOT_SERVING', 3000);
      const notServingAt = Date.now();
      await sleep(500);
      idp.releaseJwks();

      for (const r of await Promise.all(slow))
        assert.equal(r.status?.code, 0, `slow in-flight Check finished with its allow: ${JSON.stringify(r.status)}`);
      assert.equal(await exited, 0, `exit code (output: ${out.slice(-2000)})`);
      const exitedAt = Date.now();
      stop = true;
      await Promise.all(loops);

      assert.ok(sentBefore > 50, `load was running (${sentBefore} Checks before SIGTERM)`);
      assert.ok(notServingAt - termAt < 3000, 'NOT_SERVING pushed promptly');
      assert.ok(exitedAt - termAt < (DRAIN_SECONDS + 5) * 1000, `exited within the drain deadline (${exitedAt - termAt} ms)`);
      const answered = outcomes.filter((o) => o.code !== 'error');
      const wrong = answered.filter((o) => !o.ok);
      assert.deepEqual(wrong, [], 'every answered Check kept its real answer (allow → OK, no token → UNAUTHENTICATED)');
      const failures = outcomes.filter((o) => o.code === 'error');
      assert.equal(failures.length, clients.length, 'each client loop ended on exactly one failed call');
      for (const f of failures) {
        assert.equal(
          f.errCode,
          grpc.status.UNAVAILABLE,
          `calls after the listener closed fail with UNAVAILABLE, never another code (got ${f.errCode})`,
        );
        assert.ok(f.at >= termAt, 'no failure before SIGTERM');
      }
      assert.match(out, /shutting down: health NOT_SERVING/);
      assert.ok(!out.includes(token) && !out.includes(slowToken), 'tokens never logged');
      // Gone: new connections are refused.
      await assert.rejects(check(authV3Client(grpcPort), checkRequest({ token }), 1000));
    } finally {
      closeAll(health, ...clients);
      if (child.exitCode === null) child.kill('SIGKILL');
      await idp.close();
    }
  },
);
