// OpenAI-style error responses, shaped like vLLM's: {"error": {"message", "type", "param", "code"}}.

const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  405: 'MethodNotAllowedError',
  413: 'BadRequestError',
  503: 'ServiceUnavailableError',
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: number } } {
    return { error: { message: this.message, type: TYPES[this.status] ?? 'InternalServerError', param: this.param, code: this.status } };
  }
}

export const badRequest = (message: string, param: string | null = null): ApiError => new ApiError(400, message, param);
