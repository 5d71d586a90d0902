import type { Context } from 'hono';
import { clientAddress } from '../../api/client-address';

/** A request as @hono/node-server hands it to the app: the Node request in `c.env.incoming`. */
const from = (remoteAddress: string | undefined, forwardedFor?: string) =>
  ({ env: { incoming: { socket: { remoteAddress }, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } } } }) as unknown as Context;

describe('the client address the rate limiter counts', () => {
  it('is the socket peer when no proxy is declared, whatever X-Forwarded-For says', () => {
    expect(clientAddress(from('192.0.2.7'), 0)).toBe('192.0.2.7');
    expect(clientAddress(from('192.0.2.7', '203.0.113.9'), 0)).toBe('192.0.2.7');
  });

  it('is the entry the outermost trusted proxy appended, not what the client wrote before it', () => {
    expect(clientAddress(from('10.0.0.2', '6.6.6.6, 203.0.113.9'), 1)).toBe('203.0.113.9');
    expect(clientAddress(from('10.0.0.2', '6.6.6.6, 203.0.113.9, 10.0.0.1'), 2)).toBe('203.0.113.9');
    // Fewer entries than declared proxies: the furthest address known.
    expect(clientAddress(from('10.0.0.2'), 1)).toBe('10.0.0.2');
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped peer as its IPv4 address', () => {
    const a = clientAddress(from('2001:db8:1:2:aaaa::1'), 0);
    expect(a).toBe(clientAddress(from('2001:db8:1:2:ffff:ffff:ffff:ffff'), 0));
    expect(a).not.toBe(clientAddress(from('2001:db8:1:3::1'), 0));
    expect(clientAddress(from('::ffff:192.0.2.7'), 0)).toBe('192.0.2.7');
  });

  it('is unknown for a request that came through no socket', () => {
    expect(clientAddress({ env: undefined } as unknown as Context, 0)).toBeUndefined();
    expect(clientAddress(from(undefined), 0)).toBeUndefined();
  });
});
