import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { sign, verify } from 'hono/jwt';
import { DomainError } from '../lib/domain-error';
import type { AppEnv } from './deps';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An HS256 access token: `sub` is the user id, `exp` its expiry. */
export function issueAccessToken(userId: string, secret: string, ttlSeconds: number, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return sign({ sub: userId, iat: nowSeconds, exp: nowSeconds + ttlSeconds }, secret, 'HS256');
}

/** The user comes from the verified bearer credential only, never from a body or a path. */
export function requireUser(secret: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header);
    if (!match) throw new DomainError('UNAUTHENTICATED', 'a bearer access token is required');
    let sub: unknown;
    try {
      ({ sub } = await verify(match[1], secret, 'HS256'));
    } catch {
      throw new DomainError('UNAUTHENTICATED', 'the access token is invalid or expired');
    }
    if (typeof sub !== 'string' || !UUID.test(sub)) throw new DomainError('UNAUTHENTICATED', 'the access token is invalid');
    c.set('userId', sub);
    await next();
  };
}

/** Operator endpoints: the key is compared in constant time (over digests, so lengths leak nothing). */
export function requireAdmin(adminKey: string): MiddlewareHandler<AppEnv> {
  const expected = createHash('sha256').update(adminKey).digest();
  return async (c, next) => {
    const given = createHash('sha256').update(c.req.header('x-admin-key') ?? '').digest();
    if (!c.req.header('x-admin-key') || !timingSafeEqual(given, expected)) {
      throw new DomainError('UNAUTHENTICATED', 'a valid X-Admin-Key is required');
    }
    await next();
  };
}
