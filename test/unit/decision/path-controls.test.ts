// Percent-encoded control characters in the path (%00-%1F, %7F) are denied like raw ones: some
// upstreams trim or split on a decoded `\n` or `\t`, so `/admin%09` could reach /admin while a
// DENY on `/admin` never matched. The query string keeps encoded control characters (form data),
// but a raw one there is refused: it is never valid in a request target.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, normalizeRequest } from '../../../src/decision/normalize.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import { authV3Client, check, checkRequest, closeAll } from '../../helpers/grpc-client.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';

const ENCODED_CONTROLS = ['%00', '%0a', '%0A', '%0d', '%09', '%1f', '%1F', '%7f', '%7F', '%01', '%10'];

describe('control characters in the request target', () => {
  it('normalizePath refuses every percent-encoded control character, keeps %20 and %7E-style escapes', () => {
    for (const c of ENCODED_CONTROLS) {
      assert.equal(normalizePath(`/admin${c}`), undefined, c);
      assert.equal(normalizePath(`/a${c}/b`), undefined, c);
    }
    assert.equal(normalizePath('/a%20b'), '/a%20b');
    assert.equal(normalizePath('/a%2Db'), '/a-b');
    assert.equal(normalizePath('/caf%C3%A9'), '/caf%C3%A9');
  });

  it('the query keeps encoded control characters but not raw ones', () => {
    const base = {
      requestId: 'r',
      method: 'GET',
      host: 'h',
      headers: {},
      headerCount: 1,
      source: { labels: {} },
      destination: { labels: {} },
      contextExtensions: {},
    };
    const limits = { maxHeaders: 10, maxPathBytes: 200 };
    assert.ok(normalizeRequest({ ...base, rawPath: '/a?text=line1%0Aline2%09x%7F' }, limits).ok);
    for (const q of ['\n', '\t', '\u0000', '\u007f', '\u001f']) {
      const r = normalizeRequest({ ...base, rawPath: `/a?x=1${q}` }, limits);
      assert.equal(r.ok ? 'ok' : r.detail, 'query string contains a raw control character', JSON.stringify(q));
    }
  });

  describe('end to end: a DENY on /admin is not sidestepped with an encoded control character', () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({
        policies: [
          { name: 'all', rules: [{ to: [{ operation: { paths: ['/*'] } }] }] },
          { name: 'no-admin', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] },
        ],
      });
    });
    after(async () => t?.stop());
    const decide = async (path: string) =>
      (await t.app.decideRequest('test', (l) => normalizeCheckRequest(checkRequest({ path }), l))).decision;

    it('denies /admin%09, /admin%0a, /admin%0d, /admin%7f as malformed_request', async () => {
      assert.equal((await decide('/admin')).verdict.reason, 'policy_denied');
      assert.equal((await decide('/public')).verdict.reason, 'allowed');
      for (const c of ENCODED_CONTROLS) {
        const d = await decide(`/admin${c}`);
        assert.equal(d.verdict.allow, false, c);
        assert.equal(d.verdict.reason, 'malformed_request', c);
      }
    });

    it('over real gRPC: an encoded control character never gets past the DENY on /admin', async () => {
      const client = authV3Client(t.grpcPort);
      try {
        for (const c of ['%09', '%0a', '%0D', '%7f']) {
          const res = await check(client, checkRequest({ path: `/admin${c}` }));
          assert.notEqual(res.status?.code, 0, c);
          assert.equal(res.status?.message, 'malformed_request', c);
          assert.ok([400, 'BadRequest'].includes(res.deniedResponse?.status?.code as never), c);
        }
        assert.equal((await check(client, checkRequest({ path: '/public%20page' }))).status?.code, 0, 'other escapes pass');
      } finally {
        closeAll(client);
      }
    });
  });
});
