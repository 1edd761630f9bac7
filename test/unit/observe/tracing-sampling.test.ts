// When a decision gets a span (src/observe/tracing/decision-tracing.ts): sampling is decided
// before a span would be made, so a decision that is not sampled (no caller context and the
// sampleRatio draw said no, or a caller that did not sample) starts no span at all, while the
// audit rule for trace_id holds: the caller's id whenever there is a caller, sampled or not;
// without one, only a sampled span's id. Counted on the tracer's startSpan, around the real SDK.
// And a carrier without any trace header is looked at for those three headers only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ROOT_CONTEXT, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { resolveConfig } from '../../../src/config/resolve.js';
import { DecisionTracing } from '../../../src/observe/tracing/decision-tracing.js';
import type { Decision } from '../../../src/decision/decision.js';
import { createLogger } from '../../../src/observe/log.js';
import { callerContext, HEADERS_GETTER, type HeaderCarrier } from '../../../src/observe/tracing/propagation.js';
import type { TracingSdk } from '../../../src/observe/tracing/provider.js';
import { captureStream } from '../../helpers/app.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { FIXED_ALLOW, fixedAllowEngine, unusedNormalize } from '../../helpers/fake-check-engine.js';

const allow = FIXED_ALLOW;
const engineWith = fixedAllowEngine;
const unused = unusedNormalize;

interface Harness {
  tracing: DecisionTracing;
  receiver: OtlpReceiver;
  /** startSpan calls so far. */
  started: () => number;
  /** One decision with these call metadata and CheckRequest headers; what was recorded. */
  decide: (metadata: Record<string, string>, headers?: Record<string, string>) => Promise<Decision>;
  close: () => Promise<void>;
}

/** The real SDK for `sampleRatio`, its tracer's startSpan counted; `sampleRoot` replaced when given. */
async function harness(sampleRatio: number, sampleRoot?: () => boolean): Promise<Harness> {
  const receiver = await OtlpReceiver.start();
  const tracing = new DecisionTracing(createLogger('info', captureStream([])));
  tracing.configure(resolveConfig({ tracing: { otlp: { endpoint: receiver.endpoint }, sampleRatio } }, 'test').tracing);
  const holder = tracing as unknown as { sdk: TracingSdk };
  const real = holder.sdk;
  let started = 0;
  const tracer: Tracer = {
    startSpan: (...args: Parameters<Tracer['startSpan']>) => {
      started++;
      return real.tracer.startSpan(...args);
    },
    startActiveSpan: real.tracer.startActiveSpan.bind(real.tracer),
  };
  holder.sdk = { ...real, tracer, ...(sampleRoot ? { sampleRoot } : {}) };
  return {
    tracing,
    receiver,
    started: () => started,
    decide: async (metadata, headers = {}) => {
      const recorded: Decision[] = [];
      const p = await tracing.check(engineWith(headers, recorded), 'grpc-v3', unused, metadata, HEADERS_GETTER);
      p.record(p.decision);
      assert.equal(recorded.length, 1);
      assert.deepEqual(recorded[0]!.verdict, allow.verdict, 'the decision is recorded as decided');
      return recorded[0]!;
    },
    close: async () => {
      await tracing.shutdown();
      await receiver.close();
    },
  };
}

const caller = (sampled: boolean): { traceId: string; traceparent: string } => {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-${sampled ? '01' : '00'}` };
};

describe('tracing: a span only for a sampled decision', () => {
  it('no caller, the ratio draw says no: no span, no trace id; says yes: a root span whose id is recorded', async () => {
    let draw = false;
    const h = await harness(0.5, () => draw);
    try {
      const d = await h.decide({});
      assert.equal(h.started(), 0, 'an unsampled root decision starts no span');
      assert.equal(d.evidence.traceId, undefined);
      draw = true;
      const s = await h.decide({});
      assert.equal(h.started(), 1);
      await h.tracing.flush();
      assert.equal(h.receiver.spans.length, 1);
      assert.equal(h.receiver.spans[0]!.parentSpanId, '', 'a root span');
      assert.equal(s.evidence.traceId, h.receiver.spans[0]!.traceId);
    } finally {
      await h.close();
    }
  });

  it("a caller that did not sample: no span (even at ratio 1), and the caller's trace id in the record", async () => {
    const h = await harness(1);
    try {
      const viaMetadata = caller(false);
      const viaHeaders = caller(false);
      const b3 = caller(false);
      const a = await h.decide({ traceparent: viaMetadata.traceparent });
      const b = await h.decide({}, { traceparent: viaHeaders.traceparent });
      const c = await h.decide({}, { 'x-b3-traceid': b3.traceId, 'x-b3-spanid': randomBytes(8).toString('hex'), 'x-b3-sampled': '0' });
      assert.equal(h.started(), 0, 'the caller decided: no span');
      assert.deepEqual([a.evidence.traceId, b.evidence.traceId, c.evidence.traceId], [viaMetadata.traceId, viaHeaders.traceId, b3.traceId]);
      await h.tracing.flush();
      assert.equal(h.receiver.spans.length, 0);
    } finally {
      await h.close();
    }
  });

  it("a caller that sampled: its child span even at ratio 0, the caller's trace id recorded", async () => {
    const h = await harness(0);
    try {
      const c = caller(true);
      const d = await h.decide({ traceparent: c.traceparent });
      assert.equal(h.started(), 1);
      assert.equal(d.evidence.traceId, c.traceId);
      await h.tracing.flush();
      assert.deepEqual(
        h.receiver.spans.map((s) => s.traceId),
        [c.traceId],
      );
    } finally {
      await h.close();
    }
  });

  it("sampleRatio's own draw: about that share of decisions without a caller get a span, each recorded with its trace id", async () => {
    const h = await harness(0.2);
    try {
      const n = 2000;
      const ids: Array<string | undefined> = [];
      for (let i = 0; i < n; i++) ids.push((await h.decide({})).evidence.traceId);
      const traced = ids.filter((id) => id !== undefined);
      // Binomial(2000, 0.2): mean 400, standard deviation ~18; the bounds are 7 of them away.
      assert.ok(traced.length > 275 && traced.length < 525, `${traced.length} of ${n} sampled`);
      assert.equal(h.started(), traced.length, 'a span for each sampled decision, none for the others');
      await h.tracing.flush();
      assert.deepEqual(new Set(h.receiver.spans.map((s) => s.traceId)), new Set(traced));
    } finally {
      await h.close();
    }
  });
});

describe('tracing: carriers without a trace context', () => {
  it('are read for traceparent, b3 and x-b3-traceid only, both of them, and give no parent', () => {
    const asked: string[] = [];
    const counting: TextMapGetter<HeaderCarrier> = {
      get: (carrier, key) => {
        asked.push(key);
        return HEADERS_GETTER.get(carrier, key);
      },
      keys: HEADERS_GETTER.keys,
    };
    const headers = { ':authority': 'orders', 'x-request-id': 'r1' };
    assert.equal(callerContext({ carrier: headers, getter: counting }, headers), ROOT_CONTEXT);
    assert.deepEqual(asked, ['traceparent', 'b3', 'x-b3-traceid']);
  });
});

it('the "tracing on" log line names the collector without its query (which may carry a credential)', async () => {
  const lines: string[] = [];
  const tracing = new DecisionTracing(createLogger('info', captureStream(lines)));
  tracing.configure(
    resolveConfig({ tracing: { otlp: { endpoint: 'http://127.0.0.1:9/v1/traces?api_key=zt-otlp-secret' } } }, 'test').tracing,
  );
  await tracing.shutdown();
  const on = lines.find((l) => l.includes('tracing on'));
  assert.ok(on, lines.join('\n'));
  assert.match(on, /"endpoint":"http:\/\/127\.0\.0\.1:9\/v1\/traces"/);
  for (const l of lines) assert.doesNotMatch(l, /zt-otlp-secret/);
});
