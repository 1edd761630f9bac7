// The caller's trace context, read from what a Check carries: the call's own metadata first
// (Envoy's tracer injects its ext_authz span there: gRPC metadata, HTTP/2 or HTTP/1 request
// headers), failing that the original request's headers inside the CheckRequest (what the
// client or the ingress sent). Formats: W3C traceparent/tracestate, and B3 as Envoy and Istio
// send it, single `b3` or multi `x-b3-*`. W3C wins when both are present.
import { ROOT_CONTEXT, trace, type Context, type SpanContext, type TextMapGetter } from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3Propagator } from '@opentelemetry/propagator-b3';

// CompositePropagator applies them in order, each overwriting what the previous one found:
// B3 first, so a traceparent, when present, is the one that stands.
const PROPAGATOR = new CompositePropagator({ propagators: [new B3Propagator(), new W3CTraceContextPropagator()] });

/** A header record with lower-case names: node:http / node:http2 request headers, a CheckRequest's headers. */
export type HeaderCarrier = Readonly<Record<string, string | string[] | undefined>>;

/** grpc-js's Metadata, structurally: values are strings (Buffers only for -bin keys, never read here). */
export interface MetadataCarrier {
  get(key: string): unknown[];
}

export const HEADERS_GETTER: TextMapGetter<HeaderCarrier> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

export const METADATA_GETTER: TextMapGetter<MetadataCarrier> = {
  // Every value of a repeated key, so a repeated traceparent is seen (and refused); the
  // propagators read the first of a list, and join tracestate's.
  get: (carrier, key) => {
    const values = carrier.get(key).filter((v): v is string => typeof v === 'string');
    return values.length > 1 ? values : values[0];
  },
  // The propagators here only look keys up by name.
  keys: () => [],
};

/** Where a Check's own trace context is read: the carrier and how to read it. */
export interface TraceSource<C = unknown> {
  carrier: C;
  getter: TextMapGetter<C>;
}

/**
 * The parent context of the decision's span: from `metadata`, else from `requestHeaders`; ROOT
 * (no parent) when neither holds a valid context, or when one of them, read in that order, carries
 * its traceparent more than once.
 */
export function callerContext(metadata: TraceSource | undefined, requestHeaders: HeaderCarrier | undefined): Context {
  const fromMetadata = metadata ? contextIn(metadata.carrier, metadata.getter) : undefined;
  if (fromMetadata) return fromMetadata;
  return (requestHeaders ? contextIn(requestHeaders, HEADERS_GETTER) : undefined) ?? ROOT_CONTEXT;
}

/**
 * The context `carrier` holds: the caller's when valid, ROOT when its traceparent is repeated (look
 * no further), undefined when it holds none (look in the next carrier).
 */
function contextIn<C>(carrier: C, getter: TextMapGetter<C>): Context | undefined {
  const traceparent = getter.get(carrier, 'traceparent');
  if (repeatedTraceparent(traceparent)) return ROOT_CONTEXT;
  // A carrier without any trace header (a caller that does not trace; the CheckRequest's headers
  // whenever the metadata had none) costs three lookups, not both propagators' work and a
  // context: they find nothing without traceparent (W3C), `b3` (B3 single) or x-b3-traceid
  // (B3 multi).
  if (traceparent === undefined && getter.get(carrier, 'b3') === undefined && getter.get(carrier, 'x-b3-traceid') === undefined)
    return undefined;
  const ctx = PROPAGATOR.extract(ROOT_CONTEXT, carrier, getter);
  return validParent(ctx) ? ctx : undefined;
}

/** The caller's span context in `ctx`, when it is a valid one. */
export function validParent(ctx: Context): SpanContext | undefined {
  const sc = trace.getSpanContext(ctx);
  return sc && trace.isSpanContextValid(sc) ? sc : undefined;
}

/**
 * W3C Trace Context: a request with more than one traceparent header has an invalid one, and the
 * receiver starts a new trace rather than pick one (the propagator alone would take the first).
 * Not falling back to B3 or to the other carrier either: the context this request came with is
 * ambiguous, and a span under the wrong parent misleads more than a root span. Repeated headers
 * arrive as a list (gRPC metadata, HTTP/2) or joined with commas (Envoy, Node's HTTP/1 parser);
 * a single traceparent never contains a comma.
 */
function repeatedTraceparent(v: string | string[] | undefined): boolean {
  return Array.isArray(v) ? v.length > 1 : typeof v === 'string' && v.includes(',');
}
