// Istio next to the injected zt-authz container. Two things go wrong without care:
//
//  - With STRICT mTLS, istio-proxy captures inbound traffic to the admin port and rejects the
//    kubelet's plaintext probes (and a Prometheus outside the mesh), so the pod never gets Ready.
//  - Istio fixes that for app containers by rewriting their httpGet probes to its agent
//    (pilot-agent, status port 15020, /app-health/<container>/readyz) — but only for containers
//    present when its injector runs. Mutating webhooks run in name order (an API server detail,
//    not a guarantee): istio-sidecar-injector sorts before <release>-inject, and Istio's
//    reinvocationPolicy defaults to Never, so it does not see our container afterwards.
//
// So we always add the admin port to traffic.sidecar.istio.io/excludeInboundPorts: the injector
// reads it when it runs after us (istio-init's iptables rules), and istio-cni reads it when the
// pod starts, whatever the order. When istio-proxy is already in the pod (the injector ran
// first), istio-init's rules are fixed already, so we also route our probes through the agent
// exactly as Istio's rewrite would: the probe points at the status port and the original is
// registered in istio-proxy's ISTIO_KUBE_APP_PROBERS. The sidecar.istio.io/rewriteAppHTTPProbers
// annotation (the pod owner opting out) is read as Istio reads it (Go's ParseBool: "false", "0",
// "f", "False", … opt out). A value we cannot merge with (not JSON) is an InjectionError:
// failurePolicy decides, as for any other impossible injection.
//
// Istio uses the pod's excludeInboundPorts annotation instead of the mesh-wide
// global.proxy.excludeInboundPorts, not in addition to it: on a pod without the annotation we
// start from the mesh value (webhook.inject.istioExcludeInboundPorts), so adding ours keeps it.
import type { InjectConfig } from '../config/webhook.js';
import { InjectionError, type Container, type HttpProbe, type JsonPatchOp, type PodLike } from './types.js';

export const ISTIO = {
  proxyContainer: 'istio-proxy',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  rewriteProbes: 'sidecar.istio.io/rewriteAppHTTPProbers',
  statusPortAnnotation: 'status.sidecar.istio.io/port',
  /** meshConfig.defaultConfig.statusPort default. */
  statusPort: 15020,
  probersEnv: 'ISTIO_KUBE_APP_PROBERS',
  prometheusEnv: 'ISTIO_PROMETHEUS_ANNOTATIONS',
} as const;

export interface IstioPatch {
  /** Annotations to set on the pod. */
  annotations: Record<string, string>;
  /** Changes to istio-proxy (its env), applied after our container is added. */
  containerOps: JsonPatchOp[];
}

/** istio-proxy, as a regular container or a native sidecar (init container, restartPolicy Always), with its JSON Pointer. */
function findProxy(pod: PodLike): { container: Container; path: string } | undefined {
  for (const list of ['containers', 'initContainers'] as const) {
    const i = (pod.spec?.[list] ?? []).findIndex((c) => c.name === ISTIO.proxyContainer);
    if (i >= 0) return { container: pod.spec![list]![i]!, path: `/spec/${list}/${i}` };
  }
  return undefined;
}

/** "15090, 8080" + 9090 → "15090, 8080,9090"; unchanged when already listed. */
export function withPort(list: string | undefined, port: number): string {
  const ports = (list ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (ports.includes(String(port))) return list!;
  return list && list.trim() ? `${list},${port}` : String(port);
}

/**
 * Changes to istio-proxy's env, turned into JSON Patch operations once all are known: when the
 * container has no env list, one `add …/env` carries every new entry (an `add` per entry would
 * replace the list each time, and only the last variable would survive).
 */
class ProxyEnv {
  private readonly adds: Array<{ name: string; value: string }> = [];
  private readonly ops: JsonPatchOp[] = [];

  constructor(private readonly proxy: { container: Container; path: string }) {
    const env = proxy.container.env;
    if (env !== undefined && !Array.isArray(env)) throw new InjectionError(`${ISTIO.proxyContainer} env must be a list`);
  }

  has(name: string): boolean {
    return (this.proxy.container.env ?? []).some((e) => e?.name === name) || this.adds.some((e) => e.name === name);
  }

  /**
   * Sets `name` to merge(current value): replace when present, append otherwise. Throws
   * InjectionError when the current value is not a plain string (valueFrom) or merge throws.
   */
  set(name: string, merge: (current: string | undefined) => string): void {
    const env = this.proxy.container.env ?? [];
    const i = env.findIndex((e) => e?.name === name);
    if (i < 0) {
      this.adds.push({ name, value: merge(undefined) });
      return;
    }
    // Kubernetes reads an entry with neither value nor valueFrom as the empty string.
    const entry = env[i]!;
    const current = entry.value === undefined && entry.valueFrom === undefined ? '' : entry.value;
    if (typeof current !== 'string') throw new InjectionError(`${ISTIO.proxyContainer} env ${name} is not a plain value`);
    // `replace` needs the member to exist (RFC 6902); `add` sets it either way.
    this.ops.push({ op: entry.value === undefined ? 'add' : 'replace', path: `${this.proxy.path}/env/${i}/value`, value: merge(current) });
  }

  patch(): JsonPatchOp[] {
    if (!this.adds.length) return this.ops;
    if (this.proxy.container.env === undefined) return [...this.ops, { op: 'add', path: `${this.proxy.path}/env`, value: this.adds }];
    return [...this.ops, ...this.adds.map((value): JsonPatchOp => ({ op: 'add', path: `${this.proxy.path}/env/-`, value }))];
  }
}

/**
 * Go's strconv.ParseBool, which Istio's injector applies to sidecar.istio.io/rewriteAppHTTPProbers;
 * undefined for anything else (Istio then falls back to the mesh setting).
 */
export function parseGoBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function statusPort(pod: PodLike): number | undefined {
  const v = pod.metadata?.annotations?.[ISTIO.statusPortAnnotation];
  if (v === undefined) return ISTIO.statusPort;
  const n = Number(v);
  // 0 disables the agent's status server: nothing can serve rewritten probes.
  return Number.isInteger(n) && n > 0 && n <= 65535 ? n : undefined;
}

/**
 * The Istio-related changes for injecting `container` (whose probes this may rewrite in place)
 * into `pod`.
 */
export function istioPatch(pod: PodLike, c: InjectConfig, container: Container): IstioPatch {
  const annotations = pod.metadata?.annotations ?? {};
  const out: IstioPatch = { annotations: {}, containerOps: [] };
  // The pod annotation replaces the mesh-wide global.proxy.excludeInboundPorts (Istio reads one
  // or the other), so a pod without one starts from the mesh value, or adding ours would drop it.
  const own = annotations[ISTIO.excludeInboundPorts];
  const excluded = withPort(own ?? (c.istioExcludeInboundPorts.length ? c.istioExcludeInboundPorts.join(',') : undefined), c.adminPort);
  if (excluded !== own) out.annotations[ISTIO.excludeInboundPorts] = excluded;

  const proxy = findProxy(pod);
  if (!proxy) return out; // Istio, if any, runs after us and sees the annotation and the container.
  const port = statusPort(pod);
  const env = new ProxyEnv(proxy);

  // Istio's own reading of the opt-out: Go's ParseBool; a value it cannot parse leaves the mesh
  // setting (sidecarInjectorWebhook.rewriteAppHTTPProbe, default true) in force.
  if (parseGoBool(annotations[ISTIO.rewriteProbes]) !== false && port !== undefined) {
    // Istio's rewrite: kubelet → agent (plain HTTP on the status port, not captured) → our admin port.
    const probers: Record<string, { httpGet: HttpProbe['httpGet']; timeoutSeconds: number }> = {};
    for (const [field, kind] of [
      ['readinessProbe', 'readyz'],
      ['livenessProbe', 'livez'],
    ] as const) {
      const probe = container[field] as HttpProbe;
      const url = `/app-health/${container.name}/${kind}`;
      probers[url] = { httpGet: { ...probe.httpGet }, timeoutSeconds: probe.timeoutSeconds };
      container[field] = { ...probe, httpGet: { path: url, port, scheme: 'HTTP' } };
    }
    env.set(ISTIO.probersEnv, (current) => {
      let existing: unknown = {};
      if (current !== undefined && current !== '') {
        try {
          existing = JSON.parse(current);
        } catch {
          throw new InjectionError(
            `${ISTIO.proxyContainer} env ${ISTIO.probersEnv} is not JSON, so the zt-authz probes cannot be registered with the Istio agent`,
          );
        }
      }
      if (typeof existing !== 'object' || existing === null || Array.isArray(existing))
        throw new InjectionError(`${ISTIO.proxyContainer} env ${ISTIO.probersEnv} is not a JSON object`);
      return JSON.stringify({ ...existing, ...probers });
    });
  }

  // Istio's metrics merge already pointed prometheus.io/port at its agent and found no app
  // annotations to merge: let the agent merge ours. (App annotations it moved there win.)
  if (
    c.prometheusAnnotations &&
    port !== undefined &&
    annotations['prometheus.io/port'] === String(port) &&
    annotations['prometheus.io/scrape'] !== 'false' &&
    !env.has(ISTIO.prometheusEnv)
  ) {
    env.set(ISTIO.prometheusEnv, () => JSON.stringify({ scrape: 'true', port: String(c.adminPort), path: '/metrics' }));
  }
  out.containerOps.push(...env.patch());
  return out;
}
