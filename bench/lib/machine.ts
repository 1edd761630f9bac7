// What a result was measured on (CPU, Node, OpenSSL, h2load, kernel), recorded with every bench
// and soak result: figures from a shared 2-vCPU box mean little without it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './util.js';

/** `h2load --version`, or undefined when it is not installed. */
export function h2loadVersion(): string | undefined {
  try {
    return execFileSync('h2load', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function machine(): Record<string, unknown> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  let version = '';
  try {
    version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    /* ignore */
  }
  return {
    nproc: cpus().length,
    cpuModel: model,
    node: process.version,
    openssl: process.versions.openssl,
    h2load: h2loadVersion() ?? 'missing',
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    ztAuthz: version,
    date: new Date().toISOString(),
  };
}
