// OpenTelemetry tracing end to end: a real App exporting over OTLP/HTTP (protobuf) to a receiver
// in the test, which decodes what arrives (test/helpers/otlp-receiver.ts). Checked: the decision's
// span is the child of the caller's context, taken from the call's gRPC metadata (both gRPC
// servers), from the CheckRequest's headers (traceparent, B3 single and multi) and from the HTTP
// listener's request headers; a caller's sampled flag wins over sampleRatio 0 both ways; nothing
// is exported without a caller at ratio 0; the attributes, and no token, claim or header value
// anywhere in the exported bytes; spans exported within the 5 s batch delay; the audit record's
// trace_id; a reload that changes the ratio; internal_error as the only error status; malformed
// or oversized contexts, a throwing tracer and a collector that is down never change the answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { CheckRequest, CheckResponse } from '../../../src/transport/grpc/messages.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { DecisionTracing, SPAN_NAME } from '../../../src/observe/tracing/decision-tracing.js';
import type { CheckEngine, PendingDecision } from '../../../src/decision/engine.js';
import type { Decision } from '../../../src/decision/decision.js';
import { createLogger } from '../../../src/observe/log.js';
import { HEADERS_GETTER } from '../../../src/observe/tracing/propagation.js';
import type { TracingSdk } from '../../../src/observe/tracing/provider.js';
import { TestIdp } from '../../helpers/idp.js';
import { authV2Client, authV3Client, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { captureStream, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { describeGrpc, withGrpc } from '../../helpers/grpc-impls.js';
import { OtlpReceiver, type ReceivedSpan } from '../../helpers/otlp-receiver.js';
import { FIXED_ALLOW, fixedAllowEngine, unusedNormalize } from '../../helpers/fake-check-engine.js';

const PEER = 'spiffe://cluster.local/ns/shop/sa/frontend';
const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];
/** A header value that must never be exported (nor the token, its subject or its claims). */
const SECRET_HEADER_VALUE = 'do-not-export-7f3a9c';
const SUBJECT = 'user-trace-subject-4417';
const TENANT = 'tenant-claim-value-9921';
/** The SDK's batch delay (5 s) plus the time an export takes on a busy machine. */
const EXPORT_DEADLINE_MS = 6500;

interface Caller {
  traceId: string;
  spanId: string;
}
const newCaller = (): Caller => ({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });
const traceparent = (c: Caller, sampled: boolean): string => `00-${c.traceId}-${c.spanId}-${sampled ? '01' : '00'}`;

function callWith(client: AuthClient, req: CheckRequest, metadata: Record<string, string> = {}): Promise<CheckResponse> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve, reject) => {
    client.Check(req, md, { deadline: new Date(Date.now() + 5000) }, (err, res) => (err ? reject(err) : resolve(res ?? {})));
  });
}

const spanOf = (r: OtlpReceiver, c: Caller): ReceivedSpan | undefined => r.spans.find((s) => s.traceId === c.traceId);
const auditFor = (t: TestApp, requestId: string): Record<string, unknown> | undefined => t.audit().find((a) => a.request_id === requestId);

describeGrpc('tracing: one span per decision, child of the caller', (impl) => {
  let idp: TestIdp;
  let receiver: OtlpReceiver;
  let t: TestApp;
  let v3: AuthClient;
  let v2: AuthClient;
  let token: string;

  before(async () => {
    idp = await TestIdp.start({ keys: [{ kid: 'rs1', alg: 'RS256' }] });
    receiver = await OtlpReceiver.start();
    t = await startTestApp(
      withGrpc(impl, {
        issuers: [
          { issuer: idp.issuer, jwksUri: idp.jwksUri, anyAudience: true, outputClaimToHeaders: [{ header: 'x-tenant', claim: 'tenant' }] },
        ],
        policies: POLICIES,
        // Ratio 0: only a caller's sampled flag makes a span (parent-based).
        tracing: { otlp: { endpoint: receiver.endpoint }, sampleRatio: 0 },
      }),
    );
    await waitUntil(() => t.app.ready, 5000, 'app ready');
    v3 = authV3Client(t.grpcPort);
    v2 = authV2Client(t.grpcPort);
    token = await idp.sign({ sub: SUBJECT, tenant: TENANT });
  });

  after(async () => {
    closeAll(v3, v2);
    await t.stop();
    await receiver.close();
    await idp.close();
  });

  it('exports within 5 s, linked to the caller (metadata, CheckRequest headers, B3), with the attributes and no secrets; audit trace_id', async () => {
    const base = { sourcePrincipal: PEER, token, headers: { 'x-secret-header': SECRET_HEADER_VALUE } };
    const viaMetadata = newCaller();
    const viaMetadataV2 = newCaller();
    const viaHeaders = newCaller();
    const viaB3Multi = newCaller();
    const viaB3Single = newCaller();
    const metadataWins = newCaller();
    const loser = newCaller();
    const unsampled = newCaller();
    const deny = newCaller();
    const ids = Object.fromEntries(
      ['metadata', 'metadataV2', 'headers', 'b3multi', 'b3single', 'wins', 'unsampled', 'none', 'deny'].map((k) => [
        k,
        randomBytes(8).toString('hex'),
      ]),
    );

    const firstSent = Date.now();
    // The same token twice: a miss, then a hit from the verified-token cache.
    await callWith(v3, checkRequest({ ...base, requestId: ids.metadata! }), {
      traceparent: traceparent(viaMetadata, true),
      tracestate: 'vendor=abc',
    });
    await callWith(v2, checkRequest({ ...base, requestId: ids.metadataV2! }), { traceparent: traceparent(viaMetadataV2, true) });
    await callWith(
      v3,
      checkRequest({ ...base, requestId: ids.headers!, headers: { ...base.headers, traceparent: traceparent(viaHeaders, true) } }),
    );
    await callWith(
      v3,
      checkRequest({
        ...base,
        requestId: ids.b3multi!,
        headers: { ...base.headers, 'x-b3-traceid': viaB3Multi.traceId, 'x-b3-spanid': viaB3Multi.spanId, 'x-b3-sampled': '1' },
      }),
    );
    await callWith(
      v3,
      checkRequest({
        ...base,
        requestId: ids.b3single!,
        headers: { ...base.headers, b3: `${viaB3Single.traceId}-${viaB3Single.spanId}-1` },
      }),
    );
    // Both: the call's own metadata is the parent, the original request's headers are not.
    await callWith(
      v3,
      checkRequest({ ...base, requestId: ids.wins!, headers: { ...base.headers, traceparent: traceparent(loser, true) } }),
      { traceparent: traceparent(metadataWins, true) },
    );
    // The caller did not sample: neither does zt-authz, but the audit record keeps its trace id.
    await callWith(v3, checkRequest({ ...base, requestId: ids.unsampled! }), { traceparent: traceparent(unsampled, false) });
    // No caller at ratio 0: no span, no trace id.
    await callWith(v3, checkRequest({ ...base, requestId: ids.none! }));
    // A deny (no credential): reason and no policy, status not an error.
    await callWith(v3, checkRequest({ sourcePrincipal: PEER, requestId: ids.deny! }), { traceparent: traceparent(deny, true) });

    const expected = [viaMetadata, viaMetadataV2, viaHeaders, viaB3Multi, viaB3Single, metadataWins, deny];
    await waitUntil(() => expected.every((c) => spanOf(receiver, c)), EXPORT_DEADLINE_MS, 'the spans exported');
    // The batch processor's delay bounds how late a span arrives: the first one ended right after firstSent.
    const lastArrival = Math.max(...expected.map((c) => spanOf(receiver, c)!.receivedAt));
    assert.ok(lastArrival - firstSent <= EXPORT_DEADLINE_MS, `exported ${lastArrival - firstSent} ms after the first Check`);
    assert.ok(
      receiver.contentTypes.every((c) => c === 'application/x-protobuf'),
      receiver.contentTypes.join(),
    );

    for (const c of [viaMetadata, viaMetadataV2, viaHeaders, viaB3Multi, viaB3Single, metadataWins, deny]) {
      const s = spanOf(receiver, c)!;
      assert.equal(s.parentSpanId, c.spanId, 'parent is the caller span');
      assert.equal(s.name, SPAN_NAME);
      assert.equal(s.kind, 2, 'SERVER');
      assert.notEqual(s.spanId, c.spanId);
    }
    assert.equal(spanOf(receiver, loser), undefined, 'the CheckRequest headers lose to the call metadata');
    assert.equal(spanOf(receiver, unsampled), undefined, "the caller's unsampled flag wins");

    const m = spanOf(receiver, viaMetadata)!;
    assert.deepEqual(
      { ...m.attributes },
      {
        'zt_authz.transport': 'grpc-v3',
        'zt_authz.decision': 'allow',
        'zt_authz.reason': 'allowed',
        'zt_authz.policy': 'allow-authenticated',
        'zt_authz.rule': 0,
        'zt_authz.mode': 'enforce',
        'zt_authz.token_cache_hit': false,
        'rpc.system': 'grpc',
        'rpc.service': 'envoy.service.auth.v3.Authorization',
        'rpc.method': 'Check',
      },
    );
    assert.equal(m.traceState, 'vendor=abc', 'tracestate carried on, as W3C Trace Context requires');
    assert.equal(m.status.code, 0);
    assert.equal(m.resource['service.name'], 'zt-authz');
    assert.equal(typeof m.resource['service.version'], 'string');
    assert.equal(spanOf(receiver, viaMetadataV2)!.attributes['zt_authz.transport'], 'grpc-v2');
    assert.equal(spanOf(receiver, viaMetadataV2)!.attributes['rpc.service'], 'envoy.service.auth.v2.Authorization');
    assert.equal(spanOf(receiver, viaHeaders)!.attributes['zt_authz.token_cache_hit'], true, 'the second use of the token is a cache hit');
    const d = spanOf(receiver, deny)!;
    assert.equal(d.attributes['zt_authz.decision'], 'deny');
    assert.equal(d.attributes['zt_authz.reason'], 'token_missing');
    assert.equal(d.attributes['zt_authz.token_cache_hit'], undefined, 'no token, no cache lookup');
    assert.equal(d.status.code, 0, 'a deny is not an error');

    // Nothing the request carried: the token (or any part), the subject, claim values, header values.
    const bytes = receiver.allBytes();
    for (const secret of [token, ...token.split('.'), SUBJECT, TENANT, SECRET_HEADER_VALUE, 'Bearer', PEER])
      assert.equal(bytes.includes(Buffer.from(secret)), false, `"${secret.slice(0, 24)}" exported`);

    // Audit: the caller's trace id, sampled or not; none without a caller.
    const traceIdOf = (id: string): unknown => auditFor(t, id)?.trace_id;
    assert.equal(traceIdOf(ids.metadata!), viaMetadata.traceId);
    assert.equal(traceIdOf(ids.headers!), viaHeaders.traceId);
    assert.equal(traceIdOf(ids.b3multi!), viaB3Multi.traceId);
    assert.equal(traceIdOf(ids.wins!), metadataWins.traceId);
    assert.equal(traceIdOf(ids.unsampled!), unsampled.traceId);
    assert.equal(traceIdOf(ids.deny!), deny.traceId);
    assert.ok(auditFor(t, ids.none!), 'the no-caller decision is audited');
    assert.equal(traceIdOf(ids.none!), undefined);

    // Flushing now exports nothing more: the unsampled and no-caller decisions made no span.
    const count = receiver.spans.length;
    await t.app.tracing.flush();
    assert.equal(receiver.spans.length, count);
    assert.equal(count, expected.length);
  });
});

describe('tracing: HTTP listener, reload and off', () => {
  let idp: TestIdp;
  let receiver: OtlpReceiver;
  let t: TestApp;
  let raw: Record<string, unknown>;

  before(async () => {
    idp = await TestIdp.start({ keys: [{ kid: 'rs1', alg: 'RS256' }] });
    receiver = await OtlpReceiver.start();
    raw = {
      issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, anyAudience: true }],
      policies: POLICIES,
      tracing: { otlp: { endpoint: receiver.endpoint }, sampleRatio: 0, serviceName: 'authz-test' },
    };
    t = await startTestApp(raw);
    await waitUntil(() => t.app.ready, 5000, 'app ready');
  });

  after(async () => {
    await t.stop();
    await receiver.close();
    await idp.close();
  });

  const httpCheck = (headers: Record<string, string>): Promise<Response> =>
    fetch(`http://127.0.0.1:${t.app.httpPort}/orders/1`, { headers, signal: AbortSignal.timeout(5000) });

  it('HTTP mode: the request headers carry the context (traceparent, B3); ratio 0 without a caller exports nothing', async () => {
    const token = await idp.sign({ sub: SUBJECT });
    const w3c = newCaller();
    const b3 = newCaller();
    assert.equal((await httpCheck({ authorization: `Bearer ${token}`, traceparent: traceparent(w3c, true) })).status, 200);
    assert.equal((await httpCheck({ b3: `${b3.traceId}-${b3.spanId}-1` })).status, 401);
    assert.equal((await httpCheck({ authorization: `Bearer ${token}`, 'x-request-id': 'no-caller' })).status, 200);
    await t.app.tracing.flush();
    assert.equal(receiver.spans.length, 2, 'one span per traced decision, none for the one without a caller');
    const s = spanOf(receiver, w3c)!;
    assert.equal(s.parentSpanId, w3c.spanId);
    assert.equal(s.attributes['zt_authz.transport'], 'http');
    assert.equal(s.attributes['rpc.system'], undefined);
    assert.equal(s.resource['service.name'], 'authz-test');
    assert.equal(spanOf(receiver, b3)!.parentSpanId, b3.spanId);
    assert.equal(spanOf(receiver, b3)!.attributes['zt_authz.reason'], 'token_missing');
    assert.equal(receiver.allBytes().includes(Buffer.from(token.split('.')[1]!)), false);
  });

  it('reload: sampleRatio 1 traces decisions without a caller as roots (audit trace_id = the span trace id); removing the block turns it off', async () => {
    const before = receiver.spans.length;
    assert.equal(t.app.reload(resolveConfig({ ...raw, tracing: { otlp: { endpoint: receiver.endpoint }, sampleRatio: 1 } }, 'test')), true);
    assert.equal((await httpCheck({ 'x-request-id': 'root-1' })).status, 401);
    await t.app.tracing.flush();
    assert.equal(receiver.spans.length, before + 1);
    const root = receiver.spans.at(-1)!;
    assert.equal(root.parentSpanId, '', 'a root span');
    assert.equal(root.resource['service.name'], 'zt-authz', 'the reloaded serviceName (default)');
    assert.equal(auditFor(t, 'root-1')?.trace_id, root.traceId);

    const { tracing: _dropped, ...untraced } = raw;
    assert.equal(t.app.reload(resolveConfig(untraced, 'test')), true);
    assert.equal(t.app.tracing.enabled, false);
    const c = newCaller();
    assert.equal((await httpCheck({ 'x-request-id': 'off-1', traceparent: traceparent(c, true) })).status, 401);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(receiver.spans.length, before + 1, 'nothing exported once off');
    assert.equal(auditFor(t, 'off-1')?.trace_id, undefined, 'no trace id when tracing is off');
  });
});

describe('tracing: span status', () => {
  it('internal_error is the only error status; root spans (ratio 1) give the recorded decision their trace id', async () => {
    const receiver = await OtlpReceiver.start();
    const lines: string[] = [];
    const tracing = new DecisionTracing(createLogger('info', captureStream(lines)));
    try {
      tracing.configure(resolveConfig({ tracing: { otlp: { endpoint: receiver.endpoint }, sampleRatio: 1 } }, 'test').tracing);
      const decisionOf = (reason: 'internal_error' | 'token_missing'): Decision => ({
        verdict: { allow: false, reason, status: reason === 'internal_error' ? 500 : 401 },
        response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [] },
        evidence: {},
      });
      const recorded: Decision[] = [];
      const engineFor = (d: Decision): CheckEngine => ({
        snapshot: { realm: undefined },
        check: (): Promise<PendingDecision> => Promise.resolve({ input: undefined, decision: d, record: (a) => void recorded.push(a) }),
      });
      for (const reason of ['internal_error', 'token_missing'] as const) {
        const p = await tracing.check(engineFor(decisionOf(reason)), 'grpc-v3', () => ({ ok: false, detail: 'unused' }));
        p.record(p.decision);
      }
      await tracing.flush();
      assert.deepEqual(
        receiver.spans.map((s) => [s.attributes['zt_authz.reason'], s.status.code]),
        [
          ['internal_error', 2],
          ['token_missing', 0],
        ],
      );
      // Root spans at ratio 1: recorded with their own trace ids.
      assert.deepEqual(
        recorded.map((d) => d.evidence.traceId),
        receiver.spans.map((s) => s.traceId),
      );
    } finally {
      await tracing.shutdown();
      await receiver.close();
    }
  });
});

describe('tracing never changes or stops the answer', () => {
  const allow = FIXED_ALLOW;
  const engineWith = fixedAllowEngine;
  const unused = unusedNormalize;

  it('malformed and oversized trace contexts: the decision is recorded as decided, as a root span', async () => {
    const receiver = await OtlpReceiver.start();
    const tracing = new DecisionTracing(createLogger('info', captureStream([])));
    try {
      tracing.configure(resolveConfig({ tracing: { otlp: { endpoint: receiver.endpoint }, sampleRatio: 1 } }, 'test').tracing);
      const id = 'a'.repeat(32);
      const contexts: Array<Record<string, string>> = [
        { traceparent: 'garbage' },
        { traceparent: `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01` }, // all-zero ids are invalid
        { traceparent: `00-${id}-${'b'.repeat(16)}-01-extra` }, // version 00 has no extra fields
        { traceparent: 'x'.repeat(256 * 1024) },
        { b3: 'x'.repeat(256 * 1024) },
        { 'x-b3-traceid': 'z'.repeat(64 * 1024), 'x-b3-spanid': '1', 'x-b3-sampled': 'maybe' },
      ];
      const recorded: Decision[] = [];
      for (const headers of contexts) {
        const p = await tracing.check(engineWith(headers, recorded), 'grpc-v3', unused, headers, HEADERS_GETTER);
        p.record(p.decision);
      }
      assert.equal(recorded.length, contexts.length);
      for (const d of recorded) {
        assert.deepEqual(d.verdict, allow.verdict);
        assert.notEqual(d.evidence.traceId, id, 'no invalid caller context adopted');
      }
      await tracing.flush();
      assert.equal(receiver.spans.length, contexts.length);
      assert.ok(
        receiver.spans.every((s) => s.parentSpanId === ''),
        'each a root span',
      );
    } finally {
      await tracing.shutdown();
      await receiver.close();
    }
  });

  it('a tracer that throws: the decision is still recorded, unchanged', async () => {
    const tracing = new DecisionTracing(createLogger('info', captureStream([])));
    // What an SDK failure inside the span code looks like to the adapter.
    const failing: TracingSdk = {
      tracer: {
        startSpan: () => {
          throw new Error('tracer broke');
        },
      } as unknown as TracingSdk['tracer'],
      shutdown: () => Promise.resolve(),
      flush: () => Promise.resolve(),
    };
    (tracing as unknown as { sdk: TracingSdk }).sdk = failing;
    const recorded: Decision[] = [];
    const p = await tracing.check(engineWith({}, recorded), 'grpc-v3', unused, {}, HEADERS_GETTER);
    assert.doesNotThrow(() => p.record(p.decision));
    assert.deepEqual(recorded, [allow]);
  });

  it('a collector that is down: decisions go on, one warning line, no secret in it', async () => {
    const lines: string[] = [];
    const tracing = new DecisionTracing(createLogger('info', captureStream(lines)));
    try {
      tracing.configure(
        resolveConfig({ tracing: { otlp: { endpoint: 'http://127.0.0.1:1/v1/traces', timeoutSeconds: 2 }, sampleRatio: 1 } }, 'test')
          .tracing,
      );
      const recorded: Decision[] = [];
      for (let i = 0; i < 3; i++) {
        const p = await tracing.check(engineWith({}, recorded), 'grpc-v3', unused, {}, HEADERS_GETTER);
        p.record(p.decision);
      }
      assert.equal(recorded.length, 3);
      await tracing.flush().catch(() => undefined); // the failed export rejects the flush: tests and tools only
      await waitUntil(() => lines.some((l) => l.includes('could not be exported')), 5000, 'the export warning');
      const warnings = lines.filter((l) => l.includes('could not be exported'));
      assert.equal(warnings.length, 1, warnings.join(''));
      assert.match(warnings[0]!, /"droppedSpans":3/);
    } finally {
      await tracing.shutdown();
    }
  });
});
