// grpc.health.v1: SERVING only while the service can decide (keys + policies loaded, not draining).
// Service names accepted: "" (whole server) and the two Authorization services.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { AUTH_V2_SERVICE, AUTH_V3_SERVICE } from './protos.js';

type Status = 'SERVING' | 'NOT_SERVING';
export type HealthStatus = Status;
/** The service names health answers for (both gRPC implementations read this one set). */
export const HEALTH_SERVICES: ReadonlySet<string> = new Set(['', AUTH_V3_SERVICE, AUTH_V2_SERVICE]);

export class HealthState {
  private readonly events = new EventEmitter();
  private last: Status = 'NOT_SERVING';

  constructor(private readonly serving: () => boolean) {
    this.events.setMaxListeners(0);
  }

  get status(): Status {
    return this.serving() ? 'SERVING' : 'NOT_SERVING';
  }

  /** Re-evaluate and notify watchers when the status changed. */
  update(): void {
    const now = this.status;
    if (now !== this.last) {
      this.last = now;
      this.events.emit('change', now);
    }
  }

  /**
   * Drain: watchers have been told NOT_SERVING (update() runs first); end their streams so an
   * idle health watcher does not hold the graceful shutdown open until the drain deadline.
   */
  endWatches(): void {
    this.events.emit('end');
  }

  /**
   * A watch on either gRPC server: each status change, and the drain's end of every watch.
   * Returns the unsubscribe function.
   */
  subscribe(onStatus: (s: Status) => void, onEnd: () => void): () => void {
    this.events.on('change', onStatus);
    this.events.on('end', onEnd);
    return () => {
      this.events.off('change', onStatus);
      this.events.off('end', onEnd);
    };
  }

  handlers(): grpc.UntypedServiceImplementation {
    return {
      Check: (call: grpc.ServerUnaryCall<{ service?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const service = call.request?.service ?? '';
        if (!HEALTH_SERVICES.has(service)) return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
        cb(null, { status: this.status });
      },
      Watch: (call: grpc.ServerWritableStream<{ service?: string }, unknown>) => {
        const service = call.request?.service ?? '';
        if (!HEALTH_SERVICES.has(service)) {
          call.write({ status: 'SERVICE_UNKNOWN' });
          return; // per the health protocol the stream stays open for unknown services
        }
        call.write({ status: this.status });
        const stop = this.subscribe(
          (s) => call.write({ status: s }),
          () => {
            stop();
            call.end();
          },
        );
        call.on('cancelled', stop);
        call.on('close', stop);
        call.on('error', stop);
      },
    };
  }
}
