// The start-up readiness watch with every issuer's keys loaded but the service still not ready
// (tokenIssuer.keysSecret whose Secret holds no usable key yet): it used to re-enter itself on
// already-settled waits, a busy loop that starved the event loop (no health answers, no Secret
// watch to deliver the key). It must keep the loop turning, and report ready once the key comes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import { Readiness } from '../../../src/observe/readiness.js';
import type { Snapshot } from '../../../src/decision/snapshot.js';
import type { IssuerKeys } from '../../../src/authn/key-resolvers.js';
import type { HealthState } from '../../../src/transport/grpc/health.js';
import type { Metrics } from '../../../src/observe/metrics.js';
import { sleep } from '../../helpers/app.js';

test('readiness watch: issuer keys loaded, signing key missing: the event loop keeps turning; ready is logged once the key loads', async () => {
  let signingKey = false;
  const lines: string[] = [];
  // pino's call forms: (msg) or (object, msg).
  const text = (o: unknown, m?: string): string => m ?? String(o);
  const logger = {
    info: (o: unknown, m?: string) => void lines.push(`info ${text(o, m)}`),
    warn: (o: unknown, m?: string) => void lines.push(`warn ${text(o, m)}`),
  };
  const r = new Readiness(
    {
      snapshot: () => ({ authenticator: { keysReady: true } }) as unknown as Snapshot,
      kubernetes: () => undefined,
      keys: () => [['static', { ready: true } as unknown as IssuerKeys]],
      keysRunning: () => true,
      signingKeys: () => signingKey,
    },
    { update() {} } as unknown as HealthState,
    { ready: { set() {} } } as unknown as Metrics,
    logger as unknown as Logger,
  );
  r.watch(10);
  const t0 = Date.now();
  await sleep(50); // a busy loop never lets this timer fire
  assert.ok(Date.now() - t0 < 1000, 'the event loop was not starved');
  assert.equal(r.ready, false);
  assert.deepEqual(lines, ['warn not ready: issuer or signing keys not loaded yet; still retrying in the background']);
  signingKey = true;
  const end = Date.now() + 3000;
  while (!lines.some((l) => l.startsWith('info ready')) && Date.now() < end) await sleep(50);
  assert.ok(lines.includes('info ready: issuer keys and policies loaded'), lines.join(' | '));
});
