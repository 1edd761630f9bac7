// One measured load run against a running server: h2load (one pre-encoded frame) or h2gen (many
// distinct frames round-robin), with the server's CPU over the measured window only, the load
// generator's and everyone else's CPU, memory, and for the service the decision counters that
// prove what the run measured.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { CHECK_PATH_V3, envoyCheckRequest } from './frames.js';
import { sampleChecks } from './grpc-sample.js';
import { h2load, type H2loadResult } from './h2load.js';
import { CpuWindow, ProcSampler, SystemWindow, treeMemoryMb } from './procstat.js';
import { decisionCounts, diffCounts, type DecisionCounts, type RunningProcess } from './server.js';
import { BENCH_DIST, round, type LatencySummary } from './util.js';
import type { BenchOptions } from './options.js';
import { InternalError } from '../../src/errors.js';

export type LoadSettings = Pick<BenchOptions, 'conns' | 'streams' | 'durationS' | 'warmupS'>;

export interface LoadResult {
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

/** CPU of the server (after the warm-up), of the generator and of the rest of the machine. */
class RunCpu {
  private cpu: CpuWindow | undefined;
  private sys: SystemWindow | undefined;
  private gen: ProcSampler | undefined;
  private readonly warm: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    private readonly o: LoadSettings,
  ) {
    // CPU is measured over the main phase only: the window starts after the warm-up.
    this.warm = setTimeout(() => {
      this.cpu = new CpuWindow(pid);
      this.sys = new SystemWindow();
    }, o.warmupS * 1000);
  }
  generator(pid: number): void {
    this.gen = new ProcSampler(pid);
  }
  finish(rps: number): Pick<LoadResult, 'cpuCores' | 'loadgenCores' | 'otherCores' | 'cpuUsPerRequest' | 'rssMb' | 'peakRssMb'> {
    clearTimeout(this.warm);
    const cores = this.cpu?.cores() ?? NaN;
    const loadgen = (this.gen?.stop() ?? NaN) / (this.o.warmupS + this.o.durationS);
    const other = Math.max(0, (this.sys?.cores() ?? NaN) - cores - loadgen);
    const mem = treeMemoryMb(this.pid);
    return {
      cpuCores: round(cores, 2),
      loadgenCores: round(loadgen, 2),
      otherCores: round(other, 2),
      cpuUsPerRequest: round((cores / rps) * 1e6, 1),
      rssMb: mem.rssMb,
      peakRssMb: mem.peakRssMb,
    };
  }
}

export async function loadWithH2load(
  o: LoadSettings,
  target: RunningProcess,
  dataFile: string,
  opts: { rpsTotal?: number; streams?: number; clients?: number } = {},
): Promise<LoadResult> {
  const clients = opts.clients ?? o.conns;
  const before = target.adminPort ? await decisionCounts(target.adminPort) : undefined;
  const cpu = new RunCpu(target.pid, o);
  const r: H2loadResult = await h2load({
    onSpawn: (pid) => cpu.generator(pid),
    port: target.grpcPort,
    dataFile,
    path: CHECK_PATH_V3,
    clients,
    streams: opts.streams ?? o.streams,
    durationS: o.durationS,
    warmupS: o.warmupS,
    ...(opts.rpsTotal ? { rpsPerClient: Math.max(1, Math.round(opts.rpsTotal / clients)) } : {}),
  });
  const usage = cpu.finish(r.rps);
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
    ...usage,
    requests: r.succeeded,
    errors,
    ...(counters ? { counters } : {}),
    verified,
    command: r.command,
  };
}

export interface GenOutput {
  rps: number;
  ok: number;
  errors: number;
  sent: number;
  seconds: number;
  distinctFrames: number;
  latency: LatencySummary;
}

export function runGen(port: number, tokensFile: string, extra: string[], onSpawn?: (pid: number) => void): Promise<GenOutput> {
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

/**
 * h2gen over the tokens in `tokensFile`. `cache` says what the counters must prove: 'miss', no
 * cache hit at all (every request paid for a full verification); 'hit', at most `maxMisses`
 * misses (the first requests in flight for the token), the rest served from the cache.
 */
export async function loadWithGen(
  o: LoadSettings,
  target: RunningProcess,
  tokensFile: string,
  cache: { expect: 'miss' } | { expect: 'hit'; maxMisses: number } = { expect: 'miss' },
): Promise<LoadResult> {
  const before = target.adminPort ? await decisionCounts(target.adminPort) : undefined;
  const cpu = new RunCpu(target.pid, o);
  const g = await runGen(
    target.grpcPort,
    tokensFile,
    ['--conns', String(o.conns), '--streams', String(o.streams), '--duration', String(o.durationS), '--warmup', String(o.warmupS)],
    (pid) => cpu.generator(pid),
  );
  const usage = cpu.finish(g.rps);
  const after = target.adminPort ? await decisionCounts(target.adminPort) : undefined;
  const counters = before && after ? diffCounts(before, after) : undefined;
  const cacheOk = (c: DecisionCounts): boolean => (cache.expect === 'miss' ? c.cacheHits === 0 : c.cacheMisses <= cache.maxMisses);
  const verified = counters ? counters.deny === 0 && counters.allow >= g.ok && cacheOk(counters) && g.errors === 0 : g.errors === 0;
  return {
    tool: 'h2gen',
    rps: round(g.rps, 0),
    latencyMs: g.latency,
    ...usage,
    requests: g.ok,
    errors: g.errors,
    ...(counters ? { counters } : {}),
    verified,
    note: g.distinctFrames === 1 ? 'one token (cached)' : `${g.distinctFrames} distinct tokens round-robin`,
  };
}

/** Runs a bench helper program (dist/bench/<script>) and parses the last line of its output. */
export function childJson<T>(script: string, argv: string[]): T {
  const out = execFileSync(process.execPath, [join(BENCH_DIST, script), ...argv], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

export async function expectAllow(p: RunningProcess, token: string, subject: string): Promise<void> {
  const s = await sampleChecks(p.grpcPort, envoyCheckRequest({ token }));
  const bad = s.find((x) => !x.allow || x.headers['x-auth-subject'] !== subject);
  if (bad) throw new InternalError(`${p.name}: sample Check is not the expected allow: ${JSON.stringify(bad)}`);
}

export async function expectOk(p: RunningProcess, token: string): Promise<void> {
  const s = await sampleChecks(p.grpcPort, envoyCheckRequest({ token }));
  if (s.some((x) => x.code !== 0)) throw new InternalError(`${p.name}: sample Check did not return OK: ${JSON.stringify(s)}`);
}
