#!/usr/bin/env node
// One-step set-up used by `npm start` and `npm test` (prestart/pretest): installs dependencies
// when node_modules is missing or older than the lockfile, then compiles TypeScript.
// Kept dependency-free: it runs before anything is installed.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });

const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.error('[setup] installing dependencies (npm ci)…');
  run(npm, ['ci', '--no-audit', '--no-fund']);
}
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
console.error('[setup] compiling TypeScript…');
run(process.execPath, [tsc, '-p', 'tsconfig.json']);
