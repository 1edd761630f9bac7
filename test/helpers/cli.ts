// Run the compiled `zt-authz` CLI as a separate process, like a user would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { captureChildOutput, type Printed } from './capture.js';

const run = promisify(execFile);
export const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Sub-commands whose stdout carries a token by design (the log-hygiene scan counts these as
 * exemptions instead of failing; the same token anywhere else still fails it).
 */
const PRINTS_TOKEN: Record<string, Printed> = {
  token: { reason: '`zt-authz token` prints the token it minted on stdout' },
};

/** Exit code and output of `zt-authz ARGS` (never throws on a non-zero exit). */
export async function runCli(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const p = run(process.execPath, [CLI, ...args], { timeout: o.timeoutMs ?? 20000, ...(o.env ? { env: o.env } : {}) });
  if (o.input !== undefined) p.child.stdin!.end(o.input);
  let res: CliResult;
  try {
    const { stdout, stderr } = await p;
    res = { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    res = { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
  const name = `zt-authz ${args[0] ?? ''}`;
  captureChildOutput(`${name} stdout`, res.stdout, PRINTS_TOKEN[args[0] ?? '']);
  captureChildOutput(`${name} stderr`, res.stderr);
  return res;
}
