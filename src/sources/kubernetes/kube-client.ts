import * as http from 'node:http';
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/** An API server answer other than 2xx, or a Status object inside a watch stream. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, any>;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Whole-request deadline; defaults to 30 s. */
  timeoutMs?: number;
}

const LIST_PAGE_SIZE = 500;

/**
 * Minimal JSON client for the Kubernetes API on top of node:http(s). Authentication (client certificates, bearer
 * tokens, re-read service-account token files, exec plugins) comes from @kubernetes/client-node's KubeConfig, applied
 * per request so that rotated credentials are picked up. Watches are our own newline-delimited JSON reader, so that
 * every end of a watch (server timeout, 410, network error, abort) is visible to the caller.
 */
export class KubeClient {
  constructor(readonly config: KubeConfig) {}

  /** From a kubeconfig file, the in-cluster service account, or (neither given) KUBECONFIG/~/.kube/config. */
  static load(opts: { kubeconfig?: string; inCluster?: boolean }): KubeClient {
    const kc = new KubeConfig();
    if (opts.inCluster) kc.loadFromCluster();
    else if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
    if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
    return new KubeClient(kc);
  }

  /** Namespace of the current kubeconfig context (in-cluster: the pod's namespace). */
  get contextNamespace(): string | undefined {
    return this.config.getContextObject(this.config.getCurrentContext())?.namespace;
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await readAll(res, opts.signal);
    if (res.statusCode! < 200 || res.statusCode! >= 300) throw apiError(res.statusCode!, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Every item of a collection, page by page; resourceVersion is the list's, for the watch that follows. */
  async list(path: string, query: Query, signal?: AbortSignal): Promise<{ items: any[]; resourceVersion: string }> {
    const items: any[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request('GET', path, {
        query: { ...query, limit: LIST_PAGE_SIZE, continue: cont },
        signal,
        timeoutMs: 60_000,
      });
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  /**
   * Streams watch events to onEvent until the server ends the watch (resolves) or it fails (rejects with
   * KubeApiError for HTTP errors). Aborting signal ends it quietly.
   */
  async watch(path: string, query: Query, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const res = await this.send('GET', path, { query: { ...query, watch: true }, signal, timeoutMs: 0 });
    if (res.statusCode !== 200) throw apiError(res.statusCode!, await readAll(res, signal));
    res.socket?.setKeepAlive(true, 30_000);
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      const onAbort = (): void => {
        res.destroy();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (err?: Error): void => {
        signal.removeEventListener('abort', onAbort);
        if (err && !signal.aborted) reject(err);
        else resolve();
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          let event: WatchEvent;
          try {
            event = JSON.parse(line);
          } catch {
            res.destroy();
            return finish(new Error(`malformed watch event from ${path}`));
          }
          try {
            onEvent(event);
          } catch (err) {
            res.destroy();
            return finish(err as Error);
          }
        }
      });
      res.on('end', () => finish());
      res.on('error', (err) => finish(err));
      res.on('close', () => finish(res.complete ? undefined : new Error(`watch of ${path} closed unexpectedly`)));
    });
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const reqOpts: https.RequestOptions = { headers: { Accept: 'application/json' } };
    await this.config.applyToHTTPSOptions(reqOpts);
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: http.OutgoingHttpHeaders = { ...(reqOpts.headers as http.OutgoingHttpHeaders) };
    if (body) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = body.length;
    }
    if (reqOpts.auth) headers.Authorization = 'Basic ' + Buffer.from(reqOpts.auth).toString('base64');
    const isHttps = url.protocol === 'https:';
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(url, {
        method,
        headers,
        agent: isHttps ? reqOpts.agent : undefined,
        signal: opts.signal,
      });
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs > 0) {
        timer = setTimeout(() => req.destroy(new Error(`${method} ${url.pathname} timed out after ${timeoutMs} ms`)), timeoutMs);
      }
      req.on('response', (res) => {
        // The whole-request deadline also covers reading a (non-watch) body.
        if (timer) res.on('close', () => clearTimeout(timer));
        resolve(res);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  }
}

function readAll(res: http.IncomingMessage, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(signal?.aborted ? new Error('aborted') : new Error('connection closed mid-response'));
    });
  });
}

function apiError(status: number, text: string): KubeApiError {
  try {
    const s = JSON.parse(text);
    if (s && s.kind === 'Status') return new KubeApiError(status, s.reason ?? '', s.message ?? `HTTP ${status}`);
  } catch {
    // not a Status object
  }
  return new KubeApiError(status, '', `HTTP ${status}: ${text.slice(0, 200)}`);
}
