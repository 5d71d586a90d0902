import {
  allHandlersFinished,
  CancellationScope,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type TemporalFailure,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { JourneyActivities, SeatRef } from '../activities/journey';
import { asUpdateFailure, businessCode, refuse } from './failures';
import {
  cancelUpdate,
  holdUpdate,
  JOURNEY_BUDGET,
  journeyQuery,
  leaveUpdate,
  payUpdate,
  searchAttributes,
  type CancelRequest,
  type HeldSeat,
  type HoldRequest,
  type JourneyInput,
  type JourneySnapshot,
  type JourneyStatus,
  type PaymentReceipt,
  type PayRequest,
} from './definitions';
import { HoldBook, view, type Hold } from './hold-book';
import { legacyFanJourney } from './legacy/fan-journey-v1';
import { runPaymentSaga, type PaymentSteps } from './payment-saga';

/**
 * The patch that introduced this version: journeys started before it replay and finish on
 * workflows/legacy/fan-journey-v1.ts (their histories have no marker for it).
 */
export const JOURNEY_V2_PATCH = 'journey-v2';
/**
 * Orders of several seats (issue 21). A one-seat payment runs the very commands it ran before (the
 * same three activities, their inputs only gaining an optional field), so histories recorded before
 * replay without it; a history with an order of several seats carries this marker, where its pay
 * update began its saga: it needs this version of the code.
 */
export const JOURNEY_ORDERS_PATCH = 'journey-orders';
/** The no-show check (issue 21): journeys started before it have no such timer. */
export const JOURNEY_NO_SHOW_PATCH = 'journey-no-show';
/**
 * The payment saga's confirm and refund as local activities, after a debit that the accepting task
 * schedules (issue 25). A pay update of a history recorded before it has no marker and replays every
 * step as a normal activity.
 */
export const JOURNEY_PAY_LOCAL_PATCH = 'journey-pay-local';
/**
 * The payment as one purchase (debit and confirm in one transaction) run as a local activity in the
 * task that accepts the pay update (issue 25): the whole payment is one workflow task. A pay update
 * of a history recorded before it has no marker and replays the saga of `JOURNEY_PAY_LOCAL_PATCH`
 * (or, before that, of normal activities).
 */
export const JOURNEY_PAY_ONE_TASK_PATCH = 'journey-pay-one-task';
/**
 * One marker for everything above (issue 25): a journey started with it runs the no-show check,
 * orders and the one-task payment without asking each patch. Each `patched()` that records a marker
 * also makes the SDK's core upsert `TemporalChangeVersion`, a visibility update on the server: a
 * journey paid for with one seat wrote three of those (two at the start, one at the payment), an
 * order four; now one, at the start. Journeys started before it have no such marker and ask each
 * patch where they always did.
 */
export const JOURNEY_V3_PATCH = 'journey-v3';

// Holds and releases are local activities: they run in the worker beside the workflow task, cost no
// extra round trip through the server, and are recorded as markers.
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
/** The forward steps of the payment saga: a few retries, then the saga compensates. */
const SAGA_STEP = {
  startToCloseTimeout: '5s',
  scheduleToCloseTimeout: '20s',
  retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '2s' },
} as const;
// The payment is one purchase: the debit and the confirm in one PostgreSQL transaction (SaleStore),
// run as a local activity in the task that accepts the pay update, so money moves before that
// acceptance is in the history. The task may be lost after the purchase committed: a worker crash,
// or the server aborting the updates of a task (it does under concurrent updates of one journey;
// the SDK's client then sends the update again). The database then has the sale whole, the money
// and the seats together (the reason journeys before it debited in an activity scheduled by the
// accepting task: a debit alone, unseen, was money nothing refunded), and it converges:
// - the update sent again runs the purchase again, which answers the committed one (idempotent by
//   the payment id); test/chaos/payment-crash.test.ts kills the worker at that moment;
// - another payment of the journey that gets there first is refused as sold, and the journey takes
//   the unseen sale as its own (`saleOf` below), so the first one's update answers its receipt;
// - whatever the journey refuses, the API answers the receipt of a payment the database completed
//   (api/use-cases/pay.ts; test/chaos/retries.test.ts sends 20 payments at once, ten times).
// The refund stays the compensation for an outcome the purchase could not learn (the database
// unreachable past its retries): it marks the order given up unless it committed, and finds no debit
// without its sale to give back.
const localSaga = proxyLocalActivities<JourneyActivities>(SAGA_STEP);
/** A purchase's first attempt in journeys of `JOURNEY_V3_PATCH`: once, then the saga's step retries it. */
const firstAttempt = proxyLocalActivities<JourneyActivities>({ startToCloseTimeout: SAGA_STEP.startToCloseTimeout, retry: { maximumAttempts: 1 } });
// Histories recorded before JOURNEY_PAY_LOCAL_PATCH ran every step as a normal activity.
const saga = proxyActivities<JourneyActivities>(SAGA_STEP);
const compensation = proxyActivities<JourneyActivities>(UNTIL_DONE);

/** A payment (an order of one or more seats) the journey saw, by payment id: a retried `pay` answers its outcome. */
interface Payment {
  reservationIds: string[];
  outcome?: { receipt: PaymentReceipt } | { failure: TemporalFailure };
}

/** The seats of a pay request, first the one it names alone: one for a one-seat payment. */
const orderOf = ({ reservationId, reservationIds }: PayRequest): string[] => (reservationIds?.length ? reservationIds : [reservationId]);

/** Refusals of recent hold steps, so a retry that waited for the step answers the same refusal. */
const REMEMBERED_REFUSALS = 16;

/**
 * One admitted fan's whole story in one concert: the active window, each seat hold with its own
 * durable deadline, and the payment saga. One workflow serializes everything for the fan, so a
 * payment either starts before its hold's deadline and completes (or refunds), or is refused.
 *
 * The seats are a hold book (hold-book.ts), the payment a saga (payment-saga.ts); the handlers
 * check and record, the main loop does the releases and the session's end. The status is derived
 * from the state, never toggled.
 */
export async function fanJourney(input: JourneyInput): Promise<JourneySnapshot> {
  const v3 = patched(JOURNEY_V3_PATCH);
  if (!v3 && !patched(JOURNEY_V2_PATCH)) return legacyFanJourney(input);

  const book = new HoldBook();
  const payments = new Map<string, Payment>();
  const refusals = new Map<string, TemporalFailure>();
  /** The payment whose saga runs now: one at a time per fan. */
  let paying: string | undefined;
  /** The holds that were sold (one order): the session ends COMPLETED (in the main loop, after the receipt). */
  let sold: Hold[] = [];
  /** How the session ended (or is ending). */
  let ended: 'COMPLETED' | 'EXPIRED' | 'LEFT' | 'NO_SHOW' | undefined;
  let changed = false;

  const status = (): JourneyStatus => ended ?? (sold.length ? 'COMPLETED' : paying ? 'PAYING' : 'ACTIVE');
  const snapshot = (): JourneySnapshot => ({ status: status(), activeUntil: input.activeUntil, holds: book.all().map(view) });
  const seat = ({ scheduleId, seatNumber, reservationId }: Hold): SeatRef => ({ scheduleId, seatNumber, reservationId });

  // Search attributes answer operators' queries (README "Find a fan's journey"), and each write is a
  // visibility update on the server: the status when it changes, and with it the schedules / seats /
  // reservations held or bought at that moment (paying, sold, ended). A hold alone writes nothing:
  // live holds are in PostgreSQL (reservations.journey_id) and the `journey` query. (Writing the lists
  // on every hold cost the server about a third of its CPU per hold: bench/README.md.)
  // The start set JourneyStatus ACTIVE and no lists.
  let published = { status: 'ACTIVE' as JourneyStatus, lookup: JSON.stringify(book.lookup()) };
  const publish = (also: SearchAttributeUpdatePair[] = []) => {
    const now = { status: status(), lookup: JSON.stringify(book.lookup()) };
    const pairs: SearchAttributeUpdatePair[] = [...also];
    if (now.status !== published.status) {
      pairs.push({ key: searchAttributes.journeyStatus, value: now.status });
      if (now.lookup !== published.lookup) {
        const { scheduleIds, seats, reservationIds } = book.lookup();
        pairs.push(
          { key: searchAttributes.scheduleIds, value: scheduleIds },
          { key: searchAttributes.seats, value: seats },
          { key: searchAttributes.reservationIds, value: reservationIds },
        );
      }
      published = now;
    }
    if (pairs.length) upsertSearchAttributes(pairs);
  };

  // One local activity at a time. Two in flight at once each resolve in an activation of their own
  // while the journey runs, but together when a worker replays its history (their markers sit side
  // by side), so what the journey did in between comes out in another order and the replay fails
  // with a nondeterminism error (test/chaos/crashes.test.ts found it with two holds sent at once).
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
  const releaseHolds = oneAtATime(durable.releaseHolds);
  const endIfNoShow = oneAtATime(durable.endIfNoShow);
  const confirmLocally = oneAtATime(localSaga.confirmPayment);
  // The refund is `durable`: retried until it succeeds (while it runs the worker heartbeats the workflow task).
  const refundLocally = oneAtATime(durable.refundPayment);
  const purchase = oneAtATime(localSaga.purchase);
  const purchaseOnce = oneAtATime(firstAttempt.purchase);
  const purchased = oneAtATime(durable.purchase);
  const saleOf = oneAtATime(durable.saleOf);

  /**
   * The payment's steps: the one-task purchase, or the saga a history recorded before it replays.
   * `inFlight` (journeys of JOURNEY_V3_PATCH): the purchase is tried once first, and only when that
   * attempt fails without a refusal is `inFlight` told, before the step that retries it.
   */
  type Order = Parameters<JourneyActivities['purchase']>[0];
  const paymentSteps = (oneTask: boolean, order: Order, confirmation: Omit<Order, 'userId'>, inFlight?: () => void): PaymentSteps => {
    if (oneTask) {
      const retried = () => purchase(order);
      const debit = inFlight
        ? () =>
            purchaseOnce(order).catch((err: unknown) => {
              if (businessCode(err)) throw err;
              inFlight();
              return retried();
            })
        : retried;
      return { debit, confirm: async () => undefined, refund: () => refundLocally(order), receipt: () => purchased(order) };
    }
    if (patched(JOURNEY_PAY_LOCAL_PATCH)) {
      return { debit: () => saga.debitWallet(order), confirm: () => confirmLocally(confirmation), refund: () => refundLocally(order) };
    }
    return { debit: () => saga.debitWallet(order), confirm: () => saga.confirmPayment(confirmation), refund: () => compensation.refundPayment(order) };
  };

  // A fan admitted who never comes gives the window back: once, NO_SHOW_SECONDS after the start, a
  // journey that has held nothing asks Redis whether the fan made any request since admission; if
  // not, its session ends NO_SHOW and the active slot goes to the next fan.
  let noShowCheckAt = input.noShowSeconds !== undefined && (v3 || patched(JOURNEY_NO_SHOW_PATCH)) ? Date.now() + input.noShowSeconds * 1000 : undefined;

  /** Releases a batch of holds, and ends the session with them when asked: one local activity. */
  async function release(holds: Hold[], outcome: 'EXPIRED' | 'CANCELLED', session?: { status: 'COMPLETED' | 'EXPIRED' | 'LEFT'; soldSeats: Hold[] }): Promise<void> {
    for (const hold of holds) book.begin(hold.reservationId, 'releasing');
    if (session) ended = session.status;
    try {
      await releaseHolds({
        concertId: input.concertId,
        outcome,
        holds: holds.map(seat),
        // A journey started before issue 23 still has its token; a new one is named by its arrival.
        ...(session && {
          session: { ...(input.token ? { token: input.token } : { arrival: input.arrival }), userId: input.userId, status: session.status, soldSeats: session.soldSeats.map(seat) },
        }),
      });
      for (const hold of holds) book.settle(hold.reservationId, outcome);
    } finally {
      for (const hold of holds) if (hold.step === 'releasing') book.abandon(hold.reservationId);
      changed = true;
      publish();
    }
  }

  /** Runs (or runs again, for a hold whose outcome was unknown) the hold's Postgres step. */
  async function takeSeat(hold: Hold): Promise<HeldSeat> {
    const { reservationId, scheduleId, seatNumber, heldUntil } = hold;
    try {
      const taken = await holdSeat({
        reservationId, userId: input.userId, concertId: input.concertId, scheduleId, seatNumber,
        heldUntil, graceSeconds: input.holdGraceSeconds, journeyId: workflowInfo().workflowId,
      });
      book.held(reservationId, taken);
    } catch (err) {
      const failure = asUpdateFailure(err);
      if (businessCode(err)) {
        book.refused(reservationId);
        refusals.set(reservationId, failure);
        if (refusals.size > REMEMBERED_REFUSALS) refusals.delete(refusals.keys().next().value!);
      } else {
        // A timeout or an outage: the row may have committed after all. Kept live, so its deadline
        // releases it (conditionally, idempotently); a retry of the same hold asks Postgres again.
        book.unknown(reservationId);
      }
      throw failure;
    } finally {
      changed = true;
      publish();
    }
    return view(hold);
  }

  /** A retried hold: the same answer as the first, once its step is done. */
  async function answerRetriedHold(reservationId: string): Promise<HeldSeat> {
    const hold = book.get(reservationId);
    if (!hold) throw refusals.get(reservationId) ?? refuse('SEAT_UNAVAILABLE', 'the hold was refused');
    if (hold.step === 'holding') {
      await condition(() => hold.step !== 'holding');
      return answerRetriedHold(reservationId);
    }
    if (hold.unknown && hold.status === 'HELD' && !hold.step) {
      if (status() !== 'ACTIVE' || Date.now() >= hold.heldUntilMs) throw refuse('HOLD_EXPIRED', 'the hold’s outcome was unknown and its time is over');
      return takeSeat(book.retry(reservationId));
    }
    return view(hold);
  }

  // The journey's budget (definitions.ts JOURNEY_BUDGET). The counts are of accepted updates, taken
  // by the handlers, so a replay counts the same; the validators only refuse, and a refused update
  // leaves nothing in the history, so this changes no command and needs no patch.
  const budget = {
    holdAttempts: input.maxHoldAttempts ?? JOURNEY_BUDGET.holdAttempts,
    updates: input.maxUpdates ?? JOURNEY_BUDGET.updates,
  };
  let holdAttempts = 0;
  let updatesAccepted = 0;
  let updatesInFlight = 0;
  // The handler's own promise goes back to the SDK, untouched: an extra await here would move each
  // update's completion a microtask later, and with it the order of commands that recorded
  // histories replay.
  const counted =
    <A extends unknown[], R>(handler: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      updatesAccepted++;
      updatesInFlight++;
      const done = () => {
        updatesInFlight--;
      };
      const answer = handler(...args);
      void answer.then(done, done);
      return answer;
    };
  const withinBudget = (what: 'hold' | 'update' | 'leave') => {
    if (updatesInFlight >= JOURNEY_BUDGET.inFlight) throw refuse('RATE_LIMITED', `at most ${JOURNEY_BUDGET.inFlight} requests of one journey at once`);
    if (what === 'leave') return; // leaving ends the journey: always allowed
    if (updatesAccepted >= budget.updates) throw refuse('RATE_LIMITED', `this journey has used all ${budget.updates} of its requests`);
    if (what === 'hold' && holdAttempts >= budget.holdAttempts) throw refuse('RATE_LIMITED', `this journey has used all ${budget.holdAttempts} of its hold attempts`);
  };

  setHandler(journeyQuery, snapshot);

  setHandler(
    holdUpdate,
    counted(async (request: HoldRequest): Promise<HeldSeat> => {
      if (book.get(request.reservationId) || refusals.has(request.reservationId)) return answerRetriedHold(request.reservationId);
      holdAttempts++;
      return takeSeat(book.add(request, Math.min(Date.now() + input.holdTtlSeconds * 1000, input.activeUntil)));
    }),
    {
      validator: ({ reservationId }) => {
        const retried = book.get(reservationId) || refusals.has(reservationId);
        withinBudget(retried ? 'update' : 'hold');
        if (retried) return; // a retried update answers with the same hold
        if (status() !== 'ACTIVE' || Date.now() >= input.activeUntil) throw refuse('QUEUE_TOKEN_NOT_ACTIVE', `the journey is ${status()}`);
        if (book.live().length >= input.maxHolds) throw refuse('HOLD_LIMIT_REACHED', `at most ${input.maxHolds} live holds per fan`);
      },
    },
  );

  setHandler(
    cancelUpdate,
    counted(async ({ reservationId }: CancelRequest): Promise<HeldSeat> => {
      const hold = book.get(reservationId)!;
      await release([hold], 'CANCELLED');
      return view(hold);
    }),
    {
      validator: ({ reservationId }) => {
        withinBudget('update');
        const hold = book.get(reservationId);
        if (!hold || hold.status !== 'HELD' || hold.step) throw refuse('RESERVATION_NOT_HELD', 'the reservation is not held');
      },
    },
  );

  setHandler(
    payUpdate,
    counted(async (request: PayRequest): Promise<PaymentReceipt> => {
      const { reservationId, paymentId } = request;
      const seen = payments.get(paymentId);
      if (seen) {
        await condition(() => seen.outcome !== undefined);
        const first = seen.outcome!;
        if ('failure' in first) throw first.failure;
        return first.receipt;
      }
      const seats = orderOf(request);
      // Several seats: passed on to the saga's steps; one seat: the inputs of before orders existed.
      const several = seats.length > 1 ? { reservationIds: seats } : undefined;
      if (several && !v3) patched(JOURNEY_ORDERS_PATCH);
      const payment: Payment = { reservationIds: seats };
      payments.set(paymentId, payment);
      paying = paymentId;
      const holds = seats.map((id) => book.begin(id, 'paying'));
      const started: SearchAttributeUpdatePair = { key: searchAttributes.paymentStartedAt, value: new Date() };
      if (!v3) publish([started]);
      const order = { paymentId, userId: input.userId, reservationId, ...several };
      const confirmation = { paymentId, reservationId, ...several };
      const oneTask = v3 || patched(JOURNEY_PAY_ONE_TASK_PATCH);
      // PAYING is for operators looking for a payment in flight (README "Find and resolve a stuck
      // payment"). A purchase that commits at its first attempt is in flight in this task only, so
      // from JOURNEY_V3_PATCH the status is written when that attempt fails without a refusal, as its
      // retries begin. A payment is then one visibility update (COMPLETED, with when it started)
      // instead of two.
      const inFlight = v3 ? () => publish([started]) : undefined;
      const outcome = await runPaymentSaga(paymentSteps(oneTask, order, confirmation, inFlight), (work) => CancellationScope.nonCancellable(work));
      // A purchase refused because its seats are sold may have met a sale of this very journey that
      // it never saw (an earlier pay update whose accepting task was lost after its purchase
      // committed; see the purchase's comment above): the journey takes that sale as its own.
      const unseen = oneTask && !outcome.sold && businessCode(outcome.error) === 'RESERVATION_NOT_PAYABLE' ? await saleOf(order) : null;
      paying = undefined;
      changed = true;
      if (unseen) {
        const paid = new Set(unseen.reservationIds);
        for (const hold of holds) if (!paid.has(hold.reservationId)) book.abandon(hold.reservationId);
        sold = unseen.reservationIds.flatMap((id) => {
          const hold = book.get(id);
          return hold && hold.status === 'HELD' && (!hold.step || hold.step === 'paying') ? [book.settle(id, 'CONFIRMED')] : [];
        });
        payments.set(unseen.paymentId, { reservationIds: unseen.reservationIds, outcome: { receipt: unseen } });
        const failure = asUpdateFailure(refuse('RESERVATION_NOT_PAYABLE', `the reservation is already paid (payment ${unseen.paymentId})`));
        payment.outcome = { failure };
        publish();
        throw failure;
      }
      if (outcome.sold) {
        // The receipt goes back now; the other holds and the session end in the main loop.
        sold = holds.map((hold) => book.settle(hold.reservationId, 'CONFIRMED'));
        const receipt: PaymentReceipt = { paymentId, reservationId, reservationIds: seats, amount: outcome.amount, status: 'COMPLETED', balance: outcome.balance };
        payment.outcome = { receipt };
        publish(v3 ? [started] : []);
        return receipt;
      }
      // Confirm refused because Postgres no longer holds a reservation (taken over past its grace):
      // that hold is gone — the one seat of a one-seat order; in an order of several, those past
      // their deadline (nothing else takes a seat this journey holds). Every other hold stays held
      // until its own deadline: nothing of the order was sold.
      if (businessCode(outcome.error) === 'RESERVATION_NOT_PAYABLE') {
        for (const hold of holds) {
          if (holds.length === 1 || Date.now() >= hold.heldUntilMs) book.settle(hold.reservationId, 'EXPIRED');
          else book.abandon(hold.reservationId);
        }
      } else for (const hold of holds) book.abandon(hold.reservationId);
      const failure = asUpdateFailure(outcome.error);
      payment.outcome = { failure };
      publish();
      throw failure;
    }),
    {
      validator: (request) => {
        const { reservationId, paymentId } = request;
        withinBudget('update');
        if (payments.has(paymentId)) return; // a retried payment answers the first one's outcome
        if (paying) throw refuse('PAYMENT_IN_PROGRESS', 'another payment of this journey is in progress');
        const seats = orderOf(request);
        if (seats[0] !== reservationId || new Set(seats).size !== seats.length) throw refuse('VALIDATION_FAILED', 'an order names each of its seats once, reservationId first');
        if (seats.length > input.maxHolds) throw refuse('VALIDATION_FAILED', `an order has at most ${input.maxHolds} seats`);
        for (const id of seats) {
          const hold = book.get(id);
          if (!hold || hold.unknown) throw refuse('RESERVATION_NOT_PAYABLE', 'this journey holds no such reservation');
          if (hold.status === 'EXPIRED' || (hold.status === 'HELD' && Date.now() >= hold.heldUntilMs)) {
            throw refuse('HOLD_EXPIRED', 'the hold expired before the payment');
          }
          if (status() !== 'ACTIVE') throw refuse('RESERVATION_NOT_PAYABLE', `the journey is ${status()}`);
          if (hold.status !== 'HELD' || hold.step) throw refuse('RESERVATION_NOT_PAYABLE', `the reservation is ${hold.step ?? hold.status}`);
        }
      },
    },
  );

  setHandler(
    leaveUpdate,
    counted(async (): Promise<JourneySnapshot> => {
      await condition(() => !paying);
      if (status() === 'ACTIVE') await release(book.idle(), 'CANCELLED', { status: 'LEFT', soldSeats: [] });
      return snapshot();
    }),
    {
      validator: () => {
        withinBudget('leave');
        if (status() !== 'ACTIVE' && status() !== 'PAYING') throw refuse('QUEUE_TOKEN_NOT_ACTIVE', `the journey is ${status()}`);
      },
    },
  );

  // The deadline timer: one sleep for the earliest deadline, kept while that deadline stays the
  // earliest (a new hold's deadline is never earlier), so a hold or a payment starts no new timer.
  let timer: { at: number; scope: CancellationScope } | undefined;
  let deadlineCame = false;
  const armTimer = (at: number | undefined) => {
    if (timer?.at === at) return;
    timer?.scope.cancel();
    timer = undefined;
    if (at === undefined) return;
    const scope = new CancellationScope();
    timer = { at, scope };
    scope.run(() => sleep(Math.max(at - Date.now(), 1))).then(
      () => {
        if (timer?.scope === scope) timer = undefined;
        deadlineCame = true;
      },
      () => undefined, // cancelled: a new deadline replaced it
    );
  };

  // The main loop: due holds (and, once the window is over, the session's end) are released
  // together in one local activity; after a sale, the other holds and the session's end.
  for (;;) {
    const now = Date.now();
    if (sold.length && !ended) {
      await release(book.idle(), 'CANCELLED', { status: 'COMPLETED', soldSeats: sold });
    } else {
      const windowOver = !ended && !paying && now >= input.activeUntil;
      // Once the session has ended nothing is held for a later deadline.
      const due = ended ? book.idle() : book.due(now);
      if (due.length || windowOver) await release(due, 'EXPIRED', windowOver ? { status: 'EXPIRED', soldSeats: [] } : undefined);
    }
    if (noShowCheckAt !== undefined && (ended || paying || book.all().length > 0)) noShowCheckAt = undefined; // the fan came
    if (noShowCheckAt !== undefined && Date.now() >= noShowCheckAt) {
      noShowCheckAt = undefined;
      if (await endIfNoShow({ concertId: input.concertId, userId: input.userId, arrival: input.arrival })) {
        ended = 'NO_SHOW';
        publish();
      }
    }
    if (ended && book.live().length === 0) break;
    const deadlines = [book.nextDeadline(), ended || paying ? undefined : input.activeUntil, ended ? undefined : noShowCheckAt].filter((d): d is number => d !== undefined);
    armTimer(deadlines.length ? Math.min(...deadlines) : undefined);
    changed = false;
    deadlineCame = false;
    await condition(() => changed || deadlineCame);
  }
  await condition(allHandlersFinished);
  return snapshot();
}
