// The operational log's field names and its redaction: the line envelope uses `logger` (a top-level
// `log` clashes with ECS's log.* object), and a credential under any of SECRET_KEYS is censored
// at every depth down to REDACT_DEPTH, in the logged object and in child bindings, and inside the
// text of grpc-js's own trace lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { REDACT_DEPTH, SECRET_KEYS, createAuditLogger, createLogger, redactPaths } from '../../../src/observe/log.js';
import { routeGrpcLogs } from '../../../src/observe/grpc-log.js';

const SECRET = 'sEcReT-VaLuE-0123456789';

function capture(): { lines: string[]; parsed: () => Array<Record<string, unknown>>; write(s: string): void } {
  const lines: string[] = [];
  return { lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), write: (s) => void lines.push(s) };
}

/** `{ a: { a: { ...{ [key]: value } } } }`, `depth` levels below the top. */
function nest(depth: number, key: string, value: unknown): Record<string, unknown> {
  let o: Record<string, unknown> = { [key]: value, keep: 'visible' };
  for (let d = 0; d < depth; d++) o = { [`l${d}`]: o };
  return o;
}

test('ops and audit lines name their stream `logger`, never `log`', () => {
  const ops = capture();
  createLogger('info', ops, { rateLimit: false }).info('ready');
  const audit = capture();
  createAuditLogger(audit).info({ v: 1 }, 'x');
  assert.equal(ops.parsed()[0]!.logger, 'ops');
  assert.equal(audit.parsed()[0]!.logger, 'audit');
  for (const l of [...ops.lines, ...audit.lines]) assert.doesNotMatch(l, /"log":/);
});

test('every SECRET_KEYS key is censored at the top level and at each depth down to REDACT_DEPTH', () => {
  const out = capture();
  const logger = createLogger('info', out, { rateLimit: false });
  for (const key of SECRET_KEYS)
    for (let depth = 0; depth <= REDACT_DEPTH; depth++) logger.info(nest(depth, key, `${SECRET}-${key}-${depth}`), `${key}@${depth}`);
  assert.equal(out.lines.length, SECRET_KEYS.length * (REDACT_DEPTH + 1));
  for (const line of out.lines) {
    assert.doesNotMatch(line, new RegExp(SECRET), line);
    assert.match(line, /"\[redacted\]"/, line);
    assert.match(line, /"keep":"visible"/, 'only the credential goes');
  }
});

test('credentials in arrays, in child bindings and in header maps as proxies send them', () => {
  const out = capture();
  const logger = createLogger('info', out, { rateLimit: false });
  logger.info({ issuers: [{ client_secret: SECRET }, { introspection: { clientSecret: SECRET } }] }, 'array');
  logger
    .child({ token: SECRET, req: { headers: { authorization: `Bearer ${SECRET}`, cookie: SECRET, 'x-api-key': SECRET } } })
    .info('child');
  logger.info({ request: { http: { headers: { 'set-cookie': SECRET, 'proxy-authorization': SECRET, 'x-request-id': 'r1' } } } }, 'headers');
  logger.info({ key: SECRET, jwks: { keys: [{ d: SECRET }] } }, 'old top-level names');
  assert.equal(out.lines.length, 4);
  for (const line of out.lines) assert.doesNotMatch(line, new RegExp(SECRET), line);
  assert.match(out.lines[2]!, /"x-request-id":"r1"/);
});

test('the documented limits hold as documented (so the comment next to the paths stays true)', () => {
  const out = capture();
  const logger = createLogger('info', out, { rateLimit: false });
  // One level deeper than REDACT_DEPTH: written as is. Callers must not log such objects.
  logger.info(nest(REDACT_DEPTH + 1, 'token', 'deep-value'), 'too deep');
  assert.match(out.lines[0]!, /"token":"deep-value"/);
  // Every path has at most REDACT_DEPTH wildcards, and the hyphenated header names use brackets.
  for (const p of redactPaths()) assert.ok((p.match(/\*/g) ?? []).length <= REDACT_DEPTH, p);
  assert.ok(redactPaths().includes('*.*["x-api-key"]'));
});

test('grpc-js trace text (GRPC_TRACE) is censored: metadata JSON and header dumps carry no credential', () => {
  const out = capture();
  const env = { verbosity: process.env.GRPC_VERBOSITY, node: process.env.GRPC_NODE_VERBOSITY };
  delete process.env.GRPC_VERBOSITY;
  delete process.env.GRPC_NODE_VERBOSITY;
  try {
    routeGrpcLogs(createLogger('debug', out, { rateLimit: false }));
    const metadata = {
      'content-type': ['application/grpc'],
      authorization: [`Bearer ${SECRET}]"`],
      'x-api-key': [SECRET],
      'x-request-id': ['r1'],
    };
    // What grpc-js's server_call and subchannel_call tracers print.
    grpc.experimental.log(
      grpc.logVerbosity.DEBUG,
      `Request to /envoy.service.auth.v3.Authorization/Check received headers ${JSON.stringify(metadata)}`,
    );
    grpc.experimental.log(
      grpc.logVerbosity.DEBUG,
      `Received server headers:\n:status: 200\nCookie: s=${SECRET}\ncontent-type: application/grpc`,
    );
  } finally {
    routeGrpcLogs(createLogger('silent', capture()));
    if (env.verbosity !== undefined) process.env.GRPC_VERBOSITY = env.verbosity;
    if (env.node !== undefined) process.env.GRPC_NODE_VERBOSITY = env.node;
  }
  const lines = out.parsed();
  assert.equal(lines.length, 2, out.lines.join(''));
  for (const l of out.lines) assert.doesNotMatch(l, new RegExp(SECRET), l);
  assert.equal(lines[0]!.component, 'grpc-js');
  assert.match(String(lines[0]!.msg), /"authorization":"\[redacted\]","x-api-key":"\[redacted\]","x-request-id":\["r1"\]/);
  assert.match(String(lines[1]!.msg), /\nCookie: \[redacted\]\ncontent-type: application\/grpc$/);
});
