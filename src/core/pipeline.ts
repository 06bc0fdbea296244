import { randomUUID } from 'node:crypto';
import type { Datastore } from '../datastore/datastore.js';
import type { Endpoint } from '../datastore/endpoint.js';
import { errorBody, type ApiError } from '../openai/errors.js';
import { parseRequest, type ParsedRequest } from '../openai/request.js';
import { logger } from '../observability/logger.js';
import { decisionLatency, picksTotal } from '../observability/metrics.js';
import type { AccessLog } from '../observability/access-log.js';
import { timeQueue } from '../observability/queue-timing.js';
import { RequestObservation, type Destination, type LimitType } from '../observability/request-observation.js';
import { NoEndpointError, type Scheduler } from '../scheduler/scheduler.js';
import type { SchedulingRequest } from '../scheduler/types.js';
import { ApiPaths } from './api-paths.js';
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
import { endSpan, SPAN, traced } from '../observability/tracing/request-trace.js';
import type { Attributes } from '@opentelemetry/api';
import type { Decision, HeaderMapLike, InboundRequest, Pipeline, PrefillDecodePlan, RejectDecision, RouteDecision } from './types.js';

export interface PipelineOptions {
  datastore: Datastore;
  scheduler: Scheduler;
  maxBodyBytes: number;
  /** Deepest nesting of arrays and objects a JSON body may have (400 beyond); DEFAULT_MAX_JSON_DEPTH when unset. */
  maxJsonDepth?: number;
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
  /** Paths routed at all (the inference API plus the operator's additions); the built-in API when unset. */
  apiPaths?: ApiPaths;
  /** Per-attempt timeouts where a ModelRoute sets none (`router.attemptTimeouts`); none when unset. */
  attemptTimeouts?: AttemptTimeouts;
  /** One line per request; none when unset. */
  accessLog?: AccessLog;
  /** Routes whose provider targets take only the overflow of saturated pods. */
  spillOver?: SpillOverConfig;
}

export interface AttemptTimeouts {
  headersMs: number;
  firstTokenMs: number;
}

const NOTHING_TRIED: ReadonlySet<string> = new Set();
/** Prompts longer than this (UTF-16 units) go to the tokenizer's worker pool: worth a request-count check first. */
const PRECHECK_MIN_CHARS = 8192;

const ANONYMOUS: Principal = { user: 'anonymous', tenant: 'default', groups: [], method: 'anonymous' };
const CONFORMANCE_HEADER = 'test-epp-endpoint-selection';

/** The transport-free routing pipeline: parse → route → auth → rate limit → flow control → schedule → decision. */
export class RoutingPipeline implements Pipeline {
  private readonly random: () => number;
  private readonly providers: ProviderSettings;
  private readonly apiPaths: ApiPaths;

  constructor(private readonly opts: PipelineOptions) {
    this.random = opts.random ?? Math.random;
    this.providers = opts.providers ?? defaultProviderSettings();
    this.apiPaths = opts.apiPaths ?? new ApiPaths();
  }

  handle(req: InboundRequest): Promise<Decision> {
    return this.run(req, NOTHING_TRIED);
  }

  private async run(req: InboundRequest, tried: ReadonlySet<string>, obs = new RequestObservation(req, this.opts.accessLog)): Promise<Decision> {
    const started = performance.now();
    try {
      const decision = await this.decide(req, tried, obs);
      if (decision.kind === 'reject') obs.rejected(decision.status, decision.body);
      return decision;
    } catch (err) {
      obs.failed();
      throw err;
    } finally {
      decisionLatency.observe({ frontend: req.frontend }, (performance.now() - started) / 1000);
    }
  }

  private async decide(req: InboundRequest, tried: ReadonlySet<string>, obs: RequestObservation): Promise<Decision> {
    const requestId = req.headers.get('x-request-id') || randomUUID();
    obs.identified(requestId);
    if (!this.apiPaths.allows(req.path)) {
      return reject({ status: 404, code: 'unknown_url', message: `Invalid URL (${req.method} ${truncate(req.path, 200)}): the router serves the inference API only` });
    }
    if (req.body.length > this.opts.maxBodyBytes) {
      return reject({
        status: 413,
        code: 'request_too_large',
        message: `request body exceeds ${this.opts.maxBodyBytes} bytes`,
      });
    }
    if (req.body.length === 0 && isModelList(req)) {
      if (!this.opts.pool) return modelList(this.opts.datastore);
      return this.passThrough(req, requestId, obs);
    }
    const parsed = parseRequest(req.path, req.body, this.opts.maxJsonDepth);
    if ('status' in parsed) return reject(parsed);
    obs.parsed(parsed.model, parsed.stream, req.body.length);

    const target = resolveTarget(this.opts.datastore, { ...parsed, path: req.path, headers: req.headers }, this.opts.pool, this.random, {
      ejections: this.opts.outlier,
      exclude: tried,
      spillOver: this.opts.spillOver,
    });
    if ('status' in target) return reject(target);
    const upstreamModel = this.upstreamModel(parsed, target, req.headers);
    obs.routed(destination(target, upstreamModel));
    req.trace?.describe({ 'gen_ai.request.model': parsed.model, 'kthena.route': target.routeLabel, 'kthena.request_id': requestId });

    const auth = await this.authenticate(req, parsed.model);
    if ('status' in auth) return reject(auth);
    const principal = auth;

    const limited = {
      principal,
      model: parsed.model,
      routeKey: target.match ? target.routeLabel : undefined,
      routeLimit: target.match?.route.spec.rateLimit,
    };
    // Cheap limits first (the body size was checked above): a client out of requests costs no token counting. Small
    // prompts are counted inline faster than a Redis round trip, so only big ones are checked ahead.
    const early = parsed.promptText.length > PRECHECK_MIN_CHARS ? await this.opts.rateLimit?.precheck?.(limited) : undefined;
    if (early && !early.ok) return reject({ status: early.status, code: early.code, message: early.message, headers: early.headers });
    const inputTokens = this.opts.countTokens ? await this.opts.countTokens(upstreamModel, parsed.promptText, req.signal) : 0;
    obs.authenticated(principal, inputTokens);
    let reservation: Reservation | undefined;
    let limitHeaders: Record<string, string> = {};
    if (this.opts.rateLimit) {
      const limiter = this.opts.rateLimit;
      const r = await traced(
        req.trace,
        SPAN.rateLimit,
        () => limiter.reserve({ ...limited, inputTokens, maxOutputTokens: parsed.maxTokens ?? 0 }),
        (out) => ({ attributes: { 'kthena.input_tokens': inputTokens }, error: out.ok ? undefined : out.code }),
      );
      if (!r.ok) {
        if (r.limitType) obs.rateLimited(LIMIT_TYPES[r.limitType]);
        return reject({ status: r.status, code: r.code, message: r.message, headers: r.headers });
      }
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
    const fallback = this.fallback(req, requestId, target, tried, obs);
    if (target.provider) {
      const d = providerDecision({
        requestId,
        parsed,
        path: req.path,
        provider: target.provider,
        settings: this.providers,
        outlier: this.opts.outlier,
        exchange: { datastore: this.opts.datastore, scheduler: this.opts.scheduler, schedulingRequest: sreq, reservation, observation: obs },
        setHeaders: { 'x-request-id': requestId },
        clientHeaders: limitHeaders,
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
    const admission = this.opts.admission
      ? await timeQueue(parsed.model, () => this.opts.admission!.admit(target.group, req.headers, sreq.user))
      : undefined;
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
    const span = req.trace?.child(SPAN.schedule);
    try {
      const pdGroup = target.server?.spec.workloadSelector.pdGroup;
      if (pdGroup) {
        pd = this.prefillDecode(req, sreq, candidates, pdGroup);
        ranked = pd.decodes;
      } else {
        const result = this.opts.scheduler.schedule(sreq, candidates);
        ranked = result.ranked;
        span?.setAttribute('kthena.scheduling.scores', result.scores);
      }
    } catch (err) {
      if (span) endSpan(span, undefined, err instanceof NoEndpointError ? 'no_ready_endpoint' : 'exception');
      reservation?.release();
      admission?.done();
      if (err instanceof NoEndpointError) return reject(noEndpointError(err.message));
      throw err;
    }
    const primary = ranked[0]!;
    if (span) endSpan(span, schedulingAttributes(candidates.length, ranked, pd?.pairs[0]?.prefill));
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
      observation: obs,
      admission,
      health: this.opts.outlier ? (address, failed) => this.opts.outlier!.report(address, failed) : undefined,
      prefill,
    });
    const policy = target.server?.spec.trafficPolicy;
    const perAttempt = target.match?.route.spec.trafficPolicy;
    const body = rewritten ? { ...parsed.json, model: upstreamModel } : parsed.json;
    // ext_proc: llm-d's sidecar on the decode pod runs the prefill, told where by a header (never the client's).
    const prefillerHeader: Record<string, string> = pd && req.frontend !== 'proxy' ? { [PREFILLER_HEADER]: pd.pairs[0]!.prefill.address } : {};
    const decision: RouteDecision = {
      kind: 'route',
      endpoints: ranked.map((e) => e.address),
      setHeaders: { 'x-request-id': requestId, ...prefillerHeader },
      clientHeaders: limitHeaders,
      // A client must not steer the prefill pick or the gateway's provider route either; the rewrite header is the
      // gateway's word to the picker, not the engine's; credentials the router consumed stay with the router.
      removeHeaders: [
        ...(prefillerHeader[PREFILLER_HEADER] ? [] : [PREFILLER_HEADER]),
        PROVIDER_HEADER,
        ...MODEL_REWRITE_HEADERS,
        ...(principal.consumedHeaders ?? []),
      ],
      body: rewritten ? (spliceModel(req.body, upstreamModel) ?? Buffer.from(JSON.stringify(body))) : undefined,
      upstream: {
        scheme: target.server?.spec.workloadPort.protocol ?? 'http',
        timeoutMs: policy?.timeoutMs ?? 0,
        retryAttempts: policy?.retry?.attempts ?? 0,
        retryIntervalMs: policy?.retry?.retryIntervalMs ?? 100,
        attemptHeadersTimeoutMs: perAttempt?.headersTimeoutMs ?? this.opts.attemptTimeouts?.headersMs ?? 0,
        attemptFirstTokenTimeoutMs: parsed.stream ? (perAttempt?.firstTokenTimeoutMs ?? this.opts.attemptTimeouts?.firstTokenMs ?? 0) : 0,
      },
      exchange,
      ...(fallback && { fallback }),
      ...(pd && req.frontend === 'proxy' && { prefillDecode: prefillDecodePlan(target, pd.pairs, body) }),
    };
    logger.debug({ requestId, model: parsed.model, endpoint: primary.address, group: target.group }, 'picked');
    return decision;
  }

  /** The next target of the rule, decided afresh (same request id) once this one failed; none if nothing is left. */
  private fallback(req: InboundRequest, requestId: string, target: Target, tried: ReadonlySet<string>, obs: RequestObservation): (() => Promise<Decision>) | undefined {
    if (!target.match || this.opts.pool) return undefined;
    const next = new Set(tried).add(target.group);
    if (!hasOtherTarget(target.match, target.match.route.metadata.namespace, next)) return undefined;
    const retry: InboundRequest = { ...req, headers: new Map(req.headers).set('x-request-id', requestId) };
    // Still the same client request: the failed attempt is not recorded as a request of its own.
    return () => {
      obs.supersede();
      return this.run(retry, next, obs);
    };
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
    const auth = this.opts.auth;
    if (!auth) return ANONYMOUS;
    // The principal's name and tenant go on the span; never a credential.
    const r = await traced(req.trace, SPAN.auth, () => auth.authenticate(req.headers, model), (out) =>
      out.ok
        ? { attributes: { 'enduser.id': out.principal.user, 'kthena.tenant': out.principal.tenant, 'kthena.auth.method': out.principal.method } }
        : { error: out.reason },
    );
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
  private passThrough(req: InboundRequest, requestId: string, obs: RequestObservation): Decision {
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
      observation: obs,
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

const LIMIT_TYPES: Record<string, LimitType> = { requests: 'requests', inputTokens: 'input_tokens', outputTokens: 'output_tokens' };

/** Kthena's destination labels for the resolved target. */
function destination(target: Target, upstreamModel: string): Destination {
  const colon = target.group.indexOf(':');
  const kind = target.group.slice(0, colon);
  const route = target.match?.route.metadata;
  return {
    modelRoute: route ? `${route.namespace}/${route.name}` : 'none',
    backendType: kind === 'server' ? 'model_server' : kind === 'pool' ? 'inference_pool' : kind === 'provider' ? 'external_provider' : 'none',
    backendName: target.group.slice(colon + 1),
    upstreamModel,
  };
}

/** The scheduling span's attributes: the chosen pod, the ranking (scores are set where the scheduler gives them). */
function schedulingAttributes(candidates: number, ranked: Endpoint[], prefill: Endpoint | undefined): Attributes {
  return {
    'kthena.endpoint': ranked[0]!.address,
    'kthena.scheduling.candidates': candidates,
    'kthena.scheduling.ranked': ranked.map((e) => e.address),
    ...(prefill && { 'kthena.prefill_endpoint': prefill.address }),
  };
}

function isModelList(req: InboundRequest): boolean {
  const q = req.path.indexOf('?');
  const p = q < 0 ? req.path : req.path.slice(0, q);
  return req.method === 'GET' && /\/models\/?$/.test(p);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function reject(err: ApiError): RejectDecision {
  return {
    kind: 'reject',
    status: err.status,
    body: errorBody(err),
    headers: { 'content-type': 'application/json', ...(err.headers ?? {}) },
  };
}
