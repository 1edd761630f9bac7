// Runs policy test cases (cases.ts) through the one decision engine, as the service decides:
// one snapshot per configuration (config file and/or ZeroTrustPolicy manifests, or a case file's
// inline configuration), every case through DecisionEngine.decideRequest, so a request that does
// not normalize is the malformed_request deny the service would answer.
//
// Signed claims: a case may give `claims:` instead of a token; ../claims-signer.ts signs them and
// stands in for the keys of the issuers they are signed for (as `zt-authz check` does).
import type { Config, ResolvedIssuer } from '../../config/types.js';
import { checkConfig } from '../../snapshot/checked-config.js';
import { loadCandidate } from '../../migrate/crd.js';
import { buildSnapshot } from '../../snapshot/builder.js';
import { buildIssuerKeys, type IssuerKeys } from '../../authn/key-resolvers.js';
import { DecisionEngine } from '../../decision/engine.js';
import type { Decision } from '../../decision/decision.js';
import type { Snapshot } from '../../decision/snapshot.js';
import { normalizeCheckRequest } from '../../transport/grpc/normalize.js';
import type { CheckRequest } from '../../transport/grpc/messages.js';
import { ConfigError } from '../../config/problems.js';
import { toCheckRequest } from '../request-file.js';
import { ClaimsSigner, signingAlg } from '../claims-signer.js';
import { checkSigningKeys } from '../check-signing-keys.js';
import { CaseFileError, type CaseSuite, type PolicyCase } from './cases.js';
import { compareDecision } from './compare.js';

export interface RunOptions {
  /** --config: for suites that name no configuration. */
  config?: string;
  /** --manifests: ZeroTrustPolicy manifest files, for suites that name no configuration. */
  manifests?: string[];
  rootNamespace?: string;
  /** How long to wait for remote JWKS of issuers the runner does not stand in for (ms). */
  waitMs?: number;
  /** Only cases whose full name (`<file>: <name>`) matches run. */
  filter?: RegExp;
  /** The name of a file in reports (default: as given). */
  display?: (file: string) => string;
}

/** What the engine decided, as a report shows it. */
export interface Actual {
  decision: 'allow' | 'deny';
  reason: string;
  status: number;
  policy?: string;
  rule?: number;
  detail?: string;
}

export interface CaseResult {
  /** The case file as reports name it. */
  file: string;
  suite: CaseSuite;
  case: PolicyCase;
  pass: boolean;
  /** Each expectation that does not hold, in words (empty when the case passed). */
  failures: string[];
  actual: Actual;
  seconds: number;
}

interface Prepared {
  snap: Snapshot;
  engine: DecisionEngine;
}

/** Run `suites`; throws CaseFileError for a case the runner cannot build, ConfigError for a bad configuration. */
export async function runSuites(suites: CaseSuite[], o: RunOptions = {}): Promise<CaseResult[]> {
  const signer = new ClaimsSigner();
  const started: IssuerKeys[] = [];
  const prepared = new Map<string, Promise<Prepared>>();
  const results: CaseResult[] = [];
  try {
    for (const suite of suites) {
      const file = o.display ? o.display(suite.file) : suite.file;
      const cases = suite.cases.filter((c) => !o.filter || o.filter.test(`${file}: ${c.name}`));
      if (!cases.length) continue;
      const base = await baseConfig(suite, o, signer);
      const signedFor = new Set(suite.setup.kind === 'inline' ? suite.setup.runnerIssuers : []);
      for (const c of cases) if (c.claims) signedFor.add(claimsIssuer(base.config, c, suite));
      const key = `${base.key}\u0000${[...signedFor].sort().join('\u0000')}`;
      let p = prepared.get(key);
      if (!p) {
        p = prepare(base.config, signedFor, signer, started, o.waitMs ?? 5000);
        prepared.set(key, p);
      }
      const { snap, engine } = await p;
      for (const c of cases) results.push(await runCase(engine, snap, signer, file, suite, c));
    }
  } finally {
    for (const k of started) k.jwks?.stop();
  }
  return results;
}

function where(suite: CaseSuite, c?: PolicyCase): string {
  return `${suite.file}${suite.doc > 1 ? ` (document ${suite.doc})` : ''}${c ? `: case "${c.name}"` : ''}`;
}

/** The suite's configuration before any issuer's keys are replaced, and a key naming it. */
async function baseConfig(suite: CaseSuite, o: RunOptions, signer: ClaimsSigner): Promise<{ config: Config; key: string }> {
  const s = suite.setup;
  if (s.kind === 'inline') {
    // Issuers the runner holds the keys of are given its public key here, so the configuration
    // is valid as written; `prepare` puts the key of the algorithm each case signs with.
    const issuers = await Promise.all(
      ((s.raw.issuers as Record<string, unknown>[] | undefined) ?? []).map(async (i) =>
        s.runnerIssuers.includes(i.issuer as string) && !KEY_SOURCES.some((k) => k in i)
          ? { ...i, jwks: { keys: [await signer.publicJwk(firstAsymmetric(i.algorithms) ?? 'ES256')] } }
          : i,
      ),
    );
    try {
      const raw = s.raw.issuers ? { ...s.raw, issuers } : s.raw;
      return { config: checkConfig(raw, where(suite)).config, key: `inline\u0000${suite.file}\u0000${suite.doc}` };
    } catch (err) {
      // The configuration is part of the case file: a bad one is a bad case file.
      if (err instanceof ConfigError) throw new CaseFileError(err.message);
      throw err;
    }
  }
  const config = s.kind === 'files' ? s.config : o.config;
  const manifests = s.kind === 'files' ? s.manifests : (o.manifests ?? []);
  if (config === undefined && !manifests.length)
    throw new CaseFileError(
      `${where(suite)}: no configuration for its cases: give --config and/or --manifests, or config: in the case file`,
    );
  return { config: loadCandidate(config, manifests, o.rootNamespace), key: JSON.stringify([config, manifests]) };
}

/** An issuer's key-source settings (issuer-schema.ts). */
const KEY_SOURCES = [
  'jwksUri',
  'jwks',
  'jwksFile',
  'jwksSecret',
  'discovery',
  'hmacSecretFile',
  'hmacSecretFiles',
  'introspection',
  'kubernetes',
];

function firstAsymmetric(algorithms: unknown): string | undefined {
  return Array.isArray(algorithms)
    ? (algorithms as unknown[]).find((a): a is string => typeof a === 'string' && !a.startsWith('HS'))
    : undefined;
}

/** The issuer a case's claims are signed for: claims.iss, else the first configured issuer. */
function claimsIssuer(config: Config, c: PolicyCase, suite: CaseSuite): string {
  const iss = (c.claims?.iss as string | undefined) ?? config.issuers[0]?.issuer;
  const issuer = config.issuers.find((i) => i.issuer === iss);
  if (!issuer || iss === undefined)
    throw new CaseFileError(
      `${where(suite, c)}: claims are signed for ${iss === undefined ? 'the first configured issuer, and there is none' : `${JSON.stringify(iss)}, which is not a configured issuer`}`,
    );
  if (!signingAlg(issuer))
    throw new CaseFileError(
      `${where(suite, c)}: issuer ${iss} accepts only HMAC algorithms; claims cannot be signed for it (give a token)`,
    );
  return iss;
}

async function prepare(
  base: Config,
  signedFor: Set<string>,
  signer: ClaimsSigner,
  started: IssuerKeys[],
  waitMs: number,
): Promise<Prepared> {
  const config = await signer.standIn(base, signedFor);
  const keys = new Map<string, IssuerKeys>(config.issuers.map((i) => [i.issuer, buildIssuerKeys(i, {})]));
  for (const k of keys.values()) {
    started.push(k);
    k.jwks?.start();
  }
  await Promise.all([...keys.values()].map((k) => k.jwks?.waitReady(waitMs) ?? Promise.resolve(true)));
  // The keys `zt-authz check` mints with (keysDir as serve reads it; a stand-in for keysSecret):
  // without them every allow of a config with internal tokens would be internal_token_unavailable.
  const signing = await checkSigningKeys(config.tokenIssuer);
  const snap = buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 1, signing ? { signingKeys: signing.ring } : {});
  return { snap, engine: new DecisionEngine(() => snap) };
}

async function runCase(
  engine: DecisionEngine,
  snap: Snapshot,
  signer: ClaimsSigner,
  file: string,
  suite: CaseSuite,
  c: PolicyCase,
): Promise<CaseResult> {
  const t0 = process.hrtime.bigint();
  let req: CheckRequest;
  try {
    req = toCheckRequest(c.request);
    if (c.token !== undefined) addCredential(req, { header: 'authorization', prefix: 'Bearer ' }, c.token);
    if (c.claims) {
      const issuer = snap.config.issuers.find(
        (i) => i.issuer === ((c.claims!.iss as string | undefined) ?? snap.config.issuers[0]!.issuer),
      )!;
      addCredential(req, tokenPlace(issuer), await signer.sign(issuer, c.claims));
    }
    if (c.apiKey !== undefined) addCredential(req, apiKeyPlace(snap.config, c.apiKeySource), c.apiKey);
  } catch (err) {
    // toCheckRequest's and this file's errors are about the case: name it.
    if (!(err instanceof Error)) throw err;
    throw new CaseFileError(`${where(suite, c)}: ${err.message}`);
  }
  const { decision } = await engine.decideRequest('test', (limits) => normalizeCheckRequest(req, limits));
  const failures = compareDecision(c.expect, decision);
  return {
    file,
    suite,
    case: c,
    pass: failures.length === 0,
    failures,
    actual: actualOf(decision),
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
}

function actualOf({ verdict: v }: Decision): Actual {
  return {
    decision: v.allow ? 'allow' : 'deny',
    reason: v.reason,
    status: v.status,
    ...(v.policy !== undefined ? { policy: v.policy } : {}),
    ...(v.rule !== undefined ? { rule: v.rule } : {}),
    ...(v.detail ? { detail: v.detail } : {}),
  };
}

type Place = { header: string; prefix: string } | { param: string } | { cookie: string };

/** Where the issuer reads tokens first: its first header, else query parameter, else cookie. */
function tokenPlace(issuer: ResolvedIssuer): Place {
  const h = issuer.fromHeaders[0];
  if (h) return { header: h.name, prefix: h.prefix };
  if (issuer.fromParams[0]) return { param: issuer.fromParams[0] };
  if (issuer.fromCookies[0]) return { cookie: issuer.fromCookies[0] };
  return { header: 'authorization', prefix: 'Bearer ' };
}

/** Where an API-key source (apiKeySource, else the first one) reads keys first. */
function apiKeyPlace(config: Config, source: string | undefined): Place {
  const src = source === undefined ? config.apiKeys[0] : config.apiKeys.find((s) => s.name === source);
  if (!src)
    throw new CaseFileError(
      source === undefined
        ? 'apiKey given, but the configuration has no apiKeys source'
        : `apiKeySource ${source} is not a configured apiKeys source`,
    );
  const h = src.fromHeaders[0];
  if (h) return { header: h.name, prefix: h.prefix };
  return { param: src.fromParams[0]! };
}

function addCredential(req: CheckRequest, place: Place, value: string): void {
  const http = req.attributes?.request?.http;
  if (!http) throw new CaseFileError('the request has no attributes.request.http to put the credential in');
  const headers = { ...(http.headers ?? {}) };
  if ('header' in place) {
    if (headers[place.header] !== undefined)
      throw new CaseFileError(`request header ${place.header} is set and the case also gives a credential for it`);
    headers[place.header] = `${place.prefix}${value}`;
  } else if ('cookie' in place) {
    const cookie = `${place.cookie}=${value}`;
    headers.cookie = headers.cookie ? `${headers.cookie}; ${cookie}` : cookie;
  } else {
    const path = http.path ?? '/';
    http.path = `${path}${path.includes('?') ? '&' : '?'}${encodeURIComponent(place.param)}=${encodeURIComponent(value)}`;
  }
  http.headers = headers;
}
