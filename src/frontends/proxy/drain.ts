import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

// A clean drain of the proxy's keep-alive connections. Stopping to listen is not enough: clients keep sending on the
// connections they hold, and a connection closed under them resets whatever request was on its way. So once
// draining, every response says `Connection: close` (node then ends the connection after it, and the client knows to
// open a fresh one, elsewhere); a connection idle at that moment is closed only after it stayed idle a while, so that
// a request already on the wire gets its answer (with `close`) instead of a reset.

interface ConnectionState {
  /** Requests of this connection whose response is not finished. */
  open: Set<ServerResponse>;
  idleTimer?: NodeJS.Timeout;
}

export class ConnectionDrain {
  private draining = false;
  private readonly connections = new Map<Socket, ConnectionState>();
  private readonly settledWaiters: Array<() => void> = [];

  /** `idleCloseMs`: how long a connection must stay idle during the drain before it is closed. */
  constructor(
    private readonly server: Server,
    private readonly idleCloseMs: number,
  ) {
    server.on('connection', (socket: Socket) => {
      this.connections.set(socket, { open: new Set() });
      socket.once('close', () => this.forget(socket));
    });
  }

  /** Every request goes through here before it is handled. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const state = this.connections.get(req.socket);
    if (!state) return;
    clearTimeout(state.idleTimer);
    state.open.add(res);
    if (this.draining) closeAfter(res);
    res.once('close', () => {
      state.open.delete(res);
      if (this.draining && state.open.size === 0) this.closeWhenIdle(req.socket, state);
    });
  }

  /** Stops accepting connections and starts closing the open ones as they fall idle; resolves once not listening. */
  start(): Promise<void> {
    this.draining = true;
    for (const [socket, state] of this.connections) {
      for (const res of state.open) closeAfter(res);
      if (state.open.size === 0) this.closeWhenIdle(socket, state);
    }
    // net's close, not http's: http.Server#close also drops idle connections at once, resetting requests in flight
    // on the wire to them.
    return new Promise((resolve) => NetServer.prototype.close.call(this.server, () => resolve()));
  }

  /** Resolves once every connection ended, or after `timeoutMs` at the latest. */
  settled(timeoutMs: number): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.settledWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private closeWhenIdle(socket: Socket, state: ConnectionState): void {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => {
      if (state.open.size === 0) socket.destroy();
    }, this.idleCloseMs);
  }

  private forget(socket: Socket): void {
    clearTimeout(this.connections.get(socket)?.idleTimer);
    this.connections.delete(socket);
    if (this.connections.size === 0) for (const w of this.settledWaiters.splice(0)) w();
  }
}

/** The response ends its connection, when its headers are still to be written. */
function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
}
