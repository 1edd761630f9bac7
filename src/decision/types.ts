// The request and identity types the decision pipeline and its adapters (gRPC, HTTP, CLI) share.
// A leaf: it imports no other module of the pipeline, so every stage can depend on it. The
// Decision itself is in decision.ts.
import type { JWTPayload } from 'jose';
import type { Reason } from './reasons.js';

export interface PeerInput {
  address?: string;
  port?: number;
  /** mTLS identity as Envoy reports it, e.g. spiffe://cluster.local/ns/shop/sa/frontend */
  principal?: string;
  labels: Readonly<Record<string, string>>;
}

/** Transport-neutral request, produced by normalize (stage 1). Header names are lower case. */
export interface CheckInput {
  /** x-request-id when present, else the transport's own id. */
  requestId: string;
  /** Upper-cased. */
  method: string;
  /**
   * The method as sent, when that is not upper case (`get`): Envoy matches methods
   * case-sensitively, so an ALLOW on GET must not admit `get` (policy/readings.ts).
   */
  methodAsSent?: string;
  /** Canonical (decision/host.ts canonicalHost): lower case, no trailing dot, no empty or default port. */
  host: string;
  /**
   * The host as sent, when its default port makes it differ from `host` (`orders:443`): a policy
   * host naming a port admits only that port (policy/readings.ts strictHost).
   */
  hostAsSent?: string;
  /** Path without the query string. */
  path: string;
  /** Raw query string without '?', '' when none. Never logged (may hold credentials). */
  query: string;
  headers: Readonly<Record<string, string>>;
  source: PeerInput;
  destination: PeerInput;
  contextExtensions: Readonly<Record<string, string>>;
  sni?: string;
  protocol?: string;
}

export interface Identity {
  issuer: string;
  subject: string;
  /** "<iss>/<sub>", Istio's request principal. */
  requestPrincipal: string;
  audiences: string[];
  scopes: string[];
  claims: JWTPayload;
  /** Short SHA-256 prefix of the token: safe to log, useless to replay. */
  tokenHash: string;
  /** The name of the API key's entry (src/authn/apikeys/), when the credential was an API key. */
  apiKey?: string;
}

/** Enforcement mode of a destination: `observe` lets every request through and records would-be denies. */
export type Mode = 'enforce' | 'observe';

export interface PolicyMatch {
  policy: string;
  rule?: number;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  dryRun: boolean;
}

/** Outcome of authentication (stage 3). */
export type AuthResult =
  | { kind: 'anonymous' }
  | {
      kind: 'authenticated';
      identity: Identity;
      location: CredentialLocation;
      forwardToken: boolean;
      claimHeaders: Array<[string, string]>;
    }
  | { kind: 'failed'; reason: Reason; detail: string; tokenHash?: string };

export interface CredentialLocation {
  type: 'header' | 'param' | 'cookie';
  name: string;
}
