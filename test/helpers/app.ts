// In-process zt-authz for tests: ephemeral ports, every log line (operational and audit)
// captured in memory, and helpers to scrape the admin /metrics endpoint.
import { createServer } from 'node:net';
import { App } from '../../src/app.js';
import { resolveConfig } from '../../src/config/resolve.js';
import type { Config } from '../../src/config/types.js';
import { createAuditLogger, createLogger } from '../../src/observe/log.js';
import { captureLog } from './capture.js';
import type { JwksClock } from '../../src/authn/jwks/clock.js';

export interface TestApp {
  app: App;
  config: Config;
  /** Every log line written so far (ops and audit), raw JSON text. */
  lines: string[];
  /** Parsed log records (ops + audit). */
  records(): Array<Record<string, unknown>>;
  /** Parsed audit records (`logger: "audit"`). */
  audit(): Array<Record<string, unknown>>;
  grpcPort: number;
  adminPort: number;
  adminUrl: string;
  /** Graceful shutdown; idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Operational log level (audit is always on). Default 'info'. */
  logLevel?: string;
  /** Time source for the JWKS managers (e.g. test/helpers/clock.ts ManualClock). Default: real time. */
  jwksClock?: JwksClock;
}

type Raw = Record<string, unknown>;

/** A line-collecting destination; pino calls write() with one or more '\n'-terminated lines. */
export function captureStream(lines: string[]): { write(s: string): void } {
  return {
    write(s: string) {
      captureLog(s); // whole-suite log hygiene (test/final/log-hygiene.test.ts)
      for (const line of s.split('\n')) if (line.trim() !== '') lines.push(line);
    },
  };
}

/**
 * Resolve `overrides` into a Config (listeners on 127.0.0.1:0, drain 2 s unless overridden) and
 * start an App whose loggers write into `lines`.
 */
export async function startTestApp(overrides: Raw = {}, opts: StartOptions = {}): Promise<TestApp> {
  const server = {
    grpc: '127.0.0.1:0',
    http: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    drainSeconds: 2,
    ...((overrides.server as Raw | undefined) ?? {}),
  };
  const level = opts.logLevel ?? ((overrides.log as Raw | undefined)?.level as string | undefined) ?? 'info';
  const config = resolveConfig({ ...overrides, server, log: { level } }, 'test');
  const lines: string[] = [];
  const dest = captureStream(lines);
  const app = await App.start({
    config,
    logger: createLogger(level, dest),
    auditLogger: createAuditLogger(dest),
    ...(opts.jwksClock ? { jwksClock: opts.jwksClock } : {}),
  });
  const parse = (): Array<Record<string, unknown>> =>
    lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { unparsable: l };
      }
    });
  let stopped: Promise<void> | undefined;
  return {
    app,
    config,
    lines,
    records: parse,
    audit: () => parse().filter((r) => r.logger === 'audit'),
    grpcPort: app.grpcPort,
    adminPort: app.adminPort,
    adminUrl: `http://127.0.0.1:${app.adminPort}`,
    stop: () => (stopped ??= app.shutdown()),
  };
}

/** GET an admin path; returns status and body. */
export async function adminGet(adminPort: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

export async function fetchMetrics(adminPort: number): Promise<string> {
  const { status, body } = await adminGet(adminPort, '/metrics');
  if (status !== 200) throw new Error(`/metrics answered ${status}`);
  return body;
}

/** Parse one Prometheus label set body: a="x",b="y\"z" → {a:'x', b:'y"z'}. */
function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of s.matchAll(re)) out[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return out;
}

/**
 * Value of a metric sample in Prometheus text: the sum over every series of `name` whose labels
 * include all of `labels` (pass the full label set to address exactly one series). 0 when absent.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = parseLabels(m[3] ?? '');
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Scrape /metrics and read one counter/gauge value. */
export async function readMetric(adminPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await fetchMetrics(adminPort), name, labels);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `fn` until it returns true (or throw after timeoutMs). */
export async function waitUntil(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A TCP port that was free a moment ago (for child processes that need a fixed address). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
