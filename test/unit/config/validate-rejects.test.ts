// `validate` rejects what `serve` would reject (both go through snapshot/checked-config.ts), warns
// on a configuration that denies everything, and keeps the YAML library's code frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig, checkConfigFile } from '../../../src/snapshot/checked-config.js';
import { configWarnings } from '../../../src/config/warnings.js';

const problemsOf = (raw: unknown): string => {
  try {
    checkConfig(raw);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};
const ALLOW = { name: 'allow-all', rules: [{}] };

test('a listen port above 65535 is refused (listen() would refuse it at start)', () => {
  assert.match(problemsOf({ server: { grpc: '0.0.0.0:99999' } }), /server\.grpc: must be host:port/);
  assert.match(problemsOf({ server: { admin: '127.0.0.1:65536' } }), /server\.admin: must be host:port/);
  assert.equal(problemsOf({ server: { grpc: '0.0.0.0:65535', http: ':0', admin: '127.0.0.1:0' }, policies: [ALLOW] }), '');
});

test('two listeners on one port (overlapping hosts) are refused; port 0 and distinct hosts are not', () => {
  assert.match(
    problemsOf({ server: { grpc: '0.0.0.0:9191', admin: '127.0.0.1:9191' } }),
    /server\.admin: 127\.0\.0\.1:9191 is the port of server\.grpc too/,
  );
  assert.match(problemsOf({ server: { grpc: ':9000', http: ':9000' } }), /server\.http: :9000 is the port of server\.grpc too/);
  assert.equal(problemsOf({ server: { grpc: '127.0.0.1:9000', http: '127.0.0.2:9000', admin: ':0' } }), '');
  assert.equal(problemsOf({ server: { grpc: ':0', http: ':0', admin: ':0' } }), '');
});

test('a configuration that can allow nothing gets a warning (not an error)', () => {
  const warn = (raw: Record<string, unknown>) =>
    configWarnings(checkConfig(raw).config)
      .filter((w) => w.path === 'policies')
      .map((w) => w.message);
  assert.deepEqual(warn({}), ['no policies: every request is denied (default deny)']);
  assert.deepEqual(warn({ policies: [{ name: 'd', action: 'DENY', rules: [{}] }] }), [
    'no ALLOW policy: every request is denied (default deny)',
  ]);
  assert.deepEqual(warn({ policies: [{ ...ALLOW, dryRun: true }] }), [
    'every ALLOW policy is dryRun: every request is denied (default deny)',
  ]);
  assert.deepEqual(warn({ policies: [ALLOW, { name: 'd', action: 'DENY', rules: [{}] }] }), []);
});

test('a YAML error names the file and keeps the line, column and code frame', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-yaml-'));
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, 'server:\n  grpc: "0.0.0.0:9191"\n issuers: []\n');
  assert.throws(
    () => checkConfigFile(file),
    (err: Error) => {
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /at line 3, column 1:/);
      assert.match(err.message, /\n {6,}grpc: "0\.0\.0\.0:9191"\n {6,}issuers: \[\]\n {6,}\^/, err.message);
      return true;
    },
  );
});
