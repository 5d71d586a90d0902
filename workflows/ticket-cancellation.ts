import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { TicketCancellationInput, TicketCancellationResult } from './definitions';
import { businessCode, refuse } from './failures';

const { refundTicket, reopenSeat } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Money and a seat are at stake: an outage is waited out, never given up (a refusal is final).
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
});

/**
 * A fan gives a paid ticket back (id `ticket-cancellation-<reservationId>`, so it runs once): the
 * refund under the policy snapshotted at purchase, the reservation CANCELLED and the seat freed in
 * one transaction, then the seat's gate reopened so the seat sells again at once. A refusal
 * (CANCELLATION_CLOSED, TICKET_ALREADY_CANCELLED, ...) fails the workflow with its code.
 */
export async function ticketCancellation(input: TicketCancellationInput): Promise<TicketCancellationResult> {
  let refund;
  try {
    refund = await refundTicket(input);
  } catch (err) {
    const code = businessCode(err);
    if (code) throw refuse(code, (err as Error & { cause?: Error }).cause?.message ?? code);
    throw err;
  }
  await reopenSeat({ concertId: refund.concertId, scheduleId: refund.scheduleId, seatNumber: refund.seatNumber, reservationId: refund.reservationId });
  return {
    reservationId: refund.reservationId,
    paymentId: refund.paymentId,
    status: 'CANCELLED',
    paymentStatus: refund.paymentStatus,
    paid: refund.paid,
    refunded: refund.refunded,
    fee: refund.fee,
    refundedAt: refund.refundedAt,
  };
}
