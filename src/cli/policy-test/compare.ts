// A case's expectation against the engine's decision: every expectation that does not hold, in
// words a report can print (empty: the case passed).
import type { Decision } from '../../decision/decision.js';
import type { CaseExpect } from './expect.js';
import { bearerJwtLabel, decodeBearerJwt } from '../jwt-view.js';

export function compareDecision(e: CaseExpect, d: Decision): string[] {
  const { verdict: v, response: r, evidence: ev } = d;
  const out: string[] = [];
  const got = v.allow ? 'allow' : 'deny';
  if (got !== e.decision) out.push(`decision: expected ${e.decision}, got ${got}`);
  if (e.reason !== undefined && v.reason !== e.reason) out.push(`reason: expected ${e.reason}, got ${v.reason}`);
  if (e.policy !== undefined && v.policy !== e.policy) out.push(`policy: expected ${e.policy}, got ${v.policy ?? '(none)'}`);
  if (e.rule !== undefined && v.rule !== e.rule) out.push(`rule: expected ${e.rule}, got ${v.rule ?? '(none)'}`);
  if (e.status !== undefined && v.status !== e.status) out.push(`status: expected ${e.status}, got ${v.status}`);
  for (const part of e.challenge ?? [])
    if (!r.wwwAuthenticate?.includes(part)) out.push(`challenge: expected it to contain ${part}, got ${r.wwwAuthenticate ?? '(none)'}`);
  for (const part of e.notChallenge ?? [])
    if (r.wwwAuthenticate?.includes(part)) out.push(`challenge: expected it not to contain ${part}, got ${r.wwwAuthenticate}`);
  if (e.dryRun !== undefined) {
    const dry = ev.dryRun ? (ev.dryRun.allow ? 'allow' : 'deny') : '(no dry-run policy matched)';
    if (dry !== e.dryRun) out.push(`dryRun: expected ${e.dryRun}, got ${dry}`);
  }
  const would = ev.wouldDecide?.reason;
  if (e.would !== undefined) {
    if (would !== e.would) out.push(`would: expected ${e.would}, got ${would ?? '(not in observe mode, or nothing to observe)'}`);
  } else if (would !== undefined)
    // Observe mode answers allow whatever enforce mode would do: a case must say what that is.
    out.push(`would: observe mode let the request through, enforce mode would deny with ${would}; add would: ${would}`);
  if (e.audits !== undefined) {
    const audits = (ev.audits ?? []).map((a) => a.policy).sort();
    const want = [...e.audits].sort();
    if (audits.join('\n') !== want.join('\n')) out.push(`audits: expected [${want.join(', ')}], got [${audits.join(', ')}]`);
  }
  for (const [k, val] of Object.entries(e.upstream ?? {})) {
    const have = r.upstreamHeaders.filter(([n]) => n === k).map(([, x]) => x);
    if (!have.includes(val)) out.push(`upstream ${k}: expected ${val}, got ${have.length ? have.map(shown).join(', ') : '(not set)'}`);
  }
  for (const h of e.removes ?? [])
    if (!r.removeHeaders.includes(h)) out.push(`removes: expected ${h} removed, removed [${r.removeHeaders.join(', ')}]`);
  // Not an expectation but the engine's own rule; a case that sees it broken must not pass.
  if (!v.allow && r.upstreamHeaders.length) out.push(`a deny set upstream headers: ${r.upstreamHeaders.map(([n]) => n).join(', ')}`);
  return out;
}

/** A minted internal token in a failure message (and so in JUnit XML) as its label, never the token. */
function shown(value: string): string {
  const d = decodeBearerJwt(value);
  return d ? bearerJwtLabel(d) : value;
}
