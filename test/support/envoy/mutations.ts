import { HeaderAppendAction, type BodyMutation, type HeaderMutation } from '../../../src/frontends/extproc/wire.js';

// Applies processor mutations the way Envoy does (with send_header_raw_value, the current default).

/** A reply Envoy would refuse: it fails the request (HTTP 500) when this happens. */
export class EnvoyRejection extends Error {}

/** Removals first, then sets in order; pseudo-headers, host and x-envoy-* are not mutable. */
export function applyHeaderMutation(headers: Map<string, string>, mutation: HeaderMutation | null | undefined): void {
  if (!mutation) return;
  for (const name of mutation.remove_headers ?? []) {
    const key = name.toLowerCase();
    if (mutable(key)) headers.delete(key);
  }
  for (const option of mutation.set_headers ?? []) {
    const header = option.header;
    if (!header) continue;
    const raw = header.raw_value ?? Buffer.alloc(0);
    if (raw.length > 0 && (header.value ?? '') !== '') {
      throw new EnvoyRejection('Only one of value or raw_value in the HeaderValue message should be set.');
    }
    const key = header.key.toLowerCase();
    if (!mutable(key)) continue;
    const value = raw.toString('utf8'); // Envoy reads raw_value only: a value-only header becomes empty
    const existing = headers.get(key);
    switch (option.append_action ?? HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD) {
      case HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD:
        headers.set(key, existing === undefined ? value : `${existing}, ${value}`);
        break;
      case HeaderAppendAction.ADD_IF_ABSENT:
        if (existing === undefined) headers.set(key, value);
        break;
      case HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD:
        headers.set(key, value);
        break;
      case HeaderAppendAction.OVERWRITE_IF_EXISTS:
        if (existing !== undefined) headers.set(key, value);
        break;
      default:
        throw new EnvoyRejection(`invalid append_action ${option.append_action}`);
    }
  }
}

function mutable(key: string): boolean {
  // ext_proc's mutation rules let a processor set `:status` on a response (system headers are settable unless
  // disallow_system); the routing pseudo-headers are left to the caller.
  if (key === ':status') return true;
  return !key.startsWith(':') && key !== 'host' && !key.startsWith('x-envoy-');
}

/** body / clear_body mutations of BUFFERED and STREAMED replies. */
export function applyBodyMutation(body: Buffer, mutation: BodyMutation | null | undefined): Buffer {
  switch (mutation?.mutation) {
    case 'clear_body':
      return mutation.clear_body ? Buffer.alloc(0) : body;
    case 'body':
      return mutation.body ?? Buffer.alloc(0);
    case 'streamed_response':
      throw new EnvoyRejection('streamed_response body mutation outside FULL_DUPLEX_STREAMED');
    default:
      return body;
  }
}
