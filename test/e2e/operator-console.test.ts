import { queueKeys } from '../../queue/keys';
import { admissionWorkflowId, journeyQuery } from '../../workflows/definitions';
import { eventually } from '../support/eventually';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** Every id of the journeys a visibility query finds (what the Web UI's search box runs). */
async function find(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const execution of stack.temporal.workflow.list({ query })) ids.push(execution.workflowId);
  return ids;
}

describe('operators find a fan’s journey in Temporal by its search attributes', () => {
  it('by user, concert and status; by schedule, seat and reservation once the status changes (a sale)', async () => {
    const { api } = stack;
    const { concertId, scheduleIds } = await api.createConcert(5, 10_000);
    const { fan, queueToken } = await api.admittedFan(concertId);
    const held = await api.hold(fan, queueToken, scheduleIds[0], 4);
    const [row] = await stack.db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
    const journey = row.journey_id as string;
    // Visibility is eventually consistent: the index catches up within moments.
    await eventually(async () => {
      expect(await find(`UserId = '${fan.userId}'`)).toEqual([journey]);
      expect(await find(`WorkflowType = 'fanJourney' AND ConcertId = '${concertId}' AND JourneyStatus = 'ACTIVE'`)).toEqual([journey]);
    });
    // A hold alone writes no list (it is in PostgreSQL and the journey query); the sale writes them.
    await api.charge(fan, 10_000);
    const paidFrom = new Date(Date.now() - 1_000).toISOString();
    expect((await api.pay(fan, queueToken, held.body.reservationId)).status).toBe(201);
    await eventually(async () => {
      expect(await find(`ScheduleIds = '${scheduleIds[0]}' AND JourneyStatus = 'COMPLETED'`)).toEqual([journey]);
      expect(await find(`Seats = '${scheduleIds[0]}:4'`)).toEqual([journey]);
      expect(await find(`ReservationIds = '${held.body.reservationId}'`)).toEqual([journey]);
      // When the payment started stays on the journey it completed (the runbook's "in flight" query uses it).
      expect(await find(`ReservationIds = '${held.body.reservationId}' AND PaymentStartedAt >= '${paidFrom}'`)).toEqual([journey]);
    });
  });
});

describe('an idle concert costs nothing, and the first fan wakes it', () => {
  it('the controller sleeps once nobody waits (marked in Redis) and a join wakes it and admits the fan', async () => {
    const { api, redis, temporal } = stack;
    const { concertId } = await api.createConcert(3);
    const asleep = queueKeys(concertId).controllerAsleep;
    // The controller's first tick finds nobody waiting: it marks itself asleep and waits for a signal.
    await eventually(async () => expect(await redis.exists(asleep)).toBe(1));
    const controller = temporal.workflow.getHandle(admissionWorkflowId(concertId));
    await eventually(async () => expect((await controller.describe()).raw.pendingActivities ?? []).toHaveLength(0));
    const { fan, queueToken } = await api.admittedFan(concertId, 'first');
    expect((await api.tokenStatus(fan, queueToken)).body.status).toBe('ACTIVE');
    // (Once the fan is admitted nobody waits again, so the controller may already have marked itself asleep anew.)
    const woken = ((await controller.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'wake');
    expect(woken).toHaveLength(1);
  });
});

describe('search attributes stay bounded', () => {
  it('a fan who holds and cancels 55 times keeps a live journey, holding its current reservation only', async () => {
    // Before: ReservationIds listed every hold ever made, and past the server's 2 KiB value limit
    // (about the 53rd hold) the server terminated the journey.
    const { api, db } = stack;
    const { concertId, scheduleIds } = await api.createConcert(2);
    const { fan, queueToken } = await api.admittedFan(concertId, 'indecisive');
    let last = '';
    for (let i = 0; i < 55; i++) {
      const held = await api.hold(fan, queueToken, scheduleIds[0], 1);
      expect(held.status).toBe(201);
      last = held.body.reservationId;
      if (i < 54) expect((await api.call('DELETE', `/reservations/${last}`, { fan })).status).toBe(200);
    }
    const [row] = await db.query('SELECT journey_id FROM reservations WHERE id = $1', [last]);
    expect((await stack.temporal.workflow.getHandle(row.journey_id).describe()).status.name).toBe('RUNNING');
    const journey = await stack.temporal.workflow.getHandle(row.journey_id).query(journeyQuery);
    expect(journey.holds.filter((h) => h.status === 'HELD').map((h) => h.reservationId)).toEqual([last]);
    await eventually(async () => expect(await find(`UserId = '${fan.userId}' AND ExecutionStatus = 'Running'`)).toEqual([row.journey_id]));
  }, 120_000);
});
