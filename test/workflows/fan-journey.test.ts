import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, type Duration } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import {
  cancelUpdate,
  holdUpdate,
  journeyQuery,
  leaveUpdate,
  payUpdate,
  searchAttributes,
  type HeldSeat,
  type JourneyInput,
} from '../../workflows/definitions';
import type { fanJourney } from '../../workflows/fan-journey';
import { eventually } from '../support/eventually';
import { timeSkippingEnv, workflowWorker } from '../support/time-skipping';
import { FakeJourneyActivities } from './fake-journey-activities';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const HOLD_TTL = 300;
const WINDOW = 600;

async function withJourney(
  fakes: FakeJourneyActivities,
  test: (journey: WorkflowHandle<typeof fanJourney>, ctx: { input: JourneyInput; worker: Worker; taskQueue: string }) => Promise<void>,
  overrides: Partial<JourneyInput> = {},
) {
  const { worker, taskQueue } = await workflowWorker(env, fakes.activities());
  const now = Date.now();
  const input: JourneyInput = {
    concertId: randomUUID(),
    userId: randomUUID(),
    token: 'token',
    arrival: 1,
    activeUntil: (await env.currentTimeMs()) + WINDOW * 1000,
    holdTtlSeconds: HOLD_TTL,
    holdGraceSeconds: 3,
    maxHolds: 4,
    ...overrides,
  };
  void now;
  await worker.runUntil(async () => {
    const journey = await env.client.workflow.start<typeof fanJourney>('fanJourney', {
      workflowId: `journey-test-${randomUUID()}`,
      taskQueue,
      args: [input],
    });
    try {
      await test(journey, { input, worker, taskQueue });
    } finally {
      await stopJourney(journey);
    }
  });
}

/**
 * A journey left running would keep the shared test server's clock from skipping in later tests
 * (its timers come due with no worker to take them), so every test ends its own.
 */
async function stopJourney(journey: WorkflowHandle): Promise<void> {
  const { status } = await journey.describe();
  if (status.name === 'RUNNING') await journey.terminate('test over');
}

const hold = (journey: WorkflowHandle, seatNumber: number, reservationId = randomUUID()) =>
  journey.executeUpdate(holdUpdate, { args: [{ scheduleId: 'schedule-1', seatNumber, reservationId }] });

async function failureType(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
    throw err;
  }
  return undefined;
}

async function holdStatus(journey: WorkflowHandle, reservationId: string) {
  const snapshot = await journey.query(journeyQuery);
  return snapshot.holds.find((h) => h.reservationId === reservationId)?.status;
}

describe('fan journey: holds and their deadlines', () => {
  it('releases an unpaid hold after exactly its TTL, in well under 2 s of wall time', async () => {
    const fakes = new FakeJourneyActivities();
    let timerWallMs = 0;
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 7);
      expect(held.status).toBe('HELD');
      const started = Date.now();
      await env.sleep(`${HOLD_TTL - 1}s`);
      expect(await holdStatus(journey, held.reservationId)).toBe('HELD');
      expect(fakes.released()).toEqual([]);
      await env.sleep('2s');
      await eventually(async () => expect(await holdStatus(journey, held.reservationId)).toBe('EXPIRED'));
      timerWallMs = Date.now() - started;
      expect(fakes.released()).toEqual([expect.objectContaining({ reservationId: held.reservationId, outcome: 'EXPIRED' })]);
    });
    // Five simulated minutes, skipped: the whole wait from hold to release costs well under 2 s.
    expect(timerWallMs).toBeLessThan(2000);
  });

  it('caps a hold near the end of the window at the window’s end', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey, { input }) => {
      await env.sleep(`${WINDOW - 60}s`);
      const held = await hold(journey, 1);
      expect(Date.parse(held.heldUntil)).toBe(input.activeUntil);
    });
  });

  it('cancel releases at once', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 2);
      const cancelled = await journey.executeUpdate(cancelUpdate, { args: [{ reservationId: held.reservationId }] });
      expect(cancelled.status).toBe('CANCELLED');
      expect(fakes.released()).toEqual([expect.objectContaining({ reservationId: held.reservationId, outcome: 'CANCELLED' })]);
      expect(await failureType(journey.executeUpdate(cancelUpdate, { args: [{ reservationId: held.reservationId }] }))).toBe('RESERVATION_NOT_HELD');
    });
  });

  it('four live holds each expire on their own deadline, and a fifth is refused', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      const holds: HeldSeat[] = [];
      for (let seat = 1; seat <= 4; seat++) {
        holds.push(await hold(journey, seat));
        await env.sleep('10s');
      }
      expect(await failureType(hold(journey, 5))).toBe('HOLD_LIMIT_REACHED');
      // The first hold was placed 40 s ago: its deadline comes 260 s from now, the others 10 s apart.
      await env.sleep(`${HOLD_TTL - 40 + 1}s`);
      await eventually(async () => expect(await holdStatus(journey, holds[0].reservationId)).toBe('EXPIRED'));
      expect(await holdStatus(journey, holds[1].reservationId)).toBe('HELD');
      await env.sleep('10s');
      await eventually(async () => expect(await holdStatus(journey, holds[1].reservationId)).toBe('EXPIRED'));
      expect(await holdStatus(journey, holds[2].reservationId)).toBe('HELD');
      await env.sleep('20s');
      await eventually(async () => expect(fakes.released()).toHaveLength(4));
    });
  });

  it('retries a release that fails transiently and still releases once', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.failures.releaseHolds = ['transient', 'transient'];
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 3);
      await env.sleep(`${HOLD_TTL + 1}s`);
      await eventually(async () => expect(await holdStatus(journey, held.reservationId)).toBe('EXPIRED'));
      // Three attempts of one batch, one hold released.
      expect(fakes.named('releaseHolds')).toHaveLength(3);
      expect(new Set(fakes.released().map((r) => r.reservationId))).toEqual(new Set([held.reservationId]));
    });
  });

  it('releases on time after a worker restart in the middle of a hold (new worker, same history)', async () => {
    const fakes = new FakeJourneyActivities();
    // No workflow cache: the second worker cannot lean on the first one's memory, only on the history.
    const { worker: first, taskQueue } = await workflowWorker(env, fakes.activities(), undefined, { maxCachedWorkflows: 0 });
    const input: JourneyInput = {
      concertId: randomUUID(), userId: randomUUID(), token: 't', arrival: 1,
      activeUntil: (await env.currentTimeMs()) + WINDOW * 1000, holdTtlSeconds: HOLD_TTL, holdGraceSeconds: 3, maxHolds: 4,
    };
    let journey!: WorkflowHandle<typeof fanJourney>;
    let reservationId = '';
    await first.runUntil(async () => {
      journey = await env.client.workflow.start<typeof fanJourney>('fanJourney', { workflowId: `journey-test-${randomUUID()}`, taskQueue, args: [input] });
      reservationId = (await hold(journey, 9)).reservationId;
    });
    const { worker: second } = await workflowWorker(env, fakes.activities(), taskQueue, { maxCachedWorkflows: 0 });
    await second.runUntil(async () => {
      await env.sleep(`${HOLD_TTL + 1}s`);
      await eventually(async () => expect(await holdStatus(journey, reservationId)).toBe('EXPIRED'));
      await stopJourney(journey);
    });
    expect(fakes.released()).toEqual([expect.objectContaining({ reservationId, outcome: 'EXPIRED' })]);
  });
});

describe('fan journey: the window', () => {
  it('expires after its TTL and ends the queue session as EXPIRED', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      await env.sleep(`${WINDOW + 1}s`);
      const result = await journey.result();
      expect(result.status).toBe('EXPIRED');
      expect(fakes.sessionEnds()).toEqual([expect.objectContaining({ status: 'EXPIRED' })]);
    });
  });

  it('leaving ends it early as LEFT and releases the live holds', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 4);
      const left = await journey.executeUpdate(leaveUpdate, { args: [] });
      expect(left.status).toBe('LEFT');
      expect((await journey.result()).status).toBe('LEFT');
      expect(fakes.released()).toEqual([expect.objectContaining({ reservationId: held.reservationId, outcome: 'CANCELLED' })]);
      expect(fakes.sessionEnds()).toEqual([expect.objectContaining({ status: 'LEFT' })]);
      await expect(hold(journey, 5)).rejects.toThrow(WorkflowNotFoundError);
    });
  });
});

describe('fan journey: no-shows (issue 21)', () => {
  const NO_SHOW = 120;

  it('a fan who never came: at NO_SHOW_SECONDS the session ends NO_SHOW (the slot freed in Redis by the check itself)', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey, { input }) => {
      await env.sleep(`${NO_SHOW + 1}s`);
      const result = await journey.result();
      expect(result.status).toBe('NO_SHOW');
      expect(fakes.named('endIfNoShow')).toEqual([{ concertId: input.concertId, userId: input.userId, arrival: input.arrival }]);
      // The check ended the session: no other end, no release.
      expect(fakes.sessionEnds()).toEqual([]);
    }, { noShowSeconds: NO_SHOW });
  });

  it('a fan who came (Redis saw a request): the window runs on to its end, checked once', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.noShow = false;
    await withJourney(fakes, async (journey) => {
      await env.sleep(`${NO_SHOW + 1}s`);
      expect((await journey.query(journeyQuery)).status).toBe('ACTIVE');
      await env.sleep(`${WINDOW}s`);
      expect((await journey.result()).status).toBe('EXPIRED');
      expect(fakes.named('endIfNoShow')).toHaveLength(1);
    }, { noShowSeconds: NO_SHOW });
  });

  it('a fan who held a seat is never asked about: no check, the hold lives on', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      await hold(journey, 3);
      await env.sleep(`${NO_SHOW + 1}s`);
      expect((await journey.query(journeyQuery)).status).toBe('ACTIVE');
      expect(fakes.named('endIfNoShow')).toEqual([]);
    }, { noShowSeconds: NO_SHOW });
  });

  it('a journey started without the setting (before issue 21) has no check', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      await env.sleep(`${WINDOW + 1}s`);
      expect((await journey.result()).status).toBe('EXPIRED');
      expect(fakes.named('endIfNoShow')).toEqual([]);
    });
  });
});

describe('fan journey: payment saga', () => {
  const pay = (journey: WorkflowHandle, reservationId: string, paymentId = randomUUID()) =>
    journey.executeUpdate(payUpdate, { args: [{ reservationId, paymentId }] });

  it('completes: the purchase, the session COMPLETED, the other holds released', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      const first = await hold(journey, 1);
      const second = await hold(journey, 2);
      const receipt = await pay(journey, first.reservationId);
      expect(receipt).toMatchObject({ reservationId: first.reservationId, amount: 50_000, balance: 50_000, status: 'COMPLETED' });
      expect((await journey.result()).status).toBe('COMPLETED');
      expect(fakes.released()).toEqual([expect.objectContaining({ reservationId: second.reservationId, outcome: 'CANCELLED' })]);
      expect(fakes.sessionEnds()).toEqual([
        expect.objectContaining({ status: 'COMPLETED', soldSeats: [expect.objectContaining({ reservationId: first.reservationId })] }),
      ]);
      expect(fakes.named('refundPayment')).toEqual([]);
    });
  });

  /** A journey that held seat 1 and paid for it, ended COMPLETED: `check` gets the hold and the whole history. */
  const paidJourney = (fakes: FakeJourneyActivities, check: (held: HeldSeat, events: temporal.api.history.v1.IHistoryEvent[]) => void) =>
    withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      expect((await pay(journey, held.reservationId)).status).toBe('COMPLETED');
      expect((await journey.result()).status).toBe('COMPLETED');
      check(held, (await journey.fetchHistory()).events ?? []);
    });

  it('pays in the task that accepts the update: one purchase (a local activity), no activity and no other workflow task', async () => {
    const fakes = new FakeJourneyActivities();
    await paidJourney(fakes, (_held, events) => {
      const localActivity = (e: (typeof events)[number]) => {
        const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
        return data ? String(JSON.parse(Buffer.from(data).toString('utf8')).activity_type) : undefined;
      };
      const accepted = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'pay');
      const answered = events.findIndex((e, i) => i > accepted && e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
      expect(accepted).toBeGreaterThan(-1);
      expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
      const steps = events.flatMap((e, i) => (['purchase', 'debitWallet', 'confirmPayment', 'refundPayment'].includes(localActivity(e) ?? '') ? [{ step: localActivity(e), i }] : []));
      expect(steps.map(({ step }) => step)).toEqual(['purchase']);
      // Accepted, purchased and answered in one workflow task's commands.
      expect(steps[0]!.i).toBeGreaterThan(accepted);
      expect(answered).toBeGreaterThan(steps[0]!.i);
      expect(events.slice(accepted, answered).map((e) => e.eventType)).not.toContain(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
      expect(fakes.balance).toBe(50_000);
    });
  });

  it('a payment is one visibility update (the sale, with when it started), and the journey records one patch marker', async () => {
    // Each search-attribute upsert is a visibility write the server pays for; each patch marker
    // comes with one (the SDK's TemporalChangeVersion).
    await paidJourney(new FakeJourneyActivities(), (held, events) => {
      const upserts = events.flatMap((e) => {
        const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
        return fields ? [Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, JSON.parse(Buffer.from(value.data!).toString('utf8'))]))] : [];
      });
      expect(upserts).toEqual([
        { TemporalChangeVersion: ['journey-v3'] },
        {
          JourneyStatus: 'COMPLETED',
          PaymentStartedAt: expect.any(String),
          ScheduleIds: ['schedule-1'],
          Seats: ['schedule-1:1'],
          ReservationIds: [held.reservationId],
        },
      ]);
    });
  });

  it('a purchase refused for good (the seat lost) takes nothing: the order is given up once, and the hold is gone', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.failures.purchase = ['RESERVATION_NOT_PAYABLE'];
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      expect(await failureType(pay(journey, held.reservationId))).toBe('RESERVATION_NOT_PAYABLE');
      expect(fakes.named('refundPayment')).toHaveLength(1);
      expect(fakes.balance).toBe(100_000);
      expect(await holdStatus(journey, held.reservationId)).toBe('EXPIRED');
    });
  });

  it('a purchase refused for balance: nothing taken, the hold stays', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.balance = 10_000;
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      expect(await failureType(pay(journey, held.reservationId))).toBe('INSUFFICIENT_BALANCE');
      expect(fakes.balance).toBe(10_000);
      expect(fakes.named('purchase')).toHaveLength(1);
      expect(await holdStatus(journey, held.reservationId)).toBe('HELD');
      expect((await journey.query(journeyQuery)).status).toBe('ACTIVE');
    });
  });

  it('a payment one second before the deadline completes, and the timer then does nothing', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      await env.sleep(`${HOLD_TTL - 1}s`);
      expect((await pay(journey, held.reservationId)).status).toBe('COMPLETED');
      await env.sleep('10s');
      expect((await journey.result()).status).toBe('COMPLETED');
      expect(fakes.released()).toEqual([]);
    });
  });

  it('a payment after the deadline is refused before anything is written', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      await env.sleep(`${HOLD_TTL + 1}s`);
      expect(await failureType(pay(journey, held.reservationId))).toBe('HOLD_EXPIRED');
      expect(fakes.named('purchase')).toEqual([]);
    });
  });

  it('a purchase retried after a simulated crash takes the money once', async () => {
    const fakes = new FakeJourneyActivities();
    let crashed = false;
    const activities = fakes.activities();
    const purchase = activities.purchase;
    activities.purchase = async (p) => {
      const result = await purchase(p);
      if (!crashed) {
        crashed = true; // the effect happened, but the worker "died" before reporting it
        throw new Error('worker crashed after the purchase');
      }
      return result;
    };
    const { worker, taskQueue } = await workflowWorker(env, activities);
    await worker.runUntil(async () => {
      const journey = await env.client.workflow.start<typeof fanJourney>('fanJourney', {
        workflowId: `journey-test-${randomUUID()}`,
        taskQueue,
        args: [{ concertId: randomUUID(), userId: randomUUID(), token: 't', arrival: 1, activeUntil: (await env.currentTimeMs()) + WINDOW * 1000, holdTtlSeconds: HOLD_TTL, holdGraceSeconds: 3, maxHolds: 4 }],
      });
      const held = await hold(journey, 1);
      expect((await pay(journey, held.reservationId)).balance).toBe(50_000);
      await stopJourney(journey);
    });
    expect(fakes.named('purchase')).toHaveLength(2);
    expect(fakes.balance).toBe(50_000);
  });

  it('a purchase that committed but whose step gave up without its answer is answered from the database: sold, not given up', async () => {
    const fakes = new FakeJourneyActivities();
    // The first attempt's answer is lost, and so is that of the step that retries it. The saga
    // compensates, finds the order completed, and asks the purchase again for its receipt.
    fakes.failures.purchase = ['lost', 'lost'];
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      const receipt = await pay(journey, held.reservationId);
      expect(receipt).toMatchObject({ status: 'COMPLETED', amount: 50_000, balance: 50_000 });
      expect(fakes.named('refundPayment')).toHaveLength(1);
      expect(fakes.balance).toBe(50_000);
      expect((await journey.result()).status).toBe('COMPLETED');
    });
  });

  it('a purchase refused because an unseen payment of this journey sold the seat: the journey takes that sale as its own, and its retry answers the receipt', async () => {
    const fakes = new FakeJourneyActivities();
    const releaseHeld = gate();
    await withActivities(
      fakes,
      // The session's end waits here, so the journey is still running when A's retry comes.
      releasesWaitFor(releaseHeld.opened),
      async (journey) => {
        const held = await hold(journey, 1);
        const spare = await hold(journey, 2);
        // Payment A's accepting task was lost after its purchase committed: the database has the sale.
        const unseen = randomUUID();
        fakes.soldUnseen = { paymentId: unseen, reservationIds: [held.reservationId] };
        expect(await failureType(pay(journey, held.reservationId))).toBe('RESERVATION_NOT_PAYABLE');
        expect(fakes.named('saleOf')).toHaveLength(1);
        expect(await holdStatus(journey, held.reservationId)).toBe('CONFIRMED');
        // A's retry (the client's, with its key) answers A's receipt without buying again.
        const purchases = fakes.named('purchase').length;
        expect(await pay(journey, held.reservationId, unseen)).toMatchObject({ paymentId: unseen, reservationIds: [held.reservationId], status: 'COMPLETED' });
        expect(fakes.named('purchase')).toHaveLength(purchases);
        // The session ends as a sale's: COMPLETED, the spare hold released with it.
        releaseHeld.open();
        expect((await journey.result()).status).toBe('COMPLETED');
        // One batch (attempted again if an attempt outlived its timeout while held up here).
        expect([...new Set(fakes.released().map((r) => JSON.stringify(r)))]).toEqual([JSON.stringify({ reservationId: spare.reservationId, outcome: 'CANCELLED' })]);
        expect(fakes.sessionEnds()[0]).toEqual(expect.objectContaining({ status: 'COMPLETED', soldSeats: [expect.objectContaining({ reservationId: held.reservationId })] }));
      },
      {},
      // The task held open by the waiting release is extended at 80 % of this: A's retry comes in then.
      { workflowTaskTimeout: '2s' },
    );
  });

  it('a purchase refused for a seat lost to another fan asks for a sale, finds none, and the hold is gone as before', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.failures.purchase = ['RESERVATION_NOT_PAYABLE'];
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      expect(await failureType(pay(journey, held.reservationId))).toBe('RESERVATION_NOT_PAYABLE');
      expect(fakes.named('saleOf')).toHaveLength(1);
      expect(await holdStatus(journey, held.reservationId)).toBe('EXPIRED');
    });
  });

  it('a give-up that fails twice then succeeds runs until it succeeds, and takes nothing', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.failures.purchase = ['RESERVATION_NOT_PAYABLE'];
    fakes.failures.refundPayment = ['transient', 'transient'];
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      expect(await failureType(pay(journey, held.reservationId))).toBe('RESERVATION_NOT_PAYABLE');
      expect(fakes.named('refundPayment')).toHaveLength(3);
      expect(fakes.balance).toBe(100_000);
    });
  });
});

/** A promise the test resolves when it wants a blocked step to go on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** A `wrap` of `withActivities`: every release of holds waits until `opened` resolves. */
function releasesWaitFor(opened: Promise<void>) {
  return (activities: ReturnType<FakeJourneyActivities['activities']>) => {
    const release = activities.releaseHolds;
    activities.releaseHolds = async (r) => {
      await opened;
      return release(r);
    };
  };
}

/** Runs a journey whose activities the test may hold up (`wrap` replaces some of them). */
async function withActivities(
  fakes: FakeJourneyActivities,
  wrap: (activities: ReturnType<FakeJourneyActivities['activities']>) => void,
  test: (journey: WorkflowHandle<typeof fanJourney>, input: JourneyInput) => Promise<void>,
  overrides: Partial<JourneyInput> = {},
  start: { workflowTaskTimeout?: Duration } = {},
) {
  const activities = fakes.activities();
  wrap(activities);
  const { worker, taskQueue } = await workflowWorker(env, activities);
  const input: JourneyInput = {
    concertId: randomUUID(), userId: randomUUID(), token: 't', arrival: 1,
    activeUntil: (await env.currentTimeMs()) + WINDOW * 1000, holdTtlSeconds: HOLD_TTL, holdGraceSeconds: 3, maxHolds: 4,
    ...overrides,
  };
  await worker.runUntil(async () => {
    const journey = await env.client.workflow.start<typeof fanJourney>('fanJourney', { workflowId: `journey-test-${randomUUID()}`, taskQueue, args: [input], ...start });
    try {
      await test(journey, input);
    } finally {
      await stopJourney(journey);
    }
  });
}

const { EventType } = temporal.api.enums.v1;
const eventTypes = async (journey: WorkflowHandle) => ((await journey.fetchHistory()).events ?? []).map((e) => e.eventType);

describe('fan journey: retries converge, one saga at a time', () => {
  const pay = (journey: WorkflowHandle, reservationId: string, paymentId = randomUUID()) =>
    journey.executeUpdate(payUpdate, { args: [{ reservationId, paymentId }] });

  it('a second payment while one is in flight is refused PAYMENT_IN_PROGRESS; the same payment retried answers the same receipt', async () => {
    const fakes = new FakeJourneyActivities();
    // The purchase (a local activity) fails at once and is retried until the test lets it through: a
    // step that keeps the saga in flight, each attempt well inside its timeout. Meanwhile the worker
    // holds the workflow task open and extends it (at 80 % of the task timeout, 2 s here): the other
    // updates and the query reach the journey in the extensions, mid-saga.
    let debitOpen = false;
    let debitStarted!: () => void;
    const started = new Promise<void>((resolve) => (debitStarted = resolve));
    const debitHeld = { open: () => (debitOpen = true) };
    await withActivities(
      fakes,
      (a) => {
        const purchase = a.purchase;
        a.purchase = async (p) => {
          debitStarted();
          if (!debitOpen) throw new Error('purchase: not yet (the test holds the payment in flight)');
          return purchase(p);
        };
      },
      async (journey) => {
        const first = await hold(journey, 1);
        const second = await hold(journey, 2);
        const paymentId = randomUUID();
        const paying = pay(journey, first.reservationId, paymentId);
        await started;
        expect(await failureType(pay(journey, second.reservationId))).toBe('PAYMENT_IN_PROGRESS');
        expect((await journey.query(journeyQuery)).status).toBe('PAYING');
        // Operators find it too: its first attempt failed, so PAYING is written, with when it started
        // (in the task's extension: the retries keep the task open).
        await eventually(async () => {
          const { typedSearchAttributes } = await journey.describe();
          expect(typedSearchAttributes.get(searchAttributes.journeyStatus)).toBe('PAYING');
          expect(typedSearchAttributes.get(searchAttributes.paymentStartedAt)).toBeInstanceOf(Date);
        });
        const retried = pay(journey, first.reservationId, paymentId);
        debitHeld.open();
        const [receipt, again] = await Promise.all([paying, retried]);
        expect(again).toEqual(receipt);
        // Every purchase attempt is of the one payment (a workflow task that timed out mid-payment runs
        // its step again: idempotent by the payment id), and one seat is bought, not two.
        expect(new Set(fakes.named('purchase').map((p) => p.paymentId))).toEqual(new Set([paymentId]));
        expect(fakes.balance).toBe(50_000);
        expect((await journey.result()).status).toBe('COMPLETED');
        // The other hold released (once, or again by a task that timed out: the release is idempotent too).
        expect([...new Set(fakes.released().map((r) => JSON.stringify(r)))]).toEqual([JSON.stringify({ reservationId: second.reservationId, outcome: 'CANCELLED' })]);
      },
      {},
      { workflowTaskTimeout: '2s' },
    );
  });

  it('a failed payment retried answers the same failure without running again; the journey stays ACTIVE', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.balance = 10_000;
    await withJourney(fakes, async (journey) => {
      const held = await hold(journey, 1);
      const paymentId = randomUUID();
      expect(await failureType(pay(journey, held.reservationId, paymentId))).toBe('INSUFFICIENT_BALANCE');
      expect(await failureType(pay(journey, held.reservationId, paymentId))).toBe('INSUFFICIENT_BALANCE');
      expect(fakes.named('purchase')).toHaveLength(1);
      expect((await journey.query(journeyQuery)).status).toBe('ACTIVE');
      // A new payment (a new id) after the charge goes through.
      fakes.balance = 100_000;
      expect((await pay(journey, held.reservationId)).status).toBe('COMPLETED');
    });
  });

  it('the receipt comes back as soon as the purchase commits; the other holds and the session end after', async () => {
    const fakes = new FakeJourneyActivities();
    const releaseHeld = gate();
    await withActivities(
      fakes,
      releasesWaitFor(releaseHeld.opened),
      async (journey) => {
        const first = await hold(journey, 1);
        const second = await hold(journey, 2);
        const receipt = await pay(journey, first.reservationId);
        expect(receipt.status).toBe('COMPLETED');
        expect(fakes.sessionEnds()).toEqual([]); // still held up: the receipt did not wait for it
        releaseHeld.open();
        expect((await journey.result()).status).toBe('COMPLETED');
        // One batch (attempted again if an attempt outlived its timeout while held up here).
        const batches = fakes.named('releaseHolds');
        expect(new Set(batches.map((b) => JSON.stringify(b))).size).toBe(1);
        expect(batches.slice(0, 1)).toEqual([
          expect.objectContaining({
            outcome: 'CANCELLED',
            holds: [expect.objectContaining({ reservationId: second.reservationId })],
            session: expect.objectContaining({ status: 'COMPLETED', soldSeats: [expect.objectContaining({ reservationId: first.reservationId })] }),
          }),
        ]);
      },
    );
  });

  it('a hold retried while its step is in flight answers the same seat, never an empty one', async () => {
    const fakes = new FakeJourneyActivities();
    const holdHeld = gate();
    let holdStarted!: () => void;
    const started = new Promise<void>((resolve) => (holdStarted = resolve));
    await withActivities(
      fakes,
      (a) => {
        const holdSeat = a.holdSeat;
        a.holdSeat = async (r) => {
          holdStarted();
          await holdHeld.opened;
          return holdSeat(r);
        };
      },
      async (journey) => {
        const reservationId = randomUUID();
        const first = hold(journey, 5, reservationId);
        await started;
        const retried = hold(journey, 5, reservationId);
        holdHeld.open();
        const [a, b] = await Promise.all([first, retried]);
        expect(b).toEqual(a);
        expect(a).toMatchObject({ seatId: '5', price: 50_000, status: 'HELD' });
        expect(fakes.named('holdSeat')).toHaveLength(1);
      },
    );
  });

  it('a hold whose step failed without an answer is kept, answered on retry, and otherwise released at its deadline', async () => {
    const fakes = new FakeJourneyActivities();
    // Not a business refusal: what a timed-out step looks like to the journey (the row may exist).
    const lost = () => {
      throw ApplicationFailure.create({ type: 'StepTimedOut', message: 'no answer', nonRetryable: true });
    };
    await withActivities(
      fakes,
      (a) => {
        const holdSeat = a.holdSeat;
        let calls = 0;
        a.holdSeat = async (r) => {
          calls += 1;
          if (calls === 1 || r.seatNumber === 9) lost();
          return holdSeat(r);
        };
      },
      async (journey) => {
        const retried = randomUUID();
        await expect(hold(journey, 3, retried)).rejects.toThrow(WorkflowUpdateFailedError);
        // The retry with the same reservation asks Postgres again and answers the hold.
        expect(await hold(journey, 3, retried)).toMatchObject({ reservationId: retried, seatId: '3', status: 'HELD' });
        const orphan = randomUUID();
        await expect(hold(journey, 9, orphan)).rejects.toThrow(WorkflowUpdateFailedError);
        // Still counted as live (it may hold the seat) ...
        expect((await journey.query(journeyQuery)).holds.map((h) => h.reservationId)).toEqual([retried, orphan]);
        await env.sleep(`${HOLD_TTL + 1}s`);
        // ... and released (conditionally: the release does nothing to a row that never was) at its deadline.
        await eventually(async () => expect(fakes.released().map((r) => r.reservationId).sort()).toEqual([retried, orphan].sort()));
      },
    );
  });

  it('holds due with the window are released with the session’s end in one local activity; holds start no new timer', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(
      fakes,
      async (journey) => {
        const holds = [await hold(journey, 1), await hold(journey, 2), await hold(journey, 3)];
        const types = await eventTypes(journey);
        expect(types.filter((t) => t === EventType.EVENT_TYPE_TIMER_STARTED)).toHaveLength(1);
        expect(types.filter((t) => t === EventType.EVENT_TYPE_TIMER_CANCELED)).toHaveLength(0);
        await env.sleep(`${WINDOW + 1}s`);
        expect((await journey.result()).status).toBe('EXPIRED');
        expect(fakes.named('releaseHolds')).toEqual([
          expect.objectContaining({ outcome: 'EXPIRED', holds: holds.map((h) => expect.objectContaining({ reservationId: h.reservationId })), session: expect.objectContaining({ status: 'EXPIRED' }) }),
        ]);
      },
      // Holds outlast the window: each is capped at its end, all fall due together.
      { holdTtlSeconds: 3_600 },
    );
  });
});

describe('fan journey: its budget (issue 23)', () => {
  it('stops a hold/cancel loop at its hold-attempt budget with RATE_LIMITED, and still pays and ends the session', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(
      fakes,
      async (journey) => {
        for (let i = 0; i < 4; i++) {
          const held = await hold(journey, 1);
          await journey.executeUpdate(cancelUpdate, { args: [{ reservationId: held.reservationId }] });
        }
        const kept = await hold(journey, 2); // the 5th and last attempt
        expect(await failureType(hold(journey, 3))).toBe('RATE_LIMITED');
        expect(await failureType(hold(journey, 4))).toBe('RATE_LIMITED');
        // A refused update leaves nothing in the history: the journey's other requests still work.
        expect(fakes.named('holdSeat')).toHaveLength(5);
        const receipt = await journey.executeUpdate(payUpdate, { args: [{ reservationId: kept.reservationId, paymentId: randomUUID() }] });
        expect(receipt.status).toBe('COMPLETED');
        expect(await journey.result()).toMatchObject({ status: 'COMPLETED' });
      },
      { maxHoldAttempts: 5 },
    );
  });

  it('refuses every update but a leave once its update budget is spent, so Temporal’s own cap is never reached; leaving still works', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(
      fakes,
      async (journey) => {
        const held = await hold(journey, 1);
        await journey.executeUpdate(cancelUpdate, { args: [{ reservationId: held.reservationId }] });
        const again = await hold(journey, 1); // the 3rd and last update
        expect(await failureType(journey.executeUpdate(cancelUpdate, { args: [{ reservationId: again.reservationId }] }))).toBe('RATE_LIMITED');
        expect(await failureType(journey.executeUpdate(payUpdate, { args: [{ reservationId: again.reservationId, paymentId: randomUUID() }] }))).toBe('RATE_LIMITED');
        expect(await failureType(hold(journey, 2))).toBe('RATE_LIMITED');
        const left = await journey.executeUpdate(leaveUpdate);
        expect(left.status).toBe('LEFT');
        expect(await journey.result()).toMatchObject({ status: 'LEFT' });
      },
      { maxUpdates: 3 },
    );
  });

  it('carries no queue token: the session ends by the fan’s arrival', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(
      fakes,
      async (journey, { input }) => {
        await journey.executeUpdate(leaveUpdate);
        await journey.result();
        expect(fakes.sessionEnds()).toEqual([{ userId: input.userId, arrival: input.arrival, status: 'LEFT', soldSeats: [] }]);
        const started = (await journey.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
        expect(JSON.parse(Buffer.from(started!).toString('utf8'))).not.toHaveProperty('token');
      },
      { token: undefined },
    );
  });
});

describe('fan journey: orders of several seats (issue 21)', () => {
  const order = (journey: WorkflowHandle, reservationIds: string[], paymentId = randomUUID()) =>
    journey.executeUpdate(payUpdate, { args: [{ reservationId: reservationIds[0], reservationIds, paymentId }] });

  it('pays an order in one purchase naming every seat, sells them all and releases the rest with the session', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(fakes, async (journey) => {
      const seats = [await hold(journey, 1), await hold(journey, 2), await hold(journey, 3)];
      const ordered = [seats[2].reservationId, seats[0].reservationId];
      const paymentId = randomUUID();
      const receipt = await order(journey, ordered, paymentId);
      expect(receipt).toMatchObject({ paymentId, reservationId: ordered[0], reservationIds: ordered, status: 'COMPLETED' });
      expect(fakes.named('purchase')).toEqual([expect.objectContaining({ paymentId, reservationId: ordered[0], reservationIds: ordered })]);
      expect((await journey.result()).status).toBe('COMPLETED');
      expect(fakes.released()).toEqual([{ reservationId: seats[1].reservationId, outcome: 'CANCELLED' }]);
      expect(fakes.sessionEnds()).toEqual([
        expect.objectContaining({ status: 'COMPLETED', soldSeats: ordered.map((reservationId) => expect.objectContaining({ reservationId })) }),
      ]);
      const snapshot = await journey.query(journeyQuery);
      expect(snapshot.holds.filter((h) => h.status === 'CONFIRMED').map((h) => h.reservationId).sort()).toEqual([...ordered].sort());
    });
  });

  it('a purchase refused for the order takes nothing and sells none, the order given up once: the holds within their deadlines stay held and the fan may pay again', async () => {
    const fakes = new FakeJourneyActivities();
    fakes.failures.purchase = ['RESERVATION_NOT_PAYABLE'];
    await withJourney(fakes, async (journey) => {
      const ids = [(await hold(journey, 1)).reservationId, (await hold(journey, 2)).reservationId];
      expect(await failureType(order(journey, ids))).toBe('RESERVATION_NOT_PAYABLE');
      expect(fakes.named('refundPayment')).toEqual([expect.objectContaining({ reservationIds: ids })]);
      expect(fakes.balance).toBe(100_000);
      for (const id of ids) expect(await holdStatus(journey, id)).toBe('HELD');
      expect((await journey.query(journeyQuery)).status).toBe('ACTIVE');
      expect((await order(journey, ids)).reservationIds).toEqual(ids);
    });
  });

  it('refuses an order naming a seat twice, more seats than a fan may hold, or a seat it does not hold, before anything runs', async () => {
    const fakes = new FakeJourneyActivities();
    await withJourney(
      fakes,
      async (journey) => {
        const [a, b] = [(await hold(journey, 1)).reservationId, (await hold(journey, 2)).reservationId];
        expect(await failureType(order(journey, [a, a]))).toBe('VALIDATION_FAILED');
        expect(await failureType(order(journey, [a, b, randomUUID()]))).toBe('VALIDATION_FAILED');
        expect(await failureType(order(journey, [a, randomUUID()]))).toBe('RESERVATION_NOT_PAYABLE');
        expect(fakes.named('purchase')).toEqual([]);
        expect((await journey.query(journeyQuery)).status).toBe('ACTIVE');
      },
      { maxHolds: 2 },
    );
  });
});
