// ZeroTrustPolicy resources → policy specs for the snapshot, with per-policy isolation and status.
//
// Each resource is validated on its own, with the same validator as the config file (schema +
// policy compiler), so one bad resource never blocks the others. Its policy is named
// "<namespace>/<name>" and scoped to metadata.namespace (resources in kubernetes.rootNamespace
// apply to every namespace, like Istio's root namespace).
//
// An invalid resource (status Accepted=False, reason Invalid, with the validator's message):
//  - keeps applying its last valid generation seen by this process (per-policy last-known-good);
//  - without one: an ALLOW or AUDIT policy does not apply (default deny covers it), and a DENY
//    policy fails closed: it denies every request in its scope (namespace, and selector when that
//    part is valid) until fixed, as Istio does for DENY policies it cannot fully understand.
import type { Logger } from 'pino';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { ConfigError } from '../config/problems.js';
import type { PolicySpec } from '../config/policy-schema.js';
import { checkConfig } from '../snapshot/checked-config.js';
import type { KubeObject } from './informer.js';
import { withTimeout } from './timeout.js';

export const CRD = {
  group: 'zt-authz.io',
  version: 'v1alpha1',
  plural: 'zerotrustpolicies',
  kind: 'ZeroTrustPolicy',
  singular: 'zerotrustpolicy',
  shortNames: ['ztp'],
} as const;

export interface PolicyCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface PolicyObject extends KubeObject {
  spec?: unknown;
  status?: { observedGeneration?: number; conditions?: PolicyCondition[] };
}

interface Entry {
  key: string;
  obj: PolicyObject;
  /** The applied version: the latest valid one (last-known-good when the latest is invalid). */
  active?: { spec: PolicySpec; generation: number };
  /** Fail-closed stand-in for an invalid DENY policy without a valid earlier version. */
  failClosed?: PolicySpec;
  /** Validation message of the latest generation, when it is invalid. */
  error?: string;
  /** Serialised effective specs, to tell real changes from status-only updates. */
  effective: string;
}

export interface PolicySetOptions {
  logger: Logger;
  rootNamespace: string | undefined;
  rolesClaim: () => string;
  /** The effective policy set changed: rebuild the snapshot. */
  onChange: () => void;
  /** A generation was rejected (counted as zt_authz_policy_reload_total{result="error"}). */
  onRejected: (key: string, message: string) => void;
  /** Write status conditions back (omit to never write). */
  status?: StatusWriter;
}

const MAX_MESSAGE = 2000;

export class PolicySet {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: PolicySetOptions) {}

  get size(): number {
    return this.entries.size;
  }

  /** Condition currently computed for a resource (tests, status). */
  condition(key: string): Omit<PolicyCondition, 'lastTransitionTime'> | undefined {
    const e = this.entries.get(key);
    return e ? desiredCondition(e) : undefined;
  }

  apply(type: 'add' | 'update' | 'delete', obj: PolicyObject): void {
    const ns = obj.metadata.namespace ?? '';
    const key = `${ns}/${obj.metadata.name}`;
    const prev = this.entries.get(key);
    if (type === 'delete') {
      this.entries.delete(key);
      this.opts.status?.forget(key);
      if (prev && prev.effective !== '[]') this.opts.onChange();
      return;
    }
    const generation = obj.metadata.generation ?? 0;
    const entry: Entry = { key, obj, effective: '[]', ...(prev?.active ? { active: prev.active } : {}) };
    const sameSpec =
      prev && prev.obj.metadata.generation === obj.metadata.generation && JSON.stringify(prev.obj.spec) === JSON.stringify(obj.spec);
    if (sameSpec) {
      // Status-only (or metadata-only) update: nothing to revalidate.
      if (prev.error !== undefined) entry.error = prev.error;
      if (prev.failClosed) entry.failClosed = prev.failClosed;
    } else {
      const result = this.validate(obj, key);
      if ('spec' in result) {
        entry.active = { spec: result.spec, generation };
      } else {
        entry.error = result.error;
        if (!entry.active) {
          const fc = failClosedFor(obj, key, this.opts.rootNamespace);
          if (fc) entry.failClosed = fc;
        }
        this.opts.logger.warn(
          {
            policy: key,
            generation,
            keeping: entry.active ? `generation ${entry.active.generation}` : entry.failClosed ? 'fail-closed deny' : 'nothing',
          },
          `ZeroTrustPolicy ${key} rejected: ${result.error}`,
        );
        this.opts.onRejected(key, result.error);
      }
    }
    entry.effective = JSON.stringify(effectiveSpecs(entry));
    this.entries.set(key, entry);
    if (!prev ? entry.effective !== '[]' : prev.effective !== entry.effective) this.opts.onChange();
    this.opts.status?.update(obj, desiredCondition(entry));
  }

  /** Every applied policy, sorted by name for deterministic order. */
  specs(): PolicySpec[] {
    return [...this.entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).flatMap(effectiveSpecs);
  }

  private validate(obj: PolicyObject, key: string): { spec: PolicySpec } | { error: string } {
    const ns = obj.metadata.namespace ?? '';
    const spec = obj.spec ?? {};
    if (typeof spec !== 'object' || Array.isArray(spec)) return { error: 'spec: must be an object' };
    for (const f of ['name', 'namespace'] as const) {
      if (f in spec) return { error: `spec.${f}: unknown field (the policy ${f} is metadata.${f})` };
    }
    const raw = { ...spec, name: obj.metadata.name, ...(ns === this.opts.rootNamespace ? {} : { namespace: ns }) };
    try {
      const cfg = checkConfig({ policies: [raw], authorization: { rolesClaim: this.opts.rolesClaim() } }, `ZeroTrustPolicy ${key}`).config;
      const p = cfg.policies[0]!;
      return { spec: { ...p, name: key } };
    } catch (err) {
      if (!(err instanceof ConfigError)) return { error: (err as Error).message };
      const msg = err.problems
        .map((p) => {
          const path = p.path === 'policies[0].name' ? 'metadata.name' : p.path.replace(/^policies\[0\]\.?/, 'spec.').replace(/\.$/, '');
          return `${path || 'spec'}: ${p.message.replace(/ \(policy "[^"]*"\)$/, '')}`;
        })
        .join('; ');
      return { error: msg.length > MAX_MESSAGE ? `${msg.slice(0, MAX_MESSAGE)}…` : msg };
    }
  }
}

function effectiveSpecs(e: Entry): PolicySpec[] {
  if (e.active) return [e.active.spec];
  if (e.failClosed) return [e.failClosed];
  return [];
}

/** An invalid DENY policy with nothing valid to fall back on denies everything in its scope. */
function failClosedFor(obj: PolicyObject, key: string, root: string | undefined): PolicySpec | undefined {
  const spec = (obj.spec ?? {}) as { action?: unknown; dryRun?: unknown; selector?: { matchLabels?: unknown } };
  if (spec.action !== 'DENY' || spec.dryRun === true) return undefined;
  const ns = obj.metadata.namespace ?? '';
  const labels = spec.selector?.matchLabels;
  const validLabels =
    labels && typeof labels === 'object' && !Array.isArray(labels) && Object.values(labels).every((v) => typeof v === 'string')
      ? (labels as Record<string, string>)
      : undefined;
  const standIn = (withSelector: boolean): PolicySpec => ({
    name: key,
    ...(ns === root ? {} : { namespace: ns }),
    ...(withSelector && validLabels && Object.keys(validLabels).length ? { selector: { matchLabels: validLabels } } : {}),
    action: 'DENY',
    rules: [{}],
  });
  // The stand-in must itself compile: a selector the validator rejects (e.g. a wildcard value)
  // would otherwise fail every later rebuild, freezing all policy changes cluster-wide. Without
  // its selector the stand-in covers the whole namespace, which is wider, so still closed.
  try {
    checkConfig({ policies: [{ ...standIn(true), name: 'fail-closed' }] }, `ZeroTrustPolicy ${key} (fail-closed stand-in)`);
    return standIn(true);
  } catch {
    return standIn(false);
  }
}

function desiredCondition(e: Entry): Omit<PolicyCondition, 'lastTransitionTime'> {
  const observedGeneration = e.obj.metadata.generation ?? 0;
  if (e.error === undefined) return { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'policy applied', observedGeneration };
  const tail = e.active
    ? `; still enforcing generation ${e.active.generation}`
    : e.failClosed
      ? '; no valid earlier version: this DENY policy denies every request in its scope until fixed'
      : '; not applied';
  return { type: 'Accepted', status: 'False', reason: 'Invalid', message: `${e.error}${tail}`, observedGeneration };
}

/**
 * Writes status conditions through the status subresource (RBAC: update on
 * zerotrustpolicies/status only). A write happens only when the condition differs from what the
 * object already carries, so replicas converge instead of fighting; 409 Conflict is dropped (the
 * watch brings the newer object, which is compared again).
 */
export class StatusWriter {
  private readonly queue = new Map<string, { obj: PolicyObject; cond: Omit<PolicyCondition, 'lastTransitionTime'> }>();
  private running = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  readonly stats = { writes: 0, conflicts: 0, errors: 0 };

  constructor(
    private readonly api: CustomObjectsApi,
    private readonly logger: Logger,
    private readonly retryMs = 2000,
    private readonly timeoutMs = STATUS_WRITE_TIMEOUT_MS,
  ) {}

  update(obj: PolicyObject, cond: Omit<PolicyCondition, 'lastTransitionTime'>): void {
    const cur = obj.status?.conditions?.find((c) => c.type === cond.type);
    if (
      cur &&
      cur.status === cond.status &&
      cur.reason === cond.reason &&
      cur.message === cond.message &&
      cur.observedGeneration === cond.observedGeneration &&
      obj.status?.observedGeneration === cond.observedGeneration
    ) {
      this.queue.delete(`${obj.metadata.namespace}/${obj.metadata.name}`);
      return;
    }
    this.queue.set(`${obj.metadata.namespace}/${obj.metadata.name}`, { obj, cond });
    void this.drain();
  }

  forget(key: string): void {
    this.queue.delete(key);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.queue.clear();
  }

  private async drain(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while (this.queue.size && !this.stopped) {
        const [key, job] = this.queue.entries().next().value!;
        this.queue.delete(key);
        const ok = await this.write(job.obj, job.cond);
        if (!ok && !this.queue.has(key) && !this.stopped) {
          // Transient failure: retry later with the same object (a newer one replaces it).
          this.queue.set(key, job);
          this.failures++;
          const delay = Math.min(this.retryMs * 2 ** Math.min(this.failures - 1, 5), 60_000);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            void this.drain();
          }, delay);
          this.retryTimer.unref();
          return;
        }
        if (ok) this.failures = 0;
      }
    } finally {
      this.running = false;
    }
  }

  /** True when done (written, or no longer needed); false to retry. */
  private async write(obj: PolicyObject, cond: Omit<PolicyCondition, 'lastTransitionTime'>): Promise<boolean> {
    const cur = obj.status?.conditions?.find((c) => c.type === cond.type);
    const lastTransitionTime =
      cur && cur.status === cond.status && cur.reason === cond.reason ? cur.lastTransitionTime : new Date().toISOString();
    const others = (obj.status?.conditions ?? []).filter((c) => c.type !== cond.type);
    const body = {
      ...obj,
      status: {
        ...(obj.status ?? {}),
        observedGeneration: cond.observedGeneration,
        conditions: [...others, { ...cond, lastTransitionTime }],
      },
    };
    const ns = obj.metadata.namespace ?? '';
    try {
      // Bounded: one hung write would otherwise stall the status queue for good; a timeout is
      // an ordinary failure, retried with backoff.
      await withTimeout(
        this.api.replaceNamespacedCustomObjectStatus({
          group: CRD.group,
          version: CRD.version,
          plural: CRD.plural,
          namespace: ns,
          name: obj.metadata.name,
          body,
        }),
        this.timeoutMs,
        'status write',
      );
      this.stats.writes++;
      return true;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 409 || code === 404) {
        this.stats.conflicts++;
        return true; // a newer object (or none) is on its way through the watch
      }
      this.stats.errors++;
      this.logger.warn(
        { policy: `${ns}/${obj.metadata.name}`, error: code ? `HTTP ${code}` : (err as Error).message },
        'cannot write ZeroTrustPolicy status; will retry',
      );
      return false;
    }
  }
}

/** Status writes give up after this long (then retry with backoff). */
export const STATUS_WRITE_TIMEOUT_MS = 30_000;
