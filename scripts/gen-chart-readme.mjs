#!/usr/bin/env node
// Regenerates the `## Parameters` table of charts/zt-authz/README.md from the `## @section` /
// `## @param` / `## @skip` comments of charts/zt-authz/values.yaml, with
// @bitnami/readme-generator-for-helm (which also fails when a value has no @param, so every value
// is documented). `--check` exits 1 when the checked-in README differs (the test suite checks the same).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOrCheck } from './generated-file.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(root, 'charts/zt-authz/README.md');
export const VALUES = join(root, 'charts/zt-authz/values.yaml');
export const REGENERATE = 'npm run gen:chart-readme';

/** The README the generator makes from `values` and the current README (its text outside the table is kept). */
export function chartReadme(values = VALUES, readme = OUT) {
  const dir = mkdtempSync(join(tmpdir(), 'zt-chart-readme-'));
  try {
    const copy = join(dir, 'README.md');
    copyFileSync(readme, copy);
    const bin = join(root, 'node_modules/@bitnami/readme-generator-for-helm/bin/index.js');
    const r = spawnSync(process.execPath, [bin, '--values', values, '--readme', copy], { encoding: 'utf8' });
    if (r.status !== 0) {
      const errors = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /ERROR/.test(l));
      throw new Error(`readme-generator-for-helm failed:\n${errors.join('\n') || r.stderr}`);
    }
    return readFileSync(copy, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    writeOrCheck(OUT, chartReadme(), REGENERATE);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
