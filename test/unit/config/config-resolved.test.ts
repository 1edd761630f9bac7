// Golden test of configuration resolution: the configurations the repository ships (examples/, the
// demo, chart-rendered ConfigMaps) and a set of small ones that reach every default and every
// problem, resolved and compared as JSON with what the code resolved when
// the fixture was written. Resolution is easy to change by accident (a default, a lower-casing, the
// order of the problems `validate` prints); this makes any such change visible.
// A deliberate change: ZT_UPDATE_GOLDEN=1 node scripts/test.mjs dist/test/unit/config/config-resolved.test.js
// rewrites the expected values; review the fixture diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../../../src/config/problems.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';

const FIXTURE = new URL('../../../../test/fixtures/config-resolved.json', import.meta.url);

interface Case {
  name: string;
  raw: unknown;
  /** The resolved Config, or the ConfigError (message and problems) it throws, as JSON. */
  expected?: unknown;
}

function outcome(c: Case): string {
  try {
    return JSON.stringify(checkConfig(c.raw, c.name).config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return JSON.stringify({ error: err.message, problems: err.problems });
  }
}

const cases = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Case[];

if (process.env.ZT_UPDATE_GOLDEN === '1') {
  for (const c of cases) c.expected = JSON.parse(outcome(c)) as unknown;
  writeFileSync(FIXTURE, `${JSON.stringify(cases, null, 1)}\n`);
}

test('every configuration resolves exactly as recorded (values, defaults, problems and their order)', () => {
  assert.ok(cases.length >= 40, `fixture holds ${cases.length} configurations`);
  // Compared as text: key order and every default included.
  for (const c of cases) assert.equal(outcome(c), JSON.stringify(c.expected), c.name);
});
