// Scenario 4: 10 vs 10,000 policies (the allowing policy last, the others for other destinations):
// end-to-end p50 at a fixed rate and maximum throughput (h2load, one process), and
// DecisionEngine.decide() in process (bench/decide-micro.ts), also with an internal token minted on
// allow (cached and on every decision). The 10,000-policy server stays up
// for scenario 5 when it runs next.
import { join } from 'node:path';
import { writeConfig } from './config.js';
import { writeFrame } from './frames.js';
import type { Harness } from './harness.js';
import { childJson, expectAllow, loadWithH2load, type LoadResult } from './measure.js';
import { treeMemoryMb } from './procstat.js';
import type { RunningProcess } from './server.js';
import { mint } from './tokens.js';
import { log, round } from './util.js';
import type { MintMicroResult } from './mint-micro.js';

export async function scenario4(h: Harness): Promise<RunningProcess | undefined> {
  const { O } = h;
  const token = mint(h.keys.RS256, { ...h.tokenBase, subject: 'alice' });
  const frame = join(h.work, 's4.bin');
  writeFrame(frame, { token });
  const s4: Record<string, unknown> = {
    description: `10 vs 10,000 policies (the allowing policy is last; the others are for other destinations): end-to-end at a fixed ${O.s4Rate} req/s and max throughput (h2load, 1 process), and in-process decide()`,
  };
  const counts = [10, 10000];
  let keep: RunningProcess | undefined;
  for (const n of counts) {
    writeConfig(join(h.work, `config-${n}.json`), h.config(n)(0, 0)); // for decide-micro
    // The 10,000-policy server is the one scenario 5 fills next (a cache big enough, HS256 issuer).
    const big = n === 10000 && O.scenarios.has(5);
    const svc = await h.service(`zt-authz (${n} policies)`, join(h.work, `s4-${n}.json`), big ? h.bigConfig() : h.config(n));
    await expectAllow(svc, token, 'alice');
    const afterStart = treeMemoryMb(svc.pid);
    log(`scenario 4, ${n} policies: fixed ${O.s4Rate} req/s`);
    const fixed = await loadWithH2load(O, svc, frame, { rpsTotal: O.s4Rate, streams: 8 });
    log(`  p50 ${fixed.latencyMs.p50} ms p99 ${fixed.latencyMs.p99} ms`);
    log(`scenario 4, ${n} policies: max throughput`);
    const max = await loadWithH2load(O, svc, frame);
    log(`  ${max.rps} req/s`);
    s4[String(n)] = { fixedRate: fixed, max, readyMs: round(svc.readyMs, 0), rssAfterStartMb: afterStart.rssMb };
    h.targets.push({
      scenario: '4',
      target: `ready < 1 s after start (${n} policies)`,
      achieved: `${round(svc.readyMs, 0)} ms`,
      met: svc.readyMs < 1000,
    });
    if (big) keep = svc;
    else await h.stop(svc);
  }
  log('scenario 4: in-process decide() microbenchmark');
  const micro = childJson<Record<string, { p50Us: number; p99Us: number; meanUs: number; compileMs: number }>>('decide-micro.js', [
    '--config-dir',
    h.work,
    '--token',
    token,
    '--policies',
    counts.join(','),
    '--iterations',
    O.quick ? '5000' : '20000',
  ]);
  s4.decide = micro;
  const a = micro['10']!;
  const b = micro['10000']!;
  const microRatio = round(b.p50Us / a.p50Us, 2);
  const e2e = (n: number): number => (s4[String(n)] as { fixedRate: LoadResult }).fixedRate.latencyMs.p50;
  const e2eRatio = round(e2e(10000) / e2e(10), 2);
  s4.decideP50Ratio = microRatio;
  s4.endToEndP50Ratio = e2eRatio;
  log(`  decide() p50 ${a.p50Us} µs vs ${b.p50Us} µs (${microRatio}x); end-to-end p50 ${e2eRatio}x`);
  h.targets.push(
    {
      scenario: '4',
      target: 'decide() p50 within 1.2x, 10 vs 10,000 policies',
      achieved: `${a.p50Us} µs vs ${b.p50Us} µs = ${microRatio}x`,
      met: microRatio <= 1.2,
    },
    {
      scenario: '4',
      target: `end-to-end p50 within 1.2x at ${O.s4Rate} req/s`,
      achieved: `${e2e(10)} ms vs ${e2e(10000)} ms = ${e2eRatio}x`,
      met: e2eRatio <= 1.2,
    },
  );
  // The internal token (response.internalToken) on the 10-policy configuration: a cached minted
  // token against no minting, and the cost of a miss (one ES256 signature per decision).
  log('scenario 4: in-process decide() with an internal token (bench/lib/mint-micro.ts)');
  const minting = childJson<{ mint: MintMicroResult }>('decide-micro.js', [
    '--config-dir',
    h.work,
    '--token',
    token,
    '--policies',
    '10',
    '--mint',
    'ES256',
    '--iterations',
    O.quick ? '5000' : '20000',
  ]).mint;
  s4.internalToken = minting;
  log(
    `  allow ${minting.plain.p50Us} µs, with a cached minted token ${minting.hit.p50Us} µs (${minting.ratioHitP50}x), minting on every decision ${minting.miss.p50Us} µs (+${minting.missCostP50Us} µs)`,
  );
  h.targets.push(
    {
      scenario: '4',
      target: 'decide() p50 with a cached internal token within 1.15x of without',
      achieved: `${minting.plain.p50Us} µs vs ${minting.hit.p50Us} µs = ${minting.ratioHitP50}x`,
      met: minting.ratioHitP50 <= 1.15,
    },
    {
      scenario: '4',
      target: 'internal token minted on a cache miss (ES256): reported',
      achieved: `${minting.miss.p50Us} µs p50 (+${minting.missCostP50Us} µs), p99 ${minting.miss.p99Us} µs`,
      met: true,
    },
  );
  h.results['4'] = s4;
  return keep;
}
