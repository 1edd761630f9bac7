// Types shared by the decision pipeline and its adapters (gRPC, HTTP, CLI).
import type { JWTPayload } from 'jose';
import type { Reason } from './reasons.js';
import type { PeerIdentity } from '../identity/spiffe.js';
import type { DestinationContext } from '../policy/attributes.js';

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
}

export interface PolicyMatch {
  policy: string;
  rule?: number;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  dryRun: boolean;
}

export interface Decision {
  allow: boolean;
  reason: Reason;
  /** HTTP status for the client: 200 on allow. */
  status: number;
  /** Safe, token-free explanation. */
  detail?: string;
  /** The policy that decided (allow or DENY), if any. */
  policy?: string;
  rule?: number;
  /** AUDIT / dry-run policies that matched; recorded, never decisive. */
  audits?: PolicyMatch[];
  identity?: Identity;
  tokenHash?: string;
  /** Allow only: headers to set on the upstream request (always overwrite). */
  upstreamHeaders: Array<[string, string]>;
  /** Allow only: request headers to strip (client-sent identity headers, the raw credential). */
  removeHeaders: string[];
  /** Allow only: query parameters to strip (credential passed as a parameter). */
  removeQueryParams: string[];
  /** Deny only: the WWW-Authenticate challenge. */
  wwwAuthenticate?: string;
  /** Observe mode: what enforce mode would have decided (set when it would have denied). */
  wouldDecide?: { allow: boolean; reason: Reason; status: number; policy?: string; rule?: number };
  /** What enforcing the dry-run policies would have decided (only when some apply). */
  dryRun?: { allow: boolean; reason: Reason; policy?: string; rule?: number };
  /**
   * The source and destination the policy stage saw (set by authorize): the audit record keeps
   * them so `zt-authz policy replay` evaluates recorded requests with the same identities and
   * scope, including those resolved from Kubernetes (service-account tokens, pod IPs).
   */
  context?: { source?: PeerIdentity; destination: DestinationContext; /** The remote IP remote-IP conditions read (identity/remote-ip.ts). */ remoteIp?: string };
}

/** Outcome of authentication (stage 3). */
export type AuthResult =
  | { kind: 'anonymous' }
  | { kind: 'authenticated'; identity: Identity; location: CredentialLocation; forwardToken: boolean; claimHeaders: Array<[string, string]> }
  | { kind: 'failed'; reason: Reason; detail: string; tokenHash?: string };

export interface CredentialLocation {
  type: 'header' | 'param' | 'cookie';
  name: string;
}
