import type { ReservationStore } from '../../db/stores/reservations';
import { DomainError } from '../../lib/domain-error';
import type { Journeys } from '../../lib/journeys';
import { journeyEnded } from '../../lib/temporal-errors';
import { ownReservation, publicView } from './views';

/** Release a hold early. The reservation id is in the path, so a retry addresses the same hold. */
export function cancelHoldUseCase(deps: { reservations: ReservationStore; journeys: Journeys }) {
  const { reservations, journeys } = deps;
  return async function cancelHold(userId: string, reservationId: string) {
    const reservation = await ownReservation(reservations, reservationId, userId);
    if (reservation.status !== 'HELD') throw new DomainError('RESERVATION_NOT_HELD', `the reservation is ${reservation.status}`);
    try {
      await journeys.cancel(reservation.journeyId, reservation.reservationId);
    } catch (err) {
      if (journeyEnded(err)) throw new DomainError('RESERVATION_NOT_HELD', 'the reservation is no longer held');
      throw err;
    }
    return { ...publicView(reservation), status: 'CANCELLED' as const };
  };
}
