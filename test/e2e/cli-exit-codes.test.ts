// The CLI contract scripts rely on: every command answers --help / -h / `help CMD` with its usage
// (exit 0), and the exit-code classes are the same everywhere: 0 allow/ok, 1 deny/invalid,
// 2 usage error, 3 runtime error. The command list comes from the top-level usage, so a command
// added to main.ts's COMMANDS is covered here without editing this file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const SHOP = `${ROOT}examples/policies/shop.yaml`;
const REQ = (f: string) => `${ROOT}examples/requests/${f}`;
const dir = mkdtempSync(join(tmpdir(), 'zt-cli-exit-'));
const INVALID = join(dir, 'invalid.yaml');
writeFileSync(INVALID, 'server: { grpc: 12 }\n');
const MISSING = join(dir, 'missing.yaml');

const env = { ...process.env };
delete env.ZT_AUTHZ_CONFIG;
const cli = (args: string[]): Promise<CliResult> => runCli(args, { env });

/** Run `cases` at most `n` at a time (each one is a node process). */
async function pool<T, R>(cases: readonly T[], n: number, fn: (c: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < cases.length) {
        const i = next++;
        out[i] = await fn(cases[i]!);
      }
    }),
  );
  return out;
}

async function commandNames(): Promise<string[]> {
  const top = await cli(['--help']);
  assert.equal(top.code, 0, top.stderr);
  const names = [...new Set([...top.stdout.matchAll(/^ {2}zt-authz ([a-z][-a-z]*)/gm)].map((m) => m[1]!))];
  assert.ok(names.length >= 9, `commands listed: ${names.join(', ')}`);
  return names;
}

test('every command: --help, -h and `help CMD` exit 0 with its usage and exit codes on stdout', async () => {
  const names = await commandNames();
  const forms = names.flatMap((n) => [
    [n, '--help'],
    [n, '-h'],
    ['help', n],
    [n, 'x', '--help'],
  ]);
  const results = await pool(forms, 4, cli);
  forms.forEach((args, i) => {
    const r = results[i]!;
    const name = args[0] === 'help' ? args[1]! : args[0]!;
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage:\\n {2}zt-authz ${name}\\b`), args.join(' '));
    assert.match(r.stdout, /\nExit codes:\n {2}0 {2}\S/, args.join(' '));
    assert.equal(r.stderr, '', args.join(' '));
  });
});

test('usage errors exit 2: unknown command, unknown flag on every command, missing argument', async () => {
  const names = await commandNames();
  const cases: string[][] = [
    [],
    ['no-such-command'],
    ['help', 'no-such-command'],
    ...names.map((n) => [n, '--no-such-flag']),
    ['validate'],
    ['serve'],
    ['serve', '--config', SHOP, '--workers', 'zero'],
    ['check', '--config', SHOP],
    ['policy'],
    ['policy', 'replay', '--from', MISSING],
    ['apikey', 'new'],
    ['revoke'],
    ['token', '--ttl', 'soon'],
  ];
  const results = await pool(cases, 4, cli);
  cases.forEach((args, i) => {
    const r = results[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.notEqual(r.stderr, '', `${args.join(' ')} says why on stderr`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
  });
});

test('0 allow/ok and 1 deny/invalid', async () => {
  const allow = await cli(['check', '--config', SHOP, '--request', REQ('frontend-reads-order.yaml')]);
  assert.equal(allow.code, 0, allow.stderr);
  const deny = await cli(['check', '--config', SHOP, '--request', REQ('order-without-scope.yaml')]);
  assert.equal(deny.code, 1, deny.stderr);
  const valid = await cli(['validate', SHOP]);
  assert.equal(valid.code, 0, valid.stderr);
  const invalid = await cli(['validate', INVALID]);
  assert.equal(invalid.code, 1, invalid.stderr);
  assert.match(invalid.stderr, /server\.grpc: must be string/);
  // server.tls files that are not there: invalid (serve could not start), and the message says
  // how to validate the rest where the Secret is not mounted; --skip-tls-files does that.
  const tls = join(dir, 'tls.yaml');
  writeFileSync(tls, `server: { tls: { certFile: ${join(dir, 'absent.crt')}, keyFile: ${join(dir, 'absent.key')} } }\n`);
  const tlsAbsent = await cli(['validate', tls]);
  assert.equal(tlsAbsent.code, 1, tlsAbsent.stderr);
  assert.match(tlsAbsent.stderr, /server\.tls\.certFile: .*absent\.crt: cannot read \(ENOENT\)/);
  assert.match(tlsAbsent.stderr, /where they are not mounted \(CI, chart rendering\), run validate --skip-tls-files/);
  const tlsSkipped = await cli(['validate', '--skip-tls-files', tls]);
  assert.equal(tlsSkipped.code, 0, tlsSkipped.stderr);
  assert.match(tlsSkipped.stdout, /OK \(.*; server\.tls files not read\)/);
  const serveInvalid = await cli(['serve', '--config', INVALID]);
  assert.equal(serveInvalid.code, 1, serveInvalid.stderr);
  const revoke = await cli(['revoke', '--api-key-sha256', 'a'.repeat(64)]);
  assert.equal(revoke.code, 0, revoke.stderr);
});

test('3 runtime error: unreadable files, unreachable server, a config check cannot decide on', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['validate', MISSING], /cannot read: ENOENT/],
    [['serve', '--config', MISSING], /cannot read: ENOENT/],
    [['check', '--config', MISSING, '--request', REQ('frontend-reads-order.yaml')], /cannot read: ENOENT/],
    [['check', '--config', INVALID, '--request', REQ('frontend-reads-order.yaml')], /server\.grpc: must be string/],
    [['check', '--config', SHOP, '--request', MISSING], /ENOENT/],
    [['send', '--addr', '127.0.0.1:1', '--timeout', '2000'], /is zt-authz listening on 127\.0\.0\.1:1/],
    [['token', '--key', MISSING, '--iss', 'https://idp.example'], /ENOENT/],
    [['policy', 'generate', '--from', MISSING], /ENOENT/],
    [['policy', 'replay', '--config', INVALID, '--from', MISSING], /server\.grpc: must be string/],
  ];
  const results = await pool(cases, 4, ([args]) => cli(args));
  cases.forEach(([args, why], i) => {
    const r = results[i]!;
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
  });
});
