import type { EngineObserver, EngineSnapshot } from './engine.js';
import { Histogram } from './prom-text.js';
import type { SimRequest } from './sequence.js';

// Engine statistics shared by both metric flavours; each flavour (metrics-vllm.ts, metrics-sglang.ts) chooses
// its names, labels and histogram buckets. Latencies are wall-clock seconds, as clients measure them.

export interface LatencyBuckets {
  ttft: readonly number[];
  itl: readonly number[];
  e2e: readonly number[];
}

/** How far back the throughput gauge looks, in slots of SLOT_MS (so the history stays small at any step rate). */
const RECENT_MS = 2000;
const SLOT_MS = 100;
const RECENT_LOOKUPS = 32;

export abstract class EngineMetrics implements EngineObserver {
  protected promptTokens = 0;
  protected generationTokens = 0;
  protected cachedPromptTokens = 0;
  protected prefixQueried = 0;
  protected prefixHits = 0;
  protected externalQueried = 0;
  protected externalHits = 0;
  protected numPreemptions = 0;
  protected requestsFinished = 0;
  protected readonly ttft: Histogram;
  protected readonly itl: Histogram;
  protected readonly e2e: Histogram;
  protected readonly queueTime: Histogram;
  private readonly recentSlots: { slot: number; tokens: number }[] = [];
  private readonly recentLookups: { queried: number; hits: number }[] = [];

  protected constructor(buckets: LatencyBuckets & { queue: readonly number[] }) {
    this.ttft = new Histogram(buckets.ttft);
    this.itl = new Histogram(buckets.itl);
    this.e2e = new Histogram(buckets.e2e);
    this.queueTime = new Histogram(buckets.queue);
  }

  abstract render(snapshot: EngineSnapshot): string;

  prefixLookup(queriedTokens: number, hitTokens: number): void {
    this.prefixQueried += queriedTokens;
    this.prefixHits += hitTokens;
    this.recentLookups.push({ queried: queriedTokens, hits: hitTokens });
    if (this.recentLookups.length > RECENT_LOOKUPS) this.recentLookups.shift();
  }

  externalLookup(queriedTokens: number, hitTokens: number): void {
    this.externalQueried += queriedTokens;
    this.externalHits += hitTokens;
  }

  preempted(): void {
    this.numPreemptions++;
  }

  firstToken(req: SimRequest, ttftSec: number): void {
    this.promptTokens += req.promptLen;
    this.cachedPromptTokens += req.cachedPromptTokens;
    this.ttft.observe(ttftSec);
  }

  tokenGap(seconds: number): void {
    this.itl.observe(seconds);
  }

  finished(_req: SimRequest, e2eSec: number, queueSec: number): void {
    this.requestsFinished++;
    this.e2e.observe(e2eSec);
    this.queueTime.observe(queueSec);
  }

  stepDone(generatedTokens: number, _snapshot: EngineSnapshot): void {
    this.generationTokens += generatedTokens;
    const slot = Math.floor(performance.now() / SLOT_MS);
    const last = this.recentSlots[this.recentSlots.length - 1];
    if (last?.slot === slot) last.tokens += generatedTokens;
    else this.recentSlots.push({ slot, tokens: generatedTokens });
    while (this.recentSlots.length > RECENT_MS / SLOT_MS) this.recentSlots.shift();
  }

  /** Generated tokens per wall-clock second over the last couple of seconds. */
  protected recentThroughput(): number {
    const oldest = Math.floor(performance.now() / SLOT_MS) - RECENT_MS / SLOT_MS;
    let tokens = 0;
    for (const s of this.recentSlots) if (s.slot > oldest) tokens += s.tokens;
    return tokens / (RECENT_MS / 1000);
  }

  /** Prefix-cache hit rate over the last few admissions. */
  protected recentHitRate(): number {
    let queried = 0;
    let hits = 0;
    for (const l of this.recentLookups) {
      queried += l.queried;
      hits += l.hits;
    }
    return queried === 0 ? 0 : hits / queried;
  }
}
