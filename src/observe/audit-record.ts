// The audit record format, shared by its writer (observe/audit.ts) and its readers (`zt-authz policy
// generate` and `policy replay`, src/migrate/). One JSON line per record on the audit stream:
//
//   {"level":"info","time":"<ISO 8601>","logger":"audit","v":1, ...AuditRecordJson fields}
//
// `level`, `time` and `logger` come from the audit logger (observe/log.ts); the rest is
// AuditRecordJson. Older releases wrote `"log":"audit"` instead of `"logger":"audit"` (the line's
// envelope, not a record field, so `v` stays 1): readers accept both.
// Field names are snake_case and are part of zt-authz's interface: log pipelines and replay read
// them. Versioning: `v` is the format version. Adding an optional field does not change it;
// renaming, removing or changing the meaning of a field does. Records written before `v` existed
// are version 1 (files recorded by older releases keep replaying). A reader refuses a version it
// does not know rather than guess what the fields mean.
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

/** The format version every record is written with (`v`). */
export const AUDIT_RECORD_VERSION = 1;

export type Scalar = string | number | boolean;

export type AuditVerdict = 'allow' | 'deny';

/**
 * How the policy stage identified the caller when it was not Envoy's mTLS principal: a trusted
 * XFCC header, or a Kubernetes workload (service-account token or pod IP; no principal then).
 */
export type PrincipalFrom = 'xfcc' | 'sa_token' | 'pod_ip';

/** `source`: the caller as the policy stage saw it. */
export interface AuditSourceJson {
  /** Envoy's mTLS principal, or the XFCC one as reported (scheme included) when `principal_from` is `xfcc`. */
  principal?: string;
  principal_from?: PrincipalFrom;
  address?: string | undefined;
  /** Kubernetes workload (`principal_from` sa_token / pod_ip). */
  namespace?: string;
  service_account?: string;
  /** The remote IP remote-IP conditions read, when it is not `address` (X-Forwarded-For hops). */
  remote_address?: string;
}

/** `destination`: the request's target and the scope the policy stage used. */
export interface AuditDestinationJson {
  /** Canonical host (lower case, no default port). */
  host: string;
  /** The host with the default port it was sent with (`orders:443`); only when that differs from `host`. */
  host_as_sent?: string;
  principal: string | undefined;
  address: string | undefined;
  port: number | undefined;
  namespace?: string;
  /** Only when there are any. */
  labels?: Readonly<Record<string, string>>;
}

/** `auth`: verified claims policies can reference; values only from the verified payload. */
export interface AuditAuthJson {
  audiences: readonly string[];
  scopes: readonly string[];
  /**
   * Configured claim paths (`audit.claims`, default azp, acr, amr, roles) → value; null when absent
   * or not a scalar / list of scalars. Strings are capped at 256 characters and lists at 64 items.
   */
  claims: Record<string, Scalar | Scalar[] | null>;
  /** Paths whose value was capped (replay: indeterminate). Only when there are any. */
  truncated?: readonly string[];
  /** Dotted paths whose value came from a top-level claim of that exact name, not a nested one. Only when there are any. */
  literal_keys?: readonly string[];
}

/** An AUDIT or dry-run policy that matched (`audits`). */
export interface AuditPolicyMatchJson {
  policy: string;
  rule?: number;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  dryRun: boolean;
}

/** The fields audit.ts writes; `undefined` members are left out of the JSON line. */
export interface AuditRecordJson {
  v: typeof AUDIT_RECORD_VERSION;
  request_id: string | undefined;
  /** The W3C trace id (32 hex digits) when tracing is on and the caller sent a trace context or this decision's span was sampled. */
  trace_id?: string | undefined;
  /** grpc, http, … */
  transport: string;
  decision: AuditVerdict;
  reason: string;
  status: number;
  detail?: string;
  policy: string | undefined;
  rule: number | undefined;
  audits?: readonly AuditPolicyMatchJson[];
  /** Observe mode: what enforce mode would have decided (only when it would have denied). */
  would_decide?: { decision: AuditVerdict; reason: string; status: number; policy: string | undefined; rule: number | undefined };
  /** What enforcing the dry-run policies would have decided (only when some apply). */
  dry_run?: { decision: AuditVerdict; reason: string; policy: string | undefined };
  /** source, destination, method and path are absent when the request could not be normalised. */
  source: AuditSourceJson | undefined;
  destination: AuditDestinationJson | undefined;
  method: string | undefined;
  /** Without the query string; capped at 512 characters plus "…" (then `path_truncated`). */
  path: string | undefined;
  path_truncated?: true;
  sni?: string;
  /** The token's subject (`audit.subject: plain`, the default)… */
  subject?: string;
  /** …or its hash (`audit.subject: hash`, see hashSubject). */
  subject_hash?: string;
  issuer: string | undefined;
  auth?: AuditAuthJson;
  /** Short SHA-256 prefix of the token: safe to log, useless to replay. */
  token_hash: string | undefined;
  /** The name of the API key's entry, when the credential was an API key (its hash prefix is token_hash). */
  api_key?: string;
  /** The internal token set upstream on this allow (response.internalToken): its jti and signing kid, never the token. */
  internal_token?: { jti: string; kid: string };
  latency_ms: number;
}

/**
 * Pseudonymous subject (`subject_hash`): SHA-256 of the request principal "<iss>/<sub>", 128 bits,
 * hex. Replay compares exact `requestPrincipals` by hashing them the same way. Not anonymous:
 * anyone holding the log can confirm a guessed subject.
 */
export function hashSubject(issuer: string, subject: string): string {
  return `sha256:${createHash('sha256').update(`${issuer}/${subject}`).digest('hex').slice(0, 32)}`;
}

// ---------------------------------------------------------------------------------------------
// Reader

/** One audit record as `policy generate` and `policy replay` use it (camelCase, defaults filled in). */
export interface AuditRecord {
  /** 1-based line number in the input. */
  line: number;
  /** The format version the record was written with (1 when it carries none). */
  version: number;
  time?: string;
  requestId?: string;
  decision: AuditVerdict;
  reason: string;
  policy?: string;
  rule?: number;
  /** Observe mode: what enforce mode would have decided (only written when it would deny). */
  wouldDecide?: { decision: AuditVerdict; reason: string; policy?: string; rule?: number };
  /**
   * The caller as the policy stage saw it. `principalFrom`: absent = Envoy's mTLS principal;
   * `xfcc` = a trusted XFCC header; `sa_token` / `pod_ip` = a Kubernetes workload (no principal,
   * namespace and service account only).
   */
  source: { principal?: string; principalFrom?: PrincipalFrom; address?: string; namespace?: string; serviceAccount?: string };
  /** `hostAsSent`: the host with the default port it was sent with (CheckInput.hostAsSent). */
  destination: {
    host: string;
    hostAsSent?: string;
    principal?: string;
    address?: string;
    port?: number;
    namespace?: string;
    labels: Record<string, string>;
  };
  method: string;
  path: string;
  pathTruncated: boolean;
  sni?: string;
  issuer?: string;
  subject?: string;
  subjectHash?: string;
  /**
   * Verified claims (absent in records written before replay support). `literalKeys`: dotted claim
   * paths whose value came from a top-level claim of that exact name (else: nested).
   */
  auth?: {
    audiences?: string[];
    scopes?: string[];
    claims: Record<string, Scalar | Scalar[] | null>;
    truncated: string[];
    literalKeys?: string[];
  };
}

/**
 * One line → a record, 'other' (not an audit record: operational `"logger":"ops"` lines, banners,
 * blank lines) or 'unusable' (an audit record without a request: malformed requests denied before
 * normalisation). Fields are read one by one and a malformed field is dropped rather than the
 * record, so hand-edited and older files stay readable. Throws InvalidArgumentError for a record
 * of a format version this reader does not know.
 */
export function parseAuditLine(line: string, lineNo: number): AuditRecord | 'other' | 'unusable' {
  const t = line.trim();
  if (!t.startsWith('{')) return 'other';
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(t) as Record<string, unknown>;
  } catch {
    return 'other';
  }
  if (!j || typeof j !== 'object' || (j.logger !== 'audit' && j.log !== 'audit')) return 'other';
  const version = recordVersion(j.v, lineNo);
  const src = obj(j.source);
  const dst = obj(j.destination);
  if (
    !src ||
    !dst ||
    typeof j.method !== 'string' ||
    typeof j.path !== 'string' ||
    (j.decision !== 'allow' && j.decision !== 'deny') ||
    typeof j.reason !== 'string'
  ) {
    return 'unusable';
  }
  const wd = obj(j.would_decide);
  const auth = obj(j.auth);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(dst.labels) ?? {})) if (typeof v === 'string') labels[k] = v;
  const rec: AuditRecord = {
    line: lineNo,
    version,
    decision: j.decision,
    reason: j.reason,
    source: {},
    destination: {
      host: str(dst.host) ?? '',
      ...(str(dst.host_as_sent) !== undefined ? { hostAsSent: str(dst.host_as_sent)! } : {}),
      labels,
    },
    method: j.method,
    path: j.path,
    pathTruncated: j.path_truncated === true,
  };
  assign(rec, 'time', str(j.time));
  assign(rec, 'requestId', str(j.request_id));
  assign(rec, 'policy', str(j.policy));
  assign(rec, 'rule', num(j.rule));
  if (wd && (wd.decision === 'allow' || wd.decision === 'deny') && typeof wd.reason === 'string') {
    rec.wouldDecide = { decision: wd.decision, reason: wd.reason };
    assign(rec.wouldDecide, 'policy', str(wd.policy));
    assign(rec.wouldDecide, 'rule', num(wd.rule));
  }
  assign(rec.source, 'principal', str(src.principal));
  assign(rec.source, 'address', str(src.address));
  if (src.principal_from === 'xfcc' || src.principal_from === 'sa_token' || src.principal_from === 'pod_ip')
    rec.source.principalFrom = src.principal_from;
  assign(rec.source, 'namespace', str(src.namespace));
  assign(rec.source, 'serviceAccount', str(src.service_account));
  assign(rec.destination, 'principal', str(dst.principal));
  assign(rec.destination, 'address', str(dst.address));
  assign(rec.destination, 'port', num(dst.port));
  assign(rec.destination, 'namespace', str(dst.namespace));
  assign(rec, 'sni', str(j.sni));
  assign(rec, 'issuer', str(j.issuer));
  assign(rec, 'subject', str(j.subject));
  assign(rec, 'subjectHash', str(j.subject_hash));
  if (auth) {
    const claims: Record<string, Scalar | Scalar[] | null> = {};
    for (const [k, v] of Object.entries(obj(auth.claims) ?? {})) {
      if (v === null || isScalar(v)) claims[k] = v;
      else if (Array.isArray(v)) claims[k] = v.filter(isScalar);
    }
    rec.auth = { claims, truncated: strings(auth.truncated) ?? [], literalKeys: strings(auth.literal_keys) ?? [] };
    assign(rec.auth, 'audiences', strings(auth.audiences));
    assign(rec.auth, 'scopes', strings(auth.scopes));
  }
  return rec;
}

/** `v` absent: version 1 (written before the field existed). Unknown versions are refused, not guessed. */
function recordVersion(v: unknown, lineNo: number): number {
  if (v === undefined) return 1;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= AUDIT_RECORD_VERSION) return v;
  throw new InvalidArgumentError(
    `line ${lineNo}: audit record version ${JSON.stringify(v)} is not one this zt-authz reads (1 to ${AUDIT_RECORD_VERSION}); use the release that wrote it`,
  );
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}
function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}
function assign<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v !== undefined) o[k] = v;
}
