import { DroppedReason } from '../../core/drop-reason.js';

// Queuing admission control in front of the scheduler (flowControl.queueing). While some endpoint can take work,
// requests pass straight through. When every endpoint is saturated, requests wait in per-flow queues instead of piling
// onto engine queues, and leave in priority order, then weighted-fair order across flows, as capacity frees up.
// Sheddable requests (priority < 0) are refused with 429 under saturation; a request that waits longer than
// maxQueueTimeMs, or that does not fit in maxQueueSize, is refused with 429 as well.

export interface AdmitRequest {
  flowId: string;
  /** Higher leaves first; below 0 is sheddable. */
  priority: number;
  /** Aborting (client gone) removes the request from its queue. */
  signal?: AbortSignal;
}

/** A refusal: the HTTP status, llm-d's drop reason and a message for the client. */
export interface Refusal {
  admitted: false;
  status: 429 | 503;
  reason: DroppedReason;
  message: string;
}

export type Admission = { admitted: true; done(): void } | Refusal;

export const REFUSALS = {
  sheddable: refusal(429, DroppedReason.saturated, 'every endpoint is saturated: sheddable request dropped'),
  queueFull: refusal(429, DroppedReason.saturated, 'every endpoint is saturated and the queue is full'),
  evicted: refusal(429, DroppedReason.saturated, 'every endpoint is saturated: evicted from the full queue for a fairer request'),
  queueTimeout: refusal(429, DroppedReason.ttlExpired, 'every endpoint stayed saturated for the longest queue time'),
  aborted: refusal(503, DroppedReason.contextCancelled, 'the client went away while the request was queued'),
  shuttingDown: refusal(503, DroppedReason.shuttingDown, 'the router is shutting down'),
} as const;

export interface FlowControllerOptions {
  /** True while no endpoint can take more work (see fleetSaturated). Called often: must be cheap. */
  isSaturated: () => boolean;
  /** Requests held over all flows (default 1000). */
  maxQueueSize?: number;
  /** Longest a request is held before it is refused (default 30 s). */
  maxQueueTimeMs?: number;
  /** Relative share of a flow within its priority (default 1 for every flow). */
  flowWeight?: (flowId: string) => number;
  /** How often saturation is re-checked while requests are held (default 20 ms). */
  pollIntervalMs?: number;
}

interface Entry {
  flowId: string;
  priority: number;
  /** Virtual finish time: weighted-fair order within the priority band. */
  finish: number;
  enqueuedAt: number;
  resolve: (a: Admission) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Flow {
  queue: Entry[];
  lastFinish: number;
}

interface Band {
  flows: Map<string, Flow>;
  /** Virtual time: the finish tag of the last request released from this band. */
  vtime: number;
}

export class FlowController {
  private readonly bands = new Map<number, Band>();
  private size = 0;
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private readonly maxQueueSize: number;
  private readonly maxQueueTimeMs: number;
  private readonly pollIntervalMs: number;
  private readonly weight: (flowId: string) => number;

  constructor(private readonly o: FlowControllerOptions) {
    this.maxQueueSize = o.maxQueueSize ?? 1000;
    this.maxQueueTimeMs = o.maxQueueTimeMs ?? 30_000;
    this.pollIntervalMs = o.pollIntervalMs ?? 20;
    this.weight = o.flowWeight ?? (() => 1);
    if (!(this.maxQueueSize >= 0) || !(this.maxQueueTimeMs > 0) || !(this.pollIntervalMs > 0)) {
      throw new RangeError('flow control: maxQueueSize >= 0, maxQueueTimeMs > 0 and pollIntervalMs > 0 required');
    }
  }

  /** Requests currently held. */
  get queued(): number {
    return this.size;
  }

  admit(r: AdmitRequest): Promise<Admission> {
    if (r.signal?.aborted) return Promise.resolve(REFUSALS.aborted);
    if (this.size === 0 && !this.o.isSaturated()) return Promise.resolve(this.admitted());
    if (r.priority < 0 && this.o.isSaturated()) return Promise.resolve(REFUSALS.sheddable);
    if (this.size >= this.maxQueueSize && !this.makeRoom(r)) return Promise.resolve(REFUSALS.queueFull);
    return new Promise((resolve) => {
      const band = this.band(r.priority);
      let flow = band.flows.get(r.flowId);
      if (!flow) band.flows.set(r.flowId, (flow = { queue: [], lastFinish: 0 }));
      const w = this.weight(r.flowId);
      const finish = Math.max(band.vtime, flow.lastFinish) + 1 / (w > 0 ? w : 1);
      flow.lastFinish = finish;
      const e: Entry = { flowId: r.flowId, priority: r.priority, finish, enqueuedAt: Date.now(), resolve, signal: r.signal };
      if (r.signal) {
        e.onAbort = () => this.drop(e, REFUSALS.aborted);
        r.signal.addEventListener('abort', e.onAbort, { once: true });
      }
      flow.queue.push(e);
      this.size++;
      this.schedule();
    });
  }

  /** Refuses everything held and stops the timers. */
  close(): void {
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    for (const band of this.bands.values()) {
      for (const flow of band.flows.values()) for (const e of [...flow.queue]) this.drop(e, REFUSALS.shuttingDown);
    }
  }

  private admitted(): Admission {
    let done = false;
    return {
      admitted: true,
      done: () => {
        if (done) return;
        done = true;
        if (this.size > 0) this.schedule();
      },
    };
  }

  private band(priority: number): Band {
    let b = this.bands.get(priority);
    if (!b) this.bands.set(priority, (b = { flows: new Map(), vtime: 0 }));
    return b;
  }

  /** Releases one request per turn of the event loop, so each is scheduled (and counted as load) before the next. */
  private schedule(): void {
    if (this.immediate || this.size === 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.pump();
    });
  }

  private pump(): void {
    this.expire();
    if (this.size === 0) return;
    if (this.o.isSaturated()) {
      this.shedSheddable();
      if (this.size > 0 && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.pollIntervalMs);
        this.timer.unref();
      }
      return;
    }
    const e = this.next();
    if (!e) return;
    this.remove(e);
    this.band(e.priority).vtime = e.finish;
    e.resolve(this.admitted());
    this.schedule();
  }

  /** Head of the flow with the smallest finish tag in the highest non-empty priority band. */
  private next(): Entry | undefined {
    let best: Entry | undefined;
    for (const [priority, band] of this.bands) {
      if (best && priority <= best.priority) continue;
      let bandBest: Entry | undefined;
      for (const flow of band.flows.values()) {
        const head = flow.queue[0];
        if (head && (!bandBest || head.finish < bandBest.finish)) bandBest = head;
      }
      if (bandBest) best = bandBest;
    }
    return best;
  }

  private expire(): void {
    const deadline = Date.now() - this.maxQueueTimeMs;
    for (const band of this.bands.values()) {
      for (const flow of band.flows.values()) {
        while (flow.queue[0] && flow.queue[0].enqueuedAt <= deadline) this.drop(flow.queue[0], REFUSALS.queueTimeout);
      }
    }
  }

  private shedSheddable(): void {
    for (const [priority, band] of this.bands) {
      if (priority >= 0) continue;
      for (const flow of band.flows.values()) for (const e of [...flow.queue]) this.drop(e, REFUSALS.sheddable);
    }
  }

  /**
   * Queue full: evicts the newest request of the longest flow in the lowest band at or below r's priority, when that
   * is fairer than refusing r (a lower priority, or a flow longer than r's own by more than one).
   */
  private makeRoom(r: AdmitRequest): boolean {
    const priorities = [...this.bands.keys()].filter((p) => p <= r.priority).sort((a, b) => a - b);
    for (const p of priorities) {
      const band = this.bands.get(p)!;
      const own = p === r.priority ? (band.flows.get(r.flowId)?.queue.length ?? 0) : -1;
      let longest: Flow | undefined;
      for (const [id, flow] of band.flows) {
        if (p === r.priority && id === r.flowId) continue;
        if (!longest || flow.queue.length > longest.queue.length) longest = flow;
      }
      if (longest && longest.queue.length > own + 1) {
        this.drop(longest.queue[longest.queue.length - 1]!, REFUSALS.evicted);
        return true;
      }
    }
    return false;
  }

  private drop(e: Entry, refusal: Refusal): void {
    if (!this.remove(e)) return;
    e.resolve(refusal);
  }

  /** Takes `e` out of its queue; false if it already left. */
  private remove(e: Entry): boolean {
    const band = this.bands.get(e.priority);
    const flow = band?.flows.get(e.flowId);
    const i = flow ? flow.queue.indexOf(e) : -1;
    if (i < 0) return false;
    flow!.queue.splice(i, 1);
    this.size--;
    if (e.onAbort) e.signal?.removeEventListener('abort', e.onAbort);
    if (flow!.queue.length === 0) band!.flows.delete(e.flowId);
    if (band!.flows.size === 0) this.bands.delete(e.priority);
    return true;
  }
}

function refusal(status: 429 | 503, reason: DroppedReason, message: string): Refusal {
  return Object.freeze({ admitted: false, status, reason, message });
}
