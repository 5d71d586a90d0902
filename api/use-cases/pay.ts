import type { ReservationStore } from '../../db/stores/reservations';
import type { PaymentOutcome, WalletStore } from '../../db/stores/wallets';
import { DomainError } from '../../lib/domain-error';
import { isErrorCode } from '../../lib/error-codes';
import type { Journeys } from '../../lib/journeys';
import type { QueueTicket } from '../../queue/waiting-room';
import type { PaymentReceipt } from '../../workflows/definitions';
import type { Metrics } from '../metrics';
import { toProblem } from '../problem';
import { assertTicketFor } from '../queue-guard';
import { journeyEnded } from '../../lib/temporal-errors';
import { requestScopedId } from './request-ids';
import { ownReservation } from './views';

export const PAY_ENDPOINT = 'POST /payments';

export interface PayDeps {
  metrics: Metrics;
  reservations: ReservationStore;
  wallets: WalletStore;
  journeys: Journeys;
  /** An order pays at most this many seats: the live holds one journey may have (MAX_HOLDS_PER_FAN). */
  maxSeatsPerOrder: number;
}

/** Whether a receipt is of exactly these seats, in this order (a retry of the same request). */
const sameSeats = (receipt: PaymentReceipt, seats: string[]) => {
  const paid = receipt.reservationIds ?? [receipt.reservationId];
  return paid.length === seats.length && paid.every((id, i) => id === seats[i]);
};

/**
 * Pay an order of one or more held reservations from the wallet, all or nothing: one saga in the
 * journey that holds them debits the total once and confirms every seat in one transaction. The
 * payment id comes from the request (its Idempotency-Key): a retry answers the saga it started (the
 * journey waits for it if in flight), and once the payment completed, the receipt from PostgreSQL,
 * even after the journey ended and the queue token with it.
 */
export function payUseCase(deps: PayDeps) {
  const { metrics, reservations, wallets, journeys, maxSeatsPerOrder } = deps;

  /** The first outcome of a payment the database knows (`outcome`, read by the caller): its receipt, a refusal thrown, or undefined. */
  function settledAs(outcome: PaymentOutcome | null): PaymentReceipt | undefined {
    if (outcome?.status === 'COMPLETED') return outcome;
    if (outcome?.status === 'FAILED') {
      const code = outcome.failureCode;
      if (code && isErrorCode(code)) throw new DomainError(code, 'this payment was refused');
      throw new DomainError('RESERVATION_NOT_PAYABLE', 'this payment failed and was refunded');
    }
    return undefined;
  }

  /** The first outcome of this payment, when the database already knows it. */
  const settled = async (paymentId: string) => settledAs(await wallets.paymentOutcome(paymentId));

  /**
   * @param seats one reservation id (`{ "reservationId" }`) or the order's ids (`{ "reservationIds" }`)
   */
  return async function pay(ticket: QueueTicket, seats: string | string[], requestKey?: string): Promise<PaymentReceipt> {
    const ids = typeof seats === 'string' ? [seats] : seats;
    if (!ids.length || new Set(ids).size !== ids.length) throw new DomainError('VALIDATION_FAILED', 'reservationIds must name each seat once');
    if (ids.length > maxSeatsPerOrder) throw new DomainError('VALIDATION_FAILED', `an order has at most ${maxSeatsPerOrder} seats`);
    const paymentId = requestScopedId(ticket.userId, PAY_ENDPOINT, requestKey);
    const order = await Promise.all(ids.map((id) => ownReservation(reservations, id, ticket.userId)));
    if (requestKey !== undefined) {
      const receipt = await settled(paymentId);
      if (receipt && sameSeats(receipt, ids)) return receipt;
    }
    if (ticket.status !== 'ACTIVE') throw new DomainError('QUEUE_TOKEN_NOT_ACTIVE', `the queue token is ${ticket.status}`);
    for (const reservation of order) {
      assertTicketFor(ticket, reservation.concertId);
      if (reservation.status === 'EXPIRED') throw new DomainError('HOLD_EXPIRED', `the hold ${reservation.reservationId} expired before the payment`);
      if (reservation.status !== 'HELD') throw new DomainError('RESERVATION_NOT_PAYABLE', `the reservation ${reservation.reservationId} is ${reservation.status}`);
    }
    const [first] = order;
    if (order.some((r) => r.journeyId !== first.journeyId)) throw new DomainError('RESERVATION_NOT_PAYABLE', 'the seats of one order are held in one session');
    try {
      // One seat: the very update of before orders existed.
      const request = ids.length > 1 ? { reservationId: first.reservationId, reservationIds: ids, paymentId } : { reservationId: first.reservationId, paymentId };
      const receipt = await journeys.pay(first.journeyId, request);
      metrics.payments.inc({ outcome: 'completed' });
      return receipt;
    } catch (err) {
      const { code, status } = toProblem(err);
      // The journey may refuse a payment that did complete: its accepting task lost after the purchase
      // committed (workflows/fan-journey.ts), and this request's retry of the update refused (another
      // payment in progress, or the hold settled otherwise meanwhile). The database has the sale. The
      // same read answers for a journey that has ended (below).
      const ended = journeyEnded(err);
      const known = ended || status === 409 || status === 403 ? await wallets.paymentOutcome(paymentId) : null;
      if (known?.status === 'COMPLETED' && sameSeats(known, ids)) {
        metrics.payments.inc({ outcome: 'completed' });
        return known;
      }
      metrics.payments.inc({ outcome: code.toLowerCase() });
      if (!ended) throw err;
      // The journey that held them has ended (paid, expired or left): the database says how.
      const receipt = settledAs(known);
      if (receipt) return receipt;
      for (const id of ids) {
        const now = await ownReservation(reservations, id, ticket.userId);
        if (now.status === 'CONFIRMED' || now.status === 'CANCELLED') throw new DomainError('RESERVATION_NOT_PAYABLE', `the reservation ${id} is ${now.status}`);
      }
      throw new DomainError('HOLD_EXPIRED', 'the hold expired before the payment');
    }
  };
}
