// Scenario 2: unique tokens, every request a full verification (RS256 and ES256), replayed by
// h2gen (h2load sends a single body), against the raw node:crypto async and jose ceilings; and,
// for RS256 in one process, the same service with one cached token under the same generator, so
// "unique >= half of cached" is a ratio from one run and one generator.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { BENCH_AUDIENCE, BENCH_ISSUER } from './config.js';
import type { Harness } from './harness.js';
import { childJson, expectAllow, expectOk, loadWithGen, type LoadResult } from './measure.js';
import type { RunningProcess } from './server.js';
import { mint, mintParallel } from './tokens.js';
import { log, round } from './util.js';

/** Unique RS256 tokens against the cached token, one process, same generator. */
export const UNIQUE_TARGET = { minRatioToCached: 0.5 } as const;

export async function scenario2(h: Harness): Promise<void> {
  const { O } = h;
  const s2: Record<string, unknown> = {
    description: `unique tokens (no cache hits): ${O.uniqueTokens} distinct tokens replayed round-robin by h2gen, token cache of a third of that per process (LRU: every request misses, checked with zt_authz_token_cache_hits_total = 0)`,
  };
  const fl = await h.floor('grpc-js', 's2 grpc-js floor');
  let floorGen: LoadResult | undefined;
  for (const alg of ['RS256', 'ES256'] as const) {
    log(`scenario 2 ${alg}: minting ${O.uniqueTokens} tokens`);
    const tokens = await mintParallel(h.keys[alg], h.tokenBase, O.uniqueTokens, Math.max(1, cpus().length), `u-${alg.toLowerCase()}`);
    const tokensFile = join(h.work, `s2-${alg}.tokens`);
    writeFileSync(tokensFile, tokens.join('\n'));
    const jwkFile = join(h.work, `s2-${alg}.jwk.json`);
    writeFileSync(jwkFile, JSON.stringify(h.keys[alg].publicJwk));

    if (!floorGen) {
      log('scenario 2: floor with h2gen (same generator, same frames)');
      await expectOk(fl, tokens[0]!);
      floorGen = await loadWithGen(O, fl, tokensFile);
      log(`  floor (h2gen) ${floorGen.rps} req/s`);
    }
    // Verification-bound: runs as the multi-process deployment when enabled (profiles need 1 process).
    // Each process has its own cache and sees about 1/workers of the tokens between two uses of
    // one token, so the cache is sized per process to keep every request a miss.
    const workers = O.profile ? 1 : O.workers;
    const svc = await uniqueService(h, alg, workers);
    log(`scenario 2 ${alg}: service with h2gen`);
    const svcGen = await loadWithGen(O, svc, tokensFile);
    log(`  service ${svcGen.rps} req/s, misses ${svcGen.counters?.cacheMisses}, hits ${svcGen.counters?.cacheHits}`);
    if (alg === 'RS256') s2.RS256cached = await uniqueVersusCached(h, workers === 1 ? { svc, unique: svcGen } : undefined, tokensFile);
    await h.stop(svc);
    log(`scenario 2 ${alg}: raw node:crypto async verify and jose ceilings (64 in flight, own process)`);
    const ceil = childJson<{ rawOpsPerSec: number; joseOpsPerSec: number; inflight: number }>('ceiling.js', [
      '--tokens',
      tokensFile,
      '--jwk',
      jwkFile,
      '--seconds',
      String(Math.min(3, O.durationS)),
      '--issuer',
      BENCH_ISSUER,
      '--audience',
      BENCH_AUDIENCE,
    ]);
    const ratio = round(svcGen.rps / ceil.rawOpsPerSec, 3);
    log(`  raw ${round(ceil.rawOpsPerSec, 0)}/s, jose ${round(ceil.joseOpsPerSec, 0)}/s; service = ${round(ratio * 100, 1)} % of raw`);
    s2[alg] = {
      service: { ...svcGen, workers },
      rawCryptoAsyncOpsPerSec: round(ceil.rawOpsPerSec, 0),
      joseOpsPerSec: round(ceil.joseOpsPerSec, 0),
      ceilingInflight: ceil.inflight,
      ratioToRawCeiling: ratio,
      ratioToJose: round(svcGen.rps / ceil.joseOpsPerSec, 3),
      ratioToFloor: round(svcGen.rps / floorGen.rps, 3),
    };
    if (alg === 'RS256') {
      h.targets.push({
        scenario: '2',
        target: `RS256 unique tokens >= 50 % of raw node:crypto async ceiling (${workers === 1 ? '1 process' : `--workers ${workers}`})`,
        achieved: `${round(ratio * 100, 1)} % (${svcGen.rps} vs ${round(ceil.rawOpsPerSec, 0)} verifies/s; jose alone ${round(ceil.joseOpsPerSec, 0)}/s)`,
        met: ratio >= 0.5 && svcGen.verified,
        profileHint: 'npm run bench -- --scenario 2 --profile',
      });
    }
  }
  s2.floor = floorGen;
  await h.stop(fl);
  h.results['2'] = s2;
}

async function uniqueService(h: Harness, alg: 'RS256' | 'ES256', workers: number): Promise<RunningProcess> {
  const cacheEntries = Math.max(1, Math.floor(h.O.uniqueTokens / 3 / workers));
  const svc = await h.service(
    `zt-authz (${alg}, no cache hits${workers > 1 ? `, --workers ${workers}` : ''})`,
    join(h.work, `s2-${alg}-${workers}.json`),
    h.config(20, { tokenCacheEntries: cacheEntries }),
    { profile: h.O.profile, workers },
  );
  await expectAllow(svc, mint(h.keys[alg], { ...h.tokenBase, subject: 'probe' }), 'probe');
  return svc;
}

/**
 * RS256 in one process: unique tokens (reusing the run just made when it was one process) and
 * then one cached token on the same process, both through h2gen.
 */
async function uniqueVersusCached(
  h: Harness,
  onProcess: { svc: RunningProcess; unique: LoadResult } | undefined,
  tokensFile: string,
): Promise<Record<string, unknown>> {
  const { O } = h;
  let svc = onProcess?.svc;
  let unique = onProcess?.unique;
  if (!svc || !unique) {
    svc = await uniqueService(h, 'RS256', 1);
    log('scenario 2 RS256: unique tokens, 1 process');
    unique = await loadWithGen(O, svc, tokensFile);
  }
  const cachedFile = join(h.work, 's2-cached.tokens');
  writeFileSync(cachedFile, mint(h.keys.RS256, { ...h.tokenBase, subject: 'cached' }));
  log('scenario 2 RS256: one cached token, same process, same generator');
  // The first requests in flight all miss together (each verifies the token before any caches it).
  const cached = await loadWithGen(O, svc, cachedFile, { expect: 'hit', maxMisses: O.conns * O.streams });
  if (svc !== onProcess?.svc) await h.stop(svc);
  const ratio = round(unique.rps / cached.rps, 3);
  log(`  unique ${unique.rps} req/s vs cached ${cached.rps} req/s = ${ratio}x`);
  h.targets.push({
    scenario: '2',
    target: `unique RS256 tokens, 1 process: throughput >= ${UNIQUE_TARGET.minRatioToCached}x the cached token's (same run, h2gen)`,
    achieved: `${ratio}x (${unique.rps} vs ${cached.rps} req/s; CPU per request ${unique.cpuUsPerRequest} vs ${cached.cpuUsPerRequest} µs)`,
    met: ratio >= UNIQUE_TARGET.minRatioToCached && unique.verified && cached.verified,
    profileHint: 'npm run bench -- --scenario 2 --profile',
  });
  return { unique, cached, ratio };
}
