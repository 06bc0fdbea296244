import type { Endpoint } from '../datastore/endpoint.js';
import { FlowController, REFUSALS, type Admission } from '../scheduler/fairness/flow-controller.js';
import { flowOf } from '../scheduler/fairness/flow-key.js';
import type { ObjectivePriority } from '../scheduler/fairness/objectives.js';
import { fleetSaturated, type SaturationThresholds } from '../scheduler/fairness/saturation.js';
import type { HeaderMapLike } from './types.js';

export interface AdmissionConfig {
  enabled: boolean;
  /**
   * Hold standard and higher-priority requests in per-flow queues while every endpoint is saturated (llm-d's flow
   * control). Off, the default as in the Go picker: they are routed at once and only sheddable requests are refused.
   */
  queueing: boolean;
  /** With queueing: requests held over all flows of one group. */
  maxQueueSize: number;
  /** Longest a request is held while every endpoint is saturated; keep it under the gateway's decision deadline. */
  maxQueueTimeMs: number;
  saturation: SaturationThresholds;
  /**
   * Whether a client may raise its priority with a number in the objective header. Lowering it (negative =
   * sheddable) is always honoured; raising it is a routing privilege a client must not grant itself unless the gateway
   * sets the header. A header naming an InferenceObjective gets that object's priority either way: the operator set it.
   */
  trustPriorityHeader: boolean;
}

/**
 * Admission per routing group. Sheddable requests (priority < 0) are refused while every endpoint of the group is
 * saturated; the others pass straight through, or, with `queueing`, wait in the group's FlowController.
 */
export class AdmissionControl {
  private readonly controllers = new Map<string, FlowController>();

  /** `objectivePriority` resolves objective header values to InferenceObjective priorities (none: numbers only). */
  constructor(
    private readonly config: AdmissionConfig,
    private readonly endpointsOf: (group: string) => readonly Endpoint[],
    private readonly objectivePriority?: ObjectivePriority,
  ) {}

  admit(group: string, headers: HeaderMapLike, user: string | undefined): Promise<Admission> {
    const lookup = this.objectivePriority;
    const { flowId, priority, fromObjective } = flowOf(headers, user, lookup && ((name) => lookup(group, name)));
    const effective = fromObjective || this.config.trustPriorityHeader ? priority : Math.min(priority, 0);
    if (this.config.queueing) return this.controller(group).admit({ flowId, priority: effective });
    if (effective < 0 && this.saturated(group)) return Promise.resolve(REFUSALS.sheddable);
    return Promise.resolve(ADMITTED);
  }

  private saturated(group: string): boolean {
    return fleetSaturated(this.endpointsOf(group), this.config.saturation);
  }

  close(): void {
    for (const c of this.controllers.values()) c.close();
    this.controllers.clear();
  }

  private controller(group: string): FlowController {
    let c = this.controllers.get(group);
    if (!c) {
      c = new FlowController({
        isSaturated: () => this.saturated(group),
        maxQueueSize: this.config.maxQueueSize,
        maxQueueTimeMs: this.config.maxQueueTimeMs,
      });
      this.controllers.set(group, c);
    }
    return c;
  }
}

/** Without queueing nothing is held, so there is no slot to give back. */
const ADMITTED: Admission = { admitted: true, done: () => undefined };
