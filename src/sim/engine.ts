import { SimClock } from './clock.js';
import { extendBlockHashes } from './block-hash.js';
import { stepDurationMs, type StepWork } from './cost-model.js';
import { KvCache } from './kv-cache.js';
import type { KvEventRecorder } from './kv-event-recorder.js';
import { LoraSlots } from './lora.js';
import type { SimOptions } from './options.js';
import { SimRequest, type RequestInput } from './sequence.js';

// The engine loop: a step scheduler in the manner of vLLM's V1 scheduler. Each step
//   1. gives every running request (oldest first) its next tokens — one for a decode, a chunk for a prefill — out
//      of a per-step token budget, preempting the newest running requests (recompute) when KV blocks run out;
//   2. if nothing was preempted, admits waiting requests that have arrived by the step's start, in FCFS order,
//      while sequences, budget and blocks allow, matching their prompt against the prefix cache (a request for an
//      adapter that has no slot is skipped);
//   3. lasts as long as the cost model says, in simulated time, mapped to wall-clock time by the time scale;
//   4. at its end, emits one token for each request whose tokens are all computed and frees finished requests.

export interface EngineObserver {
  /** A request was matched against the prefix cache on admission (tokens looked up / found). */
  prefixLookup(queriedTokens: number, hitTokens: number): void;
  /**
   * On first admission, what a KV connector provided beyond the local prefix cache (tokens looked up / found): the
   * prompt KV a P/D prefill engine sent (vLLM counts these as external prefix cache hits).
   */
  externalLookup?(queriedTokens: number, hitTokens: number): void;
  preempted(): void;
  firstToken(req: SimRequest, ttftSec: number): void;
  /** Wall time between two consecutive tokens of one request. */
  tokenGap(seconds: number): void;
  finished(req: SimRequest, e2eSec: number, queueSec: number): void;
  /** After every step, with the scheduler state it left. */
  stepDone(generatedTokens: number, snapshot: EngineSnapshot): void;
}

export interface EngineSnapshot {
  running: number;
  waiting: number;
  kvUsage: number;
  numBlocks: number;
  blockSize: number;
  freeBlocks: number;
  cachedBlocks: number;
  runningLoras: string[];
  waitingLoras: string[];
  residentLoras: string[];
  maxLoras: number;
  preemptions: number;
  steps: number;
  /** Prompt tokens this engine computed (not found in its prefix cache, not sent by a P/D prefill engine). */
  computedPromptTokens: number;
  /** Prompt tokens whose KV a P/D prefill engine sent instead. */
  remotePromptTokens: number;
  /** KV blocks of finished requests kept for a P/D decode engine to read. */
  heldBlocks: number;
}

interface ScheduledEntry {
  req: SimRequest;
  numNew: number;
}

interface Step {
  entries: ScheduledEntry[];
  endSim: number;
}

// Run at most this many overdue steps back to back before yielding to I/O.
const MAX_SYNC_STEPS = 64;
// Wall-clock lag (ms) after which the clock is re-anchored rather than caught up.
const MAX_LAG_MS = 10;

export class Engine {
  readonly kv: KvCache;
  readonly lora: LoraSlots;
  readonly clock: SimClock;
  private readonly waiting: SimRequest[] = [];
  private readonly running: SimRequest[] = [];
  private inflight: Step | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakePending = false;
  private stopped = false;
  private nextId = 1;
  private preemptions = 0;
  private steps = 0;
  private lastEndSim = 0;
  private completingAt: number | undefined;
  private computedPromptTokens = 0;
  private remotePromptTokens = 0;
  private heldBlocks = 0;
  private kvEvents: KvEventRecorder | undefined;

  constructor(
    readonly options: SimOptions,
    private readonly observer?: EngineObserver,
    clock?: SimClock,
  ) {
    this.kv = new KvCache(options.kvBlocks, options.blockSize);
    this.lora = new LoraSlots(new Set(options.loras), options.maxLoras);
    this.clock = clock ?? new SimClock(options.timeScale);
  }

  /** Publishes the cache's changes as KV-cache events from now on. */
  recordKvEvents(recorder: KvEventRecorder): void {
    this.kvEvents = recorder;
    this.kv.onEvict = (block) => recorder.removed(block);
  }

  /** Longest prompt + output a request may have. */
  get maxModelLen(): number {
    return this.options.maxModelLen;
  }

  /** Queues a request; throws RangeError if it can never fit or names an unknown adapter. */
  submit(input: RequestInput): SimRequest {
    if (this.stopped) throw new Error('engine stopped');
    if (input.promptTokens.length < 1) throw new RangeError('empty prompt');
    if (!Number.isInteger(input.maxTokens) || input.maxTokens < 1) throw new RangeError('maxTokens must be >= 1');
    if (input.promptTokens.length + input.maxTokens > this.maxModelLen) {
      throw new RangeError(`prompt + max tokens exceed ${this.maxModelLen}`);
    }
    if (input.lora !== null && !this.lora.adapters.has(input.lora)) throw new RangeError(`unknown adapter ${input.lora}`);
    const req = new SimRequest(this.nextId++, input, this.options.seed, this.options.blockSize);
    req.arrivalWall = this.clock.wallNow();
    // While a step runs (or is being completed, when a sink submits the next request) the newcomer can join only at
    // its end: never stamp it later than that, even if the host lags behind the simulated clock.
    const now = this.clock.simNow();
    const busyUntil = this.inflight?.endSim ?? this.completingAt;
    req.arrivalSim = busyUntil === undefined ? now : Math.min(now, busyUntil);
    // Keep the queue in arrival order: a request stamped while the engine was idle may carry a later simulated
    // time than one a sink submits from inside a step that is catching up.
    let at = this.waiting.length;
    while (at > 0 && this.waiting[at - 1]!.arrivalSim > req.arrivalSim) at--;
    this.waiting.splice(at, 0, req);
    this.wake();
    return req;
  }

  /** Drops a waiting or running request and frees its blocks and adapter slot. */
  abort(req: SimRequest): void {
    if (req.status === 'waiting') {
      const i = this.waiting.indexOf(req);
      if (i >= 0) this.waiting.splice(i, 1);
    } else if (req.status === 'running') {
      this.removeRunning(req);
    } else {
      return;
    }
    req.status = 'aborted';
  }

  /** Frees the KV blocks a finished `holdKv` request kept. Idempotent. */
  releaseHeld(req: SimRequest): void {
    if (req.status !== 'finished' || req.blocks.length === 0) return;
    this.heldBlocks -= req.blocks.length;
    this.kv.release(req.blocks);
    req.blocks = [];
  }

  snapshot(): EngineSnapshot {
    const loras = (list: readonly SimRequest[]): string[] => [
      ...new Set(list.flatMap((r) => (r.lora === null ? [] : [r.lora]))),
    ];
    return {
      running: this.running.length,
      waiting: this.waiting.length,
      kvUsage: this.kv.usage(),
      numBlocks: this.kv.numBlocks,
      blockSize: this.kv.blockSize,
      freeBlocks: this.kv.numFree,
      cachedBlocks: this.kv.numCached,
      runningLoras: loras(this.running),
      waitingLoras: loras(this.waiting),
      residentLoras: this.lora.residentAdapters(),
      maxLoras: this.lora.maxLoras,
      preemptions: this.preemptions,
      steps: this.steps,
      computedPromptTokens: this.computedPromptTokens,
      remotePromptTokens: this.remotePromptTokens,
      heldBlocks: this.heldBlocks,
    };
  }

  /** Stops the loop and drops every request without notifying their sinks. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inflight = undefined;
    for (const req of [...this.running, ...this.waiting]) this.abort(req);
  }

  private wake(): void {
    if (this.inflight || this.wakePending || this.stopped) return;
    this.wakePending = true;
    // The first step starts when the first request arrived, not when this callback runs: host overhead must not
    // count as (scaled-up) simulated GPU time.
    setImmediate(() => {
      this.wakePending = false;
      if (this.inflight || this.stopped) return;
      const first = this.earliestArrival();
      if (first !== undefined) this.pump(Math.max(this.lastEndSim, first));
    });
  }

  /** Runs steps from simulated time `start` until idle or until a step ends in the future (then waits for it). */
  private pump(start: number): void {
    let t = start;
    for (let n = 0; ; n++) {
      const entries = this.schedule(t);
      if (entries === undefined) {
        // Idle until the next arrival (if it is already known, it is in the past of the wall clock).
        const next = this.earliestArrival();
        if (next === undefined || next <= t) return;
        t = next;
        continue;
      }
      const step: Step = { entries: entries.entries, endSim: t + entries.durationMs };
      const delay = this.clock.wallAt(step.endSim) - this.clock.wallNow();
      if (delay > 0 || n >= MAX_SYNC_STEPS) {
        this.inflight = step;
        this.timer = setTimeout(() => this.onStepTimer(), Math.max(0, delay));
        return;
      }
      this.catchUp(step.endSim);
      this.complete(step);
      t = step.endSim;
    }
  }

  private onStepTimer(): void {
    const step = this.inflight;
    this.timer = undefined;
    this.inflight = undefined;
    if (!step || this.stopped) return;
    this.catchUp(step.endSim);
    this.complete(step);
    this.pump(step.endSim);
  }

  /**
   * Re-anchors the clock at a step's end when the host lags too far behind it (always, in virtual time). Requests
   * already queued arrived before now, so under the new mapping they arrived by the step's end at the latest.
   */
  private catchUp(endSim: number): void {
    if (this.clock.wallNow() - this.clock.wallAt(endSim) <= MAX_LAG_MS) return;
    this.clock.reanchor(endSim);
    for (const req of this.waiting) req.arrivalSim = Math.min(req.arrivalSim, endSim);
  }

  private schedule(startSim: number): { entries: ScheduledEntry[]; durationMs: number } | undefined {
    const { blockSize, maxNumBatchedTokens, maxNumSeqs } = this.options;
    let budget = maxNumBatchedTokens;
    const entries: ScheduledEntry[] = [];
    let preempted = false;
    let loraLoads = 0;

    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const req = this.running[i]!;
      const numNew = Math.min(req.tokens.length - req.numComputed, budget);
      let ok = this.growBlocks(req, numNew);
      while (!ok) {
        const victim = this.running[this.running.length - 1]!;
        this.preempt(victim);
        preempted = true;
        if (victim === req) break;
        ok = this.growBlocks(req, numNew);
      }
      if (!ok) break;
      entries.push({ req, numNew });
      budget -= numNew;
    }

    // Like vLLM, admit nobody in a step that had to preempt (the cache is under pressure).
    if (!preempted || entries.length === 0) {
      for (let i = 0; i < this.waiting.length && budget > 0 && this.running.length < maxNumSeqs; ) {
        const req = this.waiting[i]!;
        // The queue is in arrival order (preempted requests first): the rest have not arrived yet.
        if (req.arrivalSim > startSim) break;
        if (req.lora !== null && !this.lora.canRun(req.lora)) {
          i++;
          continue;
        }
        extendBlockHashes(req.blockHashes, req.tokens, blockSize, req.hashRoot);
        // At least one token must be computed to produce the next one.
        const hits = this.kv.matchPrefix(req.blockHashes, Math.floor((req.tokens.length - 1) / blockSize));
        const hitTokens = hits.length * blockSize;
        // KV sent by a P/D prefill engine counts on first admission only: a preempted request lost it and recomputes.
        const remote = req.admitted ? 0 : Math.max(0, Math.min(req.remotePrefixTokens, req.tokens.length - 1) - hitTokens);
        const known = hitTokens + remote;
        const numNew = Math.min(req.tokens.length - known, budget);
        const fresh = Math.ceil((known + numNew) / blockSize) - hits.length;
        if (fresh + this.kv.countUnreferenced(hits) > this.kv.numFree) break;
        this.kv.touch(hits);
        req.blocks = [...hits, ...this.kv.allocate(fresh)!];
        req.numComputed = known;
        req.numRegistered = hits.length;
        this.waiting.splice(i, 1);
        this.observer?.prefixLookup(req.tokens.length, hitTokens);
        if (!req.admitted) {
          req.admitted = true;
          req.cachedPromptTokens = Math.min(known, req.promptLen);
          req.firstScheduledSim = startSim;
          this.remotePromptTokens += remote;
          this.observer?.externalLookup?.(req.tokens.length, remote);
        }
        if (req.lora !== null && this.lora.activate(req.lora)) loraLoads++;
        req.status = 'running';
        this.running.push(req);
        entries.push({ req, numNew });
        budget -= numNew;
      }
    }

    if (entries.length === 0) return undefined;
    const work: StepWork = { seqs: entries.length, computedTokens: 0, contextTokens: 0, loraLoads, hasLora: false };
    for (const { req, numNew } of entries) {
      work.computedTokens += numNew;
      work.contextTokens += req.numComputed + numNew;
      if (req.lora !== null) work.hasLora = true;
    }
    return { entries, durationMs: stepDurationMs(this.options.cost, work, this.options.speed) };
  }

  private earliestArrival(): number | undefined {
    let first: number | undefined;
    for (const req of this.waiting) if (first === undefined || req.arrivalSim < first) first = req.arrivalSim;
    return first;
  }

  /** Makes room for `numNew` more tokens of a running request; false if the cache has too few free blocks. */
  private growBlocks(req: SimRequest, numNew: number): boolean {
    const need = Math.ceil((req.numComputed + numNew) / this.options.blockSize) - req.blocks.length;
    if (need <= 0) return true;
    const got = this.kv.allocate(need);
    if (got === null) return false;
    req.blocks.push(...got);
    return true;
  }

  /** Recompute-style preemption of the newest running request: it goes back to the head of the queue. */
  private preempt(req: SimRequest): void {
    this.removeRunning(req);
    req.status = 'waiting';
    req.numComputed = 0;
    req.numRegistered = 0;
    req.preemptions++;
    this.preemptions++;
    this.waiting.unshift(req);
    this.observer?.preempted();
  }

  private removeRunning(req: SimRequest, keepBlocks = false): void {
    const i = this.running.indexOf(req);
    if (i >= 0) this.running.splice(i, 1);
    if (!keepBlocks) {
      this.kv.release(req.blocks);
      req.blocks = [];
    }
    if (req.lora !== null) this.lora.deactivate(req.lora);
  }

  private complete(step: Step): void {
    this.completingAt = step.endSim;
    try {
      this.finishStep(step);
    } finally {
      this.completingAt = undefined;
    }
  }

  private finishStep(step: Step): void {
    this.steps++;
    this.lastEndSim = step.endSim;
    const wallNow = this.clock.wallNow();
    let generated = 0;
    for (const { req, numNew } of step.entries) {
      // Aborted or preempted while the step ran: its work is void.
      if (req.status !== 'running') continue;
      this.computedPromptTokens += Math.max(0, Math.min(req.promptLen, req.numComputed + numNew) - req.numComputed);
      req.numComputed += numNew;
      this.registerComputedBlocks(req);
      if (req.numComputed < req.tokens.length) continue;

      const token = req.next();
      req.tokens.push(token.id);
      generated++;
      if (req.firstTokenSim === undefined) {
        req.firstTokenSim = step.endSim;
        req.firstTokenWall = wallNow;
        this.observer?.firstToken(req, (wallNow - req.arrivalWall) / 1000);
      } else {
        this.observer?.tokenGap((wallNow - req.lastTokenWall!) / 1000);
      }
      req.lastTokenWall = wallNow;
      const last = req.numOutput >= req.maxTokens;
      req.sink.onToken(token.text, last);
      if (last && req.status === 'running') {
        this.removeRunning(req, req.holdKv);
        if (req.holdKv) this.heldBlocks += req.blocks.length;
        req.status = 'finished';
        req.finishSim = step.endSim;
        req.finishWall = wallNow;
        const queueSec = ((req.firstScheduledSim ?? req.arrivalSim) - req.arrivalSim) * this.options.timeScale / 1000;
        this.observer?.finished(req, (wallNow - req.arrivalWall) / 1000, queueSec);
        req.sink.onFinish(req);
      }
    }
    this.kvEvents?.flush();
    this.observer?.stepDone(generated, this.snapshot());
  }

  /** Registers the request's newly completed full blocks in the prefix cache. */
  private registerComputedBlocks(req: SimRequest): void {
    const { blockSize } = this.options;
    const full = Math.floor(req.numComputed / blockSize);
    if (full <= req.numRegistered) return;
    extendBlockHashes(req.blockHashes, req.tokens, blockSize, req.hashRoot);
    const stored: number[] = [];
    for (let b = req.numRegistered; b < full; b++) {
      if (this.kv.register(req.blocks[b]!, req.blockHashes[b]!)) stored.push(b);
    }
    if (this.kvEvents && stored.length > 0) this.kvEvents.stored(req, stored, stored.map((b) => req.blocks[b]!));
    req.numRegistered = full;
  }
}
