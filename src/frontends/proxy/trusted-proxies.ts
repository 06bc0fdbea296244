import { BlockList, isIP } from 'node:net';

// The proxies in front of the standalone proxy (a TLS terminator, a load balancer) whose X-Forwarded-Host and
// X-Forwarded-Proto are believed; from any other peer these headers are the client's own claims.

export class TrustedProxies {
  private readonly list = new BlockList();

  /** `entries`: addresses or CIDR ranges (`10.0.0.0/8`, `::1`), already validated by `invalidTrustedProxy`. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(bits), type);
    }
  }

  includes(peer: string | undefined): boolean {
    if (!peer) return false;
    // node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d.
    const address = peer.startsWith('::ffff:') && isIP(peer.slice(7)) === 4 ? peer.slice(7) : peer;
    return this.list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Why a `router.trustedProxies` entry is not an address or CIDR range, or undefined when it is. */
export function invalidTrustedProxy(entry: unknown): string | undefined {
  if (typeof entry !== 'string') return 'must be an IP address or CIDR range';
  const [address, bits, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return `${entry} is not an IP address or CIDR range`;
  if (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))) return `${entry} has an invalid prefix length`;
  return undefined;
}
