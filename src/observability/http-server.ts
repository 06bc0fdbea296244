import { createServer, type Server } from 'node:http';
import { DEBUG_PATHS, debugDocument, type DebugPath, type DebugSources } from './debug-endpoints.js';
import { beforeScrape, registry } from './metrics.js';

/**
 * Serves /metrics (Prometheus), /healthz (alive), /readyz (200 only once `isReady()` holds) and, when `debug` is given,
 * the read-only /debug/config, /debug/endpoints and /debug/routes.
 */
export function startMetricsServer(opts: { host: string; port: number; isReady: () => boolean; debug?: DebugSources }): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      for (const refresh of beforeScrape) refresh();
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end('metrics unavailable\n'),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = opts.isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else if (opts.debug && (DEBUG_PATHS as readonly string[]).includes(path)) {
      const body = JSON.stringify(debugDocument(path as DebugPath, opts.debug), null, 2);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body + '\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
