// The OpenTelemetry SDK for one `tracing` configuration: a tracer provider whose resource names
// the service and its version, parent-based sampling, and a batch processor exporting over
// OTLP/HTTP (protobuf). Export failures are logged (at most one line a minute), never thrown: a
// collector that is down costs the spans, never a decision.
import type { Logger } from 'pino';
import type { Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { TracingConfig } from '../../config/tracing-schema.js';
import { VERSION } from '../../version.js';

/** The SDK's batch delay: a span is exported at most this long after it ended. */
export const EXPORT_DELAY_MS = 5000;
/** Spans held while the collector is slow or down; beyond, new ones are dropped (the SDK's default). */
const MAX_QUEUE = 2048;
const WARN_INTERVAL_MS = 60_000;

export interface TracingSdk {
  readonly tracer: Tracer;
  /**
   * Whether a decision without a caller context starts a trace of its own (`sampleRatio`), drawn
   * before any span exists: the unsampled ones, nearly all at 1 %, then cost no ids and no span.
   * Roots the tracer is asked for were chosen here, so its own root sampler keeps them all.
   * Absent: the tracer's sampler decides each root.
   */
  readonly sampleRoot?: () => boolean;
  /** Export what is queued, then stop. */
  shutdown(): Promise<void>;
  /** Export what is queued now (tests, tools). */
  flush(): Promise<void>;
}

export function startTracingSdk(cfg: TracingConfig, logger: Logger): TracingSdk {
  const exporter = new WarningExporter(
    new OTLPTraceExporter({ url: cfg.otlp.endpoint, timeoutMillis: Math.round(cfg.otlp.timeoutSeconds * 1000) }),
    logger,
  );
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': cfg.serviceName, 'service.version': VERSION })),
    // A caller's sampled flag decides its child; roots were drawn by sampleRoot.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: EXPORT_DELAY_MS,
        maxQueueSize: MAX_QUEUE,
        exportTimeoutMillis: Math.round(cfg.otlp.timeoutSeconds * 1000),
      }),
    ],
  });
  const ratio = cfg.sampleRatio;
  return {
    tracer: provider.getTracer('zt-authz', VERSION),
    // The odds of the SDK's TraceIdRatioBasedSampler on a fresh trace id (whose bits come from
    // Math.random too), without making the id first; Math.random() is in [0, 1): 0 never, 1 always.
    sampleRoot: () => Math.random() < ratio,
    shutdown: () => provider.shutdown(),
    flush: () => provider.forceFlush(),
  };
}

/** Logs failed exports, rate-limited; the export itself is the OTLP exporter's. */
class WarningExporter implements SpanExporter {
  private lastWarn = 0;
  private failed = 0;

  constructor(
    private readonly inner: SpanExporter,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.warn(spans.length, result.error);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  private warn(spans: number, err: Error | undefined): void {
    this.failed += spans;
    const now = Date.now();
    if (now - this.lastWarn < WARN_INTERVAL_MS) return;
    this.lastWarn = now;
    // The exporter's message names the HTTP status or the network error; the endpoint is in the
    // configuration (and holds no credentials: tracingProblems refuses userinfo).
    this.logger.warn({ droppedSpans: this.failed, err: err?.message }, 'tracing: spans could not be exported to the OTLP endpoint');
    this.failed = 0;
  }
}
