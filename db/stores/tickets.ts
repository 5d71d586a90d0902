import type { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '../../lib/domain-error';
import { DEFAULT_REFUND_POLICY, quoteRefund, type RefundPolicy } from '../../lib/refund-policy';
import { rows } from '../sql';
import { creditRefunds } from './wallets';
import { inTransaction } from '../transaction';

export type RefundReason = 'FAN_CANCELLED' | 'SHOW_CANCELLED';
export type TicketStatus = 'CONFIRMED' | 'CANCELLED';

/** The one REFUND ledger entry a ticket may ever get: the unique key makes a second one impossible. */
export const ticketRefundKey = (reservationId: string) => `ticket:${reservationId}:refund`;

/** What a refund of one ticket did. */
export interface TicketRefund {
  reservationId: string;
  paymentId: string;
  userId: string;
  concertId: string;
  scheduleId: string;
  seatNumber: number;
  paid: number;
  refunded: number;
  fee: number;
  paymentStatus: 'REFUNDED' | 'PARTIALLY_REFUNDED';
  reason: RefundReason;
  refundedAt: string;
}

/** A paid ticket as its owner sees it in "my tickets". */
export interface TicketView {
  reservationId: string;
  concertId: string;
  concertTitle: string;
  scheduleId: string;
  startsAt: string;
  seatNumber: number;
  price: number;
  status: TicketStatus;
  paymentId: string;
  paidAt: string;
  showCancelled: boolean;
  refund?: { amount: number; fee: number; reason: RefundReason; refundedAt: string };
}

export interface ShowRefundProgress {
  /** Tickets of the cancelled schedules refunded by the show's cancellation so far. */
  refunded: number;
  /** Paid tickets of those schedules still to refund. */
  remaining: number;
  /** KRW refunded by the show's cancellation so far. */
  amount: number;
}

/** One ticket about to be refunded: what the refund step needs, read before the locks are taken. */
interface Candidate {
  reservationId: string;
  paymentId: string;
  userId: string;
  seatId: string;
  paid: number;
  refund: number;
  fee: number;
}

interface TicketRow {
  reservation_id: string;
  user_id: string;
  concert_id: string;
  concert_title: string;
  schedule_id: string;
  starts_at: Date;
  schedule_cancelled: boolean;
  seat_id: string;
  seat_number: number;
  price: string;
  reservation_status: string;
  payment_id: string | null;
  payment_status: string | null;
  amount: string | null;
  paid_at: Date | null;
  refund_policy: RefundPolicy | null;
  refunded_amount: string | null;
  refund_fee: string | null;
  refund_reason: RefundReason | null;
  refunded_at: Date | null;
}

const TICKET_SELECT = `
  SELECT r.id AS reservation_id, r.user_id, r.concert_id, c.title AS concert_title, r.schedule_id, s.starts_at,
         s.cancelled_at IS NOT NULL AS schedule_cancelled, r.seat_id, r.seat_number, r.price, r.status AS reservation_status,
         p.id AS payment_id, p.status AS payment_status, p.amount, p.created_at AS paid_at, p.refund_policy,
         p.refunded_amount, p.refund_fee, p.refund_reason, p.refunded_at
  FROM reservations r
  JOIN concert_schedules s ON s.id = r.schedule_id
  JOIN concerts c ON c.id = r.concert_id
  LEFT JOIN payments p ON p.reservation_id = r.id AND p.status IN ('COMPLETED', 'REFUNDED', 'PARTIALLY_REFUNDED')`;

const REFUNDED = ['REFUNDED', 'PARTIALLY_REFUNDED'];

/**
 * Paid tickets after the sale: a fan's cancellation under the refund policy snapshotted on the
 * payment, and an operator's cancellation of whole shows, refunded in batches. Every refund moves
 * the money, ends the payment, cancels the reservation and frees the seat in one transaction, under
 * the wallet's and then the payment's row lock (the order the payment saga takes them), with the
 * ledger's unique key `ticket:<reservationId>:refund`: a ticket is refunded once, whatever races it.
 */
export class TicketStore {
  constructor(private readonly db: DataSource) {}

  async setRefundPolicy(concertId: string, policy: RefundPolicy): Promise<void> {
    await this.db.query('UPDATE concerts SET refund_policy = $2 WHERE id = $1', [concertId, JSON.stringify(policy)]);
  }

  async refundPolicy(concertId: string): Promise<RefundPolicy | null> {
    const found: Array<{ refund_policy: RefundPolicy }> = await this.db.query('SELECT refund_policy FROM concerts WHERE id = $1', [concertId]);
    return found.length ? found[0].refund_policy : null;
  }

  /** The ticket of a reservation, paid or not (`paymentId` is absent when it never was). */
  async get(reservationId: string): Promise<(TicketView & { userId: string; paid: boolean }) | null> {
    const found: TicketRow[] = await this.db.query(`${TICKET_SELECT} WHERE r.id = $1`, [reservationId]);
    if (!found.length) return null;
    const row = found[0];
    return { ...toView(row), userId: row.user_id, paid: row.payment_id !== null };
  }

  /**
   * Refuses what the fan cannot cancel, without writing: someone else's or unknown (404/403), not
   * paid, already cancelled, past the cut-off. The refund step checks all of it again under its locks.
   */
  async assertCancellable(reservationId: string, userId: string, at: Date): Promise<{ concertId: string }> {
    const found: TicketRow[] = await this.db.query(`${TICKET_SELECT} WHERE r.id = $1`, [reservationId]);
    if (!found.length) throw new DomainError('NOT_FOUND', 'no such ticket');
    if (found[0].user_id !== userId) throw new DomainError('FORBIDDEN', 'the ticket belongs to someone else');
    fanRefundOf(found[0], at);
    return { concertId: found[0].concert_id };
  }

  /**
   * The fan gives the ticket back: refunded under the policy of the day they paid, as of `requestedAt`
   * (when they asked, so a retry after a crash is not judged later). Idempotent: the same
   * cancellation run again returns the refund it made.
   */
  async cancelByFan(p: { reservationId: string; userId: string; requestedAt: string }): Promise<TicketRefund> {
    return inTransaction(this.db, async (tx) => {
      const found: TicketRow[] = await tx.query(`${TICKET_SELECT} WHERE r.id = $1`, [p.reservationId]);
      if (!found.length) throw new DomainError('NOT_FOUND', 'no such ticket');
      const ticket = found[0];
      if (ticket.user_id !== p.userId) throw new DomainError('FORBIDDEN', 'the ticket belongs to someone else');
      if (ticket.refund_reason === 'FAN_CANCELLED') return refundOf(ticket); // a retry of this very cancellation
      const quote = fanRefundOf(ticket, new Date(p.requestedAt));
      const reason: RefundReason = ticket.schedule_cancelled ? 'SHOW_CANCELLED' : 'FAN_CANCELLED';
      const done = await this.refund(tx, [{ ...candidateOf(ticket), refund: quote.refund, fee: quote.fee }], reason);
      if (done.length) return done[0];
      // Refunded meanwhile (the payment was no longer COMPLETED under its lock): by this very
      // cancellation's other attempt, or by someone else.
      const now: TicketRow[] = await tx.query(`${TICKET_SELECT} WHERE r.id = $1`, [p.reservationId]);
      if (now[0]?.refund_reason === 'FAN_CANCELLED') return refundOf(now[0]);
      throw new DomainError('TICKET_ALREADY_CANCELLED', 'the ticket was refunded meanwhile');
    });
  }

  /**
   * Cancels schedules of a concert (one, or all of them): their booking window closes now — every new
   * hold checks it — and they read cancelled. Idempotent. Returns the ids of the cancelled schedules.
   */
  async cancelSchedules(concertId: string, scheduleId?: string): Promise<string[]> {
    const closed = await rows<{ id: string }>(
      this.db,
      `UPDATE concert_schedules
       SET cancelled_at = COALESCE(cancelled_at, now()),
           booking_opens_at = LEAST(booking_opens_at, LEAST(booking_closes_at, now()) - interval '1 second'),
           booking_closes_at = LEAST(booking_closes_at, now())
       WHERE concert_id = $1 AND ($2::uuid IS NULL OR id = $2::uuid)
       RETURNING id`,
      [concertId, scheduleId ?? null],
    );
    return closed.map((r) => r.id).sort();
  }

  /** The schedules of a concert that exist (one, or all of them), to answer 404 before anything starts. */
  async scheduleIds(concertId: string, scheduleId?: string): Promise<string[]> {
    const found: Array<{ id: string }> = await this.db.query(
      'SELECT id FROM concert_schedules WHERE concert_id = $1 AND ($2::uuid IS NULL OR id = $2::uuid) ORDER BY id',
      [concertId, scheduleId ?? null],
    );
    return found.map((r) => r.id);
  }

  /** HELD reservations of these schedules and the journeys that hold them (to release on a cancellation). */
  async liveHolds(scheduleIds: string[]): Promise<Array<{ reservationId: string; journeyId: string }>> {
    const found: Array<{ id: string; journey_id: string }> = await this.db.query(
      `SELECT id, journey_id FROM reservations WHERE schedule_id = ANY($1::uuid[]) AND status = 'HELD'`,
      [scheduleIds],
    );
    return found.map((r) => ({ reservationId: r.id, journeyId: r.journey_id }));
  }

  /**
   * One batch of a show's cancellation: up to `limit` paid tickets of these schedules refunded in full,
   * in one transaction. A retry after a crash finds what the first attempt committed already refunded
   * and takes the next ones, so no ticket is refunded twice and none is skipped.
   */
  async refundShowBatch(scheduleIds: string[], limit: number): Promise<{ refunded: number; amount: number }> {
    return inTransaction(this.db, async (tx) => {
      const due: Array<{ reservation_id: string; payment_id: string; user_id: string; seat_id: string; amount: string }> = await tx.query(
        `SELECT r.id AS reservation_id, p.id AS payment_id, r.user_id, r.seat_id, p.amount
         FROM reservations r JOIN payments p ON p.reservation_id = r.id AND p.status = 'COMPLETED'
         WHERE r.schedule_id = ANY($1::uuid[]) AND r.status = 'CONFIRMED'
         ORDER BY r.schedule_id, r.id LIMIT $2`,
        [scheduleIds, limit],
      );
      const done = await this.refund(
        tx,
        due.map((d) => ({
          reservationId: d.reservation_id,
          paymentId: d.payment_id,
          userId: d.user_id,
          seatId: String(d.seat_id),
          paid: Number(d.amount),
          refund: Number(d.amount),
          fee: 0,
        })),
        'SHOW_CANCELLED',
      );
      return { refunded: done.length, amount: done.reduce((sum, t) => sum + t.refunded, 0) };
    });
  }

  /** Where a show's cancellation stands, from the books themselves (exact after any crash). */
  async showProgress(scheduleIds: string[]): Promise<ShowRefundProgress> {
    const found: Array<{ refunded: string; remaining: string; amount: string }> = await this.db.query(
      `SELECT count(*) FILTER (WHERE p.status IN ('REFUNDED', 'PARTIALLY_REFUNDED') AND p.refund_reason = 'SHOW_CANCELLED') AS refunded,
              count(*) FILTER (WHERE p.status = 'COMPLETED' AND r.status = 'CONFIRMED') AS remaining,
              COALESCE(sum(p.refunded_amount) FILTER (WHERE p.refund_reason = 'SHOW_CANCELLED'), 0) AS amount
       FROM reservations r JOIN payments p ON p.reservation_id = r.id
       WHERE r.schedule_id = ANY($1::uuid[]) AND r.status IN ('CONFIRMED', 'CANCELLED')`,
      [scheduleIds],
    );
    return { refunded: Number(found[0].refunded), remaining: Number(found[0].remaining), amount: Number(found[0].amount) };
  }

  /** The user's paid tickets, kept or cancelled, newest purchase first. */
  async listForUser(userId: string, limit: number, cursor?: { paidAt: string; id: string }): Promise<{ items: TicketView[]; nextCursor?: string }> {
    const found: TicketRow[] = await this.db.query(
      `${TICKET_SELECT.replace('LEFT JOIN payments', 'JOIN payments')}
       WHERE r.user_id = $1 AND r.status IN ('CONFIRMED', 'CANCELLED')
         AND ($2::timestamptz IS NULL OR (p.created_at, p.id) < ($2::timestamptz, $3::uuid))
       ORDER BY p.created_at DESC, p.id DESC LIMIT $4`,
      [userId, cursor?.paidAt ?? null, cursor?.id ?? null, limit + 1],
    );
    const items = found.slice(0, limit).map(toView);
    const last = found[limit - 1];
    const nextCursor = found.length > limit && last ? Buffer.from(`${last.paid_at!.toISOString()}|${last.payment_id}`).toString('base64url') : undefined;
    return { items, nextCursor };
  }

  /**
   * The refund itself, for one ticket or a batch: wallets locked in user order, then the payments
   * (the saga's order, so the two never deadlock); a payment no longer COMPLETED under its lock was
   * refunded by someone else meanwhile and is left alone.
   */
  private async refund(tx: EntityManager, candidates: Candidate[], reason: RefundReason): Promise<TicketRefund[]> {
    if (!candidates.length) return [];
    const userIds = [...new Set(candidates.map((c) => c.userId))].sort();
    const wallets: Array<{ user_id: string }> = await tx.query('SELECT user_id FROM wallets WHERE user_id = ANY($1::uuid[]) ORDER BY user_id FOR UPDATE', [userIds]);
    const withWallet = new Set(wallets.map((w) => w.user_id));
    const locked: Array<{ id: string }> = await tx.query(
      `SELECT id FROM payments WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED' ORDER BY id FOR UPDATE`,
      [candidates.map((c) => c.paymentId)],
    );
    const payable = new Set(locked.map((p) => p.id));
    const due = candidates.filter((c) => payable.has(c.paymentId) && withWallet.has(c.userId));
    if (!due.length) return [];

    // A refund of nothing (a free ticket, a 100 % fee) moves no money and writes no entry.
    await creditRefunds(
      tx,
      due.map((c) => ({ userId: c.userId, amount: c.refund, paymentId: c.paymentId, key: ticketRefundKey(c.reservationId) })),
    );
    const refunded = await rows<{ id: string; refunded_at: Date }>(
      tx,
      `UPDATE payments p
       SET status = CASE WHEN t.fee > 0 THEN 'PARTIALLY_REFUNDED' ELSE 'REFUNDED' END,
           refunded_amount = t.refund, refund_fee = t.fee, refund_reason = $4, refunded_at = now(), updated_at = now()
       FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS t(id, refund, fee)
       WHERE p.id = t.id
       RETURNING p.id, p.refunded_at`,
      [due.map((c) => c.paymentId), due.map((c) => c.refund), due.map((c) => c.fee), reason],
    );
    const reservations = await rows<{ id: string; concert_id: string; schedule_id: string; seat_number: number }>(
      tx,
      `UPDATE reservations SET status = 'CANCELLED', updated_at = now()
       WHERE id = ANY($1::uuid[]) AND status = 'CONFIRMED'
       RETURNING id, concert_id, schedule_id, seat_number`,
      [due.map((c) => c.reservationId)],
    );
    // The seat is back on sale at once (a cancelled show's booking window is closed, so its seats stay unsold).
    await tx.query(
      `UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
       WHERE id = ANY($1::bigint[]) AND reservation_id = ANY($2::uuid[])`,
      [due.map((c) => c.seatId), due.map((c) => c.reservationId)],
    );
    const when = new Map(refunded.map((p) => [p.id, p.refunded_at.toISOString()]));
    const where = new Map(reservations.map((r) => [r.id, r]));
    return due.map((c) => ({
      reservationId: c.reservationId,
      paymentId: c.paymentId,
      userId: c.userId,
      concertId: where.get(c.reservationId)?.concert_id ?? '',
      scheduleId: where.get(c.reservationId)?.schedule_id ?? '',
      seatNumber: where.get(c.reservationId)?.seat_number ?? 0,
      paid: c.paid,
      refunded: c.refund,
      fee: c.fee,
      paymentStatus: c.fee > 0 ? 'PARTIALLY_REFUNDED' : 'REFUNDED',
      reason,
      refundedAt: when.get(c.paymentId) ?? new Date().toISOString(),
    }));
  }
}

/** The fan's refund of a ticket, or the refusal that says why there is none. */
function fanRefundOf(ticket: TicketRow, at: Date): { refund: number; fee: number } {
  if (!ticket.payment_id) throw new DomainError('TICKET_NOT_PAID', `the reservation is ${ticket.reservation_status}, not a paid ticket`);
  if (REFUNDED.includes(ticket.payment_status ?? '')) throw new DomainError('TICKET_ALREADY_CANCELLED', 'the ticket was already cancelled and refunded');
  const paid = Number(ticket.amount);
  // A show the operator called off is refunded in full, whatever the policy and the hour.
  if (ticket.schedule_cancelled) return { refund: paid, fee: 0 };
  const quote = quoteRefund(ticket.refund_policy ?? DEFAULT_REFUND_POLICY, paid, ticket.starts_at, at);
  if (!quote.open) throw new DomainError('CANCELLATION_CLOSED', 'the cancellation cut-off of this show has passed');
  return { refund: quote.refund, fee: quote.fee };
}

function candidateOf(t: TicketRow): Omit<Candidate, 'refund' | 'fee'> {
  return { reservationId: t.reservation_id, paymentId: t.payment_id!, userId: t.user_id, seatId: String(t.seat_id), paid: Number(t.amount) };
}

function refundOf(t: TicketRow): TicketRefund {
  return {
    reservationId: t.reservation_id,
    paymentId: t.payment_id!,
    userId: t.user_id,
    concertId: t.concert_id,
    scheduleId: t.schedule_id,
    seatNumber: t.seat_number,
    paid: Number(t.amount),
    refunded: Number(t.refunded_amount),
    fee: Number(t.refund_fee),
    paymentStatus: t.payment_status as TicketRefund['paymentStatus'],
    reason: t.refund_reason!,
    refundedAt: t.refunded_at!.toISOString(),
  };
}

function toView(t: TicketRow): TicketView {
  return {
    reservationId: t.reservation_id,
    concertId: t.concert_id,
    concertTitle: t.concert_title,
    scheduleId: t.schedule_id,
    startsAt: t.starts_at.toISOString(),
    seatNumber: t.seat_number,
    price: Number(t.amount ?? t.price),
    status: t.reservation_status === 'CANCELLED' && t.refund_reason ? 'CANCELLED' : 'CONFIRMED',
    paymentId: t.payment_id ?? '',
    paidAt: t.paid_at?.toISOString() ?? '',
    showCancelled: t.schedule_cancelled,
    ...(t.refund_reason
      ? { refund: { amount: Number(t.refunded_amount), fee: Number(t.refund_fee), reason: t.refund_reason, refundedAt: t.refunded_at!.toISOString() } }
      : {}),
  };
}

export function decodeTicketCursor(cursor: string): { paidAt: string; id: string } | null {
  const [paidAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!paidAt || !id || Number.isNaN(Date.parse(paidAt)) || !/^[0-9a-f-]{36}$/.test(id)) return null;
  return { paidAt, id };
}
