import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { errorBody, type ApiError } from '../../openai/errors.js';

// Errors the proxy generates itself, in OpenAI's JSON shape like every error the router returns.

export function sendError(res: ServerResponse, err: ApiError, closeConnection = false): void {
  const body = errorBody(err);
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': body.length,
    ...(closeConnection ? { connection: 'close' } : {}),
    ...(err.headers ?? {}),
  });
  res.end(body);
}

const MALFORMED = { status: 400, reason: 'Bad Request', code: 'bad_request', message: 'malformed HTTP request' };
const BY_PARSER_CODE: Record<string, typeof MALFORMED> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', code: 'headers_too_large', message: 'request headers are too large' },
  // headersTimeout / requestTimeout: headers or body trickled in too slowly (slowloris).
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'request_timeout', message: 'the request was not received in time' },
};

/**
 * Answers a request node's HTTP server refused (bad request line, oversized headers, headers or body not received in
 * time) and closes the socket.
 */
export function rejectMalformed(socket: Socket, code: string | undefined): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const reply = (code !== undefined && BY_PARSER_CODE[code]) || MALFORMED;
  const body = errorBody({ status: reply.status, type: 'invalid_request_error', code: reply.code, message: reply.message });
  const head =
    `HTTP/1.1 ${reply.status} ${reply.reason}\r\n` +
    `content-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head), body]));
}
