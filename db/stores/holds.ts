import type { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '../../lib/domain-error';
import { isPurchaseLimit, isUniqueViolation } from '../pg-errors';
import { prepared, preparedRows, rows } from '../sql';
import { OF_ORDER } from './wallets';
import { fastPath, inTransaction } from '../transaction';
import type { ReservationStatus } from '../entities';

export interface HoldSeatRequest {
  reservationId: string;
  userId: string;
  concertId: string;
  scheduleId: string;
  seatNumber: number;
  /** ISO-8601: the hold's deadline, decided by the journey. */
  heldUntil: string;
  graceSeconds: number;
  journeyId: string;
}

export interface HeldSeatRow {
  reservationId: string;
  seatId: string;
  price: number;
  status: ReservationStatus;
  heldUntil: string;
}

/** The row of a hold just taken, from its request and the seat's id and price as PostgreSQL returns them. */
function newHold(r: HoldSeatRequest, seatId: string, price: string): HeldSeatRow {
  return { reservationId: r.reservationId, seatId: String(seatId), price: Number(price), status: 'HELD', heldUntil: new Date(r.heldUntil).toISOString() };
}

/** `HoldStore.holdFreeSeat`'s statement ($1 schedule, $2 seat number, $3 deadline, $4 reservation, $5 fan, $6 concert, $7 journey). */
const HOLD_FREE_SEAT = prepared(
  `WITH taken AS (
     UPDATE seats s SET status = 'HELD', held_until = $3, reservation_id = $4
     FROM concert_schedules cs
     WHERE s.schedule_id = $1 AND s.number = $2 AND s.status = 'AVAILABLE'
       AND cs.id = $1 AND cs.concert_id = $6 AND cs.booking_opens_at <= now() AND cs.booking_closes_at > now()
     RETURNING s.id, s.price
   )
   INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_id, seat_number, price, status, held_until, journey_id)
   SELECT $4, $5, $6, $1, taken.id, $2, taken.price, 'HELD', $3, $7 FROM taken
   RETURNING seat_id, price`,
);

/** `HoldStore.releaseMany`'s statement ($1 the reservation ids, $2 EXPIRED or CANCELLED). */
const RELEASE_MANY = prepared(
  `WITH ended AS (
     UPDATE reservations SET status = $2, updated_at = now()
     WHERE id = ANY($1::uuid[]) AND status = 'HELD'
     RETURNING id, seat_id
   ), freed AS (
     UPDATE seats s SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
     FROM ended WHERE s.id = ended.seat_id AND s.reservation_id = ended.id AND s.status = 'HELD'
     RETURNING s.id
   )
   SELECT id FROM ended`,
);

/**
 * Seat holds, their release and the sale, in Postgres — the truth. A seat is bookable when it is
 * AVAILABLE, or HELD past `held_until` + grace: the deadline is data, so a late timer never keeps a
 * seat off sale. The partial unique index on reservations refuses a second live reservation anyway.
 */
export class HoldStore {
  constructor(private readonly db: DataSource) {}

  /**
   * One conditional seat update plus the reservation row, atomically; idempotent per reservation id,
   * even when a retry runs while the first attempt is still in flight.
   *
   * A free seat in an open schedule, the rush's common case, takes one statement: one round trip
   * instead of the six of the transaction below. Anything else (a retry, a closed schedule, a seat
   * held or sold, a takeover past the grace, no such seat) takes nothing there and goes on to the
   * transaction, which tells those cases apart.
   */
  async hold(r: HoldSeatRequest): Promise<HeldSeatRow> {
    try {
      const free = await fastPath(this.holdFreeSeat(r));
      if (free) return free;
      return await inTransaction(this.db, async (tx) => {
        const existing = await this.existing(tx, r.reservationId);
        if (existing) return existing;
        const schedule: Array<{ open: boolean }> = await tx.query(
          `SELECT booking_opens_at <= now() AND booking_closes_at > now() AS open
           FROM concert_schedules WHERE id = $1 AND concert_id = $2`,
          [r.scheduleId, r.concertId],
        );
        if (!schedule.length) throw new DomainError('NOT_FOUND', 'no such schedule in this concert');
        if (!schedule[0].open) throw new DomainError('SEAT_UNAVAILABLE', 'booking is not open for this schedule');

        const taken = await rows<{ id: string; price: string; previous: string | null }>(
          tx,
          `WITH current AS (
             SELECT id, reservation_id FROM seats WHERE schedule_id = $1 AND number = $2 FOR UPDATE
           )
           UPDATE seats s SET status = 'HELD', held_until = $3, reservation_id = $4
           FROM current
           WHERE s.id = current.id
             AND (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until < now() - make_interval(secs => $5)))
           RETURNING s.id, s.price, current.reservation_id AS previous`,
          [r.scheduleId, r.seatNumber, r.heldUntil, r.reservationId, r.graceSeconds],
        );
        if (!taken.length) {
          // A concurrent attempt of this very hold may have won the seat while we waited for its lock.
          const won = await this.existing(tx, r.reservationId);
          if (won) return won;
          const seat = await tx.query('SELECT 1 FROM seats WHERE schedule_id = $1 AND number = $2', [r.scheduleId, r.seatNumber]);
          throw seat.length
            ? new DomainError('SEAT_UNAVAILABLE', 'the seat is held or sold')
            : new DomainError('NOT_FOUND', 'no such seat in this schedule');
        }
        const { id: seatId, price, previous } = taken[0];
        // Taking over a hold past its deadline + grace: the old reservation expires in the same transaction.
        if (previous) {
          await tx.query(`UPDATE reservations SET status = 'EXPIRED', updated_at = now() WHERE id = $1 AND status = 'HELD'`, [previous]);
        }
        await tx.query(
          `INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_id, seat_number, price, status, held_until, journey_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'HELD', $8, $9)`,
          [r.reservationId, r.userId, r.concertId, r.scheduleId, seatId, r.seatNumber, price, r.heldUntil, r.journeyId],
        );
        return newHold(r, seatId, price);
      });
    } catch (err) {
      // The reservations trigger counts the fan's live seats in the concert (the migration says why
      // it cannot be raced): over the concert's limit, the whole hold rolled back.
      if (isPurchaseLimit(err)) throw new DomainError('PURCHASE_LIMIT_REACHED', 'your seats in this concert (bought and held) are at its purchase limit');
      if (!isUniqueViolation(err)) throw err;
      const won = await this.existing(this.db, r.reservationId);
      if (won) return won;
      throw new DomainError('SEAT_UNAVAILABLE', 'the seat is held or sold');
    }
  }

  /**
   * The hold of an AVAILABLE seat in a schedule open for booking, in one statement, or null when the
   * seat or the schedule is not so. The seat's row lock is taken by the UPDATE, whose condition is
   * checked again on the row's latest version if another transaction held the lock meanwhile.
   */
  private async holdFreeSeat(r: HoldSeatRequest): Promise<HeldSeatRow | null> {
    const held = await preparedRows<{ seat_id: string; price: string }>(this.db, HOLD_FREE_SEAT, [
      r.scheduleId,
      r.seatNumber,
      r.heldUntil,
      r.reservationId,
      r.userId,
      r.concertId,
      r.journeyId,
    ]);
    if (!held.length) return null;
    return newHold(r, held[0].seat_id, held[0].price);
  }

  private async existing(db: DataSource | EntityManager, reservationId: string): Promise<HeldSeatRow | null> {
    const rows: Array<{ seat_id: string; price: string; status: ReservationStatus; held_until: Date }> = await db.query(
      'SELECT seat_id, price, status, held_until FROM reservations WHERE id = $1',
      [reservationId],
    );
    if (!rows.length) return null;
    const e = rows[0];
    return { reservationId, seatId: String(e.seat_id), price: Number(e.price), status: e.status, heldUntil: e.held_until.toISOString() };
  }

  /**
   * Ends a hold (EXPIRED or CANCELLED) and frees its seat — only while this reservation still holds
   * it, since another fan may already have taken the seat past the grace. Idempotent.
   */
  async release(reservationId: string, outcome: 'EXPIRED' | 'CANCELLED'): Promise<boolean> {
    return inTransaction(this.db, async (tx) => {
      const ended = await rows<{ seat_id: string }>(
        tx,
        `UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1 AND status = 'HELD' RETURNING seat_id`,
        [reservationId, outcome],
      );
      if (!ended.length) return false;
      await tx.query(
        `UPDATE seats SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
         WHERE id = $1 AND reservation_id = $2 AND status = 'HELD'`,
        [ended[0].seat_id, reservationId],
      );
      return true;
    });
  }

  /**
   * Ends many holds of one journey at once (EXPIRED or CANCELLED) and frees their seats — each only
   * while its reservation still holds it — in one statement: one round trip for a journey's whole
   * batch of due holds. Idempotent. Returns the ids that were still HELD.
   */
  async releaseMany(reservationIds: string[], outcome: 'EXPIRED' | 'CANCELLED'): Promise<string[]> {
    if (!reservationIds.length) return [];
    const ended = await preparedRows<{ id: string }>(this.db, RELEASE_MANY, [reservationIds, outcome]);
    return ended.map((r) => r.id);
  }

  /**
   * The sweeper: expires holds of a concert still HELD past their deadline + grace, which no journey
   * released (a hold whose step committed after the journey gave up on it, or whose journey is gone).
   * Such a seat is bookable anyway; this makes the books say so. At most `limit` per call.
   */
  async sweepExpired(concertId: string, graceSeconds: number, limit: number): Promise<number> {
    const swept = await rows<{ id: string }>(
      this.db,
      `WITH stale AS (
         SELECT s.id AS seat_id, s.reservation_id FROM seats s
         JOIN concert_schedules cs ON cs.id = s.schedule_id
         WHERE cs.concert_id = $1 AND s.status = 'HELD' AND s.held_until < now() - make_interval(secs => $2)
         LIMIT $3 FOR UPDATE OF s SKIP LOCKED
       ), ended AS (
         UPDATE reservations r SET status = 'EXPIRED', updated_at = now()
         FROM stale WHERE r.id = stale.reservation_id AND r.status = 'HELD'
         RETURNING r.id
       )
       UPDATE seats s SET status = 'AVAILABLE', held_until = NULL, reservation_id = NULL
       FROM stale WHERE s.id = stale.seat_id AND s.status = 'HELD'
       RETURNING s.id`,
      [concertId, graceSeconds, limit],
    );
    return swept.length;
  }

  /**
   * The sale of an order: every seat's reservation CONFIRMED, seat SOLD and payment COMPLETED, in one
   * transaction, only while every one of its reservations is still HELD — all or nothing. Idempotent
   * for the same order; refused (RESERVATION_NOT_PAYABLE, naming the seat) otherwise, and then
   * nothing of it is sold. `reservationIds` are the seats the debit recorded (one for a one-seat order).
   */
  async confirm(paymentId: string, reservationIds: string | string[]): Promise<void> {
    const wanted = new Set(typeof reservationIds === 'string' ? [reservationIds] : reservationIds);
    if (await fastPath(this.confirmWhole(paymentId, [...wanted]))) return;
    await inTransaction(this.db, (tx) => this.confirmIn(tx, paymentId, wanted));
  }

  /**
   * The confirm's transaction: everything `confirm` tells apart (a retry, an order given up or
   * recorded for other seats, a seat lost), in the caller's transaction (the sale's own in
   * `SaleStore`). A refusal throws, which rolls the caller's transaction back whole.
   */
  async confirmIn(tx: EntityManager, paymentId: string, wanted: Set<string>): Promise<void> {
    // In id order, as the refund locks them: the two never deadlock.
    const payments: Array<{ id: string; reservation_id: string; status: string }> = await tx.query(
      `SELECT id, reservation_id, status FROM payments WHERE ${OF_ORDER} ORDER BY id FOR UPDATE`,
      [paymentId],
    );
    if (!payments.length) throw new DomainError('RESERVATION_NOT_PAYABLE', 'no such payment');
    if (payments.some((p) => p.status === 'FAILED')) throw new DomainError('RESERVATION_NOT_PAYABLE', 'the payment was already given up');
    if (payments.length !== wanted.size || payments.some((p) => !wanted.has(p.reservation_id))) {
      throw new DomainError('RESERVATION_NOT_PAYABLE', 'the payment was recorded for other seats');
    }
    const confirmed = await rows<{ id: string; seat_id: string }>(
      tx,
      `UPDATE reservations r SET status = 'CONFIRMED', payment_id = p.id, updated_at = now()
       FROM payments p WHERE (p.id = $1 OR p.order_id = $1) AND r.id = p.reservation_id AND r.status = 'HELD'
       RETURNING r.id, r.seat_id`,
      [paymentId],
    );
    if (confirmed.length < payments.length) {
      const current: Array<{ id: string; status: string; sold_by: boolean }> = await tx.query(
        `SELECT r.id, r.status, r.payment_id = p.id AS sold_by FROM payments p JOIN reservations r ON r.id = p.reservation_id
         WHERE (p.id = $1 OR p.order_id = $1) ORDER BY r.id`,
        [paymentId],
      );
      if (!confirmed.length && current.every((r) => r.status === 'CONFIRMED' && r.sold_by)) return; // a retry
      // Throwing rolls back the seats this statement did confirm: an order is sold whole or not at all.
      const lost = current.find((r) => r.status !== 'HELD' && !(r.status === 'CONFIRMED' && r.sold_by));
      throw new DomainError('RESERVATION_NOT_PAYABLE', lost ? `the reservation ${lost.id} is ${lost.status}` : 'a reservation of the order is not held');
    }
    await tx.query(
      `UPDATE seats s SET status = 'SOLD', held_until = NULL
       FROM unnest($1::bigint[], $2::uuid[]) AS sold (seat_id, reservation_id)
       WHERE s.id = sold.seat_id AND s.reservation_id = sold.reservation_id`,
      [confirmed.map((c) => c.seat_id), confirmed.map((c) => c.id)],
    );
    await tx.query(`UPDATE payments SET status = 'COMPLETED', updated_at = now() WHERE ${OF_ORDER}`, [paymentId]);
  }

  /**
   * The first confirm of an order whose payments are all PENDING for exactly these seats and whose
   * seats are all still HELD, the common case, in one statement: one round trip instead of the six
   * of the transaction. It sells nothing, and answers false, otherwise (a retry, an order given up or
   * recorded for other seats, a seat lost); the transaction then tells those cases apart.
   *
   * All or nothing, though one statement cannot roll itself back: `whole` counts every payment and
   * every HELD seat under their row locks (payments first, as everywhere) before any row is changed,
   * since each change joins it; a locked seat stays HELD until this statement's commit.
   */
  async confirmWhole(paymentId: string, reservationIds: string[]): Promise<boolean> {
    const completed = await rows<{ id: string }>(
      this.db,
      `WITH payment AS MATERIALIZED (
         SELECT id, reservation_id, status FROM payments WHERE ${OF_ORDER} ORDER BY id FOR UPDATE
       ), held AS MATERIALIZED (
         SELECT r.id, r.seat_id FROM reservations r WHERE r.id = ANY($2::uuid[]) AND r.status = 'HELD' ORDER BY r.id FOR UPDATE
       ), whole AS MATERIALIZED (
         SELECT (SELECT count(*) FROM payment) = cardinality($2::uuid[])
            AND (SELECT count(*) FROM payment WHERE status = 'PENDING' AND reservation_id = ANY($2::uuid[])) = cardinality($2::uuid[])
            AND (SELECT count(*) FROM held) = cardinality($2::uuid[]) AS ok
       ), confirmed AS (
         UPDATE reservations r SET status = 'CONFIRMED', payment_id = payment.id, updated_at = now()
         FROM payment, whole WHERE whole.ok AND r.id = payment.reservation_id AND r.status = 'HELD'
         RETURNING r.id, r.seat_id
       ), sold AS (
         UPDATE seats s SET status = 'SOLD', held_until = NULL
         FROM confirmed WHERE s.id = confirmed.seat_id AND s.reservation_id = confirmed.id
       )
       UPDATE payments p SET status = 'COMPLETED', updated_at = now()
       FROM payment, whole WHERE whole.ok AND p.id = payment.id
       RETURNING p.id`,
      [paymentId, reservationIds],
    );
    return completed.length > 0;
  }
}
