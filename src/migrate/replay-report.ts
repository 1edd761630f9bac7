// What `zt-authz policy replay` reports: per source → destination edge, how the candidate's
// decisions differ from what happened to the recorded requests; and its text form.

export type Change = 'allow→deny' | 'deny→allow' | 'unchanged' | 'indeterminate';

export interface EdgeDetail {
  change: Change;
  method: string;
  path: string;
  /** Candidate outcome: reason code (and policy), or why it is indeterminate. */
  now: string;
  /** What happened before. */
  before: string;
  count: number;
}

export interface EdgeReport {
  source: string;
  destination: string;
  requests: number;
  allowToDeny: number;
  /** Of allowToDeny: served only because of observe mode (the recorded config would deny them too). */
  allowToDenyObserved: number;
  denyToAllow: number;
  unchanged: number;
  indeterminate: number;
  /** Every change and indeterminate outcome, by method, path template and reason. */
  details: EdgeDetail[];
}

export interface ReplaySummary {
  records: number;
  allowToDeny: number;
  allowToDenyObserved: number;
  denyToAllow: number;
  unchanged: number;
  indeterminate: number;
  /** Observe-mode requests the recorded configuration would deny: now allowed / still denied / indeterminate. */
  observed: { total: number; nowAllowed: number; stillDenied: number; indeterminate: number };
  /** Denies decided before policy (authentication), carried over unchanged. */
  notReevaluated: number;
  /** Records left out by --namespace. */
  filtered: number;
  /** Requests whose regression fails the gate. */
  failing: number;
}

export interface ReplayReport {
  summary: ReplaySummary;
  edges: EdgeReport[];
  /** Candidate config mode note (it is ignored: replay shows enforcement). */
  modeNote?: string;
}

export function formatReport(
  rep: ReplayReport,
  opts: { configFile: string; all?: boolean; ignoreRejectedCredentials?: boolean; strict?: boolean },
): string {
  const s = rep.summary;
  const out: string[] = [];
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  out.push(`Replayed ${plural(s.records, 'recorded request')} against ${opts.configFile} (as if enforced).`);
  if (rep.modeNote) out.push(`Note: ${rep.modeNote}.`);
  const shown = rep.edges.filter((e) => opts.all || e.allowToDeny || e.denyToAllow || e.indeterminate);
  if (shown.length) {
    const rows = shown.map((e) => [
      `${e.source} → ${e.destination}`,
      String(e.requests),
      fmtA2D(e),
      String(e.denyToAllow),
      String(e.unchanged),
      String(e.indeterminate),
    ]);
    const head = ['EDGE (source → destination)', 'REQUESTS', 'ALLOW→DENY', 'DENY→ALLOW', 'UNCHANGED', 'INDETERMINATE'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd();
    out.push('', line(head));
    shown.forEach((e, i) => {
      out.push(line(rows[i]!));
      for (const d of e.details)
        out.push(`    ${d.change.padEnd(13)} ${`${d.method} ${d.path}`} ×${d.count}: now ${d.now}; before: ${d.before}`);
    });
    if (shown.some((e) => e.allowToDenyObserved))
      out.push('(obs: served only because of observe mode; the recorded config would have denied them too)');
  }
  const unchangedEdges = rep.edges.length - shown.length;
  out.push('');
  if (unchangedEdges > 0) out.push(`${plural(unchangedEdges, 'edge')} unchanged (--all lists them).`);
  out.push(
    `allow→deny: ${s.allowToDeny}${s.allowToDenyObserved ? ` (${s.allowToDenyObserved} served only in observe mode)` : ''}   deny→allow: ${s.denyToAllow}   unchanged: ${s.unchanged}   indeterminate: ${s.indeterminate}`,
  );
  if (s.observed.total) {
    out.push(
      `Observe mode: ${plural(s.observed.total, 'request')} the recorded config would deny: ${s.observed.nowAllowed} now allowed, ${s.observed.stillDenied} still denied${s.observed.indeterminate ? `, ${s.observed.indeterminate} indeterminate` : ''}.`,
    );
  }
  if (s.filtered) out.push(`${plural(s.filtered, 'request')} to destinations outside the namespace left out.`);
  if (s.notReevaluated) {
    out.push(
      `${plural(s.notReevaluated, 'request')} with a credential enforce mode rejects (or otherwise denied before the policy stage): carried over as denied, not re-evaluated${opts.ignoreRejectedCredentials ? '; not failing (--ignore-rejected-credentials)' : ''}.`,
    );
  }
  if (s.indeterminate)
    out.push(
      'Indeterminate: the candidate decides on data audit records do not hold (header values, unrecorded claims, hashed subjects); see the details above.',
    );
  if (s.failing) {
    out.push(
      `FAIL: ${plural(s.failing, 'request')} that went through would be denied${opts.strict && s.indeterminate ? ' or are indeterminate (--strict)' : ''}.`,
    );
  } else {
    out.push('OK: no request that went through would be denied.');
  }
  return out.join('\n') + '\n';
}

function fmtA2D(e: EdgeReport): string {
  return e.allowToDenyObserved ? `${e.allowToDeny} (${e.allowToDenyObserved} obs)` : String(e.allowToDeny);
}
