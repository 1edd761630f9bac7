// Keycloak signing-key rotation under continuous load, done the way Keycloak's documentation
// describes it, through the admin REST API: add a new RSA key as passive (published in the JWKS,
// not signing), make it active (its higher priority makes it the signer), make the old key passive,
// then delete it. A client fetches a fresh client-credentials token from Keycloak every 250 ms and
// presents its latest token in a gRPC Check every 20 ms to two `zt-authz serve` instances:
//   A with the production JWKS timings (refresh every 300 s: new keys are found by the on-demand
//     refetch an unknown kid triggers),
//   B with a 2 s refresh (so it also learns of the removal quickly).
// With that overlap not one Check may fail, and once the old key is gone, B denies a token still
// signed with it (fail closed: the key left the set).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../helpers/grpc-client.js';
import { sleep, waitUntil } from '../helpers/app.js';
import { tempDir, type Proc } from '../e2e/helpers/procs.js';
import { ORDERS_AUDIENCE, kidOf, startZtAuthz, type Keycloak } from './helpers/keycloak.js';

const KEY_PROVIDER = 'org.keycloak.keys.KeyProvider';

interface Outcome {
  target: 'A' | 'B';
  /** ms since the load started. */
  sent: number;
  latency: number;
  kid: string;
  reason: string;
}

interface Component {
  id: string;
  name: string;
  providerId: string;
  providerType: string;
  parentId: string;
  config: Record<string, string[]>;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

/** The suite, on the Keycloak `kc` (test/integration/keycloak.test.ts starts it), skipped with `skip`. */
export function rotationSuite(kc: Keycloak, skip: string | false): void {
  describe(
    'Keycloak key rotation (passive → active → old passive → old deleted) under continuous Checks',
    { skip, timeout: 240_000 },
    () => {
      let tmp: ReturnType<typeof tempDir>;
      const zts: Proc[] = [];
      let a: AuthClient;
      let b: AuthClient;

      const config = (refresh: string) => (p: { grpc: number; admin: number; http: number }) =>
        `server: { grpc: "127.0.0.1:${p.grpc}", http: "127.0.0.1:${p.http}", admin: "127.0.0.1:${p.admin}", drainSeconds: 1 }
issuers:
  - issuer: "${kc.issuer}"
    discovery: true
    audiences: ["${ORDERS_AUDIENCE}"]
${refresh}
authorization:
  rolesClaim: realm_access.roles
policies:
  - name: orders-admin
    rules:
      - from: [{ source: { requestPrincipals: ["${kc.issuer}/*"] } }]
        when: [{ key: "request.auth.roles", values: ["orders-admin"] }]
`;

      before(async () => {
        tmp = tempDir('zt-kc-rotation-');
        // A: production timings (jwksRefreshSeconds 300, jwksCooldownSeconds 30). B: refresh every 2 s.
        const za = await startZtAuthz(tmp.dir, config(''));
        zts.push(za.proc);
        const zb = await startZtAuthz(tmp.dir, config('    jwksRefreshSeconds: 2\n    jwksCooldownSeconds: 1'));
        zts.push(zb.proc);
        a = authV3Client(za.grpc);
        b = authV3Client(zb.grpc);
      });

      after(async () => {
        if (a) closeAll(a);
        if (b) closeAll(b);
        await Promise.all(zts.map((z) => z.stop()));
        tmp?.remove();
      });

      const reasonOf = async (client: AuthClient, token: string): Promise<string> => {
        try {
          const r = await check(client, checkRequest({ method: 'GET', path: '/orders/1', host: 'orders.example.test', token }), 10_000);
          return r.status?.code === 0 ? 'allowed' : (r.status?.message ?? '?');
        } catch (err) {
          return `rpc error: ${(err as Error).message}`;
        }
      };

      async function newToken(): Promise<string> {
        const r = await kc.clientToken('orders-admin-svc');
        if (r.status !== 200 || !r.access_token) throw new Error(`Keycloak token: HTTP ${r.status} ${r.error ?? ''}`);
        return r.access_token;
      }

      it('0 failed Checks across the rotation; afterwards a token of the deleted key is denied', async () => {
        const realmId = (await kc.admin<{ id: string }>('GET', '')).id;
        const oldKey = (await kc.keys()).find((k) => k.algorithm === 'RS256' && k.status === 'ACTIVE');
        assert.ok(oldKey, 'the realm starts with one active RS256 key');
        const oldToken = await newToken();
        assert.equal(kidOf(oldToken), oldKey.kid);
        assert.equal(await reasonOf(a, oldToken), 'allowed');
        assert.equal(await reasonOf(b, oldToken), 'allowed');

        // The client: a fresh token every 250 ms, its latest token in every Check (to A and B alternately).
        let current = oldToken;
        let tokenErrors = 0;
        let stop = false;
        const t0 = Date.now();
        const out: Outcome[] = [];
        const inflight = new Set<Promise<void>>();
        const refresher = (async () => {
          while (!stop) {
            await sleep(250);
            try {
              current = await newToken();
            } catch {
              tokenErrors++;
            }
          }
        })();
        let n = 0;
        const timer = setInterval(() => {
          const token = current;
          const target = n++ % 2 === 0 ? 'A' : 'B';
          const sent = Date.now();
          const p = reasonOf(target === 'A' ? a : b, token).then(
            (reason) => void out.push({ target, sent: sent - t0, latency: Date.now() - sent, kid: kidOf(token), reason }),
          );
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        }, 20);
        const marks: Record<string, number> = {};
        const mark = (what: string) => (marks[what] = Date.now() - t0);

        try {
          await sleep(2000);
          // 1. A new key, passive: published in the realm's JWKS, not used to sign yet.
          await kc.admin('POST', '/components', {
            name: 'rsa-next',
            providerId: 'rsa-generated',
            providerType: KEY_PROVIDER,
            parentId: realmId,
            config: { priority: ['200'], enabled: ['true'], active: ['false'], algorithm: ['RS256'], keySize: ['2048'] },
          });
          mark('added passive');
          const newKey = (await kc.keys()).find((k) => k.algorithm === 'RS256' && k.kid !== oldKey.kid);
          assert.ok(newKey, 'the new key is listed');
          assert.equal(newKey.status, 'PASSIVE');
          assert.ok((await kc.jwksKids()).includes(newKey.kid), 'a passive key is published');
          await sleep(3000);

          // 2. Make it active: with priority 200 over the old key's 100, it signs from now on.
          const comp = await kc.admin<Component>('GET', `/components/${newKey.providerId}`);
          await kc.admin('PUT', `/components/${comp.id}`, { ...comp, config: { ...comp.config, active: ['true'] } });
          mark('activated');
          await waitUntil(() => kidOf(current) === newKey.kid, 10_000, 'tokens signed with the new key');
          mark('first new-kid token');
          await sleep(3000);

          // 3. The old key passive (still published: tokens it signed stay verifiable), then deleted.
          const oldComp = await kc.admin<Component>('GET', `/components/${oldKey.providerId}`);
          await kc.admin('PUT', `/components/${oldComp.id}`, { ...oldComp, config: { ...oldComp.config, active: ['false'] } });
          mark('old passive');
          await sleep(3000);
          await kc.admin('DELETE', `/components/${oldComp.id}`);
          mark('old deleted');
          assert.ok(!(await kc.jwksKids()).includes(oldKey.kid), 'the old key is no longer published');
          await sleep(4000);
        } finally {
          stop = true;
          clearInterval(timer);
          await refresher;
          await Promise.all([...inflight]);
        }

        const failed = out.filter((o) => o.reason !== 'allowed');
        const kids = new Set(out.filter((o) => o.reason === 'allowed').map((o) => o.kid));
        const lat = out.map((o) => o.latency);
        const by = (t: 'A' | 'B') => out.filter((o) => o.target === t).length;
        console.log(
          `# rotation: ${out.length} Checks (A ${by('A')}, B ${by('B')}), ${failed.length} failed; ${tokenErrors} token fetch errors; ` +
            `latency p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms; marks ${JSON.stringify(marks)}`,
        );
        assert.deepEqual(
          failed.slice(0, 20).map((f) => `${f.target}@${f.sent}ms ${f.kid.slice(0, 8)}: ${f.reason}`),
          [],
          'no Check failed during the rotation',
        );
        assert.equal(tokenErrors, 0, 'Keycloak issued tokens throughout');
        assert.ok(out.length > 300, `enough Checks ran (${out.length})`);
        assert.equal(kids.size, 2, 'Checks with tokens of both keys were allowed');

        // The deleted key's token: B (2 s refresh) has dropped the key and denies it, fail closed.
        await waitUntil(async () => (await reasonOf(b, oldToken)) === 'token_unknown_key', 10_000, 'B to deny the deleted key');
        const fresh = await newToken();
        assert.equal(decodeJwt(fresh).iss, kc.issuer);
        assert.equal(await reasonOf(a, fresh), 'allowed');
        assert.equal(await reasonOf(b, fresh), 'allowed');
      });
    },
  );
}
