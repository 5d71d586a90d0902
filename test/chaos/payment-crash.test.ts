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
 * The worker SIGKILLed in the middle of a payment, after its purchase committed (the debit and the
 * sale, one transaction) and before the workflow task that ran it completed: the pay update's
 * acceptance is not in the history, so the journey never saw the payment. The database has it whole;
 * the retry of the request (same key) runs the purchase again on the next worker, which answers the
 * committed one. No money is lost and none is taken twice.
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

describe('the worker killed after a payment’s purchase committed, before its task completed', () => {
  it('the retry with the key answers the one purchase: debited once, the seat sold, the receipt answered; the history replays', async () => {
    const { concertId, scheduleIds } = await stack.api.createConcert(3, PRICE);
    const { fan, queueToken } = await stack.api.admittedFan(concertId, 'mid-payment');
    await stack.api.charge(fan, 2 * PRICE); // room for a double debit to show
    const held = await stack.api.hold(fan, queueToken, scheduleIds[0], 1);
    const spare = await stack.api.hold(fan, queueToken, scheduleIds[0], 2);
    expect([held.status, spare.status]).toEqual([201, 201]);
    const { reservationId } = held.body;

    // After the purchase, the same workflow task ends the session, releasing the spare hold: its row
    // locked here stops that release, so the task stays open (its local activity waits) with the
    // purchase committed. The kill comes well inside the task's 10 s timeout, before the worker would
    // complete the task to heartbeat it (at 80 %).
    const blocker = stack.db.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    const headers = { 'idempotency-key': `mid-payment-${randomUUID()}` };
    let answer;
    try {
      await blocker.query('SELECT 1 FROM reservations WHERE id = $1 FOR NO KEY UPDATE', [spare.body.reservationId]);
      const paying = stack.api.pay(fan, queueToken, reservationId, headers);
      await eventually(async () => {
        const [waiting] = await stack.db.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE reservations SET status = $2%'`,
        );
        expect(waiting.n).toBe(1); // the release has begun and waits
      });
      const [sold] = await stack.db.query(`SELECT status FROM reservations WHERE id = $1`, [reservationId]);
      expect(sold.status).toBe('CONFIRMED');
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
    const [released] = await stack.db.query(`SELECT status FROM reservations WHERE id = $1`, [spare.body.reservationId]);
    expect(released.status).toBe('CANCELLED');
    // The task that ran the first purchase died with the worker and left nothing in the history; the
    // payment there is the one that answered, with no activity task.
    const events = (await journey.fetchHistory()).events ?? [];
    expect(events.some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)).toBe(true);
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
    const story = await journeyStory(stack.temporal, journey.workflowId);
    expect(story.filter((step) => ['update:pay', 'purchase', 'refundPayment'].includes(step))).toEqual(['update:pay', 'purchase']);
    expect(await journeysThatDoNotReplay(stack.temporal, concertId, 1)).toEqual([]);
    expect(await findViolations(stack.db)).toEqual([]);
  }, 180_000);
});
