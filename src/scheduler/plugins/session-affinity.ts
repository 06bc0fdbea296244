import type { Endpoint } from '../../datastore/endpoint.js';
import { waitingNow } from '../load.js';
import { LruMap } from '../prefix/lru.js';
import type { Plugin, PluginArgs, SchedulingRequest } from '../types.js';
import { boolArg, intArg, numArg, optStrArg, strArg } from './args.js';

const NAME = 'session-affinity';

/**
 * Sticky sessions: requests of one session go to the endpoint that served the session last, where its conversation
 * is cached. The session is the `header` request header (default x-session-id), else the `cookie` cookie (when
 * configured), else the body's `user` (useUser, default true). Sessions live in an LRU of maxSessions entries and
 * expire ttlSeconds after their last request. Falls back to the other plugins when the sticky endpoint is gone or
 * its queue holds more than maxWaitingRequests; the next pick then becomes the session's endpoint.
 * Filter: only the sticky endpoint when there is one (strict stickiness). Score: 100 for it, 0 for the others.
 */
export function sessionAffinity(args: PluginArgs): Plugin {
  const header = strArg(args, NAME, 'header', 'x-session-id').toLowerCase();
  const cookie = optStrArg(args, NAME, 'cookie');
  const useUser = boolArg(args, NAME, 'useUser', true);
  const ttlMs = 1000 * numArg(args, NAME, 'ttlSeconds', 1800, 0.001);
  const maxWaiting = numArg(args, NAME, 'maxWaitingRequests', 5);
  const sessions = new LruMap<string, { address: string; at: number }>(intArg(args, NAME, 'maxSessions', 100_000));

  const keyOf = (req: SchedulingRequest): string | undefined => {
    const id = req.headers.get(header) || (cookie && cookieValue(req.headers.get('cookie'), cookie)) || (useUser && req.user);
    return id ? `${req.group}\u0000${id}` : undefined;
  };
  const sticky = (req: SchedulingRequest, eps: Endpoint[]): Endpoint | undefined => {
    const key = keyOf(req);
    const s = key === undefined ? undefined : sessions.peek(key);
    if (!s) return undefined;
    if (Date.now() - s.at > ttlMs) {
      sessions.delete(key!);
      return undefined;
    }
    const ep = eps.find((e) => e.address === s.address);
    return ep && waitingNow(ep) <= maxWaiting ? ep : undefined;
  };
  const remember = (req: SchedulingRequest, ep: Endpoint) => {
    const key = keyOf(req);
    if (key !== undefined) sessions.set(key, { address: ep.address, at: Date.now() });
  };
  return {
    name: NAME,
    filter(req, eps) {
      const ep = sticky(req, eps);
      return ep ? [ep] : eps;
    },
    score(req, eps) {
      const ep = sticky(req, eps);
      return eps.map((e) => (e === ep ? 100 : 0));
    },
    onPicked: remember,
    onServed: remember,
    onEndpointsRemoved(addresses) {
      const gone = new Set(addresses);
      const stale: string[] = [];
      for (const [key, s] of sessions.entries()) if (gone.has(s.address)) stale.push(key);
      for (const key of stale) sessions.delete(key);
    },
  };
}

/** The value of cookie `name` in a Cookie header (several headers may have been joined with ", "). */
function cookieValue(raw: string | undefined, name: string): string | undefined {
  if (!raw) return undefined;
  for (const part of raw.split(/[;,]\s*/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
