import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, type LogEntry } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { temporal as proto } from '@temporalio/proto';
import { createAdmissionActivities, type AdmitRequest, type AdmitResult } from '../../activities/admission';
import { WaitingRoom } from '../../queue/waiting-room';
import { journeyWorkflowId, queueSettingsUpdate, type JourneySettings } from '../../workflows/definitions';
import { eventually } from '../support/eventually';
import { saveFirstRun, startShortRunController } from '../support/history';
import { startStack, type Stack } from '../support/stack';
import type { Fan } from '../support/api-client';

/**
 * Admission starts each admitted fan's journey from the worker process (the controller's tick
 * activity). On the worker's own connection the start is eager: the server answers it with the
 * journey's first workflow task and the worker runs it at once, with no trip through matching.
 */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const EventType = proto.api.enums.v1.EventType;

/** The fan's journey id, from the arrival number the waiting room gave them. */
async function journeyIdOf(concertId: string, fan: Fan, queueToken: string): Promise<string> {
  const polled = await new WaitingRoom(stack.redis).poll(queueToken, fan.userId, null);
  if (polled.kind !== 'ticket' || !polled.ticket) throw new Error('the fan has no ticket');
  return journeyWorkflowId(concertId, fan.userId, polled.ticket.arrival);
}

/** The journey's history once it exists (admission marks the fan ACTIVE first, then starts the journey). */
async function historyOf(workflowId: string) {
  return eventually(() => stack.temporal.workflow.getHandle(workflowId).fetchHistory());
}

it('an admitted fan’s journey is started eagerly by the worker, and the fan holds and pays as usual', async () => {
  const { api } = stack;
  const { concertId, scheduleIds } = await api.createConcert(5, 40_000);
  const { fan, queueToken } = await api.admittedFan(concertId, 'Eager');
  const journeyId = await journeyIdOf(concertId, fan, queueToken);

  // Started by the controller's activity (no API call has touched the journey yet), and eagerly:
  // the server accepted the eager request and recorded the first task as started in the same write.
  const history = await historyOf(journeyId);
  const [started, scheduled, taskStarted] = history.events!;
  expect(started.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  expect(started.workflowExecutionStartedEventAttributes?.eagerExecutionAccepted).toBe(true);
  expect([scheduled.eventType, taskStarted.eventType]).toEqual([EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]);

  // And the journey goes on as any other: a hold, a payment, the seat sold, the journey completed.
  const held = await api.hold(fan, queueToken, scheduleIds[0], 2);
  expect(held.status).toBe(201);
  await api.charge(fan, 50_000);
  const paid = await api.pay(fan, queueToken, held.body.reservationId);
  expect(paid.status).toBe(201);
  expect(paid.body).toMatchObject({ status: 'COMPLETED', amount: 40_000 });
  await stack.temporal.workflow.getHandle(journeyId).result();
  const [seat] = await stack.db.query('SELECT status FROM seats WHERE schedule_id = $1 AND number = 2', [scheduleIds[0]]);
  expect(seat.status).toBe('SOLD');
});

describe('a tick run outside the controller (its activity, called directly)', () => {
  let connection: NativeConnection;
  beforeAll(async () => {
    connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  });
  afterAll(async () => {
    await connection?.close();
  });

  const settings = (): JourneySettings => ({
    holdTtlSeconds: stack.config.HOLD_TTL_SECONDS,
    holdGraceSeconds: stack.config.HOLD_GRACE_SECONDS,
    noShowSeconds: stack.config.NO_SHOW_SECONDS,
    maxHolds: stack.config.MAX_HOLDS_PER_FAN,
    maxHoldAttempts: stack.config.JOURNEY_MAX_HOLD_ATTEMPTS,
    maxUpdates: stack.config.JOURNEY_MAX_UPDATES,
  });

  it('with no worker on its connection starts the journey the ordinary way; retried after the journey ended, starts nothing again', async () => {
    const { api, config } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5, 40_000);
    // The concert's own controller admits nobody while paused: the ticks below are the only ones.
    const paused = await api.call('PUT', `/admin/concerts/${concertId}/queue`, { admin: true, body: { paused: true } });
    expect(paused.status).toBe(200);
    const fan = await api.newFan('Retried');
    const queueToken = await api.join(fan, concertId);

    // Eager start is asked for, but no worker polls through this connection: the SDK drops the
    // request and the server queues the first task for the stack's worker, as without it.
    const { admitFans } = createAdmissionActivities({
      db: stack.db, redis: stack.redis, temporal: stack.temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, journey: settings(),
      journeyStarter: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }),
    });
    const tick: AdmitRequest = {
      concertId, tickId: `test-tick-${concertId}`, maxBatch: 5, maxActive: 10, activeTtlSeconds: 600, admitPerSecond: 5, paused: false,
    };
    const first = (await new MockActivityEnvironment().run(admitFans, tick)) as AdmitResult;
    expect(first).toMatchObject({ admitted: 1, waiting: 0, active: 1 });
    expect(first.startedEagerly).toBeUndefined();

    const journeyId = await journeyIdOf(concertId, fan, queueToken);
    const history = await historyOf(journeyId);
    expect(history.events![0].workflowExecutionStartedEventAttributes?.eagerExecutionAccepted).toBeFalsy();
    const held = await api.hold(fan, queueToken, scheduleIds[0], 1);
    expect(held.status).toBe(201);

    // The fan leaves: the journey releases the hold and completes.
    const left = await api.call('DELETE', '/queue-tokens/current', { fan, queueToken });
    expect(left.status).toBeLessThan(300);
    const handle = stack.temporal.workflow.getHandle(journeyId);
    await handle.result();
    const { runId } = await handle.describe();

    // The same tick retried (its activity timed out after the starts, say): the waiting room
    // answers the stored batch, the start finds the closed journey and starts nothing.
    const logged: LogEntry[] = [];
    const logger = new DefaultLogger('INFO', (entry) => void logged.push(entry));
    const retried = await new MockActivityEnvironment(undefined, { logger }).run(admitFans, tick);
    expect(retried).toMatchObject({ admitted: 1 });
    expect(logged).toEqual([expect.objectContaining({ message: 'journey already closed; not restarted', meta: expect.objectContaining({ userId: fan.userId }) })]);
    const after = await handle.describe();
    expect(after.runId).toBe(runId);
    expect(after.status.name).toBe('COMPLETED');
    const [reservation] = await stack.db.query('SELECT status FROM reservations WHERE id = $1', [held.body.reservationId]);
    expect(reservation.status).not.toBe('HELD');
  });
});

/**
 * `RECORD_HISTORIES=1 RECORD_HISTORIES_SUFFIX=-vN npx jest test/e2e/admission.test.ts` records, with
 * the code of the moment, a controller whose ticks all take longer than its interval (1 ms), the
 * case the start-to-start interval changed (no timer after an overdue tick). Recorded before that
 * change and committed; test/e2e/replay.test.ts replays every fixture with the current code. Its
 * settings update lands while a tick runs: -v6 is the first recording whose update waits for it.
 */
const recording = process.env.RECORD_HISTORIES === '1' ? describe : describe.skip;
recording('recording an admission controller history for later replays', () => {
  it('a controller whose ticks take longer than its interval, with a settings update, continuing as new', async () => {
    const { api, temporal } = stack;
    const { concertId } = await api.createConcert(5);
    const handle = await startShortRunController(stack, concertId, {
      // Two active places for three fans: the second is admitted while the third waits (a busy tick,
      // longer than the interval), and the third keeps the controller ticking.
      settings: { admitPerSecond: 200, maxActive: 2, paused: false },
      tickMs: 1,
    });
    await api.admittedFan(concertId, 'admitted');
    const [second] = await Promise.all(['admitted second', 'waiting'].map(async (name) => {
      const fan = await api.newFan(name);
      return { fan, queueToken: await api.join(fan, concertId) };
    }));
    await eventually(async () => expect((await api.tokenStatus(second.fan, second.queueToken)).body.status).toBe('ACTIVE'));
    await handle.executeUpdate(queueSettingsUpdate, { args: [{ admitPerSecond: 300 }] });
    await saveFirstRun(temporal, handle, 'admission-controller-overdue-ticks');
  });
});
