// Public surface of the Envoy ext_proc front door.
export { ExtProcServer, startHealthServer } from './server.js';
export type { ExtProcServerOptions, StartedServer, HealthServer, HealthServerOptions } from './server.js';
export { HealthState, ServingStatus } from './health.js';
export type { TlsOption } from './credentials.js';
export { generateSelfSignedCert } from './self-signed-cert.js';
export { EXT_PROC_SERVICE, HEALTH_SERVICE, loadProtos, protoDir } from './proto.js';
