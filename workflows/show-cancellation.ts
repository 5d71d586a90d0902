import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  afterSaleSearchAttributes as attrs,
  MAX_REFUND_RATE_PER_SECOND,
  refundRateUpdate,
  showCancellationQuery,
  type ShowCancellationInput,
  type ShowCancellationProgress,
} from './definitions';

/** Closing the show: retried until done (an outage is waited out), each step idempotent. */
const closing = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** One batch of refunds. A few quick attempts, then the workflow counts the failure and tries again. */
const batches = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 3 },
});

const PAUSE_AFTER_FAILURE_MS = 5_000;
/**
 * A batch that found tickets to refund but refunded none lost them all to fans' own cancellations in
 * the same instant; the sweep looks again a few times before it reports what is left.
 */
const MAX_EMPTY_BATCHES = 5;
/** Well under Temporal's history limits: a run this long continues as new with its progress. */
const HISTORY_EVENTS_PER_RUN = 10_000;

/**
 * An operator calls off a show (a whole concert, or one schedule): sales close (schedules cancelled in
 * Postgres, the queue closed), live journeys end and their holds are released, then every paid ticket
 * is refunded in full, batch after batch, at a rate the operator sets and may change while it runs
 * (`refundRate` update), so the refunds never crowd out other concerts' sales. Every batch is one SQL
 * transaction that picks the next unrefunded tickets, so a crash anywhere resumes without refunding a
 * ticket twice or skipping one. Progress: the `cancellationProgress` query and search attributes;
 * the result is the final report.
 */
export async function showCancellation(input: ShowCancellationInput): Promise<ShowCancellationProgress> {
  const progress: ShowCancellationProgress = input.progress ?? {
    concertId: input.concertId,
    ...(input.scheduleId ? { scheduleId: input.scheduleId } : {}),
    scheduleIds: [],
    status: 'CLOSING',
    ratePerSecond: input.ratePerSecond,
    total: 0,
    refunded: 0,
    remaining: 0,
    amount: 0,
    failures: 0,
    journeysEnded: 0,
    startedAt: new Date(Date.now()).toISOString(),
  };
  let rateChanged = false;
  // The pace is kept over a stretch of time, not per batch: a timer fires up to a second late on a busy
  // server, so waiting after every batch would run well below the rate; the stretch restarts when the
  // rate changes or when the sweep falls behind by over a second (no catch-up burst).
  let paceFrom = Date.now();
  let pacedTickets = 0;

  setHandler(showCancellationQuery, () => progress);
  setHandler(
    refundRateUpdate,
    ({ ratePerSecond }) => {
      progress.ratePerSecond = ratePerSecond;
      rateChanged = true;
      paceFrom = Date.now();
      pacedTickets = 0;
      return progress;
    },
    {
      validator: ({ ratePerSecond }) => {
        if (!(Number.isFinite(ratePerSecond) && ratePerSecond >= 1 && ratePerSecond <= MAX_REFUND_RATE_PER_SECOND)) {
          throw ApplicationFailure.create({ type: 'VALIDATION_FAILED', message: `ratePerSecond must be 1..${MAX_REFUND_RATE_PER_SECOND}`, nonRetryable: true });
        }
      },
    },
  );

  const publish = () =>
    upsertSearchAttributes([
      { key: attrs.cancellationStatus, value: progress.status },
      { key: attrs.ticketsToRefund, value: progress.total },
      { key: attrs.ticketsRefunded, value: progress.refunded },
      { key: attrs.refundedAmount, value: progress.amount },
      { key: attrs.refundFailures, value: progress.failures },
    ]);

  if (progress.status === 'CLOSING') {
    const closed = await closing.closeShow({ concertId: input.concertId, scheduleId: input.scheduleId });
    Object.assign(progress, { scheduleIds: closed.scheduleIds, refunded: closed.refunded, remaining: closed.remaining, amount: closed.amount });
    progress.total = closed.refunded + closed.remaining;
    const ended = await closing.endLiveJourneys({ concertId: input.concertId, scheduleIds: progress.scheduleIds, wholeConcert: !input.scheduleId });
    progress.journeysEnded = ended.journeysEnded;
    progress.status = 'REFUNDING';
    publish();
  }

  // A payment that was already in flight when the show closed may still confirm: after the sweep the
  // live holds are looked for once more, and the sweep runs again if any was found.
  for (let pass = 0; pass < 2; pass += 1) {
    let emptyBatches = 0;
    for (;;) {
      let batch: Awaited<ReturnType<Activities['refundShowBatch']>>;
      try {
        batch = await batches.refundShowBatch({ scheduleIds: progress.scheduleIds, limit: Math.max(1, Math.min(input.batchSize, Math.ceil(progress.ratePerSecond))) });
      } catch (err) {
        progress.failures += 1;
        progress.lastFailure = String((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message).slice(0, 500);
        publish();
        await sleep(PAUSE_AFTER_FAILURE_MS);
        continue;
      }
      Object.assign(progress, { refunded: batch.progress.refunded, remaining: batch.progress.remaining, amount: batch.progress.amount });
      progress.total = Math.max(progress.total, progress.refunded + progress.remaining);
      publish();
      if (batch.progress.remaining === 0) break;
      if (batch.refunded === 0) {
        emptyBatches += 1;
        if (emptyBatches > MAX_EMPTY_BATCHES) break;
        await sleep(1_000);
        continue;
      }
      pacedTickets += batch.refunded;
      const aheadMs = (pacedTickets * 1000) / progress.ratePerSecond - (Date.now() - paceFrom);
      if (aheadMs > 0) {
        rateChanged = false;
        await condition(() => rateChanged, Math.ceil(aheadMs)); // a new rate cuts the wait short
      } else if (aheadMs < -1000) {
        paceFrom = Date.now();
        pacedTickets = 0;
      }
      if (workflowInfo().historyLength > HISTORY_EVENTS_PER_RUN || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof showCancellation>({ ...input, ratePerSecond: progress.ratePerSecond, progress });
      }
    }
    if (pass === 0) {
      const late = await closing.endLiveJourneys({ concertId: input.concertId, scheduleIds: progress.scheduleIds, wholeConcert: !input.scheduleId });
      progress.journeysEnded += late.journeysEnded;
      if (late.holdsReleased === 0 && progress.remaining === 0) break;
    }
  }

  progress.status = 'COMPLETED';
  progress.finishedAt = new Date(Date.now()).toISOString();
  publish();
  await condition(allHandlersFinished);
  return progress;
}
