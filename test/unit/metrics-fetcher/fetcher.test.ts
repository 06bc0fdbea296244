import { expect } from 'chai';
import type { Endpoint } from '../../../src/datastore/endpoint.js';
import { MetricsFetcher, type MetricsFetcherOptions } from '../../../src/metrics-fetcher/fetcher.js';
import { scrapeErrorsTotal } from '../../../src/observability/metrics.js';
import { startFakeEngine, type FakeEngine, type FakeEngineOptions } from '../../support/fake-engine.js';

const HOST = '127.0.0.71';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function endpointOf(fake: { address: string; metricsUrl: string }, engine = 'vLLM'): Endpoint {
  const [ip, port] = fake.address.split(':');
  return {
    address: fake.address,
    ip: ip!,
    port: Number(port),
    podName: `pod-${port}`,
    namespace: 'default',
    labels: {},
    engine,
    metricsUrl: fake.metricsUrl,
    state: { updatedAt: 0, stale: true },
    inflight: 0,
    picksSinceScrape: 0,
  };
}

async function errorCount(address: string): Promise<number> {
  const metric = await scrapeErrorsTotal.get();
  return metric.values.find((v) => v.labels.endpoint === address)?.value ?? 0;
}

describe('MetricsFetcher (real HTTP against fake engines)', function () {
  this.timeout(10_000);
  const fakes: FakeEngine[] = [];
  const fetchers: MetricsFetcher[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };

  before(() => process.on('unhandledRejection', onUnhandled));
  after(() => {
    process.off('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    await Promise.all(fetchers.splice(0).map((f) => f.stop()));
    await Promise.all(fakes.splice(0).map((f) => f.close()));
    expect(unhandled, 'unhandled rejections').to.deep.equal([]);
  });

  async function fake(options: Omit<FakeEngineOptions, 'host'>): Promise<FakeEngine> {
    const f = await startFakeEngine({ host: HOST, ...options });
    fakes.push(f);
    return f;
  }

  function fetcher(options: MetricsFetcherOptions): MetricsFetcher {
    const f = new MetricsFetcher(options);
    fetchers.push(f);
    return f;
  }

  it('scrapes, converts and updates the endpoint state in place', async () => {
    const pod = await fake({ engine: 'vllm', state: { running: 4, waiting: 1, kvCacheUsage: 0.25, ttft: { sum: 2, count: 4 } } });
    const ep = endpointOf(pod);
    const updates: string[] = [];
    const f = fetcher({ getEndpoints: () => [ep], onUpdate: (e) => updates.push(e.address), timeoutMs: 1000, staleAfterMs: 5000 });

    await f.scrapeNow();
    expect(ep.state.metrics).to.include({ running: 4, waiting: 1, kvCacheUsage: 0.25 });
    expect(ep.state.metrics?.ttftSeconds).to.equal(undefined); // first scrape: no interval yet
    expect(ep.state.stale).to.equal(false);
    expect(ep.state.lastError).to.equal(undefined);
    expect(ep.state.updatedAt).to.be.closeTo(Date.now(), 1000);
    expect(updates).to.deep.equal([pod.address]);

    pod.setState({ running: 9, ttft: { sum: 5, count: 10 } });
    await f.scrapeNow();
    expect(ep.state.metrics?.running).to.equal(9);
    expect(ep.state.metrics?.ttftSeconds).to.be.closeTo(0.5, 1e-9);
    expect(pod.scrapes).to.equal(2);
  });

  it('uses the adapter of each endpoint’s engine', async () => {
    const sg = await fake({ engine: 'sglang', state: { running: 3, waiting: 7, kvCacheUsage: 0.5 } });
    const tgi = await fake({ engine: 'tgi', state: { running: 2, waiting: 5 } });
    const eps = [endpointOf(sg, 'SGLang'), endpointOf(tgi, 'TGI')];
    await fetcher({ getEndpoints: () => eps }).scrapeNow();
    expect(eps[0]!.state.metrics).to.include({ running: 3, waiting: 7, kvCacheUsage: 0.5 });
    expect(eps[1]!.state.metrics).to.include({ running: 2, waiting: 5 });
  });

  it('reports a page without the engine’s metrics as an error, not as an idle pod', async () => {
    const pod = await fake({ engine: 'tgi', state: { running: 2 } });
    const ep = endpointOf(pod, 'vLLM');
    await fetcher({ getEndpoints: () => [ep] }).scrapeNow();
    expect(ep.state.metrics).to.equal(undefined);
    expect(ep.state.lastError).to.match(/no vLLM metrics/);
    expect(ep.state.stale).to.equal(true);
  });

  it('switches adapter when the endpoint’s engine changes in place', async () => {
    const pod = await fake({ engine: 'sglang', state: { running: 4 } });
    const ep = endpointOf(pod, 'vLLM');
    const f = fetcher({ getEndpoints: () => [ep] });
    await f.scrapeNow();
    expect(ep.state.lastError).to.match(/no vLLM metrics/);
    ep.engine = 'SGLang';
    await f.scrapeNow();
    expect(ep.state.lastError).to.equal(undefined);
    expect(ep.state.metrics?.running).to.equal(4);
  });

  it('runs a periodic loop per endpoint and stops it with stop()', async () => {
    const pod = await fake({ engine: 'vllm', state: { running: 1 } });
    const ep = endpointOf(pod);
    const f = fetcher({ getEndpoints: () => [ep], intervalMs: 40 });
    f.start();
    await waitFor('three scrapes', () => pod.scrapes >= 3);
    pod.setState({ running: 6 });
    await waitFor('the new value', () => ep.state.metrics?.running === 6);
    await f.stop();
    const count = pod.scrapes;
    await sleep(150);
    expect(pod.scrapes).to.equal(count);
  });

  it('stretches the period to stay within maxScrapesPerSecond as the fleet grows, and back', async () => {
    const pods = await Promise.all([1, 2, 3, 4].map((running) => fake({ engine: 'vllm', state: { running } })));
    let set = pods.slice(0, 1).map((p) => endpointOf(p));
    const f = fetcher({ getEndpoints: () => set, intervalMs: 40, staleAfterMs: 60, maxScrapesPerSecond: 25 });
    f.start();
    expect(f.effectiveIntervalMs).to.equal(40); // one endpoint: 25/s allows every 40 ms
    await waitFor('first scrape', () => pods[0]!.scrapes >= 1);
    set = pods.map((p) => endpointOf(p));
    await sleep(60); // the next reconcile sees four endpoints
    expect(f.effectiveIntervalMs).to.equal(160);
    await waitFor('all scraped', () => set.every((e) => e.state.metrics !== undefined));
    const before = pods.map((p) => p.scrapes);
    let staleSeen = false;
    for (let t = 0; t < 16; t++) {
      await sleep(50);
      staleSeen ||= set.some((e) => e.state.stale);
    }
    const rate = pods.reduce((n, p, i) => n + p.scrapes - before[i]!, 0) / 0.8;
    expect(rate).to.be.within(10, 32); // ~25/s over the fleet, not the 100/s that 40 ms would give
    // Staleness follows the period: 1.5 periods (60 ms at 40 ms) are now 240 ms, longer than one 160 ms period.
    expect(staleSeen).to.equal(false);
    set = pods.slice(0, 1).map((p) => endpointOf(p));
    await sleep(60);
    expect(f.effectiveIntervalMs).to.equal(40);
  });

  it('on timeout records the error, keeps the old metrics until staleAfterMs, then marks stale', async () => {
    const pod = await fake({ engine: 'vllm', state: { running: 2 } });
    const ep = endpointOf(pod);
    const f = fetcher({ getEndpoints: () => [ep], intervalMs: 50, timeoutMs: 100, staleAfterMs: 400 });
    await f.scrapeNow();
    const goodAt = ep.state.updatedAt;
    const errorsBefore = await errorCount(pod.address);

    pod.setState({ hangMetrics: true });
    const started = Date.now();
    await f.scrapeNow();
    expect(Date.now() - started).to.be.lessThan(1000);
    expect(ep.state.lastError).to.equal('timed out after 100 ms');
    expect(ep.state.stale).to.equal(false); // still within the staleness bound
    expect(ep.state.metrics?.running).to.equal(2);
    expect(ep.state.updatedAt).to.equal(goodAt);
    expect(await errorCount(pod.address)).to.equal(errorsBefore + 1);

    f.start();
    await waitFor('stale', () => ep.state.stale);
    expect(Date.now() - goodAt).to.be.greaterThan(400);
    expect(ep.state.metrics?.running).to.equal(2); // kept for inspection, flagged stale

    pod.setState({ hangMetrics: false, running: 3 });
    await waitFor('recovery', () => !ep.state.stale && ep.state.metrics?.running === 3);
    expect(ep.state.lastError).to.equal(undefined);
  });

  it('marks an endpoint stale while its scrape is still hanging', async () => {
    const pod = await fake({ engine: 'vllm', state: { running: 2 } });
    const ep = endpointOf(pod);
    const f = fetcher({ getEndpoints: () => [ep], intervalMs: 30, timeoutMs: 5000, staleAfterMs: 200 });
    await f.scrapeNow();
    pod.setState({ hangMetrics: true });
    f.start();
    await waitFor('stale', () => ep.state.stale, 2000);
    expect(pod.openScrapes).to.equal(1); // the scrape never finished, the staleness check did not wait for it
    expect(pod.maxConcurrentScrapes).to.equal(1);
  });

  it('never overlaps scrapes of one endpoint when the engine is slow', async () => {
    const pod = await fake({ engine: 'vllm', state: { running: 1, metricsDelayMs: 120 } });
    const ep = endpointOf(pod);
    const f = fetcher({ getEndpoints: () => [ep], intervalMs: 20, timeoutMs: 2000 });
    await Promise.all([f.scrapeNow(), f.scrapeNow(), f.scrapeNow()]); // joins the scrape in progress
    expect(pod.scrapes).to.equal(1);
    f.start();
    await sleep(600);
    await f.stop();
    expect(pod.maxConcurrentScrapes).to.equal(1);
    expect(pod.scrapes).to.be.within(2, 6); // one every ~120 ms, not one every 20 ms
  });

  it('follows the endpoint set: new endpoints get a loop, removed ones stop and abort', async () => {
    const a = await fake({ engine: 'vllm', state: { running: 1 } });
    const b = await fake({ engine: 'vllm', state: { running: 2, hangMetrics: true } });
    const c = await fake({ engine: 'sglang', state: { running: 3 } });
    let set = [endpointOf(a), endpointOf(b)];
    const f = fetcher({ getEndpoints: () => set, intervalMs: 30, timeoutMs: 5000 });
    f.start();
    await waitFor('a scraped', () => a.scrapes >= 2);
    await waitFor('b scrape hanging', () => b.openScrapes === 1);

    set = [endpointOf(a), endpointOf(c, 'SGLang')];
    await waitFor('c scraped', () => set[1]!.state.metrics?.running === 3);
    await waitFor('b scrape aborted', () => b.openScrapes === 0);
    const bCount = b.scrapes;
    const aCount = a.scrapes;
    await sleep(150);
    expect(b.scrapes).to.equal(bCount);
    expect(a.scrapes).to.be.greaterThan(aCount);
  });

  it('reports HTTP errors, refused connections and oversized pages', async () => {
    const failing = await fake({ engine: 'vllm', state: { metricsStatus: 503 } });
    const big = await fake({ engine: 'vllm', state: { running: 1 } });
    const gone = await startFakeEngine({ host: HOST, engine: 'vllm' });
    await gone.close(); // nothing listens on its port any more
    const eps = [endpointOf(failing), endpointOf(big), endpointOf(gone)];
    await fetcher({ getEndpoints: () => eps, maxBodyBytes: 2000 }).scrapeNow();
    expect(eps[0]!.state.lastError).to.equal('HTTP 503');
    expect(eps[1]!.state.lastError).to.match(/2000-byte limit/);
    expect(eps[2]!.state.lastError).to.match(/ECONNREFUSED/);
    for (const ep of eps) expect(ep.state.stale).to.equal(true);
  });

  it('survives a throwing endpoint source and a throwing onUpdate callback', async () => {
    const pod = await fake({ engine: 'vllm', state: { running: 5 } });
    const ep = endpointOf(pod);
    let calls = 0;
    const f = fetcher({
      getEndpoints: () => {
        calls++;
        if (calls === 2) throw new Error('datastore hiccup');
        return [ep];
      },
      onUpdate: () => {
        throw new Error('listener bug');
      },
    });
    await f.scrapeNow();
    await f.scrapeNow(); // the source throws: the loop set is kept
    expect(pod.scrapes).to.equal(2);
    expect(ep.state.metrics?.running).to.equal(5);
  });

  it('validates its options', () => {
    expect(() => new MetricsFetcher({ getEndpoints: () => [], maxScrapesPerSecond: 0 })).to.throw(/maxScrapesPerSecond/);
    expect(() => new MetricsFetcher({ getEndpoints: () => [], intervalMs: 0 })).to.throw(/intervalMs/);
    expect(() => new MetricsFetcher({ getEndpoints: () => [], timeoutMs: -1 })).to.throw(/timeoutMs/);
  });
});
