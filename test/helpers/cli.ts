// Run the compiled `zt-authz` CLI as a separate process, like a user would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Exit code and output of `zt-authz ARGS` (never throws on a non-zero exit). */
export async function runCli(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const p = run(process.execPath, [CLI, ...args], { timeout: o.timeoutMs ?? 20000, ...(o.env ? { env: o.env } : {}) });
  if (o.input !== undefined) p.child.stdin!.end(o.input);
  try {
    const { stdout, stderr } = await p;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
