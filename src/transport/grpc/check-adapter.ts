// gRPC adapter: CheckRequest → the engine → CheckResponse. Never rejects, never answers OK on
// error. The observer records the decision the response carries (a fail-closed deny when the
// allow could not be built).
import type { CheckEngine } from '../../decision/engine.js';
import type { Decision } from '../../decision/decision.js';
import { failClosedDecision } from '../../decision/deny.js';
import { withoutQueryRemoval } from '../../decision/removable.js';
import { normalizeCheckRequest } from './normalize.js';
import { toCheckResponse } from './response.js';
import type { CheckHandler } from './server.js';
import type { CheckResponse } from './messages.js';

export function grpcCheckHandler(engine: CheckEngine): CheckHandler {
  return async (req, transport) => {
    const { input, decision, record } = await engine.check(transport, (limits) => normalizeCheckRequest(req, limits));
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
