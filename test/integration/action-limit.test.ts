import { randomUUID } from 'node:crypto';
import { ActionLimit, RateLimited } from '../../api/rate-limit';
import type { Redis } from '../../lib/redis';
import { openRedis } from './fixtures';

let redis: Redis;
beforeAll(async () => {
  redis = await openRedis();
});
afterAll(async () => {
  await redis.quit();
});

describe('a costly action’s limit per user: a burst, then an even rate', () => {
  it('lets `burst` actions through at once, then one per window ÷ limit, with a Retry-After that says when', async () => {
    // 6 a minute with a burst of 2: two at once, then one every 10 s.
    const limit = new ActionLimit(redis, 'hold', { perUser: 6, burstPerUser: 2, perAddress: 1_000, windowSeconds: 60, trustedProxyHops: 0 });
    const user = `user-${randomUUID()}`;
    await limit.check(user, null);
    await limit.check(user, null);
    const refused = await limit.check(user, null).then(() => undefined, (err: unknown) => err);
    expect(refused).toBeInstanceOf(RateLimited);
    // The next action is due one interval (10 s) after the first: 9–10 s from now, never the window's 60.
    expect((refused as RateLimited).retryAfterSeconds).toBeGreaterThanOrEqual(9);
    expect((refused as RateLimited).retryAfterSeconds).toBeLessThanOrEqual(10);
    // Another user has a bucket of their own.
    await expect(limit.check(`user-${randomUUID()}`, null)).resolves.toBeUndefined();
  });

  it('without a burst setting, allows the whole limit at once (as the per-address limit does)', async () => {
    const limit = new ActionLimit(redis, 'pay', { perUser: 3, perAddress: 1_000, windowSeconds: 600, trustedProxyHops: 0 });
    const user = `user-${randomUUID()}`;
    for (let i = 0; i < 3; i++) await limit.check(user, null);
    await expect(limit.check(user, null)).rejects.toBeInstanceOf(RateLimited);
  });
});
