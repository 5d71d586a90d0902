import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';
import { Lru } from '../lib/lru';

/**
 * Where a request came from, as the rate limiter counts it. By default the socket's peer: an
 * `X-Forwarded-For` header is the client's own word and could name a new address on every request.
 * With `trustedProxyHops` proxies in front, it is the address the outermost of them saw (the entry
 * that proxy appended); entries further left are still the client's word and are ignored.
 *
 * An IPv6 client is counted by its /64, which one subscriber holds whole; an IPv4-mapped IPv6 peer
 * counts as its IPv4 address. Undefined for a request that came through no socket (`app.request()`).
 */
export function clientAddress(c: Context, trustedProxyHops: number): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const peer = incoming?.socket?.remoteAddress;
  if (!peer) return undefined;
  // With no proxy declared the answer is the peer's: proxy-addr would parse X-Forwarded-For only to ignore it.
  const address = trustedProxyHops === 0 ? peer : proxyaddr(incoming, (_address, hop) => hop < trustedProxyHops);
  let counted = countedAs.get(address);
  if (counted === undefined) countedAs.set(address, (counted = countedAddress(address)));
  return counted;
}

/** Parsing an address is a few µs on every rate-limited request: the same clients' answers are remembered. */
const countedAs = new Lru<string, string>(10_000);

function countedAddress(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  const network = (ip as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${network.join(':')}::/64`;
}
