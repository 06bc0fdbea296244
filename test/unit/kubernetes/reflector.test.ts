// The list+watch loop against a scripted HTTP API server on loopback: the failure modes a real API server cannot be
// made to produce on demand (silent stalls, 410 inside the stream, a collection that appears later).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { logger } from '../../../src/observability/logger.js';
import { KubeClient } from '../../../src/sources/kubernetes/kube-client.js';
import { Reflector } from '../../../src/sources/kubernetes/reflector.js';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

interface Fake {
  client: KubeClient;
  requests: URL[];
  close(): Promise<void>;
}

async function fakeApi(handle: Handler): Promise<Fake> {
  const requests: URL[] = [];
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(url);
    open.add(res);
    res.on('close', () => open.delete(res));
    handle(req, res, url);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // skipTLSVerify: client-node refuses plain http otherwise.
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return {
    client: new KubeClient(kc),
    requests,
    close: async () => {
      for (const res of open) res.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const list = (res: ServerResponse, rv: string, items: object[]) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: rv }, items }));
};
const event = (res: ServerResponse, type: string, object: object) => res.write(JSON.stringify({ type, object }) + '\n');
const podObj = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });
const isWatch = (u: URL) => u.searchParams.get('watch') === 'true';

function recorder() {
  const calls: Array<{ op: string; names: string[] }> = [];
  return {
    calls,
    handlers: {
      replace: (items: any[]) => calls.push({ op: 'replace', names: items.map((i) => i.metadata.name) }),
      event: (type: string, obj: any) => calls.push({ op: type, names: [obj.metadata.name] }),
    },
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const opts = { resource: 'pods', path: '/api/v1/namespaces/ns/pods', apiVersion: 'v1', kind: 'Pod', backoffInitialMs: 20, backoffMaxMs: 100 };

describe('Reflector (scripted API server)', () => {
  let fake: Fake | undefined;
  let reflector: Reflector | undefined;
  afterEach(async () => {
    await reflector?.stop();
    await fake?.close();
    reflector = fake = undefined;
  });

  it('lists, stamps kind/apiVersion on items, then watches from the list resourceVersion with bookmarks and a server timeout', async () => {
    fake = await fakeApi((_req, res, url) => {
      if (!isWatch(url)) return list(res, '10', [podObj('a', '9')]);
      res.writeHead(200);
      event(res, 'ADDED', { ...podObj('b', '11'), kind: 'Pod', apiVersion: 'v1' });
    });
    const rec = recorder();
    let stamped: any;
    reflector = new Reflector(fake.client, { ...opts, watchTimeoutSeconds: 30 }, {
      replace: (items) => ((stamped = items[0]), rec.handlers.replace(items)),
      event: rec.handlers.event,
    }, logger);
    reflector.start();
    await reflector.synced;
    await until(() => rec.calls.length === 2);
    expect(rec.calls).to.deep.equal([{ op: 'replace', names: ['a'] }, { op: 'ADDED', names: ['b'] }]);
    expect(stamped).to.include({ kind: 'Pod', apiVersion: 'v1' });
    const watch = fake.requests.find(isWatch)!;
    expect(watch.searchParams.get('resourceVersion')).to.equal('10');
    expect(watch.searchParams.get('allowWatchBookmarks')).to.equal('true');
    expect(Number(watch.searchParams.get('timeoutSeconds'))).to.be.within(30, 59);
  });

  it('resumes the next watch from the last bookmark when the server ends a watch', async () => {
    let watches = 0;
    fake = await fakeApi((_req, res, url) => {
      if (!isWatch(url)) return list(res, '10', []);
      res.writeHead(200);
      if (++watches === 1) {
        event(res, 'BOOKMARK', { metadata: { resourceVersion: '57' } });
        res.end();
      }
    });
    const rec = recorder();
    reflector = new Reflector(fake.client, opts, rec.handlers, logger);
    reflector.start();
    await until(() => fake!.requests.filter(isWatch).length === 2);
    expect(fake.requests.filter(isWatch)[1]!.searchParams.get('resourceVersion')).to.equal('57');
    expect(rec.calls.map((c) => c.op)).to.deep.equal(['replace'], 'bookmarks are not events');
  });

  it('relists when the watch stream reports 410 Gone, then watches from the new list', async () => {
    let lists = 0;
    fake = await fakeApi((_req, res, url) => {
      if (!isWatch(url)) return ++lists === 1 ? list(res, '10', [podObj('a', '5')]) : list(res, '90', [podObj('c', '88')]);
      res.writeHead(200);
      if (url.searchParams.get('resourceVersion') === '10') {
        event(res, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 10 (80)' });
      }
    });
    const rec = recorder();
    reflector = new Reflector(fake.client, opts, rec.handlers, logger);
    reflector.start();
    await until(() => fake!.requests.filter(isWatch).some((u) => u.searchParams.get('resourceVersion') === '90'));
    expect(rec.calls).to.deep.equal([{ op: 'replace', names: ['a'] }, { op: 'replace', names: ['c'] }]);
  });

  it('restarts a watch that goes silent (watchdog) and keeps its place', async () => {
    fake = await fakeApi((_req, res, url) => {
      if (!isWatch(url)) return list(res, '10', []);
      res.writeHead(200);
      res.flushHeaders(); // then nothing, ever: a half-dead connection
    });
    reflector = new Reflector(fake.client, { ...opts, stallTimeoutMs: 200 }, recorder().handlers, logger);
    reflector.start();
    await until(() => fake!.requests.filter(isWatch).length >= 3, 3000);
    expect(fake.requests.filter((u) => !isWatch(u))).to.have.length(1, 'a stall is not a reason to relist');
    expect(fake.requests.filter(isWatch).every((u) => u.searchParams.get('resourceVersion') === '10')).to.equal(true);
  });

  it('treats a missing collection (CRD not installed) as empty, then picks it up once it appears', async () => {
    let installed = false;
    fake = await fakeApi((_req, res, url) => {
      if (!installed) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' }));
      }
      if (!isWatch(url)) return list(res, '3', [podObj('late', '2')]);
      res.writeHead(200);
    });
    const rec = recorder();
    reflector = new Reflector(fake.client, opts, rec.handlers, logger);
    reflector.start();
    await reflector.synced;
    expect(rec.calls).to.deep.equal([{ op: 'replace', names: [] }]);
    installed = true;
    await until(() => rec.calls.length === 2);
    expect(rec.calls[1]).to.deep.equal({ op: 'replace', names: ['late'] });
  });

  it('does not report sync while the API server refuses the list, and backs off between attempts', async () => {
    fake = await fakeApi((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'pods is forbidden' }));
    });
    reflector = new Reflector(fake.client, { ...opts, backoffInitialMs: 100, backoffMaxMs: 400 }, recorder().handlers, logger);
    reflector.start();
    await new Promise((r) => setTimeout(r, 900));
    expect(reflector.hasSynced).to.equal(false);
    // 900 ms with delays of 25..100, 50..200, 100..400, ...: a few attempts, not a hot loop.
    expect(fake.requests.length).to.be.within(2, 12);
  });
});
