import type Redis from 'ioredis';
import { queueKeys } from './keys';

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

  /** Who holds the gate now (a retried request of the winner gets through again). */
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
