// One audit record per decision (all denies and would-be denies; plain allows sampled). Carries
// identities, the reason code and a short token hash; never the token, never query values, never
// header values.
//
// Records also carry what `zt-authz policy replay` needs to re-evaluate a request against
// another policy set without the token: the destination's namespace and labels, the verified
// claims policies can reference (audiences, scopes, azp, acr, amr, the roles claim and any
// `audit.claims`), and the subject in plain or as a hash (`audit.subject: hash`).
// The record's format (field by field, and its version) is defined in audit-record.ts.
import type { DestinationStream, Logger } from 'pino';
import type { CheckInput, Identity } from '../decision/types.js';
import type { Decision } from '../decision/decision.js';
import { resolveDestination } from '../identity/destination.js';
import { claimAt } from '../authn/claims.js';
import { auditLine } from './audit-line.js';
import { auditStreamOf } from './log.js';
import {
  AUDIT_RECORD_VERSION,
  hashSubject,
  type AuditAuthJson,
  type AuditDestinationJson,
  type AuditRecordJson,
  type AuditSourceJson,
} from './audit-record.js';

export interface AuditOptions {
  enabled: boolean;
  allowSampleRate: number;
  random?: () => number;
  /** `hash`: record `subject_hash` instead of `subject`. Default plain. */
  subject?: 'plain' | 'hash';
  /** Claim paths recorded in `auth.claims` (null when absent). Default: azp, acr, amr, roles. */
  claims?: readonly string[];
}

/** Caps on recorded claim values; a capped claim is listed in `auth.truncated` (replay: indeterminate). */
const MAX_CLAIM_STRING = 256;
const MAX_CLAIM_ITEMS = 64;
const MAX_PATH = 512;
const DEFAULT_CLAIMS = ['azp', 'acr', 'amr', 'roles'];

export class AuditLog {
  private readonly random: () => number;
  private claims: readonly string[];
  private opts: AuditOptions;
  private readonly stream: DestinationStream | undefined;
  constructor(
    private readonly logger: Logger,
    opts: AuditOptions,
  ) {
    this.opts = opts;
    this.stream = auditStreamOf(logger);
    this.random = opts.random ?? Math.random;
    this.claims = opts.claims ?? DEFAULT_CLAIMS;
  }

  /** A reloaded config's `audit` section: applies from the next record (the sink stays). */
  configure(opts: AuditOptions): void {
    if (opts === this.opts) return;
    this.opts = opts;
    this.claims = opts.claims ?? DEFAULT_CLAIMS;
  }

  record(transport: string, input: CheckInput | undefined, d: Decision, latencySeconds: number): void {
    if (!this.opts.enabled) return;
    const { verdict: v, evidence: e } = d;
    if (v.allow && this.opts.allowSampleRate < 1 && !alwaysRecorded(d) && this.random() >= this.opts.allowSampleRate) return;
    const id = e.identity;
    const hashed = this.opts.subject === 'hash';
    // Members are assigned in the record's field order (it is the JSON's); optional ones only when
    // present, without the throw-away objects of conditional spreads.
    const rec = {
      v: AUDIT_RECORD_VERSION,
      request_id: input?.requestId,
      trace_id: e.traceId,
      transport,
      decision: v.allow ? 'allow' : 'deny',
      reason: v.reason,
      status: v.status,
    } as AuditRecordJson;
    if (v.detail) rec.detail = v.detail;
    rec.policy = v.policy;
    rec.rule = v.rule;
    if (e.audits?.length) rec.audits = e.audits;
    if (e.wouldDecide) {
      const w = e.wouldDecide;
      rec.would_decide = { decision: w.allow ? 'allow' : 'deny', reason: w.reason, status: w.status, policy: w.policy, rule: w.rule };
    }
    if (e.dryRun) rec.dry_run = { decision: e.dryRun.allow ? 'allow' : 'deny', reason: e.dryRun.reason, policy: e.dryRun.policy };
    if (input) {
      const src = source(input, d);
      const ip = remoteIp(input, d);
      if (ip !== undefined) src.remote_address = ip;
      rec.source = src;
      rec.destination = destination(input, d);
      rec.method = input.method;
      rec.path = truncate(input.path, MAX_PATH);
      if (input.path.length > MAX_PATH) rec.path_truncated = true;
      if (input.sni) rec.sni = input.sni;
    }
    if (id && !hashed) rec.subject = id.subject;
    if (id && hashed) rec.subject_hash = hashSubject(id.issuer, id.subject);
    rec.issuer = id?.issuer;
    if (id) rec.auth = this.auth(id);
    rec.token_hash = e.tokenHash ?? id?.tokenHash;
    if (id?.apiKey) rec.api_key = id.apiKey;
    if (e.internalToken) rec.internal_token = { jti: e.internalToken.jti, kid: e.internalToken.kid };
    rec.latency_ms = Math.round(latencySeconds * 1e6) / 1e3;
    // An audit logger from createAuditLogger: the same line written straight to its stream.
    if (this.stream && this.logger.isLevelEnabled('info')) this.stream.write(auditLine(rec));
    else this.logger.info(rec);
  }

  /** Verified claims policies can reference; values only from the verified payload. */
  private auth(id: Identity): AuditAuthJson {
    const claims: AuditAuthJson['claims'] = {};
    const truncated: string[] = [];
    // A dotted path is read as a top-level claim of that exact name when the token has one, else
    // nested. Replay needs to know which (a `when` key [a][b] reads nested only, [a.b] literally).
    const literal: string[] = [];
    for (const path of this.claims) {
      const v = recordable(claimAt(id.claims, path));
      claims[path] = v.value;
      if (v.truncated) truncated.push(path);
      if (path.includes('.') && Object.prototype.hasOwnProperty.call(id.claims, path)) literal.push(path);
    }
    const out: AuditAuthJson = { audiences: id.audiences, scopes: id.scopes, claims };
    if (truncated.length) out.truncated = truncated;
    if (literal.length) out.literal_keys = literal;
    return out;
  }
}

/**
 * The caller as the policy stage saw it: Envoy's mTLS principal; else the trusted XFCC one;
 * else a Kubernetes workload (from a service-account token, or the pod IP when enabled). For a
 * request denied before the policy stage: Envoy's principal, or the trusted XFCC one the peer
 * stage read.
 */
function source(input: CheckInput, d: Decision): AuditSourceJson {
  const { peers, policyEvaluated } = d.evidence;
  const caller = peers?.caller;
  if (policyEvaluated) {
    // A principal the policy stage used that is not Envoy's came from trusted XFCC (it replaces a
    // trusted proxy's own principal). It is recorded as reported, scheme included: replay parses
    // it again, and only a spiffe:// ID yields a namespace and service account.
    const used = caller?.reported ?? caller?.principal;
    if (used && !samePrincipal(used, input.source.principal))
      return { principal: used, principal_from: 'xfcc', address: input.source.address };
  } else if (caller?.via === 'xfcc' && caller.reported) {
    return { principal: caller.reported, principal_from: 'xfcc', address: input.source.address };
  }
  if (input.source.principal) return { principal: input.source.principal, address: input.source.address };
  if (policyEvaluated && caller?.namespace && caller.serviceAccount) {
    return {
      address: input.source.address,
      namespace: caller.namespace,
      service_account: caller.serviceAccount,
      principal_from: caller.via === 'sa-token' ? 'sa_token' : 'pod_ip',
    };
  }
  return { address: input.source.address };
}

/**
 * Allows that sampling never drops: would-be denies (observe mode, dryRun policies), which generate
 * and replay need, and requests an AUDIT policy matched: an AUDIT policy is an explicit "record
 * these" (Istio's AUDIT action), so sampling them out would defeat it.
 */
function alwaysRecorded(d: Decision): boolean {
  const notPlainAllow = (w: { allow: boolean; reason: string } | undefined) => w !== undefined && (!w.allow || w.reason !== 'allowed');
  const e = d.evidence;
  return notPlainAllow(e.wouldDecide) || notPlainAllow(e.dryRun) || (e.audits?.length ?? 0) > 0;
}

function destination(input: CheckInput, d: Decision): AuditDestinationJson {
  // The scope the policy stage used (it may come from the Kubernetes workload map); else Envoy's
  // (resolved here only for a decision made without the peer stage: an internal error).
  const { peers, policyEvaluated } = d.evidence;
  const dest = peers ? (policyEvaluated ? peers.destination : peers.declaredDestination) : resolveDestination(input).declared;
  const out = { host: input.host } as AuditDestinationJson;
  // Only when a default port was sent (`orders:443`): a policy host naming a port reads it.
  if (input.hostAsSent !== undefined) out.host_as_sent = input.hostAsSent;
  out.principal = input.destination.principal;
  out.address = input.destination.address;
  out.port = input.destination.port;
  if (dest.namespace !== undefined) out.namespace = dest.namespace;
  if (hasOwnKeys(dest.labels)) out.labels = dest.labels;
  return out;
}

/** Object.keys(o).length > 0 without building the array. */
function hasOwnKeys(o: object): boolean {
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) return true;
  return false;
}

type Scalar = string | number | boolean;

/** Strings, numbers, booleans or lists of them (what policies can match); null otherwise. */
function recordable(v: unknown): { value: Scalar | Scalar[] | null; truncated: boolean } {
  const scalar = (x: unknown): x is Scalar => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
  if (scalar(v)) {
    const long = typeof v === 'string' && v.length > MAX_CLAIM_STRING;
    return { value: long ? v.slice(0, MAX_CLAIM_STRING) : v, truncated: long };
  }
  if (Array.isArray(v)) {
    const items = v.filter(scalar);
    const capped = items
      .slice(0, MAX_CLAIM_ITEMS)
      .map((x) => (typeof x === 'string' && x.length > MAX_CLAIM_STRING ? x.slice(0, MAX_CLAIM_STRING) : x));
    const truncated = items.length > MAX_CLAIM_ITEMS || items.some((x) => typeof x === 'string' && x.length > MAX_CLAIM_STRING);
    return { value: capped, truncated };
  }
  return { value: null, truncated: false };
}

/** The remote IP remote-IP conditions read, when it is not the peer address (X-Forwarded-For hops). */
function remoteIp(input: CheckInput, d: Decision): string | undefined {
  const ip = d.evidence.policyEvaluated ? d.evidence.peers?.remoteIp : undefined;
  return ip !== undefined && ip !== input.source.address ? ip : undefined;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function samePrincipal(contextPrincipal: string, envoy: string | undefined): boolean {
  return envoy !== undefined && (envoy === contextPrincipal || envoy === `spiffe://${contextPrincipal}`);
}
