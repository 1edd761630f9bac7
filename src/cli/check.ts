// `zt-authz check --config FILE --request REQ [--token T]`: one offline decision through the real
// pipeline, with a trace of every policy. Exit 0 allow, 1 deny, 2 usage or request error, 3 invalid
// configuration (main.ts).
//
// For policy authoring, a request file may carry `claims:` instead of a token: they are signed
// with a throwaway key that stands in for that issuer's keys (the issuer must be configured), so
// audience/expiry/alg checks still run. Output marks such identities "claims given".
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import { loadConfigFile, type Config, type ResolvedIssuer } from '../config/load.js';
import { buildSnapshot } from '../config/snapshot-builder.js';
import { buildIssuerKeys, type IssuerKeys } from '../authn/key-resolvers.js';
import { decide, policyContext } from '../decision/decide.js';
import { normalizeCheckRequest } from '../transport/grpc/normalize.js';
import { toCheckRequest } from './request-file.js';
import type { Decision } from '../decision/types.js';
import type { TraceEntry } from '../policy/index.js';

export interface CheckOptions {
  config: string;
  request: string;
  token?: string;
  json: boolean;
  waitMs: number;
}

export async function runCheck(o: CheckOptions): Promise<number> {
  let config = loadConfigFile(o.config);
  const doc = parse(readFileSync(o.request, 'utf8')) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${o.request}: must be a mapping`);
  const { claims, token: docToken, ...request } = doc as { claims?: JWTPayload; token?: string };
  let token = o.token ?? docToken;
  let claimsGiven = false;
  if (claims) {
    if (token) throw new Error('give either a token or claims, not both');
    ({ config, token } = await signClaims(config, claims));
    claimsGiven = true;
  }

  const keys = new Map<string, IssuerKeys>(config.issuers.map((i) => [i.issuer, buildIssuerKeys(i, {})]));
  try {
    for (const k of keys.values()) k.jwks?.start();
    await Promise.all([...keys.values()].map((k) => k.jwks?.waitReady(o.waitMs)));
    const snap = buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 1);
    const norm = normalizeCheckRequest(toCheckRequest(request, token), config.limits);
    if (!norm.ok) throw new Error(`request: ${norm.detail}`);
    const d = await decide(norm.input, snap);
    const ctx = policyContext(norm.input, d.identity, snap);
    const trace = snap.policies.trace(ctx);
    if (o.json) console.log(JSON.stringify({ decision: summary(d), trace }, null, 2));
    else print(d, trace, ctx, claimsGiven);
    return d.allow ? 0 : 1;
  } finally {
    for (const k of keys.values()) k.jwks?.stop();
  }
}

/** Replace the claimed issuer's key source with a throwaway key and sign the claims with it. */
async function signClaims(config: Config, claims: JWTPayload): Promise<{ config: Config; token: string }> {
  const iss = claims.iss ?? config.issuers[0]?.issuer;
  const issuer = config.issuers.find((i) => i.issuer === iss);
  if (!issuer) throw new Error(`claims.iss ${JSON.stringify(iss)} is not a configured issuer`);
  const alg = issuer.algorithms.find((a) => !a.startsWith('HS')) ?? 'RS256';
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'zt-authz-check', alg, use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const aud = claims.aud ?? (issuer.audiences.length ? issuer.audiences[0] : undefined);
  const payload: JWTPayload = { sub: 'user', iat: now, exp: now + 300, ...claims, iss, ...(aud ? { aud } : {}) };
  const token = await new SignJWT(payload).setProtectedHeader({ alg, kid: jwk.kid, ...(issuer.typ ? { typ: issuer.typ } : {}) }).sign(privateKey);
  const replaced: ResolvedIssuer = { ...issuer, keySource: { kind: 'inline', jwks: { keys: [jwk as Record<string, unknown>] } }, hmacSecretFiles: undefined } as ResolvedIssuer;
  return { config: { ...config, issuers: config.issuers.map((i) => (i === issuer ? replaced : i)) }, token };
}

function summary(d: Decision) {
  return {
    allow: d.allow,
    status: d.status,
    reason: d.reason,
    detail: d.detail,
    policy: d.policy,
    rule: d.rule,
    dryRun: d.dryRun,
    audits: d.audits,
    wwwAuthenticate: d.wwwAuthenticate,
    upstreamHeaders: d.upstreamHeaders,
    removeHeaders: d.removeHeaders,
  };
}

function print(d: Decision, trace: TraceEntry[], ctx: ReturnType<typeof policyContext>, claimsGiven: boolean): void {
  const verdict = d.allow ? 'ALLOW' : 'DENY';
  console.log(`${verdict} ${d.status} ${d.reason}${d.policy ? ` (policy ${d.policy}${d.rule !== undefined ? ` rule ${d.rule}` : ''})` : ''}${d.detail ? ` — ${d.detail}` : ''}`);
  const id = d.identity;
  console.log(`  identity     ${id ? `${id.requestPrincipal}${id.scopes.length ? ` scopes="${id.scopes.join(' ')}"` : ''}${claimsGiven ? '  [claims given, signed by a stand-in key]' : ''}` : 'anonymous'}`);
  const s = ctx.source;
  console.log(`  source       ${s ? `${s.principal}${s.namespace ? ` (namespace ${s.namespace}, service account ${s.serviceAccount})` : ''}` : '(no peer principal)'}${ctx.input.source.address ? ` from ${ctx.input.source.address}` : ''}`);
  const labels = Object.entries(ctx.destination.labels).map(([k, v]) => `${k}=${v}`).join(',');
  console.log(`  destination  ${ctx.input.method} ${ctx.input.host}${ctx.input.path}  namespace=${ctx.destination.namespace ?? '(unknown)'}${labels ? ` labels=${labels}` : ''}`);
  if (d.wwwAuthenticate) console.log(`  challenge    WWW-Authenticate: ${d.wwwAuthenticate}`);
  if (d.dryRun) console.log(`  dry-run      would ${d.dryRun.allow ? 'ALLOW' : 'DENY'} (${d.dryRun.reason}${d.dryRun.policy ? `, policy ${d.dryRun.policy}` : ''})`);
  for (const [k, v] of d.upstreamHeaders) console.log(`  upstream     ${k}: ${v}`);
  console.log(`  policies (${trace.length}):`);
  const width = Math.max(4, ...trace.map((t) => t.policy.length));
  for (const t of trace) {
    const tag = `${t.action}${t.dryRun ? '(dry-run)' : ''}`.padEnd(14);
    const [first, ...rest] = t.detail;
    console.log(`    ${tag} ${t.policy.padEnd(width)}  ${first ?? ''}`);
    for (const line of rest) console.log(`    ${''.padEnd(14)} ${''.padEnd(width)}  ${line}`);
  }
}
