// A CheckEngine stand-in for tracing tests: every check answers one fixed allow whose
// CheckRequest carries the given headers (the fallback trace source), and records into a list.
import type { CheckEngine, PendingDecision } from '../../src/decision/engine.js';
import type { Decision } from '../../src/decision/decision.js';

export const FIXED_ALLOW: Decision = {
  verdict: { allow: true, reason: 'allowed', status: 200, policy: 'p' },
  response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [] },
  evidence: {},
};

/** The normalize step a fake engine never calls. */
export const unusedNormalize = () => ({ ok: false as const, detail: 'unused' });

/** An engine whose CheckRequest carries `headers` and records each answered decision into `recorded`. */
export const fixedAllowEngine = (headers: Record<string, string>, recorded: Decision[]): CheckEngine => ({
  snapshot: { realm: undefined },
  check: (): Promise<PendingDecision> =>
    Promise.resolve({
      input: { headers } as unknown as PendingDecision['input'],
      decision: FIXED_ALLOW,
      record: (a) => void recorded.push(a),
    }),
});
