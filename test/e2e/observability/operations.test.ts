import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { prometheusBinary, startPrometheus, type PrometheusProcess } from '../../support/prometheus-process.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// The operations surface with the real tools that consume it: a router process under load from simulated engines,
// Prometheus scraping it with the shipped alert rules loaded, every dashboard query and alert expression answered with
// data, promtool validating the rules; the access log on stdout at LOG_LEVEL=warn; the debug endpoints.

const PORT = 18_610;
const IPS = ['127.0.0.161', '127.0.0.162'];
/** A pod whose engine never answers: scrape errors and stale metrics. */
const GHOST = '127.0.0.163';
const KEY = 'sk-observability-0123456789';
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const DASHBOARD = 'manifests/observability/grafana-dashboard.json';
const ALERTS = 'manifests/observability/alerts.yaml';

const RESOURCES = documents(
  modelServerYaml('llama', { port: PORT, model: MODEL }),
  modelServerYaml('ghost', { port: PORT }),
  modelServerYaml('nopods', { port: PORT }),
  modelRouteYaml('llama', 'llama'),
  modelRouteYaml('limited', 'llama', ['  rateLimit: {inputTokensPerUnit: 1, unit: hour}']),
  modelRouteYaml('nopods', 'nopods'),
  ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
  podYaml('ghost-0', GHOST, 'ghost'),
);

const CONFIG = [
  'metrics: {scrapeIntervalMs: 200, scrapeTimeoutMs: 200, staleAfterMs: 1000}',
  'accessLog: {format: json}',
  'auth:',
  '  apiKeys:',
  `    keys: [{key: ${KEY}, user: alice, tenant: team-a}]`,
].join('\n');

describe('e2e: metrics in Prometheus, dashboard, alert rules, access log, debug endpoints', function () {
  this.timeout(180_000);
  let dir: string;
  let sims: SimProcess[] = [];
  let router: RouterProcess;
  let prometheus: PrometheusProcess | undefined;
  let base: string;

  const chat = (model: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Tell me about the sea, in a few words.' }], max_tokens: 8, ...extra }),
    });
  const streamed = async (model: string, headers: Record<string, string> = {}) => {
    const r = await chat(model, { stream: true, stream_options: { include_usage: true } }, headers);
    return { status: r.status, text: await r.text() };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-ops-'));
    await writeFile(join(dir, 'fleet.yaml'), RESOURCES);
    await writeFile(join(dir, 'config.yaml'), CONFIG + '\n');
    sims = await Promise.all(IPS.map((ip, i) => startSimProcess(ip, PORT, ['--model', MODEL, '--time-scale', '0.05', '--max-tokens-cap', '16', '--seed', String(i + 1)])));
    // warn: the application log is quiet, and the access log must still come through.
    router = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml'), '--enable-debug-endpoints'], { LOG_LEVEL: 'warn' });
    base = `http://127.0.0.1:${router.ports.http}`;
  });

  after(async () => {
    await prometheus?.stop();
    await router?.stop();
    await Promise.all(sims.map((s) => s.kill()));
    await rm(dir, { recursive: true, force: true });
  });

  const accessLines = () => router.logs.filter((l) => 'status_code' in l && 'duration_total' in l);

  it('writes one access-log line per request at LOG_LEVEL=warn: routing, pods, tokens, first token, principal, never the key', async () => {
    const ok = await streamed('llama', { 'x-request-id': 'obs-stream-1' });
    expect(ok.status).to.equal(200);
    expect((await chat('unknown-model', {}, { 'x-request-id': 'obs-404' })).status).to.equal(404);
    await until(() => accessLines().some((l) => l.request_id === 'obs-404'), 5000, 'access lines');
    const line = accessLines().find((l) => l.request_id === 'obs-stream-1')!;
    expect(line).to.include({
      method: 'POST',
      path: '/v1/chat/completions',
      frontend: 'proxy',
      status_code: 200,
      model_name: 'llama',
      model_route: 'default/llama',
      model_server: 'default/llama',
      backend_type: 'model_server',
      backend_name: 'default/llama',
      upstream_model: MODEL,
      user: 'alice',
      tenant: 'team-a',
      auth_method: 'api-key',
    });
    expect(line.selected_pod).to.be.oneOf(['llama-0', 'llama-1']);
    expect(line.input_tokens).to.be.greaterThan(0);
    expect(line.output_tokens).to.equal(8);
    expect(line.duration_first_token).to.be.a('number').and.at.most(line.duration_total as number);
    expect(line).to.not.have.property('error');
    const miss = accessLines().find((l) => l.request_id === 'obs-404')!;
    expect(miss).to.deep.include({ status_code: 404, model_name: 'unknown-model' });
    expect((miss.error as { type: string }).type).to.equal('route_not_found');
    expect(JSON.stringify(router.logs)).to.not.contain(KEY);
    expect(router.logs.filter((l) => l.level === 30), 'no info-level application logs at warn').to.have.length(0);
  });

  it('serves /debug/config (secrets redacted), /debug/endpoints and /debug/routes on the metrics port', async () => {
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${router.ports.metrics}${path}`);
      expect(r.status, path).to.equal(200);
      return (await r.json()) as any;
    };
    const config = await get('/debug/config');
    expect(config.auth.apiKeys.keys[0].key).to.equal('[redacted]');
    expect(config.auth.apiKeys.keys[0].user).to.equal('alice');
    expect(config.metrics.scrapeIntervalMs).to.equal(200);
    expect(JSON.stringify(config)).to.not.contain(KEY);

    await until(async () => (await get('/debug/endpoints')).endpoints.find((e: any) => e.address === `${GHOST}:${PORT}`)?.metrics.lastError !== undefined, 10_000, 'ghost scraped');
    await until(async () => (await get('/debug/endpoints')).endpoints.find((e: any) => e.address === `${IPS[0]}:${PORT}`)?.metrics.stale === false, 10_000, 'live pod fresh');
    const { endpoints } = await get('/debug/endpoints');
    const live = endpoints.find((e: any) => e.address === `${IPS[0]}:${PORT}`);
    expect(live).to.include({ pod: 'default/llama-0', inflight: 0, ejected: false });
    expect(live.metrics.stale).to.equal(false);
    expect(live.metrics.values.running).to.be.a('number');
    const ghost = endpoints.find((e: any) => e.address === `${GHOST}:${PORT}`);
    expect(ghost.metrics.stale).to.equal(true);

    const { routes } = await get('/debug/routes');
    const llama = routes.find((r: any) => r.name === 'default/llama');
    expect(llama.rules[0].targets[0]).to.include({ modelServer: 'default/llama', found: true, upstreamModel: MODEL });
    expect(llama.rules[0].targets[0].endpoints.map((e: any) => e.address).sort()).to.deep.equal(IPS.map((ip) => `${ip}:${PORT}`));
    expect((await fetch(`http://127.0.0.1:${router.ports.metrics}/debug/pprof`)).status).to.equal(404);
  });

  it('Prometheus scraping the router under load answers every dashboard query and every alert expression', async () => {
    prometheusBinary('prometheus');
    const alertsFile = join(process.cwd(), ALERTS);
    const check = spawnSync(prometheusBinary('promtool'), ['check', 'rules', alertsFile], { encoding: 'utf8' });
    expect(check.status, `promtool check rules: ${check.stdout}${check.stderr}`).to.equal(0);

    prometheus = await startPrometheus({ dir, job: 'kthena-router', targets: [`127.0.0.1:${router.ports.metrics}`], ruleFiles: [alertsFile] });
    // Bounded load for about 8 s: streamed chats, plus refusals of each kind the dashboard shows.
    const end = Date.now() + 8000;
    const statuses = new Map<number, number>();
    const worker = async (i: number) => {
      while (Date.now() < end) {
        const model = i === 0 ? ['limited', 'nopods', 'unknown-model'][Math.floor(Math.random() * 3)]! : 'llama';
        const { status } = await streamed(model);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    const load = Promise.all([0, 1, 2].map(worker));

    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8'));
    const queries: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    expect(queries.length).to.be.greaterThan(15);
    const rules = (parse(await readFile(ALERTS, 'utf8')).groups as any[]).flatMap((g) => g.rules as Array<{ alert: string; expr: string }>);
    expect(rules.length).to.be.greaterThan(8);
    // An alert fires on "quantity > threshold": the quantity must be measured, whatever its value today.
    const quantity = (expr: string) => expr.replace(/\s*(>|<|==|!=|>=|<=)\s*[-+0-9.e]+\s*$/, '');
    const pending = new Map<string, string>([
      ...queries.map((q) => [`dashboard: ${q}`, q.replaceAll('$__rate_interval', '1m')] as [string, string]),
      ...rules.map((r) => [`alert ${r.alert}: ${quantity(r.expr)}`, quantity(r.expr)] as [string, string]),
    ]);
    for (const [, q] of pending) expect(q, 'thresholds stripped').to.not.match(/[<>]=?\s*[0-9.]+\s*$/);

    const deadline = Date.now() + 60_000;
    while (pending.size > 0 && Date.now() < deadline) {
      for (const [what, q] of pending) {
        const result = await prometheus.query(q);
        if (result.length > 0) pending.delete(what);
      }
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 1000));
    }
    await load;
    expect([...pending.keys()], 'queries without data').to.deep.equal([]);
    expect(statuses.get(200), 'streamed chats served').to.be.greaterThan(10);
    expect(statuses.get(429), 'rate-limited').to.be.greaterThan(0);
    // The counters Prometheus holds are the router's: the served chats are all there.
    const served = await prometheus.query('sum(kthena_router_requests_total{model="llama",status_code="200"})');
    expect(Number(served[0]!.value[1])).to.be.at.least(statuses.get(200)! * 0.5);
  });
});
