// The `tracing` block: OpenTelemetry spans, one per decision, exported over OTLP/HTTP (protobuf)
// by src/observe/tracing/. Absent: tracing is off and the request path does no trace work at all.
// Hot-reloaded: a changed block replaces the exporter (the old one is flushed first).
import { Type } from '@sinclair/typebox';
import type { ConfigProblem } from './problems.js';

export const DEFAULT_SAMPLE_RATIO = 0.01;
export const DEFAULT_SERVICE_NAME = 'zt-authz';

export const TracingSchema = Type.Object(
  {
    otlp: Type.Object(
      {
        endpoint: Type.String({
          pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
          description:
            'an http:// or https:// URL, path included: where spans are posted as OTLP protobuf (an OpenTelemetry Collector: http://otel-collector.observability:4318/v1/traces). Headers the collector needs (an API key) come from OTEL_EXPORTER_OTLP_TRACES_HEADERS in the environment, never from this file',
        }),
        timeoutSeconds: Type.Optional(
          Type.Number({
            exclusiveMinimum: 0,
            maximum: 60,
            default: 10,
            description: 'one export request is abandoned after this long (its spans are dropped, never retried past it)',
          }),
        ),
      },
      { additionalProperties: false, description: 'where spans are sent: OTLP over HTTP, protobuf' },
    ),
    sampleRatio: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        default: DEFAULT_SAMPLE_RATIO,
        description:
          "fraction of decisions traced when the caller sent no trace context (by trace id); parent-based: a caller's sampled flag wins both ways",
      }),
    ),
    serviceName: Type.Optional(
      Type.String({ minLength: 1, default: DEFAULT_SERVICE_NAME, description: 'the service.name resource attribute of every span' }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'OpenTelemetry tracing: one span per decision (decision, reason, policy, transport, mode, token cache hit; never a token, claim or header value), child of the trace context Envoy sends; absent: off; hot-reloaded',
  },
);

export interface TracingConfig {
  otlp: { endpoint: string; timeoutSeconds: number };
  sampleRatio: number;
  serviceName: string;
}

type TracingInput = { otlp: { endpoint: string; timeoutSeconds?: number }; sampleRatio?: number; serviceName?: string };

/** Resolved `tracing`, or undefined (off) when the block is absent. Input: validated, defaults filled in. */
export function resolveTracing(t: TracingInput | undefined): TracingConfig | undefined {
  if (!t) return undefined;
  return {
    otlp: { endpoint: t.otlp.endpoint, timeoutSeconds: t.otlp.timeoutSeconds ?? 10 },
    sampleRatio: t.sampleRatio ?? DEFAULT_SAMPLE_RATIO,
    serviceName: t.serviceName ?? DEFAULT_SERVICE_NAME,
  };
}

/** What the pattern cannot say: the endpoint must parse as a URL with a host, and carry no credentials. */
export function tracingProblems(t: TracingInput | undefined): ConfigProblem[] {
  if (!t) return [];
  const path = 'tracing.otlp.endpoint';
  let url: URL;
  try {
    url = new URL(t.otlp.endpoint);
  } catch {
    return [{ path, message: 'is not a valid URL' }];
  }
  if (!url.hostname) return [{ path, message: 'has no host' }];
  // Userinfo would end up in error messages and logs; the collector's credentials belong in
  // OTEL_EXPORTER_OTLP_TRACES_HEADERS (a Secret), not in a ConfigMap.
  if (url.username || url.password)
    return [{ path, message: 'must not hold credentials (user:password@); use OTEL_EXPORTER_OTLP_TRACES_HEADERS' }];
  return [];
}
