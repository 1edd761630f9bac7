// The evaluation context a compiled policy reads, and how an attribute of it is described: the
// types shared by the policy compiler, the policy index, the decision pipeline that builds the
// context, and `policy replay`. Types only, so every one of them can depend on this file.
import type { CheckInput, Identity } from '../decision/types.js';
import type { PeerIdentity } from '../identity/spiffe.js';

export interface DestinationContext {
  namespace?: string;
  labels: Readonly<Record<string, string>>;
}

export interface PolicyContext {
  input: CheckInput;
  identity: Identity | undefined;
  /** Calling workload: mTLS principal (or trusted XFCC), with namespace/service account. */
  source: PeerIdentity | undefined;
  destination: DestinationContext;
  /**
   * The original client IP (identity/remote-ip.ts), computed once per request from the peer
   * address and identity.numTrustedProxies; absent when it cannot be determined.
   */
  remoteIp?: string;
}

export type Attr = (ctx: PolicyContext) => readonly string[];

/**
 * The attribute a condition reads, as data: a tool that holds only part of a request (`policy
 * replay` over audit records, which hold no header values and only some claims) can tell whether
 * it holds what a condition needs, and the authenticator which claims of a cached token to keep.
 */
export type AttrRead =
  /** Nothing: an invalid piece compiled to a constant result. */
  | { kind: 'none' }
  | { kind: 'method' }
  | { kind: 'host' }
  | { kind: 'path' }
  | { kind: 'destinationPort' }
  | { kind: 'destinationIp' }
  | { kind: 'sourceIp' }
  /** The original client IP (X-Forwarded-For hops, identity/remote-ip.ts). */
  | { kind: 'remoteIp' }
  | { kind: 'sni' }
  /** A request header's value; `name` lower case. */
  | { kind: 'header'; name: string }
  /** The calling workload's identity (mTLS or trusted XFCC principal, or a Kubernetes workload). */
  | { kind: 'peer'; field: 'principal' | 'namespace' | 'serviceAccount' | 'trustDomain' }
  /** "<iss>/<sub>" of the verified token. */
  | { kind: 'requestPrincipal' }
  | { kind: 'audiences' }
  /** Every scope the token carries (`scope` and `scp`, split on spaces). */
  | { kind: 'scopes' }
  /** A claim by explicit nesting, `request.auth.claims[a][b]`: each segment is one exact key. */
  | { kind: 'claim'; segments: readonly string[] }
  /**
   * A claim at a configured dotted path (authorization.rolesClaim, acr, amr, azp): the top-level
   * claim of that exact name when the token has one, else the nested one (authn/claims.ts claimAt).
   */
  | { kind: 'claimPath'; path: string };

/** `when` conditions that RFC 6750 / RFC 9470 answer with a challenge instead of a plain 403. */
export type ConditionRole = 'plain' | 'scope' | 'acr' | 'amr';
