// Start/stop the processes under test: the real service (`zt-authz serve`) and the floor (an
// empty grpc-js Check handler). Both run as separate processes on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BENCH_DIST, CLI, sleep } from './util.js';
import { InternalError, TimeoutError } from '../../src/errors.js';

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  grpcPort: number;
  adminPort?: number;
  /** Milliseconds from spawn until ready (/readyz 200 for the service, "listening" for the floor). */
  readyMs: number;
  stderr(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function collect(child: ChildProcess): () => string {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 20000) err = err.slice(-20000);
  });
  return () => err;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
}

export interface ServiceOptions {
  config: string;
  grpcPort: number;
  adminPort: number;
  name?: string;
  nodeArgs?: string[];
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Where stdout (JSON logs, including audit lines) goes; default /dev/null. */
  stdoutFile?: number | 'ignore';
  readyTimeoutMs?: number;
  /**
   * Start the service in its own session (setsid). With the kernel's autogroup scheduling, a
   * session is a scheduling group, so the soak can give the process under test its own CPU share.
   */
  ownSession?: boolean;
}

export async function startService(o: ServiceOptions): Promise<RunningProcess> {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), CLI, 'serve', '--config', o.config, ...(o.extraArgs ?? [])], {
    stdio: ['ignore', o.stdoutFile ?? 'ignore', 'pipe'],
    env: { ...process.env, ...(o.env ?? {}) },
    detached: o.ownSession ?? false,
  });
  const stderr = collect(child);
  await waitReady(child, o.adminPort, o.readyTimeoutMs ?? 30000, stderr);
  // From the spawn, as a readiness probe sees the process's start-up.
  const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    name: o.name ?? 'zt-authz',
    child,
    pid: child.pid!,
    grpcPort: o.grpcPort,
    adminPort: o.adminPort,
    readyMs,
    stderr,
    stop: stopper(child),
  };
}

/**
 * The floors, empty Check handlers on the same proto under the same load: 'grpc-js', the grpc-js
 * server with the service's options (bench/floor-server.ts); 'node-http2', gRPC served straight
 * from node:http2 (bench/h2-floor-server.ts).
 */
export type FloorKind = 'grpc-js' | 'node-http2';
const FLOOR_SCRIPT: Record<FloorKind, string> = { 'grpc-js': 'floor-server.js', 'node-http2': 'h2-floor-server.js' };

export async function startFloor(port: number, nodeArgs: string[] = [], kind: FloorKind = 'grpc-js'): Promise<RunningProcess> {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...nodeArgs, join(BENCH_DIST, FLOOR_SCRIPT[kind]), '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = collect(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new InternalError(`${kind} floor exited (${code}): ${stderr()}`)));
  });
  const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { name: `${kind} floor`, child, pid: child.pid!, grpcPort: port, readyMs, stderr, stop: stopper(child) };
}

/**
 * `zt-authz demo` (the built-in demo configuration: its issuer discovered from its own admin
 * port, the demo policies) in `cwd`, ready once /readyz answers 200: its keys are loaded.
 */
export async function startDemo(o: {
  cwd: string;
  grpcPort: number;
  adminPort: number;
  httpPort: number;
  nodeArgs?: string[];
}): Promise<RunningProcess> {
  const t0 = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [
      ...(o.nodeArgs ?? []),
      CLI,
      'demo',
      '--grpc',
      `127.0.0.1:${o.grpcPort}`,
      '--admin',
      `127.0.0.1:${o.adminPort}`,
      '--http',
      `127.0.0.1:${o.httpPort}`,
    ],
    { cwd: o.cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ZT_AUTHZ_DEMO_DIR: join(o.cwd, '.zt-authz-demo') } },
  );
  const stderr = collect(child);
  await waitReady(child, o.adminPort, 30000, stderr);
  const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    name: 'zt-authz demo',
    child,
    pid: child.pid!,
    grpcPort: o.grpcPort,
    adminPort: o.adminPort,
    readyMs,
    stderr,
    stop: stopper(child),
  };
}

/** Resolves once /readyz answers 200 (the child is killed and this throws after `timeoutMs`). */
async function waitReady(child: ChildProcess, adminPort: number, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new InternalError(`service exited early (${child.exitCode}): ${stderr()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`, { signal: AbortSignal.timeout(500) });
      await res.text();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await sleep(5);
  }
  child.kill('SIGKILL');
  throw new TimeoutError(`service not ready within ${timeoutMs} ms: ${stderr()}`);
}

export async function scrapeMetrics(adminPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

/** Sum of every series of `name` whose labels include `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[3] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[4]);
  }
  return sum;
}

export interface DecisionCounts {
  allow: number;
  deny: number;
  cacheHits: number;
  cacheMisses: number;
}

export async function decisionCounts(adminPort: number): Promise<DecisionCounts> {
  const t = await scrapeMetrics(adminPort);
  return {
    allow: metricSum(t, 'zt_authz_decisions_total', { decision: 'allow' }),
    deny: metricSum(t, 'zt_authz_decisions_total', { decision: 'deny' }),
    cacheHits: metricSum(t, 'zt_authz_token_cache_hits_total'),
    cacheMisses: metricSum(t, 'zt_authz_token_cache_misses_total'),
  };
}

export function diffCounts(a: DecisionCounts, b: DecisionCounts): DecisionCounts {
  return {
    allow: b.allow - a.allow,
    deny: b.deny - a.deny,
    cacheHits: b.cacheHits - a.cacheHits,
    cacheMisses: b.cacheMisses - a.cacheMisses,
  };
}
