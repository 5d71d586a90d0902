import type { ScheduleRef } from '../../db/stores/catalog';
import type { ReservationStore } from '../../db/stores/reservations';
import type { Config } from '../../lib/config';
import { DomainError } from '../../lib/domain-error';
import type { Journeys } from '../../lib/journeys';
import type { SeatGate } from '../../queue/seat-gate';
import { parseToken } from '../../queue/token';
import type { QueueTicket, WaitingRoom } from '../../queue/waiting-room';
import type { Metrics } from '../metrics';
import type { ActionCount } from '../rate-limit';
import type { ScheduleRefs } from '../schedule-refs';
import { toProblem } from '../problem';
import { checkTicket, invalidQueueToken } from '../queue-guard';
import type { TemporalScope } from '../temporal-context';
import { requestScopedId } from './request-ids';
import { publicView } from './views';

export const HOLD_ENDPOINT = 'POST /reservations';

export interface HoldDeps {
  config: Config;
  metrics: Metrics;
  schedules: ScheduleRefs;
  reservations: ReservationStore;
  gate: SeatGate;
  room: WaitingRoom;
  journeys: Journeys;
}

/** Who asks: the authenticated user and the `X-Queue-Token` sent (checked here, not by the route's guard). */
export interface Holder {
  userId: string;
  queueToken: string | undefined;
  /** The request's count against the hold/cancel limit, taken here before any other work (none: not limited). */
  limit?: ActionCount;
}

/** The request's `Idempotency-Key`; `resumed`: an earlier request with it ran and its outcome is unknown. */
export interface HoldKey {
  key: string;
  resumed: boolean;
}

/**
 * Hold a seat for an admitted fan. The reservation id comes from the request (its Idempotency-Key),
 * so a retry after an unknown outcome addresses the same hold: the journey answers the hold it knows,
 * or the database shows the one that happened even after the journey ended. The seat gate stays
 * closed while a keyed hold's outcome is unknown: it opens on a known refusal (or expires).
 *
 * A contested seat is settled in one Redis round trip (`SeatGate.claimWithToken`): the hold/cancel
 * limit, the queue token's check and the gate's claim are one script, so a loser costs no other
 * read. PostgreSQL is read for the key's earlier hold only when the key was resumed (a fresh key has
 * no effect yet). Refusals and their order are those of a token check before the use case: a request
 * refused on its schedule or seat number has its token checked first (`refuseMisfit`).
 */
export function holdSeatUseCase(deps: HoldDeps) {
  const { config, metrics, schedules, reservations, gate, room, journeys } = deps;

  /** The key's earlier hold, if a resumed request's first run made one. */
  const earlier = async (reservationId: string, userId: string, key?: HoldKey) => {
    if (!key?.resumed) return null;
    const held = await reservations.get(reservationId);
    return held && held.userId === userId ? publicView(held) : null;
  };

  /**
   * The refusal of a request whose schedule or seat number is wrong, after the token's own refusals
   * (checked first for every route) and the replay of a resumed key's hold: the same answers, in the
   * same order, as a token guard in front of the use case gave. Rare, so it may cost a round trip more.
   */
  const refuseMisfit = async (holder: Holder, misfit: DomainError, reservationId: string, key?: HoldKey) => {
    await holder.limit?.take();
    const ticket = checkTicket(await room.lookup(holder.queueToken, holder.userId), holder.userId, { requireActive: false });
    const replay = await earlier(reservationId, holder.userId, key);
    if (replay) return replay;
    if (ticket.status !== 'ACTIVE') throw notActive(ticket.status);
    throw misfit;
  };

  /** `temporalScope`: runs the journey's update in the request's Temporal deadline (api/temporal-context.ts). */
  return async function holdSeat(holder: Holder, seat: { scheduleId: string; seatNumber: number }, key?: HoldKey, temporalScope: TemporalScope = (fn) => fn()) {
    const { userId, queueToken } = holder;
    const tokenConcert = parseToken(queueToken)?.concertId;
    if (!tokenConcert) throw invalidQueueToken();
    const reservationId = requestScopedId(userId, HOLD_ENDPOINT, key?.key);
    const misfit = await seatMisfit(schedules, tokenConcert, seat);
    if (misfit) return refuseMisfit(holder, misfit, reservationId, key);

    // The gate closes until the hold's latest possible deadline + grace; losers stop here. A retry of
    // the request that holds it (same derived id) goes through to learn the outcome. The limit is
    // taken first, in the same script where Redis allows it.
    const limitInScript = holder.limit?.foldable() ?? undefined;
    if (!limitInScript) await holder.limit?.take();
    const claim = await gate.claimWithToken(
      queueToken,
      { userId, scheduleId: seat.scheduleId, seatNumber: seat.seatNumber, reservationId, holdTtlMs: config.HOLD_TTL_SECONDS * 1000, graceMs: config.HOLD_GRACE_SECONDS * 1000 },
      Date.now(),
      limitInScript,
    );
    if (claim.kind === 'limited') throw holder.limit!.refusal(claim.waits);
    if (claim.kind === 'token-invalid') throw invalidQueueToken();
    if (claim.kind === 'forbidden') throw new DomainError('FORBIDDEN', 'the queue token belongs to someone else');
    if (claim.kind === 'not-active') {
      const replay = await earlier(reservationId, userId, key);
      if (replay) return replay;
      throw notActive(claim.status);
    }
    // A resumed key's first run may have held the seat (or finished with it) already: that is the answer.
    const replay = await earlier(reservationId, userId, key);
    if (replay) {
      if (claim.kind === 'claimed') await gate.release(claim.concertId, seat.scheduleId, seat.seatNumber, reservationId).catch(() => undefined);
      return replay;
    }
    if (claim.kind === 'taken' && claim.holder !== reservationId) {
      metrics.seatGateRefusals.inc();
      throw new DomainError('SEAT_UNAVAILABLE', 'the seat is held or sold');
    }

    const ticket: QueueTicket = { token: queueToken as string, concertId: claim.concertId, userId, status: 'ACTIVE', position: 0, arrival: claim.arrival, activeUntil: claim.activeUntil, waiting: 0 };
    try {
      const held = await temporalScope(() => journeys.hold(ticket, { scheduleId: seat.scheduleId, seatNumber: seat.seatNumber, reservationId }));
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
      if (outcomeKnown || key === undefined) await gate.release(claim.concertId, seat.scheduleId, seat.seatNumber, reservationId).catch(() => undefined);
      throw err;
    }
  };
}

function notActive(status: string): DomainError {
  return new DomainError('QUEUE_TOKEN_NOT_ACTIVE', `the queue token is ${status}`);
}

/** Why the seat cannot be held whatever the gate says (no such schedule or seat, another concert's), or null. */
async function seatMisfit(schedules: ScheduleRefs, tokenConcert: string, seat: { scheduleId: string; seatNumber: number }): Promise<DomainError | null> {
  let schedule: ScheduleRef;
  try {
    schedule = await schedules.get(seat.scheduleId);
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  if (schedule.concertId !== tokenConcert) return new DomainError('FORBIDDEN', 'the queue token is for another concert');
  if (seat.seatNumber > schedule.totalSeats) return new DomainError('NOT_FOUND', `seats are numbered 1..${schedule.totalSeats}`);
  return null;
}
