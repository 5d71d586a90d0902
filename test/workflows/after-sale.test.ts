import { randomUUID } from 'node:crypto';
import { ApplicationFailure as ClientApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { showCancellation } from '../../workflows/show-cancellation';
import type { ticketCancellation } from '../../workflows/ticket-cancellation';
import { refundRateUpdate, showCancellationQuery, type ShowCancellationInput, type TicketCancellationInput } from '../../workflows/definitions';
import { timeSkippingEnv, workflowWorker } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

/** A cancelled show's books in memory: `refundShowBatch` behaves like the SQL (the next unrefunded tickets). */
class FakeShow {
  refundedTimes = new Map<number, number>();
  batchLimits: number[] = [];
  closeCalls = 0;
  endCalls = 0;
  /** Batch attempts that fail before doing anything (an outage). */
  failNext = 0;

  constructor(
    readonly tickets: number,
    readonly price = 1_000,
  ) {}

  get refunded() {
    return this.refundedTimes.size;
  }

  private progress() {
    return { refunded: this.refunded, remaining: this.tickets - this.refunded, amount: this.refunded * this.price };
  }

  activities() {
    return {
      closeShow: async () => {
        this.closeCalls += 1;
        return { scheduleIds: ['s1'], ...this.progress() };
      },
      endLiveJourneys: async () => {
        this.endCalls += 1;
        return { journeysEnded: this.endCalls === 1 ? 3 : 0, holdsReleased: 0 };
      },
      refundShowBatch: async ({ limit }: { scheduleIds: string[]; limit: number }) => {
        this.batchLimits.push(limit);
        if (this.failNext > 0) {
          this.failNext -= 1;
          throw new Error('connection terminated');
        }
        let done = 0;
        for (let t = 1; t <= this.tickets && done < limit; t += 1) {
          if (this.refundedTimes.has(t)) continue;
          this.refundedTimes.set(t, 1);
          done += 1;
        }
        return { refunded: done, amount: done * this.price, progress: this.progress() };
      },
    };
  }
}

async function runShow(show: FakeShow, input: Partial<ShowCancellationInput>, during?: (handle: Awaited<ReturnType<typeof env.client.workflow.start<typeof showCancellation>>>) => Promise<void>) {
  const { worker, taskQueue } = await workflowWorker(env, show.activities());
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof showCancellation>('showCancellation', {
      workflowId: `show-test-${randomUUID()}`,
      taskQueue,
      args: [{ concertId: randomUUID(), ratePerSecond: 100, batchSize: 10, ...input }],
    });
    if (during) await during(handle);
    return handle.result();
  });
}

describe('show cancellation', () => {
  it('closes the show, ends live journeys, refunds every ticket once in batches and reports', async () => {
    const show = new FakeShow(95);
    const report = await runShow(show, {});
    expect(show.closeCalls).toBe(1);
    expect(show.refunded).toBe(95);
    expect([...show.refundedTimes.values()].every((n) => n === 1)).toBe(true);
    expect(Math.max(...show.batchLimits)).toBe(10);
    expect(report).toMatchObject({ status: 'COMPLETED', total: 95, refunded: 95, remaining: 0, amount: 95_000, failures: 0, journeysEnded: 3 });
    expect(report.finishedAt).toBeDefined();
  });

  it('counts a failed batch, waits, and carries on without refunding anyone twice', async () => {
    const show = new FakeShow(30);
    show.failNext = 7; // two batch calls fail all 3 attempts each; the third succeeds on its second attempt
    const report = await runShow(show, {});
    expect(report).toMatchObject({ status: 'COMPLETED', refunded: 30, failures: 2 });
    expect(report.lastFailure).toMatch(/connection terminated/);
    expect([...show.refundedTimes.values()].every((n) => n === 1)).toBe(true);
  });

  it('refunds at the operator’s rate, which an update changes while it runs; the query shows the progress', async () => {
    const show = new FakeShow(40);
    const report = await runShow(show, { ratePerSecond: 2, batchSize: 10 }, async (handle) => {
      await env.sleep('3s');
      const midway = await handle.query(showCancellationQuery);
      expect(midway.status).toBe('REFUNDING');
      expect(midway.refunded).toBeGreaterThan(0);
      expect(midway.refunded).toBeLessThan(40);
      // At 2 tickets a second a batch takes 2 tickets (and then waits a second).
      expect(show.batchLimits.every((limit) => limit === 2)).toBe(true);
      await expect(handle.executeUpdate(refundRateUpdate, { args: [{ ratePerSecond: 0 }] })).rejects.toThrow();
      const faster = await handle.executeUpdate(refundRateUpdate, { args: [{ ratePerSecond: 500 }] });
      expect(faster.ratePerSecond).toBe(500);
    });
    expect(report).toMatchObject({ status: 'COMPLETED', refunded: 40, ratePerSecond: 500 });
    expect(show.batchLimits[show.batchLimits.length - 1]).toBe(10);
  });
});

describe('ticket cancellation', () => {
  const input = (): TicketCancellationInput => ({ reservationId: randomUUID(), userId: randomUUID(), requestedAt: new Date().toISOString() });

  it('refunds, then reopens the seat’s gate, and answers with the refund', async () => {
    const steps: string[] = [];
    const activities = {
      refundTicket: async (i: TicketCancellationInput) => {
        steps.push('refund');
        return {
          reservationId: i.reservationId, paymentId: 'p1', userId: i.userId, concertId: 'c1', scheduleId: 's1', seatNumber: 7,
          paid: 10_000, refunded: 9_000, fee: 1_000, paymentStatus: 'PARTIALLY_REFUNDED', reason: 'FAN_CANCELLED', refundedAt: new Date().toISOString(),
        };
      },
      reopenSeat: async (s: { seatNumber: number }) => {
        steps.push(`reopen ${s.seatNumber}`);
      },
    };
    const { worker, taskQueue } = await workflowWorker(env, activities);
    const result = await worker.runUntil(
      env.client.workflow.execute<typeof ticketCancellation>('ticketCancellation', { workflowId: `ticket-test-${randomUUID()}`, taskQueue, args: [input()] }),
    );
    expect(steps).toEqual(['refund', 'reopen 7']);
    expect(result).toMatchObject({ status: 'CANCELLED', paymentStatus: 'PARTIALLY_REFUNDED', refunded: 9_000, fee: 1_000 });
  });

  it('fails with the refusal’s code (CANCELLATION_CLOSED) and reopens nothing', async () => {
    let reopened = false;
    const activities = {
      refundTicket: async () => {
        throw ApplicationFailure.create({ type: 'CANCELLATION_CLOSED', message: 'the cut-off has passed', nonRetryable: true });
      },
      reopenSeat: async () => {
        reopened = true;
      },
    };
    const { worker, taskQueue } = await workflowWorker(env, activities);
    const failure = await worker
      .runUntil(env.client.workflow.execute<typeof ticketCancellation>('ticketCancellation', { workflowId: `ticket-test-${randomUUID()}`, taskQueue, args: [input()] }))
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ClientApplicationFailure);
    expect((cause as ClientApplicationFailure).type).toBe('CANCELLATION_CLOSED');
    expect(reopened).toBe(false);
  });
});
