// A compiled policy: what compile.ts produces once per snapshot and the policy index evaluates.
// Conditions are immutable and shared between policies of one compilation (compile.ts Interner).
import type { Attr, AttrRead, ConditionRole, PolicyContext } from './context.js';

/** One compiled check, labelled for decision traces (`to[0].operation.paths`). */
export interface Condition {
  label: string;
  role: ConditionRole;
  negated: boolean;
  /** Needs the verified JWT (request principal, request.auth.*): anonymous requests fail it. */
  authn: boolean;
  /** The configured values (for traces and step-up/insufficient-scope challenges). */
  values: readonly string[];
  attr: Attr;
  /** The attribute `test` reads, as data (policy replay asks whether a record holds it). */
  reads: AttrRead;
  /**
   * A `when` condition with both values and notValues: the two conditions that must both hold
   * (this one carries the first's values, label and reads).
   */
  parts?: readonly [Condition, Condition];
  test: (ctx: PolicyContext) => boolean;
}

export interface CompiledRule {
  /**
   * [] = the field is absent (no constraint). A field given but empty or broken (`from: []`,
   * `source: {}`, a bad value) compiles to a group holding a never-matching condition instead.
   */
  from: Condition[][];
  to: Condition[][];
  when: Condition[];
}

export interface CompiledPolicy {
  /** Position in the configuration: ties are broken by it so results are deterministic. */
  order: number;
  name: string;
  namespace?: string;
  selector?: Readonly<Record<string, string>>;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  dryRun: boolean;
  /** ALLOW only: mint the internal token for the requests it allows (true) or not; absent: the global setting. */
  internalToken?: boolean;
  rules: CompiledRule[];
}
