// The webhook served by zt-authz itself: App with webhook.enabled starts an HTTPS listener
// (certificate from files, re-read on rotation) that answers AdmissionReviews.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { startTestApp, metricValue, fetchMetrics, type TestApp } from '../../helpers/app.js';

const FIXTURES = new URL('../../../../test/fixtures/admission/', import.meta.url);
type Obj = Record<string, any>;

let dir: string;
let app: TestApp | undefined;

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A self-signed certificate for 127.0.0.1 (the API server would trust it via caBundle). */
function selfSigned(certFile: string, keyFile: string, cn: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore', timeout: 10_000 },
  );
}

function post(
  port: number,
  path: string,
  body: string,
  ca: string,
  method = 'POST',
): Promise<{ status: number; json: Obj; peerCert: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, ca, agent: false, headers: { 'content-type': 'application/json' }, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const peer = (res.socket as TLSSocket).getPeerX509Certificate?.();
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Obj, peerCert: peer?.fingerprint256 ?? '' });
          } catch {
            reject(new Error(`not JSON (${res.statusCode}): ${text}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const skip = haveOpenssl() ? false : 'openssl is not installed (needed to make a test certificate)';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'zt-webhook-'));
});

after(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(
  'App serves the webhook over TLS: inject, malformed, wrong path/method, metrics, certificate rotation',
  { skip, timeout: 30_000 },
  async () => {
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    selfSigned(certFile, keyFile, 'first');
    app = await startTestApp({
      webhook: {
        enabled: true,
        address: '127.0.0.1:0',
        certFile,
        keyFile,
        path: '/inject',
        inject: { image: 'ghcr.io/example/zt-authz:0.1.0' },
      },
    });
    const port = app.app.webhookPort;
    assert.ok(port > 0, 'webhook listener started');
    const ca1 = readFileSync(certFile, 'utf8');

    const review = readFileSync(new URL('pod-annotated.json', FIXTURES), 'utf8');
    const ok = await post(port, '/inject', review, ca1);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.response.allowed, true);
    assert.equal(ok.json.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(ok.json.response.patch as string, 'base64').toString()) as Obj[];
    assert.equal(ops[0]!.value.name, 'zt-authz');

    const bad = await post(port, '/inject', readFileSync(new URL('malformed-not-json.txt', FIXTURES), 'utf8'), ca1);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, 'malformed_admission_review');
    assert.match(bad.json.message, /^body is not JSON/);

    assert.equal((await post(port, '/other', review, ca1)).status, 404);
    assert.equal((await post(port, '/inject', '', ca1, 'GET')).status, 405);

    const metrics = await fetchMetrics(app.adminPort);
    assert.equal(metricValue(metrics, 'zt_authz_webhook_reviews_total', { outcome: 'injected' }), 1);
    assert.equal(metricValue(metrics, 'zt_authz_webhook_reviews_total', { outcome: 'malformed' }), 1);

    // Rotation: a new pair swapped in the way a Secret volume update does (rename), then a reload.
    const fp1 = new X509Certificate(ca1).fingerprint256;
    assert.equal(ok.peerCert, fp1);
    selfSigned(join(dir, 'new.crt'), join(dir, 'new.key'), 'second');
    renameSync(join(dir, 'new.key'), keyFile);
    renameSync(join(dir, 'new.crt'), certFile);
    const ca2 = readFileSync(certFile, 'utf8');
    // reloadCert runs on a timer in production; call it through the listener for a bounded test.
    const listener = (app.app as unknown as { listeners: { webhook: { reloadCert(): boolean } } }).listeners.webhook;
    assert.equal(listener.reloadCert(), true);
    const rotated = await post(port, '/inject', readFileSync(new URL('pod-unannotated.json', FIXTURES), 'utf8'), ca2);
    assert.equal(rotated.status, 200);
    assert.equal(rotated.peerCert, new X509Certificate(ca2).fingerprint256);
    assert.notEqual(rotated.peerCert, fp1);

    // A broken pair is refused and the current certificate stays.
    writeFileSync(keyFile, 'not a key');
    assert.equal(listener.reloadCert(), false);
    assert.equal((await post(port, '/inject', review, ca2)).status, 200);
  },
);

test('webhook.enabled with unreadable certificate files: start-up fails with a clear error', { timeout: 10_000 }, async () => {
  await assert.rejects(
    startTestApp({
      webhook: {
        enabled: true,
        address: '127.0.0.1:0',
        certFile: join(dir, 'missing.crt'),
        keyFile: join(dir, 'missing.key'),
        inject: { image: 'x' },
      },
    }),
    /webhook: cannot read certFile\/keyFile/,
  );
});
