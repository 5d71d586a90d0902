import type { Context } from 'hono';
import type { Config } from '../lib/config';
import { DomainError } from '../lib/domain-error';
import type { RateCount, RateRefusal } from '../queue/waiting-room';
import { clientAddress } from './client-address';
import type { AppEnv } from './deps';

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
    super('RATE_LIMITED', `too many ${action} requests: retry after ${retryAfter} s`);
    this.retryAfterSeconds = retryAfter;
  }
}
