import { randomUUID } from 'node:crypto';
import { temporal as proto } from '@temporalio/proto';
import { findViolations } from '../../db/invariants';
import { journeyWorkflowId } from '../../workflows/definitions';
import { eventually } from '../support/eventually';
import { journeyStory } from '../support/history';
import { serviceEnv, startWorker, type ServiceProcess } from '../support/processes';
import { journeysThatDoNotReplay } from '../support/replay';
import { QUICK_ADMISSION, startStack, type Stack } from '../support/stack';

/**
 * The worker SIGKILLed in the middle of a payment's saga, after the debit committed and before the
 * confirm did. The debit is an activity scheduled with the pay update's acceptance; the confirm is a
 * local activity in the workflow task its completion brings (workflows/fan-journey.ts): the killed
 * task times out, the next worker runs the confirm again, and each step is idempotent by the
 * payment id. No money is lost and none is taken twice.
 *
 * The worker is a process (test/support/processes.ts) on the stack's task queue; the API is the
 * stack's, in-process.
 */
const PRICE = 10_000;
const { EventType } = proto.api.enums.v1;

let stack: Stack;
let worker: ServiceProcess | undefined;
let workerEnv: Record<string, string>;
beforeAll(async () => {
  stack = await startStack({}, { worker: false });
  workerEnv = serviceEnv(stack.config, QUICK_ADMISSION);
  worker = await startWorker(workerEnv);
}, 120_000);
afterAll(async () => {
  await worker?.stop();
  if (stack) expect(await findViolations(stack.db)).toEqual([]);
  await stack?.stop();
});

const ledger = (userId: string) =>
  stack.db.query(`SELECT type, amount::int AS amount FROM wallet_transactions WHERE user_id = $1 ORDER BY id`, [userId]);

describe('the worker killed between a payment’s debit and its confirm', () => {
  it('the next worker finishes the saga: debited once, the seat sold, the receipt answered; the history replays', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(3, PRICE);
    const { fan, queueToken } = await stack.api.admittedFan(concertId, 'mid-saga');
    await stack.api.charge(fan, 2 * PRICE); // room for a double debit to show
    const held = await stack.api.hold(fan, queueToken, scheduleIds[0], 1);
    expect(held.status).toBe(201);
    const { reservationId } = held.body;

    // The confirm updates the reservation row; the debit only reads it (its payment row's foreign key
    // takes a key-share lock, which this lock lets through). Held here, it lets the debit commit and
    // stops the confirm: the worker dies with the money taken and the seat not yet sold.
    const blocker = stack.db.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    let answer;
    try {
      await blocker.query('SELECT 1 FROM reservations WHERE id = $1 FOR NO KEY UPDATE', [reservationId]);
      const headers = { 'idempotency-key': `mid-saga-${randomUUID()}` };
      const paying = stack.api.pay(fan, queueToken, reservationId, headers);
      await eventually(async () => expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 2 * PRICE }, { type: 'PAYMENT', amount: PRICE }]));
      await eventually(async () => {
        const [waiting] = await stack.db.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE reservations r SET status = ''CONFIRMED''%'`,
        );
        expect(waiting.n).toBe(1); // the confirm has begun and waits
      });
      await worker!.stop('SIGKILL');
      worker = undefined;
      await blocker.rollbackTransaction();
      worker = await startWorker(workerEnv);

      // A careful client: an answer the API could not give in time (503) is asked again with the same key.
      answer = await paying;
      for (let retries = 0; answer.status === 503 && retries < 5; retries++) answer = await stack.api.pay(fan, queueToken, reservationId, headers);
    } finally {
      if (blocker.isTransactionActive) await blocker.rollbackTransaction();
      await blocker.release();
    }

    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ reservationId, amount: PRICE, balance: PRICE, status: 'COMPLETED' });
    expect(await ledger(fan.userId)).toEqual([{ type: 'CHARGE', amount: 2 * PRICE }, { type: 'PAYMENT', amount: PRICE }]);
    const [reservation] = await stack.db.query(`SELECT status FROM reservations WHERE id = $1`, [reservationId]);
    expect(reservation.status).toBe('CONFIRMED');

    const journey = stack.temporal.workflow.getHandle(journeyWorkflowId(concertId, fan.userId, 1));
    expect((await journey.result()).status).toBe('COMPLETED');
    // The workflow task that ran the confirm died with the worker; its retry ran it again, and only
    // that one's marker is in the history: each step once, only the debit through an activity task.
    const events = (await journey.fetchHistory()).events ?? [];
    expect(events.some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)).toBe(true);
    expect(events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []))).toEqual(['debitWallet']);
    const story = await journeyStory(stack.temporal, journey.workflowId);
    expect(story.filter((step) => ['update:pay', 'debitWallet', 'confirmPayment', 'refundPayment'].includes(step))).toEqual(['update:pay', 'debitWallet', 'confirmPayment']);
    expect(await journeysThatDoNotReplay(stack.temporal, concertId, 1)).toEqual([]);
    expect(await findViolations(stack.db)).toEqual([]);
  }, 180_000);
});
