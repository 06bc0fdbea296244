import { randomUUID } from 'node:crypto';
import type { Datastore } from '../datastore/datastore.js';
import type { Endpoint } from '../datastore/endpoint.js';
import { errorBody, type ApiError } from '../openai/errors.js';
import { parseRequest, type ParsedRequest } from '../openai/request.js';
import { logger } from '../observability/logger.js';
import { decisionLatency, picksTotal, requestsTotal } from '../observability/metrics.js';
import { NoEndpointError, type Scheduler } from '../scheduler/scheduler.js';
import type { SchedulingRequest } from '../scheduler/types.js';
import { RequestExchange } from './exchange.js';
import type { AuthFilter, Principal, RateLimitFilter, Reservation, TokenCounter } from './filters.js';
import type { AdmissionControl } from './admission.js';
import { DROPPED_REASON_HEADER, noEndpointError } from './drop-reason.js';
import { modelList } from './models.js';
import { MODEL_REWRITE_HEADERS, modelRewriteHeader } from './model-rewrite-header.js';
import { spliceModel } from '../openai/model-splice.js';
import { pickPrefillDecode, rankPrefillDecode, type PrefillDecodePair } from '../scheduler/pd/pick.js';
import { pdProtocol, PREFILLER_HEADER } from '../scheduler/pd/convention.js';
import type { PDGroup } from '../resources/types.js';
import { PROVIDER_HEADER } from '../providers/index.js';
import type { OutlierDetector } from '../providers/outlier-detector.js';
import { providerDecision } from '../providers/decision.js';
import { defaultProviderSettings, type ProviderSettings } from '../providers/settings.js';
import { spilledRequests, type SpillOverConfig } from './spill-over.js';
import { hasOtherTarget, resolveTarget, type PoolRef, type Target } from './targets.js';
import type { Decision, HeaderMapLike, InboundRequest, Pipeline, PrefillDecodePlan, RejectDecision, RouteDecision } from './types.js';

export interface PipelineOptions {
  datastore: Datastore;
  scheduler: Scheduler;
  maxBodyBytes: number;
  /** InferencePool mode: every request is picked among this pool's endpoints. */
  pool?: PoolRef;
  auth?: AuthFilter;
  rateLimit?: RateLimitFilter;
  countTokens?: TokenCounter;
  /** Holds or sheds requests while every endpoint of their group is saturated. */
  admission?: AdmissionControl;
  /** Honour the Gateway API conformance header `test-epp-endpoint-selection`. */
  testMode?: boolean;
  random?: () => number;
  /** How ExternalModelProvider targets are reached (timeouts, retries, extra CA); defaults when unset. */
  providers?: ProviderSettings;
  /** Passive outlier detection over pods and providers; off when unset. */
  outlier?: OutlierDetector;
  /** Routes whose provider targets take only the overflow of saturated pods. */
  spillOver?: SpillOverConfig;
}

const NOTHING_TRIED: ReadonlySet<string> = new Set();

const ANONYMOUS: Principal = { user: 'anonymous', tenant: 'default', groups: [], method: 'anonymous' };
const CONFORMANCE_HEADER = 'test-epp-endpoint-selection';

/** The transport-free routing pipeline: parse → route → auth → rate limit → flow control → schedule → decision. */
export class RoutingPipeline implements Pipeline {
  private readonly random: () => number;
  private readonly providers: ProviderSettings;

  constructor(private readonly opts: PipelineOptions) {
    this.random = opts.random ?? Math.random;
    this.providers = opts.providers ?? defaultProviderSettings();
  }

  handle(req: InboundRequest): Promise<Decision> {
    return this.run(req, NOTHING_TRIED);
  }

  private async run(req: InboundRequest, tried: ReadonlySet<string>): Promise<Decision> {
    const started = performance.now();
    try {
      const decision = await this.decide(req, tried);
      if (decision.kind === 'reject') {
        requestsTotal.inc({ model: '-', route: '-', outcome: `rejected_${decision.status}` });
      }
      return decision;
    } finally {
      decisionLatency.observe({ frontend: req.frontend }, (performance.now() - started) / 1000);
    }
  }

  private async decide(req: InboundRequest, tried: ReadonlySet<string>): Promise<Decision> {
    const requestId = req.headers.get('x-request-id') || randomUUID();
    if (req.body.length > this.opts.maxBodyBytes) {
      return reject({
        status: 413,
        code: 'request_too_large',
        message: `request body exceeds ${this.opts.maxBodyBytes} bytes`,
      });
    }
    if (req.body.length === 0 && isModelList(req)) {
      if (!this.opts.pool) return modelList(this.opts.datastore);
      return this.passThrough(req, requestId);
    }
    const parsed = parseRequest(req.path, req.body);
    if ('status' in parsed) return reject(parsed);

    const target = resolveTarget(this.opts.datastore, { ...parsed, path: req.path, headers: req.headers }, this.opts.pool, this.random, {
      ejections: this.opts.outlier,
      exclude: tried,
      spillOver: this.opts.spillOver,
    });
    if ('status' in target) return reject(target);

    const auth = await this.authenticate(req, parsed.model);
    if ('status' in auth) return reject(auth);
    const principal = auth;

    const upstreamModel = this.upstreamModel(parsed, target, req.headers);
    const inputTokens = this.opts.countTokens ? await this.opts.countTokens(upstreamModel, parsed.promptText) : 0;
    const labels = { model: parsed.model, route: target.routeLabel };
    let reservation: Reservation | undefined;
    let limitHeaders: Record<string, string> = {};
    if (this.opts.rateLimit) {
      const r = await this.opts.rateLimit.reserve({
        principal,
        model: parsed.model,
        routeKey: target.match ? target.routeLabel : undefined,
        routeLimit: target.match?.route.spec.rateLimit,
        inputTokens,
        maxOutputTokens: parsed.maxTokens ?? 0,
      });
      if (!r.ok) return reject({ status: r.status, code: r.code, message: r.message, headers: r.headers });
      reservation = r.reservation;
      limitHeaders = r.headers;
    }

    const sreq: SchedulingRequest = {
      requestId,
      model: upstreamModel,
      loraAdapter: target.match?.viaLora ? upstreamModel : undefined,
      promptText: parsed.promptText,
      headers: req.headers,
      user: parsed.user ?? (principal.method === 'anonymous' ? undefined : principal.user),
      group: target.group,
    };
    const fallback = this.fallback(req, requestId, target, tried);
    if (target.provider) {
      const d = providerDecision({
        requestId,
        parsed,
        path: req.path,
        provider: target.provider,
        settings: this.providers,
        outlier: this.opts.outlier,
        exchange: { datastore: this.opts.datastore, scheduler: this.opts.scheduler, schedulingRequest: sreq, reservation, labels },
        setHeaders: { 'x-request-id': requestId },
        fallback,
      });
      if (!('status' in d)) {
        if (target.spilled) spilledRequests.inc({ route: target.routeLabel, provider: target.provider.key });
        return d;
      }
      reservation?.release();
      return reject(d);
    }
    const candidates = this.restrict(req, target.candidates);
    if (candidates.length === 0) {
      reservation?.release();
      return reject(noEndpointError('no eligible endpoint in the gateway subset'));
    }
    const admission = this.opts.admission ? await this.opts.admission.admit(target.group, req.headers, sreq.user) : undefined;
    if (admission && !admission.admitted) {
      reservation?.release();
      return reject({
        status: admission.status,
        code: admission.status === 429 ? 'saturated' : 'unavailable',
        message: admission.message,
        headers: { [DROPPED_REASON_HEADER]: admission.reason, ...(admission.status === 429 && { 'retry-after': '1' }) },
      });
    }
    let ranked: Endpoint[];
    let pd: PrefillDecodeChoice | undefined;
    try {
      const pdGroup = target.server?.spec.workloadSelector.pdGroup;
      if (pdGroup) {
        pd = this.prefillDecode(req, sreq, candidates, pdGroup);
        ranked = pd.decodes;
      } else {
        ranked = this.opts.scheduler.schedule(sreq, candidates).ranked;
      }
    } catch (err) {
      reservation?.release();
      admission?.done();
      if (err instanceof NoEndpointError) return reject(noEndpointError(err.message));
      throw err;
    }
    const primary = ranked[0]!;
    const recordPick = (r: SchedulingRequest, ep: Endpoint) => {
      ep.picksSinceScrape++;
      this.opts.scheduler.picked(r, ep);
      picksTotal.inc({ model_server: target.group, endpoint: ep.address });
    };
    recordPick(sreq, primary);
    // The prefill phase is a request of its own to the lifecycle plugins (prefix claims, LoRA counts).
    const prefill = pd && { request: { ...sreq }, endpoint: pd.pairs[0]!.prefill };
    if (prefill) recordPick(prefill.request, prefill.endpoint);

    const rewritten = upstreamModel !== parsed.model;
    const exchange = new RequestExchange({
      requestId,
      datastore: this.opts.datastore,
      scheduler: this.opts.scheduler,
      schedulingRequest: sreq,
      primary,
      reservation,
      modelRewrite: rewritten ? { client: parsed.model, upstream: upstreamModel } : undefined,
      labels,
      admission,
      health: this.opts.outlier ? (address, failed) => this.opts.outlier!.report(address, failed) : undefined,
      prefill,
    });
    const policy = target.server?.spec.trafficPolicy;
    const body = rewritten ? { ...parsed.json, model: upstreamModel } : parsed.json;
    // ext_proc: llm-d's sidecar on the decode pod runs the prefill, told where by a header (never the client's).
    const prefillerHeader: Record<string, string> = pd && req.frontend !== 'proxy' ? { [PREFILLER_HEADER]: pd.pairs[0]!.prefill.address } : {};
    const decision: RouteDecision = {
      kind: 'route',
      endpoints: ranked.map((e) => e.address),
      setHeaders: { 'x-request-id': requestId, ...limitHeaders, ...prefillerHeader },
      // A client must not steer the prefill pick or the gateway's provider route either; the rewrite header is the
      // gateway's word to the picker, not the engine's.
      removeHeaders: [...(prefillerHeader[PREFILLER_HEADER] ? [] : [PREFILLER_HEADER]), PROVIDER_HEADER, ...MODEL_REWRITE_HEADERS],
      body: rewritten ? (spliceModel(req.body, upstreamModel) ?? Buffer.from(JSON.stringify(body))) : undefined,
      upstream: {
        scheme: target.server?.spec.workloadPort.protocol ?? 'http',
        timeoutMs: policy?.timeoutMs ?? 0,
        retryAttempts: policy?.retry?.attempts ?? 0,
        retryIntervalMs: policy?.retry?.retryIntervalMs ?? 100,
      },
      exchange,
      ...(fallback && { fallback }),
      ...(pd && req.frontend === 'proxy' && { prefillDecode: prefillDecodePlan(target, pd.pairs, body) }),
    };
    logger.debug({ requestId, model: parsed.model, endpoint: primary.address, group: target.group }, 'picked');
    return decision;
  }

  /** The next target of the rule, decided afresh (same request id) once this one failed; none if nothing is left. */
  private fallback(req: InboundRequest, requestId: string, target: Target, tried: ReadonlySet<string>): (() => Promise<Decision>) | undefined {
    if (!target.match || this.opts.pool) return undefined;
    const next = new Set(tried).add(target.group);
    if (!hasOtherTarget(target.match, target.match.route.metadata.namespace, next)) return undefined;
    const retry: InboundRequest = { ...req, headers: new Map(req.headers).set('x-request-id', requestId) };
    return () => this.run(retry, next);
  }

  /**
   * Prefill/decode disaggregation: the best decode endpoint with a prefill partner of its group. The proxy runs both
   * phases itself and fails over between pairs, so it gets every ranked pair; ext_proc gets the best one.
   */
  private prefillDecode(req: InboundRequest, sreq: SchedulingRequest, candidates: Endpoint[], pdGroup: PDGroup): PrefillDecodeChoice {
    // A group whose endpoints the filters all reject is skipped, not fatal: another group may have a pair.
    const score = (eps: Endpoint[]): Endpoint[] => {
      try {
        return this.opts.scheduler.schedule(sreq, eps).ranked;
      } catch (err) {
        if (err instanceof NoEndpointError) return [];
        throw err;
      }
    };
    let pairs: PrefillDecodePair[];
    if (req.frontend === 'proxy') {
      pairs = rankPrefillDecode(candidates, pdGroup, score);
    } else {
      const pair = pickPrefillDecode(candidates, pdGroup, score);
      pairs = pair ? [pair] : [];
    }
    if (pairs.length === 0) throw new NoEndpointError('no decode endpoint with a prefill endpoint in its group');
    return { pairs, decodes: [...new Set(pairs.map((p) => p.decode))] };
  }

  /**
   * The model name sent to the engine: ModelServer.spec.model (except for LoRA adapters, which engines know by name),
   * else the gateway's rewrite header, else the client's. The operator's rewrite wins over the header, as the Go
   * picker's rewrite rules do; external providers name their model in their own spec.
   */
  private upstreamModel(parsed: ParsedRequest, target: Target, headers: HeaderMapLike): string {
    if (target.provider) return parsed.model;
    const serverModel = target.server?.spec.model;
    if (serverModel && !target.match?.viaLora) return serverModel;
    return modelRewriteHeader(headers) ?? parsed.model;
  }

  private async authenticate(req: InboundRequest, model: string): Promise<Principal | ApiError> {
    if (!this.opts.auth) return ANONYMOUS;
    const r = await this.opts.auth.authenticate(req.headers, model);
    if (r.ok) return r.principal;
    return { status: r.status, code: r.code, message: r.message, headers: r.headers };
  }

  /** Applies the gateway's subset hint and, in test mode only, the conformance steering header. */
  private restrict(req: InboundRequest, candidates: Endpoint[]): Endpoint[] {
    let allowed = req.subset;
    const steer = this.opts.testMode ? req.headers.get(CONFORMANCE_HEADER) : undefined;
    if (steer) allowed = steer.split(',').map((s) => s.trim()).filter(Boolean);
    if (!allowed) return candidates;
    const set = new Set(allowed);
    return candidates.filter((e) => set.has(e.address) || set.has(e.ip));
  }

  /** A bodiless request in pool mode (e.g. GET /v1/models) goes to any ready pool endpoint. */
  private passThrough(req: InboundRequest, requestId: string): Decision {
    const pool = this.opts.pool!;
    const candidates = this.restrict(req, this.opts.datastore.endpointsForPool(pool.namespace, pool.name));
    if (candidates.length === 0) return reject(noEndpointError('no ready endpoint'));
    const sreq: SchedulingRequest = {
      requestId,
      model: '',
      promptText: '',
      headers: req.headers,
      group: `pool:${pool.namespace}/${pool.name}`,
    };
    const primary = candidates[Math.floor(this.random() * candidates.length)]!;
    const exchange = new RequestExchange({
      requestId,
      datastore: this.opts.datastore,
      scheduler: this.opts.scheduler,
      schedulingRequest: sreq,
      primary,
      labels: { model: '-', route: '-' },
    });
    return {
      kind: 'route',
      endpoints: [primary.address],
      setHeaders: { 'x-request-id': requestId },
      removeHeaders: [...MODEL_REWRITE_HEADERS],
      upstream: { scheme: 'http', timeoutMs: 0, retryAttempts: 0, retryIntervalMs: 100 },
      exchange,
    };
  }
}

interface PrefillDecodeChoice {
  pairs: PrefillDecodePair[];
  /** The pairs' decode endpoints in order, without repeats. */
  decodes: Endpoint[];
}

function prefillDecodePlan(target: Target, pairs: PrefillDecodePair[], body: Record<string, unknown>): PrefillDecodePlan {
  const spec = target.server!.spec;
  return {
    protocol: pdProtocol(spec.inferenceEngine, spec.kvConnector?.type),
    pairs: pairs.map((p) => ({ prefill: p.prefill.address, prefillIp: p.prefill.ip, decode: p.decode.address })),
    body,
  };
}

function isModelList(req: InboundRequest): boolean {
  const q = req.path.indexOf('?');
  const p = q < 0 ? req.path : req.path.slice(0, q);
  return req.method === 'GET' && /\/models\/?$/.test(p);
}

export function reject(err: ApiError): RejectDecision {
  return {
    kind: 'reject',
    status: err.status,
    body: errorBody(err),
    headers: { 'content-type': 'application/json', ...(err.headers ?? {}) },
  };
}
