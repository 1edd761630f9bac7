// The migration path end to end over real gRPC: observe mode lets every request through and
// records what enforce mode would have decided; those audit lines feed `zt-authz policy
// generate` (the real CLI, on stdin); `policy replay` checks the candidate; enforcing the
// generated policies then allows the same traffic and denies a new edge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { TestIdp } from '../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../helpers/grpc-client.js';
import { startTestApp, waitUntil, readMetric, type TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';

const cli = (args: string[], input?: string) => runCli(args, input === undefined ? {} : { input });

const spiffe = (ns: string, sa: string) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

interface Call {
  app: 'orders' | 'payments';
  method?: string;
  path: string;
  from: string;
  token?: string;
}

async function send(client: AuthClient, c: Call): Promise<string> {
  const r = await check(
    client,
    checkRequest({
      method: c.method ?? 'GET',
      path: c.path,
      host: `${c.app}.shop.svc.cluster.local`,
      sourcePrincipal: spiffe('shop', c.from),
      destinationPrincipal: spiffe('shop', c.app),
      contextExtensions: { app: c.app },
      ...(c.token ? { token: c.token } : {}),
    }),
  );
  return r.status?.code === 0 ? 'allow' : (JSON.parse(r.deniedResponse?.body ?? '{}') as { error: string }).error;
}

test('observe → generate → replay → enforce over gRPC', { timeout: 120000 }, async () => {
  const idp = await TestIdp.start({ audience: 'shop' });
  const dir = mkdtempSync(join(tmpdir(), 'zt-migrate-'));
  // What the team starts from: a DENY policy and one (too strict) ALLOW, default deny otherwise.
  const base = {
    issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['shop'] }],
    policies: [
      { name: 'block-debug', namespace: 'shop', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/debug/{**}'] } }] }] },
      {
        name: 'orders-admin',
        namespace: 'shop',
        selector: { matchLabels: { app: 'orders' } },
        rules: [
          {
            from: [{ source: { requestPrincipals: [`${idp.issuer}/*`] } }],
            to: [{ operation: { methods: ['GET'], paths: ['/orders/{*}'] } }],
            when: [{ key: 'request.auth.claims[scope]', values: ['orders:admin'] }],
          },
        ],
      },
    ],
  };
  let observe: TestApp | undefined;
  let enforce: TestApp | undefined;
  const clients: AuthClient[] = [];
  try {
    // 1. Observe: every request goes through; the record says what enforce would have done.
    observe = await startTestApp({ ...base, mode: { default: 'observe' } });
    await waitUntil(() => observe!.app.ready, 5000, 'observe app ready');
    const oc = authV3Client(observe.grpcPort);
    clients.push(oc);
    const reader = await idp.sign({ sub: 'alice', scope: 'orders:read' });
    const writer = await idp.sign({ sub: 'bob', scope: 'orders:read orders:write' });
    const expired = await idp.sign({ sub: 'eve', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) - 600 });
    const traffic: Array<Call & { would: string }> = [
      { app: 'orders', from: 'frontend', path: '/orders/1001', token: reader, would: 'insufficient_scope' },
      { app: 'orders', from: 'frontend', path: '/orders/1002?expand=items', token: reader, would: 'insufficient_scope' },
      { app: 'orders', from: 'frontend', method: 'POST', path: '/orders', token: writer, would: 'no_policy_matched' },
      { app: 'payments', from: 'orders', method: 'POST', path: '/charges', would: 'no_policy_matched' },
      { app: 'payments', from: 'orders', path: '/charges/ch_3MmlLrLkdIwHu7ix0snN0B15', would: 'no_policy_matched' },
      { app: 'orders', from: 'frontend', path: '/debug/vars', token: reader, would: 'policy_denied' },
      { app: 'orders', from: 'frontend', path: '/orders/1003', token: expired, would: 'token_expired' },
    ];
    for (const c of traffic) assert.equal(await send(oc, c), 'allow', `observe mode serves ${c.method ?? 'GET'} ${c.path}`);
    await waitUntil(() => observe!.audit().length >= traffic.length, 5000, 'audit records');
    const audit = observe.audit();
    assert.deepEqual(
      audit.map((r) => [r.decision, r.reason, (r.would_decide as { reason?: string } | undefined)?.reason]),
      traffic.map((c) => ['allow', 'observed', c.would]),
    );
    assert.equal((audit[5]!.would_decide as { policy?: string }).policy, 'block-debug');
    assert.equal(await readMetric(observe.adminPort, 'zt_authz_decisions_total', { decision: 'would_deny' }), traffic.length);
    assert.equal(await readMetric(observe.adminPort, 'zt_authz_decisions_total', { decision: 'deny' }), 0);
    assert.ok(!observe.lines.join('\n').includes('expand=items'), 'query values are never recorded');
    await observe.stop();

    // 2. Generate from the recorded lines (ops lines included, as a log file would have them).
    const baseFile = join(dir, 'base.yaml');
    writeFileSync(baseFile, stringify(base));
    const auditText = observe.lines.join('\n') + '\n';
    const gen = await cli(['policy', 'generate', '--from', '-', '--base', baseFile], auditText);
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stderr, /left out 1: served in observe mode with a rejected credential \(token_expired\)/);
    assert.match(gen.stderr, /warning: shop\/app=orders: 1 request\(s\) were denied by DENY policy block-debug/);
    const candidateFile = join(dir, 'candidate.yaml');
    writeFileSync(candidateFile, gen.stdout);
    const v = await cli(['validate', candidateFile]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const candidate = parse(gen.stdout) as { policies: Array<{ name: string }>; mode?: unknown };
    assert.deepEqual(
      candidate.policies.map((p) => p.name),
      ['block-debug', 'orders-admin', 'allow-orders', 'allow-payments'],
    );
    assert.equal(candidate.mode, undefined, 'the candidate enforces');

    // 3. Replay: the two requests enforcement will deny whatever the policies say are reported.
    const auditFile = join(dir, 'audit.jsonl');
    writeFileSync(auditFile, auditText);
    const rp = await cli(['policy', 'replay', '--config', candidateFile, '--from', auditFile]);
    assert.equal(rp.code, 1, rp.stdout);
    assert.match(rp.stdout, /allow→deny +GET \/debug\/vars ×1: now policy_denied \(block-debug\)/);
    assert.match(rp.stdout, /allow→deny +GET \/orders\/\{\*\} ×1: now token_expired/);
    assert.match(rp.stdout, /allow→deny: 2 \(2 served only in observe mode\)/);
    assert.match(rp.stdout, /Observe mode: 7 requests the recorded config would deny: 5 now allowed, 2 still denied/);

    // 4. Enforce the candidate: the same traffic is allowed; a new edge is denied.
    enforce = await startTestApp(parse(gen.stdout) as Record<string, unknown>);
    await waitUntil(() => enforce!.app.ready, 5000, 'enforce app ready');
    const ec = authV3Client(enforce.grpcPort);
    clients.push(ec);
    for (const c of traffic) {
      const expect = c.would === 'policy_denied' || c.would === 'token_expired' ? c.would : 'allow';
      assert.equal(await send(ec, c), expect, `enforce: ${c.method ?? 'GET'} ${c.path}`);
    }
    assert.equal(
      await send(ec, {
        app: 'orders',
        from: 'frontend',
        path: '/orders/77',
        token: await idp.sign({ sub: 'carol', scope: 'orders:read' }),
      }),
      'allow',
      'another user, another id',
    );
    // New edge payments → orders: denied (insufficient_scope: only the pre-existing orders-admin rule could admit it).
    assert.equal(
      await send(ec, { app: 'orders', from: 'payments', path: '/orders/1001', token: reader }),
      'insufficient_scope',
      'new edge: payments → orders',
    );
    assert.equal(await send(ec, { app: 'orders', from: 'payments', path: '/orders/1001' }), 'token_missing', 'new edge without a JWT');
    assert.equal(
      await send(ec, { app: 'payments', from: 'frontend', method: 'POST', path: '/charges' }),
      'no_policy_matched',
      'new edge: frontend → payments',
    );
    assert.equal(
      await send(ec, { app: 'orders', from: 'frontend', method: 'POST', path: '/orders', token: reader }),
      'insufficient_scope',
      'write needs orders:write',
    );
    assert.equal(
      await send(ec, { app: 'orders', from: 'frontend', method: 'DELETE', path: '/orders/1001', token: writer }),
      'no_policy_matched',
      'unobserved method',
    );
  } finally {
    closeAll(...clients);
    await observe?.stop();
    await enforce?.stop();
    await idp.close();
  }
});
