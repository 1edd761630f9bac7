#!/usr/bin/env node
// Writes deploy/crds/zero-trust-policy.yaml from the policy schema (src/k8s/crd.ts).
// `--check` exits 1 when the checked-in file differs (the test suite checks the same).
// Needs a build first (npm run build).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { renderCrdYaml } = await import(join(root, 'dist/src/k8s/crd.js'));
const out = join(root, 'deploy/crds/zero-trust-policy.yaml');
const text = renderCrdYaml();
if (process.argv.includes('--check')) {
  let cur = '';
  try {
    cur = readFileSync(out, 'utf8');
  } catch {
    // not generated yet: stale
  }
  if (cur !== text) {
    console.error(`${out} is out of date: run npm run build && node scripts/gen-crd.mjs`);
    process.exit(1);
  }
  console.log(`${out}: up to date`);
} else {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  console.log(`wrote ${out}`);
}
