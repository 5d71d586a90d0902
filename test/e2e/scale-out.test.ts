import { randomUUID } from 'node:crypto';
import { findViolations } from '../../db/invariants';
import { journeyQuery } from '../../workflows/definitions';
import { ApiClient } from '../support/api-client';
import { overHttp, serviceEnv, startApi, startWorker, type ServiceProcess } from '../support/processes';
import { QUICK_ADMISSION, startStack, type Stack } from '../support/stack';

/**
 * Two API processes and two worker processes against one Postgres, Redis and Temporal: no instance
 * holds state another would contradict, and a worker stopped with SIGTERM mid-traffic (a rolling
 * restart) loses no request and leaves no journey stuck.
 */
let stack: Stack; // only for the database and the Temporal client; no in-process worker
const services: ServiceProcess[] = [];
let apis: ApiClient[];
let workers: ServiceProcess[];

beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  const env = serviceEnv(stack.config, QUICK_ADMISSION);
  workers = await Promise.all([startWorker(env), startWorker(env)]);
  const started = await Promise.all([startApi(env), startApi(env)]);
  services.push(...workers, ...started.map((s) => s.api));
  apis = started.map(({ url }) => new ApiClient(overHttp(url), stack.config));
}, 180_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  expect(await findViolations(stack.db)).toEqual([]);
  await stack?.stop();
});

describe('two APIs and two workers', () => {
  it('a fan’s journey crosses both APIs: join on one, hold on the other, pay on the first', async () => {
    const [a, b] = apis;
    const { concertId, scheduleIds } = await a.createConcert(10, 20_000);
    const fan = await b.newFan('across');
    const token = await b.join(fan, concertId);
    const { eventually } = await import('../support/eventually');
    await eventually(async () => expect((await a.tokenStatus(fan, token)).body.status).toBe('ACTIVE'));
    const held = await b.hold(fan, token, scheduleIds[0], 1);
    expect(held.status).toBe(201);
    // Worker processes run with the SDK's per-promise stack capture off (WORKFLOW_STACK_TRACES, the
    // patched switch): the Web UI's Stack Trace tab answers "not enabled", every other query answers.
    const [row] = await stack.db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
    const journey = stack.temporal.workflow.getHandle(row.journey_id as string);
    await expect(journey.query('__stack_trace')).rejects.toThrow(/stack traces are not enabled/);
    expect((await journey.query(journeyQuery)).holds).toHaveLength(1);
    await a.charge(fan, 20_000);
    const paid = await a.pay(fan, token, held.body.reservationId);
    expect(paid.status).toBe(201);
    expect((await b.tokenStatus(fan, token)).body.status).toBe('COMPLETED');
  }, 60_000);

  it('a worker stopped with SIGTERM mid-traffic loses no request and leaves no journey stuck', async () => {
    const [a, b] = apis;
    const { concertId, scheduleIds } = await a.createConcert(40, 10_000);
    const fans = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).admittedFan(concertId, `rolling-${i}`)));
    await Promise.all(fans.map(({ fan }, i) => (i % 2 ? a : b).charge(fan, 10_000)));

    const traffic = fans.map(async ({ fan, queueToken }, i) => {
      const api = i % 2 ? a : b;
      const held = await api.hold(fan, queueToken, scheduleIds[0], i + 1, { 'idempotency-key': randomUUID() });
      const paid = await (i % 2 ? b : a).pay(fan, queueToken, held.body.reservationId);
      return [held.status, paid.status];
    });
    const restart = workers[0].stop('SIGTERM');
    const outcomes = await Promise.all(traffic);
    expect(await restart).toBe(0); // a clean, graceful exit
    expect(outcomes).toEqual(fans.map(() => [201, 201]));
    const sold = await stack.db.query(`SELECT count(*)::int AS n FROM seats WHERE schedule_id = $1 AND status = 'SOLD'`, [scheduleIds[0]]);
    expect(sold[0].n).toBe(12);
    // Every journey of this concert ended (COMPLETED) on the remaining worker.
    const { eventually } = await import('../support/eventually');
    await eventually(async () => {
      const open: string[] = [];
      for await (const w of stack.temporal.workflow.list({ query: `ConcertId = '${concertId}' AND WorkflowType = 'fanJourney' AND ExecutionStatus = 'Running'` })) open.push(w.workflowId);
      expect(open).toEqual([]);
    });
  }, 120_000);
});
