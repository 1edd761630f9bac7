// `zt-authz check --config FILE --request REQ [--token T]`: one offline decision through the real
// pipeline, with a trace of every policy. Exit 0 allow, 1 deny, 2 usage or request error, 3 invalid
// configuration (CHECK_COMMAND).
//
// For policy authoring, a request file may carry `claims:` instead of a token: they are signed
// with a throwaway key that stands in for that issuer's keys (the issuer must be configured), so
// audience/expiry/alg checks still run (claims-signer.ts, shared with `zt-authz test`). Output
// marks such identities "claims given".
//
// With tokenIssuer, the internal token is minted with the configured keys (check-signing-keys.ts:
// keysDir is read, a keysSecret gets a throwaway key, marked), and shown decoded, never as the
// bearer credential it is, in text and in --json alike (jwt-view.ts, as `zt-authz send` shows it).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Config } from '../config/types.js';
import { checkConfigFile } from '../snapshot/checked-config.js';
import { buildSnapshot } from '../snapshot/builder.js';
import { buildIssuerKeys, type IssuerKeys } from '../authn/key-resolvers.js';
import { DecisionEngine } from '../decision/engine.js';
import { policyContext } from '../decision/authorize.js';
import type { PolicyContext } from '../policy/context.js';
import { normalizeCheckRequest } from '../transport/grpc/normalize.js';
import { toCheckRequest } from './request-file.js';
import { ClaimsSigner } from './claims-signer.js';
import { checkSigningKeys } from './check-signing-keys.js';
import { bearerJwtLabel, bearerJwtView, decodeBearerJwt } from './jwt-view.js';
import type { Decision } from '../decision/decision.js';
import { InvalidArgumentError } from '../errors.js';
import type { TraceEntry } from '../policy/policy-index.js';
import { ConfigError } from '../config/problems.js';
import { EXIT, UsageError, parseCommandArgs, type CliCommand } from './command.js';

export const CHECK_COMMAND: CliCommand = {
  name: 'check',
  usage: `  zt-authz check --config FILE --request REQ.(json|yaml) [--token T] [--json]
                                        one offline decision with a trace of every policy
`,
  exitCodes: {
    [EXIT.OK]: 'allow',
    [EXIT.NO]: 'deny',
    [EXIT.USAGE]: 'missing --config/--request, unknown flag, a malformed request file',
    [EXIT.RUNTIME]: 'no decision: the configuration is invalid, a file cannot be read, an internal error',
  },
  run: checkCmd,
};

async function checkCmd(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('check', {
    args,
    options: {
      config: { type: 'string', short: 'c' },
      request: { type: 'string', short: 'r' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      wait: { type: 'string', default: '5000' },
    },
  });
  const config = values.config ?? process.env.ZT_AUTHZ_CONFIG;
  if (!config || !values.request) throw new UsageError('check: needs --config FILE and --request FILE');
  try {
    return await runCheck({
      config,
      request: values.request,
      json: values.json,
      waitMs: Number(values.wait),
      ...(values.token ? { token: values.token } : {}),
    });
  } catch (err) {
    // A script must be able to tell "this config denies" (1) from "this config is not valid" (3):
    // no decision was made, as when a file cannot be read.
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return EXIT.RUNTIME;
  }
}

export interface CheckOptions {
  config: string;
  request: string;
  token?: string;
  json: boolean;
  waitMs: number;
}

export async function runCheck(o: CheckOptions): Promise<number> {
  let config = checkConfigFile(o.config).config;
  const doc = parse(readFileSync(o.request, 'utf8')) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidArgumentError(`${o.request}: must be a mapping`);
  const { claims, token: docToken, ...request } = doc as { claims?: unknown; token?: string };
  let token = o.token ?? docToken;
  let claimsGiven = false;
  if (claims) {
    if (token) throw new InvalidArgumentError('give either a token or claims, not both');
    ({ config, token } = await signClaims(config, claims));
    claimsGiven = true;
  }

  const signing = await checkSigningKeys(config.tokenIssuer);
  const keys = new Map<string, IssuerKeys>(config.issuers.map((i) => [i.issuer, buildIssuerKeys(i, {})]));
  try {
    for (const k of keys.values()) k.jwks?.start();
    await Promise.all([...keys.values()].map((k) => k.jwks?.waitReady(o.waitMs) ?? Promise.resolve(true)));
    const snap = buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 1, signing ? { signingKeys: signing.ring } : {});
    const norm = normalizeCheckRequest(toCheckRequest(request, token), config.limits);
    if (!norm.ok) throw new InvalidArgumentError(`request: ${norm.detail}`);
    const engine = new DecisionEngine(() => snap);
    const d = await engine.decide(norm.input);
    // The trace re-evaluates every policy with the peers the decision resolved (complete when the
    // policy stage ran; for a credential denied earlier, the caller mTLS or XFCC named).
    const ctx = policyContext(norm.input, d.evidence.identity, d.evidence.peers ?? engine.peersFor(norm.input, d.evidence.identity));
    const trace = snap.policies.trace(ctx);
    const throwaway = d.evidence.internalToken ? signing?.throwaway : undefined;
    if (o.json)
      console.log(JSON.stringify({ decision: { ...summary(d), ...(throwaway ? { signingKey: throwaway } : {}) }, trace }, null, 2));
    else print(d, trace, ctx, claimsGiven, throwaway);
    return d.verdict.allow ? 0 : 1;
  } finally {
    for (const k of keys.values()) k.jwks?.stop();
  }
}

/** Sign `claims` for their issuer (claims.iss, else the first one) with a key that stands in for its keys. */
async function signClaims(config: Config, claims: unknown): Promise<{ config: Config; token: string }> {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new InvalidArgumentError('claims must be a mapping');
  const c = claims as Record<string, unknown>;
  const iss = c.iss ?? config.issuers[0]?.issuer;
  const issuer = config.issuers.find((i) => i.issuer === iss);
  if (!issuer) throw new InvalidArgumentError(`claims.iss ${JSON.stringify(iss)} is not a configured issuer`);
  const signer = new ClaimsSigner();
  const token = await signer.sign(issuer, c);
  return { config: await signer.standIn(config, new Set([issuer.issuer])), token };
}

function summary({ verdict: v, response: r, evidence: e }: Decision) {
  return {
    allow: v.allow,
    status: v.status,
    reason: v.reason,
    detail: v.detail,
    policy: v.policy,
    rule: v.rule,
    dryRun: e.dryRun,
    audits: e.audits,
    wwwAuthenticate: r.wwwAuthenticate,
    // A minted token as its length and hash, and decoded beside: never the token.
    upstreamHeaders: r.upstreamHeaders.map(([k, value]) => {
      const jwt = decodeBearerJwt(value);
      return [k, jwt ? bearerJwtLabel(jwt) : value];
    }),
    upstreamJwts: r.upstreamHeaders.flatMap(([k, value]) => {
      const jwt = decodeBearerJwt(value);
      return jwt ? [{ name: k, header: jwt.header, payload: jwt.payload }] : [];
    }),
    removeHeaders: r.removeHeaders,
  };
}

function print(
  { verdict: v, response: r, evidence: e }: Decision,
  trace: TraceEntry[],
  ctx: PolicyContext,
  claimsGiven: boolean,
  throwaway: string | undefined,
): void {
  const verdict = v.allow ? 'ALLOW' : 'DENY';
  console.log(
    `${verdict} ${v.status} ${v.reason}${v.policy ? ` (policy ${v.policy}${v.rule !== undefined ? ` rule ${v.rule}` : ''})` : ''}${v.detail ? ` — ${v.detail}` : ''}`,
  );
  const id = e.identity;
  console.log(
    `  identity     ${id ? `${id.requestPrincipal}${id.scopes.length ? ` scopes="${id.scopes.join(' ')}"` : ''}${claimsGiven ? '  [claims given, signed by a stand-in key]' : ''}` : 'anonymous'}`,
  );
  const s = ctx.source;
  console.log(
    `  source       ${s ? `${s.principal}${s.namespace ? ` (namespace ${s.namespace}, service account ${s.serviceAccount})` : ''}` : '(no peer principal)'}${ctx.input.source.address ? ` from ${ctx.input.source.address}` : ''}`,
  );
  const labels = Object.entries(ctx.destination.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  console.log(
    `  destination  ${ctx.input.method} ${ctx.input.host}${ctx.input.path}  namespace=${ctx.destination.namespace ?? '(unknown)'}${labels ? ` labels=${labels}` : ''}`,
  );
  if (r.wwwAuthenticate) console.log(`  challenge    WWW-Authenticate: ${r.wwwAuthenticate}`);
  if (e.dryRun)
    console.log(
      `  dry-run      would ${e.dryRun.allow ? 'ALLOW' : 'DENY'} (${e.dryRun.reason}${e.dryRun.policy ? `, policy ${e.dryRun.policy}` : ''})`,
    );
  for (const [k, value] of r.upstreamHeaders) {
    const jwt = bearerJwtView(value);
    console.log(`  upstream     ${k}: ${jwt ? jwt.value : value}`);
    for (const line of jwt?.decoded ?? []) console.log(`                 ${line}`);
  }
  if (throwaway) console.log(`  signing key  ${throwaway}`);
  console.log(`  policies (${trace.length}):`);
  const width = Math.max(4, ...trace.map((t) => t.policy.length));
  for (const t of trace) {
    const tag = `${t.action}${t.dryRun ? '(dry-run)' : ''}`.padEnd(14);
    const [first, ...rest] = t.detail;
    console.log(`    ${tag} ${t.policy.padEnd(width)}  ${first ?? ''}`);
    for (const line of rest) console.log(`    ${''.padEnd(14)} ${''.padEnd(width)}  ${line}`);
  }
}
