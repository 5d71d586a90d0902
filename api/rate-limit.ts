import type { Context, MiddlewareHandler } from 'hono';
import type { RedisClient as Redis } from '../lib/redis';
import type { Result } from 'ioredis';
import type { Config } from '../lib/config';
import { DomainError } from '../lib/domain-error';
import { ACTION_BUCKETS, type TwoBuckets } from '../queue/scripts';
import type { RateCount, RateRefusal } from '../queue/waiting-room';
import { clientAddress } from './client-address';
import type { AppEnv } from './deps';
import { isRedisDown } from './problem';

type Limits = Pick<Config, 'RATE_LIMIT_WINDOW_SECONDS' | 'RATE_LIMIT_PER_USER' | 'RATE_LIMIT_PER_IP' | 'TRUSTED_PROXY_HOPS'>;

/** Entries kept before expired ones are swept: a flood of distinct addresses cannot grow it unbounded. */
const MAX_BLOCKS = 10_000;

/**
 * The abuse limits of one action (joining, polling): per authenticated user and per client address
 * (see `clientAddress`), per concert, in fixed windows counted in Redis, so a limit holds however many
 * API instances share the traffic. The counts are taken by the action's own queue script
 * (queue/scripts.ts), so a join or a poll stays one Redis round trip. A user or address refused once
 * is then refused from this process's memory until its window ends, so a flood stops costing Redis
 * round trips. Excess is answered 429 RATE_LIMITED with a `Retry-After`.
 */
export class RateLimit {
  private readonly blockedUntil = new Map<string, number>();

  constructor(
    private readonly action: 'join' | 'poll',
    private readonly limits: Limits,
  ) {}

  /** What the script counts for this request. */
  count(c: Context<AppEnv>): RateCount {
    return {
      action: this.action,
      userId: c.get('userId'),
      address: clientAddress(c, this.limits.TRUSTED_PROXY_HOPS) ?? null,
      perUser: this.limits.RATE_LIMIT_PER_USER,
      perAddress: this.limits.RATE_LIMIT_PER_IP,
      windowMs: this.limits.RATE_LIMIT_WINDOW_SECONDS * 1000,
    };
  }

  /** Milliseconds this process still refuses the request's user or address for, if any. */
  blockedFor(concertId: string, count: RateCount, nowMs = Date.now()): number | null {
    let until = this.blockedUntil.get(this.key(concertId, 'user', count.userId)) ?? 0;
    if (count.address) until = Math.max(until, this.blockedUntil.get(this.key(concertId, 'ip', count.address)) ?? 0);
    return until > nowMs ? until - nowMs : null;
  }

  /** The 429 for a refused request; remembers each exceeded limit until its window ends. */
  refuse(concertId: string, count: RateCount, refused: RateRefusal, nowMs = Date.now()): RateLimited {
    if (this.blockedUntil.size >= MAX_BLOCKS) {
      for (const [key, until] of this.blockedUntil) if (until <= nowMs) this.blockedUntil.delete(key);
      if (this.blockedUntil.size >= MAX_BLOCKS) this.blockedUntil.clear();
    }
    if (refused.userWaitMs !== undefined) this.blockedUntil.set(this.key(concertId, 'user', count.userId), nowMs + refused.userWaitMs);
    if (refused.addressWaitMs !== undefined && count.address) this.blockedUntil.set(this.key(concertId, 'ip', count.address), nowMs + refused.addressWaitMs);
    return this.refusal(Math.max(refused.userWaitMs ?? 0, refused.addressWaitMs ?? 0));
  }

  refusal(retryAfterMs: number): RateLimited {
    return new RateLimited(this.action, retryAfterMs);
  }

  private key(concertId: string, scope: 'user' | 'ip', id: string): string {
    return `${concertId} ${scope} ${id}`;
  }
}

/** A refusal over a rate limit: the app answers it 429 problem+json with `Retry-After` (whole seconds, at least 1). */
export class RateLimited extends DomainError {
  readonly retryAfterSeconds: number;

  constructor(action: string, retryAfterMs: number) {
    const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super('RATE_LIMITED', `too many ${action === 'hold' ? 'hold and cancel' : action} requests: retry after ${retryAfter} s`);
    this.retryAfterSeconds = retryAfter;
  }
}

/** The costly actions limited per user and per client address (`ActionLimit`). */
/** 'hold' counts holds and their cancellations together (api/routes/reservations.ts). */
export type CostlyAction = 'hold' | 'pay' | 'charge' | 'ticket-cancel' | 'signup';

/** ACTION_BUCKETS for one bucket, and for the user's and the address's in one command (a single Redis). */
const TAKE_FROM_BUCKET = `${ACTION_BUCKETS}
-- KEYS: bucket · ARGV: windowMs, limit, burst · returns -1 (taken) or the ms until the next action is allowed
return takeFromBuckets(1, 1, 1)[1]
`;
const TAKE_FROM_TWO_BUCKETS = `${ACTION_BUCKETS}
-- KEYS: bucket 1, bucket 2 · ARGV: windowMs, limit 1, burst 1, limit 2, burst 2 · returns {wait 1, wait 2}
return takeFromBuckets(1, 2, 1)
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    ovTakeFromBucket(bucket: string, windowMs: number, limit: number, burst: number): Result<number, Context>;
    ovTakeFromTwoBuckets(bucket1: string, bucket2: string, windowMs: number, limit1: number, burst1: number, limit2: number, burst2: number): Result<[number, number], Context>;
  }
}

export interface ActionLimits {
  /** Requests per window and user; undefined: this action is not limited per user (e.g. signing up). */
  perUser?: number;
  /** How many of them a user may make at once (at most `perUser`; default `perUser`). */
  burstPerUser?: number;
  perAddress: number;
  windowSeconds: number;
  trustedProxyHops: number;
}

/** The limits of each costly action, from the settings. */
export function actionLimits(config: Config, action: CostlyAction): ActionLimits {
  if (action === 'signup') {
    return { perAddress: config.USER_SIGNUPS_PER_IP, windowSeconds: config.USER_SIGNUP_WINDOW_SECONDS, trustedProxyHops: config.TRUSTED_PROXY_HOPS };
  }
  return {
    perUser: config.ACTION_LIMIT_PER_USER,
    burstPerUser: Math.min(config.ACTION_LIMIT_BURST_PER_USER, config.ACTION_LIMIT_PER_USER),
    perAddress: config.ACTION_LIMIT_PER_IP,
    windowSeconds: config.ACTION_LIMIT_WINDOW_SECONDS,
    trustedProxyHops: config.TRUSTED_PROXY_HOPS,
  };
}

/**
 * The abuse limit of one costly action (a hold, a cancellation, a payment, a charge, a ticket
 * cancellation, an account): per authenticated user and per client address, as buckets in Redis
 * (ACTION_BUCKETS), so the limit holds across API processes and instances. Each counter is a key of
 * its own (hash-tagged whole, one slot each: ready for a Redis Cluster); the user's and the address's
 * counts are taken in one round trip per request (one script on a single Redis, two in flight on a
 * cluster), before any PostgreSQL or Temporal work, so a refused request costs nothing else. As with
 * `RateLimit`, a refused user or address is then refused from this process's memory until its next
 * action is allowed.
 */
export class ActionLimit {
  private readonly blockedUntil = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly action: CostlyAction,
    private readonly limits: ActionLimits,
  ) {
    if (typeof (redis as Partial<Redis>).ovTakeFromBucket !== 'function') redis.defineCommand('ovTakeFromBucket', { numberOfKeys: 1, lua: TAKE_FROM_BUCKET });
    if (typeof (redis as Partial<Redis>).ovTakeFromTwoBuckets !== 'function') redis.defineCommand('ovTakeFromTwoBuckets', { numberOfKeys: 2, lua: TAKE_FROM_TWO_BUCKETS });
  }

  /** The middleware: counts the request, or refuses it 429 RATE_LIMITED with `Retry-After`. */
  readonly middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    await this.check(c.get('userId') as string | undefined, clientAddress(c, this.limits.trustedProxyHops) ?? null);
    await next();
  };

  /**
   * The middleware of an action whose own Redis script can take the count (the hold: the seat gate's
   * claim, so that a contested seat's loser costs one round trip): it hands the request's count to the
   * handler (`c.get('actionCount')`), which takes it before any other work, in its script or on its own.
   * A request that never gets that far (invalid, refused by a guard) is counted when it is answered,
   * and over the limit its answer is the 429: the same counts and answers as `middleware`'s.
   */
  readonly handedToHandler: MiddlewareHandler<AppEnv> = async (c, next) => {
    const count = this.count(c.get('userId') as string | undefined, clientAddress(c, this.limits.trustedProxyHops) ?? null);
    c.set('actionCount', count);
    await next();
    await count.take();
  };

  /** Counts one request of `userId` from `address`; throws `RateLimited` over either limit. */
  async check(userId: string | undefined, address: string | null, nowMs = Date.now()): Promise<void> {
    await this.count(userId, address, nowMs).take();
  }

  /**
   * One request's count, to be taken once (`ActionCount`). Throws `RateLimited` at once, with no round
   * trip, while this process remembers a refusal of the user or the address.
   */
  count(userId: string | undefined, address: string | null, nowMs = Date.now()): ActionCount {
    const counters: Counter[] = [];
    const { perUser, burstPerUser, perAddress } = this.limits;
    if (userId && perUser !== undefined) counters.push({ key: actionCounterKey(this.action, 'user', userId), limit: perUser, burst: Math.min(burstPerUser ?? perUser, perUser) });
    if (address) counters.push({ key: actionCounterKey(this.action, 'ip', address), limit: perAddress, burst: perAddress });
    const blocked = Math.max(0, ...counters.map(({ key }) => (this.blockedUntil.get(key) ?? 0) - nowMs));
    if (blocked > 0) throw new RateLimited(this.action, blocked);

    const windowMs = this.limits.windowSeconds * 1000;
    let taken = counters.length === 0;
    const refusal = (waits: number[]): RateLimited => {
      let waitMs = 0;
      waits.forEach((wait, i) => {
        if (wait >= 0) {
          this.remember(counters[i]!.key, nowMs + wait, nowMs);
          waitMs = Math.max(waitMs, wait);
        }
      });
      return new RateLimited(this.action, waitMs);
    };
    const [first, second] = counters;
    return {
      foldable: () => {
        if (taken || !second || this.redis.isCluster) return null;
        taken = true;
        return { keys: [first!.key, second.key], windowMs, limits: [first!.limit, second.limit], bursts: [first!.burst, second.burst] };
      },
      refusal,
      take: async () => {
        if (taken) return;
        taken = true;
        // Both counts in one round trip: one two-key script on a single Redis; on a Redis Cluster, where
        // the two keys live in different slots (which one script or pipeline cannot span), two
        // single-key scripts in flight together.
        const waits =
          second && !this.redis.isCluster
            ? await this.redis.ovTakeFromTwoBuckets(first!.key, second.key, windowMs, first!.limit, first!.burst, second.limit, second.burst).then(
                (both) => both.map(Number),
                (err: unknown) => [uncounted(err), uncounted(err)],
              )
            : await Promise.all(counters.map(({ key, limit, burst }) => this.redis.ovTakeFromBucket(key, windowMs, limit, burst).catch(uncounted)));
        if (waits.some((wait) => wait >= 0)) throw refusal(waits);
      },
    };
  }

  private remember(key: string, until: number, nowMs: number): void {
    if (this.blockedUntil.size >= MAX_BLOCKS) {
      for (const [k, u] of this.blockedUntil) if (u <= nowMs) this.blockedUntil.delete(k);
      if (this.blockedUntil.size >= MAX_BLOCKS) this.blockedUntil.clear();
    }
    this.blockedUntil.set(key, until);
  }
}

interface Counter {
  key: string;
  limit: number;
  burst: number;
}

/**
 * One request's count against an action's limit, taken exactly once: by the action's own Redis script
 * (`foldable`, then `refusal` if the script refused) or by its own command (`take`; a no-op once taken).
 */
export interface ActionCount {
  /**
   * The user's and the address's buckets for the action's script to take first, or null (taken already;
   * a Redis Cluster, where the buckets are in other slots; not two counts): then `take()` first.
   * Marks the count taken.
   */
  foldable(): TwoBuckets | null;
  /** The 429 for the script's waits per bucket (one at least ≥ 0), remembering each refused bucket. */
  refusal(waits: number[]): RateLimited;
  take(): Promise<void>;
}

/**
 * A counter Redis cannot count right now lets the request through. On a Redis Cluster a user's or an
 * address's counter lives on any master, whatever concert the request is for: failing closed would
 * turn one master's outage into refused holds and payments for a third of all fans on every concert,
 * while their own concert's keys (token, gate) are on a healthy master. The limits guard against
 * abuse, not outages; a request that needs the unavailable Redis for its own data still answers 503.
 */
function uncounted(err: unknown): number {
  if (isRedisDown(err)) return -1;
  throw err;
}

/** The counter of one action for one user or address: the whole key is its hash tag (its own slot). */
export function actionCounterKey(action: CostlyAction, scope: 'user' | 'ip', id: string): string {
  return `rate:{${action}:${scope}:${id}}`;
}
