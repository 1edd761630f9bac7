#!/usr/bin/env node
// The test runner process of `npm test` (started by scripts/test.mjs): node:test's run() over the
// files in the order given. `node --test FILE…` sorts its files by path before running them (Node
// 20, checked), which would start the final steps (test/final/: the soak, then the log-hygiene
// scan) before the unit tier; run() keeps the order, so the final steps start last by construction.
// Each file still runs in its own child process, as under `node --test`, and the reporter prints
// one summary for the whole run. Flags are the `node --test` ones scripts/test.mjs passes on:
//   --test-concurrency=N  --test-name-pattern=RE (repeatable)  --test-only  --test-timeout=MS
//   --test-reporter=spec|tap|dot  --test-reporter-destination=stdout (the only destination)
import { run } from 'node:test';
import * as reporters from 'node:test/reporters';

const args = process.argv.slice(2);
const files = [];
const opts = { concurrency: 2, testNamePatterns: [] };
let reporter = 'tap';
for (const a of args) {
  const [flag, value = ''] = a.split(/=(.*)/s, 2);
  if (!a.startsWith('--')) files.push(a);
  else if (flag === '--test-concurrency') opts.concurrency = Number(value);
  else if (flag === '--test-name-pattern') opts.testNamePatterns.push(value);
  else if (flag === '--test-only') opts.only = true;
  else if (flag === '--test-timeout') opts.timeout = Number(value);
  else if (flag === '--test-reporter') reporter = value;
  else if (flag === '--test-reporter-destination' && value === 'stdout') continue;
  else {
    process.stderr.write(`[test] unsupported flag for the ordered runner: ${a}\n`);
    process.exit(2);
  }
}
if (!opts.testNamePatterns.length) delete opts.testNamePatterns;
const report = reporters[reporter];
if (!report) {
  process.stderr.write(`[test] unknown reporter ${reporter} (spec, tap or dot)\n`);
  process.exit(2);
}

// SIGINT/SIGTERM (passed on by scripts/test.mjs) cancel the run, which stops the file processes.
const abort = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => abort.abort());

const stream = run({ ...opts, files, signal: abort.signal });
// As `node --test`: any failed test (todo tests aside) makes the run fail.
stream.on('test:fail', (t) => {
  if (!t.todo) process.exitCode = 1;
});
stream.compose(typeof report === 'function' ? report : new report()).pipe(process.stdout);
