import type { ReservationStore } from '../../db/stores/reservations';
import type { WalletStore } from '../../db/stores/wallets';
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
}

/**
 * Pay a held reservation from the wallet. The payment id comes from the request (its
 * Idempotency-Key): a retry answers the saga it started (the journey waits for it if in flight),
 * and once the payment completed, the receipt from PostgreSQL, even after the journey ended and the
 * queue token with it.
 */
export function payUseCase(deps: PayDeps) {
  const { metrics, reservations, wallets, journeys } = deps;

  /** The first outcome of this payment, when the database already knows it. */
  async function settled(paymentId: string): Promise<PaymentReceipt | undefined> {
    const outcome = await wallets.paymentOutcome(paymentId);
    if (outcome?.status === 'COMPLETED') return outcome;
    if (outcome?.status === 'FAILED') {
      const code = outcome.failureCode;
      if (code && isErrorCode(code)) throw new DomainError(code, 'this payment was refused');
      throw new DomainError('RESERVATION_NOT_PAYABLE', 'this payment failed and was refunded');
    }
    return undefined;
  }

  return async function pay(ticket: QueueTicket, reservationId: string, requestKey?: string): Promise<PaymentReceipt> {
    const paymentId = requestScopedId(ticket.userId, PAY_ENDPOINT, requestKey);
    const reservation = await ownReservation(reservations, reservationId, ticket.userId);
    if (requestKey !== undefined) {
      const receipt = await settled(paymentId);
      if (receipt && receipt.reservationId === reservation.reservationId) return receipt;
    }
    if (ticket.status !== 'ACTIVE') throw new DomainError('QUEUE_TOKEN_NOT_ACTIVE', `the queue token is ${ticket.status}`);
    assertTicketFor(ticket, reservation.concertId);
    if (reservation.status === 'EXPIRED') throw new DomainError('HOLD_EXPIRED', 'the hold expired before the payment');
    if (reservation.status !== 'HELD') throw new DomainError('RESERVATION_NOT_PAYABLE', `the reservation is ${reservation.status}`);
    try {
      const receipt = await journeys.pay(reservation.journeyId, { reservationId: reservation.reservationId, paymentId });
      metrics.payments.inc({ outcome: 'completed' });
      return receipt;
    } catch (err) {
      metrics.payments.inc({ outcome: toProblem(err).code.toLowerCase() });
      if (!journeyEnded(err)) throw err;
      // The journey that held it has ended (paid, expired or left): the database says how.
      const receipt = await settled(paymentId);
      if (receipt) return receipt;
      const now = await ownReservation(reservations, reservationId, ticket.userId);
      if (now.status === 'CONFIRMED' || now.status === 'CANCELLED') throw new DomainError('RESERVATION_NOT_PAYABLE', `the reservation is ${now.status}`);
      throw new DomainError('HOLD_EXPIRED', 'the hold expired before the payment');
    }
  };
}
