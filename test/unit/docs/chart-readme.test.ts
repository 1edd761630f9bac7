// charts/zt-authz/README.md's parameter table is generated from the `## @param` comments of
// values.yaml by @bitnami/readme-generator-for-helm (scripts/gen-chart-readme.mjs). The generator
// refuses a value without a @param, so a value added without one fails here too, as does a
// comment or default changed without regenerating.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

interface Generator {
  OUT: string;
  VALUES: string;
  REGENERATE: string;
  chartReadme(values?: string, readme?: string): string;
}
const generator = (): Promise<Generator> => import(pathToFileURL(join(ROOT, 'scripts/gen-chart-readme.mjs')).href) as Promise<Generator>;

test('charts/zt-authz/README.md is what the generator makes from values.yaml (every value documented)', async () => {
  const { OUT, REGENERATE, chartReadme } = await generator();
  const committed = readFileSync(OUT, 'utf8');
  let generated: string;
  try {
    generated = chartReadme();
  } catch (err) {
    assert.fail(
      `${(err as Error).message}\n(add a "## @param <key> <description>" comment above each new value in values.yaml, then run ${REGENERATE})`,
    );
  }
  assert.ok(committed === generated, `charts/zt-authz/README.md is stale: run ${REGENERATE}`);
  assert.match(committed, /\n## Parameters\n/);
  for (const key of [
    'extraEnv',
    'extraObjects',
    'commonLabels',
    'podSecurityContext',
    'containerSecurityContext',
    'crds.enabled',
    'crds.keep',
  ]) {
    assert.ok(committed.includes(`| \`${key}\``), `the table lists ${key}`);
  }
});

test('the check can fail: a value without @param is refused, a changed default makes the README stale', async () => {
  const { OUT, VALUES, chartReadme } = await generator();
  const dir = mkdtempSync(join(tmpdir(), 'zt-chart-readme-test-'));
  try {
    const values = readFileSync(VALUES, 'utf8');
    const undocumented = join(dir, 'undocumented.yaml');
    writeFileSync(undocumented, `${values}\nbrandNewValue: 1\n`);
    assert.throws(() => chartReadme(undocumented), /Missing metadata for key: brandNewValue/);
    const changed = join(dir, 'changed.yaml');
    writeFileSync(changed, values.replace(/^replicaCount: 2$/m, 'replicaCount: 7'));
    assert.notEqual(chartReadme(changed), readFileSync(OUT, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
