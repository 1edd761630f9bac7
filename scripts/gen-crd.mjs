#!/usr/bin/env node
// Writes deploy/crds/zero-trust-policy.yaml from the policy schema (src/k8s/crd.ts) and
// deploy/crds/token-revocation.yaml (src/k8s/revocations.ts); the chart's crds/ links to both.
// `--check` exits 1 when a checked-in file differs (the test suite checks the same).
// Needs a build first (npm run build).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOrCheck } from './generated-file.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { renderCrdYaml } = await import(join(root, 'dist/src/k8s/crd.js'));
const { renderRevocationCrdYaml } = await import(join(root, 'dist/src/k8s/revocations.js'));
for (const [file, text] of [
  ['deploy/crds/zero-trust-policy.yaml', renderCrdYaml()],
  ['deploy/crds/token-revocation.yaml', renderRevocationCrdYaml()],
]) {
  writeOrCheck(join(root, file), text, 'npm run build && node scripts/gen-crd.mjs');
}
