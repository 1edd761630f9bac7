// Wildcards in policy text must not stall the event loop. The Istio namespace / service-account
// readings and the namespace glob were regexes with one `[\s\S]*` per `*`, so a tenant-writable
// DENY `namespaces: ["*a*a*a*a*a*b"]` took ~30 s per request against a 100-character principal.
// They are now glob matchers (src/policy/glob.ts). Differential: the old regexes, kept here as
// the reference, against the new matchers on generated inputs short enough for the regexes to
// stay fast. Timing: the reviewed case and longer ones decide in well under 100 ms.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { globMatcher } from '../../../src/policy/glob.js';
import { istioNamespaceMatcher, istioServiceAccountMatcher } from '../../../src/identity/spiffe.js';
import { namespaceGlobMatcher } from '../../../src/policy/readings.js';
import { pathTemplateMatcher } from '../../../src/policy/match.js';
import { compilePolicies } from '../../../src/policy/compile.js';
import { parsePrincipal } from '../../../src/identity/spiffe.js';
import type { ConfigProblem } from '../../../src/config/problems.js';
import type { PolicyContext } from '../../../src/policy/context.js';

// ---- the regexes these matchers replaced (reference only) ----

function istioRegexPart(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\/]/g, (ch) => (ch === '*' ? '[\\s\\S]*' : ch === '.' ? '[\\s\\S]' : `\\${ch}`));
}
const oldNamespace = (value: string) => new RegExp(`^[\\s\\S]*/ns/${istioRegexPart(value)}/[\\s\\S]*$`);
function oldServiceAccount(nsSlashSa: string): RegExp {
  const slash = nsSlashSa.indexOf('/');
  const ns = istioRegexPart(nsSlashSa.slice(0, slash));
  const sa = istioRegexPart(nsSlashSa.slice(slash + 1));
  return new RegExp(`^[\\s\\S]*/ns/${ns}/(?:[\\s\\S]+/|)sa/${sa}(?:/[\\s\\S]*)?$`);
}
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const oldNamespaceGlob = (pattern: string) => new RegExp(`^${pattern.split('*').map(escapeRegex).join('[\\s\\S]*')}$`);

// ---- generators: small alphabets so that random values and patterns meet ----

const valueChar = fc.constantFrom('a', 'b', '.', '*', '-', '\n', '\u00e9');
/** A namespace / service-account value: at most 4 stars keeps the reference regexes fast. */
const policyValue = fc
  .array(valueChar, { maxLength: 7 })
  .map((cs) => cs.join(''))
  .filter((v) => v.split('*').length <= 5);
const saValue = fc.tuple(policyValue, policyValue).map(([ns, sa]) => `${ns.replace(/\//g, '')}/${sa}`);
const principalPiece = fc.constantFrom(
  'a',
  'b',
  '.',
  '/',
  '-',
  'ns',
  'sa',
  '/ns/',
  '/sa/',
  'spiffe://',
  'SPIFFE://',
  'td',
  '\n',
  '\u00e9',
  '*',
);
const principal = fc.array(principalPiece, { maxLength: 14 }).map((ps) => ps.join(''));
/** Principals built around a value, so that matches are common too. */
const aroundValue = (v: string) => fc.tuple(principal, principal).map(([a, b]) => `${a}/ns/${v.replace(/\*/g, 'a')}/${b}`);

const RUNS = { numRuns: 3000, seed: 20240611 };

describe('policy globs: the same answers as the regexes they replaced', () => {
  it('istioNamespaceMatcher', () => {
    fc.assert(
      fc.property(
        policyValue.chain((v) => fc.tuple(fc.constant(v), fc.oneof(principal, aroundValue(v)))),
        ([value, p]) => {
          assert.equal(istioNamespaceMatcher(value)(p), oldNamespace(value).test(p), `${JSON.stringify(value)} vs ${JSON.stringify(p)}`);
        },
      ),
      RUNS,
    );
  });

  it('istioServiceAccountMatcher', () => {
    const around = (v: string) => {
      const [ns, sa] = v.replace(/\*/g, 'b').split('/') as [string, string];
      return fc
        .tuple(principal, principal, fc.constantFrom('', '/', '/x', 'x/'), fc.constantFrom('', '/', '/y'))
        .map(([a, mid, m, tail]) => `${a}/ns/${ns}/${m ? `${mid}${m}/` : ''}sa/${sa}${tail}`);
    };
    fc.assert(
      fc.property(
        saValue.chain((v) => fc.tuple(fc.constant(v), fc.oneof(principal, around(v)))),
        ([value, p]) => {
          assert.equal(
            istioServiceAccountMatcher(value)(p),
            oldServiceAccount(value).test(p),
            `${JSON.stringify(value)} vs ${JSON.stringify(p)}`,
          );
        },
      ),
      RUNS,
    );
  });

  it('namespaceGlobMatcher (strict: the namespace alone, "." literal)', () => {
    const ns = fc.array(fc.constantFrom('a', 'b', '.', '-', '*'), { maxLength: 10 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(policyValue, ns, (pattern, v) => {
        assert.equal(
          namespaceGlobMatcher(pattern)(v),
          v !== '' && oldNamespaceGlob(pattern).test(v),
          `${JSON.stringify(pattern)} vs ${JSON.stringify(v)}`,
        );
      }),
      RUNS,
    );
  });

  it('globMatcher edge cases', () => {
    const cases: Array<[string, string | undefined, string, boolean]> = [
      ['', undefined, '', true],
      ['', undefined, 'a', false],
      ['*', undefined, '', true],
      ['a*a', undefined, 'a', false], // first and last may not overlap
      ['a*a', undefined, 'aa', true],
      ['*ab*ab*', undefined, 'abab', true],
      ['*ab*ab*', undefined, 'aba', false],
      ['a.c', '.', 'abc', true],
      ['a.c', '.', 'ac', false],
      ['*.', '.', '', false],
      ['*/ns/.*/x', '.', '/ns//x', false],
      ['*/ns/.*/x', '.', '/ns/q/x', true],
    ];
    for (const [pattern, any, v, want] of cases) assert.equal(globMatcher(pattern, any)(v), want, `${pattern} ${any ?? ''} ${v}`);
  });
});

describe('policy globs: linear time', () => {
  const slow = 100; // ms; the old regex took ~30 s for the first case
  const long = `spiffe://cluster.local/ns/${'a'.repeat(40)}/sa/${'a'.repeat(40)}`;

  function timed(what: string, fn: () => unknown): void {
    const t0 = performance.now();
    fn();
    const ms = performance.now() - t0;
    assert.ok(ms < slow, `${what}: ${ms.toFixed(1)} ms`);
  }

  it('DENY namespaces: ["*a*a*a*a*a*b"] against a 100-character principal decides in well under 100 ms', () => {
    const problems: ConfigProblem[] = [];
    const idx = compilePolicies(
      [
        {
          name: 'deny-odd-namespaces',
          namespace: 'shop',
          action: 'DENY',
          rules: [{ from: [{ source: { namespaces: ['*a*a*a*a*a*b'] } }] }],
        },
        { name: 'allow-all', namespace: 'shop', action: 'ALLOW', rules: [{}] },
      ],
      problems,
    );
    assert.deepEqual(problems, []);
    const ctx: PolicyContext = {
      input: {
        requestId: '1',
        method: 'GET',
        host: 'orders',
        path: '/x',
        query: '',
        headers: {},
        source: { labels: {}, principal: long },
        destination: { labels: {} },
        contextExtensions: {},
      },
      identity: undefined,
      source: parsePrincipal(long),
      destination: { namespace: 'shop', labels: {} },
    };
    timed('policy evaluation', () => assert.equal(idx.evaluate(ctx).policy, 'allow-all'));
  });

  it('every glob reading stays fast on long adversarial values', () => {
    const value = `${'*a'.repeat(12)}*b`;
    const principal = `spiffe://cluster.local/ns/${'a'.repeat(2000)}/sa/${'a'.repeat(2000)}`;
    timed('istioNamespaceMatcher', () => assert.equal(istioNamespaceMatcher(value)(principal), false));
    timed('istioNamespaceMatcher with "."', () => assert.equal(istioNamespaceMatcher(`${'.*'.repeat(12)}b`)(principal), false));
    timed('istioServiceAccountMatcher', () =>
      assert.equal(istioServiceAccountMatcher(`${'a.'.repeat(10)}/${'a.'.repeat(10)}b`)(principal), false),
    );
    timed('namespaceGlobMatcher', () => assert.equal(namespaceGlobMatcher(value)('a'.repeat(4000)), false));
  });

  it('path templates compile to regexes that do not backtrack badly ({*} cannot cross "/", one {**})', () => {
    const m = pathTemplateMatcher('/{*}/{*}/{*}/{**}/x/y');
    const path = `/${'a'.repeat(3000)}/${'a/'.repeat(3000)}x`;
    timed('path template', () => assert.equal(m(path), false));
  });
});
