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
      const counts = this.metrics.decisionCounts;
      counts.inc(v.allow ? 'allow' : 'deny', v.reason, v.policy ?? '');
      // Would-be outcomes never change the response, but are counted apart from real ones.
      if (e.wouldDecide) counts.inc('would_deny', e.wouldDecide.reason, e.wouldDecide.policy ?? '');
      if (e.dryRun) counts.inc(e.dryRun.allow ? 'dry_run_allow' : 'dry_run_deny', e.dryRun.reason, e.dryRun.policy ?? '');
      if (e.audits) for (const a of e.audits) if (a.action === 'AUDIT') counts.inc('audit', v.reason, a.policy);
      this.metrics.checkDurationOf(transport).observe(seconds);
      this.audit.record(transport, input, d, seconds);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'failed to record decision');
    }
  }
}
