// Learns token usage from a response as it streams by, without holding up any byte: JSON bodies are parsed at the
// end (bounded), SSE bodies line by line.

export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
}

const MAX_JSON_BYTES = 8 * 1024 * 1024;
const NON_EMPTY_CHOICES = /"choices"\s*:\s*\[\s*[^\]\s]/;

export class UsageReader {
  private sse = false;
  private jsonParts: Buffer[] = [];
  private jsonBytes = 0;
  private lineRest = '';
  /** Content-bearing SSE events seen: a fallback count of output tokens when the engine sends no usage. */
  private deltas = 0;
  readonly usage: Usage = {};

  setContentType(contentType: string | undefined): void {
    this.sse = (contentType ?? '').includes('text/event-stream');
  }

  push(chunk: Buffer, end: boolean): void {
    if (this.sse) {
      this.pushSse(chunk.toString('utf8'), end);
      return;
    }
    if (this.jsonBytes + chunk.length <= MAX_JSON_BYTES) {
      this.jsonParts.push(chunk);
      this.jsonBytes += chunk.length;
    } else {
      this.jsonBytes = Infinity;
    }
    if (end && Number.isFinite(this.jsonBytes)) {
      this.take(tryJson(Buffer.concat(this.jsonParts).toString('utf8')));
      this.jsonParts = [];
    }
  }

  /** Output tokens: the engine's own count when it sent one, else the number of streamed deltas. */
  outputTokens(): number {
    return this.usage.completionTokens ?? this.deltas;
  }

  /** Whether the response said anything about its output so far: a usage count or at least one delta. */
  sawOutput(): boolean {
    return this.usage.completionTokens !== undefined || this.deltas > 0;
  }

  private pushSse(text: string, end: boolean): void {
    const lines = (this.lineRest + text).split('\n');
    this.lineRest = end ? '' : lines.pop()!;
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '' || data === '[DONE]') continue;
      // Most events are one token each: a pattern counts them, and only an event that names usage is parsed. The
      // patterns cannot match inside string values, where quotes are escaped.
      if (!data.includes('"usage"')) {
        if (NON_EMPTY_CHOICES.test(data)) this.deltas++;
        continue;
      }
      const event = tryJson(data);
      if (event === undefined) continue;
      const choices = (event as { choices?: unknown }).choices;
      if (Array.isArray(choices) && choices.length > 0) this.deltas++;
      this.take(event);
    }
  }

  private take(body: unknown): void {
    const u = (body as { usage?: Record<string, unknown> } | undefined)?.usage;
    if (typeof u !== 'object' || u === null) return;
    // OpenAI names, and Anthropic-style names for providers that use them.
    const prompt = u.prompt_tokens ?? u.input_tokens;
    const completion = u.completion_tokens ?? u.output_tokens;
    const promptTokens = tokenCount(prompt);
    const completionTokens = tokenCount(completion);
    if (promptTokens !== undefined) this.usage.promptTokens = promptTokens;
    if (completionTokens !== undefined) this.usage.completionTokens = completionTokens;
  }
}

/** A count an upstream reported, if it is one: anything else (negative, fractional, NaN) is not charged or counted. */
function tokenCount(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
