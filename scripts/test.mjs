#!/usr/bin/env node
// `npm test`: one node:test run (scripts/run-ordered.mjs) over the test tiers in dist/test (one run and one summary as
// before; CI reads its closing `# tests / # pass / # fail` lines), with everything the suite prints
// captured for the log-hygiene check:
//  - a fresh capture directory is exported as ZT_TEST_CAPTURE_DIR to every test process; test
//    helpers write in-process app logs, child-process output and the secrets they mint there
//    (test/helpers/capture.ts);
//  - the runner's own stdout/stderr go to the terminal unchanged and are teed into that directory;
//  - test/final/log-hygiene.test.ts, the explicit last step (scripts/run-ordered.mjs keeps the order;
//    `node --test` would sort the files), waits for the other test files and scans it.
// The directory is removed after a passing run and kept (path printed first) after a failing one.
//
//   node scripts/test.mjs                         the whole suite
//   node scripts/test.mjs dist/test/a.test.js …   these files (+ the hygiene scan)
//   node scripts/test.mjs --test-name-pattern=x   extra flags: the `node --test` ones run-ordered.mjs knows
//
// Exit code: node --test's (128 + signal number when it was killed by a signal). SIGINT/SIGTERM are
// passed on to it.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TEST_DIR = 'dist/test';
// The two final steps, run after every tier and in this order (they wait for the other files of
// the run to finish, test/helpers/siblings.ts): the soak, which must run alone, then the
// log-hygiene scan over everything the whole run printed.
const SOAK = `${TEST_DIR}/final/soak.test.js`;
const HYGIENE = `${TEST_DIR}/final/log-hygiene.test.js`;

const args = process.argv.slice(2);
const isFile = (a) => !a.startsWith('-') && /\.(c|m)?js$/.test(a);
const flags = args.filter((a) => !isFile(a));
// Files given by the caller are relative to the caller's directory; node runs in the repo root.
let files = args.filter(isFile).flatMap((a) => expand(resolve(a)));
// The whole suite: the tiers in order, then the final steps. Integration first (real Keycloak and
// kube-apiserver): the Keycloak start (about 30 s of both cores) is then over long before the
// timing-sensitive files; the kube-apiserver files (one apiserver each, 3–5 s to start) follow it.
// Then unit (in-process, test/unit/<src folder>/) and e2e (zt-authz processes and third-party
// programs: nginx, Prometheus, helm, the CLI).
if (files.length === 0) {
  files = [
    ...expand(join(root, TEST_DIR, 'integration', 'keycloak.test.js')),
    ...expand(join(root, TEST_DIR, 'integration', 'k8s-*.test.js')),
    ...testFilesUnder(join(root, TEST_DIR, 'unit')),
    ...testFilesUnder(join(root, TEST_DIR, 'e2e')),
    join(root, SOAK),
  ];
}
// The whole suite, unfiltered: the hygiene scan then also checks that the capture is not
// suspiciously small (a capture hook lost).
const full = !args.some(isFile) && !flags.some((f) => /^--test-(name-pattern|skip-pattern|only)/.test(f));
// The scan runs with every selection, last, so a partial run checks its own output too.
files = files.filter((f) => basename(f) !== basename(HYGIENE));
if (existsSync(join(root, HYGIENE))) files.push(join(root, HYGIENE));

/** Every *.test.js below `dir`, sorted by path (a tier's folders mirror src/). */
function testFilesUnder(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // no such tier compiled
  }
  return entries
    .flatMap((e) =>
      e.isDirectory()
        ? e.name === 'helpers'
          ? []
          : testFilesUnder(join(dir, e.name))
        : e.name.endsWith('.test.js')
          ? [join(dir, e.name)]
          : [],
    )
    .sort();
}

/** node 20's --test takes no globs: expand `*` in the last path segment (a shell usually did). */
function expand(pattern) {
  if (!pattern.includes('*')) return [pattern];
  const dir = dirname(pattern);
  const re = new RegExp(
    `^${basename(pattern)
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')}$`,
  );
  let names = [];
  try {
    names = readdirSync(dir).filter((n) => re.test(n));
  } catch {
    // no such directory: node --test reports the missing file
  }
  return names.sort().map((n) => join(dir, n));
}

const capture = mkdtempSync(join(tmpdir(), 'zt-test-capture-'));
process.stderr.write(`[test] output captured for the log-hygiene scan in ${capture}\n`);

// scripts/run-ordered.mjs takes the `node --test` flags and keeps the files in this order.
const nodeArgs = [join(root, 'scripts', 'run-ordered.mjs')];
if (!flags.some((f) => f.startsWith('--test-concurrency'))) nodeArgs.push('--test-concurrency=2');
// Piped output would switch node to the TAP reporter; keep the terminal's usual spec reporter.
if (process.stdout.isTTY && !flags.some((f) => f.startsWith('--test-reporter')))
  nodeArgs.push('--test-reporter=spec', '--test-reporter-destination=stdout');
nodeArgs.push(...flags, ...files);

const env = { ...process.env, ZT_TEST_CAPTURE_DIR: capture, ZT_TEST_CAPTURE_FULL: full ? '1' : '' };
if (process.stdout.isTTY && env.FORCE_COLOR === undefined && env.NO_COLOR === undefined) env.FORCE_COLOR = '1';
const child = spawn(process.execPath, nodeArgs, { cwd: root, env, stdio: ['inherit', 'pipe', 'pipe'] });

const tee = (from, to, file) => {
  const out = createWriteStream(join(capture, file));
  from.on('data', (d) => {
    out.write(d);
    to.write(d);
  });
  return new Promise((done) => from.on('end', () => out.end(done)));
};
const teed = Promise.all([tee(child.stdout, process.stdout, 'runner.stdout.log'), tee(child.stderr, process.stderr, 'runner.stderr.log')]);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
}

child.on('error', (err) => {
  process.stderr.write(`[test] cannot run node --test: ${err.message}\n`);
  process.exit(1);
});
child.on('close', async (code, signal) => {
  await teed;
  const status = code ?? 128 + (constants.signals[signal] ?? 0);
  if (status === 0 && !process.env.ZT_TEST_KEEP_CAPTURE) rmSync(capture, { recursive: true, force: true });
  // Nothing is printed after node's summary: CI reads its closing lines.
  process.exitCode = status;
});
