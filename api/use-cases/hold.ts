import type { CatalogStore, ScheduleRef } from '../../db/stores/catalog';
import type { ReservationStore } from '../../db/stores/reservations';
import type { Config } from '../../lib/config';
import { DomainError } from '../../lib/domain-error';
import type { Journeys } from '../../lib/journeys';
import type { SeatGate } from '../../queue/seat-gate';
import type { QueueTicket } from '../../queue/waiting-room';
import type { Metrics } from '../metrics';
import { toProblem } from '../problem';
import { assertTicketFor } from '../queue-guard';
import { scheduleRef } from '../routes/catalog';
import { requestScopedId } from './request-ids';
import { publicView } from './views';

export const HOLD_ENDPOINT = 'POST /reservations';

export interface HoldDeps {
  config: Config;
  metrics: Metrics;
  catalog: CatalogStore;
  reservations: ReservationStore;
  gate: SeatGate;
  journeys: Journeys;
}

/**
 * Hold a seat for an admitted fan. The reservation id comes from the request (its Idempotency-Key),
 * so a retry after an unknown outcome addresses the same hold: the journey answers the hold it knows,
 * or the database shows the one that happened even after the journey ended. The seat gate stays
 * closed while a keyed hold's outcome is unknown: it opens on a known refusal (or expires).
 */
export function holdSeatUseCase(deps: HoldDeps) {
  const { config, metrics, catalog, reservations, gate, journeys } = deps;
  const schedules = new Map<string, ScheduleRef>();

  return async function holdSeat(ticket: QueueTicket, seat: { scheduleId: string; seatNumber: number }, requestKey?: string) {
    const reservationId = requestScopedId(ticket.userId, HOLD_ENDPOINT, requestKey);
    if (requestKey !== undefined) {
      const held = await reservations.get(reservationId);
      if (held && held.userId === ticket.userId) return publicView(held);
    }
    if (ticket.status !== 'ACTIVE') throw new DomainError('QUEUE_TOKEN_NOT_ACTIVE', `the queue token is ${ticket.status}`);
    const schedule = await scheduleRef(catalog, schedules, seat.scheduleId);
    assertTicketFor(ticket, schedule.concertId);
    if (seat.seatNumber > schedule.totalSeats) throw new DomainError('NOT_FOUND', `seats are numbered 1..${schedule.totalSeats}`);

    // The gate closes until the hold's latest possible deadline + grace; losers stop here. A retry of
    // the request that holds it (same derived id) goes through to learn the outcome.
    const deadline = Math.min(Date.now() + config.HOLD_TTL_SECONDS * 1000, ticket.activeUntil ?? 0);
    const gateTtl = deadline - Date.now() + config.HOLD_GRACE_SECONDS * 1000;
    const won = await gate.claim(ticket.concertId, seat.scheduleId, seat.seatNumber, reservationId, gateTtl);
    if (!won && (requestKey === undefined || (await gate.holder(ticket.concertId, seat.scheduleId, seat.seatNumber)) !== reservationId)) {
      metrics.seatGateRefusals.inc();
      throw new DomainError('SEAT_UNAVAILABLE', 'the seat is held or sold');
    }
    try {
      const held = await journeys.hold(ticket, { scheduleId: seat.scheduleId, seatNumber: seat.seatNumber, reservationId });
      metrics.holds.inc({ outcome: 'held' });
      return { ...held, status: 'HELD' as const };
    } catch (err) {
      const problem = toProblem(err);
      metrics.holds.inc({ outcome: problem.code.toLowerCase() });
      // A refusal is known: the seat is not ours, reopen the gate. An unknown outcome (5xx) of a keyed
      // request keeps it closed until the retry with the key learns what happened (or it expires). A
      // request without a key cannot be converged by a retry (the retry is a new request): the gate
      // reopens, and PostgreSQL still refuses a second hold if this one did land.
      const outcomeKnown = problem.status < 500;
      if (outcomeKnown || requestKey === undefined) await gate.release(ticket.concertId, seat.scheduleId, seat.seatNumber, reservationId).catch(() => undefined);
      throw err;
    }
  };
}
