// Every metric zt-authz registers is listed under "Metrics" in docs/observability.md (users alert on them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

test('docs/observability.md "Metrics" lists every zt_authz_* metric the code registers', () => {
  const src = readFileSync(new URL('../../../../src/observe/metrics.ts', import.meta.url), 'utf8');
  const names = [...src.matchAll(/name: '(zt_authz_[a-z_]+)'/g)].map((m) => m[1]!);
  assert.ok(names.length >= 15, `metric names parsed from metrics.ts: ${names.join(', ')}`);
  const page = readFileSync(new URL('../../../../docs/observability.md', import.meta.url), 'utf8');
  const section = /## Metrics\n([\s\S]*?)\n## /.exec(page)?.[1] ?? '';
  const missing = names.filter((n) => !section.includes(`\`${n}`));
  assert.deepEqual(missing, [], 'metrics missing from docs/observability.md "Metrics"');
});
