import { randomUUID } from 'node:crypto';
import { paidTicketsBySql } from '../../bench/scenarios/refund-sweep';
import { findViolations } from '../../db/invariants';
import { CatalogStore } from '../../db/stores/catalog';
import { showCancellationWorkflowId } from '../../workflows/definitions';
import { eventually } from '../support/eventually';
import { serviceEnv, startWorker, type ServiceProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';

/**
 * A show of 5,000 paid tickets is called off, and the worker running its cancellation is SIGKILLed
 * twice in the middle of the refunds. Nothing gets to clean up: a batch dies half-way, its activity
 * is retried elsewhere. Afterwards every ticket was refunded exactly once, every wallet holds what it
 * paid, and the books balance. The progress is read through the admin API throughout.
 */
const TICKETS = 5_000;
const TICKETS_PER_FAN = 2;
const PRICE = 30_000;

let stack: Stack; // the API in this process, on the workers' task queue; the workers are processes
let worker: ServiceProcess | undefined;
const taskQueue = `show-chaos-${randomUUID()}`;

beforeAll(async () => {
  stack = await startStack({ TEMPORAL_TASK_QUEUE: taskQueue }, { worker: false });
});
afterAll(async () => {
  await worker?.stop('SIGKILL');
  if (stack) expect(await findViolations(stack.db)).toEqual([]);
  await stack?.stop();
});

/** The stack is on the workers' task queue already. */
const workerEnv = () => serviceEnv(stack.config, { ADMISSION_TICK_MS: '1000' });

/** Every change in the answers, with its time: a failed wait says what it saw, not only its last answer. */
const seen: string[] = [];
const progress = async () => {
  const res = await stack.api.call('GET', `/admin/concerts/${concertId}/cancellation`, { admin: true });
  const body = res.body as { status: string; refunded: number; total: number; remaining: number; amount: number; failures: number; code?: string };
  const answer = res.status === 200 ? `${body.status} ${body.refunded}/${body.total}, ${body.failures} failures` : `${res.status} ${body.code}`;
  if (seen.at(-1)?.endsWith(answer) !== true) seen.push(`${new Date().toISOString()} ${answer}`);
  if (res.status !== 200) throw new Error(`GET cancellation: ${res.status} ${JSON.stringify(res.body)}`);
  return body;
};
let concertId = '';

/** What the workflow waits on (its workflow task, its activities) and the worker's last words. */
async function whereItStands(err: unknown): Promise<Error> {
  const workflow = await stack.temporal.workflow
    .getHandle(showCancellationWorkflowId(concertId))
    .describe()
    .then(({ status, historyLength, raw }) => JSON.stringify({ status: status.name, historyLength, pendingWorkflowTask: raw.pendingWorkflowTask, pendingActivities: raw.pendingActivities }))
    .catch((e: Error) => `not described: ${e.message}`);
  return new Error(`${(err as Error).message}\nanswers:\n${seen.join('\n')}\nworkflow: ${workflow}\nworker log:\n${worker?.log.slice(-3000)}`, { cause: err });
}

it('refunds every one of 5,000 tickets exactly once through two worker crashes, and the books balance', async () => {
  const created = await new CatalogStore(stack.db).createConcert({
    title: 'Cancelled in a storm',
    schedules: [{ startsAt: new Date(Date.now() + 30 * 86_400_000), bookingOpensAt: new Date(Date.now() - 3_600_000), bookingClosesAt: new Date(Date.now() + 86_400_000), seatCount: TICKETS, price: PRICE }],
  });
  concertId = created.concertId;
  const scheduleId = created.schedules[0].scheduleId;
  // Straight in SQL, as the sale would have left them: seconds instead of minutes of journeys.
  await paidTicketsBySql(stack.db, { concertId, scheduleId, tickets: TICKETS, perFan: TICKETS_PER_FAN, price: PRICE });

  worker = await startWorker(workerEnv());
  const started = await stack.api.call('POST', `/admin/concerts/${concertId}/cancellation`, { admin: true, body: { ratePerSecond: 400, batchSize: 100 } });
  expect(started.status).toBe(202);

  // Two crashes, each once the refunds are well under way and before they are done.
  const killedAt: number[] = [];
  for (const threshold of [1_000, 2_500]) {
    const seen = await eventually(async () => {
      const p = await progress();
      if (p.refunded < threshold) throw new Error(`refunded ${p.refunded}`);
      return p;
    }, { timeoutMs: 90_000, intervalMs: 50 });
    await worker.stop('SIGKILL');
    killedAt.push(seen.refunded);
    worker = await startWorker(workerEnv());
  }
  expect(killedAt.every((n) => n > 0 && n < TICKETS)).toBe(true);

  const report = await eventually(async () => {
    const p = await progress();
    if (p.status !== 'COMPLETED') throw new Error(`${p.status}: ${p.refunded}/${p.total}`);
    return p;
  }, { timeoutMs: 150_000, intervalMs: 200 }).catch(async (err) => Promise.reject(await whereItStands(err)));
  expect(report).toMatchObject({ total: TICKETS, refunded: TICKETS, remaining: 0, amount: TICKETS * PRICE });

  // Exactly once, from the books: one REFUND per ticket, every wallet back to what it was charged.
  const [entries] = await stack.db.query(
    `SELECT count(*)::int AS refunds, count(DISTINCT t.payment_id)::int AS tickets, COALESCE(sum(t.amount), 0)::bigint AS amount
     FROM wallet_transactions t JOIN payments p ON p.id = t.payment_id JOIN reservations r ON r.id = p.reservation_id
     WHERE t.type = 'REFUND' AND r.schedule_id = $1`,
    [scheduleId],
  );
  expect(entries).toEqual({ refunds: TICKETS, tickets: TICKETS, amount: String(TICKETS * PRICE) });
  const wallets = await stack.db.query(
    `SELECT balance::int AS balance, count(*)::int AS fans FROM wallets WHERE user_id IN (SELECT user_id FROM reservations WHERE schedule_id = $1) GROUP BY balance`,
    [scheduleId],
  );
  expect(wallets).toEqual([{ balance: PRICE * TICKETS_PER_FAN, fans: TICKETS / TICKETS_PER_FAN }]);
  expect(await findViolations(stack.db)).toEqual([]);
}, 400_000);
