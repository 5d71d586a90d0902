import type Redis from 'ioredis';
import { queueKeys } from './keys';
import { formatToken, newTokenSecret, parseToken } from './token';

export type TokenStatus = 'WAITING' | 'ACTIVE' | 'EXPIRED' | 'COMPLETED' | 'LEFT';

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
}

export interface AdmittedFan {
  userId: string;
  token: string;
  arrival: number;
}

export interface AdmissionTick {
  admitted: AdmittedFan[];
  activeUntil: number;
  waiting: number;
  active: number;
}

/**
 * The per-concert waiting room in Redis: a sorted set of waiting fans by arrival, a sorted set of
 * active fans by the end of their window, and one hash per token. Every operation is one script.
 */
export class WaitingRoom {
  constructor(private readonly redis: Redis) {}

  /** Idempotent per user and concert: a live token is returned as it is (created = false). */
  async join(concertId: string, userId: string, nowMs = Date.now()): Promise<QueueTicket & { created: boolean; wakeController: boolean }> {
    const k = queueKeys(concertId);
    // One round trip: the join, the queue's length and its admission rate, atomically.
    const [created, secret, status, position, arrival, activeUntil, waiting, rate, wake] = await this.redis.ovJoin(
      k.fan(userId), k.waiting, k.active, k.seq, k.settings, k.controllerAsleep, userId, newTokenSecret(), nowMs, k.prefix,
    );
    return {
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
    };
  }

  /**
   * Reads a token by its exact key. Returns null for a malformed or unknown token. An ACTIVE token
   * whose window has ended reads EXPIRED, even before the journey's timer has fired.
   */
  async lookup(token: string | undefined | null, nowMs = Date.now()): Promise<QueueTicket | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const k = queueKeys(parsed.concertId);
    const row = await this.redis.ovStatus(k.token(parsed.secret), k.waiting, k.settings);
    if (!row) return null;
    const [userId, storedStatus, arrival, activeUntil, position, waiting, rate] = row;
    const until = Number(activeUntil);
    const status: TokenStatus = storedStatus === 'ACTIVE' && until <= nowMs ? 'EXPIRED' : (storedStatus as TokenStatus);
    return {
      token: token as string,
      concertId: parsed.concertId,
      userId,
      status,
      position: status === 'WAITING' ? Number(position) : 0,
      arrival: Number(arrival),
      activeUntil: until > 0 ? until : undefined,
      waiting: Number(waiting),
      admitPerSecond: rate ? Number(rate) : undefined,
    };
  }

  /** A waiting fan leaves the queue. Returns the token's status after the call. */
  async leaveWaiting(token: string, userId: string): Promise<TokenStatus | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const k = queueKeys(parsed.concertId);
    return (await this.redis.ovLeaveWaiting(k.token(parsed.secret), k.waiting, userId)) as TokenStatus | null;
  }

  /**
   * One admission tick: drops expired actives, then moves up to `maxBatch` fans from the head of the
   * queue to the active set without exceeding `maxActive`. The outcome is stored under the tick id,
   * so a retried tick returns the same fans instead of admitting more.
   */
  async admit(
    concertId: string,
    tick: { tickId: string; maxBatch: number; maxActive: number; activeTtlMs: number; admitPerSecond: number; paused: boolean },
    nowMs = Date.now(),
  ): Promise<AdmissionTick> {
    const k = queueKeys(concertId);
    const raw = await this.redis.ovAdmit(
      k.waiting, k.active, k.batch(tick.tickId), k.settings,
      nowMs, tick.maxBatch, tick.maxActive, tick.activeTtlMs, k.prefix, 3600, tick.admitPerSecond, tick.paused ? 1 : 0,
    );
    const parsed = JSON.parse(raw) as { admitted: string[] | Record<string, never>; activeUntil: number; waiting: number; active: number };
    // cjson encodes an empty Lua table as an object.
    const admitted = Array.isArray(parsed.admitted) ? parsed.admitted : [];
    return {
      admitted: admitted.map((entry) => {
        const [userId, secret, arrival] = entry.split(' ');
        return { userId, token: formatToken(concertId, secret), arrival: Number(arrival) };
      }),
      activeUntil: parsed.activeUntil,
      waiting: parsed.waiting,
      active: parsed.active,
    };
  }

  /** Ends an active session (COMPLETED, LEFT or EXPIRED) and frees its place in the active set. */
  async endSession(token: string, userId: string, finalStatus: Exclude<TokenStatus, 'WAITING' | 'ACTIVE'>): Promise<TokenStatus | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const k = queueKeys(parsed.concertId);
    return (await this.redis.ovEndSession(k.token(parsed.secret), k.active, k.fan(userId), userId, parsed.secret, finalStatus)) as TokenStatus | null;
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
