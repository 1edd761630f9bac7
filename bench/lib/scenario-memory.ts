// Scenario 5: memory and start-up. RSS after 100,000 distinct tokens were verified and cached
// with 10,000 policies loaded (one process); and how long `zt-authz demo` (the built-in demo
// configuration) takes from spawn to ready.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_HMAC_ISSUER } from './config.js';
import type { Harness } from './harness.js';
import { runGen } from './measure.js';
import { treeMemoryMb } from './procstat.js';
import { decisionCounts, diffCounts, freePort, metricSum, scrapeMetrics, startDemo, type RunningProcess } from './server.js';
import { mintHs256Many } from './tokens.js';
import { log, round, sleep } from './util.js';

export const MEMORY_TARGETS = { maxRssMb: 150, maxDemoReadyMs: 500 } as const;
/** Measured demo starts (after one that creates the demo signing key); the median is the figure. */
const DEMO_STARTS = 3;

export async function scenario5(h: Harness, reuse: RunningProcess | undefined): Promise<void> {
  const { O } = h;
  const n = O.cacheFill;
  const svc = reuse ?? (await h.service('zt-authz (10,000 policies)', join(h.work, 's5.json'), h.bigConfig()));
  const tokens = mintHs256Many(h.hmacSecret, { ...h.tokenBase, issuer: BENCH_HMAC_ISSUER }, n, 'mem');
  const tokensFile = join(h.work, 's5.tokens');
  writeFileSync(tokensFile, tokens.join('\n'));
  await sleep(500);
  const before5 = treeMemoryMb(svc.pid);
  log(
    `scenario 5: RSS before the fill ${before5.rssMb} MB; caching ${n} distinct HS256 tokens (requests to /admin/fill: verified and cached, then denied by the first DENY policy)`,
  );
  const before = await decisionCounts(svc.adminPort!);
  const t0 = performance.now();
  const g = await runGen(svc.grpcPort, tokensFile, [
    '--count',
    String(n),
    '--conns',
    String(O.conns),
    '--streams',
    String(O.streams),
    '--path',
    '/admin/fill',
  ]);
  const fillSeconds = (performance.now() - t0) / 1000;
  const after = await decisionCounts(svc.adminPort!);
  const counters = diffCounts(before, after);
  await sleep(2000);
  const mem = treeMemoryMb(svc.pid);
  const text = await scrapeMetrics(svc.adminPort!);
  const heapMb = round(metricSum(text, 'nodejs_heap_size_used_bytes') / 1048576, 1);
  const verified = counters.cacheMisses >= n && counters.cacheHits === 0 && counters.deny >= n && g.errors === 0;
  log(`  ${n} tokens cached in ${round(fillSeconds, 1)} s; RSS ${mem.rssMb} MB (peak ${mem.peakRssMb} MB), heap used ${heapMb} MB`);
  await h.stop(svc);
  const demo = await demoReady(h);
  h.results['5'] = {
    description: `RSS after ${n} distinct tokens were verified and cached, with 10,000 policies loaded (1 process); zt-authz demo start to ready`,
    tokens: n,
    policies: 10000,
    readyMs: round(svc.readyMs, 0),
    rssBeforeFillMb: before5.rssMb,
    rssMb: mem.rssMb,
    peakRssMb: mem.peakRssMb,
    heapUsedMb: heapMb,
    fillSeconds: round(fillSeconds, 1),
    fillRps: round(g.sent / fillSeconds, 0),
    counters,
    verified,
    demo,
  };
  h.targets.push(
    {
      scenario: '5',
      target: `RSS < ${MEMORY_TARGETS.maxRssMb} MB with ${n} cached tokens and 10,000 policies`,
      achieved: `${mem.rssMb} MB (before the fill ${before5.rssMb} MB; peak ${mem.peakRssMb} MB; heap used ${heapMb} MB)`,
      met: mem.rssMb < MEMORY_TARGETS.maxRssMb && verified,
    },
    {
      scenario: '5',
      target: `ready < ${MEMORY_TARGETS.maxDemoReadyMs} ms for the demo config (zt-authz demo, median of ${DEMO_STARTS} starts)`,
      achieved: `${demo.medianMs} ms (starts: ${demo.startsMs.join(', ')} ms; the first, which creates the demo key, ${demo.firstMs} ms)`,
      met: demo.medianMs < MEMORY_TARGETS.maxDemoReadyMs,
      profileHint: 'npm run bench -- --scenario 5 --quick --profile (profile "demo start")',
    },
  );
}

/** `zt-authz demo` started DEMO_STARTS + 1 times in a scratch directory, each until /readyz is 200. */
async function demoReady(h: Harness): Promise<{ medianMs: number; startsMs: number[]; firstMs: number }> {
  const cwd = join(h.work, 'demo');
  mkdirSync(cwd, { recursive: true });
  const once = async (nodeArgs: string[] = []): Promise<number> => {
    const p = h.adopt(
      await startDemo({ cwd, grpcPort: await freePort(), adminPort: await freePort(), httpPort: await freePort(), nodeArgs }),
    );
    await h.stop(p);
    return round(p.readyMs, 0);
  };
  log(`scenario 5: zt-authz demo, start to ready, ${DEMO_STARTS + 1} starts`);
  const firstMs = await once();
  const startsMs: number[] = [];
  for (let i = 0; i < DEMO_STARTS; i++) startsMs.push(await once());
  const medianMs = [...startsMs].sort((a, b) => a - b)[Math.floor(DEMO_STARTS / 2)]!;
  log(`  demo ready in ${medianMs} ms (median; ${startsMs.join(', ')} ms; first start ${firstMs} ms)`);
  // Under --profile one more start, profiled (not counted: the profiler slows start-up).
  if (h.O.profile) await once(h.profileArgs('demo start', true));
  return { medianMs, startsMs, firstMs };
}
