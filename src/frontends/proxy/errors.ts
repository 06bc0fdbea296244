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

/** Answers a request node's HTTP parser rejected (bad request line, oversized headers) and closes the socket. */
export function rejectMalformed(socket: Socket, code: string | undefined): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const body = errorBody({
    status,
    type: 'invalid_request_error',
    code: tooLarge ? 'headers_too_large' : 'bad_request',
    message: tooLarge ? 'request headers are too large' : 'malformed HTTP request',
  });
  const head =
    `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
    `content-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head), body]));
}
