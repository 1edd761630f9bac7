// One OpenTelemetry span per sampled decision, made by the transport adapters around the engine's
// `check` (decision/engine.ts stays free of tracing): the span is the child of the caller's
// context (propagation.ts), starts when the Check arrived and ends once the decision actually
// answered has been recorded, and carries what was decided, never what was sent: no token,
// claim value, header value or subject. The audit record gets the trace id (Evidence.traceId).
//
// Off (no `tracing` block), `check` is engine.check plus one property test: no context is
// extracted and no span object exists. On, a decision that is not sampled has no span object
// either: sampling is decided before one would be made, and the trace headers are parsed only
// when one of them is present. Reloads swap the SDK: the old one is flushed and shut down.
import type { Logger } from 'pino';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type Span, type TextMapGetter } from '@opentelemetry/api';
import type { TracingConfig } from '../../config/tracing-schema.js';
import type { Decision } from '../../decision/decision.js';
import type { CheckInput } from '../../decision/types.js';
import type { CheckEngine, NormalizeStep, PendingDecision } from '../../decision/engine.js';
import { callerContext, validParent, type TraceSource } from './propagation.js';
import { startTracingSdk, type TracingSdk } from './provider.js';

export const SPAN_NAME = 'zt-authz.check';
/** How long a drain waits for the last spans to be exported. */
const SHUTDOWN_WAIT_MS = 5000;

/** The gRPC service each transport label answers (OpenTelemetry rpc.* conventions). */
const RPC_SERVICE: Readonly<Record<string, string>> = {
  'grpc-v3': 'envoy.service.auth.v3.Authorization',
  'grpc-v2': 'envoy.service.auth.v2.Authorization',
};

export class DecisionTracing {
  private sdk: TracingSdk | undefined;
  /** The configuration `sdk` was built from, as JSON ('' = off): an unchanged reload keeps the SDK. */
  private key = '';
  /** SDKs replaced by a reload, still flushing. */
  private readonly retiring = new Set<Promise<void>>();
  /**
   * The token cache outcome of the Check being started: the authenticator's hooks report it
   * (App wires them to `tokenCache`) while `engine.check` runs synchronously, and `check` reads
   * it right after. See `check` for why this cannot mix two requests up.
   */
  private cacheHit: boolean | undefined;

  constructor(private readonly logger: Logger) {}

  get enabled(): boolean {
    return this.sdk !== undefined;
  }

  /** Apply a (re)loaded `tracing` block; undefined turns tracing off. Never throws. */
  configure(cfg: TracingConfig | undefined): void {
    const key = cfg ? JSON.stringify(cfg) : '';
    if (key === this.key) return;
    const old = this.sdk;
    this.key = key;
    try {
      this.sdk = cfg ? startTracingSdk(cfg, this.logger) : undefined;
    } catch (err) {
      // The endpoint was validated; whatever else the SDK refuses must not stop decisions.
      this.sdk = undefined;
      this.logger.error({ err: (err as Error).message }, 'tracing: the OpenTelemetry SDK could not be started; tracing is off');
    }
    if (old) this.retire(old);
    if (cfg && this.sdk) this.logger.info({ endpoint: endpointForLog(cfg.otlp.endpoint), sampleRatio: cfg.sampleRatio }, 'tracing on');
    else if (old) this.logger.info('tracing off');
  }

  /** The authenticator looked a token up in its cache (hit or miss). */
  tokenCache(hit: boolean): void {
    this.cacheHit = hit;
  }

  /**
   * `engine.check`, traced when tracing is on: the returned `record` records the decision (with
   * the trace id) and ends its span. `metadata` is the call's own headers or gRPC metadata, read
   * with `getter`; the CheckRequest's headers are the fallback (CheckInput.headers).
   */
  check<C>(
    engine: CheckEngine,
    transport: string,
    normalize: NormalizeStep,
    metadata?: C,
    getter?: TextMapGetter<C>,
  ): Promise<PendingDecision> {
    const sdk = this.sdk;
    if (!sdk) return engine.check(transport, normalize);
    const startTime = performance.now();
    this.cacheHit = undefined;
    const pending = engine.check(transport, normalize);
    // engine.check runs synchronously up to its first await, and the token cache lookup comes
    // before any: normalize, identifyPeers, then authenticate, whose cache hit or miss is
    // decided synchronously (only a miss awaits, after reporting). So the outcome seen here is
    // this Check's; nothing else can run in between. Should that ever change, the attribute is
    // missing, never another request's (it is cleared before and after).
    const cacheHit = this.cacheHit;
    this.cacheHit = undefined;
    const source: TraceSource | undefined = metadata !== undefined && getter ? { carrier: metadata, getter: getter } : undefined;
    return pending.then((p) => ({
      input: p.input,
      decision: p.decision,
      record: (answered: Decision) => traced(sdk, { transport, startTime, cacheHit, source, input: p.input }, answered, p.record),
    }));
  }

  /** Export what is queued (tests, tools). */
  async flush(): Promise<void> {
    await this.sdk?.flush();
  }

  /**
   * Drain: export what is queued and stop, waiting at most SHUTDOWN_WAIT_MS: a collector that
   * is down must not hold the process past its termination grace period.
   */
  async shutdown(): Promise<void> {
    const sdk = this.sdk;
    this.sdk = undefined;
    this.key = '';
    if (sdk) this.retire(sdk);
    if (this.retiring.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS).unref()));
    await Promise.race([Promise.all([...this.retiring]), waited]);
    clearTimeout(timer);
  }

  private retire(sdk: TracingSdk): void {
    const done: Promise<void> = sdk
      .shutdown()
      .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'tracing: flushing spans at shutdown failed'))
      .finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }
}

interface TracedCall {
  transport: string;
  /** performance.now() when the Check arrived. */
  startTime: number;
  cacheHit: boolean | undefined;
  source: TraceSource | undefined;
  input: CheckInput | undefined;
}

/**
 * The span of one answered decision, and the record with its trace id. Tracing must never change
 * or stop the answer: should any of it throw, the decision is recorded as it is.
 */
function traced(sdk: TracingSdk, call: TracedCall, answered: Decision, record: (answered: Decision) => void): void {
  let span: Span | undefined;
  let recorded = answered;
  try {
    const ctx = callerContext(call.source, call.input?.headers);
    const parent = validParent(ctx);
    // Sampling first, so that an unsampled decision (99 % of those without a caller at 1 %, and
    // every one whose caller did not sample) makes no span, no ids and no attributes: a caller's
    // flag decides (parent-based, as the SDK's sampler would), else sampleRoot.
    const sampled = parent ? (parent.traceFlags & TraceFlags.SAMPLED) !== 0 : (sdk.sampleRoot?.() ?? true);
    if (sampled) span = sdk.tracer.startSpan(SPAN_NAME, { kind: SpanKind.SERVER, startTime: call.startTime }, ctx);
    const own = span?.spanContext();
    // The caller's trace id even when this decision is not sampled (parent-based: the caller did
    // not sample either): the audit record then still joins the caller's logs and trace. Without
    // a caller, only a sampled span's id, since nothing else would ever carry an unsampled one.
    const traceId = parent ? parent.traceId : own && (own.traceFlags & TraceFlags.SAMPLED) !== 0 ? own.traceId : undefined;
    if (traceId) recorded = { verdict: answered.verdict, response: answered.response, evidence: { ...answered.evidence, traceId } };
    if (span?.isRecording()) {
      span.setAttributes(spanAttributes(call.transport, answered, call.cacheHit));
      if (answered.verdict.reason === 'internal_error') span.setStatus({ code: SpanStatusCode.ERROR, message: 'internal_error' });
    }
  } catch {
    recorded = answered;
  }
  record(recorded);
  try {
    span?.end();
  } catch {
    // See above: never the answer's concern.
  }
}

/** What a span says about a decision: outcome, reason, policy, mode, transport, cache; nothing the request sent. */
export function spanAttributes(transport: string, d: Decision, cacheHit: boolean | undefined): Attributes {
  const { verdict: v, evidence: e } = d;
  const a: Attributes = {
    'zt_authz.transport': transport,
    'zt_authz.decision': v.allow ? 'allow' : 'deny',
    'zt_authz.reason': v.reason,
  };
  if (v.policy !== undefined) a['zt_authz.policy'] = v.policy;
  if (v.rule !== undefined) a['zt_authz.rule'] = v.rule;
  const mode = e.mode ?? e.peers?.mode; // the destination's enforcement mode, once its peers were resolved
  if (mode) a['zt_authz.mode'] = mode;
  if (e.wouldDecide) a['zt_authz.would_reason'] = e.wouldDecide.reason;
  if (cacheHit !== undefined) a['zt_authz.token_cache_hit'] = cacheHit;
  const service = RPC_SERVICE[transport];
  if (service) {
    a['rpc.system'] = 'grpc';
    a['rpc.service'] = service;
    a['rpc.method'] = 'Check';
  }
  return a;
}

/** The collector URL without its query and fragment, which may carry a credential (`?api_key=`). */
function endpointForLog(endpoint: string): string {
  const u = new URL(endpoint); // validated by the config layer
  return `${u.origin}${u.pathname}`;
}
