// The bench's printed report: one table row per load run, the targets with met/missed, and under
// --profile where each profiled process spent its busy time (bench/prof-top.ts).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Harness } from './harness.js';
import type { LoadResult } from './measure.js';
import type { CachedResult } from './scenario-cached.js';
import type { FeatureKey, FeatureResult } from './scenario-features.js';
import { BENCH_DIST } from './util.js';

function fmtLoad(label: string, r: LoadResult | undefined, ratio?: number): string {
  if (!r) return '';
  const l = r.latencyMs;
  return [
    label.padEnd(36),
    String(r.rps).padStart(8),
    l.p50.toFixed(2).padStart(7),
    l.p90.toFixed(2).padStart(7),
    l.p99.toFixed(2).padStart(7),
    (ratio === undefined ? '' : ratio.toFixed(2)).padStart(6),
    r.cpuCores.toFixed(2).padStart(5),
    r.cpuUsPerRequest.toFixed(0).padStart(6),
    r.loadgenCores.toFixed(2).padStart(5),
    r.otherCores.toFixed(2).padStart(5),
    r.rssMb.toFixed(0).padStart(5),
    (r.verified ? 'yes' : 'NO').padStart(4),
    ` ${r.tool}`,
  ].join(' ');
}

function tableLines(h: Harness): string[] {
  const lines: string[] = [];
  lines.push(
    `${'run'.padEnd(36)} ${'req/s'.padStart(8)} ${'p50ms'.padStart(7)} ${'p90ms'.padStart(7)} ${'p99ms'.padStart(7)} ${'ratio'.padStart(6)} ${'CPU'.padStart(5)} ${'µs/req'.padStart(6)} ${'gen'.padStart(5)} ${'other'.padStart(5)} ${'RSSMB'.padStart(5)} ${'ok?'.padStart(4)} tool`,
  );
  const r1 = h.results['1'] as
    | { floor: LoadResult; h2Floor: LoadResult; service?: CachedResult; serviceNoAllowAudit?: CachedResult; serviceWorkers?: CachedResult }
    | undefined;
  if (r1) {
    lines.push(fmtLoad('1 floor (empty grpc-js handler)', r1.floor, 1));
    lines.push(fmtLoad('1 floor (raw node:http2)', r1.h2Floor, r1.h2Floor.rps / r1.floor.rps));
    if (r1.service) lines.push(fmtLoad('1 zt-authz cached, 1 process', r1.service, r1.service.ratioToFloor));
    if (r1.serviceNoAllowAudit)
      lines.push(fmtLoad('1 same, no allow audit records', r1.serviceNoAllowAudit, r1.serviceNoAllowAudit.ratioToFloor));
    if (r1.serviceWorkers)
      lines.push(fmtLoad(`1 zt-authz cached, ${r1.serviceWorkers.workers} workers`, r1.serviceWorkers, r1.serviceWorkers.ratioToFloor));
  }
  type S2 = {
    service: LoadResult;
    ratioToRawCeiling: number;
    rawCryptoAsyncOpsPerSec: number;
    joseOpsPerSec: number;
    ratioToFloor: number;
  };
  const r2 = h.results['2'] as
    { RS256?: S2; ES256?: S2; floor?: LoadResult; RS256cached?: { unique: LoadResult; cached: LoadResult; ratio: number } } | undefined;
  if (r2) {
    lines.push(fmtLoad('2 floor (h2gen)', r2.floor, 1));
    for (const alg of ['RS256', 'ES256'] as const) {
      const x = r2[alg];
      if (!x) continue;
      lines.push(fmtLoad(`2 zt-authz ${alg} unique tokens`, x.service, x.ratioToFloor));
      lines.push(
        `${`  ${alg} ceilings: raw async ${x.rawCryptoAsyncOpsPerSec}/s, jose ${x.joseOpsPerSec}/s`.padEnd(60)} service/raw = ${x.ratioToRawCeiling.toFixed(3)}`,
      );
    }
    if (r2.RS256cached) {
      lines.push(fmtLoad('2 RS256 unique, 1 process', r2.RS256cached.unique, r2.RS256cached.ratio));
      lines.push(fmtLoad('2 RS256 one cached token, 1 process', r2.RS256cached.cached, 1));
    }
  }
  const r3 = h.results['3'] as
    | {
        service: LoadResult;
        floor: LoadResult;
        h2Floor: LoadResult;
        serviceFixed: LoadResult;
        h2FloorFixed: LoadResult;
        rate: number;
        fixedRate: number;
      }
    | undefined;
  if (r3) {
    lines.push(fmtLoad(`3 node:http2 floor @ ${r3.fixedRate}/s`, r3.h2FloorFixed));
    lines.push(fmtLoad(`3 zt-authz @ ${r3.fixedRate}/s`, r3.serviceFixed));
    lines.push(fmtLoad(`3 grpc-js floor @ ${r3.rate}/s`, r3.floor));
    lines.push(fmtLoad(`3 node:http2 floor @ ${r3.rate}/s`, r3.h2Floor));
    lines.push(fmtLoad(`3 zt-authz @ ${r3.rate}/s`, r3.service));
  }
  const r4 = h.results['4'] as
    | (Record<string, { fixedRate: LoadResult; max: LoadResult }> & { decide?: Record<string, { p50Us: number; p99Us: number }> })
    | undefined;
  if (r4) {
    for (const n of ['10', '10000']) {
      const x = r4[n];
      if (!x) continue;
      lines.push(fmtLoad(`4 ${n} policies @ ${h.O.s4Rate}/s`, x.fixedRate));
      lines.push(fmtLoad(`4 ${n} policies max`, x.max));
    }
    if (r4.decide)
      lines.push(
        `  decide() p50/p99 µs: ${Object.entries(r4.decide)
          .map(([n, d]) => `${n} policies ${d.p50Us}/${d.p99Us}`)
          .join('; ')}`,
      );
  }
  const r5 = h.results['5'] as
    | {
        rssMb: number;
        peakRssMb: number;
        heapUsedMb: number;
        tokens: number;
        readyMs: number;
        rssBeforeFillMb: number;
        fillSeconds: number;
        demo: { medianMs: number };
      }
    | undefined;
  if (r5)
    lines.push(
      `5 memory: ${r5.tokens} cached tokens + 10,000 policies: RSS ${r5.rssMb} MB (before the fill ${r5.rssBeforeFillMb} MB, peak ${r5.peakRssMb} MB, heap ${r5.heapUsedMb} MB); fill ${r5.fillSeconds} s; ready ${r5.readyMs} ms; demo ready ${r5.demo.medianMs} ms`,
    );
  lines.push(...featureLines(h));
  lines.push('');
  lines.push(
    'ratio: req/s / grpc-js floor (2: / the h2gen floor; RS256 1 process: unique / cached; 6: / the plain variant). CPU: server cores (all processes).',
  );
  lines.push('µs/req: server CPU per request. gen: load generator cores. other: cores used by other processes meanwhile.');
  lines.push("ok?: the server's counters prove every measured request was an allow (2: and a cache miss, or a hit for the cached run).");
  return lines;
}

/** Scenario 6: one row per variant (means over the rounds), then the CPU ratios and what each variant proved. */
function featureLines(h: Harness): string[] {
  const r6 = h.results['6'] as (Partial<Record<FeatureKey, FeatureResult>> & { rounds: number; mintMissCostUs: number }) | undefined;
  if (!r6) return [];
  const lines: string[] = [];
  const keys: FeatureKey[] = ['plain', 'trace001', 'trace1', 'mintHit', 'mintMiss'];
  for (const k of keys) {
    const x = r6[k];
    if (!x) continue;
    const last = x.runs.at(-1)!;
    // The row's figures are the means over the rounds; the columns the means do not cover come from the last round.
    lines.push(
      fmtLoad(
        `6 ${x.label}`.slice(0, 36),
        {
          ...last,
          rps: x.rps,
          cpuUsPerRequest: x.cpuUsPerRequest,
          verified: x.verified,
          latencyMs: { ...last.latencyMs, p50: x.p50Ms, p90: x.p90Ms, p99: x.p99Ms },
        },
        x.rpsRatio,
      ),
    );
  }
  const cpu = keys.flatMap((k) => (r6[k] && k !== 'plain' ? [`${k} ${r6[k].cpuRatio.toFixed(2)}x`] : []));
  lines.push(`  6 CPU per request / plain (${r6.rounds} round(s), means): ${cpu.join(', ')}; a mint on a miss +${r6.mintMissCostUs} µs`);
  for (const k of ['trace001', 'trace1'] as const) {
    const s = r6[k]?.spans;
    if (s) lines.push(`  6 ${k}: ${s.received} spans received in ${s.posts} OTLP posts for ${s.allows} allows (${s.perAllow} per allow)`);
  }
  for (const k of ['mintHit', 'mintMiss'] as const) {
    const m = r6[k]?.minted;
    if (m)
      lines.push(
        `  6 ${k}: ${m.verifiedWithJwks}/${m.samples} sampled allows carried a minted token in ${m.header} verified with the JWKS (${m.distinctTokens} distinct; iss ${m.iss}, aud ${m.aud})`,
      );
  }
  return lines;
}

function targetLines(h: Harness): string[] {
  const lines = ['targets:'];
  for (const t of h.targets) lines.push(`  [${t.met ? 'met   ' : 'MISSED'}] scenario ${t.scenario}: ${t.target}: ${t.achieved}`);
  const missed = h.targets.filter((t) => !t.met);
  lines.push(`  ${h.targets.length - missed.length} of ${h.targets.length} met`);
  const hints = [...new Set(missed.flatMap((t) => (t.profileHint ? [t.profileHint] : [])))];
  if (hints.length > 0 && !h.O.profile) {
    lines.push('  where the time goes for a miss: run with --profile, it prints the top functions of each profiled process:');
    for (const x of hints) lines.push(`    ${x}`);
  }
  return lines;
}

export function printReport(h: Harness): void {
  console.log(`\n${[...tableLines(h), '', ...targetLines(h)].join('\n')}\n`);
}

/**
 * Under --profile: the top functions (self and inclusive time, % of busy time, over the busiest
 * window as long as one measured run) of every profile this run wrote, floors included, so a
 * missed ratio can be read against the floor's own profile.
 */
export function printProfiles(h: Harness, top = 15): void {
  for (const file of h.profiles) {
    if (!existsSync(file)) {
      console.log(`\n## ${relative(process.cwd(), file)}: not written (the process did not exit cleanly)`);
      continue;
    }
    const out = execFileSync(process.execPath, [join(BENCH_DIST, 'prof-top.js'), file, String(top), '--busiest', String(h.O.durationS)], {
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    console.log(
      `\n## ${relative(process.cwd(), file)} (node dist/bench/prof-top.js FILE ${top} --busiest ${h.O.durationS})${out.trimEnd()}`,
    );
  }
}
