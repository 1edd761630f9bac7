// A DENY by host must hold whatever spelling of the host the client sends. Over real gRPC (Envoy
// ext_authz v3): a running App, policies that deny one host and allow everything else, and the
// host written with a trailing dot, an empty port, a default port, upper case and as an IPv6
// literal, both in `request.http.host` and in the `:authority` header (Envoy fills both).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';
import {
  canonicalHost,
  canonicalHostPattern,
  hostAsSent,
  hostMatchValues,
  hostName,
  portHostPattern,
  withoutDefaultPort,
} from '../../../src/decision/host.js';
import { looseHostMatcher, looseHosts, strictHost, strictHostMatcher } from '../../../src/policy/readings.js';
import { compilePolicies } from '../../../src/policy/compile.js';
import type { PolicyContext } from '../../../src/policy/context.js';
import type { ConfigProblem } from '../../../src/config/problems.js';
import { normalizeRequest } from '../../../src/decision/normalize.js';
import { stringMatcher } from '../../../src/policy/match.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { describeGrpc, withGrpc } from '../../helpers/grpc-impls.js';

const POLICIES = [
  { name: 'deny-admin', action: 'DENY', rules: [{ to: [{ operation: { hosts: ['admin.example.com'] } }] }] },
  { name: 'deny-metrics-port', action: 'DENY', rules: [{ to: [{ operation: { hosts: ['*.example.com:9100'] } }] }] },
  { name: 'deny-v6-loopback', action: 'DENY', rules: [{ to: [{ operation: { hosts: ['[::1]'] } }] }] },
  { name: 'allow-all', action: 'ALLOW', rules: [{}] },
];

function outcome(res: CheckResponse): string {
  if (res.status?.code === 0) return 'allow';
  const body = JSON.parse(res.deniedResponse?.body ?? '{}') as { error?: string };
  return `deny ${body.error}`;
}

describeGrpc('host spelling over gRPC', (impl) => {
  let t: TestApp;
  let client: AuthClient;

  before(async () => {
    t = await startTestApp(withGrpc(impl, { policies: POLICIES }));
    client = authV3Client(t.grpcPort);
  });
  after(async () => {
    closeAll(client);
    await t.stop();
  });

  const ask = (host: string) => check(client, checkRequest({ host, path: '/keys' })).then(outcome);

  it('every spelling of a denied host is denied by the DENY policy', async () => {
    for (const host of [
      'admin.example.com',
      'admin.example.com.',
      'admin.example.com:',
      'admin.example.com.:',
      'admin.example.com.:8080',
      'ADMIN.Example.COM.',
      'admin.example.com:80',
      'admin.example.com:443',
      'admin.example.com:0443',
    ]) {
      assert.equal(await ask(host), 'deny policy_denied', host);
    }
  });

  it('a port-qualified wildcard DENY holds with a trailing dot', async () => {
    assert.equal(await ask('node1.example.com.:9100'), 'deny policy_denied');
    assert.equal(await ask('node1.example.com:9100'), 'deny policy_denied');
    assert.equal(await ask('node1.example.com.:9101'), 'allow');
  });

  it('IPv6 literals: the default port is dropped, another port still matches the bare literal', async () => {
    assert.equal(await ask('[::1]:443'), 'deny policy_denied');
    assert.equal(await ask('[::1]:8080'), 'deny policy_denied');
    assert.equal(await ask('[::1]:'), 'deny policy_denied');
    assert.equal(await ask('[::2]'), 'allow');
  });

  it('hosts no proxy would route are malformed, never a different host', async () => {
    for (const host of [
      'admin.example.com:https',
      'admin.example.com:70000',
      'admin.example.com..',
      ':443',
      '.',
      '::1',
      '[::1]x',
      'admin example.com',
    ]) {
      assert.equal(await ask(host), 'deny malformed_request', host);
    }
  });

  it('other hosts are allowed in any spelling; audit records the canonical host', async () => {
    assert.equal(await ask('Shop.Example.com.:443'), 'allow');
    assert.equal(await ask('ADMIN.example.com.:0443'), 'deny policy_denied');
    const rec = t.audit().at(-1) as { destination?: { host?: string; host_as_sent?: string } } | undefined;
    assert.equal(rec?.destination?.host, 'admin.example.com');
    // The default port as sent, for policy hosts that name a port (replay reads it).
    assert.equal(rec?.destination?.host_as_sent, 'admin.example.com:443');
  });
});

describe('canonicalHost / canonicalHostPattern / hostMatchValues', () => {
  it('canonical hosts', () => {
    const cases: Array<[string, string | undefined]> = [
      ['', ''],
      ['Admin.Example.com', 'admin.example.com'],
      ['admin.example.com.', 'admin.example.com'],
      ['admin.example.com:', 'admin.example.com'],
      ['admin.example.com.:8080', 'admin.example.com:8080'],
      ['admin.example.com:08080', 'admin.example.com:8080'],
      ['admin.example.com:80', 'admin.example.com'],
      ['[::1]:443', '[::1]'],
      ['[::FFFF:10.0.0.1]:8443', '[::ffff:10.0.0.1]:8443'],
      ['10.0.0.1:80', '10.0.0.1'],
      ['admin.example.com:0', undefined],
      ['admin.example.com:65536', undefined],
      ['a:b:c', undefined],
      ['[::1', undefined],
      ['a..', undefined],
    ];
    for (const [raw, want] of cases) {
      assert.equal(canonicalHost(raw), want, raw);
      if (want) assert.equal(canonicalHost(want), want, `idempotent: ${want}`);
    }
  });

  it('patterns take the same form; wildcards keep their text', () => {
    assert.equal(canonicalHostPattern('Admin.Example.com.:443'), 'admin.example.com');
    assert.equal(canonicalHostPattern('admin.example.com:*'), 'admin.example.com');
    assert.equal(canonicalHostPattern('*.example.com.'), '*.example.com');
    assert.equal(canonicalHostPattern('*.example.com:9100'), '*.example.com:9100');
    assert.equal(canonicalHostPattern('admin.*'), 'admin.*');
    assert.equal(canonicalHostPattern('*'), '*');
  });

  it('match values: with and without a non-default port', () => {
    assert.deepEqual(hostMatchValues('orders:8080'), ['orders:8080', 'orders']);
    assert.deepEqual(hostMatchValues('Orders.:8080'), ['orders:8080', 'orders']);
    assert.deepEqual(hostMatchValues('[::1]:8080'), ['[::1]:8080', '[::1]']);
    assert.deepEqual(hostMatchValues('orders:443'), ['orders']);
    assert.deepEqual(hostMatchValues(''), []);
  });
});

describe('policy hosts that name a port: the port as sent', () => {
  const HOSTS = [
    'orders.example.com',
    'orders.example.com:80',
    'orders.example.com:443',
    'Orders.Example.com.:0443',
    'orders.example.com:8080',
    'orders.example.com:',
    'internal-admin',
    'internal-admin:8080',
    'internal-admin:443',
    'x.example.com:443',
    'x.example.com:80',
    '[::1]',
    '[::1]:443',
    '[::1]:8080',
  ];
  const PATTERNS = [
    'orders.example.com',
    'orders.example.com:443',
    'orders.example.com:80',
    'Orders.Example.com.:0443',
    'orders.example.com:8080',
    'orders.example.com:*',
    '*:443',
    '*:80',
    '*:8080',
    '*.example.com',
    '*.example.com:443',
    'orders.*',
    'orders.example.com:4*',
    '*',
    '[::1]',
    '[::1]:443',
    'orders.example.com:',
  ];
  /** The request as normalizeRequest hands it to the policy stage. */
  const context = (host: string): PolicyContext => {
    const n = normalizeRequest(
      {
        requestId: '1',
        method: 'GET',
        host,
        rawPath: '/',
        headers: {},
        headerCount: 0,
        source: { labels: {} },
        destination: { labels: {} },
        contextExtensions: {},
      },
      { maxHeaders: 100, maxPathBytes: 1000 },
    );
    assert.ok(n.ok, host);
    return { input: n.input, identity: undefined, source: undefined, destination: { labels: {} } };
  };
  /** Before ports were kept: the canonical pattern against the canonical host (and, loose, without its port). */
  const canonicalBefore = (pattern: string, host: string, loose: boolean) => {
    const m = stringMatcher(canonicalHostPattern(pattern), true);
    return (loose ? hostMatchValues(host) : [canonicalHost(host)!]).some((v) => m(v));
  };

  it('as-sent forms of hosts and patterns', () => {
    assert.equal(hostAsSent('Orders.Example.com.:0443'), 'orders.example.com:443');
    assert.equal(hostAsSent('orders:'), 'orders');
    assert.equal(hostAsSent('[::1]:80'), '[::1]:80');
    assert.equal(hostAsSent('orders:0'), undefined);
    assert.equal(portHostPattern('Orders.Example.com.:0443'), 'orders.example.com:443');
    assert.equal(portHostPattern('*:443'), '*:443');
    assert.equal(portHostPattern('*.example.com.:80'), '*.example.com:80');
    for (const p of ['orders', 'orders:', 'orders:*', '*', 'orders:4*', ':443', 'a:b:443']) assert.equal(portHostPattern(p), undefined, p);
    assert.equal(withoutDefaultPort('orders:443'), 'orders');
    assert.equal(withoutDefaultPort('[::1]:80'), '[::1]');
    assert.equal(withoutDefaultPort('orders:8443'), 'orders:8443');
    assert.equal(withoutDefaultPort('::443'), '::443');
    assert.equal(hostName('Admin.Example.com.:8080'), 'admin.example.com');
    assert.equal(hostName('[::1]:8080'), '[::1]');
    assert.equal(hostName('a:b:c'), undefined);
  });

  it('strict: a pattern naming a port admits only hosts sent with that port; others as before', () => {
    for (const pattern of PATTERNS) {
      const strict = strictHostMatcher(pattern);
      const withPort = portHostPattern(pattern);
      for (const host of HOSTS) {
        const got = strictHost(context(host)).some((v) => strict(v));
        if (withPort !== undefined) {
          const port = withPort.slice(withPort.lastIndexOf(':') + 1);
          if (got) assert.equal(hostAsSent(host)!.endsWith(`:${port}`), true, `${pattern} admitted ${host}`);
        } else if (!pattern.endsWith(':*') && pattern !== 'orders.example.com:4*') {
          assert.equal(got, canonicalBefore(pattern, host, false), `${pattern} vs ${host}: bare-name forms unchanged`);
        }
      }
    }
    const admits = (pattern: string, host: string) => strictHost(context(host)).some((v) => strictHostMatcher(pattern)(v));
    assert.equal(admits('*:443', 'internal-admin:8080'), false);
    assert.equal(admits('*:443', 'internal-admin'), false);
    assert.equal(admits('*:443', 'x.example.com:443'), true);
    assert.equal(admits('orders.example.com:443', 'orders.example.com:80'), false);
    assert.equal(admits('orders.example.com:443', 'Orders.Example.com.:0443'), true);
    assert.equal(admits('orders.example.com', 'orders.example.com:443'), true);
    assert.equal(admits('orders.example.com', 'orders.example.com:8080'), false);
  });

  it('loose: matches everything the strict reading and the canonical comparison matched', () => {
    for (const pattern of PATTERNS) {
      const loose = looseHostMatcher(pattern);
      const strict = strictHostMatcher(pattern);
      for (const host of HOSTS) {
        const c = context(host);
        const got = looseHosts(c).some((v) => loose(v));
        if (strictHost(c).some((v) => strict(v))) assert.equal(got, true, `${pattern} vs ${host}: strict matched`);
        if (canonicalBefore(pattern, host, true)) assert.equal(got, true, `${pattern} vs ${host}: matched before`);
      }
    }
  });

  it('the host index never drops a policy whose hosts could match (ALLOW hosts, DENY hosts)', () => {
    for (const pattern of PATTERNS) {
      for (const action of ['ALLOW', 'DENY'] as const) {
        const problems: ConfigProblem[] = [];
        const idx = compilePolicies([{ name: 'p', action, rules: [{ to: [{ operation: { hosts: [pattern] } }] }] }], problems);
        assert.deepEqual(problems, []);
        const cond = idx.all[0]!.rules[0]!.to[0]![0]!;
        for (const host of HOSTS) {
          const c = context(host);
          if (cond.test(c)) assert.ok(idx.candidateCount(c) > 0, `${action} ${pattern} matches ${host} but the index skipped it`);
        }
      }
    }
  });
});
