// Real helm for the chart tests: Helm 3 (the default) and Helm 4, each built from its Go module by
// scripts/helm.mjs and cached outside the repository. Render, parse, and look objects up.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { captureChildOutput } from './capture.js';

export const ROOT = new URL('../../../', import.meta.url).pathname;
export const CHART = join(ROOT, 'charts', 'zt-authz');

export type K8sObject = Record<string, any>;

export type HelmMajor = 3 | 4;

/** helm's path, or the reason there is none; `noGo` when the machine has no Go to build it with. */
export interface HelmBinary {
  bin?: string;
  why?: string;
  noGo?: boolean;
}

function findHelm(major: HelmMajor): HelmBinary {
  // A cold cache builds helm here (minutes); CI builds both before the tests.
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'helm.mjs'), '--helm', String(major)], {
    encoding: 'utf8',
    timeout: 30 * 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status === 0) return { bin: r.stdout.trim() };
  return { why: (r.stderr || r.error?.message || 'scripts/helm.mjs failed').trim(), noGo: r.status === 3 };
}

const found = new Map<HelmMajor, HelmBinary>();
/** Helm `major` (built on first use, then cached). */
export function helmBinary(major: HelmMajor = 3): HelmBinary {
  let b = found.get(major);
  if (!b) found.set(major, (b = findHelm(major)));
  return b;
}

/** Helm 3: what the chart tests use unless they ask for Helm 4. */
export const HELM: HelmBinary = helmBinary(3);

/** A skip reason for node:test: only when there is no Go to build helm with, and never under CI. */
export function helmSkip(major: HelmMajor = 3): string | false {
  const h = helmBinary(major);
  if (h.bin) return false;
  if (process.env.CI === 'true' || !h.noGo) throw new Error(`helm ${major} unavailable: ${h.why}`);
  return `helm ${major} unavailable: ${h.why}`;
}

const home = mkdtempSync(join(tmpdir(), 'zt-helm-'));
process.on('exit', () => rmSync(home, { recursive: true, force: true }));
let files = 0;

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs helm (3 unless `major` says 4) with its caches and config in a temp dir and no cluster. */
export function helm(args: string[], major: HelmMajor = 3): HelmResult {
  const bin = helmBinary(major).bin;
  if (!bin) throw new Error(`helm ${major} unavailable: ${helmBinary(major).why}`);
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 32 << 20,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      KUBECONFIG: join(home, 'no-kubeconfig'),
    },
  });
  const stderr = (r.stderr ?? '').trim();
  captureChildOutput(`helm ${args[0] ?? ''}`, `${r.stdout ?? ''}\n${r.stderr ?? ''}`, {
    reason: 'helm renders the webhook TLS Secret (tls.key) the chart generates',
    kinds: ['pem'],
  }); // log hygiene
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr };
}

/** A values file in the temp dir. */
export function valuesFile(values: unknown): string {
  const file = join(home, `values-${++files}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  apiVersions?: string[];
  kubeVersion?: string;
  includeCrds?: boolean;
  /** Render with Helm 4 instead of Helm 3. */
  helm?: HelmMajor;
}

/** `helm template` with `values`; throws with helm's error output when it fails. */
export function render(values: unknown = {}, o: RenderOptions = {}): K8sObject[] {
  const args = ['template', o.release ?? 'zt-authz', CHART, '--namespace', o.namespace ?? 'zt-authz', '-f', valuesFile(values)];
  for (const v of o.apiVersions ?? []) args.push('--api-versions', v);
  if (o.kubeVersion) args.push('--kube-version', o.kubeVersion);
  if (o.includeCrds) args.push('--include-crds');
  const r = helm(args, o.helm);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}):\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => {
      if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export const ofKind = (objs: K8sObject[], kind: string): K8sObject[] => objs.filter((o) => o.kind === kind);

export function one(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

/** matchLabels ⊆ labels */
export const selects = (matchLabels: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.keys(matchLabels).length > 0 && Object.entries(matchLabels).every(([k, v]) => labels?.[k] === v);

/** Sidecar-mode values: two injected namespaces, one issuer and one policy (unit and real-apiserver chart tests). */
export const SIDECAR = {
  mode: 'sidecar',
  image: { repository: 'registry.example/zt-authz', tag: '0.1.0' },
  sidecar: {
    namespaces: ['shop', 'payments'],
    config: {
      issuers: [{ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audiences: ['orders'] }],
      policies: [{ name: 'orders-read', action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }],
    },
  },
};
