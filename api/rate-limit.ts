import type { MiddlewareHandler } from 'hono';
import type Redis from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../lib/config';
import { clientAddress } from './client-address';
import type { AppEnv } from './deps';
import { problemOf, problemResponse } from './problem';

type Limits = Pick<Config, 'RATE_LIMIT_WINDOW_SECONDS' | 'RATE_LIMIT_PER_USER' | 'RATE_LIMIT_PER_IP' | 'TRUSTED_PROXY_HOPS'>;

/**
 * Refuses a flood of one action with 429 RATE_LIMITED and a `Retry-After`: per authenticated user
 * and per client address (see `clientAddress`), in fixed windows counted in Redis, so a limit holds
 * however many API instances share the traffic. Each count is one Redis script and the two run side
 * by side. A key over its limit is then refused from this instance's memory until its window ends,
 * so a flood stops costing Redis round trips. Runs after `requireUser`.
 */
export function rateLimit(redis: Redis, action: 'join' | 'poll', limits: Limits): MiddlewareHandler<AppEnv> {
  const limiter = (scope: string, points: number) =>
    new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `ratelimit:${action}:${scope}`,
      points,
      duration: limits.RATE_LIMIT_WINDOW_SECONDS,
      inMemoryBlockOnConsumed: points + 1,
    });
  const perUser = limiter('user', limits.RATE_LIMIT_PER_USER);
  const perAddress = limiter('ip', limits.RATE_LIMIT_PER_IP);

  return async (c, next) => {
    const address = clientAddress(c, limits.TRUSTED_PROXY_HOPS);
    const verdicts = await Promise.allSettled([perUser.consume(c.get('userId')), address ? perAddress.consume(address) : undefined]);
    const refusals: RateLimiterRes[] = [];
    for (const verdict of verdicts) {
      if (verdict.status === 'fulfilled') continue;
      // The library rejects with its verdict when over the limit, and with an error when Redis failed.
      if (!(verdict.reason instanceof RateLimiterRes)) throw verdict.reason;
      refusals.push(verdict.reason);
    }
    if (refusals.length === 0) return next();
    const retryAfter = Math.max(1, ...refusals.map((r) => Math.ceil(r.msBeforeNext / 1000)));
    return problemResponse(c, problemOf('RATE_LIMITED', `too many ${action} requests: retry after ${retryAfter} s`), { 'Retry-After': String(retryAfter) });
  };
}
