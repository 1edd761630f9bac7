// Run h2load against a gRPC endpoint with a pre-encoded request frame and parse its report.
// Two modes: timing-based (-D, optional --warm-up-time; the bench's throughput runs) and
// count-based (-n; the soak, where every request sent must be reconciled with the server's
// counters, so h2load must not abandon requests in flight when a duration runs out).
// Latency percentiles come from --log-file (one row per request: start µs, status, duration µs).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeMicros, type LatencySummary } from './util.js';
import { InternalError, InvalidArgumentError } from '../../src/errors.js';

export interface H2loadOptions {
  port: number;
  dataFile: string;
  path: string;
  clients: number;
  streams: number;
  /** Timing-based run (-D). Exactly one of durationS and requests. */
  durationS?: number;
  warmupS?: number;
  /** Count-based run (-n): this many requests across all clients, then exit. */
  requests?: number;
  /** Fixed rate: requests per second per client (h2load --rps). */
  rpsPerClient?: number;
  threads?: number;
  /** Kill h2load (SIGTERM) after this long; the run then fails. */
  timeoutMs?: number;
  /** Called with h2load's pid once it is spawned (CPU sampling). */
  onSpawn?: (pid: number) => void;
}

export interface H2loadResult {
  rps: number;
  /** Requests h2load planned (-n), and how many it completed (done = succeeded + failed). */
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status2xx: number;
  /** 3xx + 4xx + 5xx responses (a gRPC server answers 200 even for RPC errors). */
  statusOther: number;
  latency: LatencySummary;
  command: string;
  /** Measured window in seconds, as h2load reports it. */
  seconds: number;
}

export function h2load(o: H2loadOptions): Promise<H2loadResult> {
  if ((o.durationS === undefined) === (o.requests === undefined))
    throw new InvalidArgumentError('h2load: give exactly one of durationS and requests');
  const dir = mkdtempSync(join(tmpdir(), 'zt-h2load-'));
  const logFile = join(dir, 'requests.tsv');
  const args = [
    ...(o.requests !== undefined ? ['-n', String(o.requests)] : ['-D', `${Math.round(o.durationS! * 1000)}ms`]),
    ...(o.warmupS ? ['--warm-up-time', `${Math.round(o.warmupS * 1000)}ms`] : []),
    '-c',
    String(o.clients),
    '-m',
    String(o.streams),
    '-t',
    String(o.threads ?? 1),
    '-d',
    o.dataFile,
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    '--log-file',
    logFile,
    ...(o.rpsPerClient ? ['--rps', String(o.rpsPerClient)] : []),
    `http://127.0.0.1:${o.port}${o.path}`,
  ];
  const command = `h2load ${args.map((a) => (/[\s']/.test(a) ? `'${a}'` : a)).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = execFile(
      'h2load',
      args,
      { maxBuffer: 16 * 1024 * 1024, ...(o.timeoutMs ? { timeout: o.timeoutMs } : {}) },
      (err, stdout, stderr) => {
        try {
          if (err)
            throw new InternalError(
              `h2load failed${err.killed ? ` (killed after ${o.timeoutMs} ms)` : ''}: ${err.message}\n${stdout}\n${stderr}`,
            );
          const num = (re: RegExp): number => {
            const m = re.exec(stdout);
            if (!m) throw new InternalError(`h2load output not understood (${re}):\n${stdout}`);
            return Number(m[1]);
          };
          const seconds = parseDuration(/finished in ([\d.]+\w+),/.exec(stdout)?.[1] ?? '0s');
          // With -D and --warm-up-time, h2load logs (and counts) only the measurement phase.
          const lat: number[] = [];
          for (const r of readFileSync(logFile, 'utf8').split('\n')) {
            if (!r) continue;
            lat.push(Number(r.split('\t')[2]));
          }
          resolve({
            rps: num(/finished in [\d.]+\w+, ([\d.]+) req\/s/),
            total: num(/requests: (\d+) total/),
            done: num(/requests: \d+ total, \d+ started, (\d+) done/),
            succeeded: num(/requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/),
            failed: num(/requests: .* (\d+) failed/),
            errored: num(/requests: .* (\d+) errored/),
            timeout: num(/requests: .* (\d+) timeout/),
            status2xx: num(/status codes: (\d+) 2xx/),
            statusOther: num(/status codes: \d+ 2xx, (\d+) 3xx/) + num(/status codes: .* (\d+) 4xx/) + num(/status codes: .* (\d+) 5xx/),
            latency: summarizeMicros(lat),
            command,
            seconds,
          });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );
    if (child.pid !== undefined) o.onSpawn?.(child.pid);
  });
}

function parseDuration(s: string): number {
  const m = /^([\d.]+)(ms|us|s)$/.exec(s);
  if (!m) return 0;
  const v = Number(m[1]);
  return m[2] === 'ms' ? v / 1000 : m[2] === 'us' ? v / 1e6 : v;
}
