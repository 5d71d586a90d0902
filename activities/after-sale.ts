import { heartbeat } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { RedisClient as Redis } from '../lib/redis';
import type { DataSource } from 'typeorm';
import { TicketStore, type ShowRefundProgress, type TicketRefund } from '../db/stores/tickets';
import { journeyEnded } from '../lib/temporal-errors';
import { queueKeys } from '../queue/keys';
import { SeatGate } from '../queue/seat-gate';
import { admissionWorkflowId, cancelUpdate, leaveUpdate, queueSettingsUpdate, type TicketCancellationInput } from '../workflows/definitions';
import { refusalsAreFinal } from './business-failure';

export interface AfterSaleDeps {
  db: DataSource;
  redis: Redis;
  temporal: Client;
}

/** What the queue's `closed` key holds once an operator cancelled the concert. */
export const QUEUE_CLOSED_CANCELLED = 'CANCELLED';

/** A journey that is gone, or refuses (its hold already ended), needs nothing more from a cancellation. */
function alreadySettled(err: unknown): boolean {
  if (journeyEnded(err) || err instanceof WorkflowNotFoundError) return true;
  const cause = (err as { cause?: { type?: string } }).cause;
  return cause?.type === 'RESERVATION_NOT_HELD';
}

/** The side effects after the sale. Each is idempotent: a retry after a crash changes nothing twice. */
export function createAfterSaleActivities({ db, redis, temporal }: AfterSaleDeps) {
  const tickets = new TicketStore(db);
  const gate = new SeatGate(redis);

  return {
    async refundTicket(input: TicketCancellationInput): Promise<TicketRefund> {
      return refusalsAreFinal(() => tickets.cancelByFan(input));
    },

    /** The refunded seat's gate (sealed at the sale) opens, so the seat is sold again at once. */
    async reopenSeat(s: { concertId: string; scheduleId: string; seatNumber: number; reservationId: string }): Promise<void> {
      await gate.release(s.concertId, s.scheduleId, s.seatNumber, s.reservationId);
    },

    /**
     * Stops the sale: the schedules read cancelled and their booking windows close (every hold checks
     * them); for a whole concert its queue closes for good and its admission pauses.
     */
    async closeShow(s: { concertId: string; scheduleId?: string }): Promise<{ scheduleIds: string[] } & ShowRefundProgress> {
      const scheduleIds = await tickets.cancelSchedules(s.concertId, s.scheduleId);
      if (!s.scheduleId) {
        await redis.set(queueKeys(s.concertId).closed, QUEUE_CLOSED_CANCELLED);
        await temporal.workflow
          .getHandle(admissionWorkflowId(s.concertId))
          .executeUpdate(queueSettingsUpdate, { args: [{ paused: true }] })
          .catch((err) => {
            if (!(err instanceof WorkflowNotFoundError) && !journeyEnded(err)) throw err;
          });
      }
      return { scheduleIds, ...(await tickets.showProgress(scheduleIds)) };
    },

    /**
     * Ends the fan journeys of a cancelled concert (the `leave` update: the session ends, holds are
     * released) and releases every hold still live in the cancelled schedules through its journey.
     */
    async endLiveJourneys(s: { concertId: string; scheduleIds: string[]; wholeConcert: boolean }): Promise<{ journeysEnded: number; holdsReleased: number }> {
      let journeysEnded = 0;
      if (s.wholeConcert) {
        const query = `WorkflowType = 'fanJourney' AND ConcertId = '${s.concertId.replace(/[^0-9a-f-]/gi, '')}' AND ExecutionStatus = 'Running'`;
        for await (const journey of temporal.workflow.list({ query })) {
          heartbeat({ journeysEnded });
          try {
            await temporal.workflow.getHandle(journey.workflowId).executeUpdate(leaveUpdate, { args: [] });
            journeysEnded += 1;
          } catch (err) {
            if (!alreadySettled(err)) throw err;
          }
        }
      }
      let holdsReleased = 0;
      for (const hold of await tickets.liveHolds(s.scheduleIds)) {
        heartbeat({ journeysEnded, holdsReleased });
        try {
          await temporal.workflow.getHandle(hold.journeyId).executeUpdate(cancelUpdate, { args: [{ reservationId: hold.reservationId }] });
          holdsReleased += 1;
        } catch (err) {
          if (!alreadySettled(err)) throw err;
        }
      }
      return { journeysEnded, holdsReleased };
    },

    /** One batch of a show's refunds, and where the whole stands afterwards (from the books). */
    async refundShowBatch(b: { scheduleIds: string[]; limit: number }): Promise<{ refunded: number; amount: number; progress: ShowRefundProgress }> {
      heartbeat();
      const done = await tickets.refundShowBatch(b.scheduleIds, b.limit);
      return { ...done, progress: await tickets.showProgress(b.scheduleIds) };
    },
  };
}

export type AfterSaleActivities = ReturnType<typeof createAfterSaleActivities>;
