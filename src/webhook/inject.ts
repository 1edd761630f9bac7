// Sidecar injection: AdmissionReview v1 (a Pod CREATE) in, AdmissionReview v1 with a JSONPatch
// out. Pure functions; the HTTPS listener is server.ts.
//
//  - Pods annotated zt-authz.io/inject: "true" get a zt-authz container whose authz listeners are
//    on 127.0.0.1 (from the sidecar configuration in the ConfigMap of the pod's namespace) and
//    whose admin port (probes, metrics) is on the pod IP.
//  - Idempotent: a pod that already has a container named zt-authz gets no patch, so a
//    re-invoked webhook (reinvocationPolicy: IfNeeded) or a re-submitted pod is left alone.
//  - A pod that asks for injection but cannot get it safely (hostNetwork, a port or volume
//    conflict, a broken object) is rejected with failurePolicy Fail (closed), or admitted
//    unchanged with a warning with Ignore (open).
//  - A body that is not an AdmissionReview v1 with a request uid gets HTTP 400 and a JSON error:
//    without a uid there is nothing to answer.
//  - Istio (istio.ts): the admin port is excluded from inbound capture, and when Istio's
//    injector already ran (its webhook usually sorts first and does not re-run by default) our
//    probes go through its agent, so STRICT mTLS does not block the kubelet's plaintext probes.
//  - Optional prometheus.io/* annotations, only on pods that have none.
import { ANNOTATION } from '../k8s/workloads.js';
import type { InjectConfig, WebhookConfig } from '../config/webhook.js';
import { istioPatch } from './istio.js';
import { InjectionError, pointerToken, type Container, type HttpProbe, type JsonPatchOp, type PodLike } from './types.js';

export const CONTAINER_NAME = 'zt-authz';
export const CONFIG_VOLUME = 'zt-authz-config';
export const CONFIG_DIR = '/etc/zt-authz';
/** Annotation (value: the image) and label (value: "true") on injected pods; the chart's PodMonitor selects the label. */
export const INJECTED_ANNOTATION = 'zt-authz.io/injected';
export const INJECTED_LABEL = 'zt-authz.io/injected';
/** Container port name (≤ 15 characters) of the admin listener. */
export const ADMIN_PORT_NAME = 'ztauthz-admin';

type Obj = Record<string, unknown>;

export type ReviewOutcome = 'injected' | 'not_requested' | 'already_injected' | 'ignored' | 'rejected' | 'failed_open' | 'malformed';

export interface ReviewResult {
  /** HTTP status of the webhook answer (200 whenever there is an AdmissionReview to return). */
  status: number;
  body: unknown;
  outcome: ReviewOutcome;
  /** Why: for logs and the rejection message. */
  detail?: string;
  /** The patch, when one is sent (tests, logs). */
  patch?: JsonPatchOp[];
}

/** The container added to annotated pods. */
export function sidecarContainer(c: InjectConfig): Container {
  const probe = (path: string, periodSeconds: number, failureThreshold: number): HttpProbe => ({
    httpGet: { path, port: c.adminPort, scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  const resources: Obj = {};
  if (Object.keys(c.resources.requests).length) resources.requests = { ...c.resources.requests };
  if (Object.keys(c.resources.limits).length) resources.limits = { ...c.resources.limits };
  return {
    name: CONTAINER_NAME,
    image: c.image,
    imagePullPolicy: c.imagePullPolicy,
    // The image's ENTRYPOINT is `node dist/src/cli/main.js serve`.
    args: ['--config', `${CONFIG_DIR}/config.yaml`],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      ...c.env.map((e) => ({ name: e.name, value: e.value })),
    ],
    ports: [{ name: ADMIN_PORT_NAME, containerPort: c.adminPort, protocol: 'TCP' }],
    readinessProbe: probe('/readyz', 5, 3),
    livenessProbe: probe('/healthz', 10, 3),
    resources,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: c.runAsUser,
      runAsGroup: c.runAsUser,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true }],
  };
}

export function sidecarVolume(c: InjectConfig): Obj {
  return { name: CONFIG_VOLUME, configMap: { name: c.configMap, items: [{ key: c.configKey, path: 'config.yaml' }] } };
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Containers that run beside the app: regular ones and native sidecars (init, restartPolicy Always). */
function runningContainers(spec: NonNullable<PodLike['spec']>): Container[] {
  return [...(spec.containers ?? []), ...(spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')];
}

/** Checks the pod shape we rely on; throws InjectionError with a message fit for `kubectl`. */
function checkPod(raw: unknown): PodLike {
  if (!isObj(raw)) throw new InjectionError('request.object is not a Pod object');
  const spec = raw.spec;
  if (!isObj(spec)) throw new InjectionError('pod has no spec');
  if (!Array.isArray(spec.containers) || spec.containers.some((c) => !isObj(c) || typeof c.name !== 'string')) {
    throw new InjectionError('pod spec.containers must be a list of named containers');
  }
  for (const key of ['initContainers', 'volumes'] as const) {
    if (spec[key] !== undefined && (!Array.isArray(spec[key]) || (spec[key] as unknown[]).some((c) => !isObj(c)))) {
      throw new InjectionError(`pod spec.${key} must be a list`);
    }
  }
  if (raw.metadata !== undefined && !isObj(raw.metadata)) throw new InjectionError('pod metadata must be an object');
  for (const key of ['annotations', 'labels'] as const) {
    const map = raw.metadata?.[key];
    if (map !== undefined && map !== null && !isObj(map)) throw new InjectionError(`pod metadata.${key} must be a map`);
  }
  return raw;
}

function hasSidecar(pod: PodLike): boolean {
  return [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some((c) => c.name === CONTAINER_NAME);
}

/**
 * The JSONPatch that injects zt-authz into `pod`, or [] when the pod does not ask for it or
 * already has it. Throws InjectionError when the pod asks for it but cannot safely get it.
 */
export function injectionPatch(
  rawPod: unknown,
  c: InjectConfig,
): { patch: JsonPatchOp[]; outcome: 'injected' | 'not_requested' | 'already_injected'; warning?: string } {
  const pod = checkPod(rawPod);
  const value = pod.metadata?.annotations?.[ANNOTATION.inject];
  if (value === undefined || value === 'false') return { patch: [], outcome: 'not_requested' };
  if (value !== 'true') {
    return {
      patch: [],
      outcome: 'not_requested',
      warning: `${ANNOTATION.inject}: "${value}" is neither "true" nor "false": zt-authz not injected`,
    };
  }
  if (hasSidecar(pod)) return { patch: [], outcome: 'already_injected' };

  const spec = pod.spec!;
  if (spec.hostNetwork)
    throw new InjectionError(
      `hostNetwork pods share the node's 127.0.0.1, so zt-authz cannot be injected (remove ${ANNOTATION.inject} or hostNetwork)`,
    );
  const ours = new Map<number, string>([
    [c.grpcPort, 'gRPC'],
    [c.httpPort, 'HTTP authz'],
    [c.adminPort, 'admin'],
  ]);
  for (const ct of runningContainers(spec)) {
    for (const p of ct.ports ?? []) {
      if (p.containerPort !== undefined && ours.has(p.containerPort) && (p.protocol ?? 'TCP') === 'TCP') {
        throw new InjectionError(
          `container "${ct.name}" uses port ${p.containerPort}, which the zt-authz sidecar needs (${ours.get(p.containerPort)}); change the webhook.inject ports and the sidecar configuration`,
        );
      }
    }
  }
  if ((spec.volumes ?? []).some((v) => v.name === CONFIG_VOLUME)) {
    throw new InjectionError(`pod already has a volume named "${CONFIG_VOLUME}" but no ${CONTAINER_NAME} container`);
  }

  const container = sidecarContainer(c);
  // May route the container's probes through istio-proxy (so before the container is added).
  const istio = istioPatch(pod, c, container);
  const patch: JsonPatchOp[] = [{ op: 'add', path: '/spec/containers/-', value: container }];
  patch.push(
    spec.volumes
      ? { op: 'add', path: '/spec/volumes/-', value: sidecarVolume(c) }
      : { op: 'add', path: '/spec/volumes', value: [sidecarVolume(c)] },
  );
  patch.push(...istio.containerOps);
  // The pod has annotations (it asked for injection with one); `add` on an existing member replaces it (RFC 6902).
  const annotate = (key: string, value: string): JsonPatchOp => ({ op: 'add', path: `/metadata/annotations/${pointerToken(key)}`, value });
  patch.push(annotate(INJECTED_ANNOTATION, c.image));
  for (const [key, value] of Object.entries(istio.annotations)) patch.push(annotate(key, value));
  if (c.prometheusAnnotations && !hasPrometheusAnnotation(pod)) {
    for (const [key, value] of Object.entries(prometheusAnnotations(c))) patch.push(annotate(key, value));
  }
  patch.push(
    pod.metadata?.labels
      ? { op: 'add', path: `/metadata/labels/${pointerToken(INJECTED_LABEL)}`, value: 'true' }
      : { op: 'add', path: '/metadata/labels', value: { [INJECTED_LABEL]: 'true' } },
  );
  return { patch, outcome: 'injected' };
}

/** Scrape annotations for the admin port (Prometheus' kubernetes_sd pod role reads these). */
export function prometheusAnnotations(c: InjectConfig): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(c.adminPort), 'prometheus.io/path': '/metrics' };
}

/**
 * Whether the pod already says something about scraping. Prometheus turns annotation names into
 * label names (every character outside [A-Za-z0-9_] becomes _), so prometheus.io/port,
 * prometheus.io.port and prometheus-io/port are the same setting: any of them is the owner's
 * choice (or Istio's metrics merge), which we leave alone.
 */
export function hasPrometheusAnnotation(pod: PodLike): boolean {
  return Object.keys(pod.metadata?.annotations ?? {}).some((k) =>
    /^prometheus_io_(scrape|port|path)$/.test(k.replace(/[^A-Za-z0-9_]/g, '_')),
  );
}

const REVIEW = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' } as const;

function malformed(detail: string): ReviewResult {
  return { status: 400, outcome: 'malformed', detail, body: { error: 'malformed_admission_review', message: detail } };
}

/** Handles one AdmissionReview (already JSON-parsed). */
export function handleAdmissionReview(raw: unknown, cfg: WebhookConfig): ReviewResult {
  if (!isObj(raw)) return malformed('body must be a JSON AdmissionReview object');
  if (raw.apiVersion !== REVIEW.apiVersion || raw.kind !== REVIEW.kind) {
    return malformed(
      `expected apiVersion ${REVIEW.apiVersion}, kind ${REVIEW.kind}; got ${String(raw.apiVersion)}, ${String(raw.kind)} (register the webhook with admissionReviewVersions: [v1])`,
    );
  }
  const req = raw.request;
  if (!isObj(req)) return malformed('AdmissionReview has no request');
  if (typeof req.uid !== 'string' || req.uid === '') return malformed('AdmissionReview request has no uid');
  const uid = req.uid;
  const answer = (response: Obj): Obj => ({ ...REVIEW, response: { uid, ...response } });

  const kind = isObj(req.kind) ? req.kind : {};
  const isPod = (kind.group ?? '') === '' && kind.kind === 'Pod' && (req.subResource ?? '') === '';
  if (!isPod || req.operation !== 'CREATE') {
    return { status: 200, outcome: 'ignored', detail: `${String(kind.kind)} ${String(req.operation)}`, body: answer({ allowed: true }) };
  }

  const obj = req.object;
  let result: ReturnType<typeof injectionPatch>;
  try {
    // The namespace of a pod being created is in the request; the object may not carry it.
    result = injectionPatch(obj, cfg.inject);
  } catch (err) {
    const detail = err instanceof InjectionError ? err.message : `unexpected error: ${(err as Error).message}`;
    if (cfg.failurePolicy === 'Ignore') {
      return {
        status: 200,
        outcome: 'failed_open',
        detail,
        body: answer({ allowed: true, warnings: [`zt-authz sidecar not injected: ${detail}`] }),
      };
    }
    return {
      status: 200,
      outcome: 'rejected',
      detail,
      body: answer({
        allowed: false,
        status: { code: 400, reason: 'BadRequest', message: `zt-authz sidecar injection failed: ${detail}` },
      }),
    };
  }
  const warnings = result.warning ? { warnings: [result.warning] } : {};
  if (!result.patch.length) return { status: 200, outcome: result.outcome, body: answer({ allowed: true, ...warnings }) };
  const patch = Buffer.from(JSON.stringify(result.patch)).toString('base64');
  return {
    status: 200,
    outcome: 'injected',
    patch: result.patch,
    body: answer({ allowed: true, patchType: 'JSONPatch', patch, ...warnings }),
  };
}

/** "<namespace>/<name or generateName*>" of the pod in a review, for logs. */
export function podRef(raw: unknown): string {
  if (!isObj(raw) || !isObj(raw.request)) return '?';
  const req = raw.request;
  const meta = isObj(req.object) && isObj(req.object.metadata) ? req.object.metadata : {};
  const name =
    typeof meta.name === 'string' && meta.name ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '?';
  return `${typeof req.namespace === 'string' ? req.namespace : '?'}/${name}`;
}
