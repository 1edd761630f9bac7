// One audit record per decision (all denies; allows sampled). Carries identities, the reason
// code and a short token hash; never the token, never query values, never header values.
import type { Logger } from 'pino';
import type { CheckInput, Decision } from '../decision/types.js';

export interface AuditOptions {
  enabled: boolean;
  allowSampleRate: number;
  random?: () => number;
}

export class AuditLog {
  private readonly random: () => number;
  constructor(private readonly logger: Logger, private readonly opts: AuditOptions) {
    this.random = opts.random ?? Math.random;
  }

  record(transport: string, input: CheckInput | undefined, d: Decision, latencySeconds: number): void {
    if (!this.opts.enabled) return;
    if (d.allow && this.opts.allowSampleRate < 1 && this.random() >= this.opts.allowSampleRate) return;
    const id = d.identity;
    this.logger.info({
      request_id: input?.requestId,
      transport,
      decision: d.allow ? 'allow' : 'deny',
      reason: d.reason,
      status: d.status,
      ...(d.detail ? { detail: d.detail } : {}),
      policy: d.policy,
      rule: d.rule,
      ...(d.audits?.length ? { audits: d.audits } : {}),
      ...(d.wouldDecide ? { would_decide: { decision: d.wouldDecide.allow ? 'allow' : 'deny', reason: d.wouldDecide.reason, status: d.wouldDecide.status, policy: d.wouldDecide.policy, rule: d.wouldDecide.rule } } : {}),
      ...(d.dryRun ? { dry_run: { decision: d.dryRun.allow ? 'allow' : 'deny', reason: d.dryRun.reason, policy: d.dryRun.policy } } : {}),
      source: input ? { principal: input.source.principal, address: input.source.address } : undefined,
      destination: input ? { host: input.host, principal: input.destination.principal, address: input.destination.address, port: input.destination.port } : undefined,
      method: input?.method,
      path: input ? truncate(input.path, 512) : undefined,
      subject: id?.subject,
      issuer: id?.issuer,
      token_hash: d.tokenHash ?? id?.tokenHash,
      latency_ms: Math.round(latencySeconds * 1e6) / 1e3,
    });
  }
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
