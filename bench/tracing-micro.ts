// The cost of tracing, in process: one Check through the gRPC adapter (transport/grpc/check-adapter.ts:
// normalize, the engine with a cached RS256 token, the CheckResponse) with tracing off, on at
// sampleRatio 0 (on, never a span), 0.01 and 1, without a caller context, and at 0.01 with a sampled caller
// traceparent in the call metadata (every span exported, as when Envoy samples). Spans go over
// OTLP/HTTP to a receiver in this process that accepts and drops them, so the export's CPU
// (protobuf encoding, the HTTP post) is counted in the loop. No gRPC server, no metrics or audit:
// what differs between the variants is tracing alone. One variant per process, so each one's
// process CPU (user + system, the export and GC included) can be divided by its Checks; run
// the variants alternately several times on a busy machine.
//   node dist/bench/tracing-micro.js --variant off|ratio0|ratio0.01|ratio1|ratio0.01+sampledCaller [--iterations 50000]
// Prints one JSON line: {node, variant, iterations, exportPosts, cpuUsPerCheck, wallUsPerCheck, p50Us, p99Us}
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { resolveConfig } from '../src/config/resolve.js';
import { buildSnapshot } from '../src/snapshot/builder.js';
import { buildIssuerKeys } from '../src/authn/key-resolvers.js';
import { DecisionEngine } from '../src/decision/engine.js';
import { InternalError } from '../src/errors.js';
import { grpcCheckHandler } from '../src/transport/grpc/check-adapter.js';
import { DecisionTracing } from '../src/observe/tracing/decision-tracing.js';
import { envoyCheckRequest } from './lib/frames.js';
import { argMap, percentile } from './lib/util.js';

const a = argMap(process.argv.slice(2));
const iterations = Number(a.get('iterations') ?? 50000);
const ISSUER = 'https://idp.bench.example';

type Run = () => Promise<number>;

async function main(): Promise<void> {
  // The OTLP receiver: reads each post and answers 200 with an empty ExportTraceServiceResponse.
  let posts = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;

  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const token = await new SignJWT({ sub: 'bench' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience('orders')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  const config = resolveConfig({
    issuers: [{ issuer: ISSUER, jwks: JSON.stringify({ keys: [jwk] }), audiences: ['orders'] }],
    policies: [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }],
  });
  const keys = new Map(config.issuers.map((iss) => [iss.issuer, buildIssuerKeys(iss, {})]));
  const logger = pino({ level: 'warn' });
  const tracings: DecisionTracing[] = [];
  const variant = (ratio: number | undefined, traceparent: boolean): Run => {
    const tracing = new DecisionTracing(logger);
    tracings.push(tracing);
    tracing.configure(
      ratio === undefined ? undefined : { otlp: { endpoint, timeoutSeconds: 10 }, sampleRatio: ratio, serviceName: 'bench' },
    );
    const hooks = { cacheHit: () => tracing.tokenCache(true), cacheMiss: () => tracing.tokenCache(false) };
    const snap = buildSnapshot(config, keys, hooks, 1);
    const handler = grpcCheckHandler(new DecisionEngine(() => snap), tracing);
    const req = envoyCheckRequest({ token });
    // The bench request carries Envoy's B3 headers (a sampled caller): removed, so that only the
    // variant with a caller has one.
    const headers = req.attributes!.request!.http!.headers!;
    for (const name of Object.keys(headers)) if (name.startsWith('x-b3-')) delete headers[name];
    return async () => {
      // A fresh caller span per call, as Envoy's: the node:http2 server hands over its headers.
      const metadata = traceparent ? { traceparent: `00-${randomHex(32)}-${randomHex(16)}-01` } : {};
      const s = performance.now();
      const res = await handler(req, 'grpc-v3', metadata);
      const us = (performance.now() - s) * 1000;
      if (res.status?.code !== 0) throw new InternalError(`bench request not allowed: ${res.status?.message ?? ''}`);
      return us;
    };
  };
  const all: Record<string, () => Run> = {
    off: () => variant(undefined, false),
    ratio0: () => variant(0, false),
    'ratio0.01': () => variant(0.01, false),
    ratio1: () => variant(1, false),
    'ratio0.01+sampledCaller': () => variant(0.01, true),
  };
  const name = a.get('variant') ?? 'off';
  const make = all[name];
  if (!make) throw new InternalError(`--variant: one of ${Object.keys(all).join(', ')}`);
  const run = make();
  for (let i = 0; i < 3000; i++) await run(); // warm-up; the token is verified and cached
  const times = new Float64Array(iterations);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    times[i] = await run();
    // Let timers and sockets (the batch processor, the exporter's posts) run, as the event loop
    // would between requests on a server: their CPU is in the process total below.
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  for (const t of tracings) await t.shutdown(); // the last spans exported, inside the measurement
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  receiver.close();
  const r = (v: number): number => Math.round(v * 100) / 100;
  times.sort();
  const out = {
    node: process.version,
    variant: name,
    iterations,
    exportPosts: posts,
    // Process CPU (user + system) per Check: the decision, the span and its export, GC.
    cpuUsPerCheck: r((cpu.user + cpu.system) / iterations),
    wallUsPerCheck: r((wallMs * 1000) / iterations),
    p50Us: r(percentile(times, 50)),
    p99Us: r(percentile(times, 99)),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function randomHex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ((Math.random() * 16) | 0).toString(16);
  return s.startsWith('0'.repeat(n)) ? `1${s.slice(1)}` : s;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
