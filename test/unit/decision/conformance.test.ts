// Table-driven policy conformance: test/conformance/*.yaml read as a spec. Each document has
// policies (+ optional config) and cases: a request in the `zt-authz check` short form, an
// optional token (claims signed by a test issuer), and the expected decision. Cases run through
// the real pipeline: normalize → authenticate → policy → response shaping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { resolveConfig } from '../../../src/config/resolve.js';
import { buildSnapshot } from '../../../src/snapshot/builder.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { DecisionEngine } from '../../../src/decision/engine.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import { toCheckRequest } from '../../../src/cli/request-file.js';

const DIR = new URL('../../../../test/conformance/', import.meta.url);
const ISS = 'https://idp.test';
const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'conf', alg: 'ES256', use: 'sig' };

interface Expect {
  decision: 'allow' | 'deny';
  reason?: string;
  policy?: string;
  rule?: number;
  status?: number;
  challenge?: string;
  challenge2?: string;
  notChallenge?: string;
  dryRun?: 'allow' | 'deny';
  /** Observe mode: the would-be (enforce-mode) reason. */
  would?: string;
  audits?: string[];
  upstream?: Record<string, string>;
  /** Request headers that must be stripped upstream. */
  removes?: string[];
}
interface Case {
  name: string;
  request?: Record<string, unknown>;
  token?: Record<string, unknown>;
  expect: Expect;
}
interface Doc {
  description: string;
  /** More issuers, beside https://idp.test and with the same key (for cases that tell issuers apart). */
  issuers?: string[];
  /** Settings merged into one test issuer, by issuer name (e.g. its spaceDelimitedClaims). */
  issuerConfig?: Record<string, Record<string, unknown>>;
  config?: Record<string, unknown>;
  policies: unknown[];
  cases: Case[];
}

async function sign(claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iss: ISS, sub: 'alice', iat: now, exp: now + 300, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'conf' }).sign(privateKey);
}

let total = 0;
for (const file of readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()) {
  const docs = parseAllDocuments(readFileSync(new URL(file, DIR), 'utf8')).map((d) => d.toJS() as Doc);
  docs.forEach((doc, di) => {
    const config = resolveConfig(
      {
        ...(doc.config ?? {}),
        issuers: [ISS, ...(doc.issuers ?? [])].map((issuer) => ({
          issuer,
          jwks: { keys: [jwk] },
          algorithms: ['ES256'],
          anyAudience: true,
          ...(doc.issuerConfig?.[issuer] ?? {}),
        })),
        policies: doc.policies,
      },
      `${file}#${di}`,
    );
    const keys = new Map(config.issuers.map((i) => [i.issuer, buildIssuerKeys(i, {})]));
    const snap = buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 1);
    for (const c of doc.cases) {
      total++;
      test(`${file}: ${doc.description} — ${c.name}`, async () => {
        const token = c.token ? await sign(c.token) : undefined;
        // The engine as the App runs it: a request that does not normalize is a malformed_request deny.
        const { decision: d } = await new DecisionEngine(() => snap).decideRequest('test', (limits) =>
          normalizeCheckRequest(toCheckRequest(c.request ?? {}, token), limits),
        );
        const e = c.expect;
        const got = `${d.verdict.allow ? 'allow' : 'deny'} ${d.verdict.reason} policy=${d.verdict.policy} (${d.verdict.detail ?? ''})`;
        assert.equal(d.verdict.allow ? 'allow' : 'deny', e.decision, got);
        if (e.reason) assert.equal(d.verdict.reason, e.reason, got);
        if (e.policy) assert.equal(d.verdict.policy, e.policy, got);
        if (e.rule !== undefined) assert.equal(d.verdict.rule, e.rule, got);
        if (e.status) assert.equal(d.verdict.status, e.status, got);
        for (const part of [e.challenge, e.challenge2])
          if (part) assert.ok(d.response.wwwAuthenticate?.includes(part), `challenge ${d.response.wwwAuthenticate} lacks ${part}`);
        if (e.notChallenge)
          assert.ok(!d.response.wwwAuthenticate?.includes(e.notChallenge), `challenge ${d.response.wwwAuthenticate} has ${e.notChallenge}`);
        if (e.dryRun)
          assert.equal(
            d.evidence.dryRun?.allow ? 'allow' : d.evidence.dryRun ? 'deny' : undefined,
            e.dryRun,
            `dry run: ${JSON.stringify(d.evidence.dryRun)}`,
          );
        if (e.would) assert.equal(d.evidence.wouldDecide?.reason, e.would, `would decide: ${JSON.stringify(d.evidence.wouldDecide)}`);
        else assert.equal(d.evidence.wouldDecide, undefined, 'no would-be decision outside observe mode');
        if (e.audits) assert.deepEqual((d.evidence.audits ?? []).map((a) => a.policy).sort(), [...e.audits].sort());
        for (const [k, v] of Object.entries(e.upstream ?? {}))
          assert.ok(
            d.response.upstreamHeaders.some(([n, val]) => n === k && val === v),
            `upstream ${k}: ${v}`,
          );
        for (const h of e.removes ?? []) assert.ok(d.response.removeHeaders.includes(h), `removes ${h}: ${d.response.removeHeaders}`);
        if (!d.verdict.allow) assert.deepEqual(d.response.upstreamHeaders, [], 'a deny sets no upstream headers');
      });
    }
  });
}

test('the conformance suite has at least 80 cases', () => {
  assert.ok(total >= 80, `only ${total} cases`);
});

test('docs/policies.md states the current number of conformance cases', () => {
  const page = readFileSync(new URL('../../../../docs/policies.md', import.meta.url), 'utf8');
  const stated = /test\/conformance\/\)[^\n]*\n(\d+) request → decision cases/.exec(page);
  assert.ok(stated, 'docs/policies.md: "<n> request → decision cases" after the test/conformance/ link');
  assert.equal(Number(stated[1]), total, `docs/policies.md says ${stated[1]} cases; the suite has ${total}`);
});
