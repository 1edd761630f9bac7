// The decision engine: the one request path every caller uses (gRPC and HTTP adapters,
// `zt-authz check`, the conformance suite, the benchmarks). One method per phase, in order:
//
//   normalize result in → identifyPeers → authenticate → authorize → shape
//
// and the whole-request entries (`check`, `decideRequest`, `decide`) that never reject: any
// exception is an internal_error deny (fail closed). Each request reads the current Snapshot once
// from the source function (reloads swap it atomically) and uses that one for every phase.
// Recording (metrics, audit) is the observer's: it gets the decision actually answered, once.
import type { AuthResult, CheckInput, Identity } from './types.js';
import type { Decision } from './decision.js';
import type { Snapshot } from './snapshot.js';
import type { Normalized } from './normalize.js';
import type { Config } from '../config/types.js';
import { identifyPeers, withWorkloadCaller, type PeerContext } from '../identity/peer-context.js';
import { evaluatePolicies } from './authorize.js';
import { deny } from './deny.js';
import { observed } from './observe-mode.js';
import { addIdentityHeaders, type HeaderList } from './upstream-headers.js';
import { letThrough, wantsInternalToken } from './internal-token.js';

/** Produces the normalized request, with the limits of the snapshot the request is decided with. */
export type NormalizeStep = (limits: Config['limits']) => Normalized;

/** Told about every decision answered (metrics, audit: observe/decision-observer.ts). */
export interface DecisionObserver {
  decided(transport: string, input: CheckInput | undefined, answered: Decision, seconds: number): void;
}

/**
 * A decision not recorded yet, for an adapter that builds and sends the response itself: `record`
 * must be called once with the decision actually answered, which differs from `decision` when the
 * response could not be built or written and a fail-closed deny went out instead. Later calls are
 * ignored.
 */
export interface PendingDecision {
  readonly input: CheckInput | undefined;
  readonly decision: Decision;
  readonly record: (answered: Decision) => void;
}

/** What a transport adapter needs of the engine. */
export interface CheckEngine {
  check(transport: string, normalize: NormalizeStep): Promise<PendingDecision>;
  /** The current snapshot (the realm of a deny a transport answers instead). */
  readonly snapshot: Pick<Snapshot, 'realm'>;
}

export class DecisionEngine implements CheckEngine {
  constructor(
    private readonly source: () => Snapshot,
    private readonly observer?: DecisionObserver,
  ) {}

  get snapshot(): Snapshot {
    return this.source();
  }

  // ---- whole request ----------------------------------------------------------------------

  /** Normalize, decide, and return the decision with its `record` (see PendingDecision). Never rejects. */
  async check(transport: string, normalize: NormalizeStep): Promise<PendingDecision> {
    const started = process.hrtime.bigint();
    const snap = this.source();
    let input: CheckInput | undefined;
    let decision: Decision;
    try {
      const norm = normalize(snap.config.limits);
      if (norm.ok) {
        input = norm.input;
        decision = await this.decide(input, snap);
      } else {
        decision = deny('malformed_request', norm.detail, snap);
        // Observe mode lets a path it would refuse through (and records the would-be deny).
        const observedAsSent = norm.asSent ? await this.observeAsSent(norm.asSent, norm.detail, snap) : undefined;
        if (observedAsSent) {
          input = norm.asSent;
          decision = observedAsSent;
        }
      }
    } catch {
      decision = this.internalError(`unexpected error in the ${transport} adapter`, input, snap);
    }
    let recorded = false;
    const record = (answered: Decision): void => {
      if (recorded) return;
      recorded = true;
      this.observer?.decided(transport, input, answered, Number(process.hrtime.bigint() - started) / 1e9);
    };
    return { input, decision, record };
  }

  /** `check` for a caller that answers `decision` itself as it is (tests, tools): recorded at once. */
  async decideRequest(transport: string, normalize: NormalizeStep): Promise<{ input: CheckInput | undefined; decision: Decision }> {
    const { input, decision, record } = await this.check(transport, normalize);
    record(decision);
    return { input, decision };
  }

  /** A normalized request through every phase. Never rejects; nothing is recorded. */
  async decide(input: CheckInput, snap: Snapshot = this.source()): Promise<Decision> {
    let peers: PeerContext | undefined;
    try {
      peers = this.identifyPeers(input, snap);
      const pending = this.authenticate(input, snap);
      const auth = pending instanceof Promise ? await pending : pending; // cache hits stay synchronous
      return this.shape(input, auth, peers, snap);
    } catch {
      return this.internalError('unexpected error while deciding', input, snap, peers);
    }
  }

  // ---- phases -----------------------------------------------------------------------------

  /** Caller (mTLS, trusted XFCC), destination and its mode, remote IP: what the request itself says. */
  identifyPeers(input: CheckInput, snap: Snapshot = this.source()): PeerContext {
    return identifyPeers(input, snap);
  }

  /** The credential: anonymous, verified, or why it failed. A promise only when keys must be fetched. */
  authenticate(input: CheckInput, snap: Snapshot = this.source()): AuthResult | Promise<AuthResult> {
    return snap.authenticator.authenticate(input);
  }

  /**
   * `identifyPeers` completed with the caller a Kubernetes workload names when mTLS and XFCC named
   * none (service-account token of `identity`, or the pod IP): the peers the policy stage reads.
   */
  peersFor(
    input: CheckInput,
    identity: Identity | undefined,
    peers: PeerContext = this.identifyPeers(input),
    snap: Snapshot = this.source(),
  ): PeerContext {
    return withWorkloadCaller(peers, input, identity, snap);
  }

  /**
   * The policy stage for an already-authenticated (or anonymous) request, with `peers` from
   * `peersFor`: the verdict and, on allow, identity headers upstream and client-sent identity
   * headers removed. Also re-evaluates recorded traffic (`zt-authz policy replay`), whose audit
   * records carry the verified identity instead of a token. Stripping the credential is left to
   * `shape`, which knows where it was.
   */
  authorize(input: CheckInput, identity: Identity | undefined, peers: PeerContext, snap: Snapshot = this.source()): Decision {
    const outcome = evaluatePolicies(input, identity, peers, snap);
    if (!outcome.allow) return outcome.decision;
    const upstreamHeaders: HeaderList = [];
    if (identity) addIdentityHeaders(upstreamHeaders, snap, identity);
    return {
      verdict: outcome.verdict,
      response: { upstreamHeaders, removeHeaders: identity ? [] : [...snap.identityHeaderNames], removeQueryParams: [] },
      evidence: outcome.evidence,
    };
  }

  /**
   * The decision for an authentication result: denies for a failed credential or audience,
   * else the policy stage, the verified identity and claim headers upstream and the credential
   * stripped; in observe mode a would-be deny becomes an observed allow.
   */
  shape(input: CheckInput, auth: AuthResult, peers: PeerContext, snap: Snapshot = this.source()): Decision {
    const d = this.enforce(input, auth, peers, snap);
    if (d.verdict.allow || peers.mode !== 'observe') return d;
    return observed(d, input, auth, snap);
  }

  // -------------------------------------------------------------------------------------------

  /**
   * The fail-closed deny for an exception, carrying the peers the request names so the audit
   * record still shows the caller (a trusted XFCC principal is known from the request alone).
   * Peers not resolved before the exception are resolved here, guarded: should that throw too,
   * the deny stands without them.
   */
  private internalError(detail: string, input: CheckInput | undefined, snap: Snapshot, peers?: PeerContext): Decision {
    if (!peers && input) {
      try {
        peers = this.identifyPeers(input, snap);
      } catch {
        peers = undefined;
      }
    }
    return deny('internal_error', detail, snap, peers ? { peers } : undefined);
  }

  private enforce(input: CheckInput, auth: AuthResult, peers: PeerContext, snap: Snapshot): Decision {
    if (auth.kind === 'failed')
      return deny(auth.reason, auth.detail, snap, { ...(auth.tokenHash ? { tokenHash: auth.tokenHash } : {}), peers });
    if (auth.kind === 'anonymous') return this.authorize(input, undefined, this.peersFor(input, undefined, peers, snap), snap);
    const identity = auth.identity;
    const audience = snap.audienceCheck?.(peers.destination, identity); // zt-authz.io/audience, service-account tokens
    if (audience) return deny('audience_mismatch', audience, snap, { tokenHash: identity.tokenHash, peers });
    const policyPeers = this.peersFor(input, identity, peers, snap);
    const outcome = evaluatePolicies(input, identity, policyPeers, snap);
    if (!outcome.allow) return outcome.decision;
    const headers: HeaderList = [];
    addIdentityHeaders(headers, snap, identity);
    for (const [name, value] of auth.claimHeaders) headers.push([name, value]);
    // Required and impossible (no key, signing failed, too large): deny, never allow without it.
    const mint = wantsInternalToken(snap, outcome.internalToken)
      ? ({ identity, peers: policyPeers, mint: 'required' } as const)
      : undefined;
    const out = letThrough(input, auth, mint, headers, snap);
    if (!out.ok) return deny('internal_token_unavailable', out.detail, snap, outcome.evidence);
    return {
      verdict: outcome.verdict,
      response: out.response,
      evidence: out.internalToken ? { ...outcome.evidence, internalToken: out.internalToken } : outcome.evidence,
    };
  }

  /**
   * A request refused only for its path's shape (Normalized.asSent), to a destination in observe
   * mode: let through as a would-be malformed_request deny, like any other would-be deny, since
   * observe mode must not break live traffic before enforcing. The credential is still verified
   * (identity headers upstream) and stripped, and client identity headers removed, exactly as
   * for other observed requests; no policy is evaluated on a path the upstream may read
   * differently. Undefined when the destination enforces: the malformed_request deny stands.
   */
  private async observeAsSent(input: CheckInput, detail: string, snap: Snapshot): Promise<Decision | undefined> {
    const peers = this.identifyPeers(input, snap);
    if (peers.mode !== 'observe') return undefined;
    const pending = this.authenticate(input, snap);
    const auth = pending instanceof Promise ? await pending : pending;
    const evidence =
      auth.kind === 'authenticated'
        ? { identity: auth.identity, tokenHash: auth.identity.tokenHash, peers }
        : { ...(auth.kind === 'failed' && auth.tokenHash ? { tokenHash: auth.tokenHash } : {}), peers };
    return observed(deny('malformed_request', detail, snap, evidence), input, auth, snap);
  }
}
