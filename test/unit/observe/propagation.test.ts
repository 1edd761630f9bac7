// The caller's trace context (src/observe/tracing/propagation.ts): a traceparent that arrives more
// than once is invalid under W3C Trace Context, so the decision's span gets no parent, however
// the repetition arrives (gRPC metadata with two entries, a header list, a comma-joined value).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { callerContext, METADATA_GETTER, type MetadataCarrier, type TraceSource } from '../../../src/observe/tracing/propagation.js';

const tp = (): { value: string; traceId: string } => {
  const traceId = randomBytes(16).toString('hex');
  return { value: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, traceId };
};
const parentTrace = (ctx: Context): string | undefined => trace.getSpanContext(ctx)?.traceId;

function metadataSource(entries: Array<[string, string]>): TraceSource<MetadataCarrier> {
  const md = new grpc.Metadata();
  for (const [k, v] of entries) md.add(k, v);
  const source: TraceSource<MetadataCarrier> = { carrier: md, getter: METADATA_GETTER };
  return source;
}

test('one traceparent: adopted, from metadata or from the request headers', () => {
  const a = tp();
  assert.equal(parentTrace(callerContext(metadataSource([['traceparent', a.value]]), undefined)), a.traceId);
  assert.equal(parentTrace(callerContext(undefined, { traceparent: a.value })), a.traceId);
  // Two tracestate entries are allowed (W3C joins them): the context stands.
  const withState = metadataSource([
    ['traceparent', a.value],
    ['tracestate', 'x=1'],
    ['tracestate', 'y=2'],
  ]);
  const ctx = callerContext(withState, undefined);
  assert.equal(parentTrace(ctx), a.traceId);
  assert.equal(trace.getSpanContext(ctx)?.traceState?.serialize(), 'x=1,y=2');
});

test('a traceparent present twice: no parent, even when both copies agree', () => {
  const a = tp();
  const b = tp();
  const cases: Array<[string, Context]> = [
    [
      'metadata, two entries',
      callerContext(
        metadataSource([
          ['traceparent', a.value],
          ['traceparent', b.value],
        ]),
        undefined,
      ),
    ],
    [
      'metadata, the same entry twice',
      callerContext(
        metadataSource([
          ['traceparent', a.value],
          ['traceparent', a.value],
        ]),
        undefined,
      ),
    ],
    ['request headers, a list', callerContext(undefined, { traceparent: [a.value, b.value] })],
    ['request headers, joined by Envoy', callerContext(undefined, { traceparent: `${a.value},${b.value}` })],
    ['request headers, joined by node:http', callerContext(undefined, { traceparent: `${a.value}, ${a.value}` })],
    // Not rescued by B3 in the same carrier, nor by the request headers behind it.
    [
      'metadata repeated, B3 beside it and a valid one in the request',
      callerContext(
        metadataSource([
          ['traceparent', a.value],
          ['traceparent', b.value],
          ['b3', `${tp().traceId}-${randomBytes(8).toString('hex')}-1`],
        ]),
        { traceparent: tp().value },
      ),
    ],
  ];
  for (const [what, ctx] of cases) {
    assert.equal(ctx, ROOT_CONTEXT, what);
    assert.equal(parentTrace(ctx), undefined, what);
  }
});
