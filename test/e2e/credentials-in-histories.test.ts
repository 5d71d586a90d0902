import { admissionWorkflowId, showCancellationWorkflowId, ticketCancellationWorkflowId } from '../../workflows/definitions';
import { parseToken } from '../../queue/token';
import { eventually } from '../support/eventually';
import { historyText } from '../support/history-text';
import { startStack, type Stack } from '../support/stack';

/**
 * No credential in a workflow's history (issue 23): whoever reads the Temporal Web UI, or a history
 * exported for a replay test, must not find a live queue token, an access token or the admin key in a
 * journey's input, its updates, results, markers, memo or search attributes, nor in the controller's,
 * a ticket cancellation's or a show cancellation's.
 */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const DAY = 24 * 3600_000;

it('a whole story — admitted, held, refused, paid, a ticket given back, the show called off — leaves no credential in any history', async () => {
  const { api, temporal, db, config } = stack;
  const created = await api.call('POST', '/admin/concerts', {
    admin: true,
    body: { title: 'No secrets', schedules: [{ startsAt: new Date(Date.now() + 30 * DAY).toISOString(), seatCount: 5, price: 10_000 }] },
  });
  expect(created.status).toBe(201);
  const concertId: string = created.body.concertId;
  const scheduleId: string = created.body.schedules[0].scheduleId;

  const credentials: string[] = [config.ADMIN_API_KEY, config.AUTH_SECRET];
  const buy = async (seat: number) => {
    const { fan, queueToken } = await api.admittedFan(concertId);
    credentials.push(fan.accessToken, queueToken, parseToken(queueToken)!.secret);
    const held = await api.hold(fan, queueToken, scheduleId, seat);
    expect(held.status).toBe(201);
    expect((await api.pay(fan, queueToken, held.body.reservationId)).body.code).toBe('INSUFFICIENT_BALANCE');
    await api.charge(fan, 50_000);
    expect((await api.pay(fan, queueToken, held.body.reservationId)).status).toBe(201);
    const [row] = await db.query('SELECT journey_id FROM reservations WHERE id = $1', [held.body.reservationId]);
    await temporal.workflow.getHandle(row.journey_id).result();
    return { fan, reservationId: held.body.reservationId as string, journeyId: row.journey_id as string };
  };
  const first = await buy(1);
  const second = await buy(2);

  const given = await api.call('POST', `/tickets/${first.reservationId}/cancellation`, { fan: first.fan });
  expect(given.status).toBe(200);
  const calledOff = await api.call('POST', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: {} });
  expect(calledOff.status).toBe(202);
  await eventually(async () => {
    const res = await api.call('GET', `/admin/concerts/${concertId}/cancellation`, { admin: true });
    expect(res.body.status).toBe('COMPLETED');
  }, { timeoutMs: 30_000 });

  const workflows = [
    first.journeyId,
    second.journeyId,
    ticketCancellationWorkflowId(first.reservationId),
    showCancellationWorkflowId(concertId),
    admissionWorkflowId(concertId),
  ];
  for (const workflowId of workflows) {
    const text = historyText(await temporal.workflow.getHandle(workflowId).fetchHistory());
    expect(text).toContain(concertId); // a real history, its payloads decoded
    const found = credentials.filter((secret) => text.includes(secret));
    expect({ workflowId, found }).toEqual({ workflowId, found: [] });
  }
  // Each journey's input still names its fan and session: the user id and arrival, not the token.
  const started = (await temporal.workflow.getHandle(second.journeyId).fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
  const input = JSON.parse(Buffer.from(started!.input!.payloads![0]!.data!).toString('utf8'));
  expect(input).toMatchObject({ concertId, userId: second.fan.userId, arrival: expect.any(Number) });
  expect(input).not.toHaveProperty('token');
}, 120_000);
