import type { ReservationStore, ReservationView } from '../../db/stores/reservations';
import { DomainError } from '../../lib/domain-error';

/** A reservation as API.md shows it. */
export function publicView(r: ReservationView) {
  const { reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil, paymentId } = r;
  return { reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil, ...(paymentId ? { paymentId } : {}) };
}

/** The caller's own reservation, or 404 / 403. */
export async function ownReservation(store: ReservationStore, reservationId: string, userId: string): Promise<ReservationView> {
  const reservation = await store.get(reservationId);
  if (!reservation) throw new DomainError('NOT_FOUND', 'no such reservation');
  if (reservation.userId !== userId) throw new DomainError('FORBIDDEN', 'the reservation belongs to someone else');
  return reservation;
}
