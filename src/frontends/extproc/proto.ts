import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// Loads our wire-compatible proto subset. Enums stay numbers (cheap comparisons), message fields keep
// their snake_case names; google.protobuf.* come from protobufjs's bundled definitions (camelCase fields).

const PROTO_FILES = ['envoy/service/ext_proc/v3/external_processor.proto', 'grpc/health/v1/health.proto'];

export const EXT_PROC_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** The repository's `proto/` directory: the nearest ancestor of this module that holds package.json. */
export function protoDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return join(dir, 'proto');
    if (dirname(dir) === dir) throw new Error(`proto directory not found above ${from}`);
  }
}

export interface LoadedProtos {
  definition: protoLoader.PackageDefinition;
  extProcService: grpc.ServiceDefinition;
  healthService: grpc.ServiceDefinition;
  /** Client constructors, for tests and benchmarks. */
  ExtProcClient: grpc.ServiceClientConstructor;
  HealthClient: grpc.ServiceClientConstructor;
  /** HTTP status codes Envoy accepts in an ImmediateResponse (envoy.type.v3.StatusCode). */
  httpStatusCodes: ReadonlySet<number>;
}

let loaded: LoadedProtos | undefined;

export function loadProtos(): LoadedProtos {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [protoDir()],
    keepCase: true,
    longs: Number,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition);
  const ExtProcClient = lookup(root, EXT_PROC_SERVICE);
  const HealthClient = lookup(root, HEALTH_SERVICE);
  loaded = {
    definition,
    extProcService: ExtProcClient.service,
    healthService: HealthClient.service,
    ExtProcClient,
    HealthClient,
    httpStatusCodes: enumNumbers(definition, 'envoy.type.v3.StatusCode'),
  };
  return loaded;
}

function lookup(root: grpc.GrpcObject, name: string): grpc.ServiceClientConstructor {
  let node: unknown = root;
  for (const part of name.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`service ${name} missing from the proto definitions`);
  return node as grpc.ServiceClientConstructor;
}

function enumNumbers(definition: protoLoader.PackageDefinition, name: string): Set<number> {
  const descriptor = definition[name] as protoLoader.EnumTypeDefinition | undefined;
  const values = (descriptor?.type as { value?: { number: number }[] } | undefined)?.value ?? [];
  return new Set(values.map((v) => v.number).filter((n) => n > 0));
}
