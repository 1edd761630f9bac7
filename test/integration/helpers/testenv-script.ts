// Runs one subcommand of a scripts/*-testenv.sh (up, down, env, ...): its output is collected for
// the caller and for the log-hygiene scan; stderr progress lines can be echoed as they come, since a
// cold build or first start takes minutes.
import { spawn } from 'node:child_process';
import { captureChildOutput } from '../../helpers/capture.js';

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runTestenvScript(
  script: string,
  label: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  echo: boolean,
): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(script, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (echo) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      captureChildOutput(`${label} ${args[0]}`, `${stdout}\n${stderr}`); // log hygiene
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
