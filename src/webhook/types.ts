// Shapes shared by the injection modules (inject.ts, istio.ts).
import { ZtAuthzError, type ErrorCode } from '../errors.js';

export type JsonPatchOp = { op: 'add' | 'replace'; path: string; value: unknown };

export interface Container {
  name: string;
  image?: string;
  ports?: Array<{ containerPort?: number; name?: string; protocol?: string }>;
  restartPolicy?: string;
  env?: Array<{ name?: string; value?: unknown; valueFrom?: unknown }>;
  [k: string]: unknown;
}

/** What an HTTP probe of the injected container looks like (Istio may route it through its agent). */
export interface HttpProbe {
  httpGet: { path: string; port: number; scheme: 'HTTP' };
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface PodLike {
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: { containers?: Container[]; initContainers?: Container[]; volumes?: Array<{ name?: string }>; hostNetwork?: boolean };
}

/** A pod cannot be given the sidecar; the message is shown to the `kubectl` user. */
export class InjectionError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_INJECTION';
}

/** JSON Pointer escaping of one reference token (RFC 6901). */
export const pointerToken = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');
