// gRPC adapter: CheckRequest → the engine → CheckResponse. Never rejects, never answers OK on
// error. The observer records the decision the response carries (a fail-closed deny when the
// allow could not be built). With tracing on, the decision gets its span (observe/tracing/), its
// parent read from the call's metadata, else from the CheckRequest's headers.
import { Metadata } from '@grpc/grpc-js';
import type { CheckEngine, NormalizeStep, PendingDecision } from '../../decision/engine.js';
import type { Decision } from '../../decision/decision.js';
import { failClosedDecision } from '../../decision/deny.js';
import { withoutQueryRemoval } from '../../decision/removable.js';
import { normalizeCheckRequest } from './normalize.js';
import { toCheckResponse } from './response.js';
import type { CallMetadata, CheckHandler } from './server.js';
import type { DecisionTracing } from '../../observe/tracing/decision-tracing.js';
import { HEADERS_GETTER, METADATA_GETTER } from '../../observe/tracing/propagation.js';
import type { CheckResponse } from './messages.js';

export function grpcCheckHandler(engine: CheckEngine, tracing?: DecisionTracing): CheckHandler {
  return async (req, transport, metadata) => {
    const normalize: NormalizeStep = (limits) => normalizeCheckRequest(req, limits);
    const { input, decision, record } = await (tracing?.enabled
      ? tracedCheck(tracing, engine, transport, normalize, metadata)
      : engine.check(transport, normalize));
    // v2 has no headers_to_remove: pass the request headers so removals become blank overwrites.
    const v2Headers = transport === 'grpc-v2' ? (input?.headers ?? {}) : undefined;
    // v2 cannot remove query parameters either: a credential sent in one is denied, not forwarded.
    let answered: Decision = v2Headers ? withoutQueryRemoval(decision, engine.snapshot) : decision;
    let response: CheckResponse;
    try {
      response = toCheckResponse(answered, input?.requestId, v2Headers);
    } catch {
      answered = failClosedDecision(decision, `the ${transport} response could not be built`);
      response = toCheckResponse(answered, input?.requestId);
    }
    record(answered);
    return response;
  };
}

/** The node:http2 server passes its request headers, grpc-js its Metadata. */
function tracedCheck(
  tracing: DecisionTracing,
  engine: CheckEngine,
  transport: string,
  normalize: NormalizeStep,
  metadata: CallMetadata | undefined,
): Promise<PendingDecision> {
  if (metadata instanceof Metadata) return tracing.check(engine, transport, normalize, metadata, METADATA_GETTER);
  return tracing.check(engine, transport, normalize, metadata, HEADERS_GETTER);
}
