// The Decision one request gets, in three parts: the verdict (what was decided), the response
// (what the transports send) and the evidence (what the engine found out, for metrics, audit and
// replay). Built once by the engine (decision/engine.ts) and never mutated afterwards: a change
// (observe mode, a transport that cannot carry an allow out) builds a new Decision.
import type { Reason } from './reasons.js';
import type { Identity, Mode, PolicyMatch } from './types.js';
import type { PeerContext } from '../identity/peer-context.js';

/** What was decided: the outcome and why. */
export interface Verdict {
  readonly allow: boolean;
  readonly reason: Reason;
  /** HTTP status for the client: 200 on allow. */
  readonly status: number;
  /** Safe, token-free explanation. */
  readonly detail?: string;
  /** The policy that decided (allow or DENY), if any. */
  readonly policy?: string;
  readonly rule?: number;
}

/** What the transports send: each adapter encodes this in its own wire format. */
export interface DecisionResponse {
  /** Allow only: headers to set on the upstream request (always overwrite). */
  readonly upstreamHeaders: ReadonlyArray<readonly [string, string]>;
  /** Allow only: request headers to strip (client-sent identity headers, the raw credential). */
  readonly removeHeaders: readonly string[];
  /** Allow only: query parameters to strip (credential passed as a parameter). */
  readonly removeQueryParams: readonly string[];
  /** Deny only: the WWW-Authenticate challenge. */
  readonly wwwAuthenticate?: string;
}

/** Observe mode: what enforce mode would have decided (set when it would have denied). */
export interface WouldDecide {
  readonly allow: boolean;
  readonly reason: Reason;
  readonly status: number;
  readonly policy?: string;
  readonly rule?: number;
}

/** What enforcing the dry-run policies would have decided (only when some apply). */
export interface DryRunVerdict {
  readonly allow: boolean;
  readonly reason: Reason;
  readonly policy?: string;
  readonly rule?: number;
}

/** What the engine found out on the way: recorded (metrics, audit, replay), never sent. */
export interface Evidence {
  readonly identity?: Identity;
  readonly tokenHash?: string;
  /** The request's peers (identity/peer-context.ts), resolved once; absent when the request did not normalize. */
  readonly peers?: PeerContext;
  /**
   * Set when the policy stage evaluated the request with `peers`: the audit record then keeps the
   * caller and scope it used, so `zt-authz policy replay` evaluates recorded requests with the
   * same identities, including those resolved from Kubernetes (service-account tokens, pod IPs).
   */
  readonly policyEvaluated?: true;
  /** The enforcement mode of the destination; absent when the request did not normalize. */
  readonly mode?: Mode;
  /** AUDIT / dry-run policies that matched; recorded, never decisive. */
  readonly audits?: readonly PolicyMatch[];
  /** The trace this decision belongs to (observe/tracing/): the caller's, or its own sampled span's. */
  readonly traceId?: string;
  readonly wouldDecide?: WouldDecide;
  readonly dryRun?: DryRunVerdict;
  /** The internal token set upstream on this allow: its jti and signing kid (never the token). */
  readonly internalToken?: { readonly jti: string; readonly kid: string };
}

/** One request's decision, built once by the engine and never mutated afterwards. */
export interface Decision {
  readonly verdict: Verdict;
  readonly response: DecisionResponse;
  readonly evidence: Evidence;
}
