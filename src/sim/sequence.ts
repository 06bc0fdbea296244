import { chainRoot, digestTokens, extendBlockHashes } from './block-hash.js';
import { outputGenerator, type OutputGenerator } from './output-text.js';

// One request inside the engine: its tokens (prompt, then outputs as they are generated), KV blocks, progress
// and timestamps, in both simulated and wall-clock milliseconds.

export type RequestStatus = 'waiting' | 'running' | 'finished' | 'aborted';

export interface RequestSink {
  /** One generated token's text; `last` is true for the final token. */
  onToken(text: string, last: boolean): void;
  /** The request finished normally (after its last token). */
  onFinish(req: SimRequest): void;
}

export interface RequestInput {
  promptTokens: readonly number[];
  maxTokens: number;
  lora: string | null;
  sink: RequestSink;
  /**
   * P/D decode side: leading prompt tokens whose KV a prefill engine computed and sent, so this engine does not
   * compute them (at most all but the last prompt token, whose logits yield the first output token).
   */
  remotePrefixTokens?: number;
  /** P/D prefill side: keep the KV blocks when the request finishes, until `Engine.releaseHeld` (a decode read them). */
  holdKv?: boolean;
}

export class SimRequest {
  readonly tokens: number[];
  readonly promptLen: number;
  readonly maxTokens: number;
  readonly lora: string | null;
  readonly sink: RequestSink;
  readonly hashRoot: number;
  readonly blockHashes: number[] = [];
  readonly next: OutputGenerator;
  readonly remotePrefixTokens: number;
  readonly holdKv: boolean;

  status: RequestStatus = 'waiting';
  blocks: number[] = [];
  /** Tokens whose KV is computed (or was found in the prefix cache). */
  numComputed = 0;
  /** Leading blocks already registered in the prefix cache. */
  numRegistered = 0;
  /** Prompt tokens served from the prefix cache at first admission. */
  cachedPromptTokens = 0;
  admitted = false;
  preemptions = 0;

  arrivalSim = 0;
  arrivalWall = 0;
  firstScheduledSim: number | undefined;
  firstTokenSim: number | undefined;
  firstTokenWall: number | undefined;
  lastTokenWall: number | undefined;
  finishSim: number | undefined;
  finishWall: number | undefined;

  constructor(
    readonly id: number,
    input: RequestInput,
    seed: number,
    blockSize: number,
  ) {
    this.tokens = [...input.promptTokens];
    this.promptLen = this.tokens.length;
    this.maxTokens = input.maxTokens;
    this.lora = input.lora;
    this.sink = input.sink;
    this.remotePrefixTokens = input.remotePrefixTokens ?? 0;
    this.holdKv = input.holdKv ?? false;
    this.hashRoot = chainRoot(input.lora);
    extendBlockHashes(this.blockHashes, this.tokens, blockSize, this.hashRoot);
    this.next = outputGenerator(seed, digestTokens(this.tokens) ^ this.hashRoot);
  }

  get numOutput(): number {
    return this.tokens.length - this.promptLen;
  }

  /** Simulated time to first token, once known. */
  get ttftSimMs(): number | undefined {
    return this.firstTokenSim === undefined ? undefined : this.firstTokenSim - this.arrivalSim;
  }

  /** Wall-clock time to first token, once known. */
  get ttftWallMs(): number | undefined {
    return this.firstTokenWall === undefined ? undefined : this.firstTokenWall - this.arrivalWall;
  }

  /** Mean simulated time per output token after the first, once finished. */
  get tpotSimMs(): number | undefined {
    if (this.finishSim === undefined || this.firstTokenSim === undefined || this.numOutput < 2) return undefined;
    return (this.finishSim - this.firstTokenSim) / (this.numOutput - 1);
  }
}
