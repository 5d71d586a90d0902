import {
  allHandlersFinished,
  CancellationScope,
  condition,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { JourneyActivities } from '../../activities/journey';
import type { RefundOutcome } from '../../db/stores/wallets';
import { asUpdateFailure, businessCode, refuse } from '../failures';
import {
  cancelUpdate,
  holdUpdate,
  journeyQuery,
  leaveUpdate,
  payUpdate,
  searchAttributes,
  type HeldSeat,
  type JourneyInput,
  type JourneySnapshot,
  type JourneyStatus,
  type PaymentReceipt,
} from '../definitions';

// Holds, releases and the session's end are local activities: they run in the worker beside the
// workflow task, cost no extra round trip through the server, and are recorded as markers.
/** Steps a caller waits for: a few quick retries, then the update fails and the caller hears why. */
const quick = proxyLocalActivities<JourneyActivities>({
  startToCloseTimeout: '5s',
  scheduleToCloseTimeout: '15s',
  retry: { initialInterval: '50ms', backoffCoefficient: 2, maximumInterval: '1s' },
});
/** Steps that must converge whatever happens: retried until they succeed, however long that takes. */
const UNTIL_DONE = {
  startToCloseTimeout: '5s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '10s' },
} as const;
/** Releases and the end of the session. */
const durable = proxyLocalActivities<JourneyActivities>(UNTIL_DONE);
// Money moves in normal activities: each is scheduled in the history before it runs, so the pay
// update is durably accepted before any debit happens. (A local activity inside an update runs
// before the workflow task that accepts the update is persisted; if that task is lost, the debit
// happened for an update the history never saw: seen under 20 concurrent pay requests.)
/** The forward steps of the payment saga: a few retries, then the saga compensates. */
const saga = proxyActivities<JourneyActivities>({
  startToCloseTimeout: '5s',
  scheduleToCloseTimeout: '20s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '2s' },
});
/** The compensation (the refund). */
const compensation = proxyActivities<JourneyActivities>(UNTIL_DONE);

interface Hold extends HeldSeat {
  heldUntilMs: number;
  /** Set while a step on this hold is in flight, so the deadline loop and other handlers keep off. */
  busy: 'holding' | 'paying' | 'releasing' | null;
}

/**
 * The fan journey as it ran before the `journey-v2` patch (workflows/fan-journey.ts), kept so that
 * journeys started by that code still replay and finish on it: one workflow serializes everything
 * for the fan, so a payment either starts before its hold's deadline and completes (or refunds), or
 * is refused. Delete once no journey started before the patch is open (a journey lives at most its
 * active window) and the recorded histories of test/fixtures made before it are retired.
 */
export async function legacyFanJourney(input: JourneyInput): Promise<JourneySnapshot> {
  let status: JourneyStatus = 'ACTIVE';
  const holds = new Map<string, Hold>();
  let changed = false;

  // One local activity at a time. Two in flight at once each resolve in an activation of their own
  // while the journey runs, but together when a worker replays its history (their markers sit side
  // by side), so what the journey did in between (another update completing, the deadline loop
  // restarting its timer) comes out in another order: the replay fails with a nondeterminism error
  // and the journey is stuck. Any replay does it: a worker that died (test/chaos/crashes.test.ts), a
  // journey evicted from the worker's cache. Two holds sent at once were enough.
  let stepInFlight = false;
  const oneAtATime =
    <A extends unknown[], R>(step: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      while (stepInFlight) await condition(() => !stepInFlight);
      stepInFlight = true;
      try {
        return await step(...args);
      } finally {
        stepInFlight = false;
      }
    };
  const holdSeat = oneAtATime(quick.holdSeat);
  const releaseHold = oneAtATime(durable.releaseHold);
  const closeSession = oneAtATime(durable.endSession);

  const live = () => [...holds.values()].filter((h) => h.status === 'HELD');
  const paying = () => live().some((h) => h.busy === 'paying');
  const snapshot = (): JourneySnapshot => ({ status, activeUntil: input.activeUntil, holds: [...holds.values()].map(view) });
  const setStatus = (next: JourneyStatus) => {
    status = next;
    upsertSearchAttributes([{ key: searchAttributes.journeyStatus, value: next }]);
  };

  async function release(hold: Hold, outcome: 'EXPIRED' | 'CANCELLED'): Promise<void> {
    hold.busy = 'releasing';
    try {
      await releaseHold({ reservationId: hold.reservationId, concertId: input.concertId, scheduleId: hold.scheduleId, seatNumber: hold.seatNumber, outcome });
      hold.status = outcome;
    } finally {
      hold.busy = null;
      changed = true;
    }
  }

  const releaseAll = (outcome: 'EXPIRED' | 'CANCELLED') => Promise.all(live().filter((h) => !h.busy).map((h) => release(h, outcome)));

  async function endSession(final: 'COMPLETED' | 'EXPIRED' | 'LEFT', soldSeats: HeldSeat[] = []): Promise<void> {
    setStatus(final);
    await closeSession({
      ...(input.token ? { token: input.token } : { arrival: input.arrival }),
      userId: input.userId,
      concertId: input.concertId,
      status: final,
      soldSeats: soldSeats.map(({ scheduleId, seatNumber, reservationId }) => ({ scheduleId, seatNumber, reservationId })),
    });
  }

  setHandler(journeyQuery, snapshot);

  setHandler(
    holdUpdate,
    async ({ scheduleId, seatNumber, reservationId }) => {
      const retried = holds.get(reservationId);
      if (retried) return view(retried);
      const heldUntilMs = Math.min(Date.now() + input.holdTtlSeconds * 1000, input.activeUntil);
      const hold: Hold = {
        reservationId, scheduleId, seatNumber, seatId: '', price: 0, status: 'HELD',
        heldUntil: new Date(heldUntilMs).toISOString(), heldUntilMs, busy: 'holding',
      };
      holds.set(reservationId, hold);
      try {
        const seat = await holdSeat({
          reservationId, userId: input.userId, concertId: input.concertId, scheduleId, seatNumber,
          heldUntil: hold.heldUntil, graceSeconds: input.holdGraceSeconds, journeyId: workflowInfo().workflowId,
        });
        Object.assign(hold, { seatId: seat.seatId, price: seat.price, busy: null });
      } catch (err) {
        holds.delete(reservationId);
        throw asUpdateFailure(err);
      }
      upsertSearchAttributes([
        { key: searchAttributes.scheduleIds, value: unique([...holds.values()].map((h) => h.scheduleId)) },
        { key: searchAttributes.seats, value: unique([...holds.values()].map((h) => `${h.scheduleId}:${h.seatNumber}`)) },
        { key: searchAttributes.reservationIds, value: [...holds.keys()] },
      ]);
      changed = true;
      return view(hold);
    },
    {
      validator: ({ reservationId }) => {
        if (holds.has(reservationId)) return; // a retried update answers with the same hold
        if (status !== 'ACTIVE' || Date.now() >= input.activeUntil) throw refuse('QUEUE_TOKEN_NOT_ACTIVE', `the journey is ${status}`);
        if (live().length >= input.maxHolds) throw refuse('HOLD_LIMIT_REACHED', `at most ${input.maxHolds} live holds per fan`);
      },
    },
  );

  setHandler(
    cancelUpdate,
    async ({ reservationId }) => {
      const hold = holds.get(reservationId)!;
      await release(hold, 'CANCELLED');
      return view(hold);
    },
    {
      validator: ({ reservationId }) => {
        const hold = holds.get(reservationId);
        if (!hold || hold.status !== 'HELD' || hold.busy) throw refuse('RESERVATION_NOT_HELD', 'the reservation is not held');
      },
    },
  );

  setHandler(
    payUpdate,
    async ({ reservationId, paymentId }): Promise<PaymentReceipt> => {
      const hold = holds.get(reservationId)!;
      hold.busy = 'paying';
      setStatus('PAYING');
      upsertSearchAttributes([{ key: searchAttributes.paymentStartedAt, value: new Date() }]);
      // Saga: the refund is registered before the debit, so any failure after it gives the money back.
      const compensations: Array<() => Promise<RefundOutcome>> = [];
      let debited: { amount: number; balance: number } | undefined;
      try {
        compensations.unshift(() => compensation.refundPayment({ paymentId, userId: input.userId, reservationId }));
        debited = await saga.debitWallet({ paymentId, userId: input.userId, reservationId });
        await saga.confirmPayment({ paymentId, reservationId });
      } catch (err) {
        // Compensation runs to the end even if the update is cancelled, and retries until it succeeds.
        const outcomes = await CancellationScope.nonCancellable(async () => {
          const done: RefundOutcome[] = [];
          for (const compensate of compensations) done.push(await compensate());
          return done;
        });
        // A confirm whose answer was lost may still have committed: then the sale stands, no refund.
        if (!(debited && outcomes.includes('ALREADY_COMPLETED'))) {
          // Confirm refused because Postgres no longer holds the reservation (taken over past its
          // grace): the hold is gone. Any other failure leaves it held until its own deadline.
          if (businessCode(err) === 'RESERVATION_NOT_PAYABLE') hold.status = 'EXPIRED';
          hold.busy = null;
          changed = true;
          if (status === 'PAYING') setStatus('ACTIVE');
          throw asUpdateFailure(err);
        }
      }
      hold.status = 'CONFIRMED';
      hold.busy = null;
      changed = true;
      await releaseAll('CANCELLED');
      await endSession('COMPLETED', [hold]);
      return { paymentId, reservationId, amount: debited.amount, status: 'COMPLETED', balance: debited.balance };
    },
    {
      validator: ({ reservationId }) => {
        const hold = holds.get(reservationId);
        if (!hold) throw refuse('RESERVATION_NOT_PAYABLE', 'this journey holds no such reservation');
        if (hold.status === 'EXPIRED' || (hold.status === 'HELD' && Date.now() >= hold.heldUntilMs)) {
          throw refuse('HOLD_EXPIRED', 'the hold expired before the payment');
        }
        if (hold.status !== 'HELD' || hold.busy) throw refuse('RESERVATION_NOT_PAYABLE', `the reservation is ${hold.busy ?? hold.status}`);
      },
    },
  );

  setHandler(
    leaveUpdate,
    async () => {
      await condition(() => !paying());
      if (status === 'ACTIVE') {
        await releaseAll('CANCELLED');
        await endSession('LEFT');
      }
      changed = true;
      return snapshot();
    },
    {
      validator: () => {
        if (status !== 'ACTIVE' && status !== 'PAYING') throw refuse('QUEUE_TOKEN_NOT_ACTIVE', `the journey is ${status}`);
      },
    },
  );

  // The deadline loop: each hold has its own durable deadline, the window has one too. A hold being
  // paid is left alone; the payment either completes or fails and the loop looks again.
  for (;;) {
    const now = Date.now();
    await Promise.all(live().filter((h) => !h.busy && now >= h.heldUntilMs).map((h) => release(h, 'EXPIRED')));
    if (status === 'ACTIVE' && now >= input.activeUntil && !paying()) await endSession('EXPIRED');
    if (status !== 'ACTIVE' && status !== 'PAYING' && live().length === 0) break;
    const deadlines = live().filter((h) => !h.busy).map((h) => h.heldUntilMs);
    if (status === 'ACTIVE') deadlines.push(input.activeUntil);
    const next = Math.min(...deadlines);
    changed = false;
    if (Number.isFinite(next)) await condition(() => changed, Math.max(next - Date.now(), 1));
    else await condition(() => changed);
  }
  await condition(allHandlersFinished);
  return snapshot();
}

function view({ reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil }: Hold): HeldSeat {
  return { reservationId, scheduleId, seatId, seatNumber, price, status, heldUntil };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
