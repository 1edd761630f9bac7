// Policy test case files (`zt-authz test`, and the project's own conformance suite, which uses
// the same format and the same runner). A case file is a YAML stream; each document is a suite:
//
//   description: orders API           # optional
//   config: ../zt-authz.yaml          # optional: a config file (relative to this file), or an
//                                     #   inline configuration mapping; absent: --config/--manifests
//   manifests: [../policies.yaml]     # optional: ZeroTrustPolicy manifests (relative to this file)
//   issuers: [https://idp.test]       # optional, inline config only: issuers whose keys the runner holds
//   policies: [...]                   # optional, inline config only: appended to config.policies
//   cases:
//     - name: GET with a read scope is allowed
//       request: { method: GET, path: /orders/1, host: orders.shop.svc }   # the `zt-authz check` request format
//       claims: { sub: alice, scope: orders:read }  # or token: <JWT>, or apiKey: <key> [apiKeySource: NAME]
//       expect: { decision: allow, policy: orders-read, upstream: { x-auth-subject: alice } }
//
// Everything here is checked strictly (unknown keys included): a misspelt `expect` field must
// fail the file, never pass a case silently. docs/policy-tests.md is the user-facing contract;
// the `expect` block is parsed in expect.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CaseFileError, mapping, optString, stringList, unknownKeys } from './case-fields.js';
import { parseExpect, type CaseExpect } from './expect.js';

export { CaseFileError };
export type { CaseExpect, Verdict } from './expect.js';

export interface PolicyCase {
  name: string;
  request: Record<string, unknown>;
  token?: string;
  claims?: Record<string, unknown>;
  apiKey?: string;
  apiKeySource?: string;
  expect: CaseExpect;
}

/** Where a suite's configuration comes from. */
export type SuiteSetup =
  /** A configuration in the case file itself (config mapping, issuers, policies). */
  | { kind: 'inline'; raw: Record<string, unknown>; runnerIssuers: string[] }
  /** Files named by the case file (paths resolved against its directory). */
  | { kind: 'files'; config?: string; manifests: string[] }
  /** The command line's --config / --manifests. */
  | { kind: 'default' };

export interface CaseSuite {
  /** The case file as given or found. */
  file: string;
  /** Document number in the file, from 1. */
  doc: number;
  description?: string;
  setup: SuiteSetup;
  cases: PolicyCase[];
}

/** File names `zt-authz test DIR` picks up. */
export const CASE_FILE = /(?:_test|\.test)\.ya?ml$/;

/** Case files under `path` (itself, when it is a file), sorted; hidden folders and node_modules skipped. */
export function discoverCaseFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new CaseFileError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (st.isFile()) return [path];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && CASE_FILE.test(e.name)) out.push(p);
    }
  };
  walk(path);
  return out;
}

/** The suites of one case file. Throws CaseFileError naming the file, document and case. */
export function loadCaseFile(file: string): CaseSuite[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CaseFileError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  // merge: `<<: *anchor` shares a request between cases (YAML 1.1 merge keys, off by default in 1.2).
  const docs = parseAllDocuments(text, { uniqueKeys: true, merge: true });
  if (!Array.isArray(docs)) throw new CaseFileError(`${file}: not a YAML document stream`);
  const suites: CaseSuite[] = [];
  docs.forEach((d, i) => {
    const where = docs.length > 1 ? `${file} (document ${i + 1})` : file;
    if (d.errors.length) throw new CaseFileError(`${where}: ${d.errors[0]!.message}`);
    const raw = d.toJS({ maxAliasCount: 100 }) as unknown;
    if (raw === null || raw === undefined) return;
    suites.push(parseSuite(raw, file, i + 1, where));
  });
  if (!suites.length) throw new CaseFileError(`${file}: no cases`);
  return suites;
}

const SUITE_KEYS = new Set(['description', 'config', 'manifests', 'issuers', 'policies', 'cases']);
const CASE_KEYS = new Set(['name', 'request', 'token', 'claims', 'apiKey', 'apiKeySource', 'expect']);

function parseSuite(raw: unknown, file: string, doc: number, where: string): CaseSuite {
  const o = mapping(raw, where, 'the document');
  unknownKeys(o, SUITE_KEYS, where, 'the document');
  const description = optString(o.description, where, 'description');
  const setup = parseSetup(o, file, where);
  if (!Array.isArray(o.cases) || o.cases.length === 0) throw new CaseFileError(`${where}: cases must be a non-empty list`);
  const names = new Set<string>();
  const cases = o.cases.map((c, i) => {
    const pc = parseCase(c, `${where}: cases[${i}]`);
    if (names.has(pc.name)) throw new CaseFileError(`${where}: case "${pc.name}": another case in the document has this name`);
    names.add(pc.name);
    return pc;
  });
  return { file, doc, ...(description !== undefined ? { description } : {}), setup, cases };
}

function parseSetup(o: Record<string, unknown>, file: string, where: string): SuiteSetup {
  const dir = dirname(file);
  const manifests = o.manifests === undefined ? [] : stringList(o.manifests, where, 'manifests');
  const inline = (o.config !== undefined && typeof o.config !== 'string') || o.issuers !== undefined || o.policies !== undefined;
  if (!inline) {
    if (o.config === undefined && !manifests.length) return { kind: 'default' };
    return {
      kind: 'files',
      ...(typeof o.config === 'string' ? { config: resolve(dir, o.config) } : {}),
      manifests: manifests.map((m) => resolve(dir, m)),
    };
  }
  if (manifests.length) throw new CaseFileError(`${where}: manifests go with a config file (config: PATH), not an inline configuration`);
  if (typeof o.config === 'string')
    throw new CaseFileError(`${where}: issuers and policies go with an inline config mapping, not config: PATH`);
  const config = o.config === undefined ? {} : mapping(o.config, where, 'config');
  const runnerIssuers: string[] = [];
  const issuers: unknown[] = [];
  if (o.issuers !== undefined) {
    if (!Array.isArray(o.issuers)) throw new CaseFileError(`${where}: issuers must be a list`);
    o.issuers.forEach((v, i) => {
      // Issuers the runner holds the keys of: no IdP needed, every case's claims are signed for them.
      const item = typeof v === 'string' ? { issuer: v } : mapping(v, where, `issuers[${i}]`);
      if (typeof item.issuer !== 'string') throw new CaseFileError(`${where}: issuers[${i}].issuer must be a string`);
      runnerIssuers.push(item.issuer);
      issuers.push({ algorithms: ['ES256'], anyAudience: true, ...item });
    });
  }
  if (o.policies !== undefined && !Array.isArray(o.policies)) throw new CaseFileError(`${where}: policies must be a list`);
  const listOf = (v: unknown, key: string): unknown[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new CaseFileError(`${where}: config.${key} must be a list`);
    return v;
  };
  const raw = {
    ...config,
    ...(issuers.length || config.issuers !== undefined ? { issuers: [...listOf(config.issuers, 'issuers'), ...issuers] } : {}),
    policies: [...listOf(config.policies, 'policies'), ...((o.policies as unknown[] | undefined) ?? [])],
  };
  return { kind: 'inline', raw, runnerIssuers };
}

function parseCase(raw: unknown, at: string): PolicyCase {
  const c = mapping(raw, at, 'a case');
  if (typeof c.name !== 'string' || !c.name.trim()) throw new CaseFileError(`${at}: name must be a non-empty string`);
  const where = `${at.slice(0, at.lastIndexOf(': cases['))}: case "${c.name}"`;
  unknownKeys(c, CASE_KEYS, where, 'the case');
  const request = c.request === undefined ? {} : mapping(c.request, where, 'request');
  checkRequestKeys(request, where);
  const given = ['token', 'claims', 'apiKey'].filter((k) => c[k] !== undefined);
  if (given.length > 1) throw new CaseFileError(`${where}: give one credential: ${given.join(' and ')} both given`);
  const token = optString(c.token, where, 'token');
  const apiKey = optString(c.apiKey, where, 'apiKey');
  const apiKeySource = optString(c.apiKeySource, where, 'apiKeySource');
  if (apiKeySource !== undefined && apiKey === undefined) throw new CaseFileError(`${where}: apiKeySource goes with apiKey`);
  const claims = c.claims === undefined ? undefined : mapping(c.claims, where, 'claims');
  if (claims && claims.iss !== undefined && typeof claims.iss !== 'string')
    throw new CaseFileError(`${where}: claims.iss must be a string (the configured issuer to sign for)`);
  return {
    name: c.name,
    request,
    ...(token !== undefined ? { token } : {}),
    ...(claims ? { claims } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(apiKeySource !== undefined ? { apiKeySource } : {}),
    expect: parseExpect(c.expect, where),
  };
}

/** The short request form's keys (request-file.ts): a misspelt one would silently test another request. */
const REQUEST_KEYS = new Set(['method', 'path', 'host', 'headers', 'source', 'destination', 'contextExtensions', 'sni']);
const PEER_KEYS = new Set(['principal', 'address', 'port', 'labels']);

function checkRequestKeys(request: Record<string, unknown>, where: string): void {
  if ('attributes' in request) return; // an Envoy CheckRequest in protobuf JSON
  unknownKeys(request, REQUEST_KEYS, where, 'request');
  for (const peer of ['source', 'destination'] as const)
    if (request[peer] !== undefined) unknownKeys(mapping(request[peer], where, `request.${peer}`), PEER_KEYS, where, `request.${peer}`);
}

/** The name a report shows for a file: relative to the folder searched when inside it. */
export function displayPath(file: string, root: string): string {
  const r = relative(root, file);
  return r && !r.startsWith('..') ? r : file;
}
