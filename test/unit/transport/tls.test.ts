// server.tls on both authorization listeners, with certificates generated at test time
// (test/helpers/certs.ts): TLS and mTLS handshakes over gRPC and HTTPS, certificate rotation
// without a restart (atomic file replacement, and a Kubernetes Secret volume `..data` symlink
// swap), an invalid replacement keeping the last good certificate, and start-up / `validate`
// errors that name the field and the file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AuthV3Client } from '../../../src/transport/grpc/protos.js';
import { TestCa, type Pem } from '../../helpers/certs.js';
import { TestIdp } from '../../helpers/idp.js';
import { check, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { describeGrpc, withGrpc } from '../../helpers/grpc-impls.js';
import { runCli } from '../../helpers/cli.js';
import { readTlsFiles, TlsFileError } from '../../../src/transport/tls/files.js';
import { ZtAuthzError } from '../../../src/errors.js';

const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];

interface ClientPki {
  ca?: string;
  cert?: string;
  key?: string;
}

/** A v3 client over TLS (or plaintext when `pki` is undefined), with its own connection. */
function client(port: number, pki: ClientPki | undefined): AuthClient {
  const Ctor = AuthV3Client();
  const creds = pki
    ? grpc.credentials.createSsl(
        pki.ca ? Buffer.from(pki.ca) : null,
        pki.key ? Buffer.from(pki.key) : null,
        pki.cert ? Buffer.from(pki.cert) : null,
      )
    : grpc.credentials.createInsecure();
  // A private subchannel pool: a test's connection is never one another client opened.
  return new Ctor(`127.0.0.1:${port}`, creds, { 'grpc.use_local_subchannel_pool': 1 }) as unknown as AuthClient;
}

/** Check status code (0 = allowed), or the RPC error. */
async function grpcCheck(port: number, pki: ClientPki | undefined, token: string): Promise<number> {
  const c = client(port, pki);
  try {
    const res = await check(c, checkRequest({ token }), 5000);
    return res.status?.code ?? 0;
  } finally {
    closeAll(c);
  }
}

/** HTTPS authorization request (Envoy http_service mode); resolves with the status. */
function httpsCheck(port: number, pki: ClientPki, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/orders/1',
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, host: 'orders.shop' },
        servername: 'localhost', // verify the server certificate, not the Host Envoy forwards
        ...(pki.ca ? { ca: pki.ca } : {}),
        ...(pki.cert ? { cert: pki.cert, key: pki.key } : {}),
        agent: false,
        timeout: 5000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Serial of the certificate a fresh TLS connection to `port` is served (no verification). */
function servedSerial(port: number, alpn: string, pki: ClientPki = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: [alpn], ...(pki.cert ? { cert: pki.cert, key: pki.key } : {}) },
      () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.destroy();
        resolve(serial.toUpperCase());
      },
    );
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

/** Replace a file atomically (write a sibling, rename over), like most deploy tools. */
function replaceFile(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

const dir = mkdtempSync(join(tmpdir(), 'zt-tls-'));
let ca: TestCa;
let otherCa: TestCa;
let server1: Pem;
let server2: Pem;
let server3: Pem;
let clientPem: Pem;
let foreignClient: Pem;
let idp: TestIdp;
let token: string;

before(async () => {
  ca = new TestCa(join(dir, 'ca'), 'zt-test-ca');
  otherCa = new TestCa(join(dir, 'other-ca'), 'other-ca');
  server1 = ca.issue('server', 'zt-authz-1');
  server2 = ca.issue('server', 'zt-authz-2');
  server3 = ca.issue('server', 'zt-authz-3');
  clientPem = ca.issue('client', 'envoy');
  foreignClient = otherCa.issue('client', 'intruder');
  idp = await TestIdp.start();
  token = await idp.sign();
});

after(async () => {
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

const issuers = (): unknown[] => [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }];

describeGrpc('TLS (server certificate only), files replaced in place', (impl) => {
  let t: TestApp;
  const tlsDir = join(dir, `plain-${impl}`);
  const certFile = join(tlsDir, 'tls.crt');
  const keyFile = join(tlsDir, 'tls.key');
  let grpcPort: number;
  let httpPort: number;

  before(async () => {
    mkdirSync(tlsDir);
    writeFileSync(certFile, server1.cert);
    writeFileSync(keyFile, server1.key);
    // reloadSeconds 0: only file events, so the rotation below proves the directory watch works.
    t = await startTestApp(
      withGrpc(impl, { server: { tls: { certFile, keyFile, reloadSeconds: 0 } }, issuers: issuers(), policies: POLICIES }),
    );
    grpcPort = t.app.grpcPort;
    httpPort = t.app.httpPort;
    await waitUntil(() => t.app.ready, 10_000, 'keys loaded');
  });
  after(() => t.stop());

  it('gRPC Check over TLS with a client trusting the CA: OK', async () => {
    assert.equal(await grpcCheck(grpcPort, { ca: ca.cert }, token), 0);
  });

  it('gRPC: a plaintext client and a client not trusting the CA both fail', async () => {
    await assert.rejects(grpcCheck(grpcPort, undefined, token), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    await assert.rejects(grpcCheck(grpcPort, { ca: otherCa.cert }, token), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });

  it('HTTPS: trusted → 200; untrusted CA and plaintext HTTP fail', async () => {
    assert.equal(await httpsCheck(httpPort, { ca: ca.cert }, token), 200);
    await assert.rejects(httpsCheck(httpPort, { ca: otherCa.cert }, token), /certificate|self[- ]signed/i);
    await assert.rejects(
      fetch(`http://127.0.0.1:${httpPort}/orders/1`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) }),
    );
  });

  it('the admin listener stays plain HTTP', async () => {
    const res = await fetch(`${t.adminUrl}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
  });

  it('rotation: replaced files are served to new connections on both listeners, without a restart', async () => {
    assert.equal(await servedSerial(grpcPort, 'h2'), server1.serial);
    assert.equal(await servedSerial(httpPort, 'http/1.1'), server1.serial);
    const before = await readMetric(t.adminPort, 'zt_authz_tls_reload_total', { result: 'success' });
    replaceFile(keyFile, server2.key);
    replaceFile(certFile, server2.cert);
    await waitUntil(async () => (await servedSerial(grpcPort, 'h2')) === server2.serial, 10_000, 'gRPC serves the new certificate');
    await waitUntil(async () => (await servedSerial(httpPort, 'http/1.1')) === server2.serial, 10_000, 'HTTPS serves the new certificate');
    assert.ok((await readMetric(t.adminPort, 'zt_authz_tls_reload_total', { result: 'success' })) > before);
    assert.equal(await grpcCheck(grpcPort, { ca: ca.cert }, token), 0, 'Checks still work after the rotation');
    assert.equal(await httpsCheck(httpPort, { ca: ca.cert }, token), 200);
  });

  it('an invalid replacement keeps the last good certificate, is logged and counted once', async () => {
    await waitUntil(async () => (await servedSerial(grpcPort, 'h2')) === server2.serial, 10_000, 'previous test left server2');
    const errors0 = await readMetric(t.adminPort, 'zt_authz_tls_reload_total', { result: 'error' });

    // A key that belongs to another certificate.
    replaceFile(keyFile, server3.key);
    await waitUntil(
      async () => (await readMetric(t.adminPort, 'zt_authz_tls_reload_total', { result: 'error' })) === errors0 + 1,
      10_000,
      'mismatch counted',
    );
    const rejected = t.records().find((r) => r.msg === 'TLS reload rejected; keeping the last good certificate');
    assert.equal(rejected?.field, 'server.tls.keyFile');
    assert.equal(rejected?.file, keyFile);
    assert.match(String(rejected?.error), /does not match the certificate/);
    assert.ok(!t.lines.some((l) => l.includes('PRIVATE KEY')), 'no key material in the logs');

    // Garbage in the certificate file: a second, distinct error.
    replaceFile(certFile, 'not a certificate\n');
    await waitUntil(
      async () => (await readMetric(t.adminPort, 'zt_authz_tls_reload_total', { result: 'error' })) === errors0 + 2,
      10_000,
      'garbage counted',
    );

    // Still serving the last good certificate, and Checks still pass.
    assert.equal(await servedSerial(grpcPort, 'h2'), server2.serial);
    assert.equal(await servedSerial(httpPort, 'http/1.1'), server2.serial);
    assert.equal(await grpcCheck(grpcPort, { ca: ca.cert }, token), 0);
    assert.equal(await httpsCheck(httpPort, { ca: ca.cert }, token), 200);

    // A valid pair again: applied.
    replaceFile(certFile, server3.cert);
    await waitUntil(async () => (await servedSerial(grpcPort, 'h2')) === server3.serial, 10_000, 'fixed files applied');
    assert.equal(
      await readMetric(t.adminPort, 'zt_authz_tls_reload_total', { result: 'error' }),
      errors0 + 2,
      'the same bad content is not recounted',
    );
  });
});

describeGrpc('mTLS, files in a Kubernetes Secret volume layout (..data symlink swap)', (impl) => {
  let t: TestApp;
  const vol = join(dir, `secret-${impl}`);
  let grpcPort: number;
  let httpPort: number;
  const trusted: ClientPki = {};
  const foreign: ClientPki = {};

  /** Write a new `..<version>` directory and swap `..data` to it, as the kubelet does. */
  function publish(version: string, server: Pem): void {
    const d = join(vol, `..${version}`);
    mkdirSync(d);
    writeFileSync(join(d, 'tls.crt'), server.cert);
    writeFileSync(join(d, 'tls.key'), server.key);
    writeFileSync(join(d, 'ca.crt'), ca.cert);
    symlinkSync(`..${version}`, join(vol, '..data_tmp'));
    renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
  }

  before(async () => {
    Object.assign(trusted, { ca: ca.cert, cert: clientPem.cert, key: clientPem.key });
    Object.assign(foreign, { ca: ca.cert, cert: foreignClient.cert, key: foreignClient.key });
    mkdirSync(vol);
    publish('v1', server1);
    for (const f of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(join('..data', f), join(vol, f));
    t = await startTestApp(
      withGrpc(impl, {
        server: {
          tls: { certFile: join(vol, 'tls.crt'), keyFile: join(vol, 'tls.key'), clientCaFile: join(vol, 'ca.crt'), reloadSeconds: 0 },
        },
        issuers: issuers(),
        policies: POLICIES,
      }),
    );
    grpcPort = t.app.grpcPort;
    httpPort = t.app.httpPort;
    await waitUntil(() => t.app.ready, 10_000, 'keys loaded');
  });
  after(() => t.stop());

  it('gRPC: a valid client certificate → OK; none, or one from another CA → the RPC fails', async () => {
    assert.equal(await grpcCheck(grpcPort, trusted, token), 0);
    await assert.rejects(grpcCheck(grpcPort, { ca: ca.cert }, token), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    await assert.rejects(grpcCheck(grpcPort, foreign, token), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });

  it('HTTPS: a valid client certificate → 200; none, or one from another CA → the handshake fails', async () => {
    assert.equal(await httpsCheck(httpPort, trusted, token), 200);
    await assert.rejects(httpsCheck(httpPort, { ca: ca.cert }, token));
    await assert.rejects(httpsCheck(httpPort, foreign, token));
  });

  it('a ..data symlink swap (cert-manager Secret update) is picked up from file events', async () => {
    assert.equal(await servedSerial(grpcPort, 'h2', trusted), server1.serial);
    publish('v2', server2);
    await waitUntil(
      async () => (await servedSerial(grpcPort, 'h2', trusted)) === server2.serial,
      10_000,
      'gRPC serves the swapped certificate',
    );
    await waitUntil(
      async () => (await servedSerial(httpPort, 'http/1.1', trusted)) === server2.serial,
      10_000,
      'HTTPS serves the swapped certificate',
    );
    // Client verification survives the reload (the CA is re-applied with the new pair).
    assert.equal(await grpcCheck(grpcPort, trusted, token), 0);
    await assert.rejects(grpcCheck(grpcPort, foreign, token));
    assert.equal(await httpsCheck(httpPort, trusted, token), 200);
    await assert.rejects(httpsCheck(httpPort, { ca: ca.cert }, token));
  });
});

describe('TLS configuration errors name the field and the file', () => {
  const bad = join(dir, 'bad');
  before(() => {
    mkdirSync(bad);
    writeFileSync(join(bad, 'a.crt'), server1.cert);
    writeFileSync(join(bad, 'b.key'), server2.key);
    writeFileSync(join(bad, 'garbage.pem'), 'hello\n');
  });

  it('schema: certFile and keyFile go together', async () => {
    await assert.rejects(startTestApp({ server: { tls: { certFile: join(bad, 'a.crt') } } }), /server\.tls\.keyFile: is required/);
  });

  it('the file checks throw TlsFileError with code ERR_TLS_FILE and the field', () => {
    assert.throws(
      () => readTlsFiles({ certFile: join(bad, 'a.crt'), keyFile: join(bad, 'b.key') }),
      (e: unknown) => e instanceof TlsFileError && e instanceof ZtAuthzError && e.code === 'ERR_TLS_FILE' && e.field === 'keyFile',
    );
  });

  it('start-up fails on an unreadable file, a mismatched key, a bad CA bundle', async () => {
    const missing = join(bad, 'missing.crt');
    await assert.rejects(startTestApp({ server: { tls: { certFile: missing, keyFile: join(bad, 'b.key') } } }), (e: Error) => {
      assert.match(e.message, /server\.tls\.certFile/);
      assert.ok(e.message.includes(missing), e.message);
      assert.match(e.message, /cannot read \(ENOENT\)/);
      return true;
    });
    await assert.rejects(
      startTestApp({ server: { tls: { certFile: join(bad, 'a.crt'), keyFile: join(bad, 'b.key') } } }),
      /server\.tls\.keyFile: .*b\.key: private key does not match the certificate/,
    );
    await assert.rejects(
      startTestApp({ server: { tls: { certFile: join(bad, 'a.crt'), keyFile: join(bad, 'garbage.pem') } } }),
      /server\.tls\.keyFile: .*garbage\.pem: not an unencrypted PEM private key/,
    );
    writeFileSync(join(bad, 'a.key'), server1.key);
    await assert.rejects(
      startTestApp({
        server: { tls: { certFile: join(bad, 'a.crt'), keyFile: join(bad, 'a.key'), clientCaFile: join(bad, 'garbage.pem') } },
      }),
      /server\.tls\.clientCaFile: .*garbage\.pem: no PEM certificate in the CA bundle/,
    );
  });

  it('`zt-authz validate` reports the same problem (exit 1)', async () => {
    const cfg = join(bad, 'config.yaml');
    writeFileSync(cfg, `server:\n  tls:\n    certFile: ${join(bad, 'a.crt')}\n    keyFile: ${join(bad, 'b.key')}\n`);
    const r = await runCli(['validate', cfg]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /server\.tls\.keyFile: .*private key does not match/);
    writeFileSync(cfg, `server:\n  tls:\n    certFile: ${join(bad, 'a.crt')}\n    keyFile: ${join(bad, 'a.key')}\n`);
    const ok = await runCli(['validate', cfg]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
