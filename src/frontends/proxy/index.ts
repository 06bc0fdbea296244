// Public surface of the standalone HTTP proxy front door.
export { startProxyServer } from './server.js';
export type { ProxyServer, ProxyServerOptions, UpstreamTlsOptions } from './server.js';
