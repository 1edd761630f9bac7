// Table-driven policy conformance: test/conformance/*_test.yaml read as a spec. The files are policy
// test case files (docs/policy-tests.md): each document has an inline configuration (issuers whose
// keys the runner holds, policies, settings) and cases: a request in the `zt-authz check` request
// format, optional claims the runner signs, and the expected decision. They run through the same
// runner as `zt-authz test` (src/cli/policy-test/), so the project's cases and users' cases have
// one format and one runner: normalize → authenticate → policy → response shaping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { discoverCaseFiles, loadCaseFile } from '../../../src/cli/policy-test/cases.js';
import { runSuites } from '../../../src/cli/policy-test/runner.js';
import { failureText } from '../../../src/cli/policy-test/report.js';

const DIR = fileURLToPath(new URL('../../../../test/conformance/', import.meta.url));
// The files `zt-authz test test/conformance` finds, so the suite is exactly what users can run.
const files = discoverCaseFiles(DIR).map((f) => f.slice(DIR.length));
const results = await runSuites(
  files.flatMap((f) => loadCaseFile(`${DIR}${f}`)),
  { display: (f) => f.slice(DIR.length) },
);

for (const r of results)
  test(`${r.file}: ${r.suite.description ?? ''} — ${r.case.name}`, () => {
    assert.ok(r.pass, failureText(r));
  });

test('every YAML file in test/conformance/ is a case file `zt-authz test` discovers (*_test.yaml)', () => {
  const yaml = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
  assert.deepEqual([...files].sort(), yaml.sort());
});

test('the conformance suite has at least 80 cases, every one run', () => {
  const cases = files.flatMap((f) => loadCaseFile(`${DIR}${f}`)).reduce((n, s) => n + s.cases.length, 0);
  assert.equal(results.length, cases);
  assert.ok(results.length >= 80, `only ${results.length} cases`);
});

test('docs/policies.md states the current number of conformance cases', () => {
  const page = readFileSync(new URL('../../../../docs/policies.md', import.meta.url), 'utf8');
  const stated = /test\/conformance\/\)[^\n]*\n(\d+) request → decision cases/.exec(page);
  assert.ok(stated, 'docs/policies.md: "<n> request → decision cases" after the test/conformance/ link');
  assert.equal(Number(stated[1]), results.length, `docs/policies.md says ${stated[1]} cases; the suite has ${results.length}`);
});
