// Bounded logging under load (src/observe/log.ts): a real `zt-authz serve` whose stdout reader
// stalls (a log collector that stops reading the pipe) keeps answering Checks, its memory stays
// bounded, and the lines it could not buffer are counted on /metrics; when the reader resumes,
// log lines flow again. Also: repeated operational warnings are rate-limited per message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestIdp } from '../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll } from '../helpers/grpc-client.js';
import { captureStream, freePort, readMetric, waitUntil } from '../helpers/app.js';
import { captureChild } from '../helpers/capture.js';
import { CLI } from '../helpers/cli.js';
import { createLogger, type DropListener } from '../../src/observe/log.js';

/** Resident set size of a process, in bytes (Linux). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

const MiB = 1024 * 1024;
const BOUND = 1 * MiB;
/** Claims recorded in every audit line (audit.claims): ~40 KB of audit record per deny. */
const FAT_CLAIMS = ['g0', 'g1', 'g2'];
const fatList = (c: string): string[] => Array.from({ length: 56 }, (_, i) => `${c} member ${i} `.padEnd(240, '. ').slice(0, 240));

test('serve: a stalled stdout reader cannot grow memory; drops are counted; Checks keep being answered', { timeout: 120_000 }, async () => {
  const idp = await TestIdp.start({ audience: 'orders' });
  const grpcPort = await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zt-log-bounds-'));
  const cfg = join(dir, 'config.yaml');
  // Every Check is denied (403) with a verified identity, so every one is audited (denies are
  // never sampled) with the fat claims: a lot of log volume for few requests.
  writeFileSync(
    cfg,
    `server: { grpc: "127.0.0.1:${grpcPort}", admin: "127.0.0.1:${adminPort}", http: "127.0.0.1:0", drainSeconds: 2 }
issuers:
  - { issuer: "${idp.issuer}", jwksUri: "${idp.jwksUri}", audiences: [orders] }
limits: { maxTokenBytes: 65536 }
audit: { claims: [${FAT_CLAIMS.join(', ')}] }
log: { maxBufferBytes: ${BOUND} }
policies:
  - { name: admins-only, rules: [{ when: [{ key: "request.auth.claims[role]", values: [admin] }] }] }
`,
  );
  const token = await idp.sign(Object.fromEntries(FAT_CLAIMS.map((c) => [c, fatList(c)])));
  // V8's young generation is pinned (two 16 MiB semi-spaces, Node 20's most): left to grow, it
  // reaches a size that depends on the Node version (Node 24 goes on to 64 MiB under this load,
  // after the baseline), and that growth would read as log data held.
  const child = spawn(process.execPath, ['--min-semi-space-size=16', '--max-semi-space-size=16', CLI, 'serve', '--config', cfg], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  captureChild('zt-authz serve (log bounds)', child);
  // The runner stops a file with SIGTERM (Ctrl-C, a timeout): do not leave the server behind.
  const reap = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onSignal = (): void => {
    reap();
    process.exit(143);
  };
  process.once('exit', reap);
  process.once('SIGTERM', onSignal);
  let stdoutBytes = 0;
  let marker = '';
  child.stdout.on('data', (d: Buffer) => {
    stdoutBytes += d.length;
    // Only keep what is needed to see the marker line after resuming.
    marker = (marker + d.toString('latin1')).slice(-200_000);
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const auth = authV3Client(grpcPort);
  const deny = async (path: string, timeoutMs = 10_000): Promise<number> => {
    const res = await check(auth, checkRequest({ token, path }), timeoutMs);
    return res.status?.code ?? -1;
  };
  /** `n` denied Checks, 25 at a time; returns the slowest answer's time (ms). */
  const load = async (n: number, path: string): Promise<number> => {
    let worst = 0;
    for (let sent = 0; sent < n;) {
      const batch = Array.from({ length: Math.min(25, n - sent) }, async () => {
        const t0 = Date.now();
        const code = await deny(path);
        worst = Math.max(worst, Date.now() - t0);
        return code;
      });
      const codes = await Promise.all(batch);
      assert.ok(
        codes.every((c) => c === 7),
        `every Check answered PERMISSION_DENIED (${path})`,
      );
      sent += batch.length;
    }
    return worst;
  };
  try {
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 200,
      20_000,
      'serve ready',
    );
    // Warm up while stdout is read: the record is as fat as intended, the token cache is warm.
    assert.equal(await deny('/warm-up'), 7, 'PERMISSION_DENIED');
    await waitUntil(() => marker.includes('"path":"/warm-up"'), 10_000, 'warm-up audit line on stdout');
    const line = marker.slice(marker.lastIndexOf('{"level"', marker.indexOf('"path":"/warm-up"')));
    const lineBytes = line.indexOf('\n') > 0 ? line.indexOf('\n') : line.length;
    assert.ok(lineBytes > 30_000, `fat audit line (${lineBytes} bytes)`);
    // …and under the same load as below, so the heap has grown to its working size before the
    // baseline is taken (what remains is what the stall adds).
    await load(200, '/warm-up');
    const before = rss(child.pid!);

    // The collector stalls.
    child.stdout.pause();
    const bytesAtPause = stdoutBytes;
    const N = 800;
    const written = N * lineBytes; // what the server tries to log while nobody reads
    const worst = await load(N, '/during-stall');
    const after = rss(child.pid!);
    const dropped = await readMetric(adminPort, 'zt_authz_log_dropped_total', { log: 'audit', reason: 'buffer_full' });
    const t0 = Date.now();
    assert.equal(await deny('/probe'), 7);
    const probeMs = Date.now() - t0;
    const growth = after - before;
    const figures = `${N} denies × ${lineBytes} B = ${(written / MiB).toFixed(0)} MiB of audit log while stalled; ${dropped} dropped; RSS ${(before / MiB).toFixed(0)} → ${(after / MiB).toFixed(0)} MiB (growth ${(growth / MiB).toFixed(1)} MiB); slowest Check ${worst} ms, probe ${probeMs} ms`;
    process.stderr.write(`[log-bounds] ${figures}\n`);
    assert.equal(stdoutBytes - bytesAtPause < 2 * MiB, true, 'the test really stopped reading');
    assert.ok(dropped > N / 2, `most audit lines were dropped, not buffered: ${figures}`);
    // Unbounded, the process holds what it could not write: measured growth ≈ 2 × `written`
    // (strings plus their concatenation). Bounded it holds at most log.maxBufferBytes more, plus
    // allocator noise (measured ≈ 10 MiB).
    assert.ok(growth < written / 2, `RSS stays bounded: ${figures}`);
    assert.ok(probeMs < 5000, `a Check is answered promptly while stdout is stalled: ${figures}`);

    // The collector resumes: buffered lines drain and new lines are written again.
    child.stdout.resume();
    await waitUntil(
      async () => (await deny('/after-resume'), marker.includes('"path":"/after-resume"')),
      20_000,
      'audit lines flow again after resuming',
    );
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    closeAll(auth);
    reap();
    process.off('exit', reap);
    process.off('SIGTERM', onSignal);
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('repeated operational warnings are rate-limited per message, counted, and summarised', async () => {
  const lines: string[] = [];
  let clock = 1_000_000;
  const drops: string[] = [];
  const onDrop: DropListener = (log, reason) => drops.push(`${log}/${reason}`);
  const logger = createLogger('info', captureStream(lines), { onDrop, rateLimit: { perMessage: 5, windowMs: 10_000, now: () => clock } });
  for (let i = 0; i < 100; i++) logger.warn({ err: `boom ${i}` }, 'webhook: body is not JSON');
  for (let i = 0; i < 3; i++) logger.error('another message');
  for (let i = 0; i < 50; i++) logger.info('info lines are not limited');
  const recs = (): Array<Record<string, unknown>> => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(recs().filter((r) => r.msg === 'webhook: body is not JSON').length, 5);
  assert.equal(recs().filter((r) => r.msg === 'another message').length, 3, 'other messages keep their own budget');
  assert.equal(recs().filter((r) => r.msg === 'info lines are not limited').length, 50);
  assert.equal(drops.length, 95);
  assert.ok(drops.every((d) => d === 'ops/rate_limited'));
  // The next window: one summary line, then the message is logged again.
  clock += 10_000;
  logger.warn('webhook: body is not JSON');
  const summary = recs().find((r) => typeof r.msg === 'string' && r.msg.startsWith('repeated log line suppressed'));
  assert.ok(summary, lines.join('\n'));
  assert.equal(summary.suppressed, 95);
  assert.match(summary.msg as string, /webhook: body is not JSON/);
  assert.equal(recs().filter((r) => r.msg === 'webhook: body is not JSON').length, 6);
});

test('rate limit: a summary is written at the end of the window even if the message never recurs', async () => {
  const lines: string[] = [];
  const logger = createLogger('info', captureStream(lines), { rateLimit: { perMessage: 1, windowMs: 200 } });
  for (let i = 0; i < 4; i++) logger.warn('JWKS fetch failed; keeping last-known-good keys');
  assert.equal(lines.length, 1);
  await waitUntil(() => lines.some((l) => l.includes('repeated log line suppressed 3 time(s)')), 5000, 'summary line');
});
