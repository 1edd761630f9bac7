// `npm run bench`: load harness for zt-authz. Drives the real gRPC Check endpoint of a
// `zt-authz serve` process and, in the same run and under identical load, the floor (an empty
// grpc-js Check handler on the same proto). Prints a table and writes JSON.
//
//   node dist/bench/run.js [--scenario 1,2,3,4,5] [--quick] [--duration S] [--warmup S]
//                          [--conns C] [--streams M] [--workers N] [--profile] [--out FILE]
//
// Scenarios:
//   1 cached token, allow, 20 policies: max throughput vs the floor (h2load)
//   2 unique tokens (no cache hits), RS256 and ES256, vs raw node:crypto async verify (h2gen)
//   3 fixed rate at 50 % of scenario 1's max: latency (h2load --rps)
//   4 10 vs 10,000 policies: end-to-end p50 at a fixed rate, max throughput, in-process decide()
//   5 memory: RSS after 100k distinct cached tokens with 10,000 policies; ready time
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { benchConfig, BENCH_AUDIENCE, BENCH_HMAC_ISSUER, BENCH_ISSUER, BENCH_SCOPE, writeConfig } from './lib/config.js';
import { CHECK_PATH_V3, envoyCheckRequest, writeFrame } from './lib/frames.js';
import { h2load, type H2loadResult } from './lib/h2load.js';
import { machine } from './lib/machine.js';
import { CpuWindow, ProcSampler, SystemWindow, treeMemoryMb } from './lib/procstat.js';
import {
  decisionCounts,
  diffCounts,
  freePort,
  metricSum,
  scrapeMetrics,
  startFloor,
  startService,
  type DecisionCounts,
  type RunningProcess,
} from './lib/server.js';
import { sampleChecks } from './lib/grpc-sample.js';
import { generateSigningKey, mint, mintHs256Many, mintParallel, type BenchAlg, type SigningKey } from './lib/tokens.js';
import { randomBytes } from 'node:crypto';
import { argMap, BENCH_DIST, log, round, ROOT, sleep, type LatencySummary } from './lib/util.js';
import { InternalError } from '../src/errors.js';

// ---------------------------------------------------------------------------------------------
// options

const HELP = `npm run bench [-- options]      (node dist/bench/run.js [options])
  --scenario 1,2,3,4,5   scenarios to run (default all; 3 also runs 1, whose max it needs)
  --quick                short runs (1.5 s warm-up + 3 s), smaller cache fill; writes bench/results/quick.json
  --duration S           measured seconds per load run (default 5)
  --warmup S             warm-up seconds per load run (default 2)
  --conns C --streams M  h2load/h2gen connections and streams per connection (default 4 x 16)
  --workers N            processes for the multi-process variant (default: CPUs; 1 = none)
  --unique-tokens N      distinct tokens in scenario 2 (default 3000; cache = N/3 per process)
  --cache-fill N         distinct tokens cached in scenario 5 (default 100000)
  --s4-rate R            fixed request rate for scenario 4's latency runs (default 500/s)
  --profile              run single-process services under --cpu-prof (bench/results/profiles/)
  --out FILE             JSON output (default bench/results/latest.json)`;
const args = argMap(process.argv.slice(2));
if (args.has('help')) {
  console.log(HELP);
  process.exit(0);
}
const quick = args.has('quick');
const O = {
  scenarios: new Set((args.get('scenario') ?? '1,2,3,4,5').split(',').map((s) => Number(s.trim()))),
  durationS: Number(args.get('duration') ?? (quick ? 3 : 5)),
  warmupS: Number(args.get('warmup') ?? (quick ? 1.5 : 2)),
  conns: Number(args.get('conns') ?? 4),
  streams: Number(args.get('streams') ?? 16),
  /** Processes for the multi-process variant (`serve --workers N`); 1 disables that variant. */
  workers: Number(args.get('workers') ?? cpus().length),
  profile: args.has('profile'),
  out: args.get('out') ?? join(ROOT, 'bench', 'results', quick ? 'quick.json' : 'latest.json'),
  /** Distinct tokens replayed in scenario 2 (the service's cache is set to a third of this). */
  uniqueTokens: Number(args.get('unique-tokens') ?? 3000),
  cacheFill: Number(args.get('cache-fill') ?? (quick ? 20000 : 100000)),
  s4Rate: Number(args.get('s4-rate') ?? 500),
};
if (O.scenarios.has(3)) O.scenarios.add(1); // scenario 3's rate is half of scenario 1's maximum

// ---------------------------------------------------------------------------------------------
// result types

interface LoadResult {
  tool: 'h2load' | 'h2gen';
  rps: number;
  latencyMs: LatencySummary;
  /** Server CPU over the measured window, in cores (1.0 = one core busy). */
  cpuCores: number;
  /** Load generator CPU (approximate, whole run including warm-up), in cores. */
  loadgenCores: number;
  /** CPU used on the machine by anything else during the measured window (other processes). */
  otherCores: number;
  /** Server CPU time per request, µs: less sensitive to a busy machine than req/s. */
  cpuUsPerRequest: number;
  rssMb: number;
  peakRssMb: number;
  requests: number;
  errors: number;
  /** For the service: decision/caching counters over the run, and whether they prove the run. */
  counters?: DecisionCounts;
  verified: boolean;
  note?: string;
  command?: string;
}

interface Target {
  scenario: string;
  target: string;
  achieved: string;
  met: boolean;
}

const results: Record<string, unknown> = {};
const targets: Target[] = [];

// ---------------------------------------------------------------------------------------------
// measurement helpers

async function loadWithH2load(
  target: RunningProcess,
  dataFile: string,
  opts: { rpsTotal?: number; streams?: number; clients?: number; expect?: 'allow' | 'none' },
): Promise<LoadResult> {
  const clients = opts.clients ?? O.conns;
  const before = target.adminPort ? await decisionCounts(target.adminPort) : undefined;
  // CPU is measured over the main phase only: start the window after the warm-up.
  let cpu: CpuWindow | undefined;
  let sys: SystemWindow | undefined;
  let gen: ProcSampler | undefined;
  const warm = setTimeout(() => {
    cpu = new CpuWindow(target.pid);
    sys = new SystemWindow();
  }, O.warmupS * 1000);
  const r: H2loadResult = await h2load({
    onSpawn: (pid) => (gen = new ProcSampler(pid)),
    port: target.grpcPort,
    dataFile,
    path: CHECK_PATH_V3,
    clients,
    streams: opts.streams ?? O.streams,
    durationS: O.durationS,
    warmupS: O.warmupS,
    ...(opts.rpsTotal ? { rpsPerClient: Math.max(1, Math.round(opts.rpsTotal / clients)) } : {}),
  });
  clearTimeout(warm);
  const cores = cpu?.cores() ?? NaN;
  const loadgen = (gen?.stop() ?? NaN) / (O.warmupS + O.durationS);
  const other = Math.max(0, (sys?.cores() ?? NaN) - cores - loadgen);
  const mem = treeMemoryMb(target.pid);
  const after = target.adminPort ? await decisionCounts(target.adminPort) : undefined;
  const counters = before && after ? diffCounts(before, after) : undefined;
  const errors = r.failed + r.errored + r.statusOther;
  // The service proves every measured request was an allow: allow counter grew by at least
  // the number of measured requests (warm-up requests count too) and nothing was denied.
  const verified = counters ? counters.deny === 0 && counters.allow >= r.succeeded && errors === 0 : errors === 0;
  return {
    tool: 'h2load',
    rps: round(r.rps, 0),
    latencyMs: r.latency,
    cpuCores: round(cores, 2),
    loadgenCores: round(loadgen, 2),
    otherCores: round(other, 2),
    cpuUsPerRequest: round((cores / r.rps) * 1e6, 1),
    rssMb: mem.rssMb,
    peakRssMb: mem.peakRssMb,
    requests: r.succeeded,
    errors,
    ...(counters ? { counters } : {}),
    verified,
    command: r.command,
  };
}

interface GenOutput {
  rps: number;
  ok: number;
  errors: number;
  sent: number;
  seconds: number;
  distinctFrames: number;
  latency: LatencySummary;
}

function runGen(port: number, tokensFile: string, extra: string[], onSpawn?: (pid: number) => void): Promise<GenOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(BENCH_DIST, 'h2gen.js'), '--port', String(port), '--tokens', tokensFile, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new InternalError(`h2gen exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out) as GenOutput);
      } catch (e) {
        reject(new InternalError(`h2gen output not JSON: ${out} ${err} ${(e as Error).message}`));
      }
    });
  });
}

async function loadWithGen(target: RunningProcess, tokensFile: string): Promise<LoadResult> {
  const before = target.adminPort ? await decisionCounts(target.adminPort) : undefined;
  let cpu: CpuWindow | undefined;
  let sys: SystemWindow | undefined;
  let gen: ProcSampler | undefined;
  const warm = setTimeout(() => {
    cpu = new CpuWindow(target.pid);
    sys = new SystemWindow();
  }, O.warmupS * 1000);
  const g = await runGen(
    target.grpcPort,
    tokensFile,
    ['--conns', String(O.conns), '--streams', String(O.streams), '--duration', String(O.durationS), '--warmup', String(O.warmupS)],
    (pid) => (gen = new ProcSampler(pid)),
  );
  clearTimeout(warm);
  const cores = cpu?.cores() ?? NaN;
  const loadgen = (gen?.stop() ?? NaN) / (O.warmupS + O.durationS);
  const other = Math.max(0, (sys?.cores() ?? NaN) - cores - loadgen);
  const mem = treeMemoryMb(target.pid);
  const after = target.adminPort ? await decisionCounts(target.adminPort) : undefined;
  const counters = before && after ? diffCounts(before, after) : undefined;
  // No cache hits at all: every request paid for a full verification.
  const verified = counters ? counters.deny === 0 && counters.allow >= g.ok && counters.cacheHits === 0 && g.errors === 0 : g.errors === 0;
  return {
    tool: 'h2gen',
    rps: round(g.rps, 0),
    latencyMs: g.latency,
    cpuCores: round(cores, 2),
    loadgenCores: round(loadgen, 2),
    otherCores: round(other, 2),
    cpuUsPerRequest: round((cores / g.rps) * 1e6, 1),
    rssMb: mem.rssMb,
    peakRssMb: mem.peakRssMb,
    requests: g.ok,
    errors: g.errors,
    ...(counters ? { counters } : {}),
    verified,
    note: `${g.distinctFrames} distinct tokens round-robin`,
  };
}

function childJson<T>(script: string, argv: string[]): T {
  const out = execFileSync(process.execPath, [join(BENCH_DIST, script), ...argv], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

async function expectAllow(p: RunningProcess, token: string, subject: string): Promise<void> {
  const s = await sampleChecks(p.grpcPort, envoyCheckRequest({ token }));
  const bad = s.find((x) => !x.allow || x.headers['x-auth-subject'] !== subject);
  if (bad) throw new InternalError(`${p.name}: sample Check is not the expected allow: ${JSON.stringify(bad)}`);
}

async function expectOk(p: RunningProcess, token: string): Promise<void> {
  const s = await sampleChecks(p.grpcPort, envoyCheckRequest({ token }));
  if (s.some((x) => x.code !== 0)) throw new InternalError(`${p.name}: sample Check did not return OK: ${JSON.stringify(s)}`);
}

// ---------------------------------------------------------------------------------------------
// setup

const work = mkdtempSync(join(tmpdir(), 'zt-bench-'));
const running = new Set<RunningProcess>();
const profileDir = join(ROOT, 'bench', 'results', 'profiles');

async function service(
  name: string,
  configFile: string,
  cfg: (g: number, a: number) => Record<string, unknown>,
  opts: { profile?: boolean; workers?: number } = {},
): Promise<RunningProcess> {
  const profile = opts.profile ?? false;
  const grpcPort = await freePort();
  const adminPort = await freePort();
  writeConfig(configFile, cfg(grpcPort, adminPort));
  if (profile) mkdirSync(profileDir, { recursive: true });
  const p = await startService({
    name,
    config: configFile,
    grpcPort,
    adminPort,
    nodeArgs: profile
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${profileDir}`,
          `--cpu-prof-name=${name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}.cpuprofile`,
        ]
      : [],
    extraArgs: opts.workers && opts.workers > 1 ? ['--workers', String(opts.workers)] : [],
  });
  running.add(p);
  log(`${name}: ready in ${round(p.readyMs, 0)} ms (pid ${p.pid}, grpc :${grpcPort})`);
  return p;
}

async function floor(): Promise<RunningProcess> {
  const p = await startFloor(await freePort());
  running.add(p);
  return p;
}

async function stop(p: RunningProcess): Promise<void> {
  await p.stop();
  running.delete(p);
}

let keys: Record<BenchAlg, SigningKey>;
const hmacSecret = randomBytes(32);
let jwks: { keys: Array<Record<string, unknown>> };
const tokenBase = { issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE, scope: BENCH_SCOPE };

function config(policies: number, extra: { tokenCacheEntries?: number; hmacSecretFile?: string; allowSampleRate?: number } = {}) {
  return (grpcPort: number, adminPort: number) => benchConfig({ grpcPort, adminPort, jwks, policies, ...extra });
}

// ---------------------------------------------------------------------------------------------
// scenarios

async function scenario1and3(): Promise<void> {
  const token = mint(keys.RS256, { ...tokenBase, subject: 'alice' });
  const frame = join(work, 's1.bin');
  const bytes = writeFrame(frame, { token });
  log(`scenario 1: cached RS256 token, 20 policies; request frame ${bytes} bytes`);

  const fl = await floor();
  await expectOk(fl, token);
  log('scenario 1: floor, max throughput');
  const floorMax = await loadWithH2load(fl, frame, {});
  log(`  floor ${floorMax.rps} req/s`);

  const s1: Record<string, unknown> = { description: 'cached token, allow, 20 policies; max throughput (h2load)', floor: floorMax };
  // 1 process with the default audit (every allow logged); the same without allow records (what
  // the audit log costs); and the multi-process deployment, measured last (scenario 3 reuses it).
  const variants: Array<{ key: string; label: string; workers: number; sample?: number }> = [
    { key: 'service', label: '1 process', workers: 1 },
    { key: 'serviceNoAllowAudit', label: '1 process, audit.allowSampleRate 0', workers: 1, sample: 0 },
  ];
  if (O.workers > 1) variants.push({ key: 'serviceWorkers', label: `--workers ${O.workers}`, workers: O.workers });
  let s3target: { svc: RunningProcess; max: LoadResult; label: string } | undefined;
  for (const v of variants) {
    const svc = await service(
      `zt-authz (20 policies, ${v.label})`,
      join(work, `s1-${v.key}.json`),
      config(20, v.sample === undefined ? {} : { allowSampleRate: v.sample }),
      {
        profile: O.profile && v.key === 'service',
        workers: v.workers,
      },
    );
    await expectAllow(svc, token, 'alice');
    log(`scenario 1: service (${v.label}), max throughput`);
    const max = await loadWithH2load(svc, frame, {});
    const ratio = round(max.rps / floorMax.rps, 3);
    log(`  service (${v.label}) ${max.rps} req/s = ${round(ratio * 100, 1)} % of floor`);
    // CPU per request is steadier than req/s on a shared machine: floor µs/req ÷ service µs/req.
    const cpuRatio = round(floorMax.cpuUsPerRequest / max.cpuUsPerRequest, 3);
    s1[v.key] = { ...max, workers: v.workers, ratioToFloor: ratio, cpuEfficiencyVsFloor: cpuRatio, readyMs: round(svc.readyMs, 0) };
    if (v.sample === undefined)
      targets.push({
        scenario: '1',
        target: `throughput >= 90 % of floor (${v.label})`,
        achieved: `${round(ratio * 100, 1)} % (${max.rps} vs ${floorMax.rps} req/s; CPU per request ${max.cpuUsPerRequest} vs ${floorMax.cpuUsPerRequest} µs)`,
        met: ratio >= 0.9 && max.verified,
      });
    if (v.key === 'service')
      targets.push({
        scenario: '1',
        target: 'ready < 1 s after start (20 policies, 1 process)',
        achieved: `${round(svc.readyMs, 0)} ms`,
        met: svc.readyMs < 1000,
      });
    if (s3target) await stop(s3target.svc);
    s3target = { svc, max, label: v.label };
  }
  results['1'] = s1;

  if (O.scenarios.has(3) && s3target) {
    // The deployment S1 measured last (the multi-process one when enabled).
    const { svc, max, label } = s3target;
    const rate = Math.max(100, Math.round(max.rps / 2 / 100) * 100);
    log(`scenario 3: fixed rate ${rate} req/s (50 % of scenario 1's max, ${label}), service then floor`);
    const svcRate = await loadWithH2load(svc, frame, { rpsTotal: rate, streams: 8 });
    const floorRate = await loadWithH2load(fl, frame, { rpsTotal: rate, streams: 8 });
    log(`  service p99 ${svcRate.latencyMs.p99} ms; floor p99 ${floorRate.latencyMs.p99} ms`);
    results['3'] = {
      description: `fixed rate ${rate} req/s = 50 % of scenario 1's max (${label}); h2load --rps`,
      rate,
      deployment: label,
      service: svcRate,
      floor: floorRate,
    };
    targets.push({
      scenario: '3',
      target: `p99 < 1 ms at 50 % of max rate (${label})`,
      achieved: `p99 ${svcRate.latencyMs.p99} ms (floor ${floorRate.latencyMs.p99} ms) at ${rate} req/s`,
      met: svcRate.latencyMs.p99 < 1 && svcRate.verified,
    });
  }
  if (s3target) await stop(s3target.svc);
  await stop(fl);
}

async function scenario2(): Promise<void> {
  const s2: Record<string, unknown> = {
    description: `unique tokens (no cache hits): ${O.uniqueTokens} distinct tokens replayed round-robin by h2gen, token cache of a third of that per process (LRU: every request misses, checked with zt_authz_token_cache_hits_total = 0)`,
  };
  const fl = await floor();
  let floorGen: LoadResult | undefined;
  for (const alg of ['RS256', 'ES256'] as const) {
    log(`scenario 2 ${alg}: minting ${O.uniqueTokens} tokens`);
    const tokens = await mintParallel(keys[alg], tokenBase, O.uniqueTokens, Math.max(1, cpus().length), `u-${alg.toLowerCase()}`);
    const tokensFile = join(work, `s2-${alg}.tokens`);
    writeFileSync(tokensFile, tokens.join('\n'));
    const jwkFile = join(work, `s2-${alg}.jwk.json`);
    writeFileSync(jwkFile, JSON.stringify(keys[alg].publicJwk));

    if (!floorGen) {
      log('scenario 2: floor with h2gen (same generator, same frames)');
      await expectOk(fl, tokens[0]!);
      floorGen = await loadWithGen(fl, tokensFile);
      log(`  floor (h2gen) ${floorGen.rps} req/s`);
    }
    // Verification-bound: runs as the multi-process deployment when enabled (profiles need 1 process).
    // Each process has its own cache and sees about 1/workers of the tokens between two uses of
    // one token, so the cache is sized per process to keep every request a miss.
    const workers = O.profile ? 1 : O.workers;
    const cacheEntries = Math.max(1, Math.floor(O.uniqueTokens / 3 / workers));
    const svc = await service(
      `zt-authz (${alg}, no cache hits)`,
      join(work, `s2-${alg}.json`),
      config(20, { tokenCacheEntries: cacheEntries }),
      {
        profile: O.profile,
        workers,
      },
    );
    await expectAllow(svc, mint(keys[alg], { ...tokenBase, subject: 'probe' }), 'probe');
    log(`scenario 2 ${alg}: service with h2gen`);
    const svcGen = await loadWithGen(svc, tokensFile);
    log(`  service ${svcGen.rps} req/s, misses ${svcGen.counters?.cacheMisses}, hits ${svcGen.counters?.cacheHits}`);
    await stop(svc);
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
      targets.push({
        scenario: '2',
        target: 'RS256 unique tokens >= 50 % of raw node:crypto async ceiling',
        achieved: `${round(ratio * 100, 1)} % (${svcGen.rps} vs ${round(ceil.rawOpsPerSec, 0)} verifies/s; jose alone ${round(ceil.joseOpsPerSec, 0)}/s)`,
        met: ratio >= 0.5 && svcGen.verified,
      });
    }
  }
  s2.floor = floorGen;
  await stop(fl);
  results['2'] = s2;
}

/** Scenario 5's server config: 10,000 policies, a cache for every fill token, an HS256 issuer. */
function bigConfig() {
  const secretFile = join(work, 'hmac.secret');
  writeFileSync(secretFile, hmacSecret);
  return config(10000, { tokenCacheEntries: Math.max(O.cacheFill, 10000), hmacSecretFile: secretFile });
}

async function scenario4(): Promise<RunningProcess | undefined> {
  const token = mint(keys.RS256, { ...tokenBase, subject: 'alice' });
  const frame = join(work, 's4.bin');
  writeFrame(frame, { token });
  const s4: Record<string, unknown> = {
    description: `10 vs 10,000 policies (the allowing policy is last; the others are for other destinations): end-to-end at a fixed ${O.s4Rate} req/s and max throughput (h2load, 1 process), and in-process decide()`,
  };
  const counts = [10, 10000];
  let keep: RunningProcess | undefined;
  for (const n of counts) {
    writeConfig(join(work, `config-${n}.json`), config(n)(0, 0)); // for decide-micro
    // The 10,000-policy server is the one scenario 5 fills next (a cache big enough, HS256 issuer).
    const big = n === 10000 && O.scenarios.has(5);
    const svc = await service(`zt-authz (${n} policies)`, join(work, `s4-${n}.json`), big ? bigConfig() : config(n));
    await expectAllow(svc, token, 'alice');
    const afterStart = treeMemoryMb(svc.pid);
    log(`scenario 4, ${n} policies: fixed ${O.s4Rate} req/s`);
    const fixed = await loadWithH2load(svc, frame, { rpsTotal: O.s4Rate, streams: 8 });
    log(`  p50 ${fixed.latencyMs.p50} ms p99 ${fixed.latencyMs.p99} ms`);
    log(`scenario 4, ${n} policies: max throughput`);
    const max = await loadWithH2load(svc, frame, {});
    log(`  ${max.rps} req/s`);
    s4[String(n)] = { fixedRate: fixed, max, readyMs: round(svc.readyMs, 0), rssAfterStartMb: afterStart.rssMb };
    targets.push({
      scenario: '4',
      target: `ready < 1 s after start (${n} policies)`,
      achieved: `${round(svc.readyMs, 0)} ms`,
      met: svc.readyMs < 1000,
    });
    if (big) keep = svc;
    else await stop(svc);
  }
  log('scenario 4: in-process decide() microbenchmark');
  const micro = childJson<Record<string, { p50Us: number; p99Us: number; meanUs: number; compileMs: number }>>('decide-micro.js', [
    '--config-dir',
    work,
    '--token',
    token,
    '--policies',
    counts.join(','),
    '--iterations',
    quick ? '5000' : '20000',
  ]);
  s4.decide = micro;
  const a = micro['10']!;
  const b = micro['10000']!;
  const microRatio = round(b.p50Us / a.p50Us, 2);
  const e2e = (n: number) => (s4[String(n)] as { fixedRate: LoadResult }).fixedRate.latencyMs.p50;
  const e2eRatio = round(e2e(10000) / e2e(10), 2);
  s4.decideP50Ratio = microRatio;
  s4.endToEndP50Ratio = e2eRatio;
  log(`  decide() p50 ${a.p50Us} µs vs ${b.p50Us} µs (${microRatio}x); end-to-end p50 ${e2eRatio}x`);
  targets.push({
    scenario: '4',
    target: 'decide() p50 within 1.2x, 10 vs 10,000 policies',
    achieved: `${a.p50Us} µs vs ${b.p50Us} µs = ${microRatio}x`,
    met: microRatio <= 1.2,
  });
  targets.push({
    scenario: '4',
    target: `end-to-end p50 within 1.2x at ${O.s4Rate} req/s`,
    achieved: `${e2e(10)} ms vs ${e2e(10000)} ms = ${e2eRatio}x`,
    met: e2eRatio <= 1.2,
  });
  results['4'] = s4;
  return keep;
}

async function scenario5(reuse: RunningProcess | undefined): Promise<void> {
  const n = O.cacheFill;
  const svc = reuse ?? (await service('zt-authz (10,000 policies)', join(work, 's5.json'), bigConfig()));
  const tokens = mintHs256Many(hmacSecret, { ...tokenBase, issuer: BENCH_HMAC_ISSUER }, n, 'mem');
  const tokensFile = join(work, 's5.tokens');
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
  results['5'] = {
    description: `RSS after ${n} distinct tokens were verified and cached, with 10,000 policies loaded (1 process)`,
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
  };
  targets.push({
    scenario: '5',
    target: `RSS < 150 MB after ${n} cached tokens + 10,000 policies`,
    achieved: `${mem.rssMb} MB (before the fill ${before5.rssMb} MB; peak ${mem.peakRssMb} MB; heap used ${heapMb} MB)`,
    met: mem.rssMb < 150 && verified,
  });
  await stop(svc);
}

// ---------------------------------------------------------------------------------------------
// report

function fmtLoad(label: string, r: LoadResult | undefined, ratio?: number): string {
  if (!r) return '';
  const l = r.latencyMs;
  return [
    label.padEnd(34),
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

function printTable(): void {
  const lines: string[] = [];
  lines.push(
    `${'run'.padEnd(34)} ${'req/s'.padStart(8)} ${'p50ms'.padStart(7)} ${'p90ms'.padStart(7)} ${'p99ms'.padStart(7)} ${'ratio'.padStart(6)} ${'CPU'.padStart(5)} ${'µs/req'.padStart(6)} ${'gen'.padStart(5)} ${'other'.padStart(5)} ${'RSSMB'.padStart(5)} ${'ok?'.padStart(4)} tool`,
  );
  type S1 = LoadResult & { ratioToFloor: number; workers: number };
  const r1 = results['1'] as { floor: LoadResult; service?: S1; serviceNoAllowAudit?: S1; serviceWorkers?: S1 } | undefined;
  if (r1) {
    lines.push(fmtLoad('1 floor (empty grpc-js handler)', r1.floor, 1));
    if (r1.service) lines.push(fmtLoad('1 zt-authz cached, 1 process', r1.service, r1.service.ratioToFloor));
    if (r1.serviceNoAllowAudit)
      lines.push(fmtLoad('1 same, no allow audit records', r1.serviceNoAllowAudit, r1.serviceNoAllowAudit.ratioToFloor));
    if (r1.serviceWorkers)
      lines.push(fmtLoad(`1 zt-authz cached, ${r1.serviceWorkers.workers} workers`, r1.serviceWorkers, r1.serviceWorkers.ratioToFloor));
  }
  const r2 = results['2'] as
    | (Record<
        string,
        { service: LoadResult; ratioToRawCeiling: number; rawCryptoAsyncOpsPerSec: number; joseOpsPerSec: number; ratioToFloor: number }
      > & { floor?: LoadResult })
    | undefined;
  if (r2) {
    lines.push(fmtLoad('2 floor (h2gen)', r2.floor, 1));
    for (const alg of ['RS256', 'ES256']) {
      const x = r2[alg];
      if (!x) continue;
      lines.push(fmtLoad(`2 zt-authz ${alg} unique tokens`, x.service, x.ratioToFloor));
      lines.push(
        `${`  ${alg} ceilings: raw async ${x.rawCryptoAsyncOpsPerSec}/s, jose ${x.joseOpsPerSec}/s`.padEnd(60)} service/raw = ${x.ratioToRawCeiling.toFixed(3)}`,
      );
    }
  }
  const r3 = results['3'] as { service: LoadResult; floor: LoadResult; rate: number } | undefined;
  if (r3) {
    lines.push(fmtLoad(`3 floor @ ${r3.rate}/s`, r3.floor));
    lines.push(fmtLoad(`3 zt-authz @ ${r3.rate}/s`, r3.service));
  }
  const r4 = results['4'] as
    | (Record<string, { fixedRate: LoadResult; max: LoadResult }> & { decide?: Record<string, { p50Us: number; p99Us: number }> })
    | undefined;
  if (r4) {
    for (const n of ['10', '10000']) {
      const x = r4[n];
      if (!x) continue;
      lines.push(fmtLoad(`4 ${n} policies @ ${O.s4Rate}/s`, x.fixedRate));
      lines.push(fmtLoad(`4 ${n} policies max`, x.max));
    }
    if (r4.decide)
      lines.push(
        `  decide() p50/p99 µs: ${Object.entries(r4.decide)
          .map(([n, d]) => `${n} policies ${d.p50Us}/${d.p99Us}`)
          .join('; ')}`,
      );
  }
  const r5 = results['5'] as
    | {
        rssMb: number;
        peakRssMb: number;
        heapUsedMb: number;
        tokens: number;
        readyMs: number;
        rssBeforeFillMb: number;
        fillSeconds: number;
      }
    | undefined;
  if (r5)
    lines.push(
      `5 memory: ${r5.tokens} cached tokens + 10,000 policies: RSS ${r5.rssMb} MB (before the fill ${r5.rssBeforeFillMb} MB, peak ${r5.peakRssMb} MB, heap ${r5.heapUsedMb} MB); fill ${r5.fillSeconds} s; ready ${r5.readyMs} ms`,
    );
  lines.push('');
  lines.push('ratio: req/s / floor. CPU: server cores (all processes). µs/req: server CPU per request. gen: load generator cores.');
  lines.push(
    "other: cores used by other processes meanwhile. ok?: the server's counters prove every measured request was an allow (2: and a cache miss).",
  );
  lines.push('');
  lines.push('targets:');
  for (const t of targets) lines.push(`  [${t.met ? 'met ' : 'MISS'}] scenario ${t.scenario}: ${t.target}: ${t.achieved}`);
  console.log(`\n${lines.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now();
  const m = machine();
  if (m.h2load === 'missing')
    throw new InternalError(
      'h2load not found: run `npm run bench` (scripts/bench.sh installs nghttp2-client) or apt-get install nghttp2-client',
    );
  log(`machine: ${m.nproc} x ${m.cpuModel}, node ${m.node}, ${m.h2load}`);
  // A shared machine makes every figure noisy: say so up front (and per run, column "other").
  const idle = new SystemWindow();
  await sleep(1000);
  m.busyCoresBeforeRun = round(idle.cores(), 2);
  if ((m.busyCoresBeforeRun as number) > 0.25)
    log(`warning: ${m.busyCoresBeforeRun} cores busy before the run started (other processes): figures will be noisy`);
  log(
    `load: ${O.conns} connections x ${O.streams} streams, ${O.warmupS} s warm-up + ${O.durationS} s measured per run; multi-process variant: --workers ${O.workers}`,
  );
  const t0 = performance.now();
  keys = { RS256: generateSigningKey('RS256'), ES256: generateSigningKey('ES256') };
  jwks = { keys: [keys.RS256.publicJwk, keys.ES256.publicJwk] };
  log(`keys generated in ${round(performance.now() - t0, 0)} ms`);

  if (O.scenarios.has(1)) await scenario1and3();
  if (O.scenarios.has(2)) await scenario2();
  const big = O.scenarios.has(4) ? await scenario4() : undefined;
  if (O.scenarios.has(5)) await scenario5(big);

  const report = {
    machine: m,
    settings: { ...O, scenarios: [...O.scenarios].sort() },
    results,
    targets,
    elapsedSeconds: round((performance.now() - started) / 1000, 1),
  };
  mkdirSync(dirname(O.out), { recursive: true });
  writeFileSync(O.out, `${JSON.stringify(report, null, 2)}\n`);
  printTable();
  log(`wrote ${relative(process.cwd(), O.out)} (${report.elapsedSeconds} s)`);
  if (O.profile) log(`CPU profiles in ${relative(process.cwd(), profileDir)}: node dist/bench/prof-top.js FILE`);
}

async function cleanup(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop().catch(() => undefined)));
  rmSync(work, { recursive: true, force: true });
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().then(
  () => cleanup(),
  async (err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exitCode = 1;
  },
);
