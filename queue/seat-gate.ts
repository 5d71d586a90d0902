import type { RedisClient as Redis } from '../lib/redis';
import { queueKeys } from './keys';
import type { TwoBuckets } from './scripts';
import { parseToken } from './token';

/** The outcome of `claimWithToken`: the token's refusal, the gate taken by another, or the claim. */
export type SeatClaim =
  | { kind: 'limited'; waits: [number, number] }
  | { kind: 'token-invalid' }
  | { kind: 'forbidden' }
  | { kind: 'not-active'; status: string }
  | { kind: 'claimed'; concertId: string; activeUntil: number; arrival: number }
  | { kind: 'taken'; concertId: string; activeUntil: number; arrival: number; holder: string };

/**
 * The Redis seat gate: a per-seat `SET NX` that lets one contender through to Temporal and Postgres
 * and refuses the rest in one round trip. It is a filter, never the truth: Postgres still refuses
 * every second hold if the gate is lost.
 */
export class SeatGate {
  constructor(private readonly redis: Redis) {}

  /** True when this reservation won the gate; it closes until `ttlMs` from now. */
  async claim(concertId: string, scheduleId: string, seatNumber: number, reservationId: string, ttlMs: number): Promise<boolean> {
    const key = queueKeys(concertId).seatGate(scheduleId, seatNumber);
    return (await this.redis.set(key, reservationId, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }

  /**
   * The contested seat's path in one Redis round trip: checks the queue token (the user's own, ACTIVE,
   * window not over) and claims the seat's gate, closing it until the hold's latest possible deadline
   * (now + `holdTtlMs`, or the window's end if sooner) + `graceMs`. The caller has checked that the
   * schedule belongs to the token's concert (`parseToken(token).concertId`).
   *
   * `limit`: the hold's action limit, taken first in the same script (a single Redis only: the buckets
   * are keys of their own); over it, the answer is `limited` and nothing else was touched.
   */
  async claimWithToken(
    token: string | undefined | null,
    c: { userId: string; scheduleId: string; seatNumber: number; reservationId: string; holdTtlMs: number; graceMs: number },
    nowMs = Date.now(),
    limit?: TwoBuckets,
  ): Promise<SeatClaim> {
    const parsed = parseToken(token);
    if (!parsed) return { kind: 'token-invalid' };
    const k = queueKeys(parsed.concertId);
    const [session, seatGate] = [k.session(c.userId), k.seatGate(c.scheduleId, c.seatNumber)];
    const [kind, a, b, holder] = limit
      ? await this.redis.ovClaimSeatCounted(
          session, seatGate, k.owners, limit.keys[0], limit.keys[1],
          c.userId, parsed.secret, c.reservationId, nowMs, c.holdTtlMs, c.graceMs,
          limit.windowMs, limit.limits[0], limit.bursts[0], limit.limits[1], limit.bursts[1],
        )
      : await this.redis.ovClaimSeat(session, seatGate, k.owners, c.userId, parsed.secret, c.reservationId, nowMs, c.holdTtlMs, c.graceMs);
    if (kind === 'LIMITED') return { kind: 'limited', waits: [Number(a), Number(b)] };
    if (kind === 'INVALID') return { kind: 'token-invalid' };
    if (kind === 'FORBIDDEN') return { kind: 'forbidden' };
    if (kind === 'NOT_ACTIVE') return { kind: 'not-active', status: String(a ?? 'UNKNOWN') };
    const fan = { concertId: parsed.concertId, activeUntil: Number(a), arrival: Number(b) };
    return kind === 'CLAIMED' ? { kind: 'claimed', ...fan } : { kind: 'taken', ...fan, holder: holder ?? '' };
  }

  /** Who holds the gate now: the reservation id it is closed for, or null when it is open. */
  async holder(concertId: string, scheduleId: string, seatNumber: number): Promise<string | null> {
    return this.redis.get(queueKeys(concertId).seatGate(scheduleId, seatNumber));
  }

  /** Opens the gate, only if this reservation still holds it. */
  async release(concertId: string, scheduleId: string, seatNumber: number, reservationId: string): Promise<void> {
    await this.redis.ovGateRelease(queueKeys(concertId).seatGate(scheduleId, seatNumber), reservationId);
  }

  /** A sold seat's gate stays closed for good. */
  async seal(concertId: string, scheduleId: string, seatNumber: number, reservationId: string): Promise<void> {
    await this.redis.ovGateSeal(queueKeys(concertId).seatGate(scheduleId, seatNumber), reservationId);
  }
}
