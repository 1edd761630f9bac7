// API keys (src/authn/apikeys/): keys-file validation, configuration checks, and decisions through
// the real engine with a keys file: principal apikey:<source>/<subject>, scopes/roles/claims for
// `when`, the key stripped upstream, and every failure (unknown, expired, revoked, malformed, a key
// beside a token) a 401 deny of its own, never an allow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { exportJWK, generateKeyPair } from 'jose';
import { resolveConfig } from '../../../src/config/resolve.js';
import { ConfigError } from '../../../src/config/problems.js';
import { buildSnapshot } from '../../../src/snapshot/builder.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { DecisionEngine } from '../../../src/decision/engine.js';
import { parseKeysFile } from '../../../src/authn/apikeys/keys-file.js';
import { ApiKeyStore } from '../../../src/authn/apikeys/store.js';
import type { CheckInput } from '../../../src/decision/types.js';
import type { Decision } from '../../../src/decision/decision.js';
import type { RevocationCheck } from '../../../src/authn/revocation/list.js';
import { registerHmacSecret } from '../../helpers/capture.js';
import { startTestApp } from '../../helpers/app.js';
import { ApiKeyRegistry, type ApiKeySecretFeed, type ApiKeySecretUpdate } from '../../../src/authn/apikeys/registry.js';
import type { Logger } from 'pino';

const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
const KEY = 'zt_acme-key-0123456789abcdefghijklmnopqrstuvwx';
const OLD = 'zt_expired-key-0123456789abcdefghijklmnopqrstu';
const OTHER = 'zt_globex-key-0123456789abcdefghijklmnopqrstuv';
// The log-hygiene scan looks for these verbatim in everything the run prints.
for (const k of [KEY, OLD, OTHER]) registerHmacSecret(k);
const T0 = Date.parse('2027-01-01T00:00:00Z');

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('keys file: a valid document gives its entries (hash lower-cased, expiresAt parsed)', () => {
  const entries = parseKeysFile(
    stringify({
      keys: [
        {
          name: 'acme-1',
          sha256: sha(KEY).toUpperCase(),
          subject: 'acme',
          scopes: ['orders:read'],
          claims: { tenant: 'acme' },
          expiresAt: '2027-06-30T00:00:00Z',
        },
      ],
    }),
    'f',
  );
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.sha256, sha(KEY));
  assert.equal(entries[0]!.expiresAt, Date.parse('2027-06-30T00:00:00Z'));
  assert.deepEqual(entries[0]!.roles, []);
});

test('keys file: every problem is a ConfigError naming its field', () => {
  const h = sha(KEY);
  const got = problems(() =>
    parseKeysFile(
      stringify({
        keys: [
          { name: 'a', sha256: h, subject: 's' },
          { name: 'a', sha256: sha(OTHER), subject: 's' },
          { name: 'b', sha256: 'xyz', subject: 's' },
          { name: 'c', sha256: h, subject: 's' },
          { name: 'd', sha256: sha(OLD), subject: 's', expiresAt: '30 June 2027' },
          { name: 'e', sha256: sha('e'), subject: '', scopes: 'orders:read', colour: 'red' },
          { name: 'f', sha256: sha('f'), subject: 's', claims: { sub: 'someone-else' } },
        ],
      }),
      'keys.yaml',
    ),
  );
  const want = [
    'keys[1].name: duplicate of keys[0].name',
    'keys[2].sha256: must be 64 hex digits',
    'keys[3].sha256: same hash as keys[0]',
    'keys[4].expiresAt: must be an RFC 3339 date-time',
    'keys[5].colour: unknown field',
    'keys[5].subject: is required',
    'keys[5].scopes: must be a list',
    'keys[6].claims.sub: is set from the entry',
  ];
  for (const w of want)
    assert.ok(
      got.some((g) => g.startsWith(w)),
      `${w}\nin\n${got.join('\n')}`,
    );
});

test('keys file: malformed YAML, a non-mapping and a keys scalar are errors, never an empty set', () => {
  assert.match(problems(() => parseKeysFile('keys: [ {name: a', 'f'))[0]!, /^\(yaml\)/);
  assert.match(problems(() => parseKeysFile('- a\n- b\n', 'f'))[0]!, /must be a mapping/);
  assert.match(problems(() => parseKeysFile('keys: 3\n', 'f'))[0]!, /keys: must be a list/);
  assert.match(problems(() => parseKeysFile('keys: []\nextra: 1\n', 'f'))[0]!, /extra: unknown field/);
  assert.deepEqual(parseKeysFile('keys: []\n', 'f'), []);
});

test('store: a second origin holding the same key or name is refused and the first stays', () => {
  const store = new ApiKeyStore('partners');
  const [a] = parseKeysFile(stringify({ keys: [{ name: 'a', sha256: sha(KEY), subject: 's' }] }), 'f');
  assert.deepEqual(store.setPart('file', [a!]), []);
  const clash = store.setPart('secret ns/x', [{ ...a!, name: 'other' }]);
  assert.match(clash.map((p) => `${p.path}: ${p.message}`).join('\n'), /keys\[0\]\.sha256: the same key is already in file/);
  assert.equal(store.size, 1);
  const d = createHash('sha256').update(KEY).digest('binary');
  assert.equal(store.lookup(d)?.entry.name, 'a');
  assert.equal(store.lookup(createHash('sha256').update(OTHER).digest('binary')), undefined);
});

test('config: apiKeys problems name the field', () => {
  const got = problems(() =>
    resolveConfig({
      issuers: [{ issuer: 'https://idp', jwks: { keys: [] }, audiences: ['a'], fromHeaders: [{ name: 'x-token' }] }],
      apiKeys: [
        { name: 'partners' },
        { name: 'partners', keysFile: '/k', fromHeaders: [{ name: 'X-Token' }] },
        { name: 'more', keysSecretSelector: { matchLabels: { 'zt-authz.io/api-keys': 'more' } } },
      ],
    }),
  );
  for (const w of [
    'apiKeys[0]: needs keysFile and/or keysSecretSelector',
    'apiKeys[1].name: duplicate of apiKeys[0]',
    'apiKeys[1].fromHeaders[0].name: "x-token" is a header an issuer reads tokens from',
    'apiKeys[2].keysSecretSelector: needs kubernetes.enabled',
  ])
    assert.ok(
      got.some((g) => g.startsWith(w)),
      `${w}\nin\n${got.join('\n')}`,
    );
  assert.match(
    problems(() => resolveConfig({ apiKeys: [{ name: 'Bad_Name', keysFile: '/k' }] }))[0]!,
    /^apiKeys\[0\]\.name: must be source name/,
  );
});

// ---- decisions through the engine ----------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'apikeys-'));
const keysFile = join(dir, 'keys.yaml');
writeFileSync(
  keysFile,
  stringify({
    keys: [
      { name: 'acme-2026-12', sha256: sha(KEY), subject: 'acme', scopes: ['orders:read'], roles: ['partner'], claims: { tenant: 'acme' } },
      { name: 'acme-old', sha256: sha(OLD), subject: 'acme', scopes: ['orders:read'], expiresAt: '2026-06-30T00:00:00Z' },
      { name: 'globex', sha256: sha(OTHER), subject: 'globex', scopes: ['orders:write'], claims: { tenant: 'globex' } },
    ],
  }),
);

const JWT_ISS = 'https://idp.test';
const jwk = { ...(await exportJWK((await generateKeyPair('ES256')).publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
function engine(extra: Record<string, unknown> = {}, revocation?: RevocationCheck) {
  const config = resolveConfig({
    issuers: [{ issuer: JWT_ISS, jwks: { keys: [jwk] }, audiences: ['api'] }],
    apiKeys: [{ name: 'partners', fromHeaders: [{ name: 'x-api-key' }], fromParams: ['api_key'], keysFile }],
    policies: [
      {
        name: 'partners-read',
        rules: [
          {
            from: [{ source: { requestPrincipals: ['apikey:partners/*'] } }],
            to: [{ operation: { methods: ['GET'], paths: ['/orders'] } }],
            when: [
              { key: 'request.auth.claims[tenant]', values: ['acme'] },
              { key: 'request.auth.claims[scope]', values: ['orders:read'] },
              { key: 'request.auth.roles', values: ['partner'] },
            ],
          },
        ],
      },
    ],
    ...extra,
  });
  const keys = new Map(config.issuers.map((i) => [i.issuer, buildIssuerKeys(i, {})]));
  const snap = buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 1, { now: () => T0, ...(revocation ? { revocation } : {}) });
  return new DecisionEngine(() => snap);
}

function req(headers: Record<string, string>, query = ''): CheckInput {
  return {
    requestId: 'r',
    method: 'GET',
    host: 'orders',
    path: '/orders',
    query,
    headers,
    source: { labels: {} },
    destination: { labels: {} },
    contextExtensions: {},
  };
}

const reason = (d: Decision): string => `${d.verdict.allow ? 'allow' : 'deny'}:${d.verdict.reason}:${d.verdict.status}`;

test('a known key is allowed as apikey:partners/acme, with its claims, scopes and roles, and is stripped upstream', async () => {
  const d = await engine().decide(req({ 'x-api-key': KEY }));
  assert.equal(reason(d), 'allow:allowed:200', d.verdict.detail);
  assert.equal(d.evidence.identity?.requestPrincipal, 'apikey:partners/acme');
  assert.equal(d.evidence.identity?.issuer, 'apikey:partners');
  assert.equal(d.evidence.identity?.apiKey, 'acme-2026-12');
  assert.equal(d.evidence.identity?.tokenHash, sha(KEY).slice(0, 12));
  assert.ok(d.response.removeHeaders.includes('x-api-key'), 'the key is removed upstream');
  assert.deepEqual(
    d.response.upstreamHeaders.find(([n]) => n === 'x-auth-subject'),
    ['x-auth-subject', 'acme'],
  );
});

test('in a query parameter the key is allowed and the parameter removed upstream', async () => {
  const d = await engine().decide(req({}, `a=1&api_key=${encodeURIComponent(KEY)}`));
  assert.equal(reason(d), 'allow:allowed:200');
  assert.deepEqual(d.response.removeQueryParams, ['api_key']);
});

test('another key of the source is authenticated, then refused by policy (its claims differ)', async () => {
  const d = await engine().decide(req({ 'x-api-key': OTHER }));
  assert.equal(reason(d), 'deny:no_policy_matched:403');
  assert.equal(d.evidence.identity?.requestPrincipal, 'apikey:partners/globex');
});

test('unknown, expired, revoked and malformed keys are 401s with reasons of their own', async () => {
  const e = engine();
  assert.equal(reason(await e.decide(req({ 'x-api-key': 'zt_not-a-key-of-ours-00000000000000000000000' }))), 'deny:apikey_unknown:401');
  const expired = await e.decide(req({ 'x-api-key': OLD }));
  assert.equal(reason(expired), 'deny:apikey_expired:401');
  assert.match(expired.verdict.detail ?? '', /acme-old/);
  assert.equal(reason(await e.decide(req({ 'x-api-key': '' }))), 'deny:apikey_malformed:401');
  assert.equal(reason(await e.decide(req({ 'x-api-key': `${KEY} extra` }))), 'deny:apikey_malformed:401');
  assert.equal(reason(await e.decide(req({ 'x-api-key': `${KEY},${OTHER}` }))), 'deny:token_multiple:401');
  assert.equal(reason(await e.decide(req({}, `API_KEY=${KEY}`))), 'deny:apikey_malformed:401');
  assert.equal(reason(await e.decide(req({ 'x-api-key': 'k'.repeat(9000) }))), 'deny:token_too_large:401');
  const revocation: RevocationCheck = {
    empty: false,
    apiKeyRevoked: (h: string) => h === sha(KEY),
    tokenRevoked: () => false,
  };
  assert.equal(reason(await engine({}, revocation).decide(req({ 'x-api-key': KEY }))), 'deny:token_revoked:401');
  assert.equal(reason(await engine({}, revocation).decide(req({ 'x-api-key': OTHER }))), 'deny:no_policy_matched:403');
  for (const d of [expired]) assert.ok(!JSON.stringify(d).includes(OLD), 'the key is never in a decision');
});

test('a key beside a token (or two keys) is token_multiple, never either identity', async () => {
  const e = engine();
  assert.equal(reason(await e.decide(req({ 'x-api-key': KEY, authorization: 'Bearer a.b.c' }))), 'deny:token_multiple:401');
  assert.equal(reason(await e.decide(req({ 'x-api-key': KEY }, `api_key=${OTHER}`))), 'deny:token_multiple:401');
  // A non-Bearer authorization header is not a token: the key decides.
  assert.equal(reason(await e.decide(req({ 'x-api-key': KEY, authorization: 'Basic dXNlcjpwdw==' }))), 'allow:allowed:200');
});

test('observe mode strips a key it could not verify', async () => {
  const d = await engine({ mode: { default: 'observe' } }).decide(
    req({ 'x-api-key': 'zt_unknown-000000000000000000000000000000000' }, `x=1`),
  );
  assert.equal(d.verdict.reason, 'observed');
  assert.ok(d.response.removeHeaders.includes('x-api-key'));
});

test('a missing or invalid keys file fails the build with the file named', () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, stringify({ keys: [{ name: 'x', sha256: 'nothex', subject: 's' }] }));
  for (const f of [bad, join(dir, 'missing.yaml')]) {
    const config = resolveConfig({ apiKeys: [{ name: 'p', keysFile: f }] });
    assert.throws(
      () => buildSnapshot(config, new Map(), { cacheHit() {}, cacheMiss() {} }, 1),
      (err: unknown) => err instanceof ConfigError && err.source === f,
    );
  }
});

test('a reload that changes apiKeys gets a new authenticator: the new file applies, the old keys stop working', async () => {
  const other = join(dir, 'other.yaml');
  writeFileSync(other, stringify({ keys: [{ name: 'globex', sha256: sha(OTHER), subject: 'globex' }] }));
  const policies = [{ name: 'p', rules: [{ from: [{ source: { requestPrincipals: ['apikey:partners/*'] } }] }] }];
  const t = await startTestApp({ apiKeys: [{ name: 'partners', keysFile }], policies });
  try {
    const decide = async (key: string) => reason(await t.app.engine.decide(req({ 'x-api-key': key })));
    assert.equal(await decide(KEY), 'allow:allowed:200');
    assert.equal(await decide(OTHER), 'allow:allowed:200');
    const next = resolveConfig({ server: t.config.server, apiKeys: [{ name: 'partners', keysFile: other }], policies });
    assert.equal(t.app.reload(next), true);
    assert.equal(await decide(KEY), 'deny:apikey_unknown:401', 'the old file no longer applies');
    assert.equal(await decide(OTHER), 'allow:allowed:200');
    // A reload naming a missing keys file fails and keeps the running keys.
    assert.equal(
      t.app.reload(resolveConfig({ server: t.config.server, apiKeys: [{ name: 'partners', keysFile: join(dir, 'nope.yaml') }], policies })),
      false,
    );
    assert.equal(await decide(OTHER), 'allow:allowed:200');
  } finally {
    await t.stop();
  }
});

test('Secrets: each is checked on its own; a bad update keeps its last good keys, a deletion removes them', () => {
  const pushes: Array<(u: ApiKeySecretUpdate) => void> = [];
  const feed: ApiKeySecretFeed = {
    subscribe: (_sel, push) => {
      pushes.push(push);
      return () => undefined;
    },
  };
  const logged: string[] = [];
  const logger = {
    info: () => undefined,
    warn: (_o: unknown, msg: string) => logged.push(msg),
    error: () => undefined,
  } as unknown as Logger;
  const counts: string[] = [];
  const reg = new ApiKeyRegistry({
    logger,
    watch: { debounceMs: 10, pollSeconds: 0 },
    secrets: () => feed,
    onLoad: (_s, r) => counts.push(r),
  });
  const src = {
    name: 'partners',
    fromHeaders: [{ name: 'x-api-key', prefix: '' }],
    fromParams: [],
    keysSecretSelector: { matchLabels: { a: 'b' } },
  };
  const { stores, commit } = reg.storesFor([src]);
  commit();
  reg.start();
  assert.equal(reg.ready, false, 'not ready before the Secrets are listed');
  const store = stores.get('partners')!;
  const d = (k: string): string => createHash('sha256').update(k).digest('binary');
  const doc = (keys: unknown[]): string => stringify({ keys });
  pushes[0]!({ kind: 'document', origin: 'secret ns/a', text: doc([{ name: 'acme', sha256: sha(KEY), subject: 'acme' }]) });
  pushes[0]!({ kind: 'synced' });
  assert.equal(reg.ready, true);
  assert.equal(store.lookup(d(KEY))?.entry.subject, 'acme');
  pushes[0]!({ kind: 'document', origin: 'secret ns/a', text: 'keys: [ {' });
  pushes[0]!({ kind: 'error', origin: 'secret ns/a', error: 'keys.yaml is not base64' });
  assert.equal(store.lookup(d(KEY))?.entry.subject, 'acme', 'last good keys kept');
  pushes[0]!({ kind: 'document', origin: 'secret ns/b', text: doc([{ name: 'acme2', sha256: sha(KEY), subject: 'x' }]) });
  assert.equal(store.lookup(d(KEY))?.entry.subject, 'acme', 'the same key in another Secret is refused');
  assert.deepEqual(counts.filter((c) => c === 'error').length, 3);
  assert.equal(logged.filter((m) => /rejected/.test(m)).length, 3);
  pushes[0]!({ kind: 'deleted', origin: 'secret ns/a' });
  assert.equal(store.lookup(d(KEY)), undefined, 'a deleted Secret takes its keys');
  reg.stop();
});
