// Audit records as `policy generate` and `policy replay` read them: JSON lines from a file or
// stdin, each parsed by the audit format's own reader (observe/audit-record.ts); anything that is
// not an audit record (operational `"logger":"ops"` lines, npm's banner, blank lines) is skipped.
// Also the shared vocabulary of both commands: which requests were served, what the recorded
// configuration would have enforced, and how an edge is named.
import { createReadStream, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parsePrincipal } from '../identity/spiffe.js';
import { parseAuditLine, type AuditRecord } from '../observe/audit-record.js';
import type { Reason } from '../decision/reasons.js';

export interface ReadStats {
  lines: number;
  audit: number;
  /** Lines that are not audit records (operational logs, banners, blank lines). */
  other: number;
  /** Audit records without a request (malformed requests denied before normalisation). */
  unusable: number;
}

/** Reasons decided by the policy stage; every other deny happened before policy (authentication, limits). */
const POLICY_STAGE_REASONS: readonly Reason[] = [
  'allowed',
  'token_missing',
  'policy_denied',
  'no_policy_matched',
  'insufficient_scope',
  'insufficient_user_authentication',
];
export const POLICY_REASONS: ReadonlySet<string> = new Set(POLICY_STAGE_REASONS);

/** Read records from a file, or from stdin when `from` is "-". Calls `each` in input order. */
export async function readAuditRecords(from: string, each: (r: AuditRecord) => void, stdin: Readable = process.stdin): Promise<ReadStats> {
  // Open files synchronously so a missing file is an immediate, clear error.
  const input = from === '-' ? stdin : createReadStream('', { fd: openSync(from, 'r'), encoding: 'utf8' });
  const stats: ReadStats = { lines: 0, audit: 0, other: 0, unusable: 0 };
  const rl = createInterface({ input, crlfDelay: Infinity });
  let failed: Error | undefined;
  input.once('error', (err: Error) => {
    failed = err;
    rl.close();
  });
  for await (const line of rl) {
    stats.lines++;
    const parsed = parseAuditLine(line, stats.lines);
    if (parsed === 'other') stats.other++;
    else if (parsed === 'unusable') {
      stats.audit++;
      stats.unusable++;
    } else {
      stats.audit++;
      each(parsed);
    }
  }
  if (failed) throw failed;
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Shared vocabulary

/** The request went through: allowed, or allowed by observe mode. */
export function served(r: AuditRecord): boolean {
  return r.decision === 'allow';
}

/** What the recorded configuration enforced (or, in observe mode, would have enforced). */
export function recordedVerdict(r: AuditRecord): { allow: boolean; reason: string; policy?: string } {
  if (r.wouldDecide)
    return {
      allow: r.wouldDecide.decision === 'allow',
      reason: r.wouldDecide.reason,
      ...(r.wouldDecide.policy ? { policy: r.wouldDecide.policy } : {}),
    };
  return { allow: r.decision === 'allow', reason: r.reason, ...(r.policy ? { policy: r.policy } : {}) };
}

/** Served only because observe mode overrode a deny. */
export function observedDeny(r: AuditRecord): boolean {
  return r.decision === 'allow' && r.wouldDecide !== undefined && r.wouldDecide.decision === 'deny';
}

/** The mTLS principal without the spiffe:// scheme, as policies write it. */
export function sourcePrincipal(r: AuditRecord): string | undefined {
  return parsePrincipal(r.source.principal)?.principal;
}

/** Destination namespace: recorded, else from the destination's SPIFFE ID (as the engine does). */
export function destinationNamespace(r: AuditRecord): string | undefined {
  return r.destination.namespace ?? parsePrincipal(r.destination.principal)?.namespace;
}

/** "orders:8080" → "orders", lower case (host patterns match either form). */
export function bareHost(host: string): string {
  const h = host.toLowerCase();
  const colon = h.lastIndexOf(':');
  if (colon > 0 && !h.endsWith(']') && /^[0-9]+$/.test(h.slice(colon + 1))) return h.slice(0, colon);
  return h;
}

// Labels that identify a workload, most specific first; and labels that change on every rollout.
const WORKLOAD_LABELS = ['app.kubernetes.io/name', 'app', 'k8s-app'];
const VOLATILE_LABELS = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'version',
  'app.kubernetes.io/version',
  'security.istio.io/tlsMode',
  'service.istio.io/canonical-name',
  'service.istio.io/canonical-revision',
  'sidecar.istio.io/inject',
]);

export interface Workload {
  namespace?: string;
  /** Selector labels (a stable subset of the destination labels), when any. */
  selector?: Record<string, string>;
  /** Set when there is no selector: the policy is limited to this host instead. */
  host?: string;
  /** Sort/group key and display label, e.g. "shop/app=orders", "host=orders.demo.svc". */
  key: string;
}

/**
 * The destination workload a policy is scoped to: namespace plus a stable selector label
 * (app.kubernetes.io/name, app or k8s-app; else every label that does not change per rollout).
 * Without labels, the request host stands in.
 */
export function workloadOf(r: AuditRecord): Workload {
  const namespace = destinationNamespace(r);
  const labels = r.destination.labels;
  let selector: Record<string, string> | undefined;
  const named = WORKLOAD_LABELS.find((k) => labels[k] !== undefined);
  if (named) selector = { [named]: labels[named]! };
  else {
    const stable = Object.keys(labels)
      .filter((k) => !VOLATILE_LABELS.has(k))
      .sort();
    if (stable.length) selector = Object.fromEntries(stable.map((k) => [k, labels[k]!]));
  }
  const host = selector ? undefined : bareHost(r.destination.host) || undefined;
  const sel = selector
    ? Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
    : `host=${host ?? '?'}`;
  const key = namespace !== undefined ? `${namespace}/${sel}` : sel;
  return { ...(namespace !== undefined ? { namespace } : {}), ...(selector ? { selector } : {}), ...(host ? { host } : {}), key };
}

/** A Kubernetes workload the policy stage identified the caller as, without a principal ("ns/sa"). */
export function sourceWorkload(r: AuditRecord): string | undefined {
  return !r.source.principal && r.source.namespace && r.source.serviceAccount
    ? `${r.source.namespace}/${r.source.serviceAccount}`
    : undefined;
}

/** How an edge's source is shown: mTLS principal (or Kubernetes workload) and/or JWT issuer, or "(anonymous)". */
export function sourceLabel(r: AuditRecord): string {
  const p = sourcePrincipal(r);
  const w = sourceWorkload(r);
  const parts: string[] = [];
  if (p) parts.push(p);
  else if (w) parts.push(`sa ${w} (${r.source.principalFrom === 'pod_ip' ? 'pod IP' : 'token'})`);
  if (r.issuer) parts.push(`jwt ${r.issuer}`);
  return parts.length ? parts.join(' + ') : '(anonymous)';
}
