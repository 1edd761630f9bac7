// The `expect` block of a policy test case (docs/policy-tests.md): the decision and what else of
// the answer a case pins down. Unknown keys fail the file: a misspelt field must never let a case
// pass without checking what it meant to.
import { CaseFileError, mapping, optString, stringList, unknownKeys } from './case-fields.js';

export type Verdict = 'allow' | 'deny';

export interface CaseExpect {
  decision: Verdict;
  reason?: string;
  policy?: string;
  rule?: number;
  status?: number;
  /** Substrings the WWW-Authenticate challenge must contain. */
  challenge?: string[];
  /** Substrings it must not contain. */
  notChallenge?: string[];
  /** What the dry-run policies would have decided. */
  dryRun?: Verdict;
  /** Observe mode: the reason enforce mode would have denied with. */
  would?: string;
  /** The AUDIT and dry-run policies that matched (any order). */
  audits?: string[];
  /** Headers set upstream, name → value. */
  upstream?: Record<string, string>;
  /** Request headers removed before the request goes upstream. */
  removes?: string[];
}

const EXPECT_KEYS = new Set([
  'decision',
  'reason',
  'policy',
  'rule',
  'status',
  'challenge',
  'notChallenge',
  'dryRun',
  'would',
  'audits',
  'upstream',
  'removes',
]);

/** A case's `expect` mapping, checked; `where` names the file and case in errors. */
export function parseExpect(raw: unknown, where: string): CaseExpect {
  if (raw === undefined) throw new CaseFileError(`${where}: expect is required (at least expect: { decision: allow|deny })`);
  const e = mapping(raw, where, 'expect');
  unknownKeys(e, EXPECT_KEYS, where, 'expect');
  const verdict = (v: unknown, key: string): Verdict | undefined => {
    if (v === undefined) return undefined;
    if (v !== 'allow' && v !== 'deny') throw new CaseFileError(`${where}: expect.${key} must be allow or deny, got ${JSON.stringify(v)}`);
    return v;
  };
  const decision = verdict(e.decision, 'decision');
  if (!decision) throw new CaseFileError(`${where}: expect.decision is required (allow or deny)`);
  const int = (v: unknown, key: string): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new CaseFileError(`${where}: expect.${key} must be an integer`);
    return v;
  };
  const strings = (v: unknown, key: string) => (v === undefined ? undefined : stringList(v, where, `expect.${key}`));
  let upstream: Record<string, string> | undefined;
  if (e.upstream !== undefined) {
    upstream = {};
    for (const [k, v] of Object.entries(mapping(e.upstream, where, 'expect.upstream'))) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
        throw new CaseFileError(`${where}: expect.upstream.${k} must be a string`);
      upstream[k.toLowerCase()] = String(v);
    }
  }
  const fields: Omit<CaseExpect, 'decision'> = {
    reason: optString(e.reason, where, 'expect.reason'),
    policy: optString(e.policy, where, 'expect.policy'),
    rule: int(e.rule, 'rule'),
    status: int(e.status, 'status'),
    challenge: strings(e.challenge, 'challenge'),
    notChallenge: strings(e.notChallenge, 'notChallenge'),
    dryRun: verdict(e.dryRun, 'dryRun'),
    would: optString(e.would, where, 'expect.would'),
    audits: strings(e.audits, 'audits'),
    upstream,
    removes: strings(e.removes, 'removes')?.map((h) => h.toLowerCase()),
  };
  return { decision, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) };
}
