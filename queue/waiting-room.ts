import type { RedisClient as Redis } from '../lib/redis';
import { DomainError } from '../lib/domain-error';
import { queueKeys } from './keys';
import { preQueueScore, type FairStart } from './fair-start';
import { formatToken, newTokenSecret, parseToken } from './token';

/** Why a concert's queue is closed for good. */
export type ClosedReason = 'CANCELLED' | 'SOLD_OUT';

/**
 * A waiting fan of a closed queue reads the reason as the token's status. PRE_QUEUE: joined before the
 * sales opened (no position yet). QUEUE_POSITION_EXPIRED: stopped polling and lost the place. NO_SHOW:
 * admitted but never came within NO_SHOW_SECONDS.
 */
export type TokenStatus = 'PRE_QUEUE' | 'WAITING' | 'ACTIVE' | 'EXPIRED' | 'COMPLETED' | 'LEFT' | 'QUEUE_POSITION_EXPIRED' | 'NO_SHOW' | ClosedReason;

/** How long a waiting fan who stops polling keeps the place, unless the API says otherwise. */
export const DEFAULT_POSITION_TTL_MS = 300_000;

/**
 * One request counted against the rate limits of an action, per user and per client address, in
 * fixed windows kept in the concert's slot (so a limit is per concert). A limit of 0 is not counted.
 */
export interface RateCount {
  action: 'join' | 'poll';
  userId: string;
  address: string | null;
  perUser: number;
  perAddress: number;
  windowMs: number;
}

/** A request over a limit: for each exceeded limit, the milliseconds until its window ends. */
export interface RateRefusal {
  kind: 'rate-limited';
  userWaitMs?: number;
  addressWaitMs?: number;
}

export type Arrival = { kind: 'joined'; ticket: QueueTicket & { created: boolean; wakeController: boolean } } | { kind: 'closed'; reason: ClosedReason } | RateRefusal;

/** `forbidden`: the token is someone else's live token. */
export type Poll = { kind: 'ticket'; ticket: QueueTicket | null } | { kind: 'forbidden' } | RateRefusal;

const NOT_COUNTED = { userCounter: 'none', addressCounter: 'none', perUser: 0, perAddress: 0, windowMs: 0 };

export interface QueueTicket {
  token: string;
  concertId: string;
  userId: string;
  status: TokenStatus;
  /** 1-based among those waiting; 0 once active. */
  position: number;
  arrival: number;
  /** End of the active window (epoch ms), when admitted. */
  activeUntil?: number;
  /** How many are waiting in this concert's queue. */
  waiting: number;
  /** The concert's current admission rate, when the controller has published one. */
  admitPerSecond?: number;
  /** When the sales open (epoch ms), for a PRE_QUEUE ticket. */
  opensAt?: number;
}

export interface AdmittedFan {
  userId: string;
  token: string;
  arrival: number;
}

export interface AdmissionTick {
  admitted: AdmittedFan[];
  /** Fans at the head whose last request was older than the position TTL: they lost the place. */
  dropped: number;
  activeUntil: number;
  waiting: number;
  active: number;
}

/**
 * The per-concert waiting room in Redis: a sorted set of waiting fans (pre-queued fans by their fair
 * score, then later ones by arrival), a sorted set of active fans by the end of their window, and one
 * hash per user's session. Every operation is one script, on keys its caller names (the session's by
 * the verified user id). `positionTtlMs`: how long a waiting fan who stops polling keeps the place.
 */
export class WaitingRoom {
  constructor(
    private readonly redis: Redis,
    private readonly positionTtlMs = DEFAULT_POSITION_TTL_MS,
  ) {}

  /** Idempotent per user and concert: a live token is returned as it is (created = false). */
  async join(concertId: string, userId: string, nowMs = Date.now(), start: FairStart | null = null): Promise<QueueTicket & { created: boolean; wakeController: boolean }> {
    const outcome = await this.arrive(concertId, userId, null, nowMs, start);
    if (outcome.kind === 'closed') throw closedError(outcome.reason);
    if (outcome.kind === 'rate-limited') throw new Error('unreachable: an uncounted join was rate limited');
    return outcome.ticket;
  }

  /**
   * A join counted against the rate limits, in one round trip: the counts, the queue's closed flag,
   * the join itself, the queue's length and its admission rate, atomically. Nobody joins a closed
   * queue; a refused join changes nothing but the counts. Before the concert's opening (`start`), a
   * new fan is placed by the fair score (PRE_QUEUE); `start` null: the sales are open.
   */
  async arrive(concertId: string, userId: string, count: RateCount | null, nowMs = Date.now(), start: FairStart | null = null): Promise<Arrival> {
    const k = queueKeys(concertId);
    const c = counters(k, count);
    const preQueued = start !== null && nowMs < start.opensAtMs;
    const reply = await this.redis.ovJoin(
      k.session(userId), k.waiting, k.active, k.seq, k.settings, k.closed, c.userCounter, c.addressCounter, k.controllerAsleep, k.owners,
      userId, newTokenSecret(), nowMs, c.perUser, c.perAddress, c.windowMs,
      preQueued ? String(preQueueScore(start.seed, userId)) : '', start && start.opensAtMs > 0 ? String(start.opensAtMs) : '', String(this.positionTtlMs),
    );
    if (reply[0] === 'RATE_LIMITED') return refusal(reply[1], reply[2]);
    if (reply[0] === 'CLOSED') return { kind: 'closed', reason: reply[1] as ClosedReason };
    const [, created, secret, status, position, arrival, activeUntil, waiting, rate, wake] = reply;
    return { kind: 'joined', ticket: {
      created: Number(created) === 1,
      // The controller slept and this join took its mark: the caller wakes it (Journeys.wakeAdmission).
      wakeController: Number(wake) === 1,
      token: formatToken(concertId, secret),
      concertId,
      userId,
      status: status as TokenStatus,
      position: Number(position),
      arrival: Number(arrival),
      activeUntil: Number(activeUntil) > 0 ? Number(activeUntil) : undefined,
      waiting: Number(waiting),
      admitPerSecond: rate ? Number(rate) : undefined,
      ...(status === 'PRE_QUEUE' && start ? { opensAt: start.opensAtMs } : {}),
    } };
  }

  /**
   * Counts a join against the rate limits without joining (for a concert the caller must first
   * check exists). Returns the refusal when over a limit, else null.
   */
  async countArrival(concertId: string, count: RateCount): Promise<RateRefusal | null> {
    const c = counters(queueKeys(concertId), count);
    const [userWait, addressWait] = await this.redis.ovCountArrival(c.userCounter, c.addressCounter, c.perUser, c.perAddress, c.windowMs);
    return Number(userWait) >= 0 || Number(addressWait) >= 0 ? refusal(userWait, addressWait) : null;
  }

  /** Closes the concert's queue for good: nobody joins any more, and waiting fans read the reason. */
  async close(concertId: string, reason: ClosedReason): Promise<void> {
    await this.redis.set(queueKeys(concertId).closed, reason);
  }

  /**
   * Reads the user's token (and records the user's request: a waiting fan keeps the place, an
   * admitted one is not a no-show). Returns null for a malformed or unknown token, or one the user's
   * newer token replaced; 'forbidden' for someone else's live token. An ACTIVE token whose window has
   * ended reads EXPIRED, even before the journey's timer has fired.
   */
  async lookup(token: string | undefined | null, userId: string, nowMs = Date.now()): Promise<QueueTicket | 'forbidden' | null> {
    const polled = await this.poll(token, userId, null, nowMs);
    return polled.kind === 'ticket' ? polled.ticket : polled.kind === 'forbidden' ? 'forbidden' : null;
  }

  /** `lookup`, counted against the rate limits in the same round trip. A malformed token is not counted. */
  async poll(token: string | undefined | null, userId: string, count: RateCount | null, nowMs = Date.now()): Promise<Poll> {
    const parsed = parseToken(token);
    if (!parsed) return { kind: 'ticket', ticket: null };
    const k = queueKeys(parsed.concertId);
    const c = counters(k, count);
    const row = await this.redis.ovStatus(
      k.session(userId), k.waiting, k.settings, k.closed, c.userCounter, c.addressCounter, k.owners,
      c.perUser, c.perAddress, c.windowMs, userId, parsed.secret, nowMs,
    );
    if (!row) return { kind: 'ticket', ticket: null };
    if (row[0] === 'RATE_LIMITED') return refusal(row[1], row[2]);
    if (row[0] === 'FORBIDDEN') return { kind: 'forbidden' };
    const [, storedStatus, arrival, activeUntil, position, waiting, rate, opensAt] = row;
    const until = Number(activeUntil);
    const status: TokenStatus = storedStatus === 'ACTIVE' && until <= nowMs ? 'EXPIRED' : (storedStatus as TokenStatus);
    return { kind: 'ticket', ticket: {
      token: token as string,
      concertId: parsed.concertId,
      userId,
      status,
      position: status === 'WAITING' ? Number(position) : 0,
      arrival: Number(arrival),
      activeUntil: until > 0 ? until : undefined,
      waiting: Number(waiting),
      admitPerSecond: rate ? Number(rate) : undefined,
      ...(status === 'PRE_QUEUE' ? { opensAt: Number(opensAt) } : {}),
    } };
  }

  /** A waiting fan leaves the queue. Returns the token's status after the call. */
  async leaveWaiting(token: string, userId: string): Promise<TokenStatus | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const k = queueKeys(parsed.concertId);
    return (await this.redis.ovLeaveWaiting(k.session(userId), k.waiting, userId, parsed.secret)) as TokenStatus | null;
  }

  /**
   * One admission tick: drops expired actives, then moves up to `maxBatch` fans from the head of the
   * queue to the active set without exceeding `maxActive`, passing over (and dropping) fans who
   * stopped polling. The outcome is stored under the tick id, so a retried tick returns the same fans
   * instead of admitting more. Two round trips: the head is read first, so that the script that
   * admits declares the session key of every fan it may touch.
   */
  async admit(
    concertId: string,
    tick: { tickId: string; maxBatch: number; maxActive: number; activeTtlMs: number; admitPerSecond: number; paused: boolean },
    nowMs = Date.now(),
  ): Promise<AdmissionTick> {
    const k = queueKeys(concertId);
    // Twice the batch: leavers at the head are passed over without starving the tick (and those
    // beyond are reached by the next one).
    const head = tick.maxBatch > 0 ? await this.redis.zrange(k.waiting, '0', String(2 * tick.maxBatch + 9)) : [];
    const raw = await this.redis.ovAdmit(
      4 + head.length, k.waiting, k.active, k.batch(tick.tickId), k.settings, ...head.map((userId) => k.session(userId)),
      nowMs, tick.maxBatch, tick.maxActive, tick.activeTtlMs, 3600, tick.admitPerSecond, tick.paused ? 1 : 0, ...head,
    );
    const parsed = JSON.parse(raw) as { admitted: string[] | Record<string, never>; dropped?: number; activeUntil: number; waiting: number; active: number };
    // cjson encodes an empty Lua table as an object.
    const admitted = Array.isArray(parsed.admitted) ? parsed.admitted : [];
    return {
      admitted: admitted.map((entry) => {
        const [userId, secret, arrival] = entry.split(' ');
        return { userId, token: formatToken(concertId, secret), arrival: Number(arrival) };
      }),
      dropped: parsed.dropped ?? 0,
      activeUntil: parsed.activeUntil,
      waiting: parsed.waiting,
      active: parsed.active,
    };
  }

  /** Ends an active session (COMPLETED, LEFT or EXPIRED) and frees its place in the active set. */
  async endSession(token: string, userId: string, finalStatus: 'EXPIRED' | 'COMPLETED' | 'LEFT' | 'NO_SHOW'): Promise<TokenStatus | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const k = queueKeys(parsed.concertId);
    return (await this.redis.ovEndSession(k.session(userId), k.active, userId, parsed.secret, finalStatus, '')) as TokenStatus | null;
  }

  /** Marks the concert's controller asleep: the next join takes the mark and wakes it. */
  async markControllerAsleep(concertId: string): Promise<void> {
    await this.redis.set(queueKeys(concertId).controllerAsleep, '1');
  }

  /** Takes the mark back (the controller is awake after all). */
  async wakeController(concertId: string): Promise<void> {
    await this.redis.del(queueKeys(concertId).controllerAsleep);
  }

  async counts(concertId: string): Promise<{ waiting: number; active: number }> {
    const k = queueKeys(concertId);
    const [waiting, active] = await Promise.all([
      this.redis.zcard(k.waiting),
      this.redis.zcount(k.active, `(${Date.now()}`, '+inf'),
    ]);
    return { waiting, active };
  }
}

/** The refusal of a join to a closed queue (409). */
export function closedError(reason: ClosedReason): DomainError {
  return reason === 'CANCELLED'
    ? new DomainError('CONCERT_CANCELLED', 'the concert is cancelled: its queue is closed')
    : new DomainError('SOLD_OUT', 'the concert is sold out: its queue is closed');
}

function refusal(userWait: number | string, addressWait: number | string): RateRefusal {
  const [user, address] = [Number(userWait), Number(addressWait)];
  return { kind: 'rate-limited', ...(user >= 0 ? { userWaitMs: user } : {}), ...(address >= 0 ? { addressWaitMs: address } : {}) };
}

function counters(k: ReturnType<typeof queueKeys>, count: RateCount | null) {
  if (!count) return { ...NOT_COUNTED, userCounter: k.prefix + NOT_COUNTED.userCounter, addressCounter: k.prefix + NOT_COUNTED.addressCounter };
  return {
    userCounter: k.rateCounter(count.action, 'user', count.userId),
    // A script's keys all live in the concert's slot, so an unknown address still names a key there.
    addressCounter: count.address ? k.rateCounter(count.action, 'ip', count.address) : k.prefix + NOT_COUNTED.addressCounter,
    perUser: count.perUser,
    perAddress: count.address ? count.perAddress : 0,
    windowMs: count.windowMs,
  };
}
