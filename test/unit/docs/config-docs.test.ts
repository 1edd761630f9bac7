// docs/configuration-reference.md is generated from the configuration schema; a schema change
// that is not regenerated leaves users reading keys, defaults or limits that are no longer true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

interface Generator {
  OUT: string;
  REGENERATE: string;
  configReferenceWithGaps(): Promise<{ text: string; gaps: string[] }>;
}
const generator = (): Promise<Generator> => import(pathToFileURL(join(ROOT, 'scripts/gen-config-docs.mjs')).href) as Promise<Generator>;

test('docs/configuration-reference.md is what scripts/gen-config-docs.mjs generates from the schema', async () => {
  const { OUT, REGENERATE, configReferenceWithGaps } = await generator();
  const { text } = await configReferenceWithGaps();
  const committed = readFileSync(OUT, 'utf8');
  assert.ok(committed === text, `docs/configuration-reference.md is stale: run ${REGENERATE}`);
});

test('every configuration key has a description in the schema', async () => {
  const { gaps } = await (await generator()).configReferenceWithGaps();
  assert.deepEqual(gaps, [], 'add a `description` to these keys in src/config/');
});

test('the reference lists the keys the guide relies on, with their defaults', async () => {
  const { text } = await (await generator()).configReferenceWithGaps();
  for (const row of [
    '| `server.grpc` | string | `"0.0.0.0:9191"`',
    '| `issuers[].audiences` |',
    '| `policies[].rules[].from[].source.principals` |',
    '| `paths.nonCanonical` | string | `"reject"`',
  ]) {
    assert.ok(text.includes(row), `missing: ${row}`);
  }
});
