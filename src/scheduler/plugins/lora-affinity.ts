import type { Endpoint } from '../../datastore/endpoint.js';
import type { Plugin, PluginArgs, SchedulingRequest } from '../types.js';
import { numArg } from './args.js';

const NAME = 'lora-affinity';

type Residency = 'running' | 'waiting' | 'free' | 'full';

/**
 * LoRA adapter placement (vLLM's max_loras slots).
 * Filter: drops endpoints that cannot load the adapter now: every slot holds another adapter (running there, or sent
 * there by this router and not finished: the next scrape would show it) and the adapter is not resident there. If that leaves nothing, keeps them all (the engines queue the request).
 * Score: adapter running (runningScore, 100) > waiting or sent there by this router and not finished (waitingScore,
 * 70) > a free slot (freeSlotScore, 40) > every slot busy with other adapters (0). Stale metrics score as a free slot.
 * Requests for the base model (no adapter) pass through: kept, and scored alike.
 */
export function loraAffinity(args: PluginArgs): Plugin {
  const score: Record<Residency, number> = {
    running: numArg(args, NAME, 'runningScore', 100, 0, 100),
    waiting: numArg(args, NAME, 'waitingScore', 70, 0, 100),
    free: numArg(args, NAME, 'freeSlotScore', 40, 0, 100),
    full: 0,
  };
  // Adapters this router sent to each endpoint and that have not completed: residency before the next scrape shows it.
  const inflight = new Map<string, Map<string, number>>();
  const sent = new WeakMap<SchedulingRequest, string>();
  const count = (address: string, adapter: string, delta: number) => {
    let m = inflight.get(address);
    if (!m) {
      if (delta < 0) return;
      inflight.set(address, (m = new Map()));
    }
    const n = (m.get(adapter) ?? 0) + delta;
    if (n > 0) m.set(adapter, n);
    else m.delete(adapter);
    if (m.size === 0) inflight.delete(address);
  };
  const residency = (ep: Endpoint, adapter: string): Residency => {
    const m = ep.state.metrics;
    const fresh = m && !ep.state.stale;
    if (fresh && m.runningLoras.includes(adapter)) return 'running';
    if ((fresh && m.waitingLoras.includes(adapter)) || inflight.get(ep.address)?.has(adapter)) return 'waiting';
    if (!fresh || m.maxLoras === undefined) return 'free';
    return slotsTaken(m.runningLoras, inflight.get(ep.address)) < m.maxLoras ? 'free' : 'full';
  };
  return {
    name: NAME,
    filter(req, eps) {
      const adapter = req.loraAdapter;
      if (!adapter) return eps;
      const ok = eps.filter((e) => residency(e, adapter) !== 'full');
      return ok.length > 0 ? ok : eps;
    },
    score(req, eps) {
      const adapter = req.loraAdapter;
      if (!adapter) return eps.map(() => 100);
      return eps.map((e) => score[residency(e, adapter)]);
    },
    onPicked(req, ep) {
      if (!req.loraAdapter || sent.has(req)) return;
      sent.set(req, ep.address);
      count(ep.address, req.loraAdapter, 1);
    },
    onServed(req, ep) {
      const from = sent.get(req);
      if (!req.loraAdapter || from === undefined || from === ep.address) return;
      count(from, req.loraAdapter, -1);
      count(ep.address, req.loraAdapter, 1);
      sent.set(req, ep.address);
    },
    onComplete(req) {
      const from = sent.get(req);
      if (!req.loraAdapter || from === undefined) return;
      count(from, req.loraAdapter, -1);
      sent.delete(req);
    },
    onEndpointsRemoved(addresses) {
      for (const a of addresses) inflight.delete(a);
    },
  };
}

/** Distinct adapters holding a slot: those running, and those this router sent there since (they take one on arrival). */
function slotsTaken(running: readonly string[], sent: ReadonlyMap<string, number> | undefined): number {
  if (!sent) return running.length;
  let n = running.length;
  for (const adapter of sent.keys()) if (!running.includes(adapter)) n++;
  return n;
}
