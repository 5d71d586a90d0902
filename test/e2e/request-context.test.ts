import { randomUUID } from 'node:crypto';
import { eventually } from '../support/eventually';
import { serviceEnv, startWorker, type ServiceProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';

/**
 * The request id joins the API's request log to the worker's: the worker's log lines for the work a
 * request caused (the journey's update, its activities) carry it beside the workflow and run ids.
 */
let stack: Stack; // the API in this process; the worker a process of its own, logging JSON lines
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  worker = await startWorker(serviceEnv(stack.config, { ADMISSION_TICK_MS: '100' }), { logLevel: 'debug' });
}, 120_000);
afterAll(async () => {
  await worker?.stop();
  await stack?.stop();
});

const logLines = (log: string) =>
  log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

it('the worker logs a hold’s activity with the request id, workflow id and run id', async () => {
  const { api } = stack;
  const { concertId, scheduleIds } = await api.createConcert(3);
  const { fan, queueToken } = await api.admittedFan(concertId);
  const requestId = `hold-${randomUUID()}`;
  const held = await api.hold(fan, queueToken, scheduleIds[0], 2, { 'x-request-id': requestId });
  expect(held.status).toBe(201);
  expect(held.headers.get('x-request-id')).toBe(requestId);

  const [row] = await stack.db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
  const lines = await eventually(async () => {
    const mine = logLines(worker.log).filter((l) => l.requestId === requestId);
    expect(mine.some((l) => l.activityType === 'holdSeat')).toBe(true);
    return mine;
  });
  for (const line of lines) {
    expect(line.workflowId).toBe(row.journey_id);
    expect(line.workflowRunId ?? line.runId).toEqual(expect.any(String));
  }
});
