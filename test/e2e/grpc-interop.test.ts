// gRPC interop with clients that share no code with either server implementation:
//  - Python grpcio (gRPC's C core, the client Envoy's google_grpc ext_authz client is built on):
//    v3 and v2 Check (allow and both kinds of deny), a burst of concurrent Checks on one
//    connection, health Check and Watch, an unknown method; over plaintext, TLS and mTLS. The
//    client (test/e2e/helpers/grpcio_client.py) compiles proto/ with grpc_tools.protoc at run time.
//  - h2load and nghttp (nghttp2, a third HTTP/2 stack): Envoy-shaped Check frames
//    (bench/lib/frames.ts); every response is HTTP 200 and the trailers say grpc-status 0, none
//    fails, and the server decided exactly the requests h2load sent.
// grpc-js, the third client, is the one every other gRPC suite uses.
// Needs the Debian packages python3-grpcio, python3-grpc-tools and nghttp2-client
// (scripts/ci-deps.sh): without them the suites are skipped with a message; under CI=true a
// missing one fails.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../helpers/app.js';
import { TestIdp } from '../helpers/idp.js';
import { TestCa } from '../helpers/certs.js';
import { captureChild } from '../helpers/capture.js';
import { describeGrpc, withGrpc } from '../helpers/grpc-impls.js';
import { findBinary } from './helpers/procs.js';
import { REPO_ROOT } from './helpers/docs-snippets.js';
import { CHECK_PATH_V3, encodeCheckRequest, envoyCheckRequest, grpcFrame } from '../../bench/lib/frames.js';
import { h2load } from '../../bench/lib/h2load.js';

const CLIENT = join(REPO_ROOT, 'test/e2e/helpers/grpcio_client.py');
const PROTO_DIR = join(REPO_ROOT, 'proto');
const inCi = process.env.CI === 'true';

/**
 * A python3 that imports grpc and grpc_tools. The Debian packages install into the system
 * interpreter, which a pyenv or venv `python3` first on PATH does not see, so that one is tried first.
 */
function findPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import grpc, grpc_tools.protoc'], { stdio: 'ignore', timeout: 30_000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

const PYTHON = findPython();
const NO_PYTHON = PYTHON
  ? undefined
  : 'Python grpcio / grpc_tools (Debian python3-grpcio, python3-grpc-tools) are not installed: scripts/ci-deps.sh python3-grpcio python3-grpc-tools';
const NO_NGHTTP2 =
  findBinary('h2load') && findBinary('nghttp')
    ? undefined
    : 'h2load / nghttp (Debian nghttp2-client) are not installed: scripts/ci-deps.sh nghttp2-client';
for (const why of [NO_PYTHON, NO_NGHTTP2]) if (why && !inCi) process.stderr.write(`\n*** grpc-interop: SKIPPED outside CI: ${why} ***\n\n`);
const skipUnless = (why: string | undefined): string | false => (why && !inCi ? `${why} (skipped outside CI)` : false);

const POLICIES = [
  {
    name: 'api-users',
    action: 'ALLOW',
    rules: [{ from: [{ source: { requestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/api/*'] } }] }],
  },
];

interface CheckOutcome {
  rpc: string;
  details?: string;
  code?: number;
  message?: string;
  response?: 'ok_response' | 'denied_response' | null;
  headers?: Record<string, string>;
  headersToRemove?: string[];
  httpStatus?: number;
  reason?: string;
  tally?: Record<string, number>;
  status?: string;
}

interface PyReport {
  grpcio: string;
  protobuf: string;
  results: CheckOutcome[];
}

interface PyPlan {
  target: string;
  tls?: { ca: string; cert?: string; key?: string; serverName: string };
  calls: Array<Record<string, unknown>>;
}

/** Run the Python client over `plan`; its stdout (JSON) parsed. */
function runPython(plan: PyPlan): Promise<PyReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON!, [CLIENT], { stdio: ['pipe', 'pipe', 'pipe'] });
    captureChild('grpcio client', child); // log hygiene: the plan holds tokens, the output must not
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`grpcio client exited ${code ?? signal}: ${err.slice(0, 2000)}`));
      try {
        resolve(JSON.parse(out) as PyReport);
      } catch {
        reject(new Error(`grpcio client printed no JSON: ${out.slice(0, 500)} ${err.slice(0, 1000)}`));
      }
    });
    child.stdin.end(JSON.stringify({ protoDir: PROTO_DIR, ...plan }));
  });
}

/** The calls every listener variant answers the same way; `token` is valid for the IdP. */
function standardCalls(token: string): Array<Record<string, unknown>> {
  const auth = { authorization: `Bearer ${token}` };
  return [
    { kind: 'check', version: 'v3', path: '/api/orders', headers: auth },
    { kind: 'check', version: 'v3', path: '/api/orders' },
    { kind: 'check', version: 'v3', path: '/admin', headers: auth },
    { kind: 'check', version: 'v2', path: '/api/orders', headers: auth },
    { kind: 'check', version: 'v2', path: '/api/orders' },
    { kind: 'burst', version: 'v3', count: 40, path: '/api/orders', headers: auth },
    { kind: 'health', service: '' },
    { kind: 'watch', service: '' },
    { kind: 'unknown-method' },
  ];
}

function assertStandard(report: PyReport, what: string): void {
  const [allow, missing, forbidden, allowV2, missingV2, burst, health, watch, unknown] = report.results;
  const show = (o: unknown): string => `${what}: ${JSON.stringify(o)}`;
  assert.equal(allow?.rpc, 'OK', show(allow));
  assert.equal(allow.code, 0, show(allow));
  assert.equal(allow.response, 'ok_response', show(allow));
  assert.equal(allow.headers?.['x-auth-subject'], 'alice', show(allow));
  assert.ok(allow.headersToRemove?.includes('authorization'), show(allow));
  assert.equal(missing?.rpc, 'OK', show(missing));
  assert.equal(missing.code, 16, show(missing)); // UNAUTHENTICATED in google.rpc.Status
  assert.equal(missing.response, 'denied_response', show(missing));
  assert.equal(missing.httpStatus, 401, show(missing));
  assert.equal(missing.reason, 'token_missing', show(missing));
  assert.equal(forbidden?.code, 7, show(forbidden)); // PERMISSION_DENIED
  assert.equal(forbidden.httpStatus, 403, show(forbidden));
  assert.equal(forbidden.reason, 'no_policy_matched', show(forbidden));
  assert.equal(allowV2?.rpc, 'OK', show(allowV2));
  assert.equal(allowV2.code, 0, show(allowV2));
  assert.equal(allowV2.response, 'ok_response', show(allowV2));
  assert.equal(missingV2?.code, 16, show(missingV2));
  assert.equal(missingV2.httpStatus, 401, show(missingV2));
  assert.deepEqual(burst?.tally, { 'OK/0': 40 }, show(burst));
  assert.deepEqual(health, { rpc: 'OK', status: 'SERVING' }, show(health));
  assert.deepEqual(watch, { rpc: 'OK', status: 'SERVING' }, show(watch));
  assert.equal(unknown?.rpc, 'UNIMPLEMENTED', show(unknown));
}

let idp: TestIdp;
let token: string;
const dir = mkdtempSync(join(tmpdir(), 'zt-interop-'));
const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
const clientFiles = { cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
const otherFiles = { ca: join(dir, 'other-ca.crt') };

before(async () => {
  idp = await TestIdp.start();
  token = await idp.sign({ sub: 'alice' });
  const ca = new TestCa(join(dir, 'pki'), 'interop-ca');
  const server = ca.issue('server', 'zt-authz');
  const client = ca.issue('client', 'envoy');
  const other = new TestCa(join(dir, 'pki-other'), 'other-ca');
  writeFileSync(files.ca, ca.cert);
  writeFileSync(files.cert, server.cert);
  writeFileSync(files.key, server.key);
  writeFileSync(clientFiles.cert, client.cert);
  writeFileSync(clientFiles.key, client.key);
  writeFileSync(otherFiles.ca, other.cert);
});

after(async () => {
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function app(impl: Parameters<typeof withGrpc>[0], server: Record<string, unknown> = {}): Promise<TestApp> {
  const t = await startTestApp(
    withGrpc(impl, { server, issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }], policies: POLICIES }),
    { logLevel: 'warn' },
  );
  await waitUntil(() => t.app.ready, 10_000, 'keys loaded');
  return t;
}

// A skipped suite is not counted in node's summary; this is, so a run without the parts says so.
if (skipUnless(NO_PYTHON)) it('gRPC interop: Python grpcio', { skip: skipUnless(NO_PYTHON) }, () => {});
if (skipUnless(NO_NGHTTP2)) it('gRPC interop: h2load and nghttp', { skip: skipUnless(NO_NGHTTP2) }, () => {});

describeGrpc(
  'gRPC interop: Python grpcio (gRPC C core)',
  (impl) => {
    it('plaintext: v3/v2 allow and deny, 40 concurrent Checks, health Check and Watch, unknown method', async (ctx) => {
      assert.ok(!NO_PYTHON, `${NO_PYTHON}; CI must install them (.ci/run → scripts/ci-deps.sh)`);
      const t = await app(impl);
      try {
        const report = await runPython({ target: `127.0.0.1:${t.grpcPort}`, calls: standardCalls(token) });
        ctx.diagnostic(`grpcio ${report.grpcio}, protobuf ${report.protobuf}`);
        assertStandard(report, 'plaintext');
        // 1 + 1 + 1 + 1 + 1 + 40 Checks, each decided once.
        assert.equal(await readMetric(t.adminPort, 'zt_authz_decisions_total'), 45);
      } finally {
        await t.stop();
      }
    });

    it('TLS: the same calls with a client trusting the CA; a client trusting another CA or speaking plaintext fails', async () => {
      assert.ok(!NO_PYTHON, `${NO_PYTHON}; CI must install them (.ci/run → scripts/ci-deps.sh)`);
      const t = await app(impl, { tls: { certFile: files.cert, keyFile: files.key } });
      try {
        const target = `127.0.0.1:${t.grpcPort}`;
        assertStandard(await runPython({ target, tls: { ca: files.ca, serverName: 'localhost' }, calls: standardCalls(token) }), 'TLS');
        const calls = [{ kind: 'check', version: 'v3', path: '/api/orders', headers: { authorization: `Bearer ${token}` } }];
        const untrusted = await runPython({ target, tls: { ca: otherFiles.ca, serverName: 'localhost' }, calls });
        assert.equal(untrusted.results[0]?.rpc, 'UNAVAILABLE', JSON.stringify(untrusted.results));
        const plain = await runPython({ target, calls });
        assert.equal(plain.results[0]?.rpc, 'UNAVAILABLE', JSON.stringify(plain.results));
      } finally {
        await t.stop();
      }
    });

    it('mTLS: a client certificate from the CA gets the same answers; none gets no answer (UNAVAILABLE)', async () => {
      assert.ok(!NO_PYTHON, `${NO_PYTHON}; CI must install them (.ci/run → scripts/ci-deps.sh)`);
      const t = await app(impl, { tls: { certFile: files.cert, keyFile: files.key, clientCaFile: files.ca } });
      try {
        const target = `127.0.0.1:${t.grpcPort}`;
        const tls = { ca: files.ca, cert: clientFiles.cert, key: clientFiles.key, serverName: 'localhost' };
        assertStandard(await runPython({ target, tls, calls: standardCalls(token) }), 'mTLS');
        const calls = [{ kind: 'check', version: 'v3', path: '/api/orders', headers: { authorization: `Bearer ${token}` } }];
        const anonymous = await runPython({ target, tls: { ca: files.ca, serverName: 'localhost' }, calls });
        assert.equal(anonymous.results[0]?.rpc, 'UNAVAILABLE', JSON.stringify(anonymous.results));
      } finally {
        await t.stop();
      }
    });
  },
  { skip: skipUnless(NO_PYTHON) },
);

/** `nghttp -v` of one Check: the response and trailer header lines as nghttp prints them. */
function nghttpCheck(port: number, dataFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'nghttp',
      ['-v', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', dataFile, `http://127.0.0.1:${port}${CHECK_PATH_V3}`],
      { timeout: 20_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`nghttp failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
    );
    captureChild('nghttp', child);
  });
}

describeGrpc(
  'gRPC interop: h2load and nghttp (nghttp2)',
  (impl) => {
    it('Envoy-shaped Check frames: every response HTTP 200 with grpc-status 0, none failed, each decided once', async (ctx) => {
      assert.ok(!NO_NGHTTP2, `${NO_NGHTTP2}; CI must install it (.ci/run → scripts/ci-deps.sh)`);
      const t = await app(impl);
      const frameFile = join(dir, `check-${impl}.bin`);
      writeFileSync(frameFile, grpcFrame(encodeCheckRequest(envoyCheckRequest({ token, path: '/api/orders/42' }))));
      try {
        // One Check with every frame printed: the status line, then grpc-status 0 in the trailers.
        const trace = await nghttpCheck(t.grpcPort, frameFile);
        assert.match(trace, /recv \(stream_id=\d+\) :status: 200/, trace.slice(0, 3000));
        assert.match(trace, /recv \(stream_id=\d+\) content-type: application\/grpc/, trace.slice(0, 3000));
        assert.match(trace, /recv \(stream_id=\d+\) grpc-status: 0\s*$/m, trace.slice(0, 3000));
        assert.match(trace, /recv HEADERS frame <[^>]*flags=0x05/, 'the trailers end the stream');

        const n = 2000;
        const r = await h2load({
          port: t.grpcPort,
          dataFile: frameFile,
          path: CHECK_PATH_V3,
          clients: 4,
          streams: 16,
          requests: n,
          timeoutMs: 60_000,
        });
        ctx.diagnostic(`${impl}: ${r.command} → ${Math.round(r.rps)} req/s, p99 ${r.latency.p99} ms`);
        assert.equal(r.done, n, 'every request completed');
        assert.equal(r.succeeded, n);
        assert.equal(r.failed + r.errored + r.timeout, 0, JSON.stringify(r));
        assert.equal(r.status2xx, n);
        assert.equal(r.statusOther, 0);
        // h2load does not read trailers: the server's counters say every one was an allow, and no
        // RPC failed (a failed RPC would be no decision, or a deny).
        await waitUntil(
          async () => (await readMetric(t.adminPort, 'zt_authz_decisions_total', { decision: 'allow', reason: 'allowed' })) === n + 1,
          10_000,
          `${n + 1} allows counted`,
        );
        assert.equal(await readMetric(t.adminPort, 'zt_authz_decisions_total'), n + 1);
      } finally {
        await t.stop();
      }
    });
  },
  { skip: skipUnless(NO_NGHTTP2) },
);
