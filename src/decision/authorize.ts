// The policy stage: the caller and destination the peer stage resolved, the verified identity (or
// none), evaluated against the snapshot's policies. Near misses become the deny that tells the
// client what is missing (401 for a credential, step-up, scope).
import type { CheckInput, Identity } from './types.js';
import type { Decision, Evidence, Verdict } from './decision.js';
import type { Snapshot } from './snapshot.js';
import type { PeerContext } from '../identity/peer-context.js';
import type { PolicyContext } from '../policy/context.js';
import type { PolicyVerdict } from '../policy/policy-index.js';
import { deny } from './deny.js';

/** What the policy stage concluded: a finished deny, or the verdict and evidence of an allow (its response is the caller's to build). */
export type PolicyOutcome =
  | { readonly allow: false; readonly decision: Decision }
  | {
      readonly allow: true;
      readonly verdict: Verdict;
      readonly evidence: Evidence;
      /** The allowing policy's internalToken switch, when it has one (else the global setting applies). */
      readonly internalToken?: boolean;
    };

/** The policy stage's view of a request. `peers` must be complete (identity/peer-context.ts withWorkloadCaller). */
export function policyContext(input: CheckInput, identity: Identity | undefined, peers: PeerContext): PolicyContext {
  return {
    input,
    identity,
    source: peers.caller,
    destination: peers.destination,
    ...(peers.remoteIp !== undefined ? { remoteIp: peers.remoteIp } : {}),
  };
}

export function evaluatePolicies(
  input: CheckInput,
  identity: Identity | undefined,
  peers: PeerContext,
  snap: Pick<Snapshot, 'policies' | 'realm'>,
): PolicyOutcome {
  const ctx = policyContext(input, identity, peers);
  const verdict = snap.policies.evaluate(ctx);
  const evidence: Evidence = {
    audits: verdict.audits,
    ...(verdict.dryRun ? { dryRun: verdict.dryRun } : {}),
    ...(identity ? { identity, tokenHash: identity.tokenHash } : {}),
    peers,
    policyEvaluated: true,
  };
  if (!verdict.allow) return { allow: false, decision: denyFor(verdict, ctx, snap, evidence) };
  const decidedBy = verdict.policy ? { policy: verdict.policy, rule: verdict.rule } : {};
  const mint = verdict.internalToken !== undefined ? { internalToken: verdict.internalToken } : {};
  return { allow: true, verdict: { allow: true, reason: 'allowed', status: 200, ...decidedBy }, evidence, ...mint };
}

function denyFor(verdict: PolicyVerdict, ctx: PolicyContext, snap: Pick<Snapshot, 'policies' | 'realm'>, evidence: Evidence): Decision {
  const by = verdict.policy ? { policy: verdict.policy, rule: verdict.rule } : {};
  if (verdict.reason === 'policy_denied') return deny('policy_denied', `denied by policy ${verdict.policy}`, snap, evidence, by);
  const miss = snap.policies.nearMiss(ctx);
  // No credential, and a rule would admit the request once authenticated: ask for one (401).
  if (miss?.kind === 'authn') return deny('token_missing', `policy ${miss.policy} requires an authenticated request`, snap, evidence, by);
  if (miss?.kind === 'step_up') {
    const challengeParams: Record<string, string> = miss.acr.length ? { acr_values: miss.acr.join(' ') } : {};
    const what = [miss.acr.length ? `acr ${miss.acr.join('|')}` : '', miss.amr.length ? `amr ${miss.amr.join('|')}` : '']
      .filter(Boolean)
      .join(' and ');
    return deny('insufficient_user_authentication', `policy ${miss.policy} requires ${what}`, snap, evidence, { ...by, challengeParams });
  }
  if (miss?.kind === 'scope') {
    return deny('insufficient_scope', `policy ${miss.policy} requires scope ${miss.scopes.join('|')}`, snap, evidence, {
      ...by,
      challengeParams: { scope: miss.scopes.join(' ') },
    });
  }
  return deny('no_policy_matched', 'no ALLOW rule matched', snap, evidence, by);
}
