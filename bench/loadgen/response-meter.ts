// Reads an OpenAI-compatible response as it arrives: when the first content token came (TTFT), how many content
// events there were, the usage the server reported, and an error event if the stream carried one.

export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
}

export class ResponseMeter {
  /** Time (ms, on the caller's clock) of the first SSE event carrying generated text. */
  firstContentAt: number | undefined;
  contentEvents = 0;
  readonly usage: Usage = {};
  /** Message of an `error` object sent inside the stream, if any. */
  streamError: string | undefined;
  private rest = '';
  private json = '';

  constructor(private readonly sse: boolean) {}

  push(text: string, now: number): void {
    if (!this.sse) {
      this.json += text;
      return;
    }
    const lines = (this.rest + text).split('\n');
    this.rest = lines.pop()!;
    for (const line of lines) this.line(line, now);
  }

  end(now: number): void {
    if (this.sse) {
      if (this.rest) this.line(this.rest, now);
      this.rest = '';
      return;
    }
    const body = parse(this.json);
    this.json = '';
    if (body) this.take(body);
  }

  /** Output tokens: the server's count, else the number of content events. */
  outputTokens(): number {
    return this.usage.completionTokens ?? this.contentEvents;
  }

  private line(raw: string, now: number): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line.startsWith('data:')) return;
    const data = line.slice(5).trim();
    if (data === '' || data === '[DONE]') return;
    const event = parse(data);
    if (!event) return;
    if (hasContent(event)) {
      this.contentEvents++;
      this.firstContentAt ??= now;
    }
    this.take(event);
  }

  private take(body: Record<string, unknown>): void {
    const err = body.error as { message?: unknown } | undefined;
    if (err && typeof err === 'object') this.streamError = typeof err.message === 'string' ? err.message : 'error';
    const u = body.usage as Record<string, unknown> | undefined;
    if (!u || typeof u !== 'object') return;
    if (typeof u.prompt_tokens === 'number') this.usage.promptTokens = u.prompt_tokens;
    if (typeof u.completion_tokens === 'number') this.usage.completionTokens = u.completion_tokens;
  }
}

/** A chunk with generated text: chat `delta.content` (or reasoning) or completions `text`. */
function hasContent(event: Record<string, unknown>): boolean {
  const choices = event.choices;
  if (!Array.isArray(choices)) return false;
  for (const c of choices) {
    const delta = (c as { delta?: Record<string, unknown> })?.delta;
    const text = delta ? (delta.content ?? delta.reasoning_content) : (c as { text?: unknown })?.text;
    if (typeof text === 'string' && text.length > 0) return true;
  }
  return false;
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
