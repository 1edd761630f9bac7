// The operational log's field names and its redaction: the line envelope uses `logger` (a top-level
// `log` clashes with ECS's log.* object), and a credential under any of SECRET_KEYS (any letter
// case) is censored at any depth, in the logged object, in errors and in child bindings, and
// inside the text of grpc-js's own trace lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { SECRET_KEYS, createAuditLogger, createLogger, redactPaths } from '../../../src/observe/log.js';
import { MAX_CENSOR_DEPTH, MAX_CENSOR_NODES, TOO_DEEP, TOO_LARGE } from '../../../src/observe/log-censor.js';
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

/** Depths tried for every key: the top, the four levels pino's paths once covered, and far below. */
const DEPTHS = [0, 1, 2, 3, 4, 5, 6, 9, 17, 40];

test('every SECRET_KEYS key is censored at any depth and in any letter case', () => {
  const out = capture();
  const logger = createLogger('info', out, { rateLimit: false });
  const spellings = (k: string): string[] => [k, k.toUpperCase(), k.charAt(0).toUpperCase() + k.slice(1)];
  let n = 0;
  for (const key of SECRET_KEYS)
    for (const spelled of spellings(key))
      for (const depth of DEPTHS) {
        logger.info(nest(depth, spelled, `${SECRET}-${key}-${depth}`), `${spelled}@${depth}`);
        n++;
      }
  assert.equal(out.lines.length, n);
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

test("deep credentials in arrays, errors, bindings and cycles; the caller's object is left untouched", () => {
  const out = capture();
  const logger = createLogger('info', out, { rateLimit: false });
  const logged = { a: { b: { c: { d: { e: { f: { headers: { Authorization: `Bearer ${SECRET}`, 'x-request-id': 'r1' } } } } } } } };
  const before = JSON.stringify(logged);
  logger.info(logged, 'deep headers');
  assert.equal(JSON.stringify(logged), before, 'censored in a copy, not in place');
  // Arrays inside arrays, far below the top.
  logger.info({ list: [[[[[[{ cfg: { issuers: [{ introspection: { clientSecret: SECRET } }] } }]]]]]] }, 'arrays');
  // An error's own enumerable properties (an HTTP client's request config), its cause, and an
  // AggregateError's errors: still written as errors (type, message, stack).
  const err = Object.assign(new Error('upstream said 401'), {
    config: { request: { options: { headers: { deep: { cookie: SECRET } } } } },
  });
  // An error held by an error (pino's serializer writes its properties) and one given as `cause`
  // (pino folds its message and stack into the outer one's).
  const inner = Object.assign(new TypeError('inner'), { req: { a: { b: { c: { d: { token: SECRET } } } } } });
  const withCause = Object.assign(new Error('outer', { cause: inner }), { upstream: inner });
  const agg = new AggregateError([err, withCause], 'several');
  logger.error(err, 'error props');
  logger.error({ err: withCause }, 'error cause');
  logger.error({ err: agg }, 'aggregate');
  // Child bindings, deep.
  logger.child({ ctx: { a: { b: { c: { d: { e: { api_key: SECRET } } } } } } }).info('child');
  const later = logger.child({ component: 'x' });
  later.setBindings({ ctx: { a: { b: { c: { d: { e: { 'X-API-KEY': SECRET } } } } } } });
  later.info('setBindings');
  // A cycle next to a deep credential: written, credential censored, cycle marked as pino does.
  const cyclic: Record<string, unknown> = { a: { b: { c: { d: { e: { password: SECRET } } } } } };
  (cyclic.a as Record<string, unknown>).self = cyclic;
  logger.info({ cyclic }, 'cycle');
  // A Buffer is written as pino writes it (not walked).
  logger.info({ a: { b: { c: { d: { e: { raw: Buffer.from('hi') } } } } } }, 'buffer');

  const lines = out.parsed();
  assert.equal(lines.length, 9);
  for (const l of out.lines) assert.doesNotMatch(l, new RegExp(SECRET), l);
  assert.match(out.lines[0]!, /"Authorization":"\[redacted\]","x-request-id":"r1"/);
  const errLine = lines[2]!.err as Record<string, unknown>;
  assert.equal(errLine.type, 'Error');
  assert.equal(errLine.message, 'upstream said 401');
  assert.match(String(errLine.stack), /upstream said 401/);
  assert.match(out.lines[3]!, /"message":"outer: inner"/);
  assert.match(out.lines[3]!, /"upstream":\{"type":"TypeError"/);
  assert.match(out.lines[3]!, /"token":"\[redacted\]"/);
  assert.match(out.lines[4]!, /"type":"AggregateError"/);
  assert.match(out.lines[4]!, /"cookie":"\[redacted\]"/);
  assert.match(out.lines[5]!, /"api_key":"\[redacted\]"/);
  assert.match(out.lines[6]!, /"X-API-KEY":"\[redacted\]"/);
  assert.match(out.lines[7]!, /"password":"\[redacted\]"/);
  assert.match(out.lines[7]!, /"self":"\[Circular\]"/);
  assert.match(out.lines[8]!, /"raw":\{"type":"Buffer","data":\[104,105\]\}/);
  assert.equal(inner.req.a.b.c.d.token, SECRET, "the caller's error is untouched");
});

test('what is too deep or too large to inspect is not written unread', () => {
  const out = capture();
  const logger = createLogger('info', out, { rateLimit: false });
  logger.info(nest(MAX_CENSOR_DEPTH + 5, 'token', SECRET), 'very deep');
  const wide = { items: Array.from({ length: MAX_CENSOR_NODES + 10 }, (_, i) => ({ i })), tail: { token: SECRET } };
  logger.info(wide, 'very large');
  for (const l of out.lines) assert.doesNotMatch(l, new RegExp(SECRET), l);
  assert.ok(out.lines[0]!.includes(JSON.stringify(TOO_DEEP)), out.lines[0]!.slice(0, 300));
  assert.ok(out.lines[1]!.includes(JSON.stringify(TOO_LARGE)));
  // pino's own paths are top-level names only (wildcard paths cost ~40x a log line).
  for (const p of redactPaths()) assert.ok(!p.includes('*'), p);
  assert.ok(redactPaths().includes('["x-api-key"]'));
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
