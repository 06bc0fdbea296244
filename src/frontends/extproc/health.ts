import * as grpc from '@grpc/grpc-js';
import { EXT_PROC_SERVICE } from './proto.js';

// grpc.health.v1 for Envoy and Kubernetes probes. `liveness` answers SERVING while the process runs;
// `""`, `readiness`, the ext_proc service and `inference-extension` (the name the Gateway API Inference Extension's
// chart probes, so its probe settings work unchanged) follow readiness (synced, and leader where that applies) and
// turn NOT_SERVING while draining. Check on an unknown name fails with NOT_FOUND (per the gRPC health
// spec); Watch reports SERVICE_UNKNOWN and keeps watching.

export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
export type ServingStatusValue = (typeof ServingStatus)[keyof typeof ServingStatus];

const READINESS_SERVICES = new Set(['', 'readiness', EXT_PROC_SERVICE, 'inference-extension']);
const LIVENESS_SERVICE = 'liveness';

interface HealthRequest {
  service?: string;
}
interface HealthResponse {
  status: number;
}
interface Watcher {
  service: string;
  call: grpc.ServerWritableStream<HealthRequest, HealthResponse>;
  /** Last status sent, -1 before the first. */
  last: number;
}

export class HealthState {
  private ready = false;
  private draining = false;
  private readonly watchers = new Set<Watcher>();
  private lastCheckedAt = Number.NEGATIVE_INFINITY;

  setReady(ready: boolean): void {
    this.ready = ready;
    this.notify();
  }

  /** Readiness turns NOT_SERVING for good: the server is going away. */
  setDraining(): void {
    this.draining = true;
    this.notify();
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** The status of a service name, or undefined when the name is unknown. */
  statusOf(service: string): ServingStatusValue | undefined {
    if (service === LIVENESS_SERVICE) return ServingStatus.SERVING;
    if (!READINESS_SERVICES.has(service)) return undefined;
    return this.ready && !this.draining ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  /**
   * Someone acts on this state: a Watch is open, or a Check came in within `withinMs`. A gateway or kubelet
   * that health-checks the router must see NOT_SERVING before the listener goes away.
   */
  isObserved(withinMs: number, now = Date.now()): boolean {
    return this.watchers.size > 0 || now - this.lastCheckedAt <= withinMs;
  }

  /** Ends every Watch stream (on shutdown, so connections can close). */
  closeWatchers(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  /** The grpc.health.v1.Health implementation bound to this state. */
  handlers(): grpc.UntypedServiceImplementation {
    return {
      Check: (
        call: grpc.ServerUnaryCall<HealthRequest, HealthResponse>,
        callback: grpc.sendUnaryData<HealthResponse>,
      ) => {
        this.lastCheckedAt = Date.now();
        const service = call.request.service ?? '';
        const status = this.statusOf(service);
        if (status === undefined) {
          callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${service}"` });
        } else {
          callback(null, { status });
        }
      },
      Watch: (call: grpc.ServerWritableStream<HealthRequest, HealthResponse>) => {
        const service = call.request.service ?? '';
        const watcher: Watcher = { service, call, last: -1 };
        this.watchers.add(watcher);
        const forget = () => this.watchers.delete(watcher);
        call.on('cancelled', forget);
        call.on('error', forget);
        call.on('close', forget);
        this.push(watcher);
      },
    };
  }

  private notify(): void {
    for (const w of this.watchers) this.push(w);
  }

  private push(w: Watcher): void {
    const status = this.statusOf(w.service) ?? ServingStatus.SERVICE_UNKNOWN;
    if (status === w.last) return;
    w.last = status;
    w.call.write({ status });
  }
}
