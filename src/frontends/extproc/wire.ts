// TypeScript shapes of the ext_proc messages as @grpc/proto-loader hands them over (keepCase, numeric
// enums, defaults, oneof discriminators). Outgoing messages may omit any field.

/** google.protobuf.Value / Struct use protobufjs's bundled camelCase field names. */
export interface Value {
  nullValue?: number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: Struct;
  listValue?: { values?: Value[] };
  kind?: string;
}

export interface Struct {
  fields?: Record<string, Value>;
}

export interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}

export interface HeaderMap {
  headers?: HeaderValue[];
}

export interface HeaderValueOption {
  header: HeaderValue;
  append_action?: number;
}

export interface Metadata {
  filter_metadata?: Record<string, Struct>;
}

export const BodySendMode = {
  NONE: 0,
  STREAMED: 1,
  BUFFERED: 2,
  BUFFERED_PARTIAL: 3,
  FULL_DUPLEX_STREAMED: 4,
  GRPC: 5,
} as const;
export type BodySendModeName = keyof typeof BodySendMode;

export const HeaderAppendAction = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
} as const;

export const ResponseStatus = { CONTINUE: 0, CONTINUE_AND_REPLACE: 1 } as const;

export interface ProtocolConfiguration {
  request_body_mode?: number;
  response_body_mode?: number;
  send_body_without_waiting_for_header_response?: boolean;
}

export interface ProcessingMode {
  request_header_mode?: number;
  response_header_mode?: number;
  request_body_mode?: number;
  response_body_mode?: number;
  request_trailer_mode?: number;
  response_trailer_mode?: number;
}

export interface HttpHeaders {
  headers?: HeaderMap | null;
  end_of_stream?: boolean;
}

export interface HttpBody {
  body?: Buffer;
  end_of_stream?: boolean;
}

export interface HttpTrailers {
  trailers?: HeaderMap | null;
}

export type RequestKind =
  | 'request_headers'
  | 'response_headers'
  | 'request_body'
  | 'response_body'
  | 'request_trailers'
  | 'response_trailers';

export interface ProcessingRequest {
  request?: RequestKind;
  request_headers?: HttpHeaders | null;
  response_headers?: HttpHeaders | null;
  request_body?: HttpBody | null;
  response_body?: HttpBody | null;
  request_trailers?: HttpTrailers | null;
  response_trailers?: HttpTrailers | null;
  metadata_context?: Metadata | null;
  observability_mode?: boolean;
  protocol_config?: ProtocolConfiguration | null;
}

export interface HeaderMutation {
  set_headers?: HeaderValueOption[];
  remove_headers?: string[];
}

export interface StreamedBodyResponse {
  body?: Buffer;
  end_of_stream?: boolean;
}

export interface BodyMutation {
  mutation?: 'body' | 'clear_body' | 'streamed_response';
  body?: Buffer;
  clear_body?: boolean;
  streamed_response?: StreamedBodyResponse | null;
}

export interface CommonResponse {
  status?: number;
  header_mutation?: HeaderMutation | null;
  body_mutation?: BodyMutation | null;
  clear_route_cache?: boolean;
}

export interface ImmediateResponse {
  status: { code: number } | null;
  headers?: HeaderMutation | null;
  body?: Buffer;
  details?: string;
}

export type ResponseKind =
  | 'request_headers'
  | 'response_headers'
  | 'request_body'
  | 'response_body'
  | 'request_trailers'
  | 'response_trailers'
  | 'immediate_response';

export interface ProcessingResponse {
  response?: ResponseKind;
  request_headers?: { response?: CommonResponse | null } | null;
  response_headers?: { response?: CommonResponse | null } | null;
  request_body?: { response?: CommonResponse | null } | null;
  response_body?: { response?: CommonResponse | null } | null;
  request_trailers?: { header_mutation?: HeaderMutation | null } | null;
  response_trailers?: { header_mutation?: HeaderMutation | null } | null;
  immediate_response?: ImmediateResponse | null;
  dynamic_metadata?: Struct | null;
  mode_override?: ProcessingMode | null;
}
