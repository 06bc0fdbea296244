/** A server could not bind its port; the message names the flag to change. Stops the router at start. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this host',
};

/**
 * Runs a server's start; a bind failure (Node's own or grpc-js's, which only carries the code in its message)
 * becomes a ListenError naming the server, the address and the flag. Anything else is rethrown as is.
 */
export async function listening<T>(what: string, flag: string, host: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const code = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message ?? ''}`)?.[1];
    if (!code) throw err;
    throw new ListenError(`cannot listen on ${host}:${port} for ${what} (${flag}): ${REASONS[code]}`);
  }
}
