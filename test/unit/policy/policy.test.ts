// Policy index: the indexed evaluation must equal brute force over every policy, and must hand
// only the relevant policies to evaluation (so cost does not grow with unrelated policies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies } from '../../../src/policy/compile.js';
import type { PolicyContext } from '../../../src/policy/context.js';
import type { ConfigProblem } from '../../../src/config/problems.js';
import type { PolicySpec } from '../../../src/config/policy-schema.js';
import type { Identity } from '../../../src/decision/types.js';
import { parsePrincipal } from '../../../src/identity/spiffe.js';
import { trustedXfccPrincipal } from '../../../src/identity/xfcc.js';
import { ConfigError } from '../../../src/config/problems.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import type { CheckInput } from '../../../src/decision/types.js';
import { cidrMatcher, pathTemplateMatcher, stringMatcher } from '../../../src/policy/match.js';

function compile(specs: PolicySpec[]) {
  const problems: ConfigProblem[] = [];
  const idx = compilePolicies(specs, problems);
  assert.deepEqual(problems, []);
  return idx;
}

function ctx(o: {
  host?: string;
  path?: string;
  method?: string;
  ns?: string;
  labels?: Record<string, string>;
  sub?: string;
  principal?: string;
}): PolicyContext {
  const identity: Identity | undefined = o.sub
    ? {
        issuer: 'https://idp',
        subject: o.sub,
        requestPrincipal: `https://idp/${o.sub}`,
        audiences: [],
        scopes: [],
        claims: { sub: o.sub },
        tokenHash: 'h',
      }
    : undefined;
  return {
    input: {
      requestId: '1',
      method: o.method ?? 'GET',
      host: o.host ?? 'svc-0.ns-0.svc',
      path: o.path ?? '/',
      query: '',
      headers: {},
      source: { labels: {}, ...(o.principal ? { principal: o.principal } : {}) },
      destination: { labels: {} },
      contextExtensions: {},
    },
    identity,
    source: parsePrincipal(o.principal),
    destination: { labels: o.labels ?? {}, ...(o.ns ? { namespace: o.ns } : {}) },
  };
}

// Deterministic pseudo-random generator so failures reproduce.
function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

function randomPolicies(n: number, r: () => number): PolicySpec[] {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const scope = pick(['none', 'ns', 'sel', 'ns+sel', 'host']);
    const spec: PolicySpec = {
      name: `p${i}`,
      action: pick(['ALLOW', 'ALLOW', 'DENY', 'AUDIT']),
      ...(r() < 0.1 ? { dryRun: true } : {}),
      ...(scope === 'ns' || scope === 'ns+sel' ? { namespace: `ns-${Math.floor(r() * 3)}` } : {}),
      ...(scope === 'sel' || scope === 'ns+sel' ? { selector: { matchLabels: { app: `app-${Math.floor(r() * 3)}` } } } : {}),
      rules: [
        {
          to: [
            {
              operation: {
                ...(scope === 'host' ? { hosts: [`svc-${Math.floor(r() * 3)}.ns-0.svc`] } : {}),
                paths: [pick(['/a', '/b', '/a/*', '*'])],
                methods: [pick(['GET', 'POST'])],
              },
            },
          ],
          ...(r() < 0.3 ? { from: [{ source: { requestPrincipals: [pick(['https://idp/u1', '*'])] } }] } : {}),
        },
      ],
    };
    return spec;
  });
}

test('indexed evaluation equals brute force over random policies and requests', () => {
  const r = rng(42);
  const specs = randomPolicies(300, r);
  const indexed = compile(specs);
  const singles = specs.map((s) => compile([s]));
  for (let i = 0; i < 2000; i++) {
    const c = ctx({
      host: `svc-${Math.floor(r() * 4)}.ns-0.svc${r() < 0.2 ? ':8080' : ''}`,
      path: ['/a', '/b', '/a/x', '/c'][Math.floor(r() * 4)]!,
      method: r() < 0.5 ? 'GET' : 'POST',
      ...(r() < 0.8 ? { ns: `ns-${Math.floor(r() * 4)}` } : {}),
      labels: r() < 0.8 ? { app: `app-${Math.floor(r() * 4)}`, other: 'x' } : {},
      ...(r() < 0.6 ? { sub: r() < 0.5 ? 'u1' : 'u2' } : {}),
    });
    // brute force: first (config order) enforced DENY match, else first ALLOW match
    const results = singles.map((s, k) => ({ spec: specs[k]!, v: s.evaluate(c) }));
    const enforced = results.filter(({ spec }) => !spec.dryRun && spec.action !== 'AUDIT');
    const deny = enforced.find(({ spec, v }) => spec.action === 'DENY' && v.reason === 'policy_denied');
    const allow = enforced.find(({ spec, v }) => spec.action === 'ALLOW' && v.allow);
    const expected = deny ? ['policy_denied', deny.spec.name] : allow ? ['allowed', allow.spec.name] : ['no_policy_matched', undefined];
    const got = indexed.evaluate(c);
    assert.deepEqual(
      [got.reason, got.policy],
      expected,
      `request ${i}: ${JSON.stringify(c.input.host)} ${c.input.method} ${c.input.path} ns=${c.destination.namespace} labels=${JSON.stringify(c.destination.labels)}`,
    );
    const audits = results
      .filter(({ spec, v }) => (spec.dryRun || spec.action === 'AUDIT') && v.audits.length > 0)
      .map(({ spec }) => spec.name);
    assert.deepEqual(got.audits.map((a) => a.policy).sort(), audits.sort());
  }
});

test('10,000 scoped policies: a request is evaluated against only its destination’s policies', () => {
  const specs: PolicySpec[] = [];
  for (let i = 0; i < 10000; i++) {
    const kind = i % 3;
    specs.push({
      name: `p${i}`,
      ...(kind === 0 ? { namespace: `ns-${i}`, selector: { matchLabels: { app: `app-${i}` } } } : {}),
      ...(kind === 1 ? { selector: { matchLabels: { app: `app-${i}` } } } : {}),
      rules: [{ to: [{ operation: { ...(kind === 2 ? { hosts: [`svc-${i}.example`] } : {}), paths: ['/x'] } }] }],
    });
  }
  specs.push({ name: 'global-deny', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/forbidden'] } }] }] });
  const idx = compile(specs);
  assert.equal(
    idx.candidateCount(ctx({ ns: 'ns-0', labels: { app: 'app-0' }, host: 'svc-0.example' })),
    2,
    'its own policy + the global one',
  );
  assert.equal(idx.candidateCount(ctx({ labels: { app: 'app-1' }, host: 'unknown' })), 2);
  assert.equal(idx.candidateCount(ctx({ host: 'svc-2.example' })), 2);
  assert.equal(idx.evaluate(ctx({ ns: 'ns-9999', labels: { app: 'app-9999' }, path: '/x' })).policy, 'p9999');
  assert.equal(idx.evaluate(ctx({ host: 'svc-9998.example:443', path: '/x' })).policy, 'p9998');
  assert.equal(idx.evaluate(ctx({ host: 'svc-9998.example', path: '/forbidden' })).reason, 'policy_denied');
  assert.equal(idx.evaluate(ctx({ labels: { app: 'app-9997' }, path: '/x' })).policy, 'p9997');
  assert.equal(
    idx.evaluate(ctx({ labels: { app: 'app-9999' }, path: '/x' })).reason,
    'no_policy_matched',
    'namespaced policy needs its namespace',
  );
});

test('trace explains applicability and the first failing condition per rule', () => {
  const idx = compile([
    { name: 'scoped', namespace: 'shop', rules: [{}] },
    { name: 'paths', rules: [{ to: [{ operation: { paths: ['/a/*'] } }] }, { from: [{ source: { requestPrincipals: ['*'] } }] }] },
  ]);
  const t = idx.trace(ctx({ ns: 'dev', path: '/b' }));
  assert.deepEqual(t[0], {
    policy: 'scoped',
    action: 'ALLOW',
    dryRun: false,
    applies: false,
    detail: ['not applicable: policy namespace shop, destination namespace dev'],
  });
  assert.equal(t[1]!.applies, true);
  assert.deepEqual(t[1]!.detail, [
    'rules[0]: no match: rules[0].to[0].operation.paths needs ["/a/*"], request has ["/b"]',
    'rules[1]: no match: rules[1].from[0].source.requestPrincipals needs ["*"], request has []',
  ]);
  assert.deepEqual(idx.trace(ctx({ path: '/a/1' }))[1]!.detail[0], 'rules[0]: MATCH');
});

test('matchers: string forms, templates, CIDRs', () => {
  assert.equal(stringMatcher('*')(''), false);
  assert.equal(stringMatcher('a*')('abc'), true);
  assert.equal(stringMatcher('*c')('abc'), true);
  assert.equal(stringMatcher('ABC', true)('abc'), true);
  assert.equal(pathTemplateMatcher('/u/{*}/o/{**}')('/u/1/o/x/y'), true);
  assert.equal(pathTemplateMatcher('/u/{*}')('/u/1/2'), false);
  assert.equal(pathTemplateMatcher('/a.b/{*}')('/aXb/1'), false, 'literal segments are escaped');
  assert.throws(() => pathTemplateMatcher('/{**}/{*}'), /last operator/);
  assert.throws(() => pathTemplateMatcher('/{**}/x/{**}'), /last operator/);
  // Envoy's "**" = [glob/]*: zero or more characters, slashes, "=" and "*" included (Istio "{**}" → "**").
  const tree = pathTemplateMatcher('/admin/{**}');
  for (const p of ['/admin/', '/admin/x', '/admin/x/', '/admin/x/y', '/admin//x', '/admin/a=b', '/admin/a*b', '/admin/x=1/y'])
    assert.equal(tree(p), true, p);
  for (const p of ['/admin', '/adminx', '/admin/ü', '/admin/a b']) assert.equal(tree(p), false, p);
  assert.equal(pathTemplateMatcher('/{**}')('/'), true);
  assert.equal(pathTemplateMatcher('/a/{**}/b')('/a/x/y/b'), true, 'a literal may follow {**}');
  assert.equal(pathTemplateMatcher('/a/{**}/b')('/a/x/y/c'), false);
  // Envoy's "*" = [glob]+: one non-empty segment of pchar, "=" and "*" included.
  const one = pathTemplateMatcher('/u/{*}');
  for (const p of ['/u/1', "/u/a-._~%20!$&'()+,;:@", '/u/a*', '/u/a=b', '/u/*', '/u/==']) assert.equal(one(p), true, p);
  for (const p of ['/u/', '/u/1/', '/u/a b', '/u/a/b']) assert.equal(one(p), false, p);
  assert.equal(pathTemplateMatcher('/u/{*}/')('/u/1/'), true, 'a trailing slash in the template is literal');
  assert.equal(pathTemplateMatcher('/u/{*}/')('/u/1'), false);
  // Templates Envoy would refuse (Istio's config would be NACKed).
  assert.throws(() => pathTemplateMatcher('/a//{*}'), /literal/);
  assert.throws(() => pathTemplateMatcher('/a*b/{*}'), /whole segment/);
  assert.equal(pathTemplateMatcher('/a=c/{*}')('/a=c/1'), true, 'Istio and Envoy accept "=" in a literal');
  assert.throws(() => pathTemplateMatcher('/a/{x}'), /whole segment/);
  assert.equal(cidrMatcher('10.0.0.0/8')('10.255.0.1'), true);
  assert.equal(cidrMatcher('10.0.0.0/8')('11.0.0.1'), false);
  assert.equal(cidrMatcher('10.0.0.0/8')('::ffff:10.0.0.1'), true);
  assert.equal(cidrMatcher('fd00::/8')('10.0.0.1'), false);
  assert.equal(cidrMatcher('10.0.0.0/8')('garbage'), false);
});

test('SPIFFE and XFCC parsing', () => {
  assert.deepEqual(parsePrincipal('spiffe://cluster.local/ns/shop/sa/frontend'), {
    principal: 'cluster.local/ns/shop/sa/frontend',
    reported: 'spiffe://cluster.local/ns/shop/sa/frontend',
    namespace: 'shop',
    serviceAccount: 'frontend',
  });
  assert.deepEqual(parsePrincipal('spiffe://td/other/path'), { principal: 'td/other/path', reported: 'spiffe://td/other/path' });
  assert.equal(parsePrincipal(''), undefined);
  // Element parsing, through a trusted plaintext peer (no mTLS principal, address in ipBlocks).
  const xfccPrincipal = (header: string | undefined) =>
    trustedXfccPrincipal(
      {
        ...ctx({}).input,
        headers: header === undefined ? {} : { 'x-forwarded-client-cert': header },
        source: { labels: {}, address: '10.0.0.1' },
      },
      { principals: [], ipBlocks: ['10.0.0.0/8'] },
    );
  assert.equal(xfccPrincipal('By=spiffe://a;URI=spiffe://td/ns/x/sa/y'), 'spiffe://td/ns/x/sa/y');
  assert.equal(
    xfccPrincipal('URI=spiffe://first,Subject="CN=a,b";URI="spiffe://td/ns/n/sa/s"'),
    'spiffe://td/ns/n/sa/s',
    'last element, quoted comma',
  );
  assert.equal(xfccPrincipal('Hash=abc'), undefined);
  assert.equal(xfccPrincipal(undefined), undefined);
});

test('XFCC is believed only from a trusted immediate peer (identity.xfccTrustedPeers)', () => {
  const trust = {
    principals: ['spiffe://cluster.local/ns/istio-system/sa/ingress', 'cluster.local/ns/edge/sa/gw'],
    ipBlocks: ['10.8.0.0/16', 'fd00::/8'],
  };
  const caller = 'spiffe://cluster.local/ns/shop/sa/frontend';
  const at = (
    source: CheckInput['source'],
    xfcc: string | undefined,
    destination: CheckInput['destination'] = { labels: {} },
  ): CheckInput => ({
    requestId: 'r',
    method: 'GET',
    host: 'h',
    path: '/',
    query: '',
    headers: xfcc === undefined ? {} : { 'x-forwarded-client-cert': xfcc },
    source,
    destination,
    contextExtensions: {},
  });
  // No trust configured: never.
  assert.equal(trustedXfccPrincipal(at({ address: '10.8.0.1', labels: {} }, `URI=${caller}`), undefined), undefined);
  // Plaintext peer: by address only.
  assert.equal(trustedXfccPrincipal(at({ address: '10.8.0.1', labels: {} }, `URI=${caller}`), trust), caller);
  assert.equal(trustedXfccPrincipal(at({ address: '::ffff:10.8.3.4', labels: {} }, `URI=${caller}`), trust), caller, 'IPv4-mapped');
  assert.equal(trustedXfccPrincipal(at({ address: '10.9.0.1', labels: {} }, `URI=${caller}`), trust), undefined, 'untrusted address');
  assert.equal(
    trustedXfccPrincipal(at({ labels: {} }, `URI=${caller}`), trust),
    undefined,
    'no address (e.g. nginx mode without sourceAddressHeader)',
  );
  // mTLS peer: by principal only; a trusted address does not vouch for an untrusted principal.
  assert.equal(
    trustedXfccPrincipal(
      at({ principal: 'spiffe://cluster.local/ns/shop/sa/batch', address: '10.8.0.1', labels: {} }, `URI=${caller}`),
      trust,
    ),
    undefined,
  );
  assert.equal(
    trustedXfccPrincipal(at({ principal: 'spiffe://cluster.local/ns/istio-system/sa/ingress', labels: {} }, `URI=${caller}`), trust),
    caller,
  );
  assert.equal(
    trustedXfccPrincipal(at({ principal: 'spiffe://cluster.local/ns/edge/sa/gw', labels: {} }, `URI=${caller}`), trust),
    caller,
    'configured without spiffe://',
  );
  // Nearest (last) element; the one our own Envoy appended for the trusted hop is skipped.
  const gw = 'spiffe://cluster.local/ns/edge/sa/gw';
  const self = 'spiffe://cluster.local/ns/shop/sa/orders';
  assert.equal(trustedXfccPrincipal(at({ address: '10.8.0.1', labels: {} }, `URI=spiffe://x/ns/a/sa/b,URI=${caller}`), trust), caller);
  assert.equal(
    trustedXfccPrincipal(at({ principal: gw, labels: {} }, `URI=${caller},By=${self};URI=${gw}`, { principal: self, labels: {} }), trust),
    caller,
  );
  assert.equal(
    trustedXfccPrincipal(at({ principal: gw, labels: {} }, `By=${self};URI=${gw}`, { principal: self, labels: {} }), trust),
    undefined,
    'only our own element: the proxy had no client cert',
  );
  assert.equal(
    trustedXfccPrincipal(
      at({ principal: gw, labels: {} }, `URI=${caller},By=spiffe://elsewhere;URI=${gw}`, { principal: self, labels: {} }),
      trust,
    ),
    gw,
    'By= is not ours: not skipped',
  );
  assert.equal(trustedXfccPrincipal(at({ principal: gw, labels: {} }, undefined), trust), undefined);
});

test('identity.trustXfcc requires identity.xfccTrustedPeers (principals and/or ipBlocks), validated', () => {
  const problem = (raw: unknown): string => {
    try {
      checkConfig(raw);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    return '';
  };
  assert.match(problem({ identity: { trustXfcc: true } }), /identity\.xfccTrustedPeers: required with identity\.trustXfcc/);
  assert.match(problem({ identity: { trustXfcc: true, xfccTrustedPeers: {} } }), /identity\.xfccTrustedPeers: required/);
  assert.match(
    problem({ identity: { trustXfcc: true, xfccTrustedPeers: { ipBlocks: ['10.0.0.0/33'] } } }),
    /identity\.xfccTrustedPeers\.ipBlocks\[0\]/,
  );
  assert.match(
    problem({ identity: { trustXfcc: true, xfccTrustedPeers: { principals: ['cluster.local/ns/x/sa/*'] } } }),
    /identity\.xfccTrustedPeers\.principals\[0\]: must be an exact principal/,
  );
  const cfg = checkConfig({ identity: { trustXfcc: true, xfccTrustedPeers: { ipBlocks: ['10.0.0.0/8'] } } }).config;
  assert.deepEqual(cfg.identity, {
    trustXfcc: true,
    xfccTrustedPeers: { principals: [], ipBlocks: ['10.0.0.0/8'] },
    numTrustedProxies: 0,
    trustDomains: ['cluster.local'],
  });
  // Peers without trustXfcc are accepted but unused.
  assert.deepEqual(checkConfig({ identity: { xfccTrustedPeers: { ipBlocks: ['10.0.0.0/8'] } } }).config.identity, {
    trustXfcc: false,
    numTrustedProxies: 0,
    trustDomains: ['cluster.local'],
  });
});

test('compile: identical conditions of different policies are one shared object (memory at 10,000 policies)', () => {
  const specs: PolicySpec[] = Array.from({ length: 50 }, (_, i) => ({
    name: `p${i}`,
    namespace: `ns-${i}`,
    rules: [
      {
        from: [{ source: { requestPrincipals: ['https://idp.example/*'] } }],
        to: [{ operation: { methods: ['GET'], paths: [`/api/svc-${i}/*`] } }],
        when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }],
      },
    ],
  }));
  const problems: ConfigProblem[] = [];
  const idx = compilePolicies(specs, problems);
  assert.deepEqual(problems, []);
  const [a, b] = [idx.all[3]!.rules[0]!, idx.all[40]!.rules[0]!];
  assert.equal(a.from[0]![0], b.from[0]![0], 'requestPrincipals condition shared');
  assert.equal(a.to[0]![0], b.to[0]![0], 'methods condition shared');
  assert.equal(a.when[0], b.when[0], 'when condition shared');
  assert.notEqual(a.to[0]![1], b.to[0]![1], 'different paths stay separate conditions');
  assert.deepEqual(a.to[0]![1]!.values, ['/api/svc-3/*']);
  assert.deepEqual(b.to[0]![1]!.values, ['/api/svc-40/*']);
  // Sharing must not blur semantics: each policy still matches only its own path.
  const ctx = (path: string): PolicyContext =>
    ({
      input: { method: 'GET', path, headers: {}, destination: {}, source: {} },
      identity: { requestPrincipal: 'https://idp.example/alice', scopes: ['orders:read'], claims: {} },
    }) as unknown as PolicyContext;
  assert.equal(a.to[0]![1]!.test(ctx('/api/svc-3/x')), true);
  assert.equal(b.to[0]![1]!.test(ctx('/api/svc-3/x')), false);
});

test('claimsUsed: every claim a policy, the audit log or the identity mapping can read', async () => {
  const { claimsUsed } = await import('../../../src/snapshot/builder.js');
  const { checkConfig } = await import('../../../src/snapshot/checked-config.js');
  const config = checkConfig({
    authorization: { rolesClaim: 'realm_access.roles' },
    audit: { claims: ['tenant'] },
    policies: [
      {
        name: 'p',
        rules: [
          {
            from: [{ source: { requestPrincipals: ['*'] } }],
            when: [
              { key: 'request.auth.claims[groups]', values: ['g'] },
              { key: 'request.auth.claims[org][team]', values: ['t'] },
              { key: 'request.auth.presenter', values: ['web'] },
              { key: 'request.auth.roles', values: ['admin'] },
            ],
          },
        ],
      },
    ],
  }).config;
  const used = claimsUsed(config);
  for (const c of ['groups', 'org', 'azp', 'acr', 'amr', 'realm_access', 'realm_access.roles', 'tenant', 'kubernetes.io'])
    assert.ok(used.has(c), c);
  // [org][team] reads only the top-level claim org (no dotted-key lookup of "org.team").
  for (const c of ['jti', 'iat', 'exp', 'client_id', 'org.team']) assert.ok(!used.has(c), c);
});

test('index: 1,000 policies sharing one label but differing in another are filed by the rarer one', () => {
  const specs: PolicySpec[] = [];
  for (let i = 0; i < 1000; i++) {
    // Half namespaced, half not: both index paths use the same choice of label.
    specs.push({
      name: `p${i}`,
      ...(i % 2 ? { namespace: 'shop' } : {}),
      selector: { matchLabels: { app: 'orders', version: `v${i}` } },
      rules: [{ to: [{ operation: { paths: ['/x'] } }] }],
    });
  }
  specs.push({
    name: 'all-orders',
    namespace: 'shop',
    selector: { matchLabels: { app: 'orders' } },
    rules: [{ to: [{ operation: { paths: ['/all'] } }] }],
  });
  const idx = compile(specs);
  const at = (version: string, path = '/x') => ctx({ ns: 'shop', labels: { app: 'orders', version }, path });
  // Filed under `app=orders` (the first sorted label) this was 1,001 candidates.
  assert.equal(idx.candidateCount(at('v7')), 2, 'its own policy + the one selecting only app=orders');
  assert.equal(idx.candidateCount(at('v8')), 2);
  assert.equal(idx.candidateCount(at('v-unknown')), 1);
  assert.equal(idx.evaluate(at('v7')).policy, 'p7');
  assert.equal(idx.evaluate(at('v998')).policy, 'p998');
  assert.equal(idx.evaluate(at('v998', '/all')).policy, 'all-orders');
  assert.equal(
    idx.evaluate(ctx({ ns: 'shop', labels: { version: 'v7' }, path: '/x' })).reason,
    'no_policy_matched',
    'the other label is still required',
  );
});

test('compile: what validate rejects never fails open, even if the problems were ignored', () => {
  // Each spec is invalid; the request would match it if the broken part were simply dropped.
  const broken: Array<[string, PolicySpec['rules']]> = [
    ['from: []', [{ from: [], to: [{ operation: { paths: ['/x'] } }] }]],
    ['to: []', [{ from: [{ source: { requestPrincipals: ['*'] } }], to: [] }]],
    ['source: {}', [{ from: [{ source: {} }] }]],
    ['operation: {}', [{ to: [{ operation: {} }] }]],
    ['bad CIDR beside a valid field', [{ from: [{ source: { ipBlocks: ['not-an-ip'], requestPrincipals: ['*'] } }] }]],
    ['empty notPaths beside paths', [{ to: [{ operation: { paths: ['/x'], notPaths: [] } }] }]],
    ['when: values with empty notValues', [{ when: [{ key: 'request.auth.claims[sub]', values: ['u1'], notValues: [] }] }]],
    ['bad service account', [{ from: [{ source: { serviceAccounts: ['shop/*'] } }] }]],
  ];
  const c = ctx({ path: '/x', sub: 'u1', principal: 'spiffe://cluster.local/ns/shop/sa/a' });
  for (const [what, rules] of broken) {
    for (const action of ['ALLOW', 'DENY'] as const) {
      const problems: ConfigProblem[] = [];
      const v = compilePolicies([{ name: 'p', action, rules }], problems).evaluate(c);
      assert.ok(problems.length > 0, `${what}: reported`);
      // Istio's RBAC generation: a broken ALLOW rule matches less, a broken DENY rule more.
      if (action === 'ALLOW') assert.equal(v.allow, false, `${what}: an ALLOW must not admit`);
      else assert.equal(v.reason, 'policy_denied', `${what}: a DENY must still deny`);
    }
  }
});

test('host index: a host-scoped DENY is found whatever the case of the host (decide() may get un-normalized inputs)', () => {
  const idx = compile([
    { name: 'deny-admin', action: 'DENY', rules: [{ to: [{ operation: { hosts: ['admin.example.com'] } }] }] },
    { name: 'allow-all', rules: [{}] },
  ] as PolicySpec[]);
  for (const host of ['admin.example.com', 'Admin.Example.com', 'ADMIN.EXAMPLE.COM:443']) {
    assert.equal(idx.evaluate(ctx({ host, path: '/keys' })).reason, 'policy_denied', host);
  }
  assert.equal(idx.evaluate(ctx({ host: 'shop.example.com', path: '/keys' })).policy, 'allow-all');
});
