// What the scenarios share in one bench run: the options, a scratch directory, the signing keys
// and their JWKS, the processes started (stopped on exit), the results and the targets.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchConfig, BENCH_AUDIENCE, BENCH_ISSUER, BENCH_SCOPE, writeConfig } from './config.js';
import type { BenchOptions } from './options.js';
import { freePort, startFloor, startService, type FloorKind, type RunningProcess } from './server.js';
import { generateSigningKey, type BenchAlg, type SigningKey } from './tokens.js';
import { log, round, ROOT } from './util.js';

export interface Target {
  scenario: string;
  target: string;
  achieved: string;
  met: boolean;
  /** How to see where the time goes when it is missed (a --profile run of this scenario). */
  profileHint?: string;
}

export type ConfigFn = (grpcPort: number, adminPort: number) => Record<string, unknown>;

export class Harness {
  readonly work = mkdtempSync(join(tmpdir(), 'zt-bench-'));
  readonly profileDir = join(ROOT, 'bench', 'results', 'profiles');
  readonly results: Record<string, unknown> = {};
  readonly targets: Target[] = [];
  /** The .cpuprofile files this run asked for (written when each process exits). */
  readonly profiles: string[] = [];
  readonly keys: Record<BenchAlg, SigningKey>;
  readonly jwks: { keys: Array<Record<string, unknown>> };
  readonly hmacSecret = randomBytes(32);
  readonly tokenBase = { issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE, scope: BENCH_SCOPE };
  private readonly running = new Set<RunningProcess>();

  constructor(readonly O: BenchOptions) {
    const t0 = performance.now();
    this.keys = { RS256: generateSigningKey('RS256'), ES256: generateSigningKey('ES256') };
    this.jwks = { keys: [this.keys.RS256.publicJwk, this.keys.ES256.publicJwk] };
    log(`keys generated in ${round(performance.now() - t0, 0)} ms`);
  }

  /** node --cpu-prof arguments writing `<profileDir>/<name>.cpuprofile`, or none without --profile. */
  profileArgs(name: string, profile: boolean): string[] {
    if (!profile) return [];
    mkdirSync(this.profileDir, { recursive: true });
    const file = `${name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}.cpuprofile`;
    this.profiles.push(join(this.profileDir, file));
    return ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`, `--cpu-prof-name=${file}`];
  }

  /** `zt-authz serve` on fresh ports with the config `cfg` makes for them. */
  async service(
    name: string,
    configFile: string,
    cfg: ConfigFn,
    opts: { profile?: boolean; workers?: number } = {},
  ): Promise<RunningProcess> {
    const grpcPort = await freePort();
    const adminPort = await freePort();
    writeConfig(configFile, cfg(grpcPort, adminPort));
    const p = await startService({
      name,
      config: configFile,
      grpcPort,
      adminPort,
      // A profile of a multi-process deployment would be one file per worker under one name.
      nodeArgs: this.profileArgs(name, (opts.profile ?? false) && (opts.workers ?? 1) <= 1),
      extraArgs: opts.workers && opts.workers > 1 ? ['--workers', String(opts.workers)] : [],
    });
    this.running.add(p);
    log(`${name}: ready in ${round(p.readyMs, 0)} ms (pid ${p.pid}, grpc :${grpcPort})`);
    return p;
  }

  /** A floor server; profiled under --profile, so a miss can be read side by side with the service's profile. */
  async floor(kind: FloorKind, label = `${kind} floor`): Promise<RunningProcess> {
    const p = await startFloor(await freePort(), this.profileArgs(label, this.O.profile), kind);
    this.running.add(p);
    return p;
  }

  /** Keeps track of a process started elsewhere (stopped by cleanup). */
  adopt(p: RunningProcess): RunningProcess {
    this.running.add(p);
    return p;
  }

  async stop(p: RunningProcess): Promise<void> {
    await p.stop();
    this.running.delete(p);
  }

  config(policies: number, extra: { tokenCacheEntries?: number; hmacSecretFile?: string; allowSampleRate?: number } = {}): ConfigFn {
    return (grpcPort, adminPort) => benchConfig({ grpcPort, adminPort, jwks: this.jwks, policies, ...extra });
  }

  /** Scenario 5's server config: 10,000 policies, a cache for every fill token, an HS256 issuer. */
  bigConfig(): ConfigFn {
    const secretFile = join(this.work, 'hmac.secret');
    writeFileSync(secretFile, this.hmacSecret);
    return this.config(10000, { tokenCacheEntries: Math.max(this.O.cacheFill, 10000), hmacSecretFile: secretFile });
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.running].map((p) => p.stop().catch(() => undefined)));
    rmSync(this.work, { recursive: true, force: true });
  }
}
