// A DENY by host must hold whatever spelling of the host the client sends. Over real gRPC (Envoy
// ext_authz v3): a running App, policies that deny one host and allow everything else, and the
// host written with a trailing dot, an empty port, a default port, upper case and as an IPv6
// literal, both in `request.http.host` and in the `:authority` header (Envoy fills both).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckResponse } from '../src/transport/grpc/messages.js';
import { canonicalHost, canonicalHostPattern, hostMatchValues } from '../src/decision/host.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from './helpers/grpc-client.js';
import { startTestApp, type TestApp } from './helpers/app.js';

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

describe('host spelling over gRPC', () => {
  let t: TestApp;
  let client: AuthClient;

  before(async () => {
    t = await startTestApp({ policies: POLICIES });
    client = authV3Client(t.grpcPort);
  });
  after(async () => {
    closeAll(client);
    await t.stop();
  });

  const ask = (host: string) => check(client, checkRequest({ host, path: '/keys' })).then(outcome);

  it('every spelling of a denied host is denied by the DENY policy', async () => {
    for (const host of ['admin.example.com', 'admin.example.com.', 'admin.example.com:', 'admin.example.com.:', 'admin.example.com.:8080', 'ADMIN.Example.COM.', 'admin.example.com:80', 'admin.example.com:443', 'admin.example.com:0443']) {
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
    for (const host of ['admin.example.com:https', 'admin.example.com:70000', 'admin.example.com..', ':443', '.', '::1', '[::1]x', 'admin example.com']) {
      assert.equal(await ask(host), 'deny malformed_request', host);
    }
  });

  it('other hosts are allowed in any spelling; audit records the canonical host', async () => {
    assert.equal(await ask('Shop.Example.com.:443'), 'allow');
    assert.equal(await ask('ADMIN.example.com.:0443'), 'deny policy_denied');
    const rec = t.audit().at(-1) as { destination?: { host?: string } } | undefined;
    assert.equal(rec?.destination?.host, 'admin.example.com');
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
