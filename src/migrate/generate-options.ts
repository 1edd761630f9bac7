// What `zt-authz policy generate` takes and returns.
import type { PolicySpec } from '../config/policy-schema.js';

export interface GenerateOptions {
  /** Only destinations in this namespace. */
  namespace?: string;
  /** Leave out (source, method, path) edges seen fewer times than this. Default 1. */
  minCount?: number;
  /** Collapse sibling paths into `prefix/{**}` (wider than one segment). Default false. */
  generalise?: boolean;
  /** Distinct principals of one namespace that turn a rule into `namespaces: [ns]`. 0 = never. Default 3. */
  namespaceThreshold?: number;
  /** A config (YAML text) to add the policies to, instead of emitting `policies:` alone. */
  base?: { text: string; source: string };
  /** `config` (default): `policies:` YAML. `crd`: ZeroTrustPolicy manifests, one `---` document per policy. */
  format?: 'config' | 'crd';
  /**
   * crd: the namespace for policies without one (destinations known only by host, or without a
   * namespace): Kubernetes mode's `kubernetes.rootNamespace`, whose resources apply to every
   * namespace. Without it such policies are refused.
   */
  rootNamespace?: string;
}

export interface GenerateSummary {
  records: number;
  /** Served requests the policies are built from. */
  used: number;
  policies: number;
  rules: number;
  first?: string;
  last?: string;
  /** Requests left out, by why. */
  leftOut: Record<string, number>;
  warnings: string[];
}

export interface GenerateResult {
  yaml: string;
  policies: PolicySpec[];
  summary: GenerateSummary;
}
