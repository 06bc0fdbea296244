// OpenAI-style error bodies for the replies the front door makes on its own (the pipeline makes the rest).

export type ErrorType = 'invalid_request_error' | 'server_error' | 'timeout_error';

export function openAiErrorBody(message: string, type: ErrorType, code: string): Buffer {
  return Buffer.from(JSON.stringify({ error: { message, type, param: null, code } }));
}

export const JSON_CONTENT_TYPE = { 'content-type': 'application/json' } as const;
