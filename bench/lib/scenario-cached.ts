// Scenarios 1 and 3: a cached RS256 token, allowed, 20 policies.
// 1: maximum throughput (h2load) of both floors (grpc-js and raw node:http2) and of the service
//    three ways: one process, one process without allow audit records, `serve --workers N`.
// 3: latency at fixed rates (h2load --rps) on the multi-process deployment when there is one,
//    else the single process: a fixed low rate and 50 % of scenario 1's maximum.
import { join } from 'node:path';
import { writeFrame } from './frames.js';
import type { Harness } from './harness.js';
import { expectAllow, expectOk, loadWithH2load, type LoadResult } from './measure.js';
import type { RunningProcess } from './server.js';
import { mint } from './tokens.js';
import { log, round } from './util.js';

/** The cached-token ratios to the floors the service is held to (one process). */
export const CACHED_TARGETS = { minRatioToH2Floor: 0.8, maxCpuRatioToH2Floor: 1.25, minRatioToGrpcJsFloor: 1.8 } as const;
/** Latency targets: p99 at the fixed low rate, and at half of the maximum. */
export const LATENCY_TARGETS = { fixedRateP99Ms: 1, halfMaxP99Ms: 5 } as const;

export type CachedResult = LoadResult & {
  workers: number;
  ratioToFloor: number;
  ratioToH2Floor: number;
  cpuEfficiencyVsFloor: number;
  cpuRatioToH2Floor: number;
  readyMs: number;
};

export async function scenario1and3(h: Harness): Promise<void> {
  const { O } = h;
  const token = mint(h.keys.RS256, { ...h.tokenBase, subject: 'alice' });
  const frame = join(h.work, 's1.bin');
  const bytes = writeFrame(frame, { token });
  log(`scenario 1: cached RS256 token, 20 policies; request frame ${bytes} bytes`);
  const profileHint = 'npm run bench -- --scenario 1 --workers 1 --profile';

  // The floors first, one after the other, then the service right after them.
  const fl = await h.floor('grpc-js', 's1 grpc-js floor');
  await expectOk(fl, token);
  log('scenario 1: grpc-js floor, max throughput');
  const floorMax = await loadWithH2load(O, fl, frame);
  log(`  grpc-js floor ${floorMax.rps} req/s, ${floorMax.cpuUsPerRequest} µs CPU per request`);
  const h2 = await h.floor('node-http2', 's1 node-http2 floor');
  await expectOk(h2, token);
  log('scenario 1: node:http2 floor, max throughput');
  const h2Max = await loadWithH2load(O, h2, frame);
  log(`  node:http2 floor ${h2Max.rps} req/s, ${h2Max.cpuUsPerRequest} µs CPU per request`);

  const s1: Record<string, unknown> = {
    description: 'cached token, allow, 20 policies; max throughput (h2load)',
    floor: floorMax,
    h2Floor: h2Max,
  };
  // 1 process with the default audit (every allow logged); the same without allow records (what
  // the audit log costs); and the multi-process deployment.
  const variants: Array<{ key: string; label: string; workers: number; sample?: number }> = [
    { key: 'service', label: '1 process', workers: 1 },
    { key: 'serviceNoAllowAudit', label: '1 process, audit.allowSampleRate 0', workers: 1, sample: 0 },
  ];
  if (O.workers > 1) variants.push({ key: 'serviceWorkers', label: `--workers ${O.workers}`, workers: O.workers });
  // Scenario 3 runs on the multi-process deployment when there is one, else on the single process
  // with the default audit: those stay up, the others stop once measured.
  const s3key = O.workers > 1 ? 'serviceWorkers' : 'service';
  let s3target: { svc: RunningProcess; max: LoadResult; label: string } | undefined;
  for (const v of variants) {
    const svc = await h.service(
      `zt-authz (20 policies, ${v.label})`,
      join(h.work, `s1-${v.key}.json`),
      h.config(20, v.sample === undefined ? {} : { allowSampleRate: v.sample }),
      { profile: O.profile && v.key === 'service', workers: v.workers },
    );
    await expectAllow(svc, token, 'alice');
    log(`scenario 1: service (${v.label}), max throughput`);
    const max = await loadWithH2load(O, svc, frame);
    const ratio = round(max.rps / floorMax.rps, 3);
    const ratioH2 = round(max.rps / h2Max.rps, 3);
    log(`  service (${v.label}) ${max.rps} req/s = ${ratioH2}x the node:http2 floor, ${ratio}x the grpc-js floor`);
    // CPU per request is steadier than req/s on a shared machine.
    const r: CachedResult = {
      ...max,
      workers: v.workers,
      ratioToFloor: ratio,
      ratioToH2Floor: ratioH2,
      cpuEfficiencyVsFloor: round(floorMax.cpuUsPerRequest / max.cpuUsPerRequest, 3),
      cpuRatioToH2Floor: round(max.cpuUsPerRequest / h2Max.cpuUsPerRequest, 3),
      readyMs: round(svc.readyMs, 0),
    };
    s1[v.key] = r;
    if (v.key === 'service') {
      const T = CACHED_TARGETS;
      const rps = `${max.rps} vs ${h2Max.rps} req/s`;
      h.targets.push(
        {
          scenario: '1',
          target: `cached-token allow, 1 process: throughput >= ${T.minRatioToH2Floor}x the node:http2 floor`,
          achieved: `${ratioH2}x (${rps})`,
          met: ratioH2 >= T.minRatioToH2Floor && max.verified,
          profileHint,
        },
        {
          scenario: '1',
          target: `cached-token allow, 1 process: CPU per request <= ${T.maxCpuRatioToH2Floor}x the node:http2 floor's`,
          achieved: `${r.cpuRatioToH2Floor}x (${max.cpuUsPerRequest} vs ${h2Max.cpuUsPerRequest} µs)`,
          met: r.cpuRatioToH2Floor <= T.maxCpuRatioToH2Floor && max.verified,
          profileHint,
        },
        {
          scenario: '1',
          target: `cached-token allow, 1 process: throughput >= ${T.minRatioToGrpcJsFloor}x the grpc-js floor`,
          achieved: `${ratio}x (${max.rps} vs ${floorMax.rps} req/s; CPU per request ${max.cpuUsPerRequest} vs ${floorMax.cpuUsPerRequest} µs)`,
          met: ratio >= T.minRatioToGrpcJsFloor && max.verified,
          profileHint,
        },
      );
    }
    if (v.key === 'serviceWorkers')
      h.targets.push({
        scenario: '1',
        target: `throughput >= 90 % of the grpc-js floor (${v.label})`,
        achieved: `${round(ratio * 100, 1)} % (${max.rps} vs ${floorMax.rps} req/s)`,
        met: ratio >= 0.9 && max.verified,
      });
    if (v.key === s3key && O.scenarios.has(3)) s3target = { svc, max, label: v.label };
    else await h.stop(svc);
  }
  h.results['1'] = s1;

  if (s3target) {
    const { svc, max, label } = s3target;
    const rate = Math.max(100, Math.round(max.rps / 2 / 100) * 100);
    const at = async (p: RunningProcess, rpsTotal: number): Promise<LoadResult> => loadWithH2load(O, p, frame, { rpsTotal, streams: 8 });
    log(`scenario 3 (${label}): fixed ${O.fixedRate} req/s, then ${rate} req/s (50 % of scenario 1's max); service, then the floors`);
    const svcFixed = await at(svc, O.fixedRate);
    const h2Fixed = await at(h2, O.fixedRate);
    const svcHalf = await at(svc, rate);
    const h2Half = await at(h2, rate);
    const floorHalf = await at(fl, rate);
    log(`  p99 at ${O.fixedRate}/s: service ${svcFixed.latencyMs.p99} ms, node:http2 floor ${h2Fixed.latencyMs.p99} ms`);
    log(
      `  p99 at ${rate}/s: service ${svcHalf.latencyMs.p99} ms, node:http2 floor ${h2Half.latencyMs.p99} ms, grpc-js floor ${floorHalf.latencyMs.p99} ms`,
    );
    h.results['3'] = {
      description: `fixed rates on ${label}: ${O.fixedRate} req/s, and ${rate} req/s = 50 % of scenario 1's max; h2load --rps`,
      rate,
      fixedRate: O.fixedRate,
      deployment: label,
      service: svcHalf,
      h2Floor: h2Half,
      floor: floorHalf,
      serviceFixed: svcFixed,
      h2FloorFixed: h2Fixed,
    };
    const L = LATENCY_TARGETS;
    const hint = `npm run bench -- --scenario 3 --workers 1 --profile`;
    h.targets.push(
      {
        scenario: '3',
        target: `p99 < ${L.fixedRateP99Ms} ms at a fixed ${O.fixedRate} req/s (${label})`,
        achieved: `p99 ${svcFixed.latencyMs.p99} ms, p50 ${svcFixed.latencyMs.p50} ms (node:http2 floor p99 ${h2Fixed.latencyMs.p99} ms)`,
        met: svcFixed.latencyMs.p99 < L.fixedRateP99Ms && svcFixed.verified,
        profileHint: hint,
      },
      {
        scenario: '3',
        target: `p99 < ${L.halfMaxP99Ms} ms at 50 % of the measured max, ${rate} req/s (${label})`,
        achieved: `p99 ${svcHalf.latencyMs.p99} ms, p50 ${svcHalf.latencyMs.p50} ms (node:http2 floor p99 ${h2Half.latencyMs.p99} ms, grpc-js floor ${floorHalf.latencyMs.p99} ms)`,
        met: svcHalf.latencyMs.p99 < L.halfMaxP99Ms && svcHalf.verified,
        profileHint: hint,
      },
    );
    await h.stop(svc);
  }
  await h.stop(h2);
  await h.stop(fl);
}
