/**
 * A fan journey's holds and where each one is: the journey's state machine for seats, pure (no SDK,
 * no clock of its own), so its rules are unit-tested on their own (test/unit/hold-book.test.ts).
 *
 *   add ──► holding ──held()──► HELD ──begin('paying')──► paying ──settle(CONFIRMED)──► CONFIRMED
 *              │                  ▲ │                        └──abandon()──► HELD
 *              │ refused()        │ └─begin('releasing')──► releasing ──settle(EXPIRED|CANCELLED)
 *              ▼                  │
 *           (forgotten)     unknown(): the step failed without an answer (a timeout): the row may
 *                           exist, so the hold stays live and is released (conditionally) at its deadline
 */
import type { HeldSeat, HoldRequest, HoldStatus } from './definitions';

/** The step in flight on a hold; other steps keep off it until it is done. */
export type HoldStep = 'holding' | 'paying' | 'releasing';

export interface Hold extends HeldSeat {
  heldUntilMs: number;
  step: HoldStep | null;
  /** Its hold step failed for a reason other than a refusal: it may or may not hold the seat. */
  unknown: boolean;
}

export class HoldBook {
  private readonly holds = new Map<string, Hold>();

  get(reservationId: string): Hold | undefined {
    return this.holds.get(reservationId);
  }

  all(): Hold[] {
    return [...this.holds.values()];
  }

  /** A new hold whose Postgres step is about to run. */
  add({ reservationId, scheduleId, seatNumber }: HoldRequest, heldUntilMs: number): Hold {
    if (this.holds.has(reservationId)) throw new Error(`hold ${reservationId} is already in the book`);
    const hold: Hold = {
      reservationId, scheduleId, seatNumber, seatId: '', price: 0, status: 'HELD',
      heldUntil: new Date(heldUntilMs).toISOString(), heldUntilMs, step: 'holding', unknown: false,
    };
    this.holds.set(reservationId, hold);
    return hold;
  }

  /** The hold step (first or retried) is running again on a hold whose outcome was unknown. */
  retry(reservationId: string): Hold {
    const hold = this.expect(reservationId);
    hold.step = 'holding';
    return hold;
  }

  /** Postgres answered: the seat is held. */
  held(reservationId: string, seat: { seatId: string; price: number }): Hold {
    const hold = this.expect(reservationId);
    Object.assign(hold, { seatId: seat.seatId, price: seat.price, step: null, unknown: false });
    return hold;
  }

  /** Postgres refused: the hold never existed. */
  refused(reservationId: string): void {
    this.holds.delete(reservationId);
  }

  /** The step failed without an answer: kept live, so its deadline releases whatever it may hold. */
  unknown(reservationId: string): Hold {
    const hold = this.expect(reservationId);
    Object.assign(hold, { step: null, unknown: true });
    return hold;
  }

  begin(reservationId: string, step: Exclude<HoldStep, 'holding'>): Hold {
    const hold = this.expect(reservationId);
    if (hold.status !== 'HELD' || hold.step) throw new Error(`hold ${reservationId} is ${hold.step ?? hold.status}`);
    hold.step = step;
    return hold;
  }

  /** The step on it is over and ended the hold this way. */
  settle(reservationId: string, status: Exclude<HoldStatus, 'HELD'>): Hold {
    const hold = this.expect(reservationId);
    Object.assign(hold, { status, step: null });
    return hold;
  }

  /** The step on it is over and the hold stays as it was (a payment that failed). */
  abandon(reservationId: string): Hold {
    const hold = this.expect(reservationId);
    hold.step = null;
    return hold;
  }

  /** Holds that may hold a seat now: HELD, whatever step runs on them, known or not. */
  live(): Hold[] {
    return this.all().filter((h) => h.status === 'HELD');
  }

  /** Live holds no step is running on. */
  idle(): Hold[] {
    return this.live().filter((h) => !h.step);
  }

  /** Idle live holds whose deadline has come. */
  due(nowMs: number): Hold[] {
    return this.idle().filter((h) => nowMs >= h.heldUntilMs);
  }

  /** The earliest deadline among idle live holds, if any. */
  nextDeadline(): number | undefined {
    const deadlines = this.idle().map((h) => h.heldUntilMs);
    return deadlines.length ? Math.min(...deadlines) : undefined;
  }

  /**
   * What operators look a journey up by: the schedules, seats and reservations it holds or bought
   * now (known holds only). Bounded by the live-hold limit, whatever the journey did before.
   */
  lookup(): { scheduleIds: string[]; seats: string[]; reservationIds: string[] } {
    const holding = this.all().filter((h) => (h.status === 'HELD' || h.status === 'CONFIRMED') && h.step !== 'holding' && !h.unknown);
    return {
      scheduleIds: [...new Set(holding.map((h) => h.scheduleId))],
      seats: [...new Set(holding.map((h) => `${h.scheduleId}:${h.seatNumber}`))],
      reservationIds: holding.map((h) => h.reservationId),
    };
  }

  private expect(reservationId: string): Hold {
    const hold = this.holds.get(reservationId);
    if (!hold) throw new Error(`no hold ${reservationId} in the book`);
    return hold;
  }
}

/** A hold as the API answers it. */
export function view({ reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil }: Hold): HeldSeat {
  return { reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil };
}
