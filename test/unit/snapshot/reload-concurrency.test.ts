// No decision is ever served from a half-built snapshot: reloads run back to back while
// concurrent requests (with JWTs, so each one spans an await) are decided. Every decision must
// come from exactly the snapshot that was current when its request started: its ALLOW and DENY
// policies carry that snapshot's generation, never a mix, never an empty policy set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp } from '../../helpers/app.js';
import { checkRequest } from '../../helpers/grpc-client.js';
import { TestIdp } from '../../helpers/idp.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { Config } from '../../../src/config/types.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';

const FILLER = 200; // unrelated policies, so each build takes real work
const CONFIGS = 40; // distinct policy sets, reloaded round-robin

function generation(base: Record<string, unknown>, g: number): Config {
  const policies = [
    { name: `g${g}-deny`, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/deny'] } }] }] },
    {
      name: `g${g}-allow`,
      rules: [{ from: [{ source: { requestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/ok', '/deny'] } }] }],
    },
    ...Array.from({ length: FILLER }, (_, i) => ({
      name: `g${g}-f${i}`,
      namespace: `ns${i}`,
      rules: [{ to: [{ operation: { paths: [`/f${i}/{**}`] } }] }],
    })),
  ];
  return resolveConfig({ ...base, policies }, `gen ${g}`);
}

test('concurrent reload + load: every decision comes from one whole snapshot', { timeout: 30000 }, async () => {
  const idp = await TestIdp.start({ audience: 'orders' });
  const base = { issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }], tokenCache: { maxEntries: 0 } };
  const t = await startTestApp({ ...base, policies: generation(base, 0).policies });
  try {
    const token = await idp.sign();
    const snapToGen = new Map<number, number>([[t.app.currentSnapshot.generation, 0]]);
    let stop = false;
    let reloads = 0;
    const configs = Array.from({ length: CONFIGS }, (_, g) => generation({ ...base, server: t.config.server, log: t.config.log }, g));
    const reloader = (async () => {
      for (let n = 1; !stop; n++) {
        const g = n % CONFIGS;
        assert.equal(t.app.reload(configs[g]), true);
        snapToGen.set(t.app.currentSnapshot.generation, g);
        reloads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const bad: string[] = [];
    let decisions = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 100; i++) {
        const path = i % 2 ? '/ok' : '/deny';
        const startGen = snapToGen.get(t.app.currentSnapshot.generation);
        const req = checkRequest({ path, token });
        const { decision: d } = await t.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits));
        decisions++;
        const want = path === '/ok' ? `g${startGen}-allow` : `g${startGen}-deny`;
        if (d.verdict.policy !== want || d.verdict.allow !== (path === '/ok'))
          bad.push(`worker ${w} #${i} ${path}: ${d.verdict.reason} ${d.verdict.policy ?? ''} (snapshot of g${startGen})`);
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, w) => worker(w)));
    stop = true;
    await reloader;
    console.log(`# ${decisions} decisions across ${reloads} reloads (${FILLER + 2} policies each)`);
    assert.deepEqual(bad.slice(0, 5), []);
    assert.ok(reloads >= 20, `reloads happened during the load (${reloads})`);
    assert.equal(t.app.currentSnapshot.policies.size, FILLER + 2);
  } finally {
    await t.stop();
    await idp.close();
  }
});
