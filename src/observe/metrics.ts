// Prometheus metrics. Names, labels and label values are a contract (dashboards and alerts
// read them; docs/observability.md lists them, test/docs-metrics checks it). One registry per app
// instance so several servers can live in one process (tests) without clashing.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REASONS, REASON_CODES } from '../decision/reasons.js';
import { VERSION } from '../version.js';
import { DecisionCounts, HistogramSeries } from './metric-children.js';

const DURATION_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class Metrics {
  readonly registry = new Registry();
  readonly decisions: Counter<'decision' | 'reason' | 'policy'> = new Counter({
    name: 'zt_authz_decisions_total',
    help: 'Authorization decisions by outcome, reason code and deciding policy',
    labelNames: ['decision', 'reason', 'policy'] as const,
    registers: [this.registry],
    collect: (): void => this.decisionCounts.flush(),
  });
  /** The request path's way to count decisions (metric-children.ts): no label lookup per Check. */
  readonly decisionCounts = new DecisionCounts(this.decisions);
  readonly checkDuration = new Histogram({
    name: 'zt_authz_check_duration_seconds',
    help: 'Time to decide one Check, from request receipt to response',
    labelNames: ['transport'] as const,
    buckets: [...DURATION_BUCKETS],
    registers: [this.registry],
  });
  private readonly durations = new Map<string, HistogramSeries>();
  /** zt_authz_check_duration_seconds of one transport, pre-bound (metric-children.ts). */
  checkDurationOf(transport: string): HistogramSeries {
    let s = this.durations.get(transport);
    if (!s) this.durations.set(transport, (s = new HistogramSeries(this.checkDuration, 'transport', transport, DURATION_BUCKETS)));
    return s;
  }
  readonly jwksRefresh = new Counter({
    name: 'zt_authz_jwks_refresh_total',
    help: 'JWKS (and discovery) fetch attempts by issuer and result',
    labelNames: ['issuer', 'result', 'trigger'] as const,
    registers: [this.registry],
  });
  readonly jwksFetchDuration = new Histogram({
    name: 'zt_authz_jwks_fetch_duration_seconds',
    help: 'Duration of JWKS fetch attempts',
    labelNames: ['issuer'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  // Gauges say how they combine across `serve --workers N` processes (prom-client
  // AggregatorRegistry); counters and histograms are summed.
  readonly jwksKeys = new Gauge({
    name: 'zt_authz_jwks_keys',
    help: 'Keys currently held per issuer (last-known-good)',
    labelNames: ['issuer'] as const,
    aggregator: 'min',
    registers: [this.registry],
  });
  // Verification keys dropped at load (src/authn/weak-keys.ts KEY_DROP_REASONS): JWKS entries
  // counted at each load that drops them, HMAC secret files once per change of their problem.
  readonly keysDropped = new Counter({
    name: 'zt_authz_keys_dropped_total',
    help: 'Verification keys dropped at load, by issuer and reason (weak RSA exponent, ROCA modulus, RSA under 2048 bits, not a signing key, unimportable, HMAC secret too short or unreadable)',
    labelNames: ['issuer', 'reason'] as const,
    registers: [this.registry],
  });
  readonly tokenCacheHits = new Counter({
    name: 'zt_authz_token_cache_hits_total',
    help: 'Verified-token cache hits',
    registers: [this.registry],
  });
  readonly tokenCacheMisses = new Counter({
    name: 'zt_authz_token_cache_misses_total',
    help: 'Verified-token cache misses (full verification)',
    registers: [this.registry],
  });
  readonly policyReload = new Counter({
    name: 'zt_authz_policy_reload_total',
    help: 'Configuration/policy snapshot builds by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly policiesLoaded = new Gauge({
    name: 'zt_authz_policies_loaded',
    help: 'Policies in the active snapshot',
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly apiKeysReload = new Counter({
    name: 'zt_authz_apikeys_reload_total',
    help: 'API-key documents (keys file, labelled Secret) accepted or rejected (the last good keys stay), by source',
    labelNames: ['source', 'result'] as const,
    registers: [this.registry],
  });
  readonly apiKeys = new Gauge({
    name: 'zt_authz_apikeys',
    help: 'API keys held, by source',
    labelNames: ['source'] as const,
    aggregator: 'max',
    registers: [this.registry],
  });
  // Internal-token signing keys (src/mint/keys/).
  readonly signingKeysReload = new Counter({
    name: 'zt_authz_signing_keys_reload_total',
    help: 'Loads of the token issuer signing keys (keysDir files, keysSecret) by result; on error the last good keys stay',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** Read at scrape time; the App points it at the signing key ring. */
  signingKeysSource: () => { signing: number; published: number } | undefined = () => undefined;
  readonly signingKeys: Gauge = new Gauge({
    name: 'zt_authz_signing_keys',
    help: 'Token issuer keys: state=loaded (in the key source, may sign) and state=published (in the JWKS, retired keys included)',
    labelNames: ['state'] as const,
    aggregator: 'max',
    registers: [this.registry],
    collect: (): void => {
      const s = this.signingKeysSource();
      if (!s) return;
      this.signingKeys.set({ state: 'loaded' }, s.signing);
      this.signingKeys.set({ state: 'published' }, s.published);
    },
  });
  readonly ready = new Gauge({
    name: 'zt_authz_ready',
    help: '1 when serving (keys and policies loaded, not draining)',
    aggregator: 'min',
    registers: [this.registry],
  });
  // Load shedding and TLS (src/transport/inflight.ts, src/transport/tls/).
  readonly shed = new Counter({
    name: 'zt_authz_shed_total',
    help: 'Checks refused without a decision because limits.maxInFlight were in flight (gRPC RESOURCE_EXHAUSTED, HTTP 429)',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  /** Read at scrape time; the App points it at its in-flight gate. */
  inFlightSource: () => number = () => 0;
  readonly checksInFlight: Gauge = new Gauge({
    name: 'zt_authz_checks_in_flight',
    help: 'Checks being decided now (gRPC + HTTP), the quantity limits.maxInFlight bounds',
    aggregator: 'sum',
    registers: [this.registry],
    collect: (): void => this.checksInFlight.set(this.inFlightSource()),
  });
  /** Read at scrape time; the App points it at the Kubernetes workload map (zt-authz.io/mode). */
  dryRunPodsSource: () => { honoured: number; ignored: number } | undefined = () => undefined;
  readonly dryRunPods: Gauge = new Gauge({
    name: 'zt_authz_dry_run_pods',
    help: 'Pods annotated zt-authz.io/mode: dry-run: honoured (exempt from every policy now) or ignored (namespace not in kubernetes.dryRunAnnotationNamespaces)',
    labelNames: ['annotation'] as const,
    aggregator: 'max',
    registers: [this.registry],
    collect: (): void => {
      const c = this.dryRunPodsSource();
      if (c) for (const k of ['honoured', 'ignored'] as const) this.dryRunPods.set({ annotation: k }, c[k]);
    },
  });
  readonly revocationReload = new Counter({
    name: 'zt_authz_revocation_reload_total',
    help: 'Revocation list loads by source (file: revocation.file; kubernetes: one TokenRevocation) and result (error: the last good entries are kept)',
    labelNames: ['source', 'result'] as const,
    registers: [this.registry],
  });
  /** Read at scrape time; the App points it at the revocation list. */
  revocationEntriesSource: () => number = () => 0;
  readonly revocationEntries: Gauge = new Gauge({
    name: 'zt_authz_revocation_entries',
    help: 'Entries on the revocation list that can still match a credential (expired ones are dropped)',
    aggregator: 'max',
    registers: [this.registry],
    collect: (): void => this.revocationEntries.set(this.revocationEntriesSource()),
  });
  readonly tlsReload = new Counter({
    name: 'zt_authz_tls_reload_total',
    help: 'server.tls certificate/key reloads by result (error: the last good certificate is kept)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly tlsCertNotAfter = new Gauge({
    name: 'zt_authz_tls_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate (server.tls), Unix seconds',
    aggregator: 'min',
    registers: [this.registry],
  });
  // Bounded logging (src/observe/log.ts): lines not written rather than buffered without limit.
  readonly logDropped = new Counter({
    name: 'zt_authz_log_dropped_total',
    help: 'Log lines not written: buffer_full (stdout not drained, log.maxBufferBytes reached; audit or ops) or rate_limited (repeated ops warnings)',
    labelNames: ['log', 'reason'] as const,
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: 'zt_authz_build_info',
    help: 'Build information',
    labelNames: ['version', 'node'] as const,
    aggregator: 'first',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges *_total, which `promtool check metrics` rejects (only
    // counters may end in _total). They add nothing the process_* metrics lack: drop them.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(name);
    this.buildInfo.set({ version: VERSION, node: process.version }, 1);
    this.policyReload.inc({ result: 'success' }, 0);
    this.policyReload.inc({ result: 'error' }, 0);
    for (const [log, reason] of [
      ['audit', 'buffer_full'],
      ['ops', 'buffer_full'],
      ['ops', 'rate_limited'],
    ] as const)
      this.logDropped.inc({ log, reason }, 0);
    for (const transport of ['grpc-v3', 'grpc-v2', 'http']) this.shed.inc({ transport }, 0);
    // Pre-create the common deny/allow series so rate() works from the first scrape. The
    // decision label follows the reason's status (allow reasons answer 200, e.g. `observed`), so
    // no pre-created series pairs a reason with a decision it can never be counted under.
    for (const reason of REASON_CODES)
      this.decisions.inc({ decision: REASONS[reason].status === 200 ? 'allow' : 'deny', reason, policy: '' }, 0);
  }
}
