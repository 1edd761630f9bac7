// Metrics and audit for every decision answered, on every transport: the engine's observer
// (decision/engine.ts), told once per request with the decision actually sent.
import type { Logger } from 'pino';
import type { CheckInput } from '../decision/types.js';
import type { Decision } from '../decision/decision.js';
import type { DecisionObserver } from '../decision/engine.js';
import type { Metrics } from './metrics.js';
import type { AuditLog } from './audit.js';

export class DecisionRecorder implements DecisionObserver {
  constructor(
    private readonly metrics: Metrics,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
  ) {}

  decided(transport: string, input: CheckInput | undefined, d: Decision, seconds: number): void {
    try {
      const { verdict: v, evidence: e } = d;
      this.metrics.decisions.inc({ decision: v.allow ? 'allow' : 'deny', reason: v.reason, policy: v.policy ?? '' });
      // Would-be outcomes never change the response, but are counted apart from real ones.
      if (e.wouldDecide)
        this.metrics.decisions.inc({ decision: 'would_deny', reason: e.wouldDecide.reason, policy: e.wouldDecide.policy ?? '' });
      if (e.dryRun)
        this.metrics.decisions.inc({
          decision: e.dryRun.allow ? 'dry_run_allow' : 'dry_run_deny',
          reason: e.dryRun.reason,
          policy: e.dryRun.policy ?? '',
        });
      if (e.audits)
        for (const a of e.audits)
          if (a.action === 'AUDIT') this.metrics.decisions.inc({ decision: 'audit', reason: v.reason, policy: a.policy });
      this.metrics.checkDuration.observe({ transport }, seconds);
      this.audit.record(transport, input, d, seconds);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'failed to record decision');
    }
  }
}
