// OpenAI-style error bodies: {"error":{"message","type","code"}}. Status → type follows OpenAI's API.

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'server_error',
  502: 'server_error',
  503: 'service_unavailable',
  504: 'timeout_error',
};

export interface ApiError {
  status: number;
  message: string;
  code: string;
  type?: string;
  headers?: Record<string, string>;
}

export function errorBody(err: ApiError): Buffer {
  const type = err.type ?? TYPE_BY_STATUS[err.status] ?? (err.status >= 500 ? 'server_error' : 'invalid_request_error');
  return Buffer.from(JSON.stringify({ error: { message: err.message, type, code: err.code } }));
}
