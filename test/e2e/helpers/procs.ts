// Child processes for the end-to-end suite: locate system binaries, spawn with captured output,
// wait for readiness, and always clean up (SIGTERM, then SIGKILL; also on process exit).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { captureChild, captureChildOutput } from '../../helpers/capture.js';

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Absolute path of an executable on PATH (plus the sbin directories nginx lives in), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * Why the e2e suite cannot run here, or undefined when it can. In CI (CI=true) missing binaries
 * are a failure, not a skip: .ci/run installs them through scripts/ci-deps.sh.
 */
export function missingBinaries(names: string[]): string | undefined {
  const missing = names.filter((n) => !findBinary(n));
  if (!missing.length) return undefined;
  const msg = `missing ${missing.join(', ')}: install with \`sudo scripts/ci-deps.sh nginx prometheus\` (Debian packages nginx, prometheus)`;
  if (process.env.CI === 'true') throw new Error(`[e2e] ${msg}; CI must install them (.ci/run → scripts/ci-deps.sh)`);
  return msg;
}

const live = new Set<ChildProcess>();
// Last resort if a test dies without its cleanup: SIGTERM lets nginx take its workers down too.
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});

export interface Proc {
  name: string;
  child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export function startProc(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  captureChild(name, child); // log hygiene (test/final/log-hygiene.test.ts)
  live.add(child);
  let out = '';
  const MAX = 1 << 20;
  const add = (d: Buffer) => {
    if (out.length < MAX) out += d.toString();
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  const exited = new Promise<number | string | null>((resolve) => {
    child.on('error', (err) => {
      out += `\n[spawn error] ${err.message}`;
      live.delete(child);
      resolve('spawn-error');
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal);
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    name,
    child,
    output: () => out,
    exited,
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null || !live.has(child)) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** Poll an HTTP URL until `ok(status)`; throws with the process output when it never gets there. */
export async function waitForHttp(
  url: string,
  proc: Proc | undefined,
  timeoutMs = 15000,
  ok: (status: number) => boolean = (s) => s === 200,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${url} answered:\n${proc.output()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (ok(res.status)) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${url} (${last})${proc ? `\n${proc.name} output:\n${proc.output()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Run a command to completion with stdin; returns status and combined output. */
export function runSync(cmd: string, args: string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 20000 });
  captureChildOutput(`${cmd} ${args[0] ?? ''}`, `${r.stdout ?? ''}\n${r.stderr ?? ''}`); // log hygiene
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}

/** Poll until something accepts TCP connections on 127.0.0.1:port (no request is sent). */
export async function waitForPort(port: number, proc: Proc, timeoutMs = 10000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`${proc.name} exited before listening on ${port}:\n${proc.output()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${proc.name} on port ${port}:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
